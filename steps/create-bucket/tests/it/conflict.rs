//! Buckets that are not this backup's, and this backup's bucket asked for with other settings:
//! refused before anything is changed.

use aws_sdk_s3::types::ObjectLockRetentionMode;
use create_bucket::{Conflict, CreateBucket, CreateBucketError, Setting};
use harness::{Moto, bucket_names};
use serde_json::{Value, json};

use crate::support::{
    KEY, READS_ONLY, ROLE, create_with_object_lock, event, policy_of, put_default_retention, run,
    stored, tag_as_this_backup, tags,
};

/// Another key in the bucket's region.
const OTHER_KEY: &str =
    "arn:aws:kms:us-east-1:123456789012:key/0000aaaa-00aa-00aa-00aa-000000aaaaaa";
/// Another break-glass role.
const OTHER_ROLE: &str = "arn:aws:iam::123456789012:role/other-break-glass";

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
    create_with_object_lock(&s3, bucket).await;
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

/// Makes the snapshot bucket with `made`, then asks for the same bucket with each of `asked`
/// (extra fields, and what the message must contain): each is a `BucketConflict` on the finished bucket, sent
/// as many requests as a re-run with the same input (reads only, no write at all), with every
/// setting read back unchanged.
async fn each_is_refused_on_the_finished_bucket(
    moto: &Moto,
    made: Value,
    asked: &[(Value, &[&str])],
) {
    let s3 = moto.s3();
    let first = run(&CreateBucket::new(moto.s3()), event(made.clone()))
        .await
        .unwrap();
    let buckets = bucket_names(&s3).await;
    let before = stored(&s3, &first.bucket).await;
    assert!(before.has_policy(), "finished");

    // The same input again: success, reads only. The conflicting runs must send exactly this.
    let (counting, same) = harness::counting_s3(moto);
    let again = run(&CreateBucket::new(counting), event(made))
        .await
        .unwrap();
    assert!(again.changed.is_empty(), "{:?}", again.changed);
    assert_eq!(same.count(), READS_ONLY);

    for (extra, says) in asked {
        let (counting, counter) = harness::counting_s3(moto);
        let err = run(&CreateBucket::new(counting), event(extra.clone()))
            .await
            .unwrap_err();
        let msg = err.to_string();
        match &err {
            CreateBucketError::BucketConflict {
                bucket,
                reason: Conflict::Settings { finished, .. },
            } => {
                assert_eq!(bucket, &first.bucket);
                assert!(*finished, "{msg}");
            }
            other => panic!("{extra}: expected a settings conflict, got {other}"),
        }
        assert_eq!(kit::StepError::error_type(&err), "BucketConflict");
        for s in *says {
            assert!(msg.contains(s), "{extra}: {msg:?} does not say {s:?}");
        }
        assert!(msg.contains("nothing was changed"), "{msg}");
        assert!(msg.len() < 1024, "{} bytes: {msg}", msg.len());
        assert_eq!(counter.count(), same.count(), "{extra}: reads only ({msg})");
        assert_eq!(
            stored(&s3, &first.bucket).await,
            before,
            "{extra}: unchanged"
        );
    }
    assert_eq!(bucket_names(&s3).await, buckets, "no bucket created");
}

#[tokio::test]
async fn another_retention_on_a_finished_bucket_is_a_conflict_with_nothing_changed() {
    let moto = Moto::start();
    let made_with = r#"this snapshot was made with retention "GOVERNANCE/35"; re-run with those settings, or choose another bucket_prefix"#;
    each_is_refused_on_the_finished_bucket(
        &moto,
        json!({"retention": {"mode": "GOVERNANCE", "days": 35}}),
        &[
            (
                json!({"retention": {"mode": "COMPLIANCE", "days": 3650}}),
                &[
                    r#"retention: existing "GOVERNANCE/35", requested "COMPLIANCE/3650""#,
                    made_with,
                ],
            ),
            (
                json!({"retention": {"mode": "COMPLIANCE", "days": 35}}),
                &[r#"requested "COMPLIANCE/35""#, made_with],
            ),
            (
                json!({"retention": {"mode": "GOVERNANCE", "days": 3650}}),
                &[r#"requested "GOVERNANCE/3650""#, made_with],
            ),
            (
                json!({}),
                &[
                    r#"retention: existing "GOVERNANCE/35", requested none"#,
                    made_with,
                ],
            ),
        ],
    )
    .await;
    // A snapshot made without a default retention does not get one later.
    each_is_refused_on_the_finished_bucket(
        &moto,
        json!({"bucket_prefix": "acme"}),
        &[(
            json!({"bucket_prefix": "acme", "retention": {"mode": "COMPLIANCE", "days": 3650}}),
            &[
                r#"retention: existing none, requested "COMPLIANCE/3650""#,
                "this snapshot was made with retention none",
            ],
        )],
    )
    .await;
}

#[tokio::test]
async fn another_kms_key_on_a_finished_bucket_is_a_conflict_with_nothing_changed() {
    let moto = Moto::start();
    let key = r#""key/1234abcd-12ab-34cd-56ef-1234567890ab" of account 123456789012"#;
    each_is_refused_on_the_finished_bucket(
        &moto,
        json!({"kms_key_arn": KEY}),
        &[
            (
                json!({"kms_key_arn": OTHER_KEY}),
                &[
                    &format!(
                        r#"kms_key_arn: existing {key}, requested "key/0000aaaa-00aa-00aa-00aa-000000aaaaaa" of account 123456789012"#
                    ),
                    &format!("this snapshot was made with kms_key_arn {key}"),
                ],
            ),
            (
                json!({}),
                &[&format!(
                    "kms_key_arn: existing {key}, requested none (SSE-S3)"
                )],
            ),
        ],
    )
    .await;
    // SSE-S3 on a finished bucket is what was asked for then, not S3's default to replace.
    each_is_refused_on_the_finished_bucket(
        &moto,
        json!({"bucket_prefix": "acme"}),
        &[(
            json!({"bucket_prefix": "acme", "kms_key_arn": KEY}),
            &[&format!(
                "kms_key_arn: existing none (SSE-S3), requested {key}"
            )],
        )],
    )
    .await;
}

#[tokio::test]
async fn other_break_glass_roles_on_a_finished_bucket_are_a_conflict_with_nothing_changed() {
    let moto = Moto::start();
    each_is_refused_on_the_finished_bucket(
        &moto,
        json!({}),
        &[
            (
                json!({"break_glass_role_arns": [OTHER_ROLE]}),
                &[
                    &format!(
                        "break_glass_role_arns: existing [{ROLE:?}], requested [{OTHER_ROLE:?}]"
                    ),
                    &format!("this snapshot was made with break_glass_role_arns [{ROLE:?}]"),
                ],
            ),
            (
                json!({"break_glass_role_arns": [ROLE, OTHER_ROLE]}),
                &[&format!(
                    "break_glass_role_arns: existing [{ROLE:?}], requested [{OTHER_ROLE:?}, {ROLE:?}]"
                )],
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn a_prune_role_added_to_or_removed_from_a_finished_bucket_is_a_conflict_with_nothing_changed()
 {
    let moto = Moto::start();
    let prune = crate::prune::PRUNE;
    let only_break_glass = "a snapshot made without one is expired by a break-glass role only";
    // Made before the prune role existed: its policy cannot be changed but by a break-glass role.
    each_is_refused_on_the_finished_bucket(
        &moto,
        json!({}),
        &[(
            json!({"prune_role_arn": prune}),
            &[
                &format!("prune_role_arn: existing none, requested {prune:?}"),
                "this snapshot was made with prune_role_arn none",
                only_break_glass,
            ],
        )],
    )
    .await;
    each_is_refused_on_the_finished_bucket(
        &moto,
        json!({"bucket_prefix": "acme", "prune_role_arn": prune}),
        &[
            (
                json!({"bucket_prefix": "acme"}),
                &[&format!("prune_role_arn: existing {prune:?}, requested none")],
            ),
            (
                json!({"bucket_prefix": "acme", "prune_role_arn": "arn:aws:iam::123456789012:role/other-prune"}),
                &[&format!(
                    r#"prune_role_arn: existing {prune:?}, requested "arn:aws:iam::123456789012:role/other-prune""#
                )],
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn several_differences_are_all_named_at_once() {
    let moto = Moto::start();
    each_is_refused_on_the_finished_bucket(
        &moto,
        json!({"kms_key_arn": KEY, "retention": {"mode": "GOVERNANCE", "days": 35}}),
        &[(
            json!({"kms_key_arn": OTHER_KEY, "retention": {"mode": "COMPLIANCE", "days": 3650},
                   "break_glass_role_arns": [OTHER_ROLE]}),
            &[
                "(finished), made with other settings: kms_key_arn: existing",
                r#"; retention: existing "GOVERNANCE/35", requested "COMPLIANCE/3650"; break_glass_role_arns: existing"#,
                r#"this snapshot was made with kms_key_arn "key/1234abcd-12ab-34cd-56ef-1234567890ab" of account 123456789012, retention "GOVERNANCE/35", break_glass_role_arns ["#,
            ],
        )],
    )
    .await;
}

#[tokio::test]
async fn a_setting_present_and_different_on_an_unfinished_bucket_is_a_conflict() {
    let moto = Moto::start();
    let s3 = moto.s3();
    let bucket = "lake-prod-31-mar-2021";
    // An earlier run asked for GOVERNANCE/35 and stopped before its policy.
    create_with_object_lock(&s3, bucket).await;
    tag_as_this_backup(&s3, bucket).await;
    put_default_retention(&s3, bucket, ObjectLockRetentionMode::Governance, 35).await;
    let before = stored(&s3, bucket).await;
    assert!(!before.has_policy());

    let (counting, counter) = harness::counting_s3(&moto);
    let err = run(
        &CreateBucket::new(counting),
        event(json!({"retention": {"mode": "COMPLIANCE", "days": 3650}})),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            &err,
            CreateBucketError::BucketConflict {
                reason: Conflict::Settings {
                    finished: false,
                    ..
                },
                ..
            }
        ),
        "{err}"
    );
    let msg = err.to_string();
    assert!(msg.contains("(unfinished)"), "{msg}");
    assert!(
        msg.contains(r#"retention: existing "GOVERNANCE/35", requested "COMPLIANCE/3650""#),
        "{msg}"
    );
    assert_eq!(counter.count(), READS_ONLY, "reads only: {msg}");
    assert_eq!(stored(&s3, bucket).await, before, "nothing changed");

    // The input it was started with finishes it.
    let out = run(
        &CreateBucket::new(moto.s3()),
        event(json!({"retention": {"mode": "GOVERNANCE", "days": 35}})),
    )
    .await
    .unwrap();
    assert!(
        !out.changed.contains(&Setting::ObjectLock),
        "{:?}",
        out.changed
    );
    assert_eq!(out.changed.last(), Some(&Setting::Policy));
}
