#![doc = include_str!("../README.md")]

mod apply;
pub mod contract;
pub mod naming;
pub mod observe;
pub mod plan;
pub mod policy;
pub mod rerun;
mod sdk;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::Region;

pub use contract::{
    ABORT_UPLOADS_AFTER_DAYS, ABORT_UPLOADS_RULE_ID, AbortIncompleteUploads, BlockPublicAccess,
    ConfigError, Conflict, CreateBucketError, CreateBucketInput, CreateBucketOutput, Difference,
    Encryption, MAX_BREAK_GLASS_ROLES, MAX_RETENTION_DAYS, ObjectLock, Retention, RetentionMode,
    Setting, Settings, TAG_DATE, TAG_SOURCE, TAG_TOOL, TOOL,
};
pub use observe::versioning_status;

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
    pub async fn from_env() -> Result<Self, ConfigError> {
        let conf = kit::clients::load_sdk_config().await?;
        if conf.region().is_none() {
            return Err(ConfigError::NoRegion);
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
        let plan = plan::plan(&input, self.s3.config().region().map(Region::as_ref))?;
        let s3 = self.client_for(&plan.region);
        let bucket = plan.bucket.as_str();
        tracing::info!(bucket, region = %plan.region, source = %plan.source_bucket, "snapshot bucket");

        let owned_region = observe::owned_bucket_region(&self.s3, &s3, bucket).await?;
        let created = match owned_region {
            Some(_) => false,
            None => apply::create(&s3, &plan).await?,
        };
        if !created {
            let region = match owned_region {
                Some(r) => r,
                // S3 said "already owned by you" although ListBuckets did not list it yet.
                None => observe::owned_bucket_region(&self.s3, &s3, bucket)
                    .await?
                    .unwrap_or_else(|| plan.region.clone()),
            };
            if region != plan.region {
                return Err(CreateBucketError::BucketConflict {
                    bucket: plan.bucket.clone(),
                    reason: Conflict::OtherRegion {
                        existing: region,
                        requested: plan.region.clone(),
                    },
                });
            }
        }

        let seen = observe::observe(&s3, bucket).await?;
        if !created {
            // Both before any write: a bucket that is not this backup's, or that is but was made
            // with other settings, is refused with nothing changed.
            observe::check_claim(&s3, &plan, &seen).await?;
            rerun::check(&plan, &seen)?;
        }
        let changed = seen.differences(&plan.settings);
        for setting in &changed {
            apply::apply(&s3, &plan, &seen, *setting).await?;
        }
        if !changed.is_empty() {
            let after = observe::observe(&s3, bucket).await?;
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
