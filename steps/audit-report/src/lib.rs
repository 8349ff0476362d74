#![doc = include_str!("../README.md")]

pub mod core;
pub mod rowcap;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, BufWriter, Write};

use aws_sdk_s3::primitives::ByteStream;
use kit::{AccessDenied, AwsFailure, Day, InvalidInput, ServiceFailure, Step, Transient, validate};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio_util::io::SyncIoBridge;

pub use crate::core::{ReportProblem, Tally};
// The record's types are the contract with the steps that read it; re-exported so the audit's
// users keep one import.
pub use kit::record::{
    AuditRecord, ClassSummary, CopyChecksumCheck, CrossCheck, FailureClass, Failures, LargeCopies,
    LargeCopyEntry, LargeCopyOutcome, ObjectRef, OversizeManifest, ReportSummary, TaskCounts,
    Verdict,
};

/// Findings kept in the record (each shortened), so the output stays small.
const FINDINGS_LIMIT: usize = 20;
/// The audit record's object name, next to the report's manifest.json.
pub const RECORD_NAME: &str = "lakevault-audit.json";
/// The oversize objects' Batch Operations manifest, next to the report's manifest.json.
pub const OVERSIZE_NAME: &str = "lakevault-oversize.csv";
/// A report manifest lists one entry per result file (a few per thousand tasks files): 16 MiB is
/// far beyond any real one, and keeps a corrupt or hostile object from filling the memory.
pub const MAX_REPORT_MANIFEST_BYTES: u64 = 16 * 1024 * 1024;
/// Large copies listed one by one in the record; the rest are counted, so the record stays small
/// however many oversize objects there were.
pub const LARGE_COPY_ENTRIES: usize = 100;
/// Longest key or error text kept in a large copy's entry, in characters.
const ENTRY_TEXT_LIMIT: usize = 512;

/// Where the job wrote its completion report.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct ReportLocation {
    /// The report bucket: a name, or an `arn:aws:s3:::name` ARN.
    pub bucket: String,
    /// The report prefix given to CreateJob (may be empty); the report is under `<prefix>/job-<id>/`.
    #[serde(default)]
    pub prefix: String,
}

/// The job's progress as await-job reported it (its whole output may be passed).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct JobSummary {
    /// The job id; when given it must be the audited job's.
    #[serde(default)]
    pub job_id: Option<String>,
    /// The job status (`Complete`, `Failed`, `Cancelled`; anything else means not finished).
    pub status: String,
    /// Tasks in the job.
    #[serde(default)]
    pub total_tasks: Option<u64>,
    /// Tasks that succeeded.
    #[serde(default)]
    pub succeeded_tasks: Option<u64>,
    /// Tasks that failed.
    #[serde(default)]
    pub failed_tasks: Option<u64>,
    /// Why the job failed, as S3 reported it.
    #[serde(default)]
    pub failure_reasons: Vec<serde_json::Value>,
    /// The reason of the job's last status change.
    #[serde(default)]
    pub status_update_reason: Option<String>,
}

/// The audit-report event.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct AuditInput {
    /// The source bucket that was backed up.
    pub source_bucket: String,
    /// The backup date.
    pub backup_date: Day,
    /// The snapshot bucket the job copied into.
    pub snapshot_bucket: String,
    /// The Batch Operations job id.
    pub job_id: String,
    /// Where the job wrote its completion report.
    pub report: ReportLocation,
    /// await-job's output for the job, to cross-check totals against (recommended).
    #[serde(default)]
    pub job: Option<JobSummary>,
    /// The oversize objects' large copies, collected by the state machine's Map: given only to
    /// the second audit of the same report, so that the record and the verdict account for them.
    #[serde(default)]
    pub large_copies: Option<LargeCopiesInput>,
}

/// What the state machine's Map over the oversize list collected.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct LargeCopiesInput {
    /// One item per oversize object handed to the Map: complete-large-copy's output, or the
    /// failure the state machine records after aborting the upload.
    pub results: Vec<LargeCopyResult>,
    /// True when the oversize list held more objects than the Map was given.
    #[serde(default)]
    pub truncated: bool,
    /// Oversize objects not given to the Map.
    #[serde(default)]
    pub not_listed: u64,
}

/// One large copy's result (other fields are ignored).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct LargeCopyResult {
    /// `copied` (complete-large-copy's output) or `failed` (the state machine's failure path).
    pub outcome: LargeCopyOutcome,
    /// The source bucket; must be the audited one.
    pub source_bucket: String,
    /// The object key.
    pub key: String,
    /// The snapshot bucket; must be the audited one.
    pub snapshot_bucket: String,
    /// The source version copied.
    #[serde(default)]
    pub version_id: Option<String>,
    /// Bytes copied (required when `copied`).
    #[serde(default)]
    pub size: Option<u64>,
    /// Parts the copy was assembled from.
    #[serde(default)]
    pub parts: Option<u64>,
    /// The copy's ETag.
    #[serde(default)]
    pub copy_etag: Option<String>,
    /// The copy's version id in the snapshot bucket.
    #[serde(default)]
    pub copy_version_id: Option<String>,
    /// How the copy was proved besides its size.
    #[serde(default)]
    pub checksum_check: Option<CopyChecksumCheck>,
    /// Uploads aborted.
    #[serde(default)]
    pub aborted_uploads: Option<u32>,
    /// The failure's errorType (`failed`).
    #[serde(default)]
    pub error: Option<String>,
    /// The failure's cause (`failed`): Step Functions' Cause, a JSON string with `errorMessage`,
    /// or plain text.
    #[serde(default)]
    pub cause: Option<serde_json::Value>,
}

/// audit-report's errorTypes.
#[derive(Debug, thiserror::Error, kit::strum::IntoStaticStr, kit::strum::VariantNames)]
#[strum(crate = "kit::strum")]
pub enum AuditError {
    /// The event breaks the contract.
    #[error(transparent)]
    InvalidInput(#[from] InvalidInput),
    /// The completion report is not there although the job should have written one.
    #[error(
        "no completion report at s3://{bucket}/{key} for job {job_id}; check the job's report \
         settings and that the job has finished"
    )]
    ReportNotFound {
        /// The report bucket.
        bucket: String,
        /// The manifest key looked for.
        key: String,
        /// The job id.
        job_id: String,
    },
    /// The report is corrupt: an MD5 mismatch, a malformed manifest, a listed result file missing.
    #[error(
        "the completion report at s3://{bucket}/{key} is invalid: {reason}; do not trust this \
         backup until the report is explained"
    )]
    ReportInvalid {
        /// The report bucket.
        bucket: String,
        /// The object at fault.
        key: String,
        /// What is wrong.
        reason: ReportProblem,
    },
    /// Throttling, 5xx, timeouts, dropped connections: retry.
    #[error(transparent)]
    Transient(#[from] Transient),
    /// The step's role may not read the report or write the record.
    #[error(transparent)]
    AccessDenied(#[from] AccessDenied),
    /// S3 answered with an error this step does not expect (e.g. the report bucket is gone).
    #[error("{0}; check the report bucket and its settings")]
    ServiceError(ServiceFailure),
}

kit::step_error!(AuditError, service => ServiceError);

fn local_io(action: &str, e: std::io::Error) -> AuditError {
    // Local disk trouble (/tmp full, a dropped body stream) is worth a retry, not a verdict.
    AuditError::Transient(Transient {
        operation: action.to_owned(),
        detail: e.to_string(),
    })
}

/// The audit-report step.
pub struct AuditReport {
    s3: aws_sdk_s3::Client,
}

impl AuditReport {
    /// Builds the step from the environment (region, credentials, endpoints).
    pub async fn from_env() -> Result<Self, kit::clients::ConfigError> {
        let conf = kit::clients::load_sdk_config().await?;
        Ok(Self::new(kit::clients::s3(&conf)))
    }

    /// Builds the step around an S3 client (tests pass one pointing at moto).
    pub fn new(s3: aws_sdk_s3::Client) -> Self {
        Self { s3 }
    }
}

/// `<prefix>/job-<id>` (or `job-<id>` for an empty prefix): where S3 puts the report.
pub fn report_base(prefix: &str, job_id: &str) -> String {
    kit::record::job_base(prefix, job_id)
}

/// How a finished job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JobEnd {
    /// Every task ran (some may have failed).
    Complete,
    /// S3 stopped the job (a bad manifest, too many failed tasks).
    Failed,
    /// Someone cancelled it.
    Cancelled,
}

impl JobSummary {
    /// How the job ended; `None` while it is not finished. The status arrives as await-job's
    /// string, read here once so that nothing else compares status text.
    fn end(&self) -> Option<JobEnd> {
        match self.status.as_str() {
            "Complete" => Some(JobEnd::Complete),
            "Failed" => Some(JobEnd::Failed),
            "Cancelled" => Some(JobEnd::Cancelled),
            _ => None,
        }
    }
}

fn validate(input: &AuditInput) -> Result<(), InvalidInput> {
    validate::check_job_id("$.job_id", &input.job_id)?;
    validate::check_source_bucket("$.source_bucket", &input.source_bucket)?;
    validate::check_bucket("$.snapshot_bucket", &input.snapshot_bucket)?;
    if core::bucket_name(&input.report.bucket).is_none() {
        return Err(InvalidInput::new(
            "$.report.bucket",
            format!(
                "{} is not a bucket name or an S3 bucket ARN (arn:aws:s3:::name)",
                validate::quote(&input.report.bucket)
            ),
        ));
    }
    validate::check_key_prefix("$.report.prefix", &input.report.prefix)?;
    if let Some(large) = &input.large_copies {
        validate_large_copies(input, large)?;
    }
    if let Some(job) = &input.job {
        if let Some(id) = &job.job_id
            && id != &input.job_id
        {
            return Err(InvalidInput::new(
                "$.job.job_id",
                format!(
                    "the job summary is for job {}, not {}; pass await-job's output for the audited job",
                    validate::quote(id),
                    input.job_id
                ),
            ));
        }
        if job.end().is_none() {
            return Err(InvalidInput::new(
                "$.job.status",
                format!(
                    "the job's status is {}, not a finished one (Complete, Failed, Cancelled); \
                     audit it once await-job reports it finished",
                    validate::quote(&job.status)
                ),
            ));
        }
    }
    Ok(())
}

/// Every large copy must be of this backup (a result of another backup's Map would excuse
/// oversize failures it did not copy) and say what the record needs.
fn validate_large_copies(input: &AuditInput, large: &LargeCopiesInput) -> Result<(), InvalidInput> {
    for (i, r) in large.results.iter().enumerate() {
        let path = format!("$.large_copies.results[{i}]");
        if r.source_bucket != input.source_bucket {
            return Err(InvalidInput::new(
                path,
                format!(
                    "the large copy is of source bucket {}, not the audited {}; pass the large \
                     copies of this backup",
                    validate::quote(&r.source_bucket),
                    validate::quote(&input.source_bucket)
                ),
            ));
        }
        if r.snapshot_bucket != input.snapshot_bucket {
            return Err(InvalidInput::new(
                path,
                format!(
                    "the large copy went to snapshot bucket {}, not the audited {}; pass the \
                     large copies of this backup",
                    validate::quote(&r.snapshot_bucket),
                    validate::quote(&input.snapshot_bucket)
                ),
            ));
        }
        if r.key.is_empty() {
            return Err(InvalidInput::new(
                format!("{path}.key"),
                "a large copy's key is empty; pass complete-large-copy's output",
            ));
        }
        if r.outcome == LargeCopyOutcome::Copied && r.size.is_none() {
            return Err(InvalidInput::new(
                format!("{path}.size"),
                "a copied large copy has no size; pass complete-large-copy's output",
            ));
        }
    }
    Ok(())
}

/// `<errorType>: <message>` of a failed large copy. The message is read from Step Functions'
/// Cause, which is the Lambda's error as a JSON string (`{"errorType":…,"errorMessage":…}`), or
/// taken as it is when it is anything else.
fn failure_text(r: &LargeCopyResult) -> String {
    let message_of = |v: &serde_json::Value| {
        v.get("errorMessage")
            .and_then(|m| m.as_str())
            .map(str::to_owned)
    };
    let message = match &r.cause {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(
            serde_json::from_str::<serde_json::Value>(s)
                .ok()
                .as_ref()
                .and_then(message_of)
                .unwrap_or_else(|| s.clone()),
        ),
        Some(other) => Some(message_of(other).unwrap_or_else(|| other.to_string())),
    };
    let error = r.error.as_deref().unwrap_or("(no errorType)");
    let text = match message {
        Some(m) if !m.is_empty() => format!("{error}: {m}"),
        _ => error.to_owned(),
    };
    core::shorten(&text, ENTRY_TEXT_LIMIT)
}

/// The distinct keys with a `copied` result.
fn copied_keys(large: &LargeCopiesInput) -> HashSet<String> {
    large
        .results
        .iter()
        .filter(|r| r.outcome == LargeCopyOutcome::Copied)
        .map(|r| r.key.clone())
        .collect()
}

/// How the report's complete oversize list meets the copied keys.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct OversizeMatch {
    /// Oversize rows whose key was copied.
    rows: u64,
    /// Distinct keys among them.
    keys: u64,
}

/// Reads the oversize list (`bucket,url-encoded-key` lines, as [`Tally::read_result_file`]
/// writes it) and counts the rows whose key was copied: the record only samples the oversize
/// keys, the list has them all.
fn match_oversize<R: BufRead>(list: R, copied: &HashSet<String>) -> std::io::Result<OversizeMatch> {
    let mut found: HashSet<&str> = HashSet::new();
    let mut rows = 0;
    for line in list.split(b'\n') {
        let line = line?;
        let Some(comma) = memchr::memchr(b',', &line) else {
            continue;
        };
        let key = core::decode_key(&line[comma + 1..]);
        if let Some(k) = copied.get(&key) {
            rows += 1;
            found.insert(k.as_str());
        }
    }
    Ok(OversizeMatch {
        rows,
        keys: found.len() as u64,
    })
}

/// The record's `large_copies`: counts, the verdict rule's `covers_oversize`, and a bounded,
/// key-sorted list of entries (failures first in, when there are more than the bound).
fn large_copies_record(
    large: &LargeCopiesInput,
    oversize_count: u64,
    matched: OversizeMatch,
) -> LargeCopies {
    let mut entries: Vec<LargeCopyEntry> = large
        .results
        .iter()
        .map(|r| match r.outcome {
            LargeCopyOutcome::Copied => LargeCopyEntry {
                key: r.key.clone(),
                outcome: r.outcome,
                size: r.size,
                parts: r.parts,
                checksum_check: r.checksum_check,
                error: None,
            },
            LargeCopyOutcome::Failed => LargeCopyEntry {
                key: r.key.clone(),
                outcome: r.outcome,
                size: r.size,
                parts: None,
                checksum_check: None,
                error: Some(failure_text(r)),
            },
        })
        .collect();
    // Sorted and deduplicated, so that the Map's order (or a result given twice) does not change
    // the record's bytes.
    entries.sort();
    entries.dedup();
    let failed = entries
        .iter()
        .filter(|e| e.outcome == LargeCopyOutcome::Failed)
        .count() as u64;
    let mut copied = 0u64;
    let mut bytes_copied = 0u64;
    let mut last: Option<&str> = None;
    for e in entries
        .iter()
        .filter(|e| e.outcome == LargeCopyOutcome::Copied)
    {
        if last != Some(e.key.as_str()) {
            copied += 1;
            bytes_copied = bytes_copied.saturating_add(e.size.unwrap_or(0));
            last = Some(e.key.as_str());
        }
    }
    let unexpected = copied.saturating_sub(matched.keys);
    let missing = oversize_count.saturating_sub(matched.rows);
    let covers_oversize = !large.truncated
        && large.not_listed == 0
        && failed == 0
        && missing == 0
        && unexpected == 0
        && copied == oversize_count;

    let more_entries = entries.len().saturating_sub(LARGE_COPY_ENTRIES) as u64;
    if more_entries > 0 {
        // Failures are what someone must look at: they go in first.
        let (mut kept, copies): (Vec<_>, Vec<_>) = entries
            .into_iter()
            .partition(|e| e.outcome == LargeCopyOutcome::Failed);
        kept.truncate(LARGE_COPY_ENTRIES);
        let room = LARGE_COPY_ENTRIES - kept.len();
        kept.extend(copies.into_iter().take(room));
        kept.sort();
        entries = kept;
    }
    for e in &mut entries {
        e.key = core::shorten(&e.key, ENTRY_TEXT_LIMIT);
    }
    LargeCopies {
        covers_oversize,
        copied,
        failed,
        bytes_copied,
        missing,
        unexpected,
        truncated: large.truncated,
        not_listed: large.not_listed,
        entries,
        more_entries,
    }
}

/// A report bucket given as an ARN must be of the partition the step reads in.
fn check_partition(bucket: &str, region: Option<&str>) -> Result<(), InvalidInput> {
    let Some(partition) = bucket
        .strip_prefix("arn:")
        .and_then(|r| r.split(':').next())
        .and_then(validate::Partition::parse)
    else {
        return Ok(());
    };
    validate::check_partition_matches("$.report.bucket", "the bucket ARN", partition, region)
}

/// The verdict and findings from the tally, the job summary and what the report held.
fn conclude(
    tally: &Tally,
    job: Option<&JobSummary>,
    report_found: bool,
    large: Option<&LargeCopies>,
) -> (Verdict, Option<CrossCheck>, Vec<String>) {
    let mut findings = Vec::new();
    let job_failed = job.is_some_and(|j| j.end() != Some(JobEnd::Complete));
    if let Some(j) = job.filter(|_| job_failed) {
        findings.push(format!("the job ended {}", j.status));
        if let Some(r) = &j.status_update_reason {
            findings.push(format!("status update reason: {r}"));
        }
        for r in &j.failure_reasons {
            let text = match r {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            findings.push(format!("job failure reason: {text}"));
        }
    }
    if !report_found {
        findings.push("the job left no completion report (no task ran)".to_owned());
    }
    let cross_check = job.map(|j| {
        let mut agrees = true;
        for (what, theirs, ours) in [
            ("total tasks", j.total_tasks, tally.rows),
            ("succeeded tasks", j.succeeded_tasks, tally.succeeded),
            ("failed tasks", j.failed_tasks, tally.failed),
        ] {
            if let Some(t) = theirs
                && t != ours
            {
                agrees = false;
                findings.push(format!(
                    "{what}: the job reports {t}, the report holds {ours}"
                ));
            }
        }
        CrossCheck {
            agrees,
            job_total: j.total_tasks,
            job_succeeded: j.succeeded_tasks,
            job_failed: j.failed_tasks,
        }
    });
    for class in tally.failures.classes() {
        let s = tally.failures.get(class);
        findings.push(format!("{} task(s) failed as {}", s.count, class.as_str()));
    }
    if tally.unparsed > 0 {
        findings.push(format!(
            "{} report row(s) could not be read as task results",
            tally.unparsed
        ));
    }
    let oversize = tally.failures.oversize.count;
    if let Some(l) = large {
        if l.copied > 0 {
            findings.push(format!(
                "{} oversize object(s) copied by multipart copy ({} bytes)",
                l.copied, l.bytes_copied
            ));
        }
        if l.covers_oversize && oversize > 0 {
            findings.push(format!(
                "every oversize task ({oversize}) has its large copy: they do not count against the verdict"
            ));
        }
        if l.not_listed > 0 {
            findings.push(format!(
                "the oversize list was cut: {} oversize object(s) were not handed to the large copy",
                l.not_listed
            ));
        } else if l.truncated {
            findings.push(
                "the oversize list was cut: not every oversize object was handed to the large copy"
                    .to_owned(),
            );
        }
        if l.unexpected > 0 {
            findings.push(format!(
                "{} copied key(s) are not oversize objects of this report",
                l.unexpected
            ));
        }
        if l.missing > 0 {
            findings.push(format!(
                "{} of {oversize} oversize task(s) have no copied large copy",
                l.missing
            ));
        }
        for e in l
            .entries
            .iter()
            .filter(|e| e.outcome == LargeCopyOutcome::Failed)
        {
            findings.push(format!(
                "large copy of {} failed: {}",
                e.key,
                e.error.as_deref().unwrap_or("(no error)")
            ));
        }
    }
    // The oversize failures are excused exactly when every one has its copy; any other doubt
    // about the large copies keeps the verdict from `complete`.
    let excused = match large {
        Some(l) if l.covers_oversize => oversize,
        _ => 0,
    };
    let verdict = if job_failed || !report_found {
        Verdict::Failed
    } else if tally.failed.saturating_sub(excused) == 0
        && tally.unparsed == 0
        && cross_check.as_ref().is_none_or(|c| c.agrees)
        && large.is_none_or(|l| l.covers_oversize)
    {
        Verdict::Complete
    } else {
        Verdict::Incomplete
    };
    let total = findings.len();
    let mut findings: Vec<String> = findings
        .into_iter()
        .take(FINDINGS_LIMIT)
        .map(|f| core::shorten(&f, 500))
        .collect();
    if total > FINDINGS_LIMIT {
        findings.push(format!("… and {} more finding(s)", total - FINDINGS_LIMIT));
    }
    (verdict, cross_check, findings)
}

impl AuditReport {
    async fn get_manifest(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, AuditError> {
        match self.s3.get_object().bucket(bucket).key(key).send().await {
            Ok(o) => {
                let length = o.content_length();
                let deadline = kit::clients::body_deadline(self.s3.config().timeout_config());
                match kit::body::read_capped(o.body, length, MAX_REPORT_MANIFEST_BYTES, deadline)
                    .await
                {
                    Ok(bytes) => Ok(Some(bytes)),
                    Err(kit::body::CappedReadError::TooLarge { limit }) => {
                        Err(AuditError::ReportInvalid {
                            bucket: bucket.to_owned(),
                            key: key.to_owned(),
                            reason: ReportProblem::ManifestTooLarge { limit },
                        })
                    }
                    Err(kit::body::CappedReadError::Stream(e)) => {
                        Err(AuditError::Transient(Transient {
                            operation: "GetObject".into(),
                            detail: format!("reading s3://{bucket}/{key}: {e}"),
                        }))
                    }
                }
            }
            Err(e) => match kit::classify("GetObject", e) {
                AwsFailure::Service(s) if s.is("NoSuchKey") || s.is("NoSuchBucket") => Ok(None),
                other => Err(other.into()),
            },
        }
    }

    /// Streams one result file through the core on a blocking thread: the S3 body is bridged into
    /// a sync reader, so only the CSV reader's buffer is in memory at any time.
    async fn stream_file(
        &self,
        file: &core::ResultFile,
        mut tally: Tally,
        mut oversize: BufWriter<std::fs::File>,
    ) -> Result<(Tally, BufWriter<std::fs::File>, core::FileStats), AuditError> {
        // parse_manifest() has checked that every result file names a bucket.
        let bucket = file.bucket_name().unwrap_or(&file.bucket).to_owned();
        let obj = match self
            .s3
            .get_object()
            .bucket(&bucket)
            .key(&file.key)
            .send()
            .await
        {
            Ok(o) => o,
            Err(e) => {
                return Err(match kit::classify("GetObject", e) {
                    AwsFailure::Service(s) if s.is("NoSuchKey") => AuditError::ReportInvalid {
                        bucket,
                        key: file.key.clone(),
                        reason: ReportProblem::ResultMissing,
                    },
                    other => other.into(),
                });
            }
        };
        // A result file may be gigabytes: no total deadline, but a minimum rate (a trickling
        // peer passes the SDK's stalled-stream protection).
        let guarded = kit::body::RateGuarded::new(
            obj.body.into_async_read(),
            kit::clients::body_min_rate(self.s3.config().timeout_config()),
        );
        let reader = SyncIoBridge::new(guarded);
        let expected = file.md5_checksum.clone();
        let (tally, oversize, result) = tokio::task::spawn_blocking(move || {
            let r = tally.read_result_file(reader, &expected, &mut oversize);
            (tally, oversize, r)
        })
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
        match result {
            Ok(stats) => Ok((tally, oversize, stats)),
            Err(core::StreamError::Md5Mismatch {
                expected,
                actual,
                bytes,
            }) => Err(AuditError::ReportInvalid {
                bucket,
                key: file.key.clone(),
                reason: ReportProblem::Md5Mismatch {
                    expected,
                    actual,
                    bytes,
                },
            }),
            Err(core::StreamError::Io(e)) => Err(AuditError::Transient(Transient {
                operation: "GetObject".into(),
                detail: format!("reading s3://{bucket}/{}: {e}", file.key),
            })),
        }
    }

    /// Matches the spooled oversize list against the copied keys, on a blocking thread (the list
    /// is a local file, one line per oversize task).
    async fn match_oversize_list(
        list: &tempfile::NamedTempFile,
        copied: HashSet<String>,
    ) -> Result<OversizeMatch, AuditError> {
        let file = list
            .reopen()
            .map_err(|e| local_io("open a temporary file", e))?;
        tokio::task::spawn_blocking(move || match_oversize(BufReader::new(file), &copied))
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
            .map_err(|e| local_io("read a temporary file", e))
    }

    async fn put(
        &self,
        bucket: &str,
        key: &str,
        body: ByteStream,
        content_type: &str,
    ) -> Result<String, AuditError> {
        let out = self
            .s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type(content_type)
            .body(body)
            .send()
            .await
            .map_err(|e| AuditError::from(kit::classify("PutObject", e)))?;
        // The ETag goes into a Batch Operations manifest location, where an empty one would be
        // refused much later: a PutObject answer without one is S3 misbehaving, said now.
        out.e_tag()
            .map(|e| e.trim_matches('"').to_owned())
            .filter(|e| !e.is_empty())
            .ok_or_else(|| {
                AuditError::ServiceError(ServiceFailure {
                    operation: "PutObject".to_owned(),
                    code: None,
                    status: Some(200),
                    message: format!("s3://{bucket}/{key} was written but S3 returned no ETag"),
                })
            })
    }
}

impl Step for AuditReport {
    const NAME: &'static str = "audit-report";
    type Input = AuditInput;
    type Output = AuditRecord;
    type Error = AuditError;

    async fn handle(&self, input: AuditInput) -> Result<AuditRecord, AuditError> {
        validate(&input)?;
        check_partition(
            &input.report.bucket,
            self.s3.config().region().map(|r| r.as_ref()),
        )?;
        // validate() has checked that the name parses.
        let report_bucket = core::bucket_name(&input.report.bucket)
            .unwrap_or(&input.report.bucket)
            .to_owned();
        let base = report_base(&input.report.prefix, &input.job_id);
        let manifest_key = format!("{base}/manifest.json");
        let record_ref = ObjectRef {
            bucket: report_bucket.clone(),
            key: format!("{base}/{RECORD_NAME}"),
        };
        let job = input.job.as_ref();

        let mut tally = Tally::default();
        let mut report = None;
        let mut oversize_manifest = None;
        let mut matched = OversizeMatch::default();
        match self.get_manifest(&report_bucket, &manifest_key).await? {
            None => {
                // S3 writes a report whenever a task ran; none for a failed or cancelled job means
                // nothing ran — a verdict. None for a complete job (or an unknown one) is an error.
                if job.is_none_or(|j| j.end() == Some(JobEnd::Complete)) {
                    return Err(AuditError::ReportNotFound {
                        bucket: report_bucket,
                        key: manifest_key,
                        job_id: input.job_id,
                    });
                }
            }
            Some(bytes) => {
                let manifest =
                    core::parse_manifest(&bytes).map_err(|reason| AuditError::ReportInvalid {
                        bucket: report_bucket.clone(),
                        key: manifest_key.clone(),
                        reason,
                    })?;
                let tmp = tempfile::NamedTempFile::new()
                    .map_err(|e| local_io("create a temporary file", e))?;
                let file = tmp
                    .reopen()
                    .map_err(|e| local_io("open a temporary file", e))?;
                let mut oversize = BufWriter::with_capacity(64 * 1024, file);
                for f in &manifest.results {
                    let (t, o, stats) = self.stream_file(f, tally, oversize).await?;
                    tally = t;
                    oversize = o;
                    tracing::info!(
                        job_id = %input.job_id,
                        key = %f.key,
                        bytes = stats.bytes,
                        rows = stats.rows,
                        "result file audited"
                    );
                }
                oversize
                    .flush()
                    .map_err(|e| local_io("write a temporary file", e))?;
                drop(oversize);

                let count = tally.failures.oversize.count;
                if let Some(large) = &input.large_copies
                    && count > 0
                {
                    matched = Self::match_oversize_list(&tmp, copied_keys(large)).await?;
                }
                if count > 0 {
                    let key = format!("{base}/{OVERSIZE_NAME}");
                    let body = ByteStream::from_path(tmp.path())
                        .await
                        .map_err(|e| local_io("read a temporary file", std::io::Error::other(e)))?;
                    let etag = self.put(&report_bucket, &key, body, "text/csv").await?;
                    oversize_manifest = Some(OversizeManifest {
                        arn: format!("arn:aws:s3:::{report_bucket}/{key}"),
                        bucket: report_bucket.clone(),
                        key,
                        etag,
                        objects: count,
                    });
                }
                report = Some(ReportSummary {
                    bucket: report_bucket.clone(),
                    manifest_key: manifest_key.clone(),
                    created_at: manifest.report_creation_date.clone(),
                    result_files: manifest.results.len() as u64,
                    bytes: tally.bytes,
                });
            }
        }

        let large_copies = input
            .large_copies
            .as_ref()
            .map(|l| large_copies_record(l, tally.failures.oversize.count, matched));
        let (verdict, cross_check, mut findings) =
            conclude(&tally, job, report.is_some(), large_copies.as_ref());
        if let Some(first) = tally.unparsed_samples.first()
            && findings.len() < FINDINGS_LIMIT
        {
            findings.push(format!("first unreadable row: {first}"));
        }
        let record = AuditRecord {
            source_bucket: input.source_bucket,
            backup_date: input.backup_date,
            snapshot_bucket: input.snapshot_bucket,
            job_id: input.job_id,
            verdict,
            job_status: job.map(|j| j.status.clone()),
            report,
            tasks: TaskCounts {
                total: tally.rows,
                succeeded: tally.succeeded,
                failed: tally.failed,
                unparsed: tally.unparsed,
            },
            failure_classes: tally.failures.classes(),
            failures: tally.failures,
            oversize_manifest,
            cross_check,
            large_copies,
            findings,
            record: record_ref,
        };
        let json = serde_json::to_vec_pretty(&record)
            .map_err(|e| local_io("serialise the audit record", std::io::Error::other(e)))?;
        self.put(
            &record.record.bucket,
            &record.record.key,
            ByteStream::from(json),
            "application/json",
        )
        .await?;
        tracing::info!(
            job_id = %record.job_id,
            verdict = record.verdict.as_str(),
            tasks = record.tasks.total,
            failed = record.tasks.failed,
            record_key = %record.record.key,
            large_copies = record.large_copies.as_ref().map(|l| l.copied),
            "audit recorded"
        );
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kit::StepError;

    fn job(status: &str, total: u64, ok: u64, failed: u64) -> JobSummary {
        JobSummary {
            job_id: None,
            status: status.into(),
            total_tasks: Some(total),
            succeeded_tasks: Some(ok),
            failed_tasks: Some(failed),
            failure_reasons: vec![],
            status_update_reason: None,
        }
    }

    fn tally(ok: u64) -> Tally {
        Tally {
            rows: ok,
            succeeded: ok,
            ..Tally::default()
        }
    }

    #[test]
    fn the_verdict_follows_the_tally_and_the_job() {
        let (v, c, f) = conclude(&tally(3), Some(&job("Complete", 3, 3, 0)), true, None);
        assert_eq!(v, Verdict::Complete);
        assert!(c.unwrap().agrees);
        assert!(f.is_empty());

        let (v, c, f) = conclude(&tally(3), Some(&job("Complete", 4, 4, 0)), true, None);
        assert_eq!(v, Verdict::Incomplete);
        assert!(!c.unwrap().agrees);
        assert!(f[0].contains("the job reports 4"), "{f:?}");

        let (v, _, _) = conclude(&tally(0), Some(&job("Failed", 0, 0, 0)), false, None);
        assert_eq!(v, Verdict::Failed);
        let (v, c, _) = conclude(&tally(3), None, true, None);
        assert_eq!((v, c), (Verdict::Complete, None));
    }

    const OVERSIZE_MSG: &str = "copy source is larger than the maximum allowable size";

    /// The tally and oversize list of a report: `ok` succeeded rows, one oversize row per key of
    /// `big`, and `missing` vacuumed rows.
    fn report(ok: u64, big: &[&str], missing: u64) -> (Tally, Vec<u8>) {
        let mut csv = String::new();
        for i in 0..ok {
            csv.push_str(&format!("lake-prod,k{i},,succeeded,200,,Successful\n"));
        }
        for k in big {
            let k = core::encode_key(k);
            csv.push_str(&format!(
                "lake-prod,{k},,failed,400,InvalidRequest,{OVERSIZE_MSG}\n"
            ));
        }
        for i in 0..missing {
            csv.push_str(&format!("lake-prod,gone{i},,failed,NoSuchKey,404,gone\n"));
        }
        let mut t = Tally::default();
        let mut list = Vec::new();
        let md5 = hex::encode(<md5::Md5 as md5::Digest>::digest(csv.as_bytes()));
        t.read_result_file(csv.as_bytes(), &md5, &mut list).unwrap();
        (t, list)
    }

    fn copied(key: &str, size: u64) -> serde_json::Value {
        serde_json::json!({"outcome": "copied", "source_bucket": "lake-prod", "key": key,
            "version_id": null, "snapshot_bucket": "lake-prod-31-mar-2021", "size": size,
            "parts": 2, "copy_etag": "abc-2", "copy_version_id": null,
            "checksum_check": "equal", "aborted_uploads": 0, "extra": true})
    }

    fn failed(key: &str) -> serde_json::Value {
        serde_json::json!({"outcome": "failed", "source_bucket": "lake-prod", "key": key,
            "snapshot_bucket": "lake-prod-31-mar-2021", "error": "SourceChanged",
            "cause": "{\"errorType\":\"SourceChanged\",\"errorMessage\":\"the source changed during the copy\"}"})
    }

    fn large(
        results: Vec<serde_json::Value>,
        truncated: bool,
        not_listed: u64,
    ) -> LargeCopiesInput {
        serde_json::from_value(serde_json::json!({
            "results": results, "truncated": truncated, "not_listed": not_listed}))
        .unwrap()
    }

    /// The second audit's verdict, record and findings over a report and its large copies.
    fn amend(
        (t, list): &(Tally, Vec<u8>),
        job: &JobSummary,
        l: &LargeCopiesInput,
    ) -> (Verdict, LargeCopies, Vec<String>) {
        let matched = match_oversize(&list[..], &copied_keys(l)).unwrap();
        let rec = large_copies_record(l, t.failures.oversize.count, matched);
        let (v, _, f) = conclude(t, Some(job), true, Some(&rec));
        (v, rec, f)
    }

    const BIG: [&str; 2] = ["tables/big/a, b+c.parquet", "tables/big/é.parquet"];

    #[test]
    fn every_oversize_task_copied_is_complete() {
        let r = report(3, &BIG, 0);
        let j = job("Complete", 5, 3, 2);
        // Without the large copies, the oversize failures make it incomplete.
        assert_eq!(conclude(&r.0, Some(&j), true, None).0, Verdict::Incomplete);
        let l = large(
            vec![copied(BIG[1], 7 << 30), copied(BIG[0], 6 << 30)],
            false,
            0,
        );
        let (v, rec, f) = amend(&r, &j, &l);
        assert_eq!(v, Verdict::Complete, "{f:?}");
        assert!(rec.covers_oversize);
        assert_eq!((rec.copied, rec.failed, rec.missing), (2, 0, 0));
        assert_eq!(rec.bytes_copied, 13 << 30);
        assert_eq!(rec.entries[0].key, BIG[0], "sorted by key");
        assert_eq!(
            rec.entries[0].checksum_check,
            Some(CopyChecksumCheck::Equal)
        );
        assert!(
            f.iter()
                .any(|f| f.starts_with("2 oversize object(s) copied by multipart copy")),
            "{f:?}"
        );
    }

    #[test]
    fn one_failed_large_copy_is_incomplete() {
        let r = report(3, &BIG, 0);
        let l = large(vec![copied(BIG[0], 6 << 30), failed(BIG[1])], false, 0);
        let (v, rec, f) = amend(&r, &job("Complete", 5, 3, 2), &l);
        assert_eq!(v, Verdict::Incomplete);
        assert!(!rec.covers_oversize);
        assert_eq!((rec.copied, rec.failed, rec.missing), (1, 1, 1));
        assert_eq!(
            rec.entries[1].error.as_deref(),
            Some("SourceChanged: the source changed during the copy")
        );
        assert!(
            f.contains(&format!(
                "large copy of {} failed: SourceChanged: the source changed during the copy",
                BIG[1]
            )),
            "{f:?}"
        );
        // A failed job stays failed.
        let (v, _, _) = amend(&r, &job("Failed", 5, 3, 2), &l);
        assert_eq!(v, Verdict::Failed);
    }

    #[test]
    fn a_truncated_oversize_list_is_incomplete() {
        let r = report(3, &BIG, 0);
        let l = large(vec![copied(BIG[0], 1), copied(BIG[1], 1)], true, 0);
        let (v, rec, f) = amend(&r, &job("Complete", 5, 3, 2), &l);
        assert_eq!((v, rec.covers_oversize), (Verdict::Incomplete, false));
        assert!(
            f.iter().any(|f| f.contains("oversize list was cut")),
            "{f:?}"
        );
        let l = large(vec![copied(BIG[0], 1), copied(BIG[1], 1)], false, 3);
        assert_eq!(
            amend(&r, &job("Complete", 5, 3, 2), &l).0,
            Verdict::Incomplete
        );
    }

    #[test]
    fn oversize_copied_but_another_class_failed_is_incomplete() {
        let r = report(3, &BIG, 1);
        let l = large(vec![copied(BIG[0], 1), copied(BIG[1], 1)], false, 0);
        let (v, rec, _) = amend(&r, &job("Complete", 6, 3, 3), &l);
        assert!(rec.covers_oversize, "the oversize class itself is covered");
        assert_eq!(v, Verdict::Incomplete);
    }

    #[test]
    fn a_copy_of_another_key_or_too_few_copies_do_not_cover() {
        let r = report(3, &BIG, 0);
        let j = job("Complete", 5, 3, 2);
        // As many copies as oversize tasks, but one of a key the report does not list.
        let l = large(vec![copied(BIG[0], 1), copied("tables/other", 1)], false, 0);
        let (v, rec, f) = amend(&r, &j, &l);
        assert_eq!(
            (v, rec.unexpected, rec.missing),
            (Verdict::Incomplete, 1, 1)
        );
        assert!(
            f.iter().any(|f| f.contains("not oversize objects")),
            "{f:?}"
        );
        // One key copied twice is one copy.
        let l = large(vec![copied(BIG[0], 1), copied(BIG[0], 1)], false, 0);
        let (v, rec, _) = amend(&r, &j, &l);
        assert_eq!(
            (v, rec.copied, rec.entries.len()),
            (Verdict::Incomplete, 1, 1)
        );
    }

    #[test]
    fn entries_are_sorted_bounded_and_failures_kept() {
        let keys: Vec<String> = (0..150).map(|i| format!("big/{i:03}")).collect();
        let mut results: Vec<_> = keys.iter().rev().map(|k| copied(k, 1)).collect();
        results.push(failed("big/zzz"));
        let l = large(results, false, 0);
        let rec = large_copies_record(
            &l,
            150,
            OversizeMatch {
                rows: 150,
                keys: 150,
            },
        );
        assert_eq!(rec.entries.len(), LARGE_COPY_ENTRIES);
        assert_eq!(rec.more_entries, 51);
        assert_eq!(rec.entries[0].key, "big/000");
        assert_eq!(rec.entries.last().unwrap().key, "big/zzz");
        assert!(rec.entries.windows(2).all(|w| w[0].key <= w[1].key));
        // The Map's order does not change the record.
        let mut shuffled = l.clone();
        shuffled.results.reverse();
        assert_eq!(
            large_copies_record(
                &shuffled,
                150,
                OversizeMatch {
                    rows: 150,
                    keys: 150
                }
            ),
            rec
        );
    }

    #[test]
    fn a_large_copy_of_another_bucket_is_invalid_input() {
        let mut input: AuditInput = serde_json::from_value(serde_json::json!({
            "source_bucket": "lake-prod", "backup_date": "2021-03-31",
            "snapshot_bucket": "lake-prod-31-mar-2021", "job_id": "abc-1",
            "report": {"bucket": "reports", "prefix": "r"},
            "large_copies": {"results": [copied("a", 1), failed("b")], "truncated": false,
                             "not_listed": 0, "extra": 1}
        }))
        .unwrap();
        assert!(validate(&input).is_ok());
        let results = &mut input.large_copies.as_mut().unwrap().results;
        results[1].snapshot_bucket = "lake-prod-01-apr-2021".into();
        assert_eq!(
            validate(&input).unwrap_err().path,
            "$.large_copies.results[1]"
        );
        let results = &mut input.large_copies.as_mut().unwrap().results;
        results[1].snapshot_bucket = "lake-prod-31-mar-2021".into();
        results[0].source_bucket = "lake-dev".into();
        assert_eq!(
            validate(&input).unwrap_err().path,
            "$.large_copies.results[0]"
        );
        let results = &mut input.large_copies.as_mut().unwrap().results;
        results[0].source_bucket = "lake-prod".into();
        results[0].size = None;
        assert_eq!(
            validate(&input).unwrap_err().path,
            "$.large_copies.results[0].size"
        );
    }

    #[test]
    fn a_cause_is_read_as_lambda_error_json_or_taken_as_text() {
        let mut r: LargeCopyResult = serde_json::from_value(failed("k")).unwrap();
        assert_eq!(
            failure_text(&r),
            "SourceChanged: the source changed during the copy"
        );
        r.cause = Some(serde_json::json!("plain words"));
        assert_eq!(failure_text(&r), "SourceChanged: plain words");
        r.cause = None;
        r.error = None;
        assert_eq!(failure_text(&r), "(no errorType)");
    }

    #[test]
    fn report_base_handles_slashes_and_empty_prefix() {
        assert_eq!(report_base("reports/", "j1"), "reports/job-j1");
        assert_eq!(report_base("", "j1"), "job-j1");
    }

    #[test]
    fn unfinished_or_foreign_job_is_invalid_input() {
        let mut input: AuditInput = serde_json::from_value(serde_json::json!({
            "source_bucket": "lake-prod", "backup_date": "2021-03-31",
            "snapshot_bucket": "lake-prod-31-mar-2021", "job_id": "abc-1",
            "report": {"bucket": "arn:aws:s3:::reports", "prefix": "r"},
            "job": {"job_id": "abc-1", "status": "Active", "unknown": 1}
        }))
        .unwrap();
        assert_eq!(validate(&input).unwrap_err().path, "$.job.status");
        input.job.as_mut().unwrap().job_id = Some("other".into());
        assert_eq!(validate(&input).unwrap_err().path, "$.job.job_id");
        input.job = None;
        input.job_id = "../x".into();
        assert_eq!(validate(&input).unwrap_err().path, "$.job_id");
    }

    #[test]
    fn error_types_are_variant_names() {
        assert_eq!(
            AuditError::error_types(),
            [
                "InvalidInput",
                "ReportNotFound",
                "ReportInvalid",
                "Transient",
                "AccessDenied",
                "ServiceError"
            ]
        );
    }
}
