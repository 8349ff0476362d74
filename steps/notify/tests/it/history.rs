//! A child execution's failure: notify names the failed state from the execution's history
//! (states:GetExecutionHistory), gives the execution and its console link, and falls back to
//! "the state is in the execution's history" when the history cannot be read. Against moto's
//! Step Functions, executing (the local stack's moto: `Moto::start_local_stack_with_step_functions`),
//! with definitions that need no Lambda: a Task that publishes to a missing SNS topic (moto's own
//! SNS answers NotFound) and a Fail state.

use std::time::Duration;

use harness::Moto;
use harness::inbox::{drain, queue, subscribe, topic};
use kit::Step;
use notify::{Notify, NotifyError};
use serde_json::{Value, json};

/// The child's shape, in small: a Pass gives the state's input a backup date, then the Task
/// fails (a step failing for good: no Catch).
fn failing_task() -> Value {
    json!({"StartAt": "RememberBackupDate", "States": {
        "RememberBackupDate": {"Type": "Pass",
            "Result": {"source": {"source_bucket": "lake-prod", "backup_date": null},
                       "backup_date": "2021-03-31"},
            "Next": "CreateBucket"},
        "CreateBucket": {"Type": "Task", "Resource": "arn:aws:states:::sns:publish",
            "Parameters": {"TopicArn": "arn:aws:sns:us-east-1:123456789012:no-such-topic",
                           "Message": "x"},
            "End": true}}})
}

/// Polling ran out: the child's only Fail state.
fn fail_state() -> Value {
    json!({"StartAt": "JobPollingExhausted", "States": {
        "JobPollingExhausted": {"Type": "Fail", "Error": "JobPollingExhausted",
                                "Cause": "job job-1 still Active after 1440 polls"}}})
}

/// Creates `definition` as `name`, runs it, waits until it has failed; its ARN.
async fn failed_execution(sfn: &aws_sdk_sfn::Client, name: &str, definition: &Value) -> String {
    let sm = sfn
        .create_state_machine()
        .name(name)
        .definition(definition.to_string())
        .role_arn("arn:aws:iam::123456789012:role/lakevault-backup-source")
        .send()
        .await
        .unwrap();
    let arn = sfn
        .start_execution()
        .state_machine_arn(sm.state_machine_arn())
        .name("0123456789abcdef0123456789abcdef")
        .input("{}")
        .send()
        .await
        .unwrap()
        .execution_arn()
        .to_owned();
    for _ in 0..100 {
        let d = sfn
            .describe_execution()
            .execution_arn(&arn)
            .send()
            .await
            .unwrap();
        match d.status().as_str() {
            "RUNNING" => tokio::time::sleep(Duration::from_millis(100)).await,
            "FAILED" => return arn,
            other => panic!("{name} ended {other}, not FAILED"),
        }
    }
    panic!("{name} still running after 10 s");
}

fn attr(envelope: &Value, name: &str) -> Option<String> {
    envelope["MessageAttributes"][name]["Value"]
        .as_str()
        .map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_executions_failure_names_its_state_from_the_history() {
    // No Lambda task runs here: the endpoint only has to be given.
    let moto = Moto::start_local_stack_with_step_functions("http://127.0.0.1:9", 0.01);
    let conf = moto.sdk_config();
    let sns = kit::clients::sns(&conf);
    let sfn = kit::clients::sfn(&conf);
    let sqs = aws_sdk_sqs::Client::new(&conf);
    let topic = topic(&sns, "lakevault-backups").await;
    let inbox = queue(&sqs, "everything").await;
    subscribe(&sns, &topic, &inbox).await;
    let step = Notify::new(sns.clone()).with_sfn(sfn.clone());

    // A Task failed: its state and the date in its input.
    let task_arn = failed_execution(&sfn, "lakevault-backup-source", &failing_task()).await;
    let cause =
        json!({"errorType": "BucketConflict", "errorMessage": "lake-prod-31-mar-2021 exists"});
    let out = step
        .handle(
            serde_json::from_value(json!({
                "topic_arn": topic, "source_bucket": "lake-prod", "backup_date": null,
                "failure": {"error": "BucketConflict", "cause": cause.to_string(),
                            "execution_arn": task_arn},
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        out.subject,
        "lakevault: lake-prod 2021-03-31 FAILED at CreateBucket: BucketConflict"
    );
    assert_eq!(out.failed_state.as_deref(), Some("CreateBucket"));
    assert_eq!(
        out.backup_date.map(|d| d.to_string()).as_deref(),
        Some("2021-03-31")
    );

    // The Fail state: its name.
    let fail_arn = failed_execution(&sfn, "polls-ran-out", &fail_state()).await;
    let out = step
        .handle(
            serde_json::from_value(json!({
                "topic_arn": topic, "source_bucket": "lake-prod", "backup_date": "2021-03-31",
                "failure": {"Error": "JobPollingExhausted", "Cause": "job job-1 still Active",
                            "ExecutionArn": fail_arn},
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(out.failed_state.as_deref(), Some("JobPollingExhausted"));

    let got = drain(&sqs, &inbox).await;
    assert_eq!(got.len(), 2, "{got:?}");
    let task = got
        .iter()
        .find(|m| attr(m, "failed_state").as_deref() == Some("CreateBucket"))
        .expect("the Task's failure");
    assert_eq!(attr(task, "outcome").as_deref(), Some("failed"));
    assert_eq!(attr(task, "backup_date").as_deref(), Some("2021-03-31"));
    let body = task["Message"].as_str().unwrap();
    for line in [
        "lakevault backup of s3://lake-prod for 2021-03-31 FAILED at CreateBucket.".to_owned(),
        "Error: BucketConflict".to_owned(),
        "Cause: lake-prod-31-mar-2021 exists".to_owned(),
        format!("Execution: {task_arn}"),
        format!(
            "Console: https://us-east-1.console.aws.amazon.com/states/home?region=us-east-1#/v2/executions/details/{task_arn}"
        ),
        format!("redrive-execution --execution-arn {task_arn}"),
        "it resumes at CreateBucket with the same input".to_owned(),
    ] {
        assert!(body.contains(&line), "{line:?} not in {body}");
    }
    let (_, record) = body.split_once("--- record (JSON) ---\n").unwrap();
    let record: Value = serde_json::from_str(record).unwrap();
    assert_eq!(record["failure"]["state"], "CreateBucket");
    assert_eq!(record["failure"]["execution_arn"], task_arn);
    assert!(
        got.iter()
            .any(|m| attr(m, "failed_state").as_deref() == Some("JobPollingExhausted"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_history_that_cannot_be_read_still_sends_the_failure() {
    let moto = Moto::start_local_stack_with_step_functions("http://127.0.0.1:9", 0.01);
    let conf = moto.sdk_config();
    let sns = kit::clients::sns(&conf);
    let sqs = aws_sdk_sqs::Client::new(&conf);
    let topic = topic(&sns, "lakevault-backups").await;
    let inbox = queue(&sqs, "everything").await;
    subscribe(&sns, &topic, &inbox).await;
    // Not found (the local runner's executions exist nowhere but in its event log), and no
    // client at all.
    let unknown = "arn:aws:states:us-east-1:123456789012:execution:lakevault-backup-source:nope";
    for step in [
        Notify::new(sns.clone()).with_sfn(kit::clients::sfn(&conf)),
        Notify::new(sns.clone()),
    ] {
        let out = step
            .handle(
                serde_json::from_value(json!({
                    "topic_arn": topic, "source_bucket": "lake-prod",
                    "failure": {"error": "ManifestInvalid", "cause": "checksum mismatch",
                                "execution_arn": unknown},
                }))
                .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(out.subject, "lakevault: lake-prod FAILED: ManifestInvalid");
        assert_eq!(out.failed_state, None);
        assert_eq!(out.backup_date, None);
    }
    let got = drain(&sqs, &inbox).await;
    assert_eq!(got.len(), 2, "{got:?}");
    let reasons: Vec<&str> = got
        .iter()
        .map(|m| {
            let body = m["Message"].as_str().unwrap();
            assert!(
                body.starts_with(
                    "lakevault backup of s3://lake-prod (backup date not known yet: the newest inventory decides) FAILED."
                ),
                "{body}"
            );
            assert!(body.contains(&format!("Execution: {unknown}")), "{body}");
            assert!(body.contains("Console: https://us-east-1.console.aws.amazon.com/states/home"), "{body}");
            assert_eq!(attr(m, "failed_state"), None);
            assert_eq!(attr(m, "backup_date"), None);
            assert_eq!(attr(m, "source_bucket").as_deref(), Some("lake-prod"));
            body.lines()
                .find(|l| l.starts_with("The failed state is in the execution's history"))
                .unwrap_or_else(|| panic!("no fallback line in {body}"))
        })
        .collect();
    assert!(
        reasons.iter().any(|r| r.contains("ExecutionDoesNotExist")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("no Step Functions client")),
        "{reasons:?}"
    );
}

#[tokio::test]
async fn a_malformed_execution_arn_is_invalid_input() {
    let moto = Moto::start();
    let step = Notify::new(kit::clients::sns(&moto.sdk_config()));
    for arn in [
        "lakevault-backup-source:abc",
        "arn:aws:states:us-east-1:123456789012:stateMachine:lakevault-backup-source",
        "arn:aws:lambda:us-east-1:123456789012:execution:x:y",
    ] {
        let err = step
            .handle(
                serde_json::from_value(json!({
                    "topic_arn": "arn:aws:sns:us-east-1:123456789012:lakevault",
                    "source_bucket": "lake-prod", "backup_date": "2021-03-31",
                    "failure": {"error": "ManifestInvalid", "execution_arn": arn},
                }))
                .unwrap(),
            )
            .await
            .unwrap_err();
        match err {
            NotifyError::InvalidInput(e) => assert_eq!(e.path, "$.failure.execution_arn", "{arn}"),
            other => panic!("{arn}: {other:?}"),
        }
    }
}
