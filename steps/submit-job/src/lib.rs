#![doc = include_str!("../README.md")]

pub mod conflict;

use aws_sdk_s3control::primitives::DateTime;
use aws_sdk_s3control::types::{
    JobManifest, JobManifestFieldName, JobManifestFormat, JobManifestLocation, JobManifestSpec,
    JobOperation, JobReport, JobReportFormat, JobReportScope, JobStatus, S3CopyObjectOperation,
    S3ObjectLockMode, S3StorageClass, S3Tag,
};
use kit::validate::{self, ArnKind};
use kit::{AccessDenied, AwsFailure, Day, InvalidInput, ServiceFailure, Step, Transient};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use crate::conflict::{Difference, Requested};

/// The snapshot to copy (or, with `restore`, the snapshot's objects to restore).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct Input {
    /// The backup account that runs the job (12 digits).
    pub account_id: String,
    /// The bucket being backed up; with `restore`, the snapshot bucket restored from.
    pub source_bucket: String,
    /// The day the snapshot is of.
    pub backup_date: Day,
    /// The manifest to copy from: the inventory `manifest.json` (locate-manifest's `manifest`),
    /// or with `restore` plan-restore's CSV manifest.
    pub manifest: ManifestRef,
    /// The destination bucket: the dated snapshot bucket (create-bucket's `bucket`); with
    /// `restore`, the bucket the table is restored into.
    pub snapshot_bucket: String,
    /// The role Batch Operations assumes (trusts `batchoperations.s3.amazonaws.com`).
    pub role_arn: String,
    /// Where the completion report goes.
    pub report: ReportTarget,
    /// Job priority, higher runs first (default 10).
    #[serde(default)]
    pub priority: Option<i32>,
    /// Storage class of the copies: STANDARD (default), STANDARD_IA, ONEZONE_IA,
    /// INTELLIGENT_TIERING, GLACIER_IR, GLACIER or DEEP_ARCHIVE.
    #[serde(default)]
    pub storage_class: Option<String>,
    /// Object Lock retain-until date for every copy (RFC 3339), when the snapshot bucket has
    /// Object Lock enabled.
    #[serde(default)]
    pub retain_until: Option<String>,
    /// Object Lock mode with `retain_until`: GOVERNANCE (default) or COMPLIANCE.
    #[serde(default)]
    pub object_lock_mode: Option<String>,
    /// A restore's job instead of a snapshot's (the restore machine's `SubmitRestoreJob`):
    /// a CSV manifest, no Object Lock, identified by the restore id.
    #[serde(default)]
    pub restore: Option<RestoreJob>,
}

/// The manifest object (extra fields such as `bucket` and `key` are accepted and ignored).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct ManifestRef {
    /// `arn:aws:s3:::bucket/key` of the manifest object.
    pub arn: String,
    /// Its ETag (quotes optional; they are stripped).
    pub etag: String,
    /// `S3InventoryReport_CSV_20161130` (default: an inventory `manifest.json`) or
    /// `S3BatchOperations_CSV_20180820` (a CSV of `Bucket,Key` rows, keys URL-encoded, no header).
    #[serde(default)]
    pub format: Option<String>,
}

/// What makes a job a restore's.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct RestoreJob {
    /// plan-restore's `restore_id` (16 lowercase hex digits).
    pub restore_id: String,
    /// The folder prepended to every snapshot key (`TargetKeyPrefix`: `q` and key `k` give
    /// `q/k`), without a leading or trailing `/`; null when the keys are restored as they are.
    #[serde(default)]
    pub target_key_prefix: Option<String>,
}

/// Manifest formats a job reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestFormat {
    /// An S3 Inventory `manifest.json` (CSV inventories).
    Inventory,
    /// A Batch Operations CSV manifest of `Bucket,Key` rows.
    Csv,
}

impl ManifestFormat {
    /// The inventory format's name in CreateJob.
    pub const INVENTORY: &'static str = "S3InventoryReport_CSV_20161130";
    /// The CSV format's name in CreateJob.
    pub const CSV: &'static str = "S3BatchOperations_CSV_20180820";

    /// The name CreateJob takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inventory => Self::INVENTORY,
            Self::Csv => Self::CSV,
        }
    }

    fn sdk(self) -> JobManifestFormat {
        match self {
            Self::Inventory => JobManifestFormat::S3InventoryReportCsv20161130,
            Self::Csv => JobManifestFormat::S3BatchOperationsCsv20180820,
        }
    }
}

/// Where Batch Operations writes its completion report.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct ReportTarget {
    /// The report bucket's name.
    pub bucket: String,
    /// Key prefix of the report (the job writes under `<prefix>/job-<id>/`).
    pub prefix: String,
}

/// The snapshot's job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Output {
    /// The Batch Operations job id.
    pub job_id: String,
    /// False when a job of this snapshot already existed and was returned instead.
    pub created: bool,
}

/// submit-job's errorTypes.
#[derive(Debug, thiserror::Error, kit::strum::IntoStaticStr, kit::strum::VariantNames)]
#[strum(crate = "kit::strum")]
pub enum SubmitJobError {
    /// The event breaks the contract; the message names the field.
    #[error(transparent)]
    InvalidInput(#[from] InvalidInput),
    /// Throttling, a 5xx, a dropped connection. Retry.
    #[error(transparent)]
    Transient(#[from] Transient),
    /// The caller may not create or list jobs, or may not pass the batch role
    /// (`iam:PassRole`). Fix IAM, then redrive.
    #[error(transparent)]
    AccessDenied(#[from] AccessDenied),
    /// S3 Control refused the job definition (bad role, manifest, bucket, or a token reused
    /// for a different request). Not retried: fix the input or the configuration.
    #[error("S3 Control refused the job: {0}")]
    JobRejected(ServiceFailure),
    /// A job of this snapshot (or restore) exists with other settings than this input's (report
    /// prefix, storage class, priority, Object Lock, role, target key prefix). Nothing was changed. Re-run with the job's
    /// settings, or cancel the job and re-run to make a new one with these.
    #[error(
        "job {job_id} already copies this snapshot, with other settings: {}. A snapshot's job is \
         fixed once created: re-run with its settings, or cancel it (UpdateJobStatus Cancelled) \
         and re-run to create one with these",
        differences.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
    )]
    JobConflict {
        /// The existing job.
        job_id: String,
        /// How it differs from the request.
        differences: Vec<Difference>,
    },
    /// S3 Control answered something this step does not expect (an error listing jobs, a
    /// created job without an id). Not retried.
    #[error("{0}")]
    ServiceError(ServiceFailure),
}

kit::step_error!(SubmitJobError, service => ServiceError);

impl SubmitJobError {
    /// A failure of CreateJob: a service error there is the job being refused.
    fn from_create_job(f: AwsFailure) -> Self {
        match f {
            AwsFailure::Service(s) => Self::JobRejected(s),
            other => Self::from(other),
        }
    }

    /// A request that could not be built: the SDK refused a value before sending it.
    fn unbuildable(e: impl std::fmt::Display) -> Self {
        Self::JobRejected(ServiceFailure {
            operation: "CreateJob".to_owned(),
            code: None,
            status: None,
            message: format!("the request could not be built: {e}"),
        })
    }
}

/// The step: an S3 Control client, built once.
#[derive(Debug, Clone)]
pub struct SubmitJob {
    s3control: aws_sdk_s3control::Client,
}

impl SubmitJob {
    /// From the environment (region = the destination region, `AWS_ENDPOINT_URL_S3_CONTROL`).
    pub async fn from_env() -> Result<Self, kit::clients::ConfigError> {
        let conf = kit::clients::load_sdk_config().await?;
        Ok(Self::new(kit::clients::s3control(&conf)))
    }

    /// With a given client (tests).
    pub fn new(s3control: aws_sdk_s3control::Client) -> Self {
        Self { s3control }
    }
}

/// Storage classes a copy may land in.
pub const STORAGE_CLASSES: &[&str] = &[
    "STANDARD",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER_IR",
    "GLACIER",
    "DEEP_ARCHIVE",
];

/// The validated job, ready to be sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Snapshot description (≤ 256 chars): how a retry recognises the job.
    pub description: String,
    /// `ClientRequestToken` for the first attempt.
    pub identity: String,
    /// Manifest ETag without quotes.
    pub etag: String,
    /// Priority.
    pub priority: i32,
    /// Storage class.
    pub storage_class: String,
    /// Object Lock mode and retain-until.
    pub lock: Option<(String, DateTime)>,
    /// How the manifest is read.
    pub manifest_format: ManifestFormat,
    /// `TargetKeyPrefix` of the copies (restores only).
    pub target_key_prefix: Option<String>,
    /// The job's tags (key, value).
    pub tags: Vec<(&'static str, String)>,
}

/// The job runs in the client's region: a role of another partition cannot be assumed there.
fn check_partition(input: &Input, region: Option<&str>) -> Result<(), InvalidInput> {
    let role = validate::check_arn("$.role_arn", &input.role_arn, ArnKind::Role)?;
    validate::check_partition_matches("$.role_arn", "the role", role.partition, region)
}

/// An S3 ETag: 32 hex digits, or for a multipart upload 32 hex digits, `-` and the part count.
fn is_etag(etag: &str) -> bool {
    let (hash, parts) = match etag.split_once('-') {
        Some((h, p)) => (h, Some(p)),
        None => (etag, None),
    };
    hash.len() == 32
        && hash.bytes().all(|b| b.is_ascii_hexdigit())
        && parts.is_none_or(|p| (1..=5).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Checks the input and derives the job's identity, as of now.
pub fn plan(input: &Input) -> Result<Plan, InvalidInput> {
    plan_at(input, DateTime::from(std::time::SystemTime::now()))
}

/// Checks the input and derives the job's identity (pure: `now` decides whether `retain_until`
/// is in the future).
pub fn plan_at(input: &Input, now: DateTime) -> Result<Plan, InvalidInput> {
    validate::check_account_id("$.account_id", &input.account_id)?;
    validate::check_source_bucket("$.source_bucket", &input.source_bucket)?;
    validate::check_bucket("$.snapshot_bucket", &input.snapshot_bucket)?;
    validate::check_bucket("$.report.bucket", &input.report.bucket)?;
    validate::check_key_prefix("$.report.prefix", &input.report.prefix)?;
    validate::check_arn("$.manifest.arn", &input.manifest.arn, ArnKind::S3Object)?;
    let etag = input.manifest.etag.trim().trim_matches('"').to_owned();
    if !is_etag(&etag) {
        return Err(InvalidInput::new(
            "$.manifest.etag",
            format!(
                "{} is not an S3 ETag (32 hex digits, with -<parts> for a multipart upload; \
                 as S3 returned it, quotes optional)",
                validate::quote(&input.manifest.etag)
            ),
        ));
    }
    validate::check_arn("$.role_arn", &input.role_arn, ArnKind::Role)?;
    let priority = input.priority.unwrap_or(10);
    if priority < 0 {
        return Err(InvalidInput::new(
            "$.priority",
            format!("{priority} is negative; use 0 to 2147483647"),
        ));
    }
    let storage_class = input
        .storage_class
        .clone()
        .unwrap_or_else(|| "STANDARD".to_owned());
    if !STORAGE_CLASSES.contains(&storage_class.as_str()) {
        return Err(InvalidInput::new(
            "$.storage_class",
            format!(
                "{} is not one of {STORAGE_CLASSES:?}",
                validate::quote(&storage_class)
            ),
        ));
    }
    let lock = validate::check_object_lock(
        input.retain_until.as_deref(),
        input.object_lock_mode.as_deref(),
        now,
        "the copies stay locked",
    )?;
    let manifest_format = match input.manifest.format.as_deref() {
        None | Some(ManifestFormat::INVENTORY) => ManifestFormat::Inventory,
        Some(ManifestFormat::CSV) => ManifestFormat::Csv,
        Some(other) => {
            return Err(InvalidInput::new(
                "$.manifest.format",
                format!(
                    "{} is not a manifest format: use {} (an inventory manifest.json, the \
                     default) or {} (a CSV of Bucket,Key rows)",
                    validate::quote(other),
                    ManifestFormat::INVENTORY,
                    ManifestFormat::CSV
                ),
            ));
        }
    };
    let Some(restore) = &input.restore else {
        let description = format!(
            "lakevault snapshot of {} for {} into {} (manifest {etag})",
            input.source_bucket, input.backup_date, input.snapshot_bucket
        );
        let identity = format!("{}|{}|{etag}", input.source_bucket, input.backup_date);
        let tags = vec![
            ("lakevault:source-bucket", input.source_bucket.clone()),
            ("lakevault:backup-date", input.backup_date.to_string()),
            ("lakevault:snapshot-bucket", input.snapshot_bucket.clone()),
            ("lakevault:manifest-etag", etag.clone()),
        ];
        return Ok(Plan {
            description,
            identity,
            etag,
            priority,
            storage_class,
            lock,
            manifest_format,
            target_key_prefix: None,
            tags,
        });
    };
    check_restore(input, restore, manifest_format)?;
    let id = &restore.restore_id;
    let description = format!(
        "lakevault restore {id} of {} into {} (manifest {etag})",
        input.source_bucket, input.snapshot_bucket
    );
    let identity = format!("restore|{id}|{etag}");
    let tags = vec![
        ("lakevault:restore-id", id.clone()),
        ("lakevault:snapshot-bucket", input.source_bucket.clone()),
        ("lakevault:target-bucket", input.snapshot_bucket.clone()),
    ];
    Ok(Plan {
        description,
        identity,
        etag,
        priority,
        storage_class,
        lock,
        manifest_format,
        target_key_prefix: restore.target_key_prefix.clone(),
        tags,
    })
}

/// A restore's own rules: a restore id, a CSV manifest, no Object Lock, a folder for a prefix.
fn check_restore(
    input: &Input,
    restore: &RestoreJob,
    format: ManifestFormat,
) -> Result<(), InvalidInput> {
    let id = &restore.restore_id;
    if id.len() != 16 || !id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(InvalidInput::new(
            "$.restore.restore_id",
            format!(
                "{} is not a restore id (16 lowercase hex digits, plan-restore's restore_id)",
                validate::quote(id)
            ),
        ));
    }
    if format != ManifestFormat::Csv {
        return Err(InvalidInput::new(
            "$.manifest.format",
            format!(
                "a restore copies the objects its plan lists: the manifest must be {} \
                 (plan-restore's manifest), not {}",
                ManifestFormat::CSV,
                format.as_str()
            ),
        ));
    }
    for (path, given) in [
        ("$.retain_until", input.retain_until.is_some()),
        ("$.object_lock_mode", input.object_lock_mode.is_some()),
    ] {
        if given {
            return Err(InvalidInput::new(
                path,
                "a restore copies into an ordinary bucket, without Object Lock: leave \
                 retain_until and object_lock_mode out",
            ));
        }
    }
    if let Some(prefix) = &restore.target_key_prefix {
        check_target_key_prefix("$.restore.target_key_prefix", prefix)?;
    }
    Ok(())
}

/// A `TargetKeyPrefix`: a key prefix, not empty, without a leading or trailing `/` (Batch
/// Operations puts the `/` between it and each key).
pub fn check_target_key_prefix(path: &str, prefix: &str) -> Result<(), InvalidInput> {
    validate::check_key_prefix(path, prefix)?;
    if prefix.is_empty() {
        return Err(InvalidInput::new(
            path,
            "is empty; give null when the keys are restored as they are",
        ));
    }
    if prefix.starts_with('/') || prefix.ends_with('/') {
        return Err(InvalidInput::new(
            path,
            format!(
                "{} starts or ends with '/'; give the folder without them (q, not /q/): the \
                 copy of key k is q/k",
                validate::quote(prefix)
            ),
        ));
    }
    Ok(())
}

/// The `ClientRequestToken` of attempt `n` (0 for the first; a new attempt after a job of the
/// snapshot ended Failed or Cancelled): hex SHA-256 of the snapshot's identity, 64 chars.
pub fn client_request_token(identity: &str, attempt: usize) -> String {
    let seed = if attempt == 0 {
        identity.to_owned()
    } else {
        format!("{identity}|attempt-{attempt}")
    };
    hex::encode(Sha256::digest(seed.as_bytes()))
}

/// Statuses of a job that will not copy anything more (a new job is due).
fn is_dead(status: &JobStatus) -> bool {
    matches!(
        status,
        JobStatus::Failed | JobStatus::Failing | JobStatus::Cancelled | JobStatus::Cancelling
    )
}

impl SubmitJob {
    /// Jobs of this snapshot: (live job if any, number of dead ones).
    async fn existing(
        &self,
        account: &str,
        description: &str,
    ) -> Result<(Option<(String, JobStatus)>, usize), SubmitJobError> {
        let mut pages = self
            .s3control
            .list_jobs()
            .account_id(account)
            .into_paginator()
            .send();
        let mut dead = 0;
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| SubmitJobError::from(kit::classify("ListJobs", e)))?;
            for job in page.jobs() {
                if job.description() != Some(description) {
                    continue;
                }
                let status = job.status().cloned().unwrap_or(JobStatus::New);
                if is_dead(&status) {
                    dead += 1;
                } else if let Some(id) = job.job_id() {
                    return Ok((Some((id.to_owned(), status)), dead));
                }
            }
        }
        Ok((None, dead))
    }
}

impl SubmitJob {
    /// Refuses an existing job of the snapshot whose settings are not this input's.
    async fn check_same_job(
        &self,
        input: &Input,
        plan: &Plan,
        job_id: &str,
    ) -> Result<(), SubmitJobError> {
        let out = self
            .s3control
            .describe_job()
            .account_id(&input.account_id)
            .job_id(job_id)
            .send()
            .await
            .map_err(|e| SubmitJobError::from(kit::classify("DescribeJob", e)))?;
        let Some(job) = out.job() else {
            return Err(SubmitJobError::ServiceError(ServiceFailure {
                operation: "DescribeJob".to_owned(),
                code: None,
                status: Some(200),
                message: format!("DescribeJob answered without a job for {job_id}"),
            }));
        };
        let want = Requested {
            role_arn: &input.role_arn,
            priority: plan.priority,
            report_bucket_arn: format!("arn:aws:s3:::{}", input.report.bucket),
            report_prefix: &input.report.prefix,
            target_arn: format!("arn:aws:s3:::{}", input.snapshot_bucket),
            storage_class: &plan.storage_class,
            lock: plan.lock.as_ref().map(|(m, t)| (m.as_str(), *t)),
            target_key_prefix: plan.target_key_prefix.as_deref(),
        };
        let differences = conflict::differences(job, &want);
        if differences.is_empty() {
            Ok(())
        } else {
            Err(SubmitJobError::JobConflict {
                job_id: job_id.to_owned(),
                differences,
            })
        }
    }
}

impl Step for SubmitJob {
    const NAME: &'static str = "submit-job";
    type Input = Input;
    type Output = Output;
    type Error = SubmitJobError;

    async fn handle(&self, input: Input) -> Result<Output, SubmitJobError> {
        let plan = plan(&input)?;
        check_partition(&input, self.s3control.config().region().map(|r| r.as_ref()))?;
        let (live, dead) = self.existing(&input.account_id, &plan.description).await?;
        if let Some((job_id, status)) = live {
            self.check_same_job(&input, &plan, &job_id).await?;
            tracing::info!(%job_id, status = status.as_str(), "the snapshot's job exists already");
            return Ok(Output {
                job_id,
                created: false,
            });
        }
        let token = client_request_token(&plan.identity, dead);

        let mut copy = S3CopyObjectOperation::builder()
            .target_resource(format!("arn:aws:s3:::{}", input.snapshot_bucket))
            .set_target_key_prefix(plan.target_key_prefix.clone())
            .storage_class(S3StorageClass::from(plan.storage_class.as_str()));
        if let Some((mode, until)) = &plan.lock {
            copy = copy
                .object_lock_mode(S3ObjectLockMode::from(mode.as_str()))
                .object_lock_retain_until_date(*until);
        }
        // A CSV manifest names its columns: plan-restore writes `Bucket,Key` rows.
        let fields = (plan.manifest_format == ManifestFormat::Csv)
            .then(|| vec![JobManifestFieldName::Bucket, JobManifestFieldName::Key]);
        let manifest_spec = JobManifestSpec::builder()
            .format(plan.manifest_format.sdk())
            .set_fields(fields)
            .build()
            .map_err(SubmitJobError::unbuildable)?;
        let location = JobManifestLocation::builder()
            .object_arn(&input.manifest.arn)
            .e_tag(&plan.etag)
            .build()
            .map_err(SubmitJobError::unbuildable)?;
        let tag = |k: &str, v: &str| {
            S3Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(SubmitJobError::unbuildable)
        };
        let tags = plan
            .tags
            .iter()
            .map(|(k, v)| tag(k, v))
            .collect::<Result<Vec<_>, _>>()?;
        let out = self
            .s3control
            .create_job()
            .account_id(&input.account_id)
            .client_request_token(&token)
            .confirmation_required(false)
            .role_arn(&input.role_arn)
            .priority(plan.priority)
            .description(&plan.description)
            .set_tags(Some(tags))
            .operation(
                JobOperation::builder()
                    .s3_put_object_copy(copy.build())
                    .build(),
            )
            .manifest(
                JobManifest::builder()
                    .spec(manifest_spec)
                    .location(location)
                    .build(),
            )
            .report(
                JobReport::builder()
                    .enabled(true)
                    .bucket(format!("arn:aws:s3:::{}", input.report.bucket))
                    .prefix(&input.report.prefix)
                    .format(JobReportFormat::ReportCsv20180820)
                    .report_scope(JobReportScope::AllTasks)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| SubmitJobError::from_create_job(kit::classify("CreateJob", e)))?;
        let job_id = out.job_id.ok_or_else(|| {
            SubmitJobError::ServiceError(ServiceFailure {
                operation: "CreateJob".to_owned(),
                code: None,
                status: Some(200),
                message: "CreateJob answered without a job id".to_owned(),
            })
        })?;
        tracing::info!(
            %job_id,
            attempt = dead,
            source = %input.source_bucket,
            date = %input.backup_date,
            restore_id = input.restore.as_ref().map(|r| r.restore_id.as_str()),
            "job created"
        );
        Ok(Output {
            job_id,
            created: true,
        })
    }
}
