//! The lifecycle rule that aborts incomplete multipart uploads: put on a new bucket, never
//! duplicated by a re-run, added beside the rules others put there (which are kept), and left as
//! it is when a rule of its id is in place. (moto stores lifecycle configurations; it never
//! applies them.)

use aws_sdk_s3::types::LifecycleRule;
use create_bucket::{ABORT_UPLOADS_RULE_ID, CreateBucket, Setting};
use harness::Moto;
use serde_json::json;

use crate::support::{
    READS_ONLY, abort_rule, assert_locked_down, create_with_object_lock, event, expiry_rule,
    lifecycle_rules, put_lifecycle_rules, run, tag_as_this_backup,
};

/// The rules' ids, sorted.
fn ids(rules: &[LifecycleRule]) -> Vec<&str> {
    let mut ids: Vec<&str> = rules.iter().filter_map(LifecycleRule::id).collect();
    ids.sort_unstable();
    ids
}

#[tokio::test]
async fn a_new_bucket_gets_the_rule_before_its_policy_and_a_rerun_does_not_duplicate_it() {
    let moto = Moto::start();
    let s3 = moto.s3();
    let step = CreateBucket::new(moto.s3());
    let out = run(&step, event(json!({}))).await.unwrap();
    let at = |s: Setting| out.changed.iter().position(|c| *c == s);
    assert!(
        at(Setting::Lifecycle) < at(Setting::Policy),
        "{:?}",
        out.changed
    );
    assert!(at(Setting::Lifecycle).is_some(), "{:?}", out.changed);
    assert_eq!(
        out.settings.abort_incomplete_uploads.rule_id,
        ABORT_UPLOADS_RULE_ID
    );
    assert_eq!(
        out.settings.abort_incomplete_uploads.days_after_initiation,
        7
    );
    assert_locked_down(&s3, &out.bucket, None, None).await;
    assert_eq!(
        ids(&lifecycle_rules(&s3, &out.bucket).await),
        [ABORT_UPLOADS_RULE_ID]
    );

    let (counting, counter) = harness::counting_s3(&moto);
    let again = run(&CreateBucket::new(counting), event(json!({})))
        .await
        .unwrap();
    assert!(again.changed.is_empty(), "{:?}", again.changed);
    assert_eq!(counter.count(), READS_ONLY, "reads only");
    assert_eq!(
        ids(&lifecycle_rules(&s3, &out.bucket).await),
        [ABORT_UPLOADS_RULE_ID]
    );
}

#[tokio::test]
async fn rules_others_put_on_an_unfinished_bucket_are_kept_beside_it() {
    let moto = Moto::start();
    let s3 = moto.s3();
    let bucket = "lake-prod-31-mar-2021";
    // An earlier attempt stopped after tagging; someone added a rule of their own since.
    create_with_object_lock(&s3, bucket).await;
    tag_as_this_backup(&s3, bucket).await;
    let theirs = expiry_rule("expire-scratch", "scratch/", 30);
    put_lifecycle_rules(&s3, bucket, vec![theirs.clone()]).await;

    let step = CreateBucket::new(moto.s3());
    let out = run(&step, event(json!({}))).await.unwrap();
    assert!(!out.created);
    assert!(
        out.changed.contains(&Setting::Lifecycle),
        "{:?}",
        out.changed
    );
    assert_locked_down(&s3, bucket, None, None).await;
    let rules = lifecycle_rules(&s3, bucket).await;
    assert_eq!(ids(&rules), ["expire-scratch", ABORT_UPLOADS_RULE_ID]);
    let kept = rules
        .iter()
        .find(|r| r.id() == Some("expire-scratch"))
        .unwrap();
    assert_eq!(kept.filter().and_then(|f| f.prefix()), Some("scratch/"));
    assert_eq!(kept.expiration().and_then(|e| e.days()), Some(30));

    let again = run(&step, event(json!({}))).await.unwrap();
    assert!(again.changed.is_empty(), "{:?}", again.changed);
    assert_eq!(lifecycle_rules(&s3, bucket).await.len(), 2);
}

#[tokio::test]
async fn a_rule_of_lakevaults_id_in_place_is_left_as_it_is() {
    let moto = Moto::start();
    let s3 = moto.s3();
    let bucket = "lake-prod-31-mar-2021";
    create_with_object_lock(&s3, bucket).await;
    tag_as_this_backup(&s3, bucket).await;
    // Among another rule, and with a longer period someone chose: not rewritten.
    put_lifecycle_rules(
        &s3,
        bucket,
        vec![
            expiry_rule("expire-scratch", "scratch/", 30),
            abort_rule(14),
        ],
    )
    .await;
    let out = run(&CreateBucket::new(moto.s3()), event(json!({})))
        .await
        .unwrap();
    assert!(
        !out.changed.contains(&Setting::Lifecycle),
        "{:?}",
        out.changed
    );
    let rules = lifecycle_rules(&s3, bucket).await;
    assert_eq!(ids(&rules), ["expire-scratch", ABORT_UPLOADS_RULE_ID]);
    let ours = rules
        .iter()
        .find(|r| r.id() == Some(ABORT_UPLOADS_RULE_ID))
        .unwrap();
    assert_eq!(
        ours.abort_incomplete_multipart_upload()
            .and_then(|a| a.days_after_initiation()),
        Some(14)
    );
}

#[tokio::test]
async fn a_finished_bucket_whose_rule_was_removed_is_a_conflict_with_nothing_changed() {
    let moto = Moto::start();
    let s3 = moto.s3();
    let out = run(&CreateBucket::new(moto.s3()), event(json!({})))
        .await
        .unwrap();
    // Removed by hand, another rule in its place (on AWS only a break-glass role can).
    put_lifecycle_rules(
        &s3,
        &out.bucket,
        vec![expiry_rule("expire-scratch", "scratch/", 30)],
    )
    .await;
    let before = crate::support::stored(&s3, &out.bucket).await;
    let (counting, counter) = harness::counting_s3(&moto);
    let err = run(&CreateBucket::new(counting), event(json!({})))
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert_eq!(kit::StepError::error_type(&err), "BucketConflict", "{msg}");
    assert!(
        msg.contains(
            r#"lifecycle: existing 1 lifecycle rule, not "lakevault-abort-incomplete-uploads", requested rule "lakevault-abort-incomplete-uploads""#
        ),
        "{msg}"
    );
    assert!(msg.contains("lifecycle changed outside lakevault"), "{msg}");
    assert_eq!(counter.count(), READS_ONLY, "reads only: {msg}");
    assert_eq!(
        crate::support::stored(&s3, &out.bucket).await,
        before,
        "nothing changed"
    );
}
