//! The prune role (issue 15): a bucket made with `prune_role_arn` holds the policy that exempts
//! it from denying `s3:DeleteBucket` and `s3:PutLifecycleConfiguration` only, read back through
//! `GetBucketPolicy`; a re-run converges with reads only. (Adding or removing the prune role on
//! a finished bucket is in `conflict`; a bad ARN in `corpus`.)

use create_bucket::{CreateBucket, Setting, policy};
use harness::Moto;
use serde_json::{Value, json};

use crate::support::{
    READS_ONLY, ROLE, assert_locked_down, event, lifecycle_rules, policy_of, run, stored,
};

pub(crate) const PRUNE: &str = "arn:aws:iam::123456789012:role/lakevault-prune";

/// The statement of `sid` in `p`.
fn statement<'a>(p: &'a Value, sid: &str) -> &'a Value {
    p["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == sid)
        .unwrap_or_else(|| panic!("no {sid} in {p}"))
}

#[tokio::test]
async fn a_bucket_made_with_a_prune_role_stores_the_policy_that_exempts_it_from_two_actions() {
    let moto = Moto::start();
    let s3 = moto.s3();
    let ev =
        event(json!({"prune_role_arn": PRUNE, "retention": {"mode": "GOVERNANCE", "days": 35}}));
    let out = run(&CreateBucket::new(moto.s3()), ev.clone())
        .await
        .unwrap();
    assert!(out.created);
    assert_eq!(out.settings.prune_role_arn.as_deref(), Some(PRUNE));
    // The lifecycle rule is put before the policy, which would refuse it to the step's role.
    let lifecycle = out.changed.iter().position(|s| *s == Setting::Lifecycle);
    assert!(lifecycle.is_some(), "{:?}", out.changed);
    assert_eq!(out.changed.last(), Some(&Setting::Policy));
    assert_eq!(lifecycle_rules(&s3, &out.bucket).await.len(), 1);
    assert_locked_down(&s3, &out.bucket, None, Some(("GOVERNANCE", 35))).await;

    let p = policy_of(&s3, &out.bucket).await.expect("a bucket policy");
    assert_eq!(
        policy::normalise(&p),
        policy::normalise(&out.settings.policy)
    );
    let arn = format!("arn:aws:s3:::{}", out.bucket);
    let prune = statement(&p, policy::PRUNE_SID);
    assert_eq!(prune["Effect"], "Deny");
    assert_eq!(prune["Resource"], arn);
    assert_eq!(
        prune["Action"],
        json!(["s3:DeleteBucket", "s3:PutLifecycleConfiguration"])
    );
    assert_eq!(
        prune["Condition"]["ArnNotLike"]["aws:PrincipalArn"],
        json!([ROLE, PRUNE])
    );
    // Nowhere else: Governance bypass, object deletion, policy, Object Lock, versioning stay
    // denied to it.
    assert_eq!(p.to_string().matches(PRUNE).count(), 1, "{p}");
    let objects = statement(&p, "DenyObjectDeletion");
    assert!(
        objects["Action"]
            .as_array()
            .unwrap()
            .contains(&json!("s3:BypassGovernanceRetention"))
    );
    let tampering = statement(&p, "DenyBucketTampering");
    for s in [objects, tampering] {
        assert_eq!(
            s["Condition"]["ArnNotLike"]["aws:PrincipalArn"],
            json!([ROLE])
        );
    }
    let denied: Vec<&str> = tampering["Action"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for a in [
        "s3:PutBucketPolicy",
        "s3:DeleteBucketPolicy",
        "s3:PutBucketObjectLockConfiguration",
        "s3:PutBucketVersioning",
    ] {
        assert!(denied.contains(&a), "{a}");
    }
    assert!(!denied.contains(&"s3:DeleteBucket"));
    assert!(!denied.contains(&"s3:PutLifecycleConfiguration"));

    // The same input again: reads only, the same answer, the policy not re-put.
    let before = stored(&s3, &out.bucket).await;
    let (counting, counter) = harness::counting_s3(&moto);
    let again = run(&CreateBucket::new(counting), ev).await.unwrap();
    assert!(!again.created);
    assert!(again.changed.is_empty(), "{:?}", again.changed);
    assert_eq!(again.settings, out.settings);
    assert_eq!(counter.count(), READS_ONLY);
    assert_eq!(stored(&s3, &out.bucket).await, before);
}

#[tokio::test]
async fn without_a_prune_role_the_policy_is_the_one_buckets_had_before() {
    let moto = Moto::start();
    let s3 = moto.s3();
    let out = run(&CreateBucket::new(moto.s3()), event(json!({})))
        .await
        .unwrap();
    let p = policy_of(&s3, &out.bucket).await.unwrap();
    let sids: Vec<&str> = p["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["Sid"].as_str())
        .collect();
    assert_eq!(
        sids,
        [
            "DenyInsecureTransport",
            "DenyObjectDeletion",
            "DenyBucketTampering"
        ]
    );
    assert_eq!(
        statement(&p, "DenyBucketTampering")["Action"],
        json!(policy::DENIED_BUCKET_ACTIONS)
    );
    let v = serde_json::to_value(&out).unwrap();
    assert!(v["settings"].get("prune_role_arn").is_none(), "{v}");
}
