//! The audit record: the contract between audit-report, which writes it, and the steps that read
//! it (notify today; verify-snapshot, restore and the snapshot catalog later). It lives here so
//! that no step depends on another step's crate.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Day;

/// `<prefix>/<name>`, or `name` alone under an empty prefix; slashes at either end of the prefix
/// are dropped. Every lakevault key under the report prefix is built with it, so a prefix given
/// as `reports`, `reports/` or `/reports/` names the same objects.
pub fn under_prefix(prefix: &str, name: &str) -> String {
    let prefix = prefix.trim_matches('/');
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}/{name}")
    }
}

/// `<prefix>/job-<id>`: where S3 Batch Operations writes a job's completion report, and where
/// audit-report and verify-snapshot put their records beside it.
pub fn job_base(prefix: &str, job_id: &str) -> String {
    under_prefix(prefix, &format!("job-{job_id}"))
}

/// Why a task failed, as far as the report tells.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum FailureClass {
    /// The source object is over 5 GiB: a single copy cannot take it (needs a multipart copy).
    Oversize,
    /// The source object was gone when the job reached it (typically vacuumed after the inventory).
    SourceMissing,
    /// The batch role may not read the source or write the destination.
    AccessDenied,
    /// Throttling, timeouts, 5xx: worth retrying.
    Transient,
    /// Anything else.
    Other,
}

impl FailureClass {
    /// Every class, in report order.
    pub const ALL: [FailureClass; 5] = [
        FailureClass::Oversize,
        FailureClass::SourceMissing,
        FailureClass::AccessDenied,
        FailureClass::Transient,
        FailureClass::Other,
    ];

    /// The snake_case name used in the record.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureClass::Oversize => "oversize",
            FailureClass::SourceMissing => "source_missing",
            FailureClass::AccessDenied => "access_denied",
            FailureClass::Transient => "transient",
            FailureClass::Other => "other",
        }
    }
}

/// One failure class in the audit record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ClassSummary {
    /// Failed tasks in this class.
    pub count: u64,
    /// The first keys (URL-decoded, in report order) of this class, at most 10.
    pub sample_keys: Vec<String>,
    /// Failed tasks per error code (or HTTP status when there is no code); at most 16 codes, the
    /// rest counted under `(other codes)`.
    pub error_codes: BTreeMap<String, u64>,
    /// The first result message of this class, shortened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_message: Option<String>,
}

/// Failed tasks by class.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Failures {
    /// Source objects over 5 GiB (their complete list is in the oversize manifest).
    pub oversize: ClassSummary,
    /// Source objects gone before the copy (`NoSuchKey`/404).
    pub source_missing: ClassSummary,
    /// Refused by IAM or a policy (`AccessDenied`/403).
    pub access_denied: ClassSummary,
    /// Throttled or transient (`SlowDown`, `InternalError`, 5xx, timeouts).
    pub transient: ClassSummary,
    /// Anything else.
    pub other: ClassSummary,
}

impl Failures {
    /// The summary of one class.
    pub fn get(&self, class: FailureClass) -> &ClassSummary {
        match class {
            FailureClass::Oversize => &self.oversize,
            FailureClass::SourceMissing => &self.source_missing,
            FailureClass::AccessDenied => &self.access_denied,
            FailureClass::Transient => &self.transient,
            FailureClass::Other => &self.other,
        }
    }

    /// The summary of one class, to update.
    pub fn get_mut(&mut self, class: FailureClass) -> &mut ClassSummary {
        match class {
            FailureClass::Oversize => &mut self.oversize,
            FailureClass::SourceMissing => &mut self.source_missing,
            FailureClass::AccessDenied => &mut self.access_denied,
            FailureClass::Transient => &mut self.transient,
            FailureClass::Other => &mut self.other,
        }
    }

    /// The classes with at least one failure, in a fixed order.
    pub fn classes(&self) -> Vec<FailureClass> {
        FailureClass::ALL
            .into_iter()
            .filter(|c| self.get(*c).count > 0)
            .collect()
    }
}

/// The audit's conclusion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every task succeeded and the counts agree with the job's.
    Complete,
    /// Some tasks failed (see `failure_classes`), or the report and the job disagree.
    Incomplete,
    /// The job failed or was cancelled, or left no report.
    Failed,
}

impl Verdict {
    /// The snake_case name (also the SNS `outcome` attribute).
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Complete => "complete",
            Verdict::Incomplete => "incomplete",
            Verdict::Failed => "failed",
        }
    }
}

/// Task counts read from the report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TaskCounts {
    /// Rows read (one per task).
    pub total: u64,
    /// Tasks that succeeded.
    pub succeeded: u64,
    /// Tasks that failed.
    pub failed: u64,
    /// Rows that are not a readable task result (too few columns, unknown status).
    pub unparsed: u64,
}

/// The report that was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReportSummary {
    /// The report bucket.
    pub bucket: String,
    /// The key of the report's manifest.json.
    pub manifest_key: String,
    /// When S3 wrote the report (`ReportCreationDate`).
    #[serde(default)]
    pub created_at: Option<String>,
    /// Result files read (all MD5-verified).
    pub result_files: u64,
    /// Bytes of result files read.
    pub bytes: u64,
}

/// An object the audit wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ObjectRef {
    /// Bucket name.
    pub bucket: String,
    /// Object key.
    pub key: String,
}

/// The Batch Operations manifest listing every oversize object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OversizeManifest {
    /// Bucket name.
    pub bucket: String,
    /// Object key.
    pub key: String,
    /// `arn:aws:s3:::bucket/key`, as CreateJob's manifest location wants it.
    pub arn: String,
    /// The object's ETag without quotes, as CreateJob's manifest location wants it.
    pub etag: String,
    /// Objects listed (`Bucket,Key` lines, URL-encoded keys, no header).
    pub objects: u64,
}

/// The job's own counts against the report's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CrossCheck {
    /// True when every count the job gave equals the report's.
    pub agrees: bool,
    /// The job's total tasks.
    pub job_total: Option<u64>,
    /// The job's succeeded tasks.
    pub job_succeeded: Option<u64>,
    /// The job's failed tasks.
    pub job_failed: Option<u64>,
}

/// What happened to one large copy (an oversize object copied by multipart copy after the job).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum LargeCopyOutcome {
    /// The copy is in the snapshot bucket (complete-large-copy proved it is the source).
    Copied,
    /// The copy failed and its upload was aborted (the state machine's failure path).
    Failed,
}

/// How a large copy was proved besides its size (complete-large-copy's `checksum_check`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum CopyChecksumCheck {
    /// Both have a full-object CRC64NVME and they are equal.
    Equal,
    /// The source has a CRC64NVME but S3 reports none for the copy.
    NotReported,
    /// The source's checksum is of another algorithm (or composite): the sizes were compared.
    NotComparable,
    /// The source has no checksum: the sizes were compared.
    None,
}

/// One large copy in the audit record.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub struct LargeCopyEntry {
    /// The object key (shortened beyond 512 characters).
    pub key: String,
    /// `copied` or `failed`.
    pub outcome: LargeCopyOutcome,
    /// Bytes copied; absent for a failure that did not say.
    #[serde(default)]
    pub size: Option<u64>,
    /// Parts the copy was assembled from; absent for a failure.
    #[serde(default)]
    pub parts: Option<u64>,
    /// How the copy was proved besides its size; absent for a failure.
    #[serde(default)]
    pub checksum_check: Option<CopyChecksumCheck>,
    /// `<errorType>: <message>` of a failure, shortened; absent for a copy.
    #[serde(default)]
    pub error: Option<String>,
}

/// The large copies of the oversize objects, as the second audit of the same report saw them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LargeCopies {
    /// True when every oversize task of the report has a `copied` result and none failed or was
    /// left out: the oversize failures then do not count against the verdict.
    pub covers_oversize: bool,
    /// Distinct keys copied.
    pub copied: u64,
    /// Failed large copies (distinct results).
    pub failed: u64,
    /// Bytes copied (each distinct key once).
    pub bytes_copied: u64,
    /// Oversize tasks of the report whose key has no `copied` result.
    pub missing: u64,
    /// Copied keys that are not among the report's oversize objects.
    pub unexpected: u64,
    /// True when the oversize list held more objects than were handed to the copy.
    pub truncated: bool,
    /// Oversize objects not handed to the copy (when `truncated`).
    pub not_listed: u64,
    /// The results, failures first when there are more than 100, sorted by key; at most 100.
    pub entries: Vec<LargeCopyEntry>,
    /// Results beyond the 100 listed in `entries`.
    pub more_entries: u64,
}

/// The audit record: persisted next to the report and returned (small whatever the report's size).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AuditRecord {
    /// The source bucket that was backed up.
    pub source_bucket: String,
    /// The backup date.
    pub backup_date: Day,
    /// The snapshot bucket the job copied into.
    pub snapshot_bucket: String,
    /// The Batch Operations job id.
    pub job_id: String,
    /// `complete`, `incomplete` or `failed`.
    pub verdict: Verdict,
    /// The job status given in the input, if any.
    #[serde(default)]
    pub job_status: Option<String>,
    /// The report read; absent when the job left none.
    #[serde(default)]
    pub report: Option<ReportSummary>,
    /// Task counts from the report.
    pub tasks: TaskCounts,
    /// Failed tasks by class, with bounded samples.
    pub failures: Failures,
    /// The classes with at least one failure.
    pub failure_classes: Vec<FailureClass>,
    /// The complete list of oversize objects, ready for a large-object copy job; absent when none.
    #[serde(default)]
    pub oversize_manifest: Option<OversizeManifest>,
    /// The report's totals against the job's progress summary, when the job was given.
    #[serde(default)]
    pub cross_check: Option<CrossCheck>,
    /// The oversize objects' large copies: only in the second audit, after the state machine
    /// copied them (absent in the first, whose bytes are unchanged by this field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub large_copies: Option<LargeCopies>,
    /// Everything noteworthy, one sentence each (at most 20).
    pub findings: Vec<String>,
    /// Where this record is persisted.
    pub record: ObjectRef,
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_under_a_prefix_ignore_its_slashes() {
        for p in ["reports", "reports/", "/reports/"] {
            assert_eq!(super::under_prefix(p, "catalog/x/"), "reports/catalog/x/");
            assert_eq!(super::job_base(p, "j1"), "reports/job-j1");
        }
        assert_eq!(super::under_prefix("", "restore-ab"), "restore-ab");
        assert_eq!(super::job_base("", "j1"), "job-j1");
    }
}
