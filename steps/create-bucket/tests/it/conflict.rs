//! Buckets that are not this backup's: refused before anything is changed.

use create_bucket::{CreateBucket, CreateBucketError};
use harness::Moto;
use serde_json::json;

use crate::support::{bucket_names, event, policy_of, run, tags};

#[tokio::test]
async fn a_name_owned_by_another_account_is_a_conflict() {
    let moto = Moto::start();
    let other = harness::s3_as_account(&moto, "210987654321");
    let bucket = "lake-prod-31-mar-2021";
    other.create_bucket().bucket(bucket).send().await.unwrap();

    let step = CreateBucket::new(moto.s3());
    let err = run(&step, event(json!({}))).await.unwrap_err();
    assert!(
        matches!(err, CreateBucketError::BucketConflict { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("another AWS account"), "{err}");
    assert_eq!(kit::StepError::error_type(&err), "BucketConflict");
    // Nothing changed on the other account's bucket, nothing created in ours.
    assert!(tags(&other, bucket).await.is_empty());
    assert!(policy_of(&other, bucket).await.is_none());
    assert!(
        other
            .get_public_access_block()
            .bucket(bucket)
            .send()
            .await
            .is_err()
    );
    assert!(bucket_names(&moto.s3()).await.is_empty());
}

#[tokio::test]
async fn a_bucket_of_ours_for_another_backup_is_a_conflict() {
    let moto = Moto::start();
    let s3 = moto.s3();
    let bucket = "lake-prod-31-mar-2021";
    s3.create_bucket()
        .bucket(bucket)
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .unwrap();
    let foreign = aws_sdk_s3::types::Tagging::builder()
        .tag_set(
            aws_sdk_s3::types::Tag::builder()
                .key("source-bucket")
                .value("lake.prod")
                .build()
                .unwrap(),
        )
        .tag_set(
            aws_sdk_s3::types::Tag::builder()
                .key("backup-date")
                .value("2021-03-31")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    s3.put_bucket_tagging()
        .bucket(bucket)
        .tagging(foreign)
        .send()
        .await
        .unwrap();
    let before = tags(&s3, bucket).await;

    let step = CreateBucket::new(moto.s3());
    let err = run(&step, event(json!({}))).await.unwrap_err();
    assert!(
        matches!(err, CreateBucketError::BucketConflict { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("lake.prod"), "{err}");
    assert_eq!(tags(&s3, bucket).await, before);
    assert!(policy_of(&s3, bucket).await.is_none());
    assert!(
        s3.get_public_access_block()
            .bucket(bucket)
            .send()
            .await
            .is_err()
    );
    assert!(
        s3.get_bucket_encryption()
            .bucket(bucket)
            .send()
            .await
            .is_err()
    );

    // Tagged for the same source on another date: also refused.
    let other_date = aws_sdk_s3::types::Tagging::builder()
        .tag_set(
            aws_sdk_s3::types::Tag::builder()
                .key("source-bucket")
                .value("lake-prod")
                .build()
                .unwrap(),
        )
        .tag_set(
            aws_sdk_s3::types::Tag::builder()
                .key("backup-date")
                .value("2021-03-30")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    s3.put_bucket_tagging()
        .bucket(bucket)
        .tagging(other_date)
        .send()
        .await
        .unwrap();
    let err = run(&step, event(json!({}))).await.unwrap_err();
    assert!(
        matches!(err, CreateBucketError::BucketConflict { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("2021-03-30"), "{err}");
    assert!(policy_of(&s3, bucket).await.is_none());
}

#[tokio::test]
async fn an_untagged_bucket_with_objects_is_not_adopted() {
    let moto = Moto::start();
    let s3 = moto.s3();
    let bucket = "lake-prod-31-mar-2021";
    s3.create_bucket().bucket(bucket).send().await.unwrap();
    s3.put_object()
        .bucket(bucket)
        .key("someone-elses.txt")
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap();
    let step = CreateBucket::new(moto.s3());
    let err = run(&step, event(json!({}))).await.unwrap_err();
    assert!(
        matches!(err, CreateBucketError::BucketConflict { .. }),
        "{err}"
    );
    assert!(tags(&s3, bucket).await.is_empty());
    assert!(policy_of(&s3, bucket).await.is_none());
}
