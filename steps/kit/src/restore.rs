//! A restore's outcome as the restore state machine carries it to notify: which table of which
//! snapshot, at which version, into where, how much, by which job, and verify-restore's verdict.
//! It lives here so that notify depends on no restore step's crate.
//!
//! What is known grows as the run goes: a restore whose planning failed has no restore id,
//! version or counts yet (the run's input names the snapshot, the table and the target); one
//! that reached its notification has them all.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where a table is restored: its root is `s3://<bucket>/<prefix>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RestoreTarget {
    /// The destination bucket.
    pub bucket: String,
    /// The restored table's root in it (`events/`; empty for the bucket's root).
    pub prefix: String,
}

impl RestoreTarget {
    /// `s3://<bucket>/<prefix>`.
    pub fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }
}

/// verify-restore's output: the restored table read back with Delta's reference reader.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RestoreVerification {
    /// The restore verified.
    pub restore_id: String,
    /// The restored table (`s3://lake-prod-restored/events/`).
    pub table_url: String,
    /// Its latest version: the version restored.
    pub version: u64,
    /// Live data files of that version, each present with its size.
    pub files: u64,
    /// Objects under the table's root (log, data, deletion vectors); absent from older outputs.
    #[serde(default)]
    pub objects: Option<u64>,
    /// Their bytes.
    pub bytes: u64,
    /// `restored` (a mismatch is verify-restore's `RestoreMismatch` error, not a verdict).
    pub verdict: String,
}

/// What notify tells of a restore (the notify event's `restore`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RestoreNotice {
    /// plan-restore's restore id (16 hex digits); null when the restore failed before its plan.
    #[serde(default)]
    pub restore_id: Option<String>,
    /// The snapshot bucket restored from.
    pub snapshot_bucket: String,
    /// The table's root in the snapshot (`events/`; empty for a table at the bucket's root).
    pub table: String,
    /// The version restored (plan-restore's `version`); null when not chosen yet.
    #[serde(default)]
    pub version: Option<u64>,
    /// Where the table is restored.
    pub target: RestoreTarget,
    /// Objects copied (plan-restore's `objects`); null when not planned yet.
    #[serde(default)]
    pub objects: Option<u64>,
    /// Their bytes (plan-restore's `bytes`); null when not planned yet.
    #[serde(default)]
    pub bytes: Option<u64>,
    /// The Batch Operations job that copied them; null when none was submitted.
    #[serde(default)]
    pub job_id: Option<String>,
    /// verify-restore's output; null when the restore was not verified.
    #[serde(default)]
    pub verified: Option<RestoreVerification>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_before_the_plan_needs_only_what_the_run_was_asked() {
        let n: RestoreNotice = serde_json::from_value(serde_json::json!({
            "restore_id": null, "snapshot_bucket": "lake-prod-31-mar-2021", "table": "events",
            "target": {"bucket": "lake-prod-restored", "prefix": "events/"}
        }))
        .unwrap();
        assert_eq!(n.version, None);
        assert_eq!(n.target.url(), "s3://lake-prod-restored/events/");
        let full: RestoreNotice = serde_json::from_value(serde_json::json!({
            "restore_id": "3f2a9c0d1e4b5a67", "snapshot_bucket": "lake-prod-31-mar-2021",
            "table": "events/", "version": 7,
            "target": {"bucket": "lake-prod-restored", "prefix": "events/"},
            "objects": 23, "bytes": 123456, "job_id": "job-1",
            "verified": {"restore_id": "3f2a9c0d1e4b5a67",
                         "table_url": "s3://lake-prod-restored/events/", "version": 7,
                         "files": 20, "bytes": 123000, "verdict": "restored"}
        }))
        .unwrap();
        assert_eq!(full.verified.map(|v| v.files), Some(20));
    }
}
