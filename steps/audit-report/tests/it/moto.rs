//! audit-report against moto: completion reports in AWS's layout, written here row by row.

use audit_report::{AuditError, AuditRecord, AuditReport, FailureClass, Verdict};
use harness::{Moto, get_object, put_object};
use kit::Step;
use md5::{Digest, Md5};
use serde_json::{Value, json};

const JOB: &str = "f8fb9d89-a3aa-461d-bddc-ea6a1b131955";
const OVERSIZE_MSG: &str = "The specified copy source is larger than the maximum allowable size for a copy source: 5368709120";

/// Writes a completion report as S3 does, under `batch-reports/` (the prefix [`input`] names):
/// results/<hex>.csv files and a manifest.json listing them with their MD5s.
async fn write_report(s3: &aws_sdk_s3::Client, bucket: &str, files: &[(&str, &str)]) {
    let base = format!("batch-reports/job-{JOB}");
    let mut results = Vec::new();
    for (i, (status, csv)) in files.iter().enumerate() {
        let key = format!("{base}/results/{i:040x}.csv");
        put_object(s3, bucket, &key, csv.as_bytes()).await;
        results.push(json!({
            "TaskExecutionStatus": status,
            "Bucket": bucket,
            "MD5Checksum": hex::encode(Md5::digest(csv.as_bytes())),
            "Key": key,
        }));
    }
    let manifest = json!({
        "Format": "Report_CSV_20180820",
        "ReportCreationDate": "2021-04-02T06:12:44.123Z",
        "Results": results,
        "ReportSchema": "Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage",
    });
    put_object(
        s3,
        bucket,
        &format!("{base}/manifest.json"),
        manifest.to_string(),
    )
    .await;
}

/// An empty report bucket on `moto`, and the step reading it.
async fn setup(moto: &Moto) -> (aws_sdk_s3::Client, String, AuditReport) {
    let s3 = moto.s3();
    let bucket = harness::unique_bucket("reports");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let step = AuditReport::new(s3.clone());
    (s3, bucket, step)
}

fn input(bucket: &str, job: Option<Value>) -> Value {
    let mut v = json!({
        "source_bucket": "lake-prod",
        "backup_date": "2021-03-31",
        "snapshot_bucket": "lake-prod-31-mar-2021",
        "job_id": JOB,
        "report": {"bucket": format!("arn:aws:s3:::{bucket}"), "prefix": "batch-reports"},
        "passed_through": {"anything": 1},
    });
    if let Some(j) = job {
        v["job"] = j;
    }
    v
}

fn job(status: &str, total: u64, ok: u64, failed: u64) -> Value {
    json!({"job_id": JOB, "status": status, "finished": true, "total_tasks": total,
           "succeeded_tasks": ok, "failed_tasks": failed, "elapsed_active_seconds": 12,
           "failure_reasons": []})
}

async fn run(step: &AuditReport, event: Value) -> Result<AuditRecord, AuditError> {
    step.handle(serde_json::from_value(event).unwrap()).await
}

/// Successes with odd keys (quoted commas, quotes, a newline, `+`, `%20`, unicode), an oversize
/// object and a vacuumed one, in both column orders AWS uses.
const SUCCEEDED_CSV: &str = concat!(
    "lake-prod,tables/events/date%3D2021-03-30/part-00000-1.c000.snappy.parquet,,succeeded,200,,Successful\n",
    "\"lake-prod\",\"tables/odd/a%2Cb.parquet\",\"\",\"succeeded\",\"200\",\"\",\"Successful\"\n",
    "lake-prod,\"tables/odd/with,comma and \"\"quote\"\"\nnewline.parquet\",,succeeded,200,,Successful\n",
    "lake-prod,tables/odd/plus+space%20here.parquet,,succeeded,200,,Successful\n",
    "lake-prod,tables/odd/%C3%A9t%C3%A9/%E6%97%A5%E6%9C%AC.parquet,,succeeded,200,,Successful\n",
    "lake-prod,tables/events/_delta_log/00000000000000000007.json,,succeeded,200,,Successful\n",
);

fn failed_csv() -> String {
    format!(
        "lake-prod,tables/big/part-00001%2C+huge.parquet,,failed,400,InvalidRequest,\"{OVERSIZE_MSG}\"\n\
         lake-prod,tables/events/date%3D2021-03-01/part-00007-vacuumed.parquet,,failed,NoSuchKey,404,\"The specified key does not exist.\"\n\
         lake-prod,\"tables/odd/vac\"\"uumed,\nkey+%C3%A9.parquet\",,failed,404,NoSuchKey,\"The specified key does not exist.\"\n"
    )
}

/// The report of a job of 9 tasks: 6 succeeded ([`SUCCEEDED_CSV`]), 3 failed ([`failed_csv`]: an
/// oversize copy, two vacuumed keys).
async fn write_mixed_report(s3: &aws_sdk_s3::Client, bucket: &str) {
    let failed = failed_csv();
    write_report(
        s3,
        bucket,
        &[("succeeded", SUCCEEDED_CSV), ("failed", &failed)],
    )
    .await;
}

#[tokio::test]
async fn audits_a_report_to_exactly_its_classes() {
    let moto = Moto::start();
    let (s3, bucket, step) = setup(&moto).await;
    write_mixed_report(&s3, &bucket).await;
    let rec = run(&step, input(&bucket, Some(job("Complete", 9, 6, 3))))
        .await
        .unwrap();

    assert_eq!(rec.verdict, Verdict::Incomplete);
    assert_eq!(
        (
            rec.tasks.total,
            rec.tasks.succeeded,
            rec.tasks.failed,
            rec.tasks.unparsed
        ),
        (9, 6, 3, 0)
    );
    assert_eq!(
        rec.failure_classes,
        [FailureClass::Oversize, FailureClass::SourceMissing]
    );
    assert_eq!(
        rec.failures.oversize.sample_keys,
        ["tables/big/part-00001, huge.parquet"]
    );
    assert_eq!(
        rec.failures.source_missing.sample_keys,
        [
            "tables/events/date=2021-03-01/part-00007-vacuumed.parquet",
            "tables/odd/vac\"uumed,\nkey é.parquet"
        ]
    );
    assert_eq!(rec.failures.access_denied.count, 0);
    assert!(rec.cross_check.as_ref().unwrap().agrees);
    let report = rec.report.as_ref().unwrap();
    assert_eq!(report.result_files, 2);
    assert_eq!(
        report.created_at.as_deref(),
        Some("2021-04-02T06:12:44.123Z")
    );

    // The complete oversize list, as a Batch Operations CSV manifest next to the report.
    let m = rec.oversize_manifest.as_ref().unwrap();
    assert_eq!(
        m.key,
        format!("batch-reports/job-{JOB}/lakevault-oversize.csv")
    );
    assert_eq!(m.objects, 1);
    let body = get_object(&s3, &bucket, &m.key).await;
    assert_eq!(
        String::from_utf8(body.clone()).unwrap(),
        "lake-prod,tables/big/part-00001%2C%20huge.parquet\n"
    );
    assert_eq!(m.etag, hex::encode(Md5::digest(&body)));
    assert_eq!(m.arn, format!("arn:aws:s3:::{bucket}/{}", m.key));

    // The persisted record is the output.
    let stored: AuditRecord =
        serde_json::from_slice(&get_object(&s3, &bucket, &rec.record.key).await).unwrap();
    assert_eq!(stored, rec);
    assert_eq!(
        rec.record.key,
        format!("batch-reports/job-{JOB}/lakevault-audit.json")
    );
}

#[tokio::test]
async fn rerun_writes_the_identical_record() {
    let moto = Moto::start();
    let (s3, bucket, step) = setup(&moto).await;
    write_mixed_report(&s3, &bucket).await;
    let first = run(&step, input(&bucket, None)).await.unwrap();
    let bytes1 = get_object(&s3, &bucket, &first.record.key).await;
    let second = run(&step, input(&bucket, None)).await.unwrap();
    let bytes2 = get_object(&s3, &bucket, &second.record.key).await;
    assert_eq!(first, second);
    assert_eq!(bytes1, bytes2);
}

#[tokio::test]
async fn all_succeeded_and_counts_agree_is_complete_a_mismatch_is_a_finding() {
    let moto = Moto::start();
    let (s3, bucket, step) = setup(&moto).await;
    write_report(&s3, &bucket, &[("succeeded", SUCCEEDED_CSV)]).await;

    let rec = run(&step, input(&bucket, Some(job("Complete", 6, 6, 0))))
        .await
        .unwrap();
    assert_eq!(rec.verdict, Verdict::Complete);
    assert!(rec.failure_classes.is_empty());
    assert!(rec.oversize_manifest.is_none());
    assert!(rec.findings.is_empty(), "{:?}", rec.findings);

    let rec = run(&step, input(&bucket, Some(job("Complete", 7, 7, 0))))
        .await
        .unwrap();
    assert_eq!(rec.verdict, Verdict::Incomplete);
    assert!(!rec.cross_check.as_ref().unwrap().agrees);
    assert!(
        rec.findings
            .iter()
            .any(|f| f.contains("total tasks: the job reports 7, the report holds 6")),
        "{:?}",
        rec.findings
    );
}

#[tokio::test]
async fn corrupted_result_file_is_report_invalid() {
    let moto = Moto::start();
    let (s3, bucket, step) = setup(&moto).await;
    write_report(&s3, &bucket, &[("succeeded", SUCCEEDED_CSV)]).await;
    // Same size, one byte different: only the MD5 can tell.
    let key = format!("batch-reports/job-{JOB}/results/{:040x}.csv", 0);
    put_object(&s3, &bucket, &key, SUCCEEDED_CSV.replacen("200", "201", 1)).await;
    let err = run(&step, input(&bucket, None)).await.unwrap_err();
    assert!(matches!(err, AuditError::ReportInvalid { .. }), "{err}");
    assert!(err.to_string().contains("MD5"), "{err}");
    assert_eq!(kit::StepError::error_type(&err), "ReportInvalid");
}

#[tokio::test]
async fn malformed_manifest_or_missing_result_file_is_report_invalid() {
    let moto = Moto::start();
    let (s3, bucket, step) = setup(&moto).await;
    let manifest_key = format!("batch-reports/job-{JOB}/manifest.json");

    put_object(
        &s3,
        &bucket,
        &manifest_key,
        "{\"Format\": \"Report_CSV_20180820\"",
    )
    .await;
    let err = run(&step, input(&bucket, None)).await.unwrap_err();
    assert!(matches!(err, AuditError::ReportInvalid { .. }), "{err}");

    let manifest = json!({"Format": "Report_CSV_20180820", "Results": [{
        "TaskExecutionStatus": "succeeded", "Bucket": bucket,
        "MD5Checksum": "d41d8cd98f00b204e9800998ecf8427e", "Key": "batch-reports/nope.csv"}]});
    put_object(&s3, &bucket, &manifest_key, manifest.to_string()).await;
    let err = run(&step, input(&bucket, None)).await.unwrap_err();
    assert!(
        matches!(&err, AuditError::ReportInvalid { key, .. } if key == "batch-reports/nope.csv"),
        "{err}"
    );
}

#[tokio::test]
async fn missing_report_is_an_error_for_a_complete_job_and_a_verdict_for_a_failed_one() {
    let moto = Moto::start();
    let (s3, bucket, step) = setup(&moto).await;

    let err = run(&step, input(&bucket, Some(job("Complete", 3, 3, 0))))
        .await
        .unwrap_err();
    assert!(matches!(err, AuditError::ReportNotFound { .. }), "{err}");
    let err = run(&step, input(&bucket, None)).await.unwrap_err();
    assert!(matches!(err, AuditError::ReportNotFound { .. }), "{err}");

    let mut failed = job("Failed", 0, 0, 0);
    failed["status_update_reason"] = json!("Manifest not found");
    let rec = run(&step, input(&bucket, Some(failed))).await.unwrap();
    assert_eq!(rec.verdict, Verdict::Failed);
    assert!(rec.report.is_none());
    assert!(
        rec.findings
            .iter()
            .any(|f| f.contains("Manifest not found")),
        "{:?}",
        rec.findings
    );
    let stored: AuditRecord =
        serde_json::from_slice(&get_object(&s3, &bucket, &rec.record.key).await).unwrap();
    assert_eq!(stored, rec);
}

#[tokio::test]
async fn failed_job_with_a_report_is_failed_and_still_classified() {
    let moto = Moto::start();
    let (s3, bucket, step) = setup(&moto).await;
    let csv = "lake-prod,k1,,failed,AccessDenied,403,Access Denied\nlake-prod,k2,,failed,500,InternalError,We encountered an internal error\n";
    write_report(&s3, &bucket, &[("failed", csv)]).await;
    let rec = run(&step, input(&bucket, Some(job("Failed", 2, 0, 2))))
        .await
        .unwrap();
    assert_eq!(rec.verdict, Verdict::Failed);
    assert_eq!(
        rec.failure_classes,
        [FailureClass::AccessDenied, FailureClass::Transient]
    );
}

#[tokio::test]
async fn the_binary_reports_error_types_on_stdout() {
    let moto = Moto::start();
    let (s3, bucket, _) = setup(&moto).await;
    let env = moto.env();
    let run_bin = |event: Value| {
        harness::run_step_binary(env!("CARGO_BIN_EXE_audit-report"), &env, event.to_string())
    };
    let (code, out) = run_bin(input(&bucket, None)).await;
    assert_eq!(code, Some(1));
    assert_eq!(out["errorType"], "ReportNotFound");

    let mut bad = input(&bucket, None);
    bad["report"]["bucket"] = json!(7);
    let (code, out) = run_bin(bad).await;
    assert_eq!(code, Some(1));
    assert_eq!(out["errorType"], "InvalidInput");
    assert!(
        out["errorMessage"]
            .as_str()
            .unwrap()
            .contains("$.report.bucket")
    );

    write_report(&s3, &bucket, &[("succeeded", SUCCEEDED_CSV)]).await;
    let (code, out) = run_bin(input(&bucket, None)).await;
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out["verdict"], "complete");
}

/// Two oversize objects (one with a comma and a `+` in its key) among six successes.
async fn write_oversize_report(s3: &aws_sdk_s3::Client, bucket: &str) {
    let failed = format!(
        "lake-prod,tables/big/part-00001%2C+huge.parquet,,failed,400,InvalidRequest,\"{OVERSIZE_MSG}\"\n\
         lake-prod,tables/big/part-00002.parquet,,failed,InvalidRequest,400,\"{OVERSIZE_MSG}\"\n"
    );
    write_report(
        s3,
        bucket,
        &[("succeeded", SUCCEEDED_CSV), ("failed", &failed)],
    )
    .await;
}

const BIG: [&str; 2] = [
    "tables/big/part-00001, huge.parquet",
    "tables/big/part-00002.parquet",
];

/// complete-large-copy's output for `key` (with a field the audit does not read).
fn copied(key: &str, size: u64) -> Value {
    json!({"outcome": "copied", "source_bucket": "lake-prod", "key": key, "version_id": null,
           "snapshot_bucket": "lake-prod-31-mar-2021", "size": size, "parts": 96,
           "copy_etag": "5f1c0e3c4d2a9b8e7f6a5b4c3d2e1f00-96", "copy_version_id": null,
           "checksum_check": "not_reported", "aborted_uploads": 0, "elapsed": 12})
}

#[tokio::test]
async fn a_second_audit_with_the_large_copies_amends_the_record() {
    let moto = Moto::start();
    let (s3, bucket, step) = setup(&moto).await;
    write_oversize_report(&s3, &bucket).await;
    let plain = input(&bucket, Some(job("Complete", 8, 6, 2)));

    // The first audit: the oversize objects are failures, and the record has no large copies.
    let first = run(&step, plain.clone()).await.unwrap();
    assert_eq!(first.verdict, Verdict::Incomplete);
    assert_eq!(first.failures.oversize.count, 2);
    assert!(first.large_copies.is_none());
    let first_bytes = get_object(&s3, &bucket, &first.record.key).await;
    let stored: Value = serde_json::from_slice(&first_bytes).unwrap();
    assert!(stored.get("large_copies").is_none(), "{stored}");

    // The second: the same input plus every oversize object copied, in the Map's order.
    let mut amended = plain.clone();
    amended["large_copies"] = json!({
        "results": [copied(BIG[1], 6 << 30), copied(BIG[0], 7 << 30)],
        "truncated": false, "not_listed": 0});
    let second = run(&step, amended.clone()).await.unwrap();
    assert_eq!(second.verdict, Verdict::Complete, "{:?}", second.findings);
    assert_eq!(second.record, first.record, "the same key, overwritten");
    let large = second.large_copies.as_ref().unwrap();
    assert!(large.covers_oversize);
    assert_eq!((large.copied, large.failed, large.missing), (2, 0, 0));
    assert_eq!(large.bytes_copied, 13 << 30);
    let keys: Vec<&str> = large.entries.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, BIG, "sorted by key");
    assert!(
        second
            .findings
            .iter()
            .any(|f| f.starts_with("2 oversize object(s) copied by multipart copy")),
        "{:?}",
        second.findings
    );
    // What the report says is unchanged: the amendment is the large copies, the verdict and the
    // findings about them.
    assert_eq!(
        (&second.tasks, &second.failures, &second.failure_classes),
        (&first.tasks, &first.failures, &first.failure_classes)
    );
    assert_eq!(second.oversize_manifest, first.oversize_manifest);
    assert_eq!(second.findings[..first.findings.len()], first.findings[..]);

    // The persisted record is the amended one; the same input writes the same bytes.
    let second_bytes = get_object(&s3, &bucket, &second.record.key).await;
    let stored: AuditRecord = serde_json::from_slice(&second_bytes).unwrap();
    assert_eq!(stored, second);
    let again = run(&step, amended.clone()).await.unwrap();
    assert_eq!(again, second);
    assert_eq!(
        get_object(&s3, &bucket, &again.record.key).await,
        second_bytes
    );

    // One copy failed (the state machine's failure path after the abort): incomplete.
    let mut one_failed = plain.clone();
    one_failed["large_copies"] = json!({"results": [
        copied(BIG[0], 7 << 30),
        {"outcome": "failed", "source_bucket": "lake-prod", "key": BIG[1],
         "snapshot_bucket": "lake-prod-31-mar-2021", "error": "SourceChanged",
         "cause": "{\"errorType\":\"SourceChanged\",\"errorMessage\":\"the source object changed\"}"}],
        "truncated": false, "not_listed": 0});
    let third = run(&step, one_failed).await.unwrap();
    assert_eq!(third.verdict, Verdict::Incomplete);
    assert!(
        third.findings.contains(&format!(
            "large copy of {} failed: SourceChanged: the source object changed",
            BIG[1]
        )),
        "{:?}",
        third.findings
    );
    let stored: AuditRecord =
        serde_json::from_slice(&get_object(&s3, &bucket, &third.record.key).await).unwrap();
    assert_eq!(stored, third);

    // A plain audit again writes the first record's bytes: the field is absent, not null.
    run(&step, plain).await.unwrap();
    assert_eq!(
        get_object(&s3, &bucket, &first.record.key).await,
        first_bytes
    );

    // Large copies of another snapshot bucket are refused, and the record is left as it was.
    let mut foreign = amended;
    foreign["large_copies"]["results"][1]["snapshot_bucket"] = json!("lake-prod-01-apr-2021");
    let err = run(&step, foreign).await.unwrap_err();
    assert!(
        matches!(&err, AuditError::InvalidInput(e) if e.path == "$.large_copies.results[1]"),
        "{err}"
    );
    assert_eq!(
        get_object(&s3, &bucket, &first.record.key).await,
        first_bytes
    );
}
