//! What the tests share: the event, running the step, and reading a bucket back through S3.

use aws_sdk_s3::Client;
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, DefaultRetention,
    ExpirationStatus, LifecycleExpiration, LifecycleRule, LifecycleRuleFilter,
    ObjectLockConfiguration, ObjectLockEnabled, ObjectLockRetentionMode, ObjectLockRule,
};
use create_bucket::{CreateBucket, CreateBucketError, CreateBucketOutput};
use kit::Step;
use serde_json::{Value, json};

pub(crate) const ROLE: &str = "arn:aws:iam::123456789012:role/break-glass";
pub(crate) const KEY: &str =
    "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";

/// The smallest valid event, with `extra` fields merged in.
pub(crate) fn event(extra: Value) -> Value {
    let mut e = json!({
        "source_bucket": "lake-prod",
        "backup_date": "2021-03-31",
        "break_glass_role_arns": [ROLE]
    });
    if let (Value::Object(m), Value::Object(x)) = (&mut e, extra) {
        m.extend(x);
    }
    e
}

/// Runs the step on an event (typed: the event must parse).
pub(crate) async fn run(
    step: &CreateBucket,
    ev: Value,
) -> Result<CreateBucketOutput, CreateBucketError> {
    step.handle(serde_json::from_value(ev).unwrap()).await
}

/// The bucket's tags, sorted; none if it has none.
pub(crate) async fn tags(s3: &Client, bucket: &str) -> Vec<(String, String)> {
    match s3.get_bucket_tagging().bucket(bucket).send().await {
        Ok(t) => {
            let mut v: Vec<_> = t
                .tag_set()
                .iter()
                .map(|t| (t.key().to_owned(), t.value().to_owned()))
                .collect();
            v.sort();
            v
        }
        Err(_) => vec![],
    }
}

/// The bucket's policy, parsed, if it has one.
pub(crate) async fn policy_of(s3: &Client, bucket: &str) -> Option<Value> {
    s3.get_bucket_policy()
        .bucket(bucket)
        .send()
        .await
        .ok()
        .and_then(|p| p.policy().map(|p| serde_json::from_str(p).unwrap()))
}

/// Every setting, read back through S3's read APIs.
pub(crate) async fn assert_locked_down(
    s3: &Client,
    bucket: &str,
    kms: Option<&str>,
    retention: Option<(&str, i32)>,
) {
    let pab = s3
        .get_public_access_block()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
    let c = pab.public_access_block_configuration().unwrap();
    assert_eq!(
        (
            c.block_public_acls(),
            c.ignore_public_acls(),
            c.block_public_policy(),
            c.restrict_public_buckets()
        ),
        (Some(true), Some(true), Some(true), Some(true))
    );

    let own = s3
        .get_bucket_ownership_controls()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(
        own.ownership_controls().unwrap().rules()[0]
            .object_ownership()
            .as_str(),
        "BucketOwnerEnforced"
    );

    let enc = s3
        .get_bucket_encryption()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
    let rule = &enc.server_side_encryption_configuration().unwrap().rules()[0];
    let d = rule.apply_server_side_encryption_by_default().unwrap();
    match kms {
        Some(key) => {
            assert_eq!(d.sse_algorithm().as_str(), "aws:kms");
            assert_eq!(d.kms_master_key_id(), Some(key));
            assert_eq!(rule.bucket_key_enabled(), Some(true));
        }
        None => assert_eq!(d.sse_algorithm().as_str(), "AES256"),
    }

    // GetBucketVersioning, read leniently: moto's response has a root element the SDK refuses.
    let ver = create_bucket::versioning_status(s3, bucket).await.unwrap();
    assert_eq!(ver.as_deref(), Some("Enabled"));

    let lock = s3
        .get_object_lock_configuration()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
    let lock = lock.object_lock_configuration().unwrap();
    assert_eq!(
        lock.object_lock_enabled(),
        Some(&ObjectLockEnabled::Enabled)
    );
    let dr = lock.rule().and_then(|r| r.default_retention());
    match retention {
        Some((mode, days)) => {
            let dr = dr.expect("default retention");
            assert_eq!(dr.mode().map(|m| m.as_str()), Some(mode));
            assert_eq!(dr.days(), Some(days));
        }
        None => assert!(dr.is_none(), "{dr:?}"),
    }

    let t = tags(s3, bucket).await;
    assert!(t.contains(&("tool".into(), "lakevault".into())), "{t:?}");
    assert!(t.iter().any(|(k, _)| k == "source-bucket"), "{t:?}");
    assert!(t.iter().any(|(k, _)| k == "backup-date"), "{t:?}");

    let rules = lifecycle_rules(s3, bucket).await;
    let ours: Vec<&LifecycleRule> = rules
        .iter()
        .filter(|r| r.id() == Some(create_bucket::ABORT_UPLOADS_RULE_ID))
        .collect();
    assert_eq!(ours.len(), 1, "one abort rule: {rules:?}");
    assert_eq!(ours[0].status(), &ExpirationStatus::Enabled);
    assert_eq!(
        ours[0]
            .filter()
            .and_then(|f| f.prefix())
            .unwrap_or_default(),
        "",
        "the whole bucket"
    );
    assert_eq!(
        ours[0]
            .abort_incomplete_multipart_upload()
            .and_then(|a| a.days_after_initiation()),
        Some(7)
    );

    let p = policy_of(s3, bucket).await.expect("a bucket policy");
    let arn = format!("arn:aws:s3:::{bucket}");
    let stmts = p["Statement"].as_array().unwrap();
    let tls = stmts
        .iter()
        .find(|s| s["Sid"] == "DenyInsecureTransport")
        .unwrap();
    assert_eq!(tls["Effect"], "Deny");
    assert_eq!(tls["Principal"], "*");
    assert_eq!(tls["Condition"]["Bool"]["aws:SecureTransport"], "false");
    assert_eq!(tls["Resource"], json!([arn, format!("{arn}/*")]));
    let del = stmts
        .iter()
        .find(|s| s["Sid"] == "DenyObjectDeletion")
        .unwrap();
    assert_eq!(del["Resource"], format!("{arn}/*"));
    for a in [
        "s3:DeleteObject",
        "s3:DeleteObjectVersion",
        "s3:BypassGovernanceRetention",
    ] {
        assert!(del["Action"].as_array().unwrap().contains(&json!(a)), "{a}");
    }
    let bkt = stmts
        .iter()
        .find(|s| s["Sid"] == "DenyBucketTampering")
        .unwrap();
    assert_eq!(bkt["Resource"], arn);
    // With a prune role, DeleteBucket (and PutLifecycleConfiguration) are denied by their own
    // statement: `prune_policy_statement` checks it.
    let prune = stmts
        .iter()
        .any(|s| s["Sid"] == create_bucket::policy::PRUNE_SID);
    for a in [
        "s3:DeleteBucket",
        "s3:PutBucketPolicy",
        "s3:DeleteBucketPolicy",
    ] {
        if prune && create_bucket::policy::PRUNE_ACTIONS.contains(&a) {
            continue;
        }
        assert!(bkt["Action"].as_array().unwrap().contains(&json!(a)), "{a}");
    }
    for s in [del, bkt] {
        assert_eq!(s["Effect"], "Deny");
        assert_eq!(s["Principal"], "*");
        assert_eq!(
            s["Condition"]["ArnNotLike"]["aws:PrincipalArn"],
            json!([ROLE])
        );
    }
}

/// The requests a re-run sends when it has nothing to write, on moto: `ListBuckets`,
/// `HeadBucket` (moto's ListBuckets reports no `BucketRegion`) and the 8 setting reads.
pub(crate) const READS_ONLY: usize = 10;

/// The bucket's lifecycle rules; none without a configuration.
pub(crate) async fn lifecycle_rules(s3: &Client, bucket: &str) -> Vec<LifecycleRule> {
    s3.get_bucket_lifecycle_configuration()
        .bucket(bucket)
        .send()
        .await
        .map(|l| l.rules().to_vec())
        .unwrap_or_default()
}

/// Puts a lifecycle configuration of `rules` on `bucket` (replacing any).
pub(crate) async fn put_lifecycle_rules(s3: &Client, bucket: &str, rules: Vec<LifecycleRule>) {
    s3.put_bucket_lifecycle_configuration()
        .bucket(bucket)
        .lifecycle_configuration(
            BucketLifecycleConfiguration::builder()
                .set_rules(Some(rules))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

/// A rule someone else put on the bucket: expire objects under `prefix` after `days`.
pub(crate) fn expiry_rule(id: &str, prefix: &str, days: i32) -> LifecycleRule {
    LifecycleRule::builder()
        .id(id)
        .filter(LifecycleRuleFilter::builder().prefix(prefix).build())
        .status(ExpirationStatus::Enabled)
        .expiration(LifecycleExpiration::builder().days(days).build())
        .build()
        .unwrap()
}

/// lakevault's rule as a run puts it, aborting uploads after `days`.
pub(crate) fn abort_rule(days: i32) -> LifecycleRule {
    LifecycleRule::builder()
        .id(create_bucket::ABORT_UPLOADS_RULE_ID)
        .filter(LifecycleRuleFilter::builder().prefix("").build())
        .status(ExpirationStatus::Enabled)
        .abort_incomplete_multipart_upload(
            AbortIncompleteMultipartUpload::builder()
                .days_after_initiation(days)
                .build(),
        )
        .build()
        .unwrap()
}

/// Every managed setting of a bucket, as S3's read APIs return it (`None`: not configured), to
/// show that a refused run changed nothing.
#[derive(Debug, PartialEq)]
pub(crate) struct Stored {
    public_access_block: Option<aws_sdk_s3::types::PublicAccessBlockConfiguration>,
    ownership: Option<aws_sdk_s3::types::OwnershipControls>,
    encryption: Option<aws_sdk_s3::types::ServerSideEncryptionConfiguration>,
    versioning: Option<String>,
    object_lock: Option<aws_sdk_s3::types::ObjectLockConfiguration>,
    lifecycle: Vec<LifecycleRule>,
    tags: Vec<(String, String)>,
    policy: Option<String>,
}

impl Stored {
    /// The bucket has a policy: finished.
    pub(crate) fn has_policy(&self) -> bool {
        self.policy.is_some()
    }
}

/// The bucket's settings, read through S3.
pub(crate) async fn stored(s3: &Client, bucket: &str) -> Stored {
    Stored {
        public_access_block: s3
            .get_public_access_block()
            .bucket(bucket)
            .send()
            .await
            .ok()
            .and_then(|o| o.public_access_block_configuration().cloned()),
        ownership: s3
            .get_bucket_ownership_controls()
            .bucket(bucket)
            .send()
            .await
            .ok()
            .and_then(|o| o.ownership_controls().cloned()),
        encryption: s3
            .get_bucket_encryption()
            .bucket(bucket)
            .send()
            .await
            .ok()
            .and_then(|o| o.server_side_encryption_configuration().cloned()),
        versioning: create_bucket::versioning_status(s3, bucket).await.unwrap(),
        object_lock: s3
            .get_object_lock_configuration()
            .bucket(bucket)
            .send()
            .await
            .ok()
            .and_then(|o| o.object_lock_configuration().cloned()),
        lifecycle: lifecycle_rules(s3, bucket).await,
        tags: tags(s3, bucket).await,
        policy: s3
            .get_bucket_policy()
            .bucket(bucket)
            .send()
            .await
            .ok()
            .and_then(|p| p.policy().map(str::to_owned)),
    }
}

/// Tags the bucket as lakevault does for `lake-prod` on 2021-03-31 (an earlier run's first put).
pub(crate) async fn tag_as_this_backup(s3: &Client, bucket: &str) {
    let tag = |k: &str, v: &str| {
        aws_sdk_s3::types::Tag::builder()
            .key(k)
            .value(v)
            .build()
            .unwrap()
    };
    s3.put_bucket_tagging()
        .bucket(bucket)
        .tagging(
            aws_sdk_s3::types::Tagging::builder()
                .tag_set(tag("source-bucket", "lake-prod"))
                .tag_set(tag("backup-date", "2021-03-31"))
                .tag_set(tag("tool", "lakevault"))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

/// Creates `bucket` with Object Lock on and nothing else: what a run leaves that stopped right
/// after CreateBucket.
pub(crate) async fn create_with_object_lock(s3: &Client, bucket: &str) {
    s3.create_bucket()
        .bucket(bucket)
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .unwrap();
}

/// Sets `bucket`'s default retention to `mode` for `days` (a run's Object Lock put).
pub(crate) async fn put_default_retention(
    s3: &Client,
    bucket: &str,
    mode: ObjectLockRetentionMode,
    days: i32,
) {
    s3.put_object_lock_configuration()
        .bucket(bucket)
        .object_lock_configuration(
            ObjectLockConfiguration::builder()
                .object_lock_enabled(ObjectLockEnabled::Enabled)
                .rule(
                    ObjectLockRule::builder()
                        .default_retention(
                            DefaultRetention::builder().mode(mode).days(days).build(),
                        )
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
}
