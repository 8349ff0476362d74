//! What prune does to a snapshot bucket: extend its objects' retention, put or take away the
//! expiry lifecycle rules, find out whether it is empty, delete it. Nothing here deletes an object
//! or shortens a retention.

use std::time::Instant;

use aws_sdk_s3::Client;
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, ExpirationStatus,
    LifecycleExpiration, LifecycleRule, LifecycleRuleFilter, NoncurrentVersionExpiration,
    ObjectLockRetention, ObjectLockRetentionMode, TransitionDefaultMinimumObjectSize,
};
use futures::stream::{self, StreamExt, TryStreamExt};
use kit::{AwsFailure, ServiceFailure};

use crate::plan::Secs;

/// The lifecycle rule that expires every object: current versions a day after creation (S3 puts a
/// delete marker), noncurrent versions a day after they became noncurrent, incomplete uploads a
/// day after they started. S3 removes a locked version only once its lock lapsed.
pub const EXPIRE_VERSIONS_RULE: &str = "lakevault-expire-versions";
/// The lifecycle rule that removes the delete markers left alone once their versions are gone
/// (it cannot share a rule with `Expiration.Days`).
pub const EXPIRE_DELETE_MARKERS_RULE: &str = "lakevault-expire-delete-markers";

/// HEADs and PUTs in flight at once while extending.
pub const PARALLELISM: usize = 16;

/// A snapshot bucket is gone.
pub fn is_no_such_bucket(f: &AwsFailure) -> bool {
    matches!(f, AwsFailure::Service(s) if s.is("NoSuchBucket"))
}

fn build_err(what: &str, e: impl std::fmt::Display) -> AwsFailure {
    AwsFailure::Service(ServiceFailure {
        operation: format!("build {what}"),
        code: None,
        status: None,
        message: e.to_string(),
    })
}

/// lakevault's two expiry rules.
pub fn expiry_rules() -> Result<[LifecycleRule; 2], AwsFailure> {
    let versions = LifecycleRule::builder()
        .id(EXPIRE_VERSIONS_RULE)
        .filter(LifecycleRuleFilter::builder().prefix("").build())
        .status(ExpirationStatus::Enabled)
        .expiration(LifecycleExpiration::builder().days(1).build())
        .noncurrent_version_expiration(
            NoncurrentVersionExpiration::builder()
                .noncurrent_days(1)
                .build(),
        )
        .abort_incomplete_multipart_upload(
            AbortIncompleteMultipartUpload::builder()
                .days_after_initiation(1)
                .build(),
        )
        .build()
        .map_err(|e| build_err("LifecycleRule", e))?;
    let markers = LifecycleRule::builder()
        .id(EXPIRE_DELETE_MARKERS_RULE)
        .filter(LifecycleRuleFilter::builder().prefix("").build())
        .status(ExpirationStatus::Enabled)
        .expiration(
            LifecycleExpiration::builder()
                .expired_object_delete_marker(true)
                .build(),
        )
        .build()
        .map_err(|e| build_err("LifecycleRule", e))?;
    Ok([versions, markers])
}

fn is_ours(id: Option<&str>) -> bool {
    matches!(id, Some(EXPIRE_VERSIONS_RULE | EXPIRE_DELETE_MARKERS_RULE))
}

/// The fields that make a rule what it is (what S3 or moto echo back beside them may differ).
fn same_rule(a: &LifecycleRule, b: &LifecycleRule) -> bool {
    // A rule written before `Filter` existed has its prefix in the deprecated top-level field.
    #[allow(deprecated)]
    let prefix = |r: &LifecycleRule| {
        r.filter()
            .and_then(|f| f.prefix())
            .or(r.prefix())
            .unwrap_or("")
            .to_owned()
    };
    let exp = |r: &LifecycleRule| {
        r.expiration()
            .map(|e| (e.days(), e.expired_object_delete_marker().unwrap_or(false)))
    };
    a.id() == b.id()
        && a.status() == b.status()
        && prefix(a) == prefix(b)
        && a.filter().and_then(|f| f.tag()).is_none()
        && a.filter().and_then(|f| f.and()).is_none()
        && exp(a) == exp(b)
        && a.noncurrent_version_expiration()
            .and_then(|n| n.noncurrent_days())
            == b.noncurrent_version_expiration()
                .and_then(|n| n.noncurrent_days())
        && a.abort_incomplete_multipart_upload()
            .and_then(|x| x.days_after_initiation())
            == b.abort_incomplete_multipart_upload()
                .and_then(|x| x.days_after_initiation())
        && a.transitions().is_empty()
        && a.noncurrent_version_transitions().is_empty()
}

/// A bucket's lifecycle configuration; `None` when the bucket is gone.
#[derive(Debug, Clone, Default)]
pub struct Lifecycle {
    /// Its rules (none without a configuration).
    pub rules: Vec<LifecycleRule>,
    /// Kept as it is when the rules are written back.
    pub transition_default_minimum_object_size: Option<TransitionDefaultMinimumObjectSize>,
}

impl Lifecycle {
    /// Both expiry rules are there as lakevault writes them.
    pub fn has_expiry(&self, want: &[LifecycleRule; 2]) -> bool {
        want.iter()
            .all(|w| self.rules.iter().any(|r| same_rule(r, w)))
    }

    /// A rule of lakevault's expiry ids is there, whatever its content.
    pub fn has_any_expiry(&self) -> bool {
        self.rules.iter().any(|r| is_ours(r.id()))
    }
}

/// Reads the lifecycle configuration: `None` when the bucket does not exist.
pub async fn lifecycle(s3: &Client, bucket: &str) -> Result<Option<Lifecycle>, AwsFailure> {
    match s3
        .get_bucket_lifecycle_configuration()
        .bucket(bucket)
        .send()
        .await
    {
        Ok(o) => Ok(Some(Lifecycle {
            rules: o.rules().to_vec(),
            transition_default_minimum_object_size: o
                .transition_default_minimum_object_size()
                .cloned(),
        })),
        Err(e) => match kit::classify("GetBucketLifecycleConfiguration", e) {
            AwsFailure::Service(s) if s.is("NoSuchLifecycleConfiguration") => {
                Ok(Some(Lifecycle::default()))
            }
            f if is_no_such_bucket(&f) => Ok(None),
            other => Err(other),
        },
    }
}

/// Writes `seen`'s rules without lakevault's expiry rules, plus `add`. Every other rule (the
/// abort rule create-bucket puts, anyone else's) is written back as it was:
/// `PutBucketLifecycleConfiguration` replaces the whole configuration.
pub async fn put_rules(
    s3: &Client,
    bucket: &str,
    seen: &Lifecycle,
    add: &[LifecycleRule],
) -> Result<(), AwsFailure> {
    let mut rules: Vec<LifecycleRule> = seen
        .rules
        .iter()
        .filter(|r| !is_ours(r.id()))
        .cloned()
        .collect();
    rules.extend(add.iter().cloned());
    if rules.is_empty() {
        // No rule left: S3 refuses an empty configuration, so the configuration is removed
        // (the same IAM action, s3:PutLifecycleConfiguration).
        s3.delete_bucket_lifecycle()
            .bucket(bucket)
            .send()
            .await
            .map_err(|e| kit::classify("DeleteBucketLifecycle", e))?;
        return Ok(());
    }
    let conf = BucketLifecycleConfiguration::builder()
        .set_rules(Some(rules))
        .build()
        .map_err(|e| build_err("BucketLifecycleConfiguration", e))?;
    s3.put_bucket_lifecycle_configuration()
        .bucket(bucket)
        .lifecycle_configuration(conf)
        .set_transition_default_minimum_object_size(
            seen.transition_default_minimum_object_size.clone(),
        )
        .send()
        .await
        .map_err(|e| kit::classify("PutBucketLifecycleConfiguration", e))?;
    Ok(())
}

/// Whether the bucket holds nothing at all: no version and no delete marker (one
/// `ListObjectVersions` of one key). `None` when the bucket is gone.
pub async fn is_empty(s3: &Client, bucket: &str) -> Result<Option<bool>, AwsFailure> {
    match s3
        .list_object_versions()
        .bucket(bucket)
        .max_keys(1)
        .send()
        .await
    {
        Ok(o) => Ok(Some(
            o.versions().is_empty() && o.delete_markers().is_empty(),
        )),
        Err(e) => match kit::classify("ListObjectVersions", e) {
            f if is_no_such_bucket(&f) => Ok(None),
            other => Err(other),
        },
    }
}

/// What `DeleteBucket` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    /// The bucket is gone (deleted now, or it was already).
    Gone,
    /// S3 refused: something is in it (written since the check, or not yet expired).
    NotEmpty,
}

/// Deletes an empty bucket. S3 itself refuses to delete a bucket that holds anything.
pub async fn delete_bucket(s3: &Client, bucket: &str) -> Result<Deleted, AwsFailure> {
    match s3.delete_bucket().bucket(bucket).send().await {
        Ok(_) => Ok(Deleted::Gone),
        Err(e) => match kit::classify("DeleteBucket", e) {
            AwsFailure::Service(s) if s.is("BucketNotEmpty") => Ok(Deleted::NotEmpty),
            f if is_no_such_bucket(&f) => Ok(Deleted::Gone),
            other => Err(other),
        },
    }
}

/// Where an extension stopped: the next `ListObjectVersions` starts after it.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct VersionMarker {
    /// `KeyMarker`.
    pub key_marker: String,
    /// `VersionIdMarker`.
    pub version_id_marker: Option<String>,
}

/// What an extension did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extension {
    /// Object versions seen (HEAD each).
    pub versions: u64,
    /// Versions whose retention was set (`PutObjectRetention`).
    pub extended: u64,
    /// Where it stopped when the budget ran out; `None`: every version done.
    pub stopped_at: Option<VersionMarker>,
    /// The bucket is gone.
    pub missing: bool,
}

/// Sets every object version's retain-until date to at least `target`: `HeadObject` of the
/// version, and `PutObjectRetention` only when its date is earlier (a date is never lowered; the
/// version's own mode is kept, `default_mode` used only for a version without one), at most
/// [`PARALLELISM`] at a time. `ListObjectVersions` has no SDK paginator (two markers), hence the
/// loop. Between pages, past `deadline`, it stops and says where.
pub async fn extend(
    s3: &Client,
    bucket: &str,
    default_mode: &str,
    target: Secs,
    from: Option<VersionMarker>,
    deadline: Instant,
) -> Result<Extension, AwsFailure> {
    let mut out = Extension::default();
    let mut marker = from;
    let until = aws_smithy_types::DateTime::from_secs(target);
    loop {
        let page = match s3
            .list_object_versions()
            .bucket(bucket)
            .set_key_marker(marker.as_ref().map(|m| m.key_marker.clone()))
            .set_version_id_marker(marker.as_ref().and_then(|m| m.version_id_marker.clone()))
            .send()
            .await
        {
            Ok(p) => p,
            Err(e) => {
                let f = kit::classify("ListObjectVersions", e);
                if is_no_such_bucket(&f) {
                    out.missing = true;
                    return Ok(out);
                }
                return Err(f);
            }
        };
        let versions: Vec<(String, Option<String>)> = page
            .versions()
            .iter()
            .filter_map(|v| {
                v.key()
                    .map(|k| (k.to_owned(), v.version_id().map(str::to_owned)))
            })
            .collect();
        out.versions += versions.len() as u64;
        let set: Vec<bool> = stream::iter(versions)
            .map(|(key, version)| async move {
                let head = s3
                    .head_object()
                    .bucket(bucket)
                    .key(&key)
                    .set_version_id(version.clone())
                    .send()
                    .await
                    .map_err(|e| kit::classify("HeadObject", e))?;
                if head
                    .object_lock_retain_until_date()
                    .is_some_and(|d| d.secs() >= target)
                {
                    return Ok::<_, AwsFailure>(false);
                }
                let mode = head
                    .object_lock_mode()
                    .map(|m| m.as_str().to_owned())
                    .unwrap_or_else(|| default_mode.to_owned());
                s3.put_object_retention()
                    .bucket(bucket)
                    .key(&key)
                    .set_version_id(version)
                    .retention(
                        ObjectLockRetention::builder()
                            .mode(ObjectLockRetentionMode::from(mode.as_str()))
                            .retain_until_date(until)
                            .build(),
                    )
                    .send()
                    .await
                    .map_err(|e| kit::classify("PutObjectRetention", e))?;
                Ok(true)
            })
            .buffer_unordered(PARALLELISM)
            .try_collect()
            .await?;
        out.extended += set.iter().filter(|s| **s).count() as u64;
        if page.is_truncated() != Some(true) {
            return Ok(out);
        }
        let next = VersionMarker {
            key_marker: page.next_key_marker().unwrap_or_default().to_owned(),
            version_id_marker: page.next_version_id_marker().map(str::to_owned),
        };
        if next.key_marker.is_empty() {
            return Ok(out);
        }
        if Instant::now() >= deadline {
            out.stopped_at = Some(next);
            return Ok(out);
        }
        marker = Some(next);
    }
}
