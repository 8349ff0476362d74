//! create-bucket: the dated snapshot bucket of one backup, locked down, created exactly once.
//!
//! The step is a convergence loop run once: work out the desired bucket (name, region, settings)
//! from the input alone, read what exists, refuse a bucket that belongs to someone or something
//! else before changing anything, apply only the settings that differ — the bucket policy last,
//! since it refuses later changes — and read everything back to verify. A re-run with the same
//! input therefore changes nothing; a run that died half-way is finished by the next.

pub mod naming;
pub mod policy;

use std::collections::BTreeMap;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::Region;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::types::{
    BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration, DefaultRetention,
    ObjectLockConfiguration, ObjectLockEnabled, ObjectLockRetentionMode, ObjectLockRule,
    ObjectOwnership, OwnershipControls, OwnershipControlsRule, PublicAccessBlockConfiguration,
    ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
    ServerSideEncryptionRule, Tag, Tagging, VersioningConfiguration,
};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use kit::{AccessDenied, AwsFailure, Day, InvalidInput, ServiceFailure, Transient};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Tag naming the source bucket a snapshot bucket belongs to.
pub const TAG_SOURCE: &str = "source-bucket";
/// Tag naming the backup date (`YYYY-MM-DD`).
pub const TAG_DATE: &str = "backup-date";
/// Tag naming the tool that made the bucket.
pub const TAG_TOOL: &str = "tool";
/// Value of [`TAG_TOOL`].
pub const TOOL: &str = "lakevault";
/// Longest accepted default retention: 100 years. Anything longer is a typo, and a COMPLIANCE
/// retention cannot be shortened by anyone.
pub const MAX_RETENTION_DAYS: u32 = 36_500;
/// Most break-glass roles accepted (keeps the policy far below its 20 KB limit).
pub const MAX_BREAK_GLASS_ROLES: usize = 20;

/// Object Lock retention mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum RetentionMode {
    /// Users with `s3:BypassGovernanceRetention` (here: only the break-glass roles) can shorten it.
    Governance,
    /// Nobody, not even the root user, can shorten it or delete a locked version before it ends.
    Compliance,
}

impl RetentionMode {
    fn as_s3(self) -> ObjectLockRetentionMode {
        match self {
            RetentionMode::Governance => ObjectLockRetentionMode::Governance,
            RetentionMode::Compliance => ObjectLockRetentionMode::Compliance,
        }
    }
}

/// Default Object Lock retention applied to every new object version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Retention {
    /// `GOVERNANCE` or `COMPLIANCE`.
    pub mode: RetentionMode,
    /// Retention period in days, 1 to 36500.
    pub days: u32,
}

/// The event: which backup the bucket is for, and how to lock it down.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct CreateBucketInput {
    /// Name of the source bucket being backed up, e.g. `lake-prod`.
    pub source_bucket: String,
    /// The backup date, `YYYY-MM-DD`; it names the bucket (`lake-prod-31-mar-2021`).
    pub backup_date: Day,
    /// Optional prefix for the bucket name (bucket names are global): 1-30 lowercase letters,
    /// digits and hyphens. Empty means none.
    #[serde(default)]
    pub bucket_prefix: Option<String>,
    /// Region to create the bucket in, e.g. `eu-west-1`; default: the step's configured region.
    #[serde(default)]
    pub region: Option<String>,
    /// ARN of the KMS key for default encryption (SSE-KMS with an S3 bucket key), in the bucket's
    /// region. Without it the bucket uses SSE-S3 (AES256).
    #[serde(default)]
    pub kms_key_arn: Option<String>,
    /// Default Object Lock retention; none when absent (Object Lock is still enabled).
    #[serde(default)]
    pub retention: Option<Retention>,
    /// ARNs of the IAM roles exempt from the bucket policy's denials (deletion, policy changes):
    /// at least one, exact role ARNs without wildcards.
    pub break_glass_role_arns: Vec<String>,
}

/// One of the settings the step manages, in the order it applies them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Setting {
    /// The bucket's tags (source bucket, backup date, tool).
    Tags,
    /// Block Public Access, all four settings.
    PublicAccessBlock,
    /// Object ownership `BucketOwnerEnforced` (ACLs disabled).
    ObjectOwnership,
    /// Default encryption.
    Encryption,
    /// Versioning `Enabled`.
    Versioning,
    /// Object Lock enabled, with the default retention if configured.
    ObjectLock,
    /// The lock-down bucket policy (always last: it refuses later changes).
    Policy,
}

const ALL_SETTINGS: [Setting; 7] = [
    Setting::Tags,
    Setting::PublicAccessBlock,
    Setting::ObjectOwnership,
    Setting::Encryption,
    Setting::Versioning,
    Setting::ObjectLock,
    Setting::Policy,
];

/// Block Public Access settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
pub struct BlockPublicAccess {
    /// Public ACLs are refused.
    pub block_public_acls: bool,
    /// Public ACLs are ignored.
    pub ignore_public_acls: bool,
    /// Public bucket policies are refused.
    pub block_public_policy: bool,
    /// Access through a public policy is restricted to AWS principals of the account.
    pub restrict_public_buckets: bool,
}

/// Default encryption.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Encryption {
    /// `aws:kms` (SSE-KMS) or `AES256` (SSE-S3).
    pub sse_algorithm: String,
    /// The KMS key, for SSE-KMS.
    pub kms_key_arn: Option<String>,
    /// Whether an S3 bucket key is used (SSE-KMS only: fewer KMS requests).
    pub bucket_key_enabled: bool,
}

/// Object Lock state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ObjectLock {
    /// Object Lock is enabled (it was enabled at creation).
    pub enabled: bool,
    /// The default retention, if any.
    pub default_retention: Option<Retention>,
}

/// The settings of the snapshot bucket, as applied and verified.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Settings {
    /// Block Public Access.
    pub block_public_access: BlockPublicAccess,
    /// Object ownership, `BucketOwnerEnforced`.
    pub object_ownership: String,
    /// Default encryption.
    pub encryption: Encryption,
    /// Versioning status, `Enabled`.
    pub versioning: String,
    /// Object Lock.
    pub object_lock: ObjectLock,
    /// The tags lakevault sets (other tags on the bucket are kept).
    pub tags: BTreeMap<String, String>,
    /// The roles exempt from the policy's denials, sorted.
    pub break_glass_role_arns: Vec<String>,
    /// The bucket policy document.
    pub policy: Value,
}

/// The snapshot bucket, ready for the copy job.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CreateBucketOutput {
    /// Bucket name.
    pub bucket: String,
    /// Bucket ARN, `arn:aws:s3:::<bucket>`.
    pub arn: String,
    /// Region the bucket is in.
    pub region: String,
    /// True when this run created the bucket; false when it existed already (a re-run, or an
    /// earlier attempt that was finished now).
    pub created: bool,
    /// Settings this run had to apply, in order; empty when the bucket was already complete.
    pub changed: Vec<Setting>,
    /// The settings, as applied and verified by reading them back.
    pub settings: Settings,
}

/// Everything create-bucket can fail with; variant names are the errorTypes.
#[derive(Debug, thiserror::Error, kit::strum::IntoStaticStr, kit::strum::VariantNames)]
#[strum(crate = "kit::strum")]
pub enum CreateBucketError {
    /// The event breaks the contract (bad name, date, region, key, role or retention).
    #[error(transparent)]
    InvalidInput(#[from] InvalidInput),
    /// Throttling, a 5xx, a timeout: retry.
    #[error(transparent)]
    Transient(#[from] Transient),
    /// IAM or the bucket policy refused a call. After the lock-down, changing a setting that
    /// differs from the input is refused to all but the break-glass roles.
    #[error(transparent)]
    AccessDenied(#[from] AccessDenied),
    /// The name is taken by another account, or the bucket of that name is not this backup's
    /// (its tags name another source or date, it is untagged and not empty, or it is in another
    /// region). Nothing was changed.
    #[error(
        "bucket {bucket} cannot be this backup's snapshot bucket: {reason}; nothing was changed (use bucket_prefix for another name, or remove the stray bucket)"
    )]
    BucketConflict {
        /// The bucket name.
        bucket: String,
        /// Why it is not ours.
        reason: String,
    },
    /// A setting read back after applying it differs from what was applied.
    #[error(
        "bucket {bucket}: {settings} did not take effect (read back: {detail}); check for a concurrent change or an SCP, then retry"
    )]
    VerificationFailed {
        /// The bucket name.
        bucket: String,
        /// The settings that differ.
        settings: String,
        /// What was read back.
        detail: String,
    },
    /// S3 answered with an error this step does not expect.
    #[error("{0}; the bucket is left as is, a retry resumes where this run stopped")]
    ServiceError(ServiceFailure),
}

kit::step_error!(CreateBucketError, service => ServiceError);

type SdkResult<T, E> = Result<T, SdkError<E, aws_sdk_s3::config::http::HttpResponse>>;

/// `Ok(None)` when the call failed with `absent_code` (the setting does not exist yet).
fn absent_if<T, E>(
    op: &str,
    res: SdkResult<T, E>,
    absent_code: &str,
) -> Result<Option<T>, CreateBucketError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match res {
        Ok(v) => Ok(Some(v)),
        Err(e) => match kit::classify(op, e) {
            AwsFailure::Service(s) if s.is(absent_code) => Ok(None),
            other => Err(other.into()),
        },
    }
}

fn call<T, E>(op: &str, res: SdkResult<T, E>) -> Result<T, CreateBucketError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    res.map_err(|e| kit::classify(op, e).into())
}

fn build_err(what: &str, e: impl std::fmt::Display) -> CreateBucketError {
    // Builders only fail on a missing required field, which this code always sets.
    CreateBucketError::ServiceError(ServiceFailure {
        operation: what.to_owned(),
        code: None,
        status: None,
        message: format!("request could not be built: {e}"),
    })
}

/// The versioning status of `bucket`: `Enabled`, `Suspended`, or `None` when never enabled.
pub async fn versioning_status(
    s3: &Client,
    bucket: &str,
) -> Result<Option<String>, CreateBucketError> {
    match s3.get_bucket_versioning().bucket(bucket).send().await {
        Ok(v) => Ok(v.status().map(|s| s.as_str().to_owned())),
        // moto 5.2 names the document's root `GetBucketVersioningResponse` instead of
        // `VersioningConfiguration`; the SDK refuses it although the content is right. Read the
        // one element that matters from a successful response the SDK could not parse.
        Err(SdkError::ServiceError(se)) if se.raw().status().is_success() => {
            let body = se.raw().body().bytes().map(String::from_utf8_lossy);
            match body {
                Some(xml) if xml.contains("<?xml") || xml.contains('<') => {
                    Ok(xml_text(&xml, "Status"))
                }
                _ => Err(kit::classify("GetBucketVersioning", SdkError::ServiceError(se)).into()),
            }
        }
        Err(e) => Err(kit::classify("GetBucketVersioning", e).into()),
    }
}

/// The text of the first `<name>…</name>` element, if any.
fn xml_text(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let len = xml[start..].find(&format!("</{name}>"))?;
    Some(xml[start..start + len].trim().to_owned()).filter(|s| !s.is_empty())
}

/// The bucket this input asks for, worked out from the input alone.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Bucket name.
    pub bucket: String,
    /// Region.
    pub region: String,
    /// Bucket ARN.
    pub arn: String,
    /// Source bucket (as given).
    pub source_bucket: String,
    /// Backup date.
    pub backup_date: Day,
    /// Desired settings.
    pub settings: Settings,
}

/// The AWS partition of a region.
pub fn partition_of(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

fn check_region(region: &str, path: &str) -> Result<(), InvalidInput> {
    // e.g. us-east-1, us-gov-west-1, ap-southeast-5: letters, hyphen-separated, then a number.
    let parts: Vec<&str> = region.split('-').collect();
    let ok = parts.len() >= 3
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[0].len() == 2
        && parts
            .last()
            .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if ok {
        Ok(())
    } else {
        Err(InvalidInput::new(
            path,
            format!("{region:?} is not an AWS region name such as \"us-east-1\""),
        ))
    }
}

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

fn check_kms_key_arn(arn: &str, region: &str) -> Result<(), InvalidInput> {
    let bad = |why: String| InvalidInput::new("$.kms_key_arn", why);
    let expected = "arn:<partition>:kms:<region>:<account>:key/<key-id>";
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [a, part, svc, key_region, account, resource] = parts.as_slice() else {
        return Err(bad(format!("{arn:?} is not a KMS key ARN ({expected})")));
    };
    if *a != "arn" || *svc != "kms" || !is_account_id(account) {
        return Err(bad(format!("{arn:?} is not a KMS key ARN ({expected})")));
    }
    if resource.starts_with("alias/") {
        return Err(bad(format!(
            "{arn:?} is an alias; give the key's ARN ({expected}): S3 resolves aliases in the caller's account"
        )));
    }
    let id_ok = resource.strip_prefix("key/").is_some_and(|id| {
        !id.is_empty()
            && id.len() <= 64
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    if !id_ok {
        return Err(bad(format!("{arn:?} is not a KMS key ARN ({expected})")));
    }
    if *key_region != region || *part != partition_of(region) {
        return Err(bad(format!(
            "the key {arn:?} is not in the bucket's region {region}; S3 needs a key in the same region"
        )));
    }
    Ok(())
}

fn check_role_arn(arn: &str, path: &str, partition: &str) -> Result<(), InvalidInput> {
    let bad = |why: String| InvalidInput::new(path, why);
    let expected = "arn:<partition>:iam::<account>:role/[<path>/]<name>, no wildcards";
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [a, part, svc, region, account, resource] = parts.as_slice() else {
        return Err(bad(format!("{arn:?} is not an IAM role ARN ({expected})")));
    };
    let role_ok = resource.strip_prefix("role/").is_some_and(|rest| {
        let segments: Vec<&str> = rest.split('/').collect();
        rest.len() <= 576
            && segments.iter().all(|s| {
                !s.is_empty()
                    && s.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
            })
            && segments.last().is_some_and(|n| n.len() <= 64)
    });
    if *a != "arn" || *svc != "iam" || !region.is_empty() || !is_account_id(account) || !role_ok {
        return Err(bad(format!("{arn:?} is not an IAM role ARN ({expected})")));
    }
    if *part != partition {
        return Err(bad(format!(
            "{arn:?} is in partition {part}, the bucket in {partition}"
        )));
    }
    Ok(())
}

/// Works out the bucket, its region and its settings from the input; refuses bad input before
/// anything is sent to AWS. `default_region` is the client's configured region.
pub fn plan(input: &CreateBucketInput, default_region: Option<&str>) -> Result<Plan, InvalidInput> {
    let bucket = naming::snapshot_bucket_name(
        &input.source_bucket,
        input.backup_date,
        input.bucket_prefix.as_deref(),
    )?;
    let region = match input.region.as_deref().filter(|r| !r.is_empty()) {
        Some(r) => {
            check_region(r, "$.region")?;
            r.to_owned()
        }
        None => match default_region {
            Some(r) => r.to_owned(),
            None => {
                return Err(InvalidInput::new(
                    "$.region",
                    "no region given and none configured for the step (AWS_REGION); set one",
                ));
            }
        },
    };
    let partition = partition_of(&region);
    let arn = format!("arn:{partition}:s3:::{bucket}");

    let encryption = match input.kms_key_arn.as_deref() {
        Some(k) => {
            check_kms_key_arn(k, &region)?;
            Encryption {
                sse_algorithm: "aws:kms".to_owned(),
                kms_key_arn: Some(k.to_owned()),
                bucket_key_enabled: true,
            }
        }
        None => Encryption {
            sse_algorithm: "AES256".to_owned(),
            kms_key_arn: None,
            bucket_key_enabled: false,
        },
    };

    if let Some(r) = input.retention
        && !(1..=MAX_RETENTION_DAYS).contains(&r.days)
    {
        return Err(InvalidInput::new(
            "$.retention.days",
            format!(
                "{} days is not a usable retention; give 1 to {MAX_RETENTION_DAYS} days",
                r.days
            ),
        ));
    }

    let roles = &input.break_glass_role_arns;
    if roles.is_empty() || roles.len() > MAX_BREAK_GLASS_ROLES {
        return Err(InvalidInput::new(
            "$.break_glass_role_arns",
            format!(
                "{} roles given; give 1 to {MAX_BREAK_GLASS_ROLES} break-glass role ARNs (without one, nobody but the account root could ever manage the bucket)",
                roles.len()
            ),
        ));
    }
    for (i, r) in roles.iter().enumerate() {
        check_role_arn(r, &format!("$.break_glass_role_arns[{i}]"), partition)?;
    }
    // Sorted and deduplicated: the policy must not depend on the order of the input list.
    let mut roles = roles.clone();
    roles.sort();
    roles.dedup();

    let tags = BTreeMap::from([
        (TAG_SOURCE.to_owned(), input.source_bucket.clone()),
        (TAG_DATE.to_owned(), input.backup_date.to_string()),
        (TAG_TOOL.to_owned(), TOOL.to_owned()),
    ]);
    let settings = Settings {
        block_public_access: BlockPublicAccess {
            block_public_acls: true,
            ignore_public_acls: true,
            block_public_policy: true,
            restrict_public_buckets: true,
        },
        object_ownership: ObjectOwnership::BucketOwnerEnforced.as_str().to_owned(),
        encryption,
        versioning: BucketVersioningStatus::Enabled.as_str().to_owned(),
        object_lock: ObjectLock {
            enabled: true,
            default_retention: input.retention,
        },
        tags,
        policy: policy::lockdown_policy(&arn, &roles),
        break_glass_role_arns: roles,
    };
    Ok(Plan {
        bucket,
        region,
        arn,
        source_bucket: input.source_bucket.clone(),
        backup_date: input.backup_date,
        settings,
    })
}

/// Object Lock as read from S3 (the default retention may be in days or years).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObservedLock {
    /// `ObjectLockEnabled` is `Enabled`.
    pub enabled: bool,
    /// Default retention mode.
    pub mode: Option<String>,
    /// Default retention in days.
    pub days: Option<i32>,
    /// Default retention in years.
    pub years: Option<i32>,
}

/// The bucket's settings as read from S3; `None` where a setting is not configured.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// Block Public Access.
    pub public_access_block: Option<BlockPublicAccess>,
    /// Object ownership.
    pub object_ownership: Option<String>,
    /// Default encryption (SSE-S3 normalised to no key, no bucket key).
    pub encryption: Option<Encryption>,
    /// Versioning status.
    pub versioning: Option<String>,
    /// Object Lock configuration.
    pub object_lock: Option<ObservedLock>,
    /// All tags.
    pub tags: BTreeMap<String, String>,
    /// The policy, parsed (`Value::Null` if it is not JSON).
    pub policy: Option<Value>,
}

impl Observed {
    /// Whether `setting` already has its desired value.
    pub fn matches(&self, setting: Setting, want: &Settings) -> bool {
        match setting {
            Setting::Tags => want.tags.iter().all(|(k, v)| self.tags.get(k) == Some(v)),
            Setting::PublicAccessBlock => {
                self.public_access_block.as_ref() == Some(&want.block_public_access)
            }
            Setting::ObjectOwnership => {
                self.object_ownership.as_deref() == Some(want.object_ownership.as_str())
            }
            Setting::Encryption => self.encryption.as_ref() == Some(&want.encryption),
            Setting::Versioning => self.versioning.as_deref() == Some(want.versioning.as_str()),
            Setting::ObjectLock => {
                let Some(ObservedLock {
                    enabled,
                    mode,
                    days,
                    years,
                }) = &self.object_lock
                else {
                    return false;
                };
                // moto reports an unset field as 0.
                let years = years.filter(|y| *y != 0);
                let days = days.filter(|d| *d != 0);
                *enabled
                    && match want.object_lock.default_retention {
                        None => mode.is_none() && days.is_none() && years.is_none(),
                        Some(r) => {
                            mode.as_deref() == Some(r.mode.as_s3().as_str())
                                && days.and_then(|d| u32::try_from(d).ok()) == Some(r.days)
                                && years.is_none()
                        }
                    }
            }
            Setting::Policy => self
                .policy
                .as_ref()
                .is_some_and(|p| policy::normalise(p) == policy::normalise(&want.policy)),
        }
    }

    /// The settings that differ from `want`, in the order they are applied.
    pub fn differences(&self, want: &Settings) -> Vec<Setting> {
        ALL_SETTINGS
            .into_iter()
            .filter(|s| !self.matches(*s, want))
            .collect()
    }
}

/// The create-bucket step.
pub struct CreateBucket {
    s3: Client,
}

impl CreateBucket {
    /// A step using this S3 client; its region is the default bucket region.
    pub fn new(s3: Client) -> Self {
        Self { s3 }
    }

    /// Reads the AWS configuration from the environment and builds the client, once.
    pub async fn from_env() -> Result<Self, String> {
        let conf = kit::clients::load_sdk_config().await;
        if conf.region().is_none() {
            return Err("no AWS region configured; set AWS_REGION".to_owned());
        }
        Ok(Self::new(kit::clients::s3(&conf)))
    }

    /// A client whose requests go to `region` (bucket-level calls must reach the bucket's region).
    fn client_for(&self, region: &str) -> Client {
        if self.s3.config().region().map(Region::as_ref) == Some(region) {
            self.s3.clone()
        } else {
            Client::from_conf(
                self.s3
                    .config()
                    .to_builder()
                    .region(Region::new(region.to_owned()))
                    .build(),
            )
        }
    }

    /// `Some(region)` when the caller's account owns `bucket`. ListBuckets lists only the
    /// caller's own buckets, unlike HeadBucket, which also answers for another account's bucket
    /// that grants access.
    async fn owned_bucket_region(
        &self,
        s3: &Client,
        bucket: &str,
    ) -> Result<Option<String>, CreateBucketError> {
        let mut pages = self
            .s3
            .list_buckets()
            .prefix(bucket)
            .into_paginator()
            .send();
        let mut found = None;
        while let Some(page) = pages.next().await {
            let page = call("ListBuckets", page)?;
            if let Some(b) = page.buckets().iter().find(|b| b.name() == Some(bucket)) {
                found = Some(b.bucket_region().map(str::to_owned));
                break;
            }
        }
        match found {
            None => Ok(None),
            Some(Some(region)) => Ok(Some(region)),
            // Endpoints that do not report BucketRegion in ListBuckets do in HeadBucket.
            Some(None) => {
                let head = call("HeadBucket", s3.head_bucket().bucket(bucket).send().await)?;
                Ok(Some(
                    head.bucket_region()
                        .map(str::to_owned)
                        .unwrap_or_else(|| "us-east-1".to_owned()),
                ))
            }
        }
    }

    /// Creates the bucket with Object Lock (which also turns versioning on) and ACLs disabled.
    /// `Ok(true)` when created, `Ok(false)` when S3 says the caller already owns it.
    async fn create(&self, s3: &Client, plan: &Plan) -> Result<bool, CreateBucketError> {
        let mut req = s3
            .create_bucket()
            .bucket(&plan.bucket)
            .object_lock_enabled_for_bucket(true)
            .object_ownership(ObjectOwnership::BucketOwnerEnforced);
        // us-east-1 is the one region that must not be named as a location constraint.
        if plan.region != "us-east-1" {
            req = req.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(plan.region.as_str()))
                    .build(),
            );
        }
        match req.send().await {
            Ok(_) => Ok(true),
            Err(e) => match kit::classify("CreateBucket", e) {
                AwsFailure::Service(s) if s.is("BucketAlreadyOwnedByYou") => Ok(false),
                AwsFailure::Service(s) if s.is("BucketAlreadyExists") => {
                    Err(CreateBucketError::BucketConflict {
                        bucket: plan.bucket.clone(),
                        reason: "the name is owned by another AWS account".to_owned(),
                    })
                }
                other => Err(other.into()),
            },
        }
    }

    /// Reads every managed setting of `bucket`.
    async fn observe(&self, s3: &Client, bucket: &str) -> Result<Observed, CreateBucketError> {
        let (pab, own, enc, ver, lock, tags, pol) = tokio::join!(
            s3.get_public_access_block().bucket(bucket).send(),
            s3.get_bucket_ownership_controls().bucket(bucket).send(),
            s3.get_bucket_encryption().bucket(bucket).send(),
            versioning_status(s3, bucket),
            s3.get_object_lock_configuration().bucket(bucket).send(),
            s3.get_bucket_tagging().bucket(bucket).send(),
            s3.get_bucket_policy().bucket(bucket).send(),
        );
        let pab = absent_if(
            "GetPublicAccessBlock",
            pab,
            "NoSuchPublicAccessBlockConfiguration",
        )?;
        let own = absent_if(
            "GetBucketOwnershipControls",
            own,
            "OwnershipControlsNotFoundError",
        )?;
        let enc = absent_if(
            "GetBucketEncryption",
            enc,
            "ServerSideEncryptionConfigurationNotFoundError",
        )?;
        let ver = ver?;
        let lock = absent_if(
            "GetObjectLockConfiguration",
            lock,
            "ObjectLockConfigurationNotFoundError",
        )?;
        let tags = absent_if("GetBucketTagging", tags, "NoSuchTagSet")?;
        let pol = absent_if("GetBucketPolicy", pol, "NoSuchBucketPolicy")?;

        Ok(Observed {
            public_access_block: pab
                .as_ref()
                .and_then(|o| o.public_access_block_configuration())
                .map(|c| BlockPublicAccess {
                    block_public_acls: c.block_public_acls().unwrap_or(false),
                    ignore_public_acls: c.ignore_public_acls().unwrap_or(false),
                    block_public_policy: c.block_public_policy().unwrap_or(false),
                    restrict_public_buckets: c.restrict_public_buckets().unwrap_or(false),
                }),
            object_ownership: own
                .as_ref()
                .and_then(|o| o.ownership_controls())
                .and_then(|c| c.rules().first())
                .map(|r| r.object_ownership().as_str().to_owned()),
            encryption: enc
                .as_ref()
                .and_then(|o| o.server_side_encryption_configuration())
                .and_then(|c| c.rules().first())
                .and_then(|r| {
                    let d = r.apply_server_side_encryption_by_default()?;
                    let alg = d.sse_algorithm().as_str().to_owned();
                    // A bucket key means nothing for SSE-S3; compare only what matters.
                    Some(if d.sse_algorithm() == &ServerSideEncryption::Aes256 {
                        Encryption {
                            sse_algorithm: alg,
                            kms_key_arn: None,
                            bucket_key_enabled: false,
                        }
                    } else {
                        Encryption {
                            sse_algorithm: alg,
                            kms_key_arn: d.kms_master_key_id().map(str::to_owned),
                            bucket_key_enabled: r.bucket_key_enabled().unwrap_or(false),
                        }
                    })
                }),
            versioning: ver,
            object_lock: lock
                .as_ref()
                .and_then(|o| o.object_lock_configuration())
                .map(|c| {
                    let enabled = c.object_lock_enabled() == Some(&ObjectLockEnabled::Enabled);
                    let d = c.rule().and_then(|r| r.default_retention());
                    ObservedLock {
                        enabled,
                        mode: d.and_then(|d| d.mode()).map(|m| m.as_str().to_owned()),
                        days: d.and_then(|d| d.days()),
                        years: d.and_then(|d| d.years()),
                    }
                }),
            tags: tags
                .as_ref()
                .map(|t| {
                    t.tag_set()
                        .iter()
                        .map(|t| (t.key().to_owned(), t.value().to_owned()))
                        .collect()
                })
                .unwrap_or_default(),
            policy: pol
                .as_ref()
                .and_then(|p| p.policy())
                .map(|p| serde_json::from_str(p).unwrap_or(Value::Null)),
        })
    }

    /// Refuses a pre-existing bucket that is not this backup's, before anything is changed.
    async fn check_claim(
        &self,
        s3: &Client,
        plan: &Plan,
        seen: &Observed,
    ) -> Result<(), CreateBucketError> {
        let conflict = |reason: String| CreateBucketError::BucketConflict {
            bucket: plan.bucket.clone(),
            reason,
        };
        let date = plan.backup_date.to_string();
        match (seen.tags.get(TAG_SOURCE), seen.tags.get(TAG_DATE)) {
            (Some(s), Some(d)) if *s == plan.source_bucket && *d == date => Ok(()),
            (None, None) => {
                // Untagged: an earlier attempt that died right after CreateBucket — or a bucket
                // someone made by hand. Adopt it only while it holds nothing.
                let listing = call(
                    "ListObjectVersions",
                    s3.list_object_versions()
                        .bucket(&plan.bucket)
                        .max_keys(1)
                        .send()
                        .await,
                )?;
                if listing.versions().is_empty() && listing.delete_markers().is_empty() {
                    Ok(())
                } else {
                    Err(conflict(
                        "it exists without lakevault's tags and already holds objects".to_owned(),
                    ))
                }
            }
            (s, d) => Err(conflict(format!(
                "its tags say it is the backup of {} on {}, not of {} on {date}",
                s.map_or("(no source-bucket tag)", String::as_str),
                d.map_or("(no backup-date tag)", String::as_str),
                plan.source_bucket
            ))),
        }
    }

    /// Applies one setting.
    async fn apply(
        &self,
        s3: &Client,
        plan: &Plan,
        seen: &Observed,
        setting: Setting,
    ) -> Result<(), CreateBucketError> {
        let bucket = plan.bucket.as_str();
        let want = &plan.settings;
        match setting {
            Setting::Tags => {
                // PutBucketTagging replaces the whole set: keep tags others put there.
                let mut all = seen.tags.clone();
                all.extend(want.tags.clone());
                let mut tagging = Tagging::builder();
                for (k, v) in all {
                    tagging = tagging.tag_set(
                        Tag::builder()
                            .key(k)
                            .value(v)
                            .build()
                            .map_err(|e| build_err("Tag", e))?,
                    );
                }
                let tagging = tagging.build().map_err(|e| build_err("Tagging", e))?;
                call(
                    "PutBucketTagging",
                    s3.put_bucket_tagging()
                        .bucket(bucket)
                        .tagging(tagging)
                        .send()
                        .await,
                )?;
            }
            Setting::PublicAccessBlock => {
                let b = want.block_public_access;
                call(
                    "PutPublicAccessBlock",
                    s3.put_public_access_block()
                        .bucket(bucket)
                        .public_access_block_configuration(
                            PublicAccessBlockConfiguration::builder()
                                .block_public_acls(b.block_public_acls)
                                .ignore_public_acls(b.ignore_public_acls)
                                .block_public_policy(b.block_public_policy)
                                .restrict_public_buckets(b.restrict_public_buckets)
                                .build(),
                        )
                        .send()
                        .await,
                )?;
            }
            Setting::ObjectOwnership => {
                let controls = OwnershipControls::builder()
                    .rules(
                        OwnershipControlsRule::builder()
                            .object_ownership(ObjectOwnership::BucketOwnerEnforced)
                            .build()
                            .map_err(|e| build_err("OwnershipControlsRule", e))?,
                    )
                    .build()
                    .map_err(|e| build_err("OwnershipControls", e))?;
                call(
                    "PutBucketOwnershipControls",
                    s3.put_bucket_ownership_controls()
                        .bucket(bucket)
                        .ownership_controls(controls)
                        .send()
                        .await,
                )?;
            }
            Setting::Encryption => {
                let by_default = match &want.encryption.kms_key_arn {
                    Some(key) => ServerSideEncryptionByDefault::builder()
                        .sse_algorithm(ServerSideEncryption::AwsKms)
                        .kms_master_key_id(key),
                    None => ServerSideEncryptionByDefault::builder()
                        .sse_algorithm(ServerSideEncryption::Aes256),
                }
                .build()
                .map_err(|e| build_err("ServerSideEncryptionByDefault", e))?;
                let rule = ServerSideEncryptionRule::builder()
                    .apply_server_side_encryption_by_default(by_default)
                    .bucket_key_enabled(want.encryption.bucket_key_enabled)
                    .build();
                let conf = ServerSideEncryptionConfiguration::builder()
                    .rules(rule)
                    .build()
                    .map_err(|e| build_err("ServerSideEncryptionConfiguration", e))?;
                call(
                    "PutBucketEncryption",
                    s3.put_bucket_encryption()
                        .bucket(bucket)
                        .server_side_encryption_configuration(conf)
                        .send()
                        .await,
                )?;
            }
            Setting::Versioning => {
                call(
                    "PutBucketVersioning",
                    s3.put_bucket_versioning()
                        .bucket(bucket)
                        .versioning_configuration(
                            VersioningConfiguration::builder()
                                .status(BucketVersioningStatus::Enabled)
                                .build(),
                        )
                        .send()
                        .await,
                )?;
            }
            Setting::ObjectLock => {
                let mut conf = ObjectLockConfiguration::builder()
                    .object_lock_enabled(ObjectLockEnabled::Enabled);
                if let Some(r) = want.object_lock.default_retention {
                    let days = i32::try_from(r.days).unwrap_or(i32::MAX);
                    conf = conf.rule(
                        ObjectLockRule::builder()
                            .default_retention(
                                DefaultRetention::builder()
                                    .mode(r.mode.as_s3())
                                    .days(days)
                                    .build(),
                            )
                            .build(),
                    );
                }
                call(
                    "PutObjectLockConfiguration",
                    s3.put_object_lock_configuration()
                        .bucket(bucket)
                        .object_lock_configuration(conf.build())
                        .send()
                        .await,
                )?;
            }
            Setting::Policy => {
                call(
                    "PutBucketPolicy",
                    s3.put_bucket_policy()
                        .bucket(bucket)
                        .policy(want.policy.to_string())
                        .send()
                        .await,
                )?;
            }
        }
        tracing::info!(bucket, setting = ?setting, "applied");
        Ok(())
    }
}

impl kit::Step for CreateBucket {
    const NAME: &'static str = "create-bucket";
    type Input = CreateBucketInput;
    type Output = CreateBucketOutput;
    type Error = CreateBucketError;

    async fn handle(
        &self,
        input: CreateBucketInput,
    ) -> Result<CreateBucketOutput, CreateBucketError> {
        let plan = plan(&input, self.s3.config().region().map(Region::as_ref))?;
        let s3 = self.client_for(&plan.region);
        let bucket = plan.bucket.as_str();
        tracing::info!(bucket, region = %plan.region, source = %plan.source_bucket, "snapshot bucket");

        let owned_region = self.owned_bucket_region(&s3, bucket).await?;
        let created = match owned_region {
            Some(_) => false,
            None => self.create(&s3, &plan).await?,
        };
        if !created {
            let region = match owned_region {
                Some(r) => r,
                // S3 said "already owned by you" although ListBuckets did not list it yet.
                None => self
                    .owned_bucket_region(&s3, bucket)
                    .await?
                    .unwrap_or_else(|| plan.region.clone()),
            };
            if region != plan.region {
                return Err(CreateBucketError::BucketConflict {
                    bucket: plan.bucket.clone(),
                    reason: format!("it exists in {region}, not in {}", plan.region),
                });
            }
        }

        let seen = self.observe(&s3, bucket).await?;
        if !created {
            self.check_claim(&s3, &plan, &seen).await?;
        }
        let changed = seen.differences(&plan.settings);
        for setting in &changed {
            self.apply(&s3, &plan, &seen, *setting).await?;
        }
        if !changed.is_empty() {
            let after = self.observe(&s3, bucket).await?;
            let left = after.differences(&plan.settings);
            if !left.is_empty() {
                return Err(CreateBucketError::VerificationFailed {
                    bucket: plan.bucket.clone(),
                    settings: format!("{left:?}"),
                    detail: format!("{after:?}"),
                });
            }
        }
        tracing::info!(bucket, created, changed = ?changed, "snapshot bucket ready");
        Ok(CreateBucketOutput {
            bucket: plan.bucket,
            arn: plan.arn,
            region: plan.region,
            created,
            changed,
            settings: plan.settings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kit::StepError;

    fn input() -> CreateBucketInput {
        serde_json::from_value(serde_json::json!({
            "source_bucket": "lake-prod",
            "backup_date": "2021-03-31",
            "break_glass_role_arns": ["arn:aws:iam::123456789012:role/break-glass"]
        }))
        .unwrap()
    }

    #[test]
    fn plan_defaults() {
        let p = plan(&input(), Some("us-east-1")).unwrap();
        assert_eq!(p.bucket, "lake-prod-31-mar-2021");
        assert_eq!(p.arn, "arn:aws:s3:::lake-prod-31-mar-2021");
        assert_eq!(p.region, "us-east-1");
        assert_eq!(p.settings.encryption.sse_algorithm, "AES256");
        assert_eq!(p.settings.tags[TAG_DATE], "2021-03-31");
        assert_eq!(p.settings.tags[TAG_TOOL], "lakevault");
    }

    #[test]
    fn plan_is_independent_of_role_order() {
        let mut a = input();
        a.break_glass_role_arns = vec![
            "arn:aws:iam::123456789012:role/b".into(),
            "arn:aws:iam::123456789012:role/a".into(),
            "arn:aws:iam::123456789012:role/a".into(),
        ];
        let mut b = input();
        b.break_glass_role_arns = vec![
            "arn:aws:iam::123456789012:role/a".into(),
            "arn:aws:iam::123456789012:role/b".into(),
        ];
        assert_eq!(
            plan(&a, Some("us-east-1")).unwrap().settings,
            plan(&b, Some("us-east-1")).unwrap().settings
        );
    }

    #[test]
    fn partitions() {
        let mut i = input();
        i.region = Some("cn-north-1".into());
        i.break_glass_role_arns = vec!["arn:aws-cn:iam::123456789012:role/x".into()];
        assert_eq!(
            plan(&i, None).unwrap().arn,
            "arn:aws-cn:s3:::lake-prod-31-mar-2021"
        );
        i.break_glass_role_arns = vec!["arn:aws:iam::123456789012:role/x".into()];
        assert_eq!(
            plan(&i, None).unwrap_err().path,
            "$.break_glass_role_arns[0]"
        );
    }

    #[test]
    fn validation_paths() {
        type Mutation = Box<dyn Fn(&mut CreateBucketInput)>;
        let cases: Vec<(&str, Mutation)> = vec![
            ("$.region", Box::new(|i| i.region = Some("mars".into()))),
            (
                "$.region",
                Box::new(|i| i.region = Some("US-EAST-1".into())),
            ),
            (
                "$.kms_key_arn",
                Box::new(|i| i.kms_key_arn = Some("key".into())),
            ),
            (
                "$.kms_key_arn",
                Box::new(|i| {
                    i.kms_key_arn = Some("arn:aws:kms:us-east-1:123456789012:alias/x".into())
                }),
            ),
            (
                "$.kms_key_arn",
                Box::new(|i| {
                    i.kms_key_arn = Some("arn:aws:kms:eu-west-1:123456789012:key/abc".into())
                }),
            ),
            (
                "$.retention.days",
                Box::new(|i| {
                    i.retention = Some(Retention {
                        mode: RetentionMode::Governance,
                        days: 0,
                    })
                }),
            ),
            (
                "$.retention.days",
                Box::new(|i| {
                    i.retention = Some(Retention {
                        mode: RetentionMode::Compliance,
                        days: 36_501,
                    })
                }),
            ),
            (
                "$.break_glass_role_arns",
                Box::new(|i| i.break_glass_role_arns.clear()),
            ),
            (
                "$.break_glass_role_arns[0]",
                Box::new(|i| {
                    i.break_glass_role_arns = vec!["arn:aws:iam::123456789012:user/bob".into()]
                }),
            ),
            (
                "$.break_glass_role_arns[0]",
                Box::new(|i| {
                    i.break_glass_role_arns = vec!["arn:aws:iam::123456789012:role/*".into()]
                }),
            ),
            (
                "$.break_glass_role_arns[0]",
                Box::new(|i| i.break_glass_role_arns = vec!["arn:aws:iam::1234:role/x".into()]),
            ),
            (
                "$.bucket_prefix",
                Box::new(|i| i.bucket_prefix = Some("Bad_Prefix".into())),
            ),
            (
                "$.source_bucket",
                Box::new(|i| i.source_bucket = "x".into()),
            ),
        ];
        for (path, mutate) in cases {
            let mut i = input();
            mutate(&mut i);
            let e = plan(&i, Some("us-east-1")).unwrap_err();
            assert_eq!(e.path, path, "{e}");
        }
        let mut ok = input();
        ok.kms_key_arn = Some(
            "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab".into(),
        );
        ok.break_glass_role_arns = vec![
            "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_0123".into(),
        ];
        assert!(plan(&ok, Some("us-east-1")).is_ok());
        assert_eq!(plan(&input(), None).unwrap_err().path, "$.region");
    }

    #[test]
    fn error_types_are_variant_names() {
        assert_eq!(
            CreateBucketError::error_types(),
            [
                "InvalidInput",
                "Transient",
                "AccessDenied",
                "BucketConflict",
                "VerificationFailed",
                "ServiceError"
            ]
        );
        let e = CreateBucketError::BucketConflict {
            bucket: "b".into(),
            reason: "r".into(),
        };
        assert_eq!(e.error_type(), "BucketConflict");
    }

    #[test]
    fn xml_text_reads_one_element() {
        let x = r#"<?xml version="1.0"?><GetBucketVersioningResponse xmlns="x"><Status>Enabled</Status></GetBucketVersioningResponse>"#;
        assert_eq!(xml_text(x, "Status").as_deref(), Some("Enabled"));
        assert_eq!(
            xml_text(r#"<GetBucketVersioningResponse xmlns="x"/>"#, "Status"),
            None
        );
    }

    #[test]
    fn observed_object_lock_comparison() {
        let p = plan(&input(), Some("us-east-1")).unwrap();
        let mut o = Observed {
            object_lock: Some(ObservedLock {
                enabled: true,
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(o.matches(Setting::ObjectLock, &p.settings));
        o.object_lock = Some(ObservedLock {
            enabled: true,
            mode: Some("GOVERNANCE".into()),
            days: Some(30),
            years: Some(0),
        });
        assert!(!o.matches(Setting::ObjectLock, &p.settings));
        let mut i = input();
        i.retention = Some(Retention {
            mode: RetentionMode::Governance,
            days: 30,
        });
        let p = plan(&i, Some("us-east-1")).unwrap();
        assert!(o.matches(Setting::ObjectLock, &p.settings));
        o.object_lock = Some(ObservedLock {
            enabled: false,
            mode: Some("GOVERNANCE".into()),
            days: Some(30),
            years: None,
        });
        assert!(!o.matches(Setting::ObjectLock, &p.settings));
    }
}
