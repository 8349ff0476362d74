#![doc = include_str!("../README.md")]

#[doc(hidden)]
pub mod bench;
mod commits;
mod discover;
mod files;
mod kernel;
mod log;
mod open;
pub mod report;
mod store;
mod table;

use std::sync::Arc;

use aws_sdk_s3::config::ProvideCredentials;
use aws_sdk_s3::primitives::ByteStream;
use kit::record::ObjectRef;
use kit::verification::{Verification, summary_line};
use kit::{AccessDenied, Day, InvalidInput, ServiceFailure, Step, Transient, validate};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use crate::commits::MAX_COMMIT_BYTES;
pub use crate::discover::MAX_DIRECTORIES;
pub use crate::files::{HEAD_LIMIT, MISSING_SAMPLES};
pub use crate::open::{LogBounds, OpenBucket, VersionContents, VersionState};
pub use crate::report::{TableReport, TableVerdict, TablesRecord};
pub use crate::table::{MAX_COMMITS_DATED, MAX_WALK_BACK};

/// The record's object name, next to the audit record.
pub const RECORD_NAME: &str = "lakevault-tables.json";

/// Where the audit record is (the job's completion-report location).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct ReportLocation {
    /// The report bucket: a name, or an `arn:aws:s3:::name` ARN.
    pub bucket: String,
    /// The report prefix (may be empty); the record goes under `<prefix>/job-<id>/`.
    #[serde(default)]
    pub prefix: String,
}

/// The verify-snapshot event.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct VerifyInput {
    /// The source bucket that was backed up.
    pub source_bucket: String,
    /// The backup date: each table is dated against the end of this day (UTC).
    pub backup_date: Day,
    /// The snapshot bucket to verify.
    pub snapshot_bucket: String,
    /// The Batch Operations job that filled it (names the record's folder).
    pub job_id: String,
    /// Where the audit record is; the tables record goes beside it.
    pub report: ReportLocation,
}

/// verify-snapshot's errorTypes. A table that cannot be read is not an error: it is a finding
/// in the result, with verdict `unrestorable`.
#[derive(Debug, thiserror::Error, kit::strum::IntoStaticStr, kit::strum::VariantNames)]
#[strum(crate = "kit::strum")]
pub enum VerifyError {
    /// The event breaks the contract.
    #[error(transparent)]
    InvalidInput(#[from] InvalidInput),
    /// The snapshot bucket does not exist.
    #[error(
        "the snapshot bucket s3://{bucket} does not exist; check that create-bucket ran for this \
         backup date and that the name is right"
    )]
    SnapshotNotFound {
        /// The bucket.
        bucket: String,
    },
    /// Throttling, 5xx, timeouts, dropped connections: retry.
    #[error(transparent)]
    Transient(#[from] Transient),
    /// The step's role may not read the snapshot or write the record.
    #[error(transparent)]
    AccessDenied(#[from] AccessDenied),
    /// S3 answered with an error this step does not expect.
    #[error("{0}; check the snapshot and report buckets")]
    ServiceError(ServiceFailure),
    /// The engine's S3 store could not be set up (credentials, endpoint).
    #[error("the Delta reader's S3 store could not be set up: {0}")]
    StoreError(String),
}

kit::step_error!(VerifyError, service => ServiceError);

/// The verify-snapshot step.
pub struct VerifySnapshot {
    s3: aws_sdk_s3::Client,
    conf: aws_config::SdkConfig,
    timeouts: kit::clients::Timeouts,
}

impl VerifySnapshot {
    /// Builds the step from the environment (region, credentials, endpoints).
    pub async fn from_env() -> Result<Self, kit::clients::ConfigError> {
        let conf = kit::clients::load_sdk_config().await?;
        if let Some(e) = kit::clients::endpoint_override(&conf, "S3")
            && e.starts_with("http://")
            && !kernel::is_loopback(&e)
        {
            // Plain HTTP is for an emulator on this machine only; anything else must be TLS.
            return Err(kit::clients::ConfigError {
                variable: "AWS_ENDPOINT_URL_S3",
                value: e.chars().take(64).collect(),
            });
        }
        let mut step = Self::new(&conf);
        // load_sdk_config() has read them already; read again here for the Delta reader's store.
        step.timeouts = kit::clients::Timeouts::from_env()?;
        Ok(step)
    }

    /// The same step with another S3 client (the benchmark's request-counting one).
    #[doc(hidden)]
    pub fn with_s3(mut self, s3: aws_sdk_s3::Client) -> Self {
        self.s3 = s3;
        self
    }

    /// Builds the step around an SDK config (tests pass one pointing at moto). The Delta reader
    /// uses the same endpoint, region and credentials.
    pub fn new(conf: &aws_config::SdkConfig) -> Self {
        Self {
            s3: kit::clients::s3(conf),
            conf: conf.clone(),
            timeouts: kit::clients::Timeouts::default(),
        }
    }

    async fn store_settings(&self) -> Result<kernel::StoreSettings, VerifyError> {
        let provider = self
            .conf
            .credentials_provider()
            .ok_or_else(|| VerifyError::StoreError("no credentials provider".to_owned()))?;
        let creds = provider
            .provide_credentials()
            .await
            .map_err(|e| VerifyError::StoreError(format!("credentials: {e}")))?;
        Ok(kernel::StoreSettings {
            endpoint: kit::clients::endpoint_override(&self.conf, "S3"),
            region: self
                .conf
                .region()
                .map(|r| r.as_ref().to_owned())
                .unwrap_or_else(|| "us-east-1".to_owned()),
            access_key_id: creds.access_key_id().to_owned(),
            secret_access_key: creds.secret_access_key().to_owned(),
            session_token: creds.session_token().map(str::to_owned),
            timeouts: self.timeouts,
        })
    }
}

/// `arn:<partition>:s3:::name` → `name`; a plain bucket name unchanged; anything else (another
/// service's ARN, an object ARN, a malformed name) → `None`.
fn bucket_name(s: &str) -> Option<&str> {
    let name = match s.strip_prefix("arn:") {
        Some(rest) => {
            let (partition, rest) = rest.split_once(':')?;
            validate::Partition::parse(partition)?;
            rest.strip_prefix("s3:::")?
        }
        None => s,
    };
    validate::bucket_name_problem(name)
        .is_none()
        .then_some(name)
}

/// `<prefix>/job-<id>` (or `job-<id>` for an empty prefix).
pub fn record_base(prefix: &str, job_id: &str) -> String {
    kit::record::job_base(prefix, job_id)
}

fn validate(input: &VerifyInput) -> Result<(), InvalidInput> {
    validate::check_job_id("$.job_id", &input.job_id)?;
    validate::check_source_bucket("$.source_bucket", &input.source_bucket)?;
    validate::check_bucket("$.snapshot_bucket", &input.snapshot_bucket)?;
    if bucket_name(&input.report.bucket).is_none() {
        return Err(InvalidInput::new(
            "$.report.bucket",
            format!(
                "{} is not a bucket name or an S3 bucket ARN (arn:aws:s3:::name)",
                validate::quote(&input.report.bucket)
            ),
        ));
    }
    validate::check_key_prefix("$.report.prefix", &input.report.prefix)?;
    Ok(())
}

/// The end of `day` (UTC), exclusive, in epoch milliseconds.
fn end_of_day_ms(day: Day) -> Result<i64, InvalidInput> {
    let next = day
        .plus_days(1)
        .ok_or_else(|| InvalidInput::new("$.backup_date", "the day after it is out of range"))?;
    Ok(next.0.midnight().assume_utc().unix_timestamp() * 1000)
}

impl Step for VerifySnapshot {
    const NAME: &'static str = "verify-snapshot";
    type Input = VerifyInput;
    type Output = Verification;
    type Error = VerifyError;

    async fn handle(&self, input: VerifyInput) -> Result<Verification, VerifyError> {
        validate(&input)?;
        let date_end_ms = end_of_day_ms(input.backup_date)?;
        let bucket = input.snapshot_bucket.as_str();
        let found = discover::discover(&self.s3, bucket).await?;
        tracing::info!(
            bucket,
            tables = found.tables.len(),
            directories = found.directories,
            requests = found.requests,
            non_delta_objects = found.non_delta_objects,
            "tables discovered"
        );
        let mut reports = Vec::with_capacity(found.tables.len());
        if !found.tables.is_empty() {
            let settings = self.store_settings().await?;
            let engine =
                Arc::new(kernel::engine(bucket, &settings).map_err(VerifyError::StoreError)?);
            let ctx = table::Ctx {
                s3: &self.s3,
                bucket,
                engine,
                date_end_ms,
            };
            // One table at a time: memory holds one version's file list, whatever the bucket.
            for root in &found.tables {
                let r = table::analyse(&ctx, root).await?;
                tracing::info!(
                    bucket,
                    root = %r.root,
                    verdict = ?r.verdict,
                    latest = ?r.latest_version,
                    restorable = ?r.restorable_version,
                    "table verified"
                );
                reports.push(r);
            }
        }
        let (verdict, tables) = report::conclude(&reports);
        let mut findings = Vec::new();
        let verdict = if found.truncated {
            findings.push(format!(
                "discovery stopped after {MAX_DIRECTORIES} directories: tables beyond them were not verified"
            ));
            kit::verification::SnapshotVerdict::Degraded
        } else {
            verdict
        };
        // validate() has checked that it parses.
        let report_bucket = bucket_name(&input.report.bucket)
            .unwrap_or(&input.report.bucket)
            .to_owned();
        let record_ref = ObjectRef {
            bucket: report_bucket,
            key: format!(
                "{}/{RECORD_NAME}",
                record_base(&input.report.prefix, &input.job_id)
            ),
        };
        let record = TablesRecord {
            source_bucket: input.source_bucket,
            backup_date: input.backup_date,
            snapshot_bucket: input.snapshot_bucket.clone(),
            job_id: input.job_id,
            verdict,
            tables,
            non_delta_objects: found.non_delta_objects,
            table_reports: reports,
            findings,
            record: record_ref.clone(),
        };
        let json = serde_json::to_vec_pretty(&record).map_err(|e| {
            VerifyError::Transient(Transient {
                operation: "serialise the tables record".into(),
                detail: e.to_string(),
            })
        })?;
        self.s3
            .put_object()
            .bucket(&record_ref.bucket)
            .key(&record_ref.key)
            .content_type("application/json")
            .body(ByteStream::from(json))
            .send()
            .await
            .map_err(|e| VerifyError::from(kit::classify("PutObject", e)))?;
        let summary = summary_line(input.backup_date, &tables);
        tracing::info!(bucket, verdict = verdict.as_str(), %summary, key = %record_ref.key, "snapshot verified");
        Ok(Verification {
            snapshot_bucket: input.snapshot_bucket,
            backup_date: input.backup_date,
            verdict,
            tables,
            non_delta_objects: found.non_delta_objects,
            summary,
            record: record_ref,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kit::StepError;

    #[test]
    fn the_backup_date_ends_at_midnight_utc() {
        let d: Day = "2021-03-31".parse().unwrap();
        // 2021-04-01T00:00:00Z
        assert_eq!(end_of_day_ms(d).unwrap(), 1_617_235_200_000);
    }

    #[test]
    fn the_record_goes_beside_the_audit_record() {
        assert_eq!(record_base("reports/", "j1"), "reports/job-j1");
        assert_eq!(record_base("", "j1"), "job-j1");
    }

    #[test]
    fn error_types_are_variant_names() {
        assert_eq!(
            VerifyError::error_types(),
            [
                "InvalidInput",
                "SnapshotNotFound",
                "Transient",
                "AccessDenied",
                "ServiceError",
                "StoreError"
            ]
        );
    }
}
