#![doc = include_str!("../README.md")]

mod compare;

use kit::record::ObjectRef;
use kit::validate::{self, quote};
use kit::{AccessDenied, AwsFailure, InvalidInput, ServiceFailure, Step, Transient};
use plan_restore::{Location, PlanRecord};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use verify_snapshot::{VerifyError, VerifySnapshot, VersionState};

pub use crate::compare::MAX_DIFFERENCES;

/// The largest plan read (a million files is about 100 MiB of JSON).
pub const MAX_PLAN_BYTES: u64 = 512 * 1024 * 1024;

/// The verify-restore event.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct Input {
    /// The restore (plan-restore's `restore_id`).
    pub restore_id: String,
    /// Its plan record (plan-restore's `plan`).
    pub plan: ObjectRef,
    /// The restored table's bucket and root (plan-restore's `target`).
    pub target: Location,
    /// The version restored: must be the restored table's latest.
    pub version: u64,
}

/// The restored table, proven.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Output {
    /// The restore.
    pub restore_id: String,
    /// `s3://<bucket>/<prefix>`: open it with any Delta reader.
    pub table_url: String,
    /// Its latest version (the one restored).
    pub version: u64,
    /// Live data files of that version.
    pub files: u64,
    /// Objects under the table's root (log, data, deletion vectors).
    pub objects: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Always `restored`: anything else is an error.
    pub verdict: String,
}

/// verify-restore's errorTypes.
#[derive(Debug, thiserror::Error, kit::strum::IntoStaticStr, kit::strum::VariantNames)]
#[strum(crate = "kit::strum")]
pub enum VerifyRestoreError {
    /// The event breaks the contract, or does not match its plan.
    #[error(transparent)]
    InvalidInput(#[from] InvalidInput),
    /// The plan record is not where the event says.
    #[error(
        "no plan at s3://{bucket}/{key}: plan-restore writes it before the copy; run the restore \
         from the start"
    )]
    PlanNotFound {
        /// Its bucket.
        bucket: String,
        /// Its key.
        key: String,
    },
    /// The restored table is not the plan's: the differences are named.
    #[error(
        "the restored table s3://{bucket}/{prefix} is not what was planned ({count} difference(s)): {}. \
         Nothing was changed; inspect the target and the copy job's report, then restore into an \
         empty prefix again",
        differences.join("; ")
    )]
    RestoreMismatch {
        /// Target bucket.
        bucket: String,
        /// Target prefix.
        prefix: String,
        /// How many differences.
        count: usize,
        /// Up to [`MAX_DIFFERENCES`] of them.
        differences: Vec<String>,
    },
    /// Throttling, 5xx, timeouts, dropped connections: retry.
    #[error(transparent)]
    Transient(#[from] Transient),
    /// The step's role may not read the target or the plan.
    #[error(transparent)]
    AccessDenied(#[from] AccessDenied),
    /// S3 answered with an error this step does not expect.
    #[error("{0}; check the target and report buckets")]
    ServiceError(ServiceFailure),
    /// The Delta reader's S3 store could not be set up (credentials, endpoint).
    #[error("the Delta reader's S3 store could not be set up: {0}")]
    StoreError(String),
}

kit::step_error!(VerifyRestoreError, service => ServiceError);

impl VerifyRestoreError {
    fn mismatch(input: &Input, differences: Vec<String>, count: usize) -> Self {
        Self::RestoreMismatch {
            bucket: input.target.bucket.clone(),
            prefix: input.target.prefix.clone(),
            count,
            differences,
        }
    }

    fn from_reader(e: VerifyError, input: &Input) -> Self {
        match e {
            VerifyError::InvalidInput(i) => Self::InvalidInput(i),
            VerifyError::SnapshotNotFound { bucket } => Self::mismatch(
                input,
                vec![format!("the target bucket {bucket} does not exist")],
                1,
            ),
            VerifyError::Transient(t) => Self::Transient(t),
            VerifyError::AccessDenied(a) => Self::AccessDenied(a),
            VerifyError::ServiceError(s) => Self::ServiceError(s),
            VerifyError::StoreError(s) => Self::StoreError(s),
        }
    }
}

/// The step: the verifier (S3 client and Delta reader), built once.
pub struct VerifyRestore {
    verifier: VerifySnapshot,
    s3: aws_sdk_s3::Client,
}

impl VerifyRestore {
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

    async fn read_plan(&self, plan: &ObjectRef) -> Result<PlanRecord, VerifyRestoreError> {
        let out = match self
            .s3
            .get_object()
            .bucket(&plan.bucket)
            .key(&plan.key)
            .send()
            .await
        {
            Ok(o) => o,
            Err(e) => {
                return Err(match kit::classify("GetObject", e) {
                    AwsFailure::Service(s) if s.is("NoSuchKey") || s.is("NoSuchBucket") => {
                        VerifyRestoreError::PlanNotFound {
                            bucket: plan.bucket.clone(),
                            key: plan.key.clone(),
                        }
                    }
                    other => other.into(),
                });
            }
        };
        let len = out.content_length();
        let deadline = kit::clients::body_deadline(self.s3.config().timeout_config());
        let bytes = kit::body::read_capped(out.body, len, MAX_PLAN_BYTES, deadline)
            .await
            .map_err(|e| {
                VerifyRestoreError::Transient(Transient {
                    operation: "GetObject (plan)".to_owned(),
                    detail: e.to_string(),
                })
            })?;
        serde_json::from_slice(&bytes).map_err(|e| {
            VerifyRestoreError::InvalidInput(InvalidInput::new(
                "$.plan",
                format!(
                    "s3://{}/{} is not a plan-restore plan: {e}",
                    plan.bucket, plan.key
                ),
            ))
        })
    }
}

fn check(input: &Input) -> Result<(), InvalidInput> {
    validate::check_bucket("$.target.bucket", &input.target.bucket)?;
    validate::check_bucket("$.plan.bucket", &input.plan.bucket)?;
    validate::check_key_prefix("$.target.prefix", &input.target.prefix)?;
    let id_ok = input.restore_id.len() == 16
        && input
            .restore_id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
    if !id_ok {
        return Err(InvalidInput::new(
            "$.restore_id",
            format!(
                "{} is not a restore id (16 lowercase hex digits, plan-restore's restore_id)",
                quote(&input.restore_id)
            ),
        ));
    }
    if input.plan.key.is_empty() {
        return Err(InvalidInput::new("$.plan.key", "the plan's key is empty"));
    }
    Ok(())
}

/// The plan must be this event's: the same restore, version and target.
fn check_plan(input: &Input, plan: &PlanRecord) -> Result<(), InvalidInput> {
    let mut wrong = Vec::new();
    if plan.restore_id != input.restore_id {
        wrong.push(format!("restore_id {}", quote(&plan.restore_id)));
    }
    if plan.version != input.version {
        wrong.push(format!("version {}", plan.version));
    }
    if plan.target_bucket != input.target.bucket || plan.target_prefix != input.target.prefix {
        wrong.push(format!(
            "target s3://{}/{}",
            plan.target_bucket, plan.target_prefix
        ));
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(InvalidInput::new(
            "$.plan",
            format!(
                "the plan at s3://{}/{} is another restore's ({}): pass plan-restore's output as it is",
                input.plan.bucket,
                input.plan.key,
                wrong.join(", ")
            ),
        ))
    }
}

impl Step for VerifyRestore {
    const NAME: &'static str = "verify-restore";
    type Input = Input;
    type Output = Output;
    type Error = VerifyRestoreError;

    async fn handle(&self, input: Input) -> Result<Output, VerifyRestoreError> {
        check(&input)?;
        let plan = self.read_plan(&input.plan).await?;
        check_plan(&input, &plan)?;
        let root = input.target.prefix.as_str();
        let reader = |e| VerifyRestoreError::from_reader(e, &input);
        let target = self
            .verifier
            .open(&input.target.bucket, None)
            .await
            .map_err(reader)?;
        // What is there: every object under the root, with its size.
        let present = target.list(root).await.map_err(reader)?;
        let mut diffs = compare::Differences::default();
        compare::objects(&plan, root, &present, &mut diffs);
        // What Delta's reference reader makes of it: the latest version must be the planned one
        // and its files the plan's.
        let bounds = target.bounds(root).await.map_err(reader)?;
        if bounds.latest != Some(input.version) {
            diffs.push(match bounds.latest {
                Some(l) => format!(
                    "the restored table's latest version is {l}, not {}",
                    input.version
                ),
                None => "the target holds no Delta log".to_owned(),
            });
        }
        let mut files = 0u64;
        match target.version(root, input.version).await.map_err(reader)? {
            VersionState::Restorable(c) => {
                files = c.data.len() as u64;
                compare::version(&plan, root, &c, &mut diffs);
            }
            VersionState::NotRestorable(why) => diffs.push(format!(
                "version {} does not open in the target: {why}",
                input.version
            )),
        }
        if !diffs.is_empty() {
            let (count, list) = diffs.into_parts();
            tracing::warn!(restore_id = %input.restore_id, count, "restore mismatch");
            return Err(VerifyRestoreError::mismatch(&input, list, count));
        }
        let out = Output {
            restore_id: input.restore_id.clone(),
            table_url: format!("s3://{}/{}", input.target.bucket, root),
            version: input.version,
            files,
            objects: present.len() as u64,
            bytes: present.values().sum(),
            verdict: "restored".to_owned(),
        };
        tracing::info!(restore_id = %out.restore_id, table = %out.table_url, version = out.version, objects = out.objects, "restore verified");
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kit::StepError;

    #[test]
    fn error_types_are_variant_names() {
        assert_eq!(
            VerifyRestoreError::error_types(),
            [
                "InvalidInput",
                "PlanNotFound",
                "RestoreMismatch",
                "Transient",
                "AccessDenied",
                "ServiceError",
                "StoreError"
            ]
        );
    }
}
