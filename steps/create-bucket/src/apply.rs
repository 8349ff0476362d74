//! Apply: create the bucket, and write each setting that differs from the plan — in the order of
//! [`Setting`], so the bucket policy, which refuses later changes, goes last.

use aws_sdk_s3::Client;
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, BucketLocationConstraint,
    BucketVersioningStatus, CreateBucketConfiguration, DefaultRetention, ExpirationStatus,
    LifecycleRule, LifecycleRuleFilter, ObjectLockConfiguration, ObjectLockEnabled, ObjectLockRule,
    ObjectOwnership, OwnershipControls, OwnershipControlsRule, PublicAccessBlockConfiguration,
    ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
    ServerSideEncryptionRule, Tag, Tagging, VersioningConfiguration,
};
use kit::AwsFailure;

use crate::contract::{Conflict, CreateBucketError, Setting};
use crate::observe::Observed;
use crate::plan::Plan;
use crate::sdk::{build_err, call};

/// Creates the bucket with Object Lock (which also turns versioning on) and ACLs disabled.
/// `Ok(true)` when created, `Ok(false)` when S3 says the caller already owns it.
pub(crate) async fn create(s3: &Client, plan: &Plan) -> Result<bool, CreateBucketError> {
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
                    reason: Conflict::OtherAccount,
                })
            }
            other => Err(other.into()),
        },
    }
}

/// Applies one setting.
pub(crate) async fn apply(
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
            let mut conf =
                ObjectLockConfiguration::builder().object_lock_enabled(ObjectLockEnabled::Enabled);
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
        Setting::Lifecycle => {
            // PutBucketLifecycleConfiguration replaces the whole configuration: keep every rule
            // (and the transition size) others put there, add lakevault's.
            let seen = seen.lifecycle.clone().unwrap_or_default();
            let want = &want.abort_incomplete_uploads;
            let days = i32::try_from(want.days_after_initiation).unwrap_or(i32::MAX);
            let ours = LifecycleRule::builder()
                .id(&want.rule_id)
                .filter(LifecycleRuleFilter::builder().prefix("").build())
                .status(ExpirationStatus::Enabled)
                .abort_incomplete_multipart_upload(
                    AbortIncompleteMultipartUpload::builder()
                        .days_after_initiation(days)
                        .build(),
                )
                .build()
                .map_err(|e| build_err("LifecycleRule", e))?;
            let mut rules = seen.rules;
            rules.push(ours);
            let conf = BucketLifecycleConfiguration::builder()
                .set_rules(Some(rules))
                .build()
                .map_err(|e| build_err("BucketLifecycleConfiguration", e))?;
            call(
                "PutBucketLifecycleConfiguration",
                s3.put_bucket_lifecycle_configuration()
                    .bucket(bucket)
                    .lifecycle_configuration(conf)
                    .set_transition_default_minimum_object_size(
                        seen.transition_default_minimum_object_size,
                    )
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
