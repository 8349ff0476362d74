//! create-bucket against a real moto server: every setting through the read APIs, re-runs,
//! recovery of a half-configured bucket, conflicts, odd names, invalid input, the binary.

use std::io::Write;
use std::process::{Command, Stdio};

use aws_sdk_s3::Client;
use aws_sdk_s3::types::{BucketLocationConstraint, ObjectLockEnabled};
use create_bucket::{CreateBucket, CreateBucketError, CreateBucketOutput, Setting, naming, policy};
use harness::Moto;
use kit::Step;
use serde_json::{Value, json};

const ROLE: &str = "arn:aws:iam::123456789012:role/break-glass";
const KEY: &str = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn event(extra: Value) -> Value {
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

async fn run(step: &CreateBucket, ev: Value) -> Result<CreateBucketOutput, CreateBucketError> {
    step.handle(serde_json::from_value(ev).unwrap()).await
}

async fn bucket_names(s3: &Client) -> Vec<String> {
    s3.list_buckets()
        .send()
        .await
        .unwrap()
        .buckets()
        .iter()
        .filter_map(|b| b.name().map(str::to_owned))
        .collect()
}

async fn tags(s3: &Client, bucket: &str) -> Vec<(String, String)> {
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

async fn policy_of(s3: &Client, bucket: &str) -> Option<Value> {
    s3.get_bucket_policy()
        .bucket(bucket)
        .send()
        .await
        .ok()
        .and_then(|p| p.policy().map(|p| serde_json::from_str(p).unwrap()))
}

/// Every setting, read back through S3's read APIs.
async fn assert_locked_down(
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
    for a in [
        "s3:DeleteBucket",
        "s3:PutBucketPolicy",
        "s3:DeleteBucketPolicy",
    ] {
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
async fn sse_s3_without_a_key_in_another_region_with_a_prefix() {
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

#[tokio::test]
async fn long_and_dotted_source_names() {
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

    let long_source = "a-very-long-data-lake-bucket-name-for-the-analytics-platform-prod";
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
async fn the_binary_runs_against_moto() {
    let moto = Moto::start();
    let run_bin = |ev: &Value| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_create-bucket"))
            .envs(moto.env())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(ev.to_string().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        (out.status.code(), v)
    };
    let ev = event(
        json!({"retention": {"mode": "GOVERNANCE", "days": 1}, "extra_field_from_the_state_machine": 1}),
    );
    let (code, out) = run_bin(&ev);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out["bucket"], "lake-prod-31-mar-2021");
    assert_eq!(out["created"], true);
    let (code, out) = run_bin(&ev);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out["created"], false);
    assert_eq!(out["changed"], json!([]));
    assert_locked_down(
        &moto.s3(),
        "lake-prod-31-mar-2021",
        None,
        Some(("GOVERNANCE", 1)),
    )
    .await;

    let (code, out) = run_bin(&event(json!({"backup_date": "yesterday"})));
    assert_eq!(code, Some(1));
    assert_eq!(out["errorType"], "InvalidInput");
}
