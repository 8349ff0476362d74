//! Running a job: read the manifest, copy every object, write the completion report.
//!
//! Lifecycle as AWS shows it: `New → Preparing → (Suspended → Ready →) Active → Completing →
//! Complete`, `Failed` when the manifest cannot be used or the failure-rate rule trips,
//! `Cancelling → Cancelled` on request.

use std::collections::HashMap;
use std::io::Read;
use std::sync::Arc;

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::DateTime;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, MetadataDirective, ObjectLockLegalHoldStatus, ObjectLockMode,
    ServerSideEncryption, StorageClass, TaggingDirective,
};
use futures::StreamExt;
use md5::{Digest, Md5};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use time::OffsetDateTime;

use crate::BatchService;
use crate::api::{ApiError, timestamp};
use crate::model::{CreateJobRequest, ObjectMetadata, Tag};

/// The manifest formats Batch Operations accepts.
pub(crate) const FORMAT_CSV: &str = "S3BatchOperations_CSV_20180820";
/// An S3 Inventory `manifest.json` (CSV inventories only).
pub(crate) const FORMAT_INVENTORY: &str = "S3InventoryReport_CSV_20161130";

const STORAGE_CLASSES: &[&str] = &[
    "STANDARD",
    "STANDARD_IA",
    "ONEZONE_IA",
    "GLACIER",
    "INTELLIGENT_TIERING",
    "DEEP_ARCHIVE",
    "GLACIER_IR",
];

/// What a job does, validated from its CreateJob request.
#[derive(Debug, Clone)]
pub(crate) struct JobSpec {
    pub(crate) manifest_bucket: String,
    pub(crate) manifest_key: String,
    pub(crate) manifest_version: Option<String>,
    pub(crate) manifest_etag: String,
    pub(crate) format: String,
    pub(crate) fields: Vec<String>,
    pub(crate) copy: CopySpec,
    pub(crate) report: Option<ReportSpec>,
}

#[derive(Debug, Clone)]
pub(crate) struct CopySpec {
    pub(crate) target_bucket: String,
    pub(crate) key_prefix: String,
    pub(crate) storage_class: Option<String>,
    pub(crate) replace_metadata: bool,
    pub(crate) metadata: ObjectMetadata,
    pub(crate) tagging: Option<Vec<Tag>>,
    pub(crate) lock_mode: Option<String>,
    pub(crate) retain_until: Option<DateTime>,
    pub(crate) legal_hold: Option<String>,
    pub(crate) kms_key: Option<String>,
    pub(crate) bucket_key: Option<bool>,
    pub(crate) checksum: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct ReportSpec {
    pub(crate) bucket: String,
    pub(crate) prefix: String,
    pub(crate) all_tasks: bool,
}

fn bucket_of_arn(arn: &str) -> Option<&str> {
    arn.strip_prefix("arn:aws:s3:::")
        .filter(|b| !b.is_empty() && !b.contains('/'))
}

impl JobSpec {
    /// Validates a request the way CreateJob does (AWS's error codes, plain messages).
    pub(crate) fn from_request(req: &CreateJobRequest) -> Result<JobSpec, ApiError> {
        if req.manifest_generator.is_some() {
            return Err(ApiError::invalid(
                "ManifestGenerator is not implemented by local-batch; pass a Manifest.",
            ));
        }
        let manifest = req
            .manifest
            .as_ref()
            .ok_or_else(|| ApiError::invalid("A Manifest is required."))?;
        let spec = manifest.spec.clone().unwrap_or_default();
        let format = spec.format.unwrap_or_default();
        if format != FORMAT_CSV && format != FORMAT_INVENTORY {
            return Err(ApiError::invalid(format!(
                "Manifest format {format:?} is not supported; use {FORMAT_CSV} or {FORMAT_INVENTORY}."
            )));
        }
        let fields: Vec<String> = spec.fields.map(|f| f.member).unwrap_or_default();
        let loc = manifest.location.clone().unwrap_or_default();
        let arn = loc.object_arn.unwrap_or_default();
        let (manifest_bucket, manifest_key) = arn
            .strip_prefix("arn:aws:s3:::")
            .and_then(|r| r.split_once('/'))
            .filter(|(b, k)| !b.is_empty() && !k.is_empty())
            .ok_or_else(|| {
                ApiError::invalid(format!(
                    "Manifest ObjectArn {arn:?} is not an S3 object ARN (arn:aws:s3:::bucket/key)."
                ))
            })?;
        let manifest_etag = loc
            .etag
            .filter(|e| !e.is_empty())
            .ok_or_else(|| ApiError::invalid("The manifest location's ETag is required."))?;

        let op = req
            .operation
            .clone()
            .ok_or_else(|| ApiError::invalid("An Operation is required."))?;
        let others = [
            op.lambda_invoke.is_some(),
            op.put_acl.is_some(),
            op.put_tagging.is_some(),
            op.delete_tagging.is_some(),
            op.restore.is_some(),
            op.legal_hold.is_some(),
            op.retention.is_some(),
            op.replicate.is_some(),
        ];
        let copy = match op.copy {
            Some(c) if !others.contains(&true) => c,
            _ => {
                return Err(ApiError::invalid(
                    "local-batch runs S3PutObjectCopy jobs only; the Operation must hold exactly that.",
                ));
            }
        };
        let target = copy.target_resource.unwrap_or_default();
        let target_bucket = bucket_of_arn(&target).ok_or_else(|| {
            ApiError::invalid(format!(
                "TargetResource {target:?} is not an S3 bucket ARN (arn:aws:s3:::bucket)."
            ))
        })?;
        if let Some(sc) = &copy.storage_class
            && !STORAGE_CLASSES.contains(&sc.as_str())
        {
            return Err(ApiError::invalid(format!(
                "StorageClass {sc:?} is not one of {STORAGE_CLASSES:?}."
            )));
        }
        let replace_metadata = match copy.metadata_directive.as_deref() {
            None | Some("COPY") => false,
            Some("REPLACE") => true,
            Some(other) => {
                return Err(ApiError::invalid(format!(
                    "MetadataDirective {other:?} must be COPY or REPLACE."
                )));
            }
        };
        if let Some(m) = &copy.object_lock_mode
            && m != "GOVERNANCE"
            && m != "COMPLIANCE"
        {
            return Err(ApiError::invalid(format!(
                "ObjectLockMode {m:?} must be GOVERNANCE or COMPLIANCE."
            )));
        }
        let retain_until = match &copy.object_lock_retain_until_date {
            None => None,
            Some(d) => Some(
                DateTime::from_str(d, aws_smithy_types::date_time::Format::DateTimeWithOffset)
                    .map_err(|_| {
                        ApiError::invalid(format!(
                            "ObjectLockRetainUntilDate {d:?} is not an ISO 8601 timestamp."
                        ))
                    })?,
            ),
        };
        if copy.object_lock_mode.is_some() != retain_until.is_some() {
            return Err(ApiError::invalid(
                "ObjectLockMode and ObjectLockRetainUntilDate must be given together.",
            ));
        }

        let report = req
            .report
            .clone()
            .ok_or_else(|| ApiError::invalid("A Report is required (it may be disabled)."))?;
        let report = if report.enabled.unwrap_or(false) {
            let b = report.bucket.unwrap_or_default();
            let bucket = bucket_of_arn(&b).ok_or_else(|| {
                ApiError::invalid(format!(
                    "Report Bucket {b:?} is not an S3 bucket ARN (arn:aws:s3:::bucket)."
                ))
            })?;
            if report.format.as_deref() != Some("Report_CSV_20180820") {
                return Err(ApiError::invalid(
                    "Report Format must be Report_CSV_20180820.",
                ));
            }
            let all_tasks = match report.report_scope.as_deref() {
                None | Some("AllTasks") => true,
                Some("FailedTasksOnly") => false,
                Some(other) => {
                    return Err(ApiError::invalid(format!(
                        "ReportScope {other:?} must be AllTasks or FailedTasksOnly."
                    )));
                }
            };
            Some(ReportSpec {
                bucket: bucket.to_owned(),
                prefix: report.prefix.unwrap_or_default(),
                all_tasks,
            })
        } else {
            None
        };

        Ok(JobSpec {
            manifest_bucket: manifest_bucket.to_owned(),
            manifest_key: manifest_key.to_owned(),
            manifest_version: loc.object_version_id,
            manifest_etag: strip_quotes(&manifest_etag).to_owned(),
            format,
            fields,
            copy: CopySpec {
                target_bucket: target_bucket.to_owned(),
                key_prefix: copy.target_key_prefix.unwrap_or_default(),
                storage_class: copy.storage_class,
                replace_metadata,
                metadata: copy.new_object_metadata.unwrap_or_default(),
                tagging: copy.new_object_tagging.map(|t| t.member),
                lock_mode: copy.object_lock_mode,
                retain_until,
                legal_hold: copy.object_lock_legal_hold_status,
                kms_key: copy.sse_aws_kms_key_id,
                bucket_key: copy.bucket_key_enabled,
                checksum: copy.checksum_algorithm,
            },
            report,
        })
    }
}

fn strip_quotes(s: &str) -> &str {
    s.trim_matches('"')
}

/// One object to copy, as the manifest names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Task {
    pub(crate) bucket: String,
    /// The key as written in the manifest (URL-encoded); reports repeat it.
    pub(crate) key_encoded: String,
    /// The decoded key.
    pub(crate) key: String,
    pub(crate) version_id: Option<String>,
}

/// How a task ended.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    pub(crate) task: Task,
    pub(crate) succeeded: bool,
    pub(crate) http_status: u16,
    pub(crate) error_code: String,
    pub(crate) message: String,
}

/// Why a job failed as a whole: `(FailureCode, FailureReason)`.
type JobFailure = (String, String);

/// Starts running a newly created job in the background.
pub(crate) fn start(state: Arc<BatchService>, id: String) {
    tokio::spawn(async move {
        run(&state, &id).await;
    });
}

impl BatchService {
    /// Waits the configured pause (and takes a gate permit) before a lifecycle transition.
    async fn pace(&self) {
        if !self.config.phase_delay.is_zero() {
            tokio::time::sleep(self.config.phase_delay).await;
        }
        if let Some(gate) = &self.config.phase_gate
            && let Ok(permit) = gate.acquire().await
        {
            permit.forget();
        }
    }

    /// Moves the job to `status` unless it was cancelled meanwhile; false when cancelled.
    fn set_status(&self, id: &str, status: &'static str) -> bool {
        let mut jobs = self.lock();
        let Some(job) = jobs.by_id.get_mut(id) else {
            return false;
        };
        if job.cancel_requested {
            return false;
        }
        tracing::info!(job_id = id, from = job.status, to = status, "job status");
        job.status = status;
        true
    }

    fn finish(&self, id: &str, status: &'static str, failure: Option<JobFailure>) {
        let mut jobs = self.lock();
        if let Some(job) = jobs.by_id.get_mut(id) {
            if let Some(t) = job.active_since.take() {
                job.active_elapsed += t.elapsed();
            }
            if let Some(f) = failure {
                tracing::warn!(job_id = id, code = %f.0, reason = %f.1, "job failed");
                job.failure_reasons.push(f);
            }
            tracing::info!(job_id = id, from = job.status, to = status, "job finished");
            job.status = status;
            job.termination_date = Some(OffsetDateTime::now_utc());
        }
    }

    fn is_cancelled(&self, id: &str) -> bool {
        self.lock().by_id.get(id).is_none_or(|j| j.cancel_requested)
    }
}

async fn run(state: &BatchService, id: &str) {
    let (spec, confirm, cancel) = {
        let jobs = state.lock();
        let Some(job) = jobs.by_id.get(id) else {
            return;
        };
        (
            Arc::clone(&job.spec),
            job.confirmation_required,
            Arc::clone(&job.cancel),
        )
    };
    state.pace().await;
    if !state.set_status(id, "Preparing") {
        return;
    }
    let tasks = match read_manifest(&state.config.s3, &spec).await {
        Ok(t) => t,
        Err(f) => {
            state.finish(id, "Failed", Some(f));
            return;
        }
    };
    if let Some(job) = state.lock().by_id.get_mut(id) {
        job.total = tasks.len() as u64;
    }
    state.pace().await;
    if confirm {
        if !state.set_status(id, "Suspended") {
            return;
        }
        // Wait for UpdateJobStatus(Ready) or a cancellation.
        loop {
            let woken = cancel.notified();
            let status = state.lock().by_id.get(id).map(|j| j.status);
            match status {
                Some("Ready") => break,
                Some("Suspended") => woken.await,
                _ => return,
            }
        }
    }
    {
        let mut jobs = state.lock();
        let Some(job) = jobs.by_id.get_mut(id) else {
            return;
        };
        if job.cancel_requested {
            return;
        }
        job.status = "Active";
        job.active_since = Some(std::time::Instant::now());
        tracing::info!(job_id = id, tasks = job.total, "job active");
    }

    let conf = &state.config;
    let mut outcomes = Vec::with_capacity(tasks.len());
    let mut rate_failure = None;
    let mut copies = futures::stream::iter(tasks)
        .map(|t| copy_one(&conf.s3, &spec.copy, conf.max_copy_bytes, t))
        .buffer_unordered(conf.concurrency.max(1));
    while let Some(outcome) = copies.next().await {
        let (ran, failed) = {
            let mut jobs = state.lock();
            let Some(job) = jobs.by_id.get_mut(id) else {
                return;
            };
            if outcome.succeeded {
                job.succeeded += 1;
            } else {
                job.failed += 1;
            }
            (job.succeeded + job.failed, job.failed)
        };
        outcomes.push(outcome);
        if state.is_cancelled(id) {
            break;
        }
        if ran >= conf.failure_rule_min_tasks && failed * 100 > ran * conf.failure_rule_percent {
            rate_failure = Some((
                "TaskFailureRateExceeded".to_owned(),
                format!(
                    "Job failed: {failed} of the {ran} tasks run so far failed, more than {}% after at least {} tasks.",
                    conf.failure_rule_percent, conf.failure_rule_min_tasks
                ),
            ));
            break;
        }
    }
    drop(copies);

    // AWS writes a report whenever at least one task ran, also for failed and cancelled jobs.
    let cancelled = state.is_cancelled(id);
    if rate_failure.is_none() && !cancelled {
        state.pace().await;
        state.set_status(id, "Completing");
    } else if rate_failure.is_some() {
        state.set_status(id, "Failing");
    }
    let report_failure = match &spec.report {
        Some(r) if !outcomes.is_empty() => write_report(&conf.s3, r, id, &outcomes)
            .await
            .err()
            .map(|e| ("ReportWriteFailed".to_owned(), e)),
        _ => None,
    };
    if cancelled {
        state.finish(id, "Cancelled", None);
    } else if let Some(f) = rate_failure.or(report_failure) {
        state.finish(id, "Failed", Some(f));
    } else {
        state.finish(id, "Complete", None);
    }
}

/// `(code, status, message)` of an S3 failure.
fn s3_failure<E>(err: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> (u16, String, String)
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match err {
        SdkError::ServiceError(se) => {
            let status = se.raw().status().as_u16();
            let e = se.err();
            let code = e.code().map(str::to_owned).unwrap_or_else(|| match status {
                403 => "AccessDenied".to_owned(),
                404 => "NoSuchKey".to_owned(),
                _ => format!("Http{status}"),
            });
            let message = e.message().map(str::to_owned).unwrap_or_default();
            (status, code, message)
        }
        other => (
            500,
            "InternalError".to_owned(),
            kit::error::source_chain(other),
        ),
    }
}

async fn get_bytes(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    version: Option<&str>,
) -> Result<(Vec<u8>, Option<String>), JobFailure> {
    let out = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .set_version_id(version.map(str::to_owned))
        .send()
        .await
        .map_err(|e| {
            let (status, code, msg) = s3_failure(&e);
            (
                code.clone(),
                format!("Reading s3://{bucket}/{key} failed: {code} (HTTP {status}) {msg}"),
            )
        })?;
    let etag = out.e_tag().map(|e| strip_quotes(e).to_owned());
    let body = out.body.collect().await.map_err(|e| {
        (
            "InternalError".to_owned(),
            format!("Reading s3://{bucket}/{key} was interrupted: {e}"),
        )
    })?;
    Ok((body.into_bytes().to_vec(), etag))
}

/// An inventory `manifest.json`: the fields Batch Operations uses.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct InventoryManifest {
    destination_bucket: String,
    file_format: String,
    file_schema: String,
    files: Vec<InventoryFile>,
}

#[derive(Debug, Deserialize)]
struct InventoryFile {
    key: String,
    #[serde(rename = "MD5checksum")]
    md5: Option<String>,
}

/// Reads the manifest into tasks, checking its ETag like AWS.
pub(crate) async fn read_manifest(
    s3: &aws_sdk_s3::Client,
    spec: &JobSpec,
) -> Result<Vec<Task>, JobFailure> {
    let (bytes, etag) = get_bytes(
        s3,
        &spec.manifest_bucket,
        &spec.manifest_key,
        spec.manifest_version.as_deref(),
    )
    .await?;
    if etag.as_deref() != Some(spec.manifest_etag.as_str()) {
        return Err((
            "InvalidManifest".to_owned(),
            format!(
                "The ETag of the manifest object s3://{}/{} ({}) does not match the ETag given in the job's manifest location ({}).",
                spec.manifest_bucket,
                spec.manifest_key,
                etag.as_deref().unwrap_or("none"),
                spec.manifest_etag
            ),
        ));
    }
    if spec.format == FORMAT_CSV {
        let fields: Vec<&str> = if spec.fields.is_empty() {
            vec!["Bucket", "Key", "VersionId"]
        } else {
            spec.fields.iter().map(String::as_str).collect()
        };
        return parse_rows(&bytes, &fields, "the manifest");
    }
    let m: InventoryManifest = serde_json::from_slice(&bytes).map_err(|e| {
        (
            "InvalidManifest".to_owned(),
            format!("The inventory manifest.json is not valid: {e}"),
        )
    })?;
    if m.file_format != "CSV" {
        return Err((
            "InvalidManifest".to_owned(),
            format!(
                "Inventory reports in {} format are not supported by Batch Operations; use CSV.",
                m.file_format
            ),
        ));
    }
    let schema: Vec<&str> = m.file_schema.split(',').map(str::trim).collect();
    let data_bucket = bucket_of_arn(&m.destination_bucket)
        .unwrap_or(&m.destination_bucket)
        .to_owned();
    let mut tasks = Vec::new();
    for f in &m.files {
        let (gz, _) = get_bytes(s3, &data_bucket, &f.key, None).await?;
        if let Some(want) = &f.md5 {
            let have = hex::encode(Md5::digest(&gz));
            if !have.eq_ignore_ascii_case(want) {
                return Err((
                    "InvalidManifest".to_owned(),
                    format!(
                        "Inventory file {} has MD5 {have}, the manifest says {want}.",
                        f.key
                    ),
                ));
            }
        }
        let mut csv = Vec::new();
        flate2::read::GzDecoder::new(gz.as_slice())
            .read_to_end(&mut csv)
            .map_err(|e| {
                (
                    "InvalidManifest".to_owned(),
                    format!("Inventory file {} is not gzip: {e}", f.key),
                )
            })?;
        tasks.extend(parse_rows(&csv, &schema, &f.key)?);
    }
    Ok(tasks)
}

/// Decodes a manifest key: URL-encoded, `+` for space.
pub(crate) fn decode_key(k: &str) -> String {
    percent_encoding::percent_decode_str(&k.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

fn parse_rows(bytes: &[u8], fields: &[&str], what: &str) -> Result<Vec<Task>, JobFailure> {
    let col = |name: &str| fields.iter().position(|f| f.eq_ignore_ascii_case(name));
    let (Some(b), Some(k)) = (col("Bucket"), col("Key")) else {
        return Err((
            "InvalidManifest".to_owned(),
            format!("The manifest fields {fields:?} do not include Bucket and Key."),
        ));
    };
    let v = col("VersionId");
    let dm = col("IsDeleteMarker");
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut tasks = Vec::new();
    for (n, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(|e| {
            (
                "InvalidManifest".to_owned(),
                format!("Row {} of {what} is not CSV: {e}", n + 1),
            )
        })?;
        let (Some(bucket), Some(key)) = (rec.get(b), rec.get(k)) else {
            return Err((
                "InvalidManifest".to_owned(),
                format!("Row {} of {what} has no bucket or key.", n + 1),
            ));
        };
        // A delete marker is not an object: nothing to copy.
        if dm.and_then(|i| rec.get(i)) == Some("true") {
            continue;
        }
        tasks.push(Task {
            bucket: bucket.to_owned(),
            key_encoded: key.to_owned(),
            key: decode_key(key),
            version_id: v
                .and_then(|i| rec.get(i))
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        });
    }
    Ok(tasks)
}

/// Characters kept as is in an `x-amz-copy-source` key (`/` separates, the rest is encoded).
const COPY_SOURCE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The destination key: the prefix as a folder, then the source key.
pub(crate) fn target_key(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else if prefix.ends_with('/') {
        format!("{prefix}{key}")
    } else {
        format!("{prefix}/{key}")
    }
}

async fn copy_one(s3: &aws_sdk_s3::Client, c: &CopySpec, max_bytes: i64, task: Task) -> Outcome {
    let fail = |task: Task, status: u16, code: String, message: String| Outcome {
        task,
        succeeded: false,
        http_status: status,
        error_code: code,
        message,
    };
    let head = s3
        .head_object()
        .bucket(&task.bucket)
        .key(&task.key)
        .set_version_id(task.version_id.clone())
        .send()
        .await;
    let size = match head {
        Ok(h) => h.content_length().unwrap_or(0),
        Err(e) => {
            let (status, code, msg) = s3_failure(&e);
            let (code, msg) = if status == 404 {
                // HEAD has no body; the copy itself would answer NoSuchKey, as AWS reports it.
                (
                    "NoSuchKey".to_owned(),
                    "The specified key does not exist.".to_owned(),
                )
            } else {
                (code, msg)
            };
            return fail(task, status, code, msg);
        }
    };
    if size > max_bytes {
        return fail(
            task,
            400,
            "InvalidRequest".to_owned(),
            format!(
                "The specified copy source is larger than the maximum allowable size for a copy source: {max_bytes}"
            ),
        );
    }
    let mut source = format!(
        "{}/{}",
        task.bucket,
        utf8_percent_encode(&task.key, COPY_SOURCE)
    );
    if let Some(v) = &task.version_id {
        source.push_str("?versionId=");
        source.push_str(&utf8_percent_encode(v, NON_ALPHANUMERIC).to_string());
    }
    let mut req = s3
        .copy_object()
        .copy_source(source)
        .bucket(&c.target_bucket)
        .key(target_key(&c.key_prefix, &task.key))
        .set_storage_class(c.storage_class.as_deref().map(StorageClass::from))
        .set_object_lock_mode(c.lock_mode.as_deref().map(ObjectLockMode::from))
        .set_object_lock_retain_until_date(c.retain_until)
        .set_object_lock_legal_hold_status(
            c.legal_hold.as_deref().map(ObjectLockLegalHoldStatus::from),
        )
        // AWS gives every copy a checksum (CRC64NVME by default) and needs one anyway to write
        // into a bucket whose default retention locks new objects; moto refuses such a copy
        // without a checksum header. Use the job's algorithm, else CRC32.
        .checksum_algorithm(
            c.checksum
                .as_deref()
                .map(ChecksumAlgorithm::from)
                .unwrap_or(ChecksumAlgorithm::Crc32),
        )
        .set_bucket_key_enabled(c.bucket_key);
    if let Some(k) = &c.kms_key {
        req = req
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .ssekms_key_id(k);
    }
    if c.replace_metadata {
        let m = &c.metadata;
        let user: Option<HashMap<String, String>> = m.user_metadata.as_ref().map(|u| {
            u.entry
                .iter()
                .map(|e| (e.key.clone(), e.value.clone()))
                .collect()
        });
        req = req
            .metadata_directive(MetadataDirective::Replace)
            .set_metadata(user)
            .set_content_type(m.content_type.clone())
            .set_cache_control(m.cache_control.clone())
            .set_content_disposition(m.content_disposition.clone())
            .set_content_encoding(m.content_encoding.clone())
            .set_content_language(m.content_language.clone());
    }
    if let Some(tags) = &c.tagging {
        let enc = |s: &str| utf8_percent_encode(s, NON_ALPHANUMERIC).to_string();
        let tagging: Vec<String> = tags
            .iter()
            .map(|t| format!("{}={}", enc(&t.key), enc(&t.value)))
            .collect();
        req = req
            .tagging_directive(TaggingDirective::Replace)
            .tagging(tagging.join("&"));
    }
    // moto refuses a copy into a bucket with a default retention unless the request carries
    // `x-amz-sdk-checksum-algorithm` (what the SDK sends for uploads with a body); AWS does not
    // ask this of CopyObject. Harmless on AWS, needed on moto.
    let algorithm = c.checksum.clone().unwrap_or_else(|| "CRC32".to_owned());
    let sent = req
        .customize()
        .mutate_request(move |r| {
            r.headers_mut()
                .insert("x-amz-sdk-checksum-algorithm", algorithm.clone());
        })
        .send()
        .await;
    match sent {
        Ok(_) => Outcome {
            task,
            succeeded: true,
            http_status: 200,
            error_code: String::new(),
            message: "Successful".to_owned(),
        },
        Err(e) => {
            let (status, code, msg) = s3_failure(&e);
            tracing::debug!(bucket = %task.bucket, key = %task.key, %code, "copy failed");
            fail(task, status, code, msg)
        }
    }
}

/// One report row, in the column order of AWS's own example rows:
/// `bucket, key, versionId, taskStatus, httpStatus, errorCode, resultMessage`.
pub(crate) fn report_row(o: &Outcome) -> [String; 7] {
    [
        o.task.bucket.clone(),
        o.task.key_encoded.clone(),
        o.task.version_id.clone().unwrap_or_default(),
        if o.succeeded { "succeeded" } else { "failed" }.to_owned(),
        o.http_status.to_string(),
        o.error_code.clone(),
        o.message.clone(),
    ]
}

fn csv_bytes(rows: &[&Outcome]) -> Result<Vec<u8>, String> {
    let mut w = csv::WriterBuilder::new()
        .quote_style(csv::QuoteStyle::Always)
        .from_writer(Vec::new());
    for o in rows {
        w.write_record(report_row(o))
            .map_err(|e| format!("could not write a report row: {e}"))?;
    }
    w.into_inner()
        .map_err(|e| format!("could not finish the report: {e}"))
}

/// Writes `<prefix>/job-<id>/results/<hex>.csv` (one file per task status) and then
/// `<prefix>/job-<id>/manifest.json`, as AWS lays a completion report out.
async fn write_report(
    s3: &aws_sdk_s3::Client,
    r: &ReportSpec,
    id: &str,
    outcomes: &[Outcome],
) -> Result<(), String> {
    let base = if r.prefix.is_empty() {
        format!("job-{id}")
    } else {
        format!("{}/job-{id}", r.prefix.trim_end_matches('/'))
    };
    let mut results = Vec::new();
    for (status, ok) in [("succeeded", true), ("failed", false)] {
        if ok && !r.all_tasks {
            continue;
        }
        let rows: Vec<&Outcome> = outcomes.iter().filter(|o| o.succeeded == ok).collect();
        if rows.is_empty() {
            continue;
        }
        let body = csv_bytes(&rows)?;
        let md5 = hex::encode(Md5::digest(&body));
        let name = hex::encode(Md5::digest(
            format!("{id}/{status}/{}", uuid::Uuid::new_v4()).as_bytes(),
        ));
        let key = format!("{base}/results/{name}.csv");
        put_report_object(s3, &r.bucket, &key, "text/csv", body.into()).await?;
        results.push(serde_json::json!({
            "TaskExecutionStatus": status,
            "Bucket": r.bucket,
            "MD5Checksum": md5,
            "Key": key,
        }));
    }
    let now = OffsetDateTime::now_utc();
    let manifest = serde_json::json!({
        "Format": "Report_CSV_20180820",
        "ReportCreationDate": timestamp(now),
        "Results": results,
        "ReportSchema": "Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage",
    });
    let key = format!("{base}/manifest.json");
    put_report_object(
        s3,
        &r.bucket,
        &key,
        "application/json",
        manifest.to_string().into_bytes().into(),
    )
    .await?;
    tracing::info!(job_id = id, bucket = %r.bucket, %key, "completion report written");
    Ok(())
}

/// Writes one object of the completion report; the error names where and why.
async fn put_report_object(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    content_type: &str,
    body: aws_sdk_s3::primitives::ByteStream,
) -> Result<(), String> {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .content_type(content_type)
        .body(body)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| {
            let (st, code, msg) = s3_failure(&e);
            format!("Writing the report to s3://{bucket}/{key} failed: {code} (HTTP {st}) {msg}")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_decode_like_inventory() {
        assert_eq!(decode_key("a%2Fb+c%2Bd"), "a/b c+d");
        assert_eq!(target_key("", "k"), "k");
        assert_eq!(target_key("p", "k"), "p/k");
        assert_eq!(target_key("p/", "k"), "p/k");
    }

    #[test]
    fn rows_follow_the_schema() {
        let csv = b"\"b\",\"k%20x\",\"v1\",\"false\"\n\"b\",\"gone\",\"v2\",\"true\"\n";
        let t = parse_rows(csv, &["Bucket", "Key", "VersionId", "IsDeleteMarker"], "x").unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].key, "k x");
        assert_eq!(t[0].key_encoded, "k%20x");
        assert_eq!(t[0].version_id.as_deref(), Some("v1"));
    }

    #[test]
    fn report_rows_are_quoted_with_status_before_code() {
        let o = Outcome {
            task: Task {
                bucket: "b".into(),
                key_encoded: "k".into(),
                key: "k".into(),
                version_id: None,
            },
            succeeded: false,
            http_status: 400,
            error_code: "InvalidRequest".into(),
            message: "a, \"b\"".into(),
        };
        let out = String::from_utf8(csv_bytes(&[&o]).unwrap()).unwrap();
        assert_eq!(
            out,
            "\"b\",\"k\",\"\",\"failed\",\"400\",\"InvalidRequest\",\"a, \"\"b\"\"\"\n"
        );
    }
}
