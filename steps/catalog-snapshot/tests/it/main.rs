//! catalog-snapshot's integration tests: one binary (the SDK is linked once per crate), against
//! moto with snapshot buckets under Object Lock, and the error paths no emulator produces on
//! mocked clients.

mod catalog;
mod errors;

use catalog_snapshot::CatalogSnapshot;
use kit::entry::invoke;
use kit::record::{AuditRecord, Failures, ObjectRef, TaskCounts, Verdict};
use serde_json::{Value, json};

pub(crate) const SOURCE: &str = "lake-prod";
pub(crate) const DATE: &str = "2021-03-31";
pub(crate) const JOB: &str = "job-5f1c";
pub(crate) const PREFIX: &str = "reports";

/// The step's answer, or its error as (errorType, errorMessage).
pub(crate) async fn run(step: &CatalogSnapshot, ev: Value) -> Result<Value, (String, String)> {
    invoke(step, ev)
        .await
        .map_err(|d| (d.error_type, d.error_message))
}

/// The audit record audit-report returns for `snapshot` with `verdict`.
pub(crate) fn audit(snapshot: &str, report_bucket: &str, verdict: Verdict) -> Value {
    let record = AuditRecord {
        source_bucket: SOURCE.into(),
        backup_date: DATE.parse().unwrap(),
        snapshot_bucket: snapshot.into(),
        job_id: JOB.into(),
        verdict,
        job_status: Some("Complete".into()),
        report: None,
        tasks: TaskCounts {
            total: 3,
            succeeded: 3,
            failed: 0,
            unparsed: 0,
        },
        failures: Failures::default(),
        failure_classes: vec![],
        oversize_manifest: None,
        cross_check: None,
        large_copies: None,
        findings: vec![],
        record: ObjectRef {
            bucket: report_bucket.into(),
            key: format!("{PREFIX}/job-{JOB}/lakevault-audit.json"),
        },
    };
    serde_json::to_value(record).unwrap()
}

/// The key verify-snapshot writes its tables record at.
pub(crate) fn tables_key() -> String {
    format!("{PREFIX}/job-{JOB}/lakevault-tables.json")
}

/// verify-snapshot's output for `snapshot`: `verdict` and `total` tables (the counts follow
/// the verdict).
pub(crate) fn verification(
    snapshot: &str,
    report_bucket: &str,
    verdict: &str,
    total: u64,
) -> Value {
    let (restorable, degraded) = if verdict == "degraded" {
        (total.saturating_sub(1), total.min(1))
    } else {
        (total, 0)
    };
    json!({"snapshot_bucket": snapshot, "backup_date": DATE, "verdict": verdict,
           "tables": {"total": total, "restorable": restorable, "degraded": degraded, "unrestorable": 0},
           "non_delta_objects": 1, "summary": "as verify-snapshot words it",
           "record": {"bucket": report_bucket, "key": tables_key()}})
}

/// One table's report as verify-snapshot's `TableReport` serialises it.
pub(crate) fn table_report(
    root: &str,
    restorable: Option<u64>,
    as_of: Option<(u64, bool)>,
) -> Value {
    let verdict = match (restorable, as_of) {
        (_, Some((_, true))) => "restorable",
        (Some(_), _) => "degraded",
        _ => "unrestorable",
    };
    json!({"root": root, "verdict": verdict, "latest_version": restorable,
           "restorable_version": restorable, "earliest_version": 0,
           "as_of_backup_date": as_of.map(|(v, r)| json!({"version": v, "committed_at_ms": 1_617_209_400_000_i64,
                                                          "source": "timestamp", "restorable": r})),
           "files": 3, "bytes": 300, "deletion_vectors": 0,
           "missing": {"version": null, "count": 0, "samples": []},
           "protocol": {"min_reader_version": 1, "min_writer_version": 2, "reader_features": []},
           "versions_checked": restorable.into_iter().collect::<Vec<_>>(), "findings": []})
}

/// verify-snapshot's tables record (its `TablesRecord`), pretty-printed as it writes it.
pub(crate) fn tables_record(snapshot: &str, report_bucket: &str, tables: Vec<Value>) -> Vec<u8> {
    let n = tables.len();
    serde_json::to_vec_pretty(&json!({
        "source_bucket": SOURCE, "backup_date": DATE, "snapshot_bucket": snapshot, "job_id": JOB,
        "verdict": "all_restorable",
        "tables": {"total": n, "restorable": n, "degraded": 0, "unrestorable": 0},
        "non_delta_objects": 1, "table_reports": tables, "findings": [],
        "record": {"bucket": report_bucket, "key": tables_key()}}))
    .unwrap()
}

/// The event for `snapshot`.
pub(crate) fn event(
    snapshot: &str,
    report_bucket: &str,
    audit: Value,
    verification: Value,
) -> Value {
    json!({"source_bucket": SOURCE, "backup_date": DATE, "snapshot_bucket": snapshot, "job_id": JOB,
           "report": {"bucket": report_bucket, "prefix": PREFIX}, "storage_class": "GLACIER_IR",
           "audit": audit, "verification": verification})
}
