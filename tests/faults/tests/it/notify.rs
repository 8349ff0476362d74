//! notify (SNS: one Publish), against moto's SNS with an SQS queue subscribed to each topic.

use aws_sdk_sqs::types::QueueAttributeName;
use faults::Request;
use harness::Moto;
use harness::inbox::{queue, subscribe, topic};
use serde_json::{Value, json};

use crate::matrix::{five_faults, run_cases};
use crate::support::{Env, Service, report, run};

const STEP: &str = "notify";

fn is_publish(r: &Request) -> bool {
    r.action() == Some("Publish")
}

/// A topic and the queue that receives what is published to it.
struct Inbox {
    topic_arn: String,
    queue_url: String,
}

async fn inbox(moto: &Moto, name: &str) -> Inbox {
    let conf = moto.sdk_config();
    let sns = aws_sdk_sns::Client::new(&conf);
    let sqs = aws_sdk_sqs::Client::new(&conf);
    let topic_arn = topic(&sns, &format!("lakevault-{name}")).await;
    let queue = queue(&sqs, &format!("inbox-{name}")).await;
    subscribe(&sns, &topic_arn, &queue).await;
    Inbox {
        topic_arn,
        queue_url: queue.url,
    }
}

impl Inbox {
    /// Messages delivered so far (moto delivers to SQS during the Publish).
    async fn count(&self, moto: &Moto) -> usize {
        let sqs = aws_sdk_sqs::Client::new(&moto.sdk_config());
        let attrs = sqs
            .get_queue_attributes()
            .queue_url(&self.queue_url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .unwrap();
        attrs.attributes().unwrap()[&QueueAttributeName::ApproximateNumberOfMessages]
            .parse()
            .unwrap()
    }

    /// A failure notification for this topic (what `NotifyFailure` sends).
    fn event(&self) -> Value {
        json!({
            "topic_arn": self.topic_arn,
            "source_bucket": "lake-prod",
            "backup_date": "2021-03-31",
            "failure": {"state": "SubmitJob", "Error": "JobRejected",
                        "Cause": "{\"errorType\":\"JobRejected\",\"errorMessage\":\"the role cannot be passed\"}"},
        })
    }
}

/// What a notification says, without its message id.
fn said(out: &Value) -> Value {
    json!({"outcome": out["outcome"], "subject": out["subject"]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn notify_answers_transient_in_bounded_time_and_a_rerun_publishes_once_more() {
    let moto = Moto::start();
    let env = Env::new(&moto.endpoint);
    let clean = inbox(&moto, "clean").await;
    let clean_out = run(STEP, &env, &clean.event()).await.output();
    assert_eq!(clean.count(&moto).await, 1);

    let up = &moto.endpoint;
    let names = ["hole", "slow", "cut", "stall", "killed"];
    let mut inboxes = Vec::new();
    for n in names {
        inboxes.push(inbox(&moto, n).await);
    }
    // Cut and stalled: SNS takes each Publish; every answer (the SDK's retries' too) is lost.
    let event = |i: usize| inboxes[i].event();
    let cases = five_faults(up, ("Publish", is_publish), ("killed at once", 0), event).await;
    let ran = run_cases(STEP, Service::Sns, &env, cases).await;
    report(ran.iter().map(|r| &r.cell));

    // Recovered: the re-run publishes what the clean run did, once. A Publish that reached SNS
    // and lost its answer was delivered all the same (SNS is at-least-once; notify's README
    // accepts a duplicate rather than a lost message): one message per such attempt, no more.
    for ((name, inbox), r) in names.iter().zip(&inboxes).zip(&ran) {
        let reached_sns = match name {
            &"cut" | &"stall" => r.faulted(),
            _ => 0,
        };
        assert_eq!(
            inbox.count(&moto).await,
            reached_sns,
            "{name}: after the fault"
        );
        let out = run(STEP, &env, &inbox.event()).await.output();
        assert_eq!(said(&out), said(&clean_out), "{name}");
        assert_eq!(
            inbox.count(&moto).await,
            reached_sns + 1,
            "{name}: after the re-run"
        );
        println!("notify {name}: {reached_sns} message(s) from the faulted run, 1 from the re-run");
    }
}
