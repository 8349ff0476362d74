//! Re-runs: nothing changes when all is in place, a half-made bucket is finished (what may
//! converge; what may not is in `conflict`).

use aws_sdk_s3::Client;
use aws_sdk_s3::types::{
    ObjectLockRetentionMode, ObjectOwnership, OwnershipControls, OwnershipControlsRule,
    PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
};
use create_bucket::{CreateBucket, Setting};
use harness::{Moto, bucket_names};
use serde_json::json;

use crate::support::{
    KEY, READS_ONLY, ROLE, abort_rule, assert_locked_down, create_with_object_lock, event,
    put_default_retention, put_lifecycle_rules, run, stored, tag_as_this_backup,
};

#[tokio::test]
async fn a_rerun_changes_nothing() {
    let moto = Moto::start();
    let s3 = moto.s3();
    let step = CreateBucket::new(moto.s3());
    let first = run(&step, event(json!({}))).await.unwrap();
    assert!(first.created);
    let policy_before = s3
        .get_bucket_policy()
        .bucket(&first.bucket)
        .send()
        .await
        .unwrap();

    let (counting, counter) = harness::counting_s3(&moto);
    let again = CreateBucket::new(counting);
    let second = run(&again, event(json!({}))).await.unwrap();
    assert!(!second.created);
    assert!(second.changed.is_empty(), "{:?}", second.changed);
    assert_eq!(second.bucket, first.bucket);
    assert_eq!(second.settings, first.settings);
    // Reads only: ListBuckets, HeadBucket (moto does not report BucketRegion), 8 setting reads.
    assert!(
        counter.count() <= READS_ONLY,
        "{} requests",
        counter.count()
    );
    let policy_after = s3
        .get_bucket_policy()
        .bucket(&first.bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(policy_before.policy(), policy_after.policy());
    assert_eq!(bucket_names(&s3).await, vec![first.bucket.clone()]);
    assert_locked_down(&s3, &first.bucket, None, None).await;
}

#[tokio::test]
async fn a_half_configured_bucket_is_finished() {
    let moto = Moto::start();
    let s3 = moto.s3();
    let bucket = "lake-prod-31-mar-2021";
    // An earlier attempt died after CreateBucket: Object Lock on, nothing else.
    create_with_object_lock(&s3, bucket).await;
    let step = CreateBucket::new(moto.s3());
    let out = run(&step, event(json!({"kms_key_arn": KEY})))
        .await
        .unwrap();
    assert!(!out.created);
    assert!(out.changed.contains(&Setting::Policy));
    assert!(out.changed.contains(&Setting::Tags));
    assert!(
        !out.changed.contains(&Setting::Versioning),
        "object lock turned it on"
    );
    assert_locked_down(&s3, bucket, Some(KEY), None).await;

    let again = run(&step, event(json!({"kms_key_arn": KEY})))
        .await
        .unwrap();
    assert!(again.changed.is_empty(), "{:?}", again.changed);
}

#[tokio::test]
async fn a_policy_already_in_place_is_recognised_even_as_aws_rewrites_it() {
    let moto = Moto::start();
    let s3 = moto.s3();
    let step = CreateBucket::new(moto.s3());
    let out = run(&step, event(json!({}))).await.unwrap();
    // Simulate AWS's re-serialisation of the stored policy: statements reordered, singleton
    // lists as strings, `{"AWS": "*"}` principals, keys in another order.
    let mut p = out.settings.policy.clone();
    let stmts = p["Statement"].as_array_mut().unwrap();
    stmts.reverse();
    for s in stmts.iter_mut() {
        s["Principal"] = json!({"AWS": "*"});
        if let Some(v) = s.pointer_mut("/Condition/ArnNotLike/aws:PrincipalArn") {
            *v = json!(ROLE);
        }
    }
    let rewritten = p.to_string();
    s3.put_bucket_policy()
        .bucket(&out.bucket)
        .policy(&rewritten)
        .send()
        .await
        .unwrap();
    let again = run(&step, event(json!({}))).await.unwrap();
    assert!(again.changed.is_empty(), "{:?}", again.changed);
    let stored = s3
        .get_bucket_policy()
        .bucket(&out.bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(stored.policy(), Some(rewritten.as_str()), "not re-put");
}

/// Default encryption of `bucket`: SSE-KMS with `key` and a bucket key, or SSE-S3.
async fn put_encryption(s3: &Client, bucket: &str, key: Option<&str>) {
    let by_default = match key {
        Some(k) => ServerSideEncryptionByDefault::builder()
            .sse_algorithm(ServerSideEncryption::AwsKms)
            .kms_master_key_id(k),
        None => {
            ServerSideEncryptionByDefault::builder().sse_algorithm(ServerSideEncryption::Aes256)
        }
    }
    .build()
    .unwrap();
    s3.put_bucket_encryption()
        .bucket(bucket)
        .server_side_encryption_configuration(
            ServerSideEncryptionConfiguration::builder()
                .rules(
                    ServerSideEncryptionRule::builder()
                        .apply_server_side_encryption_by_default(by_default)
                        .bucket_key_enabled(key.is_some())
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_run_that_stopped_before_the_policy_is_finished_by_the_same_input() {
    let moto = Moto::start();
    let s3 = moto.s3();
    let bucket = "lake-prod-31-mar-2021";
    // What a run with KMS and GOVERNANCE/35 writes before its last put, the policy.
    s3.create_bucket()
        .bucket(bucket)
        .object_lock_enabled_for_bucket(true)
        .object_ownership(ObjectOwnership::BucketOwnerEnforced)
        .send()
        .await
        .unwrap();
    tag_as_this_backup(&s3, bucket).await;
    s3.put_public_access_block()
        .bucket(bucket)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .ignore_public_acls(true)
                .block_public_policy(true)
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .unwrap();
    s3.put_bucket_ownership_controls()
        .bucket(bucket)
        .ownership_controls(
            OwnershipControls::builder()
                .rules(
                    OwnershipControlsRule::builder()
                        .object_ownership(ObjectOwnership::BucketOwnerEnforced)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    put_encryption(&s3, bucket, Some(KEY)).await;
    put_default_retention(&s3, bucket, ObjectLockRetentionMode::Governance, 35).await;
    put_lifecycle_rules(&s3, bucket, vec![abort_rule(7)]).await;

    let ev = event(json!({"kms_key_arn": KEY, "retention": {"mode": "GOVERNANCE", "days": 35}}));
    let step = CreateBucket::new(moto.s3());
    let out = run(&step, ev.clone()).await.unwrap();
    assert!(!out.created);
    assert_eq!(out.changed, vec![Setting::Policy], "only what was missing");
    assert_locked_down(&s3, bucket, Some(KEY), Some(("GOVERNANCE", 35))).await;

    // Finished now: the same input again is reads only.
    let before = stored(&s3, bucket).await;
    let (counting, counter) = harness::counting_s3(&moto);
    let again = run(&CreateBucket::new(counting), ev).await.unwrap();
    assert!(again.changed.is_empty(), "{:?}", again.changed);
    assert_eq!(again.settings, out.settings);
    assert_eq!(counter.count(), READS_ONLY);
    assert_eq!(stored(&s3, bucket).await, before);
}

#[tokio::test]
async fn s3s_default_encryption_on_an_unfinished_bucket_becomes_the_requested_key() {
    let moto = Moto::start();
    let s3 = moto.s3();
    let bucket = "lake-prod-31-mar-2021";
    // Created by an earlier attempt; SSE-S3 is what S3 gives every new bucket (moto does not).
    create_with_object_lock(&s3, bucket).await;
    put_encryption(&s3, bucket, None).await;
    let out = run(
        &CreateBucket::new(moto.s3()),
        event(json!({"kms_key_arn": KEY})),
    )
    .await
    .unwrap();
    assert!(
        out.changed.contains(&Setting::Encryption),
        "{:?}",
        out.changed
    );
    assert_locked_down(&s3, bucket, Some(KEY), None).await;
}

#[tokio::test]
async fn the_same_settings_given_in_another_order_are_the_same_input() {
    let moto = Moto::start();
    let s3 = moto.s3();
    let other = "arn:aws:iam::123456789012:role/other-break-glass";
    let first = run(
        &CreateBucket::new(moto.s3()),
        event(
            json!({"kms_key_arn": KEY, "retention": {"mode": "COMPLIANCE", "days": 7},
                     "break_glass_role_arns": [ROLE, other]}),
        ),
    )
    .await
    .unwrap();
    let before = stored(&s3, &first.bucket).await;
    let (counting, counter) = harness::counting_s3(&moto);
    let again = run(
        &CreateBucket::new(counting),
        event(json!({"break_glass_role_arns": [other, ROLE, other],
                     "retention": {"days": 7, "mode": "COMPLIANCE"}, "kms_key_arn": KEY})),
    )
    .await
    .unwrap();
    assert!(again.changed.is_empty(), "{:?}", again.changed);
    assert_eq!(again.settings, first.settings);
    assert_eq!(counter.count(), READS_ONLY, "reads only");
    assert_eq!(stored(&s3, &first.bucket).await, before);
}
