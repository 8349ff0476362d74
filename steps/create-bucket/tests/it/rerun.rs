//! Re-runs: nothing changes when all is in place, a half-made bucket is finished.

use create_bucket::{CreateBucket, Setting};
use harness::Moto;
use serde_json::json;

use crate::support::{KEY, ROLE, assert_locked_down, bucket_names, event, run};

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
    // Reads only: ListBuckets, HeadBucket (moto does not report BucketRegion), 7 setting reads.
    assert!(counter.count() <= 9, "{} requests", counter.count());
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
    s3.create_bucket()
        .bucket(bucket)
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .unwrap();
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
