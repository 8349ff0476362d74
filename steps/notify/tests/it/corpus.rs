//! The bad-input corpus (issue 12): hostile and malformed events, table-driven. Every case is
//! refused as `InvalidInput` with the JSON path of the field at fault (`$` for the whole event), a
//! short message in JSON words, and nothing in S3 changed. Parsed cases go through
//! `kit::entry::invoke`; cases only visible in the event's text (duplicate keys, not JSON) go
//! through the binary on stdin.
//!
//! The runner, and what it asserts of every case, is `harness::corpus`; here, the step's world,
//! its base event (a good one: the control at the end runs it) and its cases.
//! `CORPUS_SHOW=1 cargo test -p <step> corpus -- --nocapture` prints every answer.

use harness::Moto;
use harness::corpus::{self, Case, Event, MB, set, text, whole};
use harness::inbox::{Queue, drain, queue, subscribe, topic};
use notify::Notify;
use serde_json::{Value, json};

/// Moto with the SNS topic and an SQS queue subscribed to it, and the event that publishes an
/// audit record there.
struct World {
    moto: Moto,
    sqs: aws_sdk_sqs::Client,
    queue: Queue,
    step: Notify,
    base: Value,
}

impl corpus::World for World {
    type Step = Notify;
    const BINARY: &str = env!("CARGO_BIN_EXE_notify");
    /// The base event publishes a message.
    const BASE_WRITES: bool = true;
    /// The step's own type names, which no message may contain.
    const STEP_TYPES: &[&str] = &[
        "NotifyInput",
        "Failure",
        "AuditRecord",
        "Verdict",
        "TaskCounts",
        "Failures",
        "ClassSummary",
        "ObjectRef",
        "ReportSummary",
        "RestoreNotice",
        "RestoreTarget",
        "RestoreVerification",
    ];

    fn moto(&self) -> &Moto {
        &self.moto
    }
    fn step(&self) -> &Notify {
        &self.step
    }
    fn base(&self) -> &Value {
        &self.base
    }

    /// S3, the topics, and the subscribed queue's messages (read and deleted: a refused event
    /// must have sent none).
    async fn state(&self) -> Vec<String> {
        let mut state = corpus::s3_state(&self.moto).await;
        let sns = kit::clients::sns(&self.moto.sdk_config());
        let topics = sns.list_topics().send().await.expect("ListTopics");
        for t in topics.topics() {
            state.push(format!("topic {}", t.topic_arn().unwrap_or_default()));
        }
        let messages = drain(&self.sqs, &self.queue).await;
        state.extend(messages.iter().map(|m| format!("message {m}")));
        state
    }
}

/// The topic's ARN (moto's account and region).
const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:lakevault-backups";

async fn world() -> World {
    world_with(json!({
        "topic_arn": TOPIC,
        "source_bucket": "lake-prod",
        "backup_date": "2021-03-31",
        "audit": audit_record(),
    }))
    .await
}

/// The world, with a restored table's notice for the base event.
async fn restore_world() -> World {
    world_with(json!({
        "topic_arn": TOPIC,
        "source_bucket": "lake-prod",
        "backup_date": "2021-03-31",
        "restore": restore_notice(),
    }))
    .await
}

/// The restore machine's notice of a restored, verified table.
fn restore_notice() -> Value {
    json!({
        "restore_id": "3f2a9c0d1e4b5a67", "snapshot_bucket": "lake-prod-31-mar-2021",
        "table": "events/", "version": 7,
        "target": {"bucket": "lake-prod-restored", "prefix": "events/"},
        "objects": 23, "bytes": 123_456, "job_id": "f8fb9d89-a3aa-461d-bddc-ea6a1b131955",
        "verified": {"restore_id": "3f2a9c0d1e4b5a67", "table_url": "s3://lake-prod-restored/events/",
                     "version": 7, "files": 20, "objects": 23, "bytes": 123_000, "verdict": "restored"},
    })
}

async fn world_with(base: Value) -> World {
    let moto = Moto::start();
    let conf = moto.sdk_config();
    let sns = kit::clients::sns(&conf);
    let sqs = aws_sdk_sqs::Client::new(&conf);
    assert_eq!(topic(&sns, "lakevault-backups").await, TOPIC);
    let queue = queue(&sqs, "everything").await;
    subscribe(&sns, TOPIC, &queue).await;
    World {
        step: Notify::new(sns),
        base,
        sqs,
        queue,
        moto,
    }
}

/// audit-report's record of a complete backup.
fn audit_record() -> Value {
    let empty = json!({"count": 0, "sample_keys": [], "error_codes": {}});
    json!({
        "source_bucket": "lake-prod", "backup_date": "2021-03-31",
        "snapshot_bucket": "lake-prod-31-mar-2021", "job_id": "f8fb9d89-a3aa-461d-bddc-ea6a1b131955",
        "verdict": "complete", "job_status": "Complete",
        "report": {"bucket": "backup-reports", "manifest_key": "batch-reports/job-f8fb9d89-a3aa-461d-bddc-ea6a1b131955/manifest.json",
                   "created_at": null, "result_files": 1, "bytes": 100},
        "tasks": {"total": 2, "succeeded": 2, "failed": 0, "unparsed": 0},
        "failures": {"oversize": empty, "source_missing": empty, "access_denied": empty,
                     "transient": empty, "other": empty},
        "failure_classes": [], "findings": [],
        "record": {"bucket": "backup-reports", "key": "batch-reports/job-f8fb9d89-a3aa-461d-bddc-ea6a1b131955/lakevault-audit.json"},
    })
}

/// An event that reports `failure` (and no audit).
fn failure_event(failure: Value) -> Value {
    json!({"topic_arn": TOPIC, "source_bucket": "lake-prod", "backup_date": "2021-03-31", "failure": failure})
}

// One case per line: a table reads better than rustfmt's one argument per line.
#[rustfmt::skip]
const CASES: &[Case] = &[
    // Types.
    set("a number for the topic", "/topic_arn", || json!(7), "$.topic_arn"),
    set("null for the topic", "/topic_arn", || Value::Null, "$.topic_arn"),
    set("a string for the audit", "/audit", || json!("complete"), "$.audit"),
    set("a string for the task total", "/audit/tasks/total", || json!("2"), "$.audit.tasks.total"),
    set("an unknown verdict", "/audit/verdict", || json!("done"), "$.audit.verdict"),
    set("a string for a failure class's error codes", "/audit/failures/oversize/error_codes", || json!("InvalidRequest"), "$.audit.failures.oversize.error_codes"),
    Case { name: "a string for the failure", event: Event::Whole(|| failure_event(json!("SubmitJob failed"))), error_type: "InvalidInput", path: "$.failure" },
    Case { name: "a number for the failure's error", event: Event::Whole(|| failure_event(json!({"state": "SubmitJob", "error": 7}))), error_type: "InvalidInput", path: "$.failure.error" },
    Case { name: "no topic", event: Event::Without("/topic_arn"), error_type: "InvalidInput", path: "$" },
    Case { name: "no task counts", event: Event::Without("/audit/tasks"), error_type: "InvalidInput", path: "$.audit" },
    Case { name: "a failure without its error", event: Event::Whole(|| failure_event(json!({"state": "SubmitJob", "cause": "x"}))), error_type: "InvalidInput", path: "$.failure.Error" },
    // ARNs.
    set("a topic ARN without region and account", "/topic_arn", || json!("arn:aws:sns:::backup-reports"), "$.topic_arn"),
    set("a topic in aws-cn with us-east-1", "/topic_arn", || json!("arn:aws-cn:sns:us-east-1:123456789012:lakevault-backups"), "$.topic_arn"),
    set("a topic in aws with a China region", "/topic_arn", || json!("arn:aws:sns:cn-north-1:123456789012:lakevault-backups"), "$.topic_arn"),
    set("a topic in an unknown partition", "/topic_arn", || json!("arn:aws-xx:sns:us-east-1:123456789012:lakevault-backups"), "$.topic_arn"),
    set("a topic with an 11-digit account", "/topic_arn", || json!("arn:aws:sns:us-east-1:12345678901:lakevault-backups"), "$.topic_arn"),
    set("a dot in the topic name", "/topic_arn", || json!("arn:aws:sns:us-east-1:123456789012:lakevault.backups"), "$.topic_arn"),
    set("a 257-character topic name", "/topic_arn", || json!(format!("arn:aws:sns:us-east-1:123456789012:{}", "t".repeat(257))), "$.topic_arn"),
    set("a queue ARN for the topic", "/topic_arn", || json!("arn:aws:sqs:us-east-1:123456789012:everything"), "$.topic_arn"),
    set("a topic name for the topic", "/topic_arn", || json!("lakevault-backups"), "$.topic_arn"),
    // Dates.
    set("February 30th in the audit record", "/audit/backup_date", || json!("2021-02-30"), "$.audit.backup_date"),
    // Sizes.
    set("a 1 MB topic", "/topic_arn", || json!(format!("arn:aws:sns:us-east-1:123456789012:{}", "t".repeat(MB))), "$.topic_arn"),
    set("a 1 MB verdict", "/audit/verdict", || json!("v".repeat(MB)), "$.audit.verdict"),
    set("a task total beyond 64 bits", "/audit/tasks/total", || json!(1e30), "$.audit.tasks.total"),
    set("a negative task total", "/audit/tasks/total", || json!(-1), "$.audit.tasks.total"),
    // Step rules: exactly one of audit and failure.
    set("both an audit and a failure", "/failure", || json!({"state": "SubmitJob", "error": "JobRejected"}), "$"),
    Case { name: "neither an audit nor a failure", event: Event::Without("/audit"), error_type: "InvalidInput", path: "$" },
    Case { name: "a failure's error given as error and Error", event: Event::Whole(|| failure_event(json!({"error": "JobRejected", "Error": "Transient"}))), error_type: "InvalidInput", path: "$.failure" },
    // Nesting.
    whole("a string event", || json!("lake-prod")),
    set("a nested object for the topic", "/topic_arn", || json!({"arn": TOPIC}), "$.topic_arn"),
    // Encodings.
    set("an emoji in the source bucket", "/source_bucket", || json!("lake-🦀"), "$.source_bucket"),
    set("an emoji in the topic name", "/topic_arn", || json!("arn:aws:sns:us-east-1:123456789012:lakevault-🦀"), "$.topic_arn"),
    set("a NUL in the topic", "/topic_arn", || json!("arn:aws:sns:us-east-1:123456789012:lakevault\u{0}backups"), "$.topic_arn"),
    set("a newline in the topic", "/topic_arn", || json!(format!("{TOPIC}\n")), "$.topic_arn"),
    // A well-formed topic of another region than the step's (us-east-1): not there, and said so.
    Case { name: "a topic in another region", event: Event::Set("/topic_arn", || json!("arn:aws:sns:eu-west-1:123456789012:lakevault-backups")), error_type: "TopicNotFound", path: "the ARN names region eu-west-1" },
    // Only visible in the text: through the binary.
    text("a verdict given twice", |t| t.replacen(r#""audit":{"#, r#""audit":{"verdict":"failed","#, 1).into_bytes(), "$.audit.verdict"),
    text("not JSON", |_| b"topic_arn=lakevault-backups".to_vec(), "$"),
];

/// Hostile shapes, sizes and partitions (issue 12 items 4 to 7); each comment names the rule it holds to.
#[rustfmt::skip]
const HOSTILE: &[Case] = &[
    // Item 6: JSON words in messages (now "expected string or map": serde's word for an object).
    set("a number for the verdict", "/audit/verdict", || json!(1), "$.audit.verdict"),
    // Item 6: the path in a message is cut like a value (now the whole 1 MB key in the path).
    set("a 1 MB error code that is not counted", "/audit/failures/oversize/error_codes", || json!({"c".repeat(MB): "many"}), "$.audit.failures.oversize.error_codes.c*"),
    // Last: a case the step accepts publishes a message.
    // Item 4: only a JSON object is an event, and that holds inside it too.
    Case { name: "an array for the failure", event: Event::Whole(|| failure_event(json!(["SubmitJob", "JobRejected", "refused"]))), error_type: "InvalidInput", path: "$.failure" },
    set("an array for the task counts", "/audit/tasks", || json!([2, 2, 0, 0]), "$.audit.tasks"),
];

/// A restore's notice: names that are names; a restored table's notice has everything; not with
/// a backup's audit or verification.
#[rustfmt::skip]
const RESTORE: &[Case] = &[
    // Types.
    set("a string for the restore", "/restore", || json!("restored"), "$.restore"),
    set("an array for the restore", "/restore", || json!(["3f2a9c0d1e4b5a67"]), "$.restore"),
    set("a string for the version", "/restore/version", || json!("7"), "$.restore.version"),
    set("a negative object count", "/restore/objects", || json!(-1), "$.restore.objects"),
    set("a string for the verification", "/restore/verified", || json!("restored"), "$.restore.verified"),
    Case { name: "no target", event: Event::Without("/restore/target"), error_type: "InvalidInput", path: "$.restore" },
    Case { name: "no snapshot bucket", event: Event::Without("/restore/snapshot_bucket"), error_type: "InvalidInput", path: "$.restore" },
    // Names.
    set("an uppercase snapshot bucket", "/restore/snapshot_bucket", || json!("Lake-Prod-31-Mar-2021"), "$.restore.snapshot_bucket"),
    set("an s3:// URL for the target bucket", "/restore/target/bucket", || json!("s3://lake-prod-restored"), "$.restore.target.bucket"),
    set("a restore id that is not hex", "/restore/restore_id", || json!("restore-of-events"), "$.restore.restore_id"),
    set("an uppercase restore id", "/restore/restore_id", || json!("3F2A9C0D1E4B5A67"), "$.restore.restore_id"),
    set("a 1 MB restore id", "/restore/restore_id", || json!("a".repeat(MB)), "$.restore.restore_id"),
    set("a newline in the table", "/restore/table", || json!("events/\n"), "$.restore.table"),
    set("a NUL in the target prefix", "/restore/target/prefix", || json!("ev\u{0}ents/"), "$.restore.target.prefix"),
    set("a 1 MB table", "/restore/table", || json!("t".repeat(MB)), "$.restore.table"),
    // A restored table's notice has the plan, the job and the verification.
    set("a restored notice without its verification", "/restore/verified", || Value::Null, "$.restore.verified"),
    set("a restored notice without its version", "/restore/version", || Value::Null, "$.restore.version"),
    set("a restored notice without its job", "/restore/job_id", || Value::Null, "$.restore.job_id"),
    set("a restored notice without its restore id", "/restore/restore_id", || Value::Null, "$.restore.restore_id"),
    // Not with a backup's parts.
    set("a restore with an audit", "/audit", audit_record, "$.audit"),
    set("a restore with a snapshot verification", "/verification", || json!({"verdict": "all_restorable"}), "$.verification"),
    // Without restore, a backup's source is still required, and an audited backup's date (a
    // failure may come without one: a source without a date fails before it is located).
    Case { name: "a backup without its source bucket", event: Event::Whole(|| json!({"topic_arn": TOPIC, "backup_date": "2021-03-31", "audit": audit_record()})), error_type: "InvalidInput", path: "$.source_bucket" },
    Case { name: "an audited backup without its date", event: Event::Whole(|| json!({"topic_arn": TOPIC, "source_bucket": "lake-prod", "audit": audit_record()})), error_type: "InvalidInput", path: "$.backup_date" },
    Case { name: "a failure whose execution is not an execution ARN", event: Event::Whole(|| json!({"topic_arn": TOPIC, "source_bucket": "lake-prod", "failure": {"Error": "JobRejected", "ExecutionArn": "arn:aws:states:us-east-1:123456789012:stateMachine:lakevault-backup-source"}})), error_type: "InvalidInput", path: "$.failure.execution_arn" },
];

#[tokio::test]
async fn bad_restore_notices_are_refused_with_their_path_and_nothing_sent() {
    corpus::refused_and_nothing_changed(&restore_world().await, RESTORE).await;
}

#[tokio::test]
async fn bad_inputs_are_refused_with_their_path_a_short_message_and_nothing_changed() {
    let cases = [
        corpus::NOT_AN_EVENT,
        corpus::SOURCE_BUCKET,
        corpus::BACKUP_DATE,
        CASES,
    ]
    .concat();
    corpus::refused_and_nothing_changed(&world().await, &cases).await;
}

#[tokio::test]
async fn hostile_shapes_sizes_and_partitions_are_refused_too() {
    let cases = [corpus::HOSTILE_TEXT, HOSTILE].concat();
    corpus::refused_and_nothing_changed(&world().await, &cases).await;
}
