//! A new bucket: every setting, read back through S3's read APIs.

use aws_sdk_s3::types::BucketLocationConstraint;
use create_bucket::{CreateBucket, CreateBucketError, Setting, policy};
use harness::Moto;
use serde_json::json;

use crate::support::{KEY, assert_locked_down, event, policy_of, run, tags};

#[tokio::test]
async fn creates_a_locked_down_bucket_with_kms_and_retention() {
    let moto = Moto::start();
    let s3 = moto.s3();
    let step = CreateBucket::new(moto.s3());
    let out = run(
        &step,
        event(json!({"kms_key_arn": KEY, "retention": {"mode": "GOVERNANCE", "days": 30}})),
    )
    .await
    .unwrap();
    assert_eq!(out.bucket, "lake-prod-31-mar-2021");
    assert_eq!(out.arn, "arn:aws:s3:::lake-prod-31-mar-2021");
    assert_eq!(out.region, "us-east-1");
    assert!(out.created);
    assert_eq!(
        out.changed.last(),
        Some(&Setting::Policy),
        "policy goes last"
    );
    assert_locked_down(&s3, &out.bucket, Some(KEY), Some(("GOVERNANCE", 30))).await;
    assert_eq!(
        tags(&s3, &out.bucket).await,
        vec![
            ("backup-date".into(), "2021-03-31".into()),
            ("source-bucket".into(), "lake-prod".into()),
            ("tool".into(), "lakevault".into()),
        ]
    );
    // The output's settings are what S3 holds.
    let stored = policy_of(&s3, &out.bucket).await.unwrap();
    assert_eq!(
        policy::normalise(&stored),
        policy::normalise(&out.settings.policy)
    );
    let v = serde_json::to_value(&out).unwrap();
    assert_eq!(v["settings"]["encryption"]["sse_algorithm"], "aws:kms");
    assert_eq!(
        v["settings"]["object_lock"]["default_retention"]["mode"],
        "GOVERNANCE"
    );
}

#[tokio::test]
async fn a_bucket_in_another_region_without_a_key_uses_sse_s3_and_is_not_moved() {
    let moto = Moto::start();
    let s3 = moto.s3();
    let step = CreateBucket::new(moto.s3());
    let out = run(
        &step,
        event(json!({"region": "eu-west-1", "bucket_prefix": "acme", "retention": {"mode": "COMPLIANCE", "days": 7}})),
    )
    .await
    .unwrap();
    assert_eq!(out.bucket, "acme-lake-prod-31-mar-2021");
    assert_eq!(out.region, "eu-west-1");
    let loc = s3
        .get_bucket_location()
        .bucket(&out.bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(
        loc.location_constraint(),
        Some(&BucketLocationConstraint::EuWest1)
    );
    assert_locked_down(&s3, &out.bucket, None, Some(("COMPLIANCE", 7))).await;

    // Same source and date, asked in another region: the bucket is not moved, nor reused.
    let err = run(
        &step,
        event(json!({"region": "eu-central-1", "bucket_prefix": "acme"})),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, CreateBucketError::BucketConflict { .. }),
        "{err}"
    );
}
