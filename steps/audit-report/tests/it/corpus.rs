//! The bad-input corpus (issue 12): hostile and malformed events, table-driven. Every case is
//! refused as `InvalidInput` with the JSON path of the field at fault (`$` for the whole event), a
//! short message in JSON words, and nothing in S3 changed. Parsed cases go through
//! `kit::entry::invoke`; cases only visible in the event's text (duplicate keys, not JSON) go
//! through the binary on stdin.
//!
//! The runner, and what it asserts of every case, is `harness::corpus`; here, the step's world,
//! its base event (a good one: the control at the end runs it) and its cases.
//! `CORPUS_SHOW=1 cargo test -p <step> corpus -- --nocapture` prints every answer.

use audit_report::AuditReport;
use harness::corpus::{self, Case, Event, MB, set, text, whole};
use harness::{Moto, put_object};
use md5::{Digest, Md5};
use serde_json::{Value, json};

/// A report bucket holding the completion report of a finished two-object job, and the event that
/// audits it (and writes the audit record beside it).
struct World {
    moto: Moto,
    step: AuditReport,
    base: Value,
}

impl corpus::World for World {
    type Step = AuditReport;
    const BINARY: &str = env!("CARGO_BIN_EXE_audit-report");
    /// The base event writes the audit record.
    const BASE_WRITES: bool = true;
    /// The step's own type names, which no message may contain.
    const STEP_TYPES: &[&str] = &[
        "AuditInput",
        "ReportLocation",
        "JobSummary",
        "AuditReport",
        "LargeCopiesInput",
        "LargeCopyResult",
        "LargeCopyOutcome",
    ];

    fn moto(&self) -> &Moto {
        &self.moto
    }
    fn step(&self) -> &AuditReport {
        &self.step
    }
    fn base(&self) -> &Value {
        &self.base
    }
}

const JOB: &str = "f8fb9d89-a3aa-461d-bddc-ea6a1b131955";

async fn world() -> World {
    let moto = Moto::start();
    let s3 = moto.s3();
    s3.create_bucket()
        .bucket("backup-reports")
        .send()
        .await
        .expect("CreateBucket");
    // A completion report as S3 writes it: result files, and a manifest.json listing their MD5s.
    let base = format!("batch-reports/job-{JOB}");
    let csv = "lake-prod,table/part-0.parquet,,succeeded,200,,Successful\n\
               lake-prod,table/_delta_log/00000000000000000000.json,,succeeded,200,,Successful\n";
    let result_key = format!("{base}/results/{:040x}.csv", 0);
    put_object(&s3, "backup-reports", &result_key, csv).await;
    let manifest = json!({
        "Format": "Report_CSV_20180820",
        "ReportCreationDate": "2021-04-02T06:12:44.123Z",
        "Results": [{
            "TaskExecutionStatus": "succeeded",
            "Bucket": "backup-reports",
            "MD5Checksum": hex::encode(Md5::digest(csv.as_bytes())),
            "Key": result_key,
        }],
        "ReportSchema": "Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage",
    });
    let manifest_key = format!("{base}/manifest.json");
    put_object(&s3, "backup-reports", &manifest_key, manifest.to_string()).await;
    World {
        step: AuditReport::new(moto.s3()),
        base: json!({
            "source_bucket": "lake-prod",
            "backup_date": "2021-03-31",
            "snapshot_bucket": "lake-prod-31-mar-2021",
            "job_id": JOB,
            "report": {"bucket": "backup-reports", "prefix": "batch-reports"},
            "job": {"job_id": JOB, "status": "Complete", "total_tasks": 2, "succeeded_tasks": 2,
                    "failed_tasks": 0, "failure_reasons": []}
        }),
        moto,
    }
}

/// A large copy's result, as complete-large-copy answers it.
fn large_copy(outcome: &str, source: &str, snapshot: &str) -> Value {
    json!({"outcome": outcome, "source_bucket": source, "key": "table/big.parquet",
           "snapshot_bucket": snapshot, "size": 6_442_450_944_u64, "parts": 96})
}

// One case per line: a table reads better than rustfmt's one argument per line.
#[rustfmt::skip]
const CASES: &[Case] = &[
    // Types.
    set("a number for the job id", "/job_id", || json!(12_345), "$.job_id"),
    set("a string for the report", "/report", || json!("backup-reports"), "$.report"),
    set("a number for the report bucket", "/report/bucket", || json!(7), "$.report.bucket"),
    set("an array for the report prefix", "/report/prefix", || json!(["batch-reports"]), "$.report.prefix"),
    set("a string for the job summary", "/job", || json!("Complete"), "$.job"),
    set("a number for the job status", "/job/status", || json!(1), "$.job.status"),
    set("a string for the total tasks", "/job/total_tasks", || json!("2"), "$.job.total_tasks"),
    set("negative total tasks", "/job/total_tasks", || json!(-1), "$.job.total_tasks"),
    set("a string for the failure reasons", "/job/failure_reasons", || json!("none"), "$.job.failure_reasons"),
    Case { name: "no report", event: Event::Without("/report"), error_type: "InvalidInput", path: "$" },
    Case { name: "no job status", event: Event::Without("/job/status"), error_type: "InvalidInput", path: "$.job" },
    // Names.
    set("an ARN for the snapshot bucket", "/snapshot_bucket", || json!("arn:aws:s3:::lake-prod-31-mar-2021"), "$.snapshot_bucket"),
    set("an uppercase snapshot bucket", "/snapshot_bucket", || json!("Lake-Prod-31-Mar-2021"), "$.snapshot_bucket"),
    set("an SNS ARN for the report bucket", "/report/bucket", || json!("arn:aws:sns:::backup-reports"), "$.report.bucket"),
    set("an s3:// URL for the report bucket", "/report/bucket", || json!("s3://backup-reports"), "$.report.bucket"),
    set("a report bucket ARN in an unknown partition", "/report/bucket", || json!("arn:aws-xx:s3:::backup-reports"), "$.report.bucket"),
    set("an object ARN for the report bucket", "/report/bucket", || json!("arn:aws:s3:::backup-reports/batch-reports"), "$.report.bucket"),
    set("a regional ARN for the report bucket", "/report/bucket", || json!("arn:aws:s3:us-east-1:123456789012:backup-reports"), "$.report.bucket"),
    set("an xn-- report bucket", "/report/bucket", || json!("xn--reports"), "$.report.bucket"),
    set("a job id of 37 characters", "/job_id", || json!("a".repeat(37)), "$.job_id"),
    set("a path in the job id", "/job_id", || json!("job/../x"), "$.job_id"),
    // Sizes.
    set("a 1 MB report bucket", "/report/bucket", || json!("b".repeat(MB)), "$.report.bucket"),
    set("a 1 MB report prefix", "/report/prefix", || json!("p".repeat(MB)), "$.report.prefix"),
    set("a 1 MB job id", "/job_id", || json!("j".repeat(MB)), "$.job_id"),
    set("total tasks beyond 64 bits", "/job/total_tasks", || json!(1e30), "$.job.total_tasks"),
    // Step rules.
    set("a job that is still active", "/job/status", || json!("Active"), "$.job.status"),
    set("a job status in lowercase", "/job/status", || json!("complete"), "$.job.status"),
    set("an empty job status", "/job/status", || json!(""), "$.job.status"),
    set("a job summary of another job", "/job/job_id", || json!("00000000-0000-0000-0000-000000000000"), "$.job.job_id"),
    set("a string for the large copies", "/large_copies", || json!("copied"), "$.large_copies"),
    set("large copies without results", "/large_copies", || json!({"truncated": false}), "$.large_copies"),
    set("an unknown large copy outcome", "/large_copies", || json!({"results": [large_copy("aborted", "lake-prod", "lake-prod-31-mar-2021")]}), "$.large_copies.results[0].outcome"),
    set("a large copy of another source bucket", "/large_copies", || json!({"results": [large_copy("copied", "lake-dev", "lake-prod-31-mar-2021")]}), "$.large_copies.results[0]"),
    set("a large copy into another snapshot bucket", "/large_copies", || json!({"results": [large_copy("copied", "lake-prod", "lake-prod-01-apr-2021")]}), "$.large_copies.results[0]"),
    // Nesting.
    whole("a string event", || json!("lake-prod")),
    set("a nested object for the job status", "/job/status", || json!({"status": "Complete"}), "$.job.status"),
    // Encodings.
    set("an emoji in the report bucket", "/report/bucket", || json!("reports-🦀"), "$.report.bucket"),
    set("a newline in the report prefix", "/report/prefix", || json!("batch-reports\n"), "$.report.prefix"),
    set("a NUL in the report prefix", "/report/prefix", || json!("batch\u{0}reports"), "$.report.prefix"),
    // Only visible in the text: through the binary.
    text("a report bucket given twice", |t| t.replacen(r#""report":{"#, r#""report":{"bucket":"other-reports","#, 1).into_bytes(), "$.report.bucket"),
    text("a job status given twice", |t| t.replacen(r#""job":{"#, r#""job":{"status":"Active","#, 1).into_bytes(), "$.job.status"),
    text("not JSON", |_| b"source_bucket=lake-prod&backup_date=2021-03-31".to_vec(), "$"),
];

/// Hostile shapes, sizes and partitions (issue 12 items 4 to 7); each comment names the rule it holds to.
#[rustfmt::skip]
const HOSTILE: &[Case] = &[
    // Item 6: quote at most a short prefix of the value, escaped.
    set("a NUL after the job status", "/job/status", || json!("Complete\u{0}"), "$.job.status"),
    set("a 1 MB job status", "/job/status", || json!("A".repeat(MB)), "$.job.status"),
    set("a 1 MB job id in the job summary", "/job/job_id", || json!("j".repeat(MB)), "$.job.job_id"),
    // Last: a case the step accepts writes an audit record, which the cases after it would meet.
    // Item 4: only a JSON object is an event, and that holds inside it too.
    set("an array for the report", "/report", || json!(["backup-reports", "batch-reports"]), "$.report"),
    set("an array for the job summary", "/job", || json!([JOB, "Complete", 2, 2, 0, []]), "$.job"),
    // Item 5: a report bucket ARN of another partition than the step's region (us-east-1).
    set("a report bucket ARN in aws-cn", "/report/bucket", || json!("arn:aws-cn:s3:::backup-reports"), "$.report.bucket"),
];

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
