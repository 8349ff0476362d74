//! onboard-source: prepares an existing source bucket for lakevault, idempotently.
//!
//! Run in the **source** account (the data account, A) once per source bucket, after the backup
//! stack is deployed in the backup account (B). It makes two changes, each only if needed:
//!
//! 1. a daily **CSV** S3 Inventory configuration (id `daily` by default, current versions) that
//!    delivers into B's inventory bucket — CSV because it is the only inventory format S3 Batch
//!    Operations accepts as a manifest;
//! 2. a statement with the stable `Sid` [`STATEMENT_SID`], **merged** into the bucket's policy,
//!    that lets B's S3 Batch Operations role read objects. Every other statement is kept as it is.
//!
//! Everything is read and planned before anything is written, so a policy it cannot understand
//! stops the run with nothing changed. What already matches is not written again: a re-run
//! sends three reads and no write. Each write is read back and checked.
//!
//! It never deletes an inventory configuration or a policy (and must not: moto's
//! `DeleteBucketInventoryConfiguration` deletes the bucket).

use std::collections::BTreeSet;

use aws_config::SdkConfig;
use aws_sdk_s3::types::{
    InventoryConfiguration, InventoryDestination, InventoryFormat, InventoryFrequency,
    InventoryIncludedObjectVersions, InventoryOptionalField, InventoryS3BucketDestination,
    InventorySchedule,
};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response;
use kit::error::{AccessDenied, InvalidInput, ServiceFailure, Transient};
use serde::Serialize;
use serde_json::{Value, json};

/// `Sid` of the statement this tool owns in a source bucket's policy. Stable: a re-run finds and
/// compares it; changing it would leave the old grant behind.
pub const STATEMENT_SID: &str = "LakevaultBatchOperationsRead";

/// What an `S3PutObjectCopy` task does with a source object: read it, a given version of it, and
/// the ACL and tags the copy carries along. Read-only, objects only.
pub const SOURCE_READ_ACTIONS: &[&str] = &[
    "s3:GetObject",
    "s3:GetObjectAcl",
    "s3:GetObjectTagging",
    "s3:GetObjectVersion",
    "s3:GetObjectVersionAcl",
    "s3:GetObjectVersionTagging",
];

/// The inventory's optional fields: what an audit or a restore wants to know about each object
/// besides bucket and key (Batch Operations itself reads only those two).
pub const INVENTORY_FIELDS: &[InventoryOptionalField] = &[
    InventoryOptionalField::Size,
    InventoryOptionalField::LastModifiedDate,
    InventoryOptionalField::ETag,
    InventoryOptionalField::StorageClass,
    InventoryOptionalField::IsMultipartUploaded,
    InventoryOptionalField::EncryptionStatus,
    InventoryOptionalField::ObjectLockRetainUntilDate,
    InventoryOptionalField::ObjectLockMode,
    InventoryOptionalField::ObjectLockLegalHoldStatus,
];

/// S3's limit on the size of a bucket policy.
pub const POLICY_MAX_BYTES: usize = 20 * 1024;

/// The backup stack's defaults (infra/backup-account.yaml: InventoryPrefix, InventoryConfigurationId).
pub const DEFAULT_PREFIX: &str = "inventory";
/// See [`DEFAULT_PREFIX`].
pub const DEFAULT_CONFIGURATION_ID: &str = "daily";

/// Everything onboard-source can fail with; variant names are the errorTypes it prints.
#[derive(Debug, thiserror::Error, kit::strum::IntoStaticStr, kit::strum::VariantNames)]
#[strum(crate = "kit::strum")]
pub enum OnboardError {
    /// A flag's value is malformed (role ARN, account id, prefix, configuration id, bucket name).
    #[error(transparent)]
    InvalidInput(#[from] InvalidInput),
    /// Throttling, a 5xx, a timeout: run again.
    #[error(transparent)]
    Transient(#[from] Transient),
    /// These credentials may not read or change the bucket, or the bucket belongs to another
    /// account than `--expected-owner`.
    #[error(transparent)]
    AccessDenied(#[from] AccessDenied),
    /// There is no bucket of that name.
    #[error("bucket {bucket} does not exist (check the name and the account of your credentials)")]
    BucketNotFound {
        /// The bucket name.
        bucket: String,
    },
    /// The bucket is in another region than the one configured. S3 Inventory delivers only to a
    /// bucket in the source bucket's region, so the backup stack must be deployed there too.
    #[error(
        "bucket {bucket} is in {bucket_region}, not {region}: run again with AWS_REGION={bucket_region} (the backup stack must be deployed in {bucket_region} too: S3 Inventory delivers only within a region)"
    )]
    WrongRegion {
        /// The bucket name.
        bucket: String,
        /// Where the bucket is.
        bucket_region: String,
        /// The region of these credentials' configuration.
        region: String,
    },
    /// The bucket's current policy is not a policy document this tool can merge into. Nothing
    /// was changed.
    #[error(
        "the policy of bucket {bucket} cannot be merged into: {detail}; nothing was changed (fix the policy, or add the statement of --print-statement by hand)"
    )]
    PolicyInvalid {
        /// The bucket name.
        bucket: String,
        /// What is wrong with it.
        detail: String,
    },
    /// With the statement merged in, the policy would exceed S3's 20 KB limit. Nothing was changed.
    #[error(
        "the policy of bucket {bucket} would be {bytes} bytes with the lakevault statement, over S3's limit of {POLICY_MAX_BYTES}; nothing was changed (shorten the policy)"
    )]
    PolicyTooLarge {
        /// The bucket name.
        bucket: String,
        /// Size of the merged policy.
        bytes: usize,
    },
    /// A change read back differs from what was written: someone changed the bucket at the same
    /// time. Running again converges.
    #[error(
        "bucket {bucket}: the {what} read back is not what was written ({detail}); another change raced this one: run again"
    )]
    VerificationFailed {
        /// The bucket name.
        bucket: String,
        /// `inventory configuration` or `policy`.
        what: String,
        /// What differs.
        detail: String,
    },
    /// S3 answered with an error this tool does not expect.
    #[error("{0}")]
    ServiceError(ServiceFailure),
}

kit::step_error!(OnboardError, service => ServiceError);

/// An IAM role ARN, split into the parts the grant needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleArn {
    /// The whole ARN.
    pub arn: String,
    /// `aws`, `aws-cn`, `aws-us-gov`.
    pub partition: String,
    /// The account the role is in (the backup account).
    pub account_id: String,
}

impl RoleArn {
    /// Parses `arn:<partition>:iam::<account>:role/<path/><name>`.
    pub fn parse(arn: &str) -> Result<Self, InvalidInput> {
        let bad = |why: &str| {
            InvalidInput::new(
                "--role-arn",
                format!(
                    "{arn:?} is not an IAM role ARN ({why}); pass the backup stack's BatchOperationsRoleArn output"
                ),
            )
        };
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let [prefix, partition, service, region, account, resource] = parts[..] else {
            return Err(bad("expected arn:aws:iam::<account>:role/<name>"));
        };
        if prefix != "arn" || service != "iam" || !region.is_empty() {
            return Err(bad("expected arn:aws:iam::<account>:role/<name>"));
        }
        if !partition.starts_with("aws") {
            return Err(bad("unknown partition"));
        }
        check_account(account).map_err(|_| bad("the account is not 12 digits"))?;
        let name = resource
            .strip_prefix("role/")
            .ok_or_else(|| bad("not a role"))?;
        let valid = |c: char| c.is_ascii_alphanumeric() || "+=,.@_-/".contains(c);
        if name.is_empty() || name.ends_with('/') || !name.chars().all(valid) {
            return Err(bad("the role name is malformed"));
        }
        Ok(Self {
            arn: arn.to_owned(),
            partition: partition.to_owned(),
            account_id: account.to_owned(),
        })
    }
}

fn check_account(id: &str) -> Result<(), InvalidInput> {
    if id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(InvalidInput::new(
            "account id",
            format!("{id:?} is not a 12-digit AWS account id"),
        ))
    }
}

/// Where the inventory goes: the backup account's inventory bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryTarget {
    /// The account that owns the inventory bucket (the backup account).
    pub account_id: String,
    /// The inventory bucket's name.
    pub bucket: String,
    /// Key prefix of the deliveries (no slash at either end).
    pub prefix: String,
    /// The inventory configuration's id on the source bucket.
    pub configuration_id: String,
}

/// One onboarding, as given on the command line; every value checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The backup account's S3 Batch Operations role.
    pub role: RoleArn,
    /// Where the inventory goes.
    pub inventory: InventoryTarget,
    /// When set, every call asserts the bucket belongs to this account (`ExpectedBucketOwner`).
    pub expected_owner: Option<String>,
}

impl Request {
    /// Checks and assembles the flags. `inventory_account` defaults to the role's account: the
    /// inventory bucket and the role are both in the backup account.
    pub fn new(
        role_arn: &str,
        inventory_bucket: &str,
        inventory_account: Option<&str>,
        prefix: &str,
        configuration_id: &str,
        expected_owner: Option<&str>,
    ) -> Result<Self, InvalidInput> {
        let role = RoleArn::parse(role_arn)?;
        let account_id = inventory_account.unwrap_or(&role.account_id).to_owned();
        check_account(&account_id)
            .map_err(|e| InvalidInput::new("--inventory-account", e.message))?;
        if let Some(owner) = expected_owner {
            check_account(owner).map_err(|e| InvalidInput::new("--expected-owner", e.message))?;
        }
        check_bucket_name("--inventory-bucket", inventory_bucket)?;
        if prefix.is_empty() || prefix.starts_with('/') || prefix.ends_with('/') {
            return Err(InvalidInput::new(
                "--prefix",
                format!(
                    "{prefix:?}: give the backup stack's InventoryPrefix, without a slash at either end"
                ),
            ));
        }
        let id_ok = |c: char| c.is_ascii_alphanumeric() || "._-".contains(c);
        if configuration_id.is_empty()
            || configuration_id.len() > 64
            || !configuration_id.chars().all(id_ok)
        {
            return Err(InvalidInput::new(
                "--id",
                format!(
                    "{configuration_id:?}: 1-64 letters, digits, '.', '_' or '-' (the backup stack's InventoryConfigurationId)"
                ),
            ));
        }
        Ok(Self {
            role,
            inventory: InventoryTarget {
                account_id,
                bucket: inventory_bucket.to_owned(),
                prefix: prefix.to_owned(),
                configuration_id: configuration_id.to_owned(),
            },
            expected_owner: expected_owner.map(str::to_owned),
        })
    }
}

/// Bucket names as S3 has ever allowed them (legacy us-east-1 names included); S3 has the last word.
pub fn check_bucket_name(flag: &str, name: &str) -> Result<(), InvalidInput> {
    let ok = |c: char| c.is_ascii_alphanumeric() || "._-".contains(c);
    if (3..=255).contains(&name.len()) && name.chars().all(ok) {
        Ok(())
    } else {
        Err(InvalidInput::new(
            flag,
            format!("{name:?} is not a bucket name"),
        ))
    }
}

// ------------------------------------------------------------------------------ the statement

/// The statement granting the batch role read access to `bucket`'s objects.
pub fn read_statement(role: &RoleArn, bucket: &str) -> Value {
    json!({
        "Sid": STATEMENT_SID,
        "Effect": "Allow",
        "Principal": {"AWS": role.arn},
        "Action": SOURCE_READ_ACTIONS,
        "Resource": format!("arn:{}:s3:::{bucket}/*", role.partition),
    })
}

/// What the bucket policy needs.
#[derive(Debug, Clone, PartialEq)]
pub enum PolicyPlan {
    /// The statement is there, as wanted.
    Unchanged,
    /// The bucket has no policy: this one, with only the statement.
    Create(Value),
    /// The statement is appended to the existing statements.
    Add(Value),
    /// A statement with the same `Sid` differs (another role, other actions): replaced in place.
    Update {
        /// The whole new policy.
        policy: Value,
        /// The statement it replaces.
        previous: Value,
    },
}

impl PolicyPlan {
    /// The policy to write, if any.
    pub fn policy(&self) -> Option<&Value> {
        match self {
            Self::Unchanged => None,
            Self::Create(p) | Self::Add(p) | Self::Update { policy: p, .. } => Some(p),
        }
    }

    /// How the report names it.
    pub fn change(&self) -> Change {
        match self {
            Self::Unchanged => Change::Unchanged,
            Self::Create(_) => Change::Created,
            Self::Add(_) => Change::Added,
            Self::Update { .. } => Change::Updated,
        }
    }
}

/// Merges `statement` into the bucket's current policy (`None`: the bucket has none). Every other
/// statement is kept, in its place; a statement with the same `Sid` is replaced, further ones with
/// that `Sid` (a hand-made duplicate) are dropped. `Err` says what makes the policy unmergeable.
pub fn plan_policy(current: Option<&str>, statement: &Value) -> Result<PolicyPlan, String> {
    let Some(text) = current else {
        return Ok(PolicyPlan::Create(json!({
            "Version": "2012-10-17",
            "Statement": [statement],
        })));
    };
    let mut policy: Value =
        serde_json::from_str(text).map_err(|e| format!("it is not JSON ({e})"))?;
    let Value::Object(doc) = &mut policy else {
        return Err("it is not a JSON object".to_owned());
    };
    // IAM accepts a single statement object as well as a list; a list is what we write back.
    let mut statements = match doc.remove("Statement") {
        Some(Value::Array(list)) => list,
        Some(single @ Value::Object(_)) => vec![single],
        Some(_) => return Err("its Statement is neither a list nor an object".to_owned()),
        None => return Err("it has no Statement".to_owned()),
    };
    if let Some(i) = statements.iter().position(|s| !s.is_object()) {
        return Err(format!("statement {i} is not an object"));
    }
    let ours: Vec<usize> = statements
        .iter()
        .enumerate()
        .filter(|(_, s)| s.get("Sid").and_then(Value::as_str) == Some(STATEMENT_SID))
        .map(|(i, _)| i)
        .collect();
    let want = kit::policy::normalise_statement(statement);
    let plan = match ours.as_slice() {
        [] => {
            statements.push(statement.clone());
            None
        }
        [only] if kit::policy::normalise_statement(&statements[*only]) == want => {
            return Ok(PolicyPlan::Unchanged);
        }
        [first, rest @ ..] => {
            let previous = std::mem::replace(&mut statements[*first], statement.clone());
            for i in rest.iter().rev() {
                statements.remove(*i);
            }
            Some(previous)
        }
    };
    doc.entry("Version").or_insert_with(|| json!("2012-10-17"));
    doc.insert("Statement".to_owned(), Value::Array(statements));
    Ok(match plan {
        None => PolicyPlan::Add(policy),
        Some(previous) => PolicyPlan::Update { policy, previous },
    })
}

// ------------------------------------------------------------------- the inventory configuration

/// The inventory configuration onboarding puts on a source bucket.
pub fn desired_inventory(target: &InventoryTarget, partition: &str) -> InventoryConfiguration {
    let destination = InventoryS3BucketDestination::builder()
        .account_id(&target.account_id)
        .bucket(format!("arn:{partition}:s3:::{}", target.bucket))
        .prefix(&target.prefix)
        .format(InventoryFormat::Csv)
        // No Encryption setting: the inventory bucket encrypts every delivery by default
        // (SSE-S3), and CloudFormation's inventory configuration (infra/source-bucket.yaml) has
        // no such setting, so both ways of onboarding write the same configuration.
        .build();
    InventoryConfiguration::builder()
        .id(&target.configuration_id)
        .is_enabled(true)
        // A snapshot is the bucket as it is now: current versions only.
        .included_object_versions(InventoryIncludedObjectVersions::Current)
        .schedule(
            InventorySchedule::builder()
                .frequency(InventoryFrequency::Daily)
                .build()
                .expect("frequency is set"),
        )
        .destination(
            InventoryDestination::builder()
                .set_s3_bucket_destination(destination.ok())
                .build(),
        )
        .set_optional_fields(Some(INVENTORY_FIELDS.to_vec()))
        .build()
        .expect("id, destination, enabled, versions and schedule are set")
}

/// The parts of an inventory configuration that matter, in a comparable (and printable) form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InventorySummary {
    /// Configuration id.
    pub id: String,
    /// Whether it runs.
    pub enabled: bool,
    /// `Current` or `All`.
    pub versions: String,
    /// `Daily` or `Weekly`.
    pub frequency: String,
    /// `CSV`, `ORC`, `Parquet`.
    pub format: String,
    /// Destination account.
    pub account_id: Option<String>,
    /// Destination bucket ARN.
    pub bucket: String,
    /// Destination prefix.
    pub prefix: Option<String>,
    /// `SSE-S3`, `SSE-KMS <key>` or `none`.
    pub encryption: String,
    /// Prefix or tag filter, if any (debug form).
    pub filter: Option<String>,
    /// Optional fields, sorted.
    pub fields: BTreeSet<String>,
}

impl InventorySummary {
    /// Summarises a configuration as S3 returns it.
    pub fn of(c: &InventoryConfiguration) -> Self {
        let dest = c.destination().and_then(|d| d.s3_bucket_destination());
        let encryption = match dest.and_then(|d| d.encryption()) {
            Some(e) if e.sses3().is_some() => "SSE-S3".to_owned(),
            Some(e) => match e.ssekms() {
                Some(k) => format!("SSE-KMS {}", k.key_id()),
                None => "none".to_owned(),
            },
            None => "none".to_owned(),
        };
        Self {
            id: c.id().to_owned(),
            enabled: c.is_enabled(),
            versions: c.included_object_versions().as_str().to_owned(),
            frequency: c
                .schedule()
                .map(|s| s.frequency().as_str().to_owned())
                .unwrap_or_default(),
            format: dest
                .map(|d| d.format().as_str().to_owned())
                .unwrap_or_default(),
            account_id: dest.and_then(|d| d.account_id()).map(str::to_owned),
            bucket: dest.map(|d| d.bucket().to_owned()).unwrap_or_default(),
            prefix: dest.and_then(|d| d.prefix()).map(str::to_owned),
            encryption,
            filter: c.filter().map(|f| format!("{f:?}")),
            fields: c
                .optional_fields()
                .iter()
                .map(|f| f.as_str().to_owned())
                .collect(),
        }
    }
}

// ------------------------------------------------------------------------------------ the run

/// What happened to one part of the bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Already as wanted; nothing written.
    Unchanged,
    /// Did not exist; created.
    Created,
    /// The statement was appended to an existing policy.
    Added,
    /// Existed with other settings; replaced.
    Updated,
}

/// The outcome for one bucket (one JSON line on stdout).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The source bucket.
    pub bucket: String,
    /// True when nothing was written (`--dry-run`): the changes are what a real run would make.
    pub dry_run: bool,
    /// The inventory configuration.
    pub inventory: Change,
    /// The read grant in the bucket policy.
    pub policy: Change,
    /// The inventory configuration that was (or would be) replaced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_inventory: Option<InventorySummary>,
    /// The statement that was (or would be) replaced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_statement: Option<Value>,
    /// When the first inventory, and so the first possible backup, can be expected.
    pub note: String,
}

/// Onboards buckets with one S3 client, built once.
#[derive(Debug, Clone)]
pub struct Onboarder {
    s3: aws_sdk_s3::Client,
    region: Option<String>,
}

impl Onboarder {
    /// From the shared SDK configuration (region, credentials, endpoint overrides).
    pub fn new(conf: &SdkConfig) -> Self {
        Self::with_client(
            kit::clients::s3(conf),
            conf.region().map(|r| r.as_ref().to_owned()),
        )
    }

    /// With a given client (tests count its requests). `region` is the one it is configured for.
    pub fn with_client(s3: aws_sdk_s3::Client, region: Option<String>) -> Self {
        Self { s3, region }
    }

    /// Onboards one bucket: reads, plans, then (unless `dry_run`) writes what differs and reads
    /// it back.
    pub async fn onboard(
        &self,
        req: &Request,
        bucket: &str,
        dry_run: bool,
    ) -> Result<Report, OnboardError> {
        check_bucket_name("--bucket", bucket)?;
        let owner = req.expected_owner.as_deref();
        self.check_bucket(bucket, owner).await?;

        // Read and plan everything first: a policy that cannot be merged stops the run before
        // the inventory is touched.
        let want_inventory = desired_inventory(&req.inventory, &req.role.partition);
        let have_inventory = self
            .inventory(bucket, &req.inventory.configuration_id, owner)
            .await?;
        let want_summary = InventorySummary::of(&want_inventory);
        let (inventory_change, previous_inventory) = match &have_inventory {
            None => (Change::Created, None),
            Some(have) if InventorySummary::of(have) == want_summary => (Change::Unchanged, None),
            Some(have) => (Change::Updated, Some(InventorySummary::of(have))),
        };

        let statement = read_statement(&req.role, bucket);
        let current_policy = self.policy(bucket, owner).await?;
        let plan = plan_policy(current_policy.as_deref(), &statement).map_err(|detail| {
            OnboardError::PolicyInvalid {
                bucket: bucket.to_owned(),
                detail,
            }
        })?;
        if let Some(policy) = plan.policy() {
            let bytes = policy.to_string().len();
            if bytes > POLICY_MAX_BYTES {
                return Err(OnboardError::PolicyTooLarge {
                    bucket: bucket.to_owned(),
                    bytes,
                });
            }
        }
        let previous_statement = match &plan {
            PolicyPlan::Update { previous, .. } => Some(previous.clone()),
            _ => None,
        };
        tracing::info!(
            bucket,
            inventory = ?inventory_change,
            policy = ?plan.change(),
            dry_run,
            "planned"
        );

        if !dry_run {
            if inventory_change != Change::Unchanged {
                self.put_inventory(bucket, want_inventory, owner).await?;
                let read = self
                    .inventory(bucket, &req.inventory.configuration_id, owner)
                    .await?;
                let read = read.as_ref().map(InventorySummary::of);
                if read.as_ref() != Some(&want_summary) {
                    return Err(OnboardError::VerificationFailed {
                        bucket: bucket.to_owned(),
                        what: "inventory configuration".to_owned(),
                        detail: format!("read back {read:?}"),
                    });
                }
            }
            if let Some(policy) = plan.policy() {
                self.put_policy(bucket, policy, owner).await?;
                let read = self.policy(bucket, owner).await?;
                self.verify_policy(bucket, read.as_deref(), policy)?;
            }
        }

        Ok(Report {
            bucket: bucket.to_owned(),
            dry_run,
            inventory: inventory_change,
            policy: plan.change(),
            previous_inventory,
            previous_statement,
            note: match inventory_change {
                Change::Unchanged => "inventory configuration in place: a delivery arrives daily".to_owned(),
                _ => "S3 delivers the first inventory within 48 hours; backups of this bucket fail with ManifestNotReady until then".to_owned(),
            },
        })
    }

    /// The bucket exists, is reachable with these credentials, and is in the configured region.
    async fn check_bucket(&self, bucket: &str, owner: Option<&str>) -> Result<(), OnboardError> {
        let out = self
            .s3
            .head_bucket()
            .bucket(bucket)
            .set_expected_bucket_owner(owner.map(str::to_owned))
            .send()
            .await;
        let bucket_region = match out {
            Ok(o) => o.bucket_region().map(str::to_owned),
            Err(e) => {
                // HeadBucket has no body, so S3's verdict is in the status and a header.
                let status = e.raw_response().map(|r| r.status().as_u16());
                let header = e
                    .raw_response()
                    .and_then(|r| r.headers().get("x-amz-bucket-region"))
                    .map(str::to_owned);
                match (status, header) {
                    (Some(301), Some(r)) => Some(r),
                    (Some(404), _) => {
                        return Err(OnboardError::BucketNotFound {
                            bucket: bucket.to_owned(),
                        });
                    }
                    _ => return Err(self.fail(bucket, "HeadBucket", e)),
                }
            }
        };
        match (bucket_region, &self.region) {
            (Some(bucket_region), Some(region)) if &bucket_region != region => {
                Err(OnboardError::WrongRegion {
                    bucket: bucket.to_owned(),
                    bucket_region,
                    region: region.clone(),
                })
            }
            _ => Ok(()),
        }
    }

    async fn inventory(
        &self,
        bucket: &str,
        id: &str,
        owner: Option<&str>,
    ) -> Result<Option<InventoryConfiguration>, OnboardError> {
        match self
            .s3
            .get_bucket_inventory_configuration()
            .bucket(bucket)
            .id(id)
            .set_expected_bucket_owner(owner.map(str::to_owned))
            .send()
            .await
        {
            Ok(o) => Ok(o.inventory_configuration),
            Err(e) => match OnboardError::from(kit::classify("GetBucketInventoryConfiguration", e))
            {
                // S3 says NoSuchConfiguration (moto: NoSuchInventoryConfig); a 404 that is not
                // about the bucket means "no configuration with this id".
                OnboardError::ServiceError(s) if s.status == Some(404) && !s.is("NoSuchBucket") => {
                    Ok(None)
                }
                other => Err(self.refine(bucket, other)),
            },
        }
    }

    async fn policy(
        &self,
        bucket: &str,
        owner: Option<&str>,
    ) -> Result<Option<String>, OnboardError> {
        match self
            .s3
            .get_bucket_policy()
            .bucket(bucket)
            .set_expected_bucket_owner(owner.map(str::to_owned))
            .send()
            .await
        {
            Ok(o) => Ok(o.policy),
            Err(e) => match OnboardError::from(kit::classify("GetBucketPolicy", e)) {
                OnboardError::ServiceError(s) if s.is("NoSuchBucketPolicy") => Ok(None),
                other => Err(self.refine(bucket, other)),
            },
        }
    }

    async fn put_inventory(
        &self,
        bucket: &str,
        config: InventoryConfiguration,
        owner: Option<&str>,
    ) -> Result<(), OnboardError> {
        let id = config.id().to_owned();
        self.s3
            .put_bucket_inventory_configuration()
            .bucket(bucket)
            .id(id)
            .inventory_configuration(config)
            .set_expected_bucket_owner(owner.map(str::to_owned))
            .send()
            .await
            .map_err(|e| self.fail(bucket, "PutBucketInventoryConfiguration", e))?;
        tracing::info!(bucket, "inventory configuration written");
        Ok(())
    }

    async fn put_policy(
        &self,
        bucket: &str,
        policy: &Value,
        owner: Option<&str>,
    ) -> Result<(), OnboardError> {
        self.s3
            .put_bucket_policy()
            .bucket(bucket)
            .policy(policy.to_string())
            .set_expected_bucket_owner(owner.map(str::to_owned))
            .send()
            .await
            .map_err(|e| self.fail(bucket, "PutBucketPolicy", e))?;
        tracing::info!(bucket, "bucket policy written");
        Ok(())
    }

    /// The policy read back holds exactly the statements written (AWS may re-serialise them).
    fn verify_policy(
        &self,
        bucket: &str,
        read: Option<&str>,
        written: &Value,
    ) -> Result<(), OnboardError> {
        let read: Option<Value> = read.and_then(|t| serde_json::from_str(t).ok());
        let same = read.as_ref().is_some_and(|r| {
            kit::policy::normalise(r)["Statement"] == kit::policy::normalise(written)["Statement"]
        });
        if same {
            Ok(())
        } else {
            Err(OnboardError::VerificationFailed {
                bucket: bucket.to_owned(),
                what: "policy".to_owned(),
                detail: format!(
                    "read back {}",
                    read.map_or_else(|| "no policy".to_owned(), |r| r.to_string())
                ),
            })
        }
    }

    fn fail<E>(&self, bucket: &str, operation: &str, e: SdkError<E, Response>) -> OnboardError
    where
        E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        self.refine(bucket, OnboardError::from(kit::classify(operation, e)))
    }

    /// A missing bucket is its own errorType, whichever call found out.
    fn refine(&self, bucket: &str, e: OnboardError) -> OnboardError {
        match e {
            OnboardError::ServiceError(s) if s.is("NoSuchBucket") => OnboardError::BucketNotFound {
                bucket: bucket.to_owned(),
            },
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kit::StepError;

    fn role() -> RoleArn {
        RoleArn::parse("arn:aws:iam::222222222222:role/lakevault-BatchOperationsRole-ABC").unwrap()
    }

    fn other_statement() -> Value {
        json!({
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": ["arn:aws:s3:::lake", "arn:aws:s3:::lake/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}
        })
    }

    #[test]
    fn role_arns() {
        let r = role();
        assert_eq!(r.partition, "aws");
        assert_eq!(r.account_id, "222222222222");
        let cn = RoleArn::parse("arn:aws-cn:iam::222222222222:role/path/x").unwrap();
        assert_eq!(cn.partition, "aws-cn");
        for bad in [
            "",
            "arn:aws:iam::2222:role/x",
            "arn:aws:iam::222222222222:user/x",
            "arn:aws:s3:::bucket",
            "arn:aws:iam:eu-west-1:222222222222:role/x",
            "arn:aws:iam::222222222222:role/",
            "arn:aws:iam::222222222222:role/a b",
        ] {
            let e = RoleArn::parse(bad).unwrap_err();
            assert_eq!(e.path, "--role-arn", "{bad}");
        }
    }

    #[test]
    fn request_checks_every_flag() {
        let ok = |bucket, account, prefix, id, owner| {
            Request::new(
                "arn:aws:iam::222222222222:role/r",
                bucket,
                account,
                prefix,
                id,
                owner,
            )
        };
        let r = ok("inv", None, "inventory", "daily", None).unwrap();
        assert_eq!(r.inventory.account_id, "222222222222");
        assert_eq!(
            ok("inv", None, "/inventory", "daily", None)
                .unwrap_err()
                .path,
            "--prefix"
        );
        assert_eq!(
            ok("inv", None, "", "daily", None).unwrap_err().path,
            "--prefix"
        );
        assert_eq!(
            ok("inv", None, "inventory", "a b", None).unwrap_err().path,
            "--id"
        );
        assert_eq!(
            ok("inv", Some("12"), "inventory", "daily", None)
                .unwrap_err()
                .path,
            "--inventory-account"
        );
        assert_eq!(
            ok("inv", None, "inventory", "daily", Some("x"))
                .unwrap_err()
                .path,
            "--expected-owner"
        );
        assert_eq!(
            ok("s3://inv", None, "inventory", "daily", None)
                .unwrap_err()
                .path,
            "--inventory-bucket"
        );
    }

    #[test]
    fn statement_content() {
        let s = read_statement(&role(), "lake");
        assert_eq!(s["Sid"], STATEMENT_SID);
        assert_eq!(s["Effect"], "Allow");
        assert_eq!(s["Principal"]["AWS"], role().arn);
        assert_eq!(s["Resource"], "arn:aws:s3:::lake/*");
        assert_eq!(s["Action"].as_array().unwrap().len(), 6);
    }

    #[test]
    fn no_policy_creates_one() {
        let s = read_statement(&role(), "lake");
        let PolicyPlan::Create(p) = plan_policy(None, &s).unwrap() else {
            panic!("expected Create");
        };
        assert_eq!(p["Statement"], json!([s]));
        assert_eq!(p["Version"], "2012-10-17");
    }

    #[test]
    fn merge_keeps_every_other_statement_and_their_order() {
        let s = read_statement(&role(), "lake");
        let extra = json!({"Sid": "Other", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::333333333333:root"}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::lake/public/*"});
        let current =
            json!({"Version": "2012-10-17", "Id": "mine", "Statement": [other_statement(), extra]});
        let PolicyPlan::Add(p) = plan_policy(Some(&current.to_string()), &s).unwrap() else {
            panic!("expected Add");
        };
        assert_eq!(p["Id"], "mine");
        assert_eq!(p["Statement"], json!([other_statement(), extra, s]));
        // Merging the result again changes nothing.
        assert_eq!(
            plan_policy(Some(&p.to_string()), &s).unwrap(),
            PolicyPlan::Unchanged
        );
    }

    #[test]
    fn aws_reserialisation_is_unchanged() {
        // AWS may hand back single-element lists as strings and actions in another order.
        let s = read_statement(&role(), "lake");
        let mut stored = s.clone();
        let mut actions: Vec<Value> = stored["Action"].as_array().unwrap().clone();
        actions.reverse();
        stored["Action"] = Value::Array(actions);
        stored["Principal"] = json!({"AWS": [role().arn]});
        let current = json!({"Version": "2012-10-17", "Statement": [stored]});
        assert_eq!(
            plan_policy(Some(&current.to_string()), &s).unwrap(),
            PolicyPlan::Unchanged
        );
    }

    #[test]
    fn a_stale_statement_is_replaced_in_place_and_duplicates_dropped() {
        let s = read_statement(&role(), "lake");
        let old_role = RoleArn::parse("arn:aws:iam::222222222222:role/old").unwrap();
        let stale = read_statement(&old_role, "lake");
        let current = json!({"Statement": [stale, other_statement(), stale]});
        let PolicyPlan::Update { policy, previous } =
            plan_policy(Some(&current.to_string()), &s).unwrap()
        else {
            panic!("expected Update");
        };
        assert_eq!(previous, stale);
        assert_eq!(policy["Statement"], json!([s, other_statement()]));
        assert_eq!(
            policy["Version"], "2012-10-17",
            "a missing Version is added"
        );
    }

    #[test]
    fn a_single_statement_object_is_accepted() {
        let s = read_statement(&role(), "lake");
        let current = json!({"Version": "2012-10-17", "Statement": other_statement()});
        let PolicyPlan::Add(p) = plan_policy(Some(&current.to_string()), &s).unwrap() else {
            panic!("expected Add");
        };
        assert_eq!(p["Statement"], json!([other_statement(), s]));
    }

    #[test]
    fn unmergeable_policies_are_refused() {
        let s = read_statement(&role(), "lake");
        for bad in [
            "not json",
            "[1, 2]",
            r#"{"Version": "2012-10-17"}"#,
            r#"{"Statement": "s3:*"}"#,
            r#"{"Statement": [1]}"#,
        ] {
            assert!(plan_policy(Some(bad), &s).is_err(), "{bad}");
        }
    }

    #[test]
    fn inventory_content() {
        let target = InventoryTarget {
            account_id: "222222222222".to_owned(),
            bucket: "inv".to_owned(),
            prefix: "inventory".to_owned(),
            configuration_id: "daily".to_owned(),
        };
        let c = desired_inventory(&target, "aws");
        let s = InventorySummary::of(&c);
        assert_eq!(s.id, "daily");
        assert!(s.enabled);
        assert_eq!(s.versions, "Current");
        assert_eq!(s.frequency, "Daily");
        assert_eq!(s.format, "CSV");
        assert_eq!(s.bucket, "arn:aws:s3:::inv");
        assert_eq!(s.account_id.as_deref(), Some("222222222222"));
        assert_eq!(s.prefix.as_deref(), Some("inventory"));
        assert_eq!(s.encryption, "none");
        assert_eq!(s.filter, None);
        assert!(s.fields.contains("Size") && s.fields.contains("ETag"));
        let mut weekly = s.clone();
        weekly.frequency = "Weekly".to_owned();
        assert_ne!(weekly, s);
    }

    #[test]
    fn error_types_are_the_variant_names() {
        assert_eq!(
            OnboardError::error_types(),
            [
                "InvalidInput",
                "Transient",
                "AccessDenied",
                "BucketNotFound",
                "WrongRegion",
                "PolicyInvalid",
                "PolicyTooLarge",
                "VerificationFailed",
                "ServiceError"
            ]
        );
    }
}
