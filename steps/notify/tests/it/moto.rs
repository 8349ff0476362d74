//! notify against moto: SNS topic → SQS subscriptions, one of them filtered on `outcome`.

use harness::Moto;
use harness::inbox::{drain, queue, subscribe, topic};
use kit::Step;
use notify::{Notify, NotifyError};
use serde_json::{Value, json};

fn audit_record(verdict: &str) -> Value {
    let empty = json!({"count": 0, "sample_keys": [], "error_codes": {}});
    json!({
        "source_bucket": "lake-prod", "backup_date": "2021-03-31",
        "snapshot_bucket": "lake-prod-31-mar-2021", "job_id": "job-1",
        "verdict": verdict, "job_status": "Complete",
        "report": {"bucket": "reports", "manifest_key": "r/job-job-1/manifest.json",
                   "created_at": null, "result_files": 1, "bytes": 100},
        "tasks": {"total": 1204113, "succeeded": 1204113, "failed": 0, "unparsed": 0},
        "failures": {"oversize": empty, "source_missing": empty, "access_denied": empty,
                     "transient": empty, "other": empty},
        "failure_classes": [], "findings": [],
        "record": {"bucket": "reports", "key": "r/job-job-1/lakevault-audit.json"},
    })
}

fn attr(envelope: &Value, name: &str) -> String {
    envelope["MessageAttributes"][name]["Value"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn publishes_subject_body_and_attributes_and_a_filter_selects_failures() {
    let moto = Moto::start();
    let conf = moto.sdk_config();
    let sns = kit::clients::sns(&conf);
    let sqs = aws_sdk_sqs::Client::new(&conf);
    let topic = topic(&sns, "lakevault-backups").await;
    let all = queue(&sqs, "everything").await;
    let pager = queue(&sqs, "failures-only").await;
    for (q, filter) in [(&all, None), (&pager, Some(r#"{"outcome": ["failed"]}"#))] {
        let sub = subscribe(&sns, &topic, q).await;
        if let Some(f) = filter {
            sns.set_subscription_attributes()
                .subscription_arn(sub)
                .attribute_name("FilterPolicy")
                .attribute_value(f)
                .send()
                .await
                .unwrap();
        }
    }

    let step = Notify::new(sns.clone());
    let ok = step
        .handle(
            serde_json::from_value(json!({
                "topic_arn": topic, "source_bucket": "lake-prod", "backup_date": "2021-03-31",
                "audit": audit_record("complete"),
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        ok.subject,
        "lakevault: lake-prod 2021-03-31 backed up - 1,204,113 objects, complete"
    );
    assert_eq!(ok.outcome, "complete");
    let cause = json!({"errorType": "BucketConflict",
                       "errorMessage": "lake-prod-31-mar-2021 exists in another account", "trace": []});
    let failed = step
        .handle(
            serde_json::from_value(json!({
                "topic_arn": topic, "source_bucket": "lake-prod", "backup_date": "2021-03-31",
                "failure": {"state": "CreateBucket", "Error": "BucketConflict", "Cause": cause.to_string()},
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        failed.subject,
        "lakevault: lake-prod 2021-03-31 FAILED at CreateBucket: BucketConflict"
    );

    let got = drain(&sqs, &all).await;
    assert_eq!(got.len(), 2, "{got:?}");
    let success = got
        .iter()
        .find(|m| attr(m, "outcome") == "complete")
        .unwrap();
    assert_eq!(success["Subject"], ok.subject);
    assert_eq!(success["MessageId"], ok.message_id);
    assert_eq!(attr(success, "source_bucket"), "lake-prod");
    assert_eq!(attr(success, "backup_date"), "2021-03-31");
    let body = success["Message"].as_str().unwrap();
    assert!(
        body.starts_with("lakevault backup of s3://lake-prod for 2021-03-31: complete"),
        "{body}"
    );
    assert!(
        body.contains("Tasks: 1,204,113 total, 1,204,113 succeeded, 0 failed"),
        "{body}"
    );
    // The JSON record follows the readable part.
    let (_, record) = body.split_once("--- record (JSON) ---\n").unwrap();
    let record: Value = serde_json::from_str(record).unwrap();
    assert_eq!(record["verdict"], "complete");

    let failure = got.iter().find(|m| attr(m, "outcome") == "failed").unwrap();
    let body = failure["Message"].as_str().unwrap();
    assert!(
        body.contains("Cause: lake-prod-31-mar-2021 exists in another account"),
        "{body}"
    );
    assert_eq!(attr(failure, "failed_state"), "CreateBucket");

    // The filter policy lets only the failure through.
    let paged = drain(&sqs, &pager).await;
    assert_eq!(paged.len(), 1, "{paged:?}");
    assert_eq!(paged[0]["Subject"], failed.subject);
}

#[tokio::test]
async fn a_missing_topic_is_topic_not_found() {
    let moto = Moto::start();
    let step = Notify::new(kit::clients::sns(&moto.sdk_config()));
    let err = step
        .handle(
            serde_json::from_value(json!({
                "topic_arn": "arn:aws:sns:us-east-1:123456789012:nope",
                "source_bucket": "lake-prod", "backup_date": "2021-03-31",
                "failure": {"state": "AwaitJob", "error": "States.Timeout"},
            }))
            .unwrap(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, NotifyError::TopicNotFound { .. }), "{err}");
    assert!(err.to_string().contains("create it"), "{err}");
}

#[tokio::test]
async fn a_topic_of_another_region_is_reported_as_such() {
    let moto = Moto::start();
    let sns = kit::clients::sns(&moto.sdk_config());
    // The topic exists, in us-east-1 (the client's region); the ARN names eu-west-1.
    let topic = sns.create_topic().name("lakevault").send().await.unwrap();
    let arn = topic.topic_arn().unwrap().replace("us-east-1", "eu-west-1");
    let err = Notify::new(sns)
        .handle(
            serde_json::from_value(json!({
                "topic_arn": arn,
                "source_bucket": "lake-prod", "backup_date": "2021-03-31",
                "failure": {"state": "AwaitJob", "error": "States.Timeout"},
            }))
            .unwrap(),
        )
        .await
        .unwrap_err();
    match &err {
        NotifyError::TopicNotFound {
            topic_region,
            client_region,
            ..
        } => {
            assert_eq!(topic_region, "eu-west-1");
            assert_eq!(client_region.as_deref(), Some("us-east-1"));
        }
        other => panic!("expected TopicNotFound, got {other:?}"),
    }
    assert!(
        err.to_string().contains("the ARN names region eu-west-1"),
        "{err}"
    );
}

/// The restore machine's notice, restored and verified (`extra` replaces fields).
fn restore_notice(extra: Value) -> Value {
    let mut n = json!({
        "restore_id": "3f2a9c0d1e4b5a67", "snapshot_bucket": "lake-prod-31-mar-2021",
        "table": "events/", "version": 7,
        "target": {"bucket": "lake-prod-restored", "prefix": "events/"},
        "objects": 23, "bytes": 123_456, "job_id": "job-1",
        "verified": {"restore_id": "3f2a9c0d1e4b5a67", "table_url": "s3://lake-prod-restored/events/",
                     "version": 7, "files": 20, "objects": 23, "bytes": 123_000, "verdict": "restored"},
    });
    if let (Some(o), Some(e)) = (n.as_object_mut(), extra.as_object()) {
        o.extend(e.clone());
    }
    n
}

#[tokio::test]
async fn a_restore_is_published_restored_or_failed_and_the_pager_sees_the_failure() {
    let moto = Moto::start();
    let conf = moto.sdk_config();
    let sns = kit::clients::sns(&conf);
    let sqs = aws_sdk_sqs::Client::new(&conf);
    let topic = topic(&sns, "lakevault-backups").await;
    let all = queue(&sqs, "everything").await;
    let pager = queue(&sqs, "failures-only").await;
    subscribe(&sns, &topic, &all).await;
    let sub = subscribe(&sns, &topic, &pager).await;
    sns.set_subscription_attributes()
        .subscription_arn(sub)
        .attribute_name("FilterPolicy")
        .attribute_value(r#"{"outcome": ["failed"]}"#)
        .send()
        .await
        .unwrap();

    let step = Notify::new(sns.clone());
    let restored = step
        .handle(
            serde_json::from_value(json!({
                "topic_arn": topic, "source_bucket": "lake-prod", "backup_date": "2021-03-31",
                "restore": restore_notice(json!({})),
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        restored.subject,
        "lakevault: restored events/ v7 into s3://lake-prod-restored/events/"
    );
    assert_eq!(restored.outcome, "restored");
    // Planning failed: no source, date, id or version yet; the subject names the snapshot.
    let cause = json!({"errorType": "VersionNotRestorable",
                       "errorMessage": "version 41 of events/ cannot be restored: the nearest are 40 and 42"});
    let failed = step
        .handle(
            serde_json::from_value(json!({
                "topic_arn": topic, "source_bucket": null, "backup_date": null,
                "restore": restore_notice(json!({"restore_id": null, "version": null, "objects": null,
                                                 "bytes": null, "job_id": null, "verified": null})),
                "failure": {"state": "PlanRestore", "error": "VersionNotRestorable", "cause": cause.to_string()},
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        failed.subject,
        "lakevault: restore of lake-prod-31-mar-2021/events/ FAILED at PlanRestore"
    );

    let got = drain(&sqs, &all).await;
    assert_eq!(got.len(), 2, "{got:?}");
    let ok = got
        .iter()
        .find(|m| attr(m, "outcome") == "restored")
        .unwrap();
    assert_eq!(ok["Subject"], restored.subject);
    assert_eq!(attr(ok, "restore_id"), "3f2a9c0d1e4b5a67");
    assert_eq!(attr(ok, "snapshot_bucket"), "lake-prod-31-mar-2021");
    assert_eq!(attr(ok, "source_bucket"), "lake-prod");
    let body = ok["Message"].as_str().unwrap();
    for line in [
        "lakevault restore 3f2a9c0d1e4b5a67: restored and verified",
        "Version: 7",
        "Target: s3://lake-prod-restored/events/",
        "Objects: 23 (123,456 bytes)",
        "Batch Operations job: job-1",
        "Verification: restored - s3://lake-prod-restored/events/ at version 7",
    ] {
        assert!(body.contains(line), "{line:?} not in {body}");
    }
    let (_, record) = body.split_once("--- record (JSON) ---\n").unwrap();
    let record: Value = serde_json::from_str(record).unwrap();
    assert_eq!(record["restore"]["version"], 7);

    let bad = got.iter().find(|m| attr(m, "outcome") == "failed").unwrap();
    assert_eq!(attr(bad, "failed_state"), "PlanRestore");
    assert_eq!(attr(bad, "source_bucket"), "");
    assert_eq!(attr(bad, "restore_id"), "");
    let body = bad["Message"].as_str().unwrap();
    assert!(body.contains("Error: VersionNotRestorable"), "{body}");
    assert!(
        body.contains("Cause: version 41 of events/ cannot be restored: the nearest are 40 and 42"),
        "{body}"
    );

    // The pager's filter lets only the failure through.
    let paged = drain(&sqs, &pager).await;
    assert_eq!(paged.len(), 1, "{paged:?}");
    assert_eq!(paged[0]["Subject"], failed.subject);
}
