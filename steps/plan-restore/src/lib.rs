#![doc = include_str!("../README.md")]

pub mod manifest;
pub mod name;
pub mod paths;
mod target;
mod version;

use aws_sdk_s3::primitives::ByteStream;
use kit::record::ObjectRef;
use kit::validate::{self, quote};
use kit::{AccessDenied, Day, InvalidInput, ServiceFailure, Step, Transient};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use verify_snapshot::{VerifyError, VerifySnapshot};

pub use crate::manifest::{FileKind, MANIFEST_FORMAT, PlanFile, PlanRecord};
pub use crate::version::{ChosenBy, Named, VersionChoice};

/// A bucket and a key prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Location {
    /// Bucket name.
    pub bucket: String,
    /// Key prefix (may be empty).
    #[serde(default)]
    pub prefix: String,
}

/// The plan-restore event.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct Input {
    /// The snapshot bucket to restore from (`<source>-<dd-mmm-yyyy>`).
    pub snapshot_bucket: String,
    /// The table's root in the snapshot (`tables/events`; `""` for a table at the bucket root).
    pub table: String,
    /// Which version: a number, `"as_of_backup_date"` (default) or `"latest_restorable"`.
    #[serde(default)]
    pub version: VersionChoice,
    /// Where the restored table goes: an empty prefix of a bucket in the backup's region. Its
    /// prefix must end with the table's root (see the README).
    pub target: Location,
    /// Where the restore's manifest, plan and job report go (the backup's report bucket).
    pub report: Location,
    /// Plan only: check and answer, write nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// The manifest written for the copy job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ManifestOut {
    /// Its bucket.
    pub bucket: String,
    /// Its key.
    pub key: String,
    /// `arn:aws:s3:::bucket/key`.
    pub arn: String,
    /// Its ETag (no quotes).
    pub etag: String,
    /// `S3BatchOperations_CSV_20180820`.
    pub format: String,
}

/// The plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Output {
    /// 16 hex digits naming this restore (snapshot, table, version, target).
    pub restore_id: String,
    /// The snapshot bucket.
    pub snapshot_bucket: String,
    /// The bucket the snapshot is of (its name without the date).
    pub source_bucket: String,
    /// The snapshot's day.
    pub backup_date: Day,
    /// The table's root in the snapshot.
    pub table: String,
    /// The version restored.
    pub version: u64,
    /// How the version was chosen.
    pub chosen_by: ChosenBy,
    /// The checkpoint its log starts from (`null`: commit 0).
    pub checkpoint_version: Option<u64>,
    /// Objects copied.
    pub objects: u64,
    /// Bytes copied.
    pub bytes: u64,
    /// Of which log objects.
    pub log_objects: u64,
    /// Of which data files.
    pub data_files: u64,
    /// Of which deletion-vector files.
    pub deletion_vectors: u64,
    /// The target.
    pub target: Location,
    /// The copy job's TargetKeyPrefix (`null`: none).
    pub target_key_prefix: Option<String>,
    /// The restored table: `s3://<target bucket>/<target prefix>`.
    pub table_url: String,
    /// The manifest (in a dry run: where it would go, and the ETag S3 would give it).
    pub manifest: ManifestOut,
    /// The plan record.
    pub plan: ObjectRef,
    /// Where the copy job writes its completion report.
    pub job_report: Location,
    /// True when the target already holds (part of) exactly this restore: a re-run.
    pub resumed: bool,
    /// True when nothing was written.
    pub dry_run: bool,
    /// List-price estimate of the copy in USD (job + objects + COPY requests, us-east-1).
    pub estimated_cost_usd: f64,
}

/// plan-restore's errorTypes.
#[derive(Debug, thiserror::Error, kit::strum::IntoStaticStr, kit::strum::VariantNames)]
#[strum(crate = "kit::strum")]
pub enum PlanRestoreError {
    /// The event breaks the contract (including a target prefix that cannot hold this table).
    #[error(transparent)]
    InvalidInput(#[from] InvalidInput),
    /// The snapshot bucket does not exist.
    #[error(
        "the snapshot bucket s3://{bucket} does not exist; `lakevault snapshots` lists the ones \
         there are"
    )]
    SnapshotNotFound {
        /// The bucket.
        bucket: String,
    },
    /// The snapshot holds no Delta table at that root.
    #[error(
        "s3://{bucket}/{root} is not a Delta table (no _delta_log/); the snapshot's tables: {tables}"
    )]
    TableNotFound {
        /// The snapshot bucket.
        bucket: String,
        /// The root asked for.
        root: String,
        /// The tables found, for the message.
        tables: String,
    },
    /// The version asked for cannot be rebuilt from the snapshot.
    #[error("version {version} of {root} cannot be restored from s3://{bucket}: {why}. {nearest}")]
    VersionNotRestorable {
        /// The snapshot bucket.
        bucket: String,
        /// The table.
        root: String,
        /// The version asked for (or chosen by the rule).
        version: String,
        /// Why not.
        why: String,
        /// The nearest restorable versions, as a sentence.
        nearest: String,
    },
    /// The target bucket does not exist (a restore writes into a bucket, it does not make one).
    #[error("the target bucket s3://{bucket} does not exist; create it (empty), then run again")]
    TargetNotFound {
        /// The bucket.
        bucket: String,
    },
    /// The target prefix holds objects that are not this restore's: nothing was written.
    #[error(
        "s3://{bucket}/{prefix} is not empty ({found}): a restore never writes over anything. \
         Choose an empty prefix or bucket"
    )]
    TargetNotEmpty {
        /// The target bucket.
        bucket: String,
        /// The target prefix.
        prefix: String,
        /// Some of what is there.
        found: String,
    },
    /// Throttling, 5xx, timeouts, dropped connections: retry.
    #[error(transparent)]
    Transient(#[from] Transient),
    /// The step's role may not read the snapshot, list the target or write the plan.
    #[error(transparent)]
    AccessDenied(#[from] AccessDenied),
    /// S3 answered with an error this step does not expect.
    #[error("{0}; check the snapshot, target and report buckets")]
    ServiceError(ServiceFailure),
    /// The Delta reader's S3 store could not be set up (credentials, endpoint).
    #[error("the Delta reader's S3 store could not be set up: {0}")]
    StoreError(String),
}

kit::step_error!(PlanRestoreError, service => ServiceError);

impl From<VerifyError> for PlanRestoreError {
    fn from(e: VerifyError) -> Self {
        match e {
            VerifyError::InvalidInput(i) => Self::InvalidInput(i),
            VerifyError::SnapshotNotFound { bucket } => Self::SnapshotNotFound { bucket },
            VerifyError::Transient(t) => Self::Transient(t),
            VerifyError::AccessDenied(a) => Self::AccessDenied(a),
            VerifyError::ServiceError(s) => Self::ServiceError(s),
            VerifyError::StoreError(s) => Self::StoreError(s),
        }
    }
}

/// The step: the verifier (its S3 client and Delta reader), built once.
pub struct PlanRestore {
    verifier: VerifySnapshot,
    s3: aws_sdk_s3::Client,
}

impl PlanRestore {
    /// From the environment (region, credentials, endpoints).
    pub async fn from_env() -> Result<Self, kit::clients::ConfigError> {
        let conf = kit::clients::load_sdk_config().await?;
        Ok(Self {
            verifier: VerifySnapshot::from_env().await?,
            s3: kit::clients::s3(&conf),
        })
    }

    /// Around an SDK config (tests pass one pointing at moto).
    pub fn new(conf: &aws_config::SdkConfig) -> Self {
        Self {
            verifier: VerifySnapshot::new(conf),
            s3: kit::clients::s3(conf),
        }
    }
}

/// `<prefix>/restore-<id>` (or `restore-<id>` for an empty prefix).
pub fn restore_base(prefix: &str, restore_id: &str) -> String {
    kit::record::under_prefix(prefix, &format!("restore-{restore_id}"))
}

/// The checked, normalised input.
struct Checked {
    table: String,
    target_prefix: String,
    target_key_prefix: Option<String>,
    source_bucket: String,
    backup_date: Day,
}

fn check(input: &Input) -> Result<Checked, InvalidInput> {
    validate::check_bucket("$.snapshot_bucket", &input.snapshot_bucket)?;
    validate::check_bucket("$.target.bucket", &input.target.bucket)?;
    validate::check_bucket("$.report.bucket", &input.report.bucket)?;
    validate::check_key_prefix("$.report.prefix", &input.report.prefix)?;
    let (source, day) = name::split_snapshot_name(&input.snapshot_bucket).ok_or_else(|| {
        InvalidInput::new(
            "$.snapshot_bucket",
            format!(
                "{} is not a snapshot bucket's name (<source-bucket>-<dd-mmm-yyyy>, e.g. \
                 lake-prod-31-mar-2021)",
                quote(&input.snapshot_bucket)
            ),
        )
    })?;
    if input.target.bucket == input.snapshot_bucket || input.target.bucket == input.report.bucket {
        return Err(InvalidInput::new(
            "$.target.bucket",
            "a restore never writes into the snapshot or report bucket: give another bucket",
        ));
    }
    let table = paths::normalise_root("$.table", &input.table)?;
    let target_prefix = paths::normalise_root("$.target.prefix", &input.target.prefix)?;
    let target_key_prefix = paths::target_key_prefix(&table, &target_prefix)?;
    Ok(Checked {
        table,
        target_prefix,
        target_key_prefix,
        source_bucket: source.to_owned(),
        backup_date: day,
    })
}

impl Step for PlanRestore {
    const NAME: &'static str = "plan-restore";
    type Input = Input;
    type Output = Output;
    type Error = PlanRestoreError;

    async fn handle(&self, input: Input) -> Result<Output, PlanRestoreError> {
        let c = check(&input)?;
        let snapshot = self
            .verifier
            .open(&input.snapshot_bucket, Some(c.backup_date))
            .await?;
        if !snapshot.is_table(&c.table).await? {
            let tables = snapshot.tables().await?;
            return Err(PlanRestoreError::TableNotFound {
                bucket: input.snapshot_bucket.clone(),
                root: c.table.clone(),
                tables: if tables.is_empty() {
                    "none".to_owned()
                } else {
                    tables
                        .iter()
                        .take(10)
                        .map(|t| if t.is_empty() { "(root)" } else { t.as_str() })
                        .collect::<Vec<_>>()
                        .join(", ")
                },
            });
        }
        let (contents, chosen_by) =
            version::resolve(&snapshot, &input.snapshot_bucket, &c.table, &input.version).await?;
        let restore_id = manifest::restore_id(
            &input.snapshot_bucket,
            &c.table,
            contents.version,
            &input.target.bucket,
            &c.target_prefix,
        );
        let base = restore_base(&input.report.prefix, &restore_id);
        let plan_ref = ObjectRef {
            bucket: input.report.bucket.clone(),
            key: format!("{base}/plan.json"),
        };
        let record = PlanRecord::new(
            &restore_id,
            &input.snapshot_bucket,
            &c.table,
            &input.target.bucket,
            &c.target_prefix,
            &contents,
        );
        let resumed = target::check_empty(
            &self.s3,
            &input.target.bucket,
            &c.target_prefix,
            &record,
            &plan_ref,
        )
        .await?;
        let csv = manifest::manifest_csv(&input.snapshot_bucket, &contents);
        let manifest_key = format!("{base}/manifest.csv");
        let etag = if input.dry_run {
            manifest::md5_hex(&csv)
        } else {
            // The manifest first, the plan last: a plan record means a whole plan.
            let etag = self
                .put(&input.report.bucket, &manifest_key, csv, "text/csv")
                .await?;
            self.put(
                &plan_ref.bucket,
                &plan_ref.key,
                record.to_bytes(),
                "application/json",
            )
            .await?;
            etag
        };
        let objects = contents.object_count() as u64;
        let out = Output {
            restore_id,
            snapshot_bucket: input.snapshot_bucket.clone(),
            source_bucket: c.source_bucket,
            backup_date: c.backup_date,
            table: c.table,
            version: contents.version,
            chosen_by,
            checkpoint_version: contents.checkpoint_version,
            objects,
            bytes: contents.bytes(),
            log_objects: contents.log.len() as u64,
            data_files: contents.data.len() as u64,
            deletion_vectors: contents.deletion_vectors.len() as u64,
            table_url: format!("s3://{}/{}", input.target.bucket, c.target_prefix),
            target: Location {
                bucket: input.target.bucket.clone(),
                prefix: c.target_prefix,
            },
            target_key_prefix: c.target_key_prefix,
            manifest: ManifestOut {
                arn: format!("arn:aws:s3:::{}/{manifest_key}", input.report.bucket),
                bucket: input.report.bucket.clone(),
                key: manifest_key,
                etag,
                format: MANIFEST_FORMAT.to_owned(),
            },
            plan: plan_ref,
            job_report: Location {
                bucket: input.report.bucket.clone(),
                prefix: base,
            },
            resumed,
            dry_run: input.dry_run,
            estimated_cost_usd: manifest::estimated_cost_usd(objects),
        };
        tracing::info!(
            restore_id = %out.restore_id,
            snapshot = %out.snapshot_bucket,
            table = %out.table,
            version = out.version,
            objects = out.objects,
            bytes = out.bytes,
            resumed = out.resumed,
            dry_run = out.dry_run,
            "restore planned"
        );
        Ok(out)
    }
}

impl PlanRestore {
    /// Puts an object; returns its ETag without quotes.
    async fn put(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<String, PlanRestoreError> {
        let out = self
            .s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| PlanRestoreError::from(kit::classify("PutObject", e)))?;
        Ok(out.e_tag().unwrap_or_default().trim_matches('"').to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kit::StepError;

    #[test]
    fn error_types_are_variant_names() {
        assert_eq!(
            PlanRestoreError::error_types(),
            [
                "InvalidInput",
                "SnapshotNotFound",
                "TableNotFound",
                "VersionNotRestorable",
                "TargetNotFound",
                "TargetNotEmpty",
                "Transient",
                "AccessDenied",
                "ServiceError",
                "StoreError"
            ]
        );
    }

    #[test]
    fn plans_live_under_the_report_prefix() {
        assert_eq!(restore_base("reports/", "ab"), "reports/restore-ab");
        assert_eq!(restore_base("", "ab"), "restore-ab");
    }
}
