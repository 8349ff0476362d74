//! Source names that need the naming rule, and input refused before any call to S3.

use create_bucket::{CreateBucket, naming};
use harness::{Moto, bucket_names};
use serde_json::json;

use crate::support::{assert_locked_down, event, run, tags};

#[tokio::test]
async fn dotted_and_long_source_names_get_valid_unique_names() {
    let moto = Moto::start();
    let s3 = moto.s3();
    let step = CreateBucket::new(moto.s3());
    let day: kit::Day = "2021-03-31".parse().unwrap();

    let dotted = run(&step, event(json!({"source_bucket": "lake.prod.eu"})))
        .await
        .unwrap();
    assert_eq!(
        dotted.bucket,
        naming::snapshot_bucket_name("lake.prod.eu", day, None).unwrap()
    );
    assert!(dotted.bucket.starts_with("lake-prod-eu-") && !dotted.bucket.contains('.'));
    assert!(
        tags(&s3, &dotted.bucket)
            .await
            .contains(&("source-bucket".into(), "lake.prod.eu".into()))
    );
    assert_locked_down(&s3, &dotted.bucket, None, None).await;

    // 63 characters, the longest name S3 allows: with the prefix, too long to be kept whole.
    let long_source = "a-very-long-data-lake-bucket-name-for-the-analytics-platform-pr";
    let long = run(
        &step,
        event(json!({"source_bucket": long_source, "bucket_prefix": "acme-backups"})),
    )
    .await
    .unwrap();
    assert!(long.bucket.len() <= 63, "{}", long.bucket);
    assert!(long.bucket.starts_with("acme-backups-a-very-long"));
    assert!(long.bucket.ends_with("-31-mar-2021"));
    assert_locked_down(&s3, &long.bucket, None, None).await;
    // Same input, same name, nothing changed.
    let again = run(
        &step,
        event(json!({"source_bucket": long_source, "bucket_prefix": "acme-backups"})),
    )
    .await
    .unwrap();
    assert_eq!(again.bucket, long.bucket);
    assert!(!again.created && again.changed.is_empty());
}

#[tokio::test]
async fn invalid_inputs_are_refused_with_their_path_and_change_nothing() {
    let moto = Moto::start();
    let step = CreateBucket::new(moto.s3());
    let cases = [
        (json!({"backup_date": "2021-02-30"}), "$.backup_date"),
        (json!({"backup_date": "31-03-2021"}), "$.backup_date"),
        (
            json!({"retention": {"mode": "GOVERNANCE", "days": 0}}),
            "$.retention.days",
        ),
        (
            json!({"retention": {"mode": "COMPLIANCE", "days": 1_000_000}}),
            "$.retention.days",
        ),
        (
            json!({"retention": {"mode": "COMPLIANCE", "days": -3}}),
            "$.retention.days",
        ),
        (
            json!({"retention": {"mode": "FOREVER", "days": 30}}),
            "$.retention.mode",
        ),
        (json!({"bucket_prefix": "Acme_Backups"}), "$.bucket_prefix"),
        (json!({"bucket_prefix": "xn--acme"}), "$.bucket_prefix"),
        (json!({"kms_key_arn": "not-an-arn"}), "$.kms_key_arn"),
        (
            json!({"kms_key_arn": "arn:aws:kms:us-east-1:123456789012:alias/backup"}),
            "$.kms_key_arn",
        ),
        (
            json!({"break_glass_role_arns": ["arn:aws:iam::123456789012:user/bob"]}),
            "$.break_glass_role_arns[0]",
        ),
        (
            json!({"break_glass_role_arns": []}),
            "$.break_glass_role_arns",
        ),
        (json!({"source_bucket": "a/b"}), "$.source_bucket"),
        (json!({"region": "moon-1"}), "$.region"),
    ];
    for (extra, path) in cases {
        let err = kit::entry::invoke(&step, event(extra.clone()))
            .await
            .unwrap_err();
        assert_eq!(
            err.error_type, "InvalidInput",
            "{extra}: {}",
            err.error_message
        );
        assert!(
            err.error_message
                .starts_with(&format!("invalid input at {path}:")),
            "{extra}: {}",
            err.error_message
        );
    }
    assert!(
        bucket_names(&moto.s3()).await.is_empty(),
        "nothing was created"
    );
}

#[tokio::test]
async fn a_legacy_source_name_is_refused_saying_so_and_creates_nothing() {
    let moto = Moto::start();
    let step = CreateBucket::new(moto.s3());
    let too_long = "a-very-long-data-lake-bucket-name-for-the-analytics-platform-prod";
    for legacy in ["Lake_Prod", too_long] {
        let err = kit::entry::invoke(&step, event(json!({"source_bucket": legacy})))
            .await
            .unwrap_err();
        assert_eq!(err.error_type, "InvalidInput", "{legacy}");
        assert!(
            err.error_message
                .starts_with("invalid input at $.source_bucket:"),
            "{}",
            err.error_message
        );
        assert!(
            err.error_message.contains("legacy bucket names")
                && err.error_message.contains("not supported"),
            "{}",
            err.error_message
        );
    }
    assert!(
        bucket_names(&moto.s3()).await.is_empty(),
        "nothing was created"
    );
}
