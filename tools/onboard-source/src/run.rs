//! The run: for one bucket, read everything, plan, then (unless a dry run) write what differs
//! and read it back.

use aws_config::SdkConfig;
use aws_sdk_s3::types::InventoryConfiguration;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response;
use serde_json::Value;

use crate::error::OnboardError;
use crate::inventory::{InventorySummary, desired_inventory};
use crate::report::{Change, Report};
use crate::request::{Request, SourceSide};
use crate::statement::{
    POLICY_MAX_BYTES, large_copy_statements, plan_policy, read_statement, restore_statements,
};

/// What a source bucket's inventory configuration needs.
struct InventoryPlan<'a> {
    source: &'a SourceSide,
    want: InventoryConfiguration,
    want_summary: InventorySummary,
    change: Change,
    previous: Option<InventorySummary>,
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
    /// it back. A source bucket (`req.source`) gets its inventory configuration and read grant, a
    /// restore target (`req.restore`) its restore grants; a bucket can be both.
    pub async fn onboard(
        &self,
        req: &Request,
        bucket: &str,
        dry_run: bool,
    ) -> Result<Report, OnboardError> {
        kit::validate::check_source_bucket("--bucket", bucket)?;
        let owner = req.expected_owner.as_deref();
        self.check_bucket(bucket, owner).await?;

        // Read and plan everything first: a policy that cannot be merged stops the run before
        // the inventory is touched.
        let mut inventory = None;
        if let Some(source) = &req.source {
            let want = desired_inventory(&source.inventory, source.role.partition.as_str());
            let have = self
                .inventory(bucket, &source.inventory.configuration_id, owner)
                .await?;
            let want_summary = InventorySummary::of(&want);
            let (change, previous) = match &have {
                None => (Change::Created, None),
                Some(have) if InventorySummary::of(have) == want_summary => {
                    (Change::Unchanged, None)
                }
                Some(have) => (Change::Updated, Some(InventorySummary::of(have))),
            };
            inventory = Some(InventoryPlan {
                source,
                want,
                want_summary,
                change,
                previous,
            });
        }

        let mut statements = Vec::new();
        if let Some(source) = &req.source {
            statements.push(read_statement(&source.role, bucket));
            if let Some(grant) = &source.large_copy {
                statements.extend(large_copy_statements(grant, bucket));
            }
        }
        if let Some(grant) = &req.restore {
            statements.extend(restore_statements(grant, bucket));
        }
        let current_policy = self.policy(bucket, owner).await?;
        let plan = plan_policy(current_policy.as_deref(), &statements).map_err(|problem| {
            OnboardError::PolicyInvalid {
                bucket: bucket.to_owned(),
                problem,
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
        tracing::info!(
            bucket,
            inventory = ?inventory.as_ref().map(|i| i.change),
            policy = ?plan.change(),
            large_copy = req.source.as_ref().is_some_and(|s| s.large_copy.is_some()),
            restore_target = req.restore.is_some(),
            dry_run,
            "planned"
        );

        if !dry_run {
            if let Some(plan) = &inventory
                && plan.change != Change::Unchanged
            {
                self.put_inventory(bucket, plan.want.clone(), owner).await?;
                let read = self
                    .inventory(bucket, &plan.source.inventory.configuration_id, owner)
                    .await?;
                let read = read.as_ref().map(InventorySummary::of);
                if read.as_ref() != Some(&plan.want_summary) {
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

        let inventory_change = inventory.as_ref().map(|i| i.change);
        let note = match (inventory_change, &req.restore) {
            (Some(Change::Unchanged), _) => {
                "inventory configuration in place: a delivery arrives daily".to_owned()
            }
            (Some(_), _) => "S3 delivers the first inventory within 48 hours; backups of this bucket fail with ManifestNotReady until then".to_owned(),
            (None, Some(grant)) => format!(
                "restores may write under s3://{bucket}/{}; the bucket must also be in the backup stack's RestoreTargetBuckets",
                grant.prefix
            ),
            (None, None) => String::new(),
        };
        Ok(Report {
            bucket: bucket.to_owned(),
            dry_run,
            inventory: inventory_change,
            policy: plan.change(),
            statements: plan
                .statements
                .iter()
                .map(|s| (s.sid.clone(), s.change))
                .collect(),
            previous_inventory: inventory.and_then(|i| i.previous),
            previous_statements: plan.previous(),
            note,
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
