//! Where a test reads notifications: an SNS topic, an SQS queue subscribed to it, and what
//! reached the queue (moto delivers to SQS during the Publish).

use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::Value;

/// An SQS queue: its URL (to read it) and ARN (what SNS subscribes).
#[derive(Debug, Clone)]
pub struct Queue {
    /// Its URL.
    pub url: String,
    /// Its ARN.
    pub arn: String,
}

/// Creates the topic `name`; its ARN.
pub async fn topic(sns: &aws_sdk_sns::Client, name: &str) -> String {
    let out = sns
        .create_topic()
        .name(name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateTopic {name}: {e:?}"));
    out.topic_arn().expect("a topic ARN").to_owned()
}

/// Creates the queue `name`.
pub async fn queue(sqs: &aws_sdk_sqs::Client, name: &str) -> Queue {
    let out = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateQueue {name}: {e:?}"));
    let url = out.queue_url().expect("a queue URL").to_owned();
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetQueueAttributes {url}: {e:?}"));
    let arn = attrs
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .expect("the queue's ARN")
        .clone();
    Queue { url, arn }
}

/// Subscribes `queue` to `topic`; the subscription's ARN.
pub async fn subscribe(sns: &aws_sdk_sns::Client, topic: &str, queue: &Queue) -> String {
    let out = sns
        .subscribe()
        .topic_arn(topic)
        .protocol("sqs")
        .endpoint(&queue.arn)
        .send()
        .await
        .unwrap_or_else(|e| panic!("Subscribe {} to {topic}: {e:?}", queue.arn));
    out.subscription_arn()
        .expect("a subscription ARN")
        .to_owned()
}

/// Every SNS envelope waiting in `queue`, read and deleted.
pub async fn drain(sqs: &aws_sdk_sqs::Client, queue: &Queue) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let r = sqs
            .receive_message()
            .queue_url(&queue.url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap_or_else(|e| panic!("ReceiveMessage {}: {e:?}", queue.url));
        let msgs = r.messages();
        if msgs.is_empty() {
            return out;
        }
        for m in msgs {
            let body = m.body().unwrap_or_default();
            out.push(
                serde_json::from_str(body)
                    .unwrap_or_else(|e| panic!("an SNS envelope is JSON ({e}): {body}")),
            );
            sqs.delete_message()
                .queue_url(&queue.url)
                .set_receipt_handle(m.receipt_handle().map(str::to_owned))
                .send()
                .await
                .unwrap_or_else(|e| panic!("DeleteMessage {}: {e:?}", queue.url));
        }
    }
}
