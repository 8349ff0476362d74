#![doc = include_str!("../README.md")]

pub mod core;
pub mod rowcap;

use std::io::{BufWriter, Write};

use aws_sdk_s3::primitives::ByteStream;
use kit::{AccessDenied, AwsFailure, Day, InvalidInput, ServiceFailure, Step, Transient, validate};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio_util::io::SyncIoBridge;

pub use crate::core::{ReportProblem, Tally};
// The record's types are the contract with the steps that read it; re-exported so the audit's
// users keep one import.
pub use kit::record::{
    AuditRecord, ClassSummary, CrossCheck, FailureClass, Failures, ObjectRef, OversizeManifest,
    ReportSummary, TaskCounts, Verdict,
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
    let prefix = prefix.trim_matches('/');
    if prefix.is_empty() {
        format!("job-{job_id}")
    } else {
        format!("{prefix}/job-{job_id}")
    }
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
    let verdict = if job_failed || !report_found {
        Verdict::Failed
    } else if tally.failed == 0
        && tally.unparsed == 0
        && cross_check.as_ref().is_none_or(|c| c.agrees)
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

        let (verdict, cross_check, mut findings) = conclude(&tally, job, report.is_some());
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
        let (v, c, f) = conclude(&tally(3), Some(&job("Complete", 3, 3, 0)), true);
        assert_eq!(v, Verdict::Complete);
        assert!(c.unwrap().agrees);
        assert!(f.is_empty());

        let (v, c, f) = conclude(&tally(3), Some(&job("Complete", 4, 4, 0)), true);
        assert_eq!(v, Verdict::Incomplete);
        assert!(!c.unwrap().agrees);
        assert!(f[0].contains("the job reports 4"), "{f:?}");

        let (v, _, _) = conclude(&tally(0), Some(&job("Failed", 0, 0, 0)), false);
        assert_eq!(v, Verdict::Failed);
        let (v, c, _) = conclude(&tally(3), None, true);
        assert_eq!((v, c), (Verdict::Complete, None));
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
