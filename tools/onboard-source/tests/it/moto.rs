//! onboard-source against moto (the local stack's, which reads inventory configurations back as
//! they were put: see local/moto/moto_server.py). Never calls DeleteBucketInventoryConfiguration.

use std::process::Command;

use aws_sdk_s3::types::{
    BucketLocationConstraint, CreateBucketConfiguration, InventoryConfiguration, InventoryFrequency,
};
use harness::{Moto, REGION, counting_s3, unique_bucket};
use onboard_source::{
    Change, InventorySummary, OnboardError, Onboarder, Request, STATEMENT_SID, read_statement,
};
use serde_json::{Value, json};

const ROLE: &str = "arn:aws:iam::222222222222:role/lakevault-BatchOperationsRole-X1";
const INVENTORY_BUCKET: &str = "222222222222-lakevault-inventory-us-east-1";

fn request() -> Request {
    Request::new(ROLE, INVENTORY_BUCKET, None, "inventory", "daily", None).unwrap()
}

async fn bucket(moto: &Moto) -> String {
    let name = unique_bucket("lake");
    moto.s3()
        .create_bucket()
        .bucket(&name)
        .send()
        .await
        .unwrap();
    name
}

/// The bucket's policy as stored, if it has one.
async fn policy_text(moto: &Moto, bucket: &str) -> Option<String> {
    match moto.s3().get_bucket_policy().bucket(bucket).send().await {
        Ok(o) => o.policy,
        Err(_) => None,
    }
}

async fn policy_of(moto: &Moto, bucket: &str) -> Option<Value> {
    policy_text(moto, bucket)
        .await
        .map(|p| serde_json::from_str(&p).unwrap())
}

async fn put_policy(moto: &Moto, bucket: &str, policy: &Value) {
    moto.s3()
        .put_bucket_policy()
        .bucket(bucket)
        .policy(policy.to_string())
        .send()
        .await
        .unwrap();
}

async fn inventory_of(moto: &Moto, bucket: &str, id: &str) -> InventoryConfiguration {
    moto.s3()
        .get_bucket_inventory_configuration()
        .bucket(bucket)
        .id(id)
        .send()
        .await
        .unwrap()
        .inventory_configuration
        .unwrap()
}

/// An existing policy with statements of its own, as a platform team would have.
fn existing_policy(bucket: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Id": "data-platform",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [format!("arn:aws:s3:::{bucket}"), format!("arn:aws:s3:::{bucket}/*")],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}}
            },
            {
                "Sid": "AnalyticsRead",
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::333333333333:role/analytics"},
                "Action": ["s3:GetObject", "s3:ListBucket"],
                "Resource": [format!("arn:aws:s3:::{bucket}"), format!("arn:aws:s3:::{bucket}/*")]
            }
        ]
    })
}

#[tokio::test]
async fn a_bucket_without_a_policy_gets_one_and_its_inventory() {
    let moto = Moto::start_local_stack();
    let b = bucket(&moto).await;
    let report = Onboarder::new(&moto.sdk_config())
        .onboard(&request(), &b, false)
        .await
        .unwrap();
    assert_eq!(report.inventory, Some(Change::Created));
    assert_eq!(report.policy, Change::Created);
    assert!(!report.dry_run);

    let policy = policy_of(&moto, &b).await.expect("a policy");
    let role = onboard_source::RoleArn::parse(ROLE).unwrap();
    assert_eq!(policy["Statement"], json!([read_statement(&role, &b)]));

    let inv = InventorySummary::of(&inventory_of(&moto, &b, "daily").await);
    assert_eq!(inv.format, "CSV");
    assert_eq!(inv.frequency, "Daily");
    assert_eq!(inv.versions, "Current");
    assert_eq!(inv.bucket, format!("arn:aws:s3:::{INVENTORY_BUCKET}"));
    assert_eq!(inv.account_id.as_deref(), Some("222222222222"));
    assert_eq!(inv.prefix.as_deref(), Some("inventory"));
    assert_eq!(
        inv.encryption, "none",
        "the inventory bucket's default encryption applies"
    );
    assert!(inv.enabled);
}

#[tokio::test]
async fn merge_keeps_other_statements_and_a_rerun_only_reads() {
    let moto = Moto::start_local_stack();
    let b = bucket(&moto).await;
    let theirs = existing_policy(&b);
    put_policy(&moto, &b, &theirs).await;

    let (s3, counter) = counting_s3(&moto);
    let onboarder = Onboarder::with_client(s3, Some(REGION.to_owned()));
    let first = onboarder.onboard(&request(), &b, false).await.unwrap();
    assert_eq!(first.policy, Change::Added);
    assert_eq!(first.inventory, Some(Change::Created));

    let merged = policy_of(&moto, &b).await.unwrap();
    let statements = merged["Statement"].as_array().unwrap();
    assert_eq!(statements.len(), 3);
    // Theirs, unchanged and in their place; ours appended.
    assert_eq!(statements[..2], theirs["Statement"].as_array().unwrap()[..]);
    assert_eq!(statements[2]["Sid"], STATEMENT_SID);
    assert_eq!(merged["Id"], "data-platform");
    let stored_text = policy_text(&moto, &b).await.unwrap();

    // The re-run: HeadBucket, GetBucketInventoryConfiguration, GetBucketPolicy; no write.
    let before = counter.count();
    let again = onboarder.onboard(&request(), &b, false).await.unwrap();
    assert_eq!(again.policy, Change::Unchanged);
    assert_eq!(again.inventory, Some(Change::Unchanged));
    assert_eq!(counter.count() - before, 3, "a re-run sends three reads");
    let after_text = policy_text(&moto, &b).await.unwrap();
    assert_eq!(
        after_text, stored_text,
        "the policy is byte for byte the same"
    );
}

#[tokio::test]
async fn a_stale_grant_and_a_changed_inventory_are_updated_in_place() {
    let moto = Moto::start_local_stack();
    let b = bucket(&moto).await;
    // Onboarded earlier for a batch role that has since been replaced, with another prefix.
    let old = Request::new(
        "arn:aws:iam::222222222222:role/old-batch-role",
        INVENTORY_BUCKET,
        None,
        "old-prefix",
        "daily",
        None,
    )
    .unwrap();
    let onboarder = Onboarder::new(&moto.sdk_config());
    onboarder.onboard(&old, &b, false).await.unwrap();
    // Someone adds a statement after ours.
    let mut policy = policy_of(&moto, &b).await.unwrap();
    let extra = existing_policy(&b)["Statement"][1].clone();
    policy["Statement"]
        .as_array_mut()
        .unwrap()
        .push(extra.clone());
    put_policy(&moto, &b, &policy).await;
    // And another inventory configuration of their own.
    let mut theirs = onboard_source::desired_inventory(
        &onboard_source::InventoryTarget {
            account_id: "333333333333".to_owned(),
            bucket: "analytics".to_owned(),
            prefix: "weekly".to_owned(),
            configuration_id: "analytics".to_owned(),
        },
        "aws",
    );
    theirs.schedule = Some(
        aws_sdk_s3::types::InventorySchedule::builder()
            .frequency(InventoryFrequency::Weekly)
            .build()
            .unwrap(),
    );
    moto.s3()
        .put_bucket_inventory_configuration()
        .bucket(&b)
        .id("analytics")
        .inventory_configuration(theirs.clone())
        .send()
        .await
        .unwrap();

    let report = onboarder.onboard(&request(), &b, false).await.unwrap();
    assert_eq!(report.policy, Change::Updated);
    assert_eq!(report.inventory, Some(Change::Updated));
    assert_eq!(
        report.previous_statements[0]["Principal"]["AWS"],
        "arn:aws:iam::222222222222:role/old-batch-role"
    );
    assert_eq!(
        report
            .previous_inventory
            .as_ref()
            .unwrap()
            .prefix
            .as_deref(),
        Some("old-prefix")
    );

    let role = onboard_source::RoleArn::parse(ROLE).unwrap();
    let merged = policy_of(&moto, &b).await.unwrap();
    assert_eq!(
        merged["Statement"],
        json!([read_statement(&role, &b), extra]),
        "ours replaced in its place, theirs kept"
    );
    let ours = InventorySummary::of(&inventory_of(&moto, &b, "daily").await);
    assert_eq!(ours.prefix.as_deref(), Some("inventory"));
    assert_eq!(
        InventorySummary::of(&inventory_of(&moto, &b, "analytics").await),
        InventorySummary::of(&theirs),
        "another inventory configuration is left alone"
    );
}

#[tokio::test]
async fn dry_run_reports_and_changes_nothing() {
    let moto = Moto::start_local_stack();
    let b = bucket(&moto).await;
    let theirs = existing_policy(&b);
    put_policy(&moto, &b, &theirs).await;
    let report = Onboarder::new(&moto.sdk_config())
        .onboard(&request(), &b, true)
        .await
        .unwrap();
    assert!(report.dry_run);
    assert_eq!(report.policy, Change::Added);
    assert_eq!(report.inventory, Some(Change::Created));
    assert_eq!(policy_of(&moto, &b).await.unwrap(), theirs);
    let missing = moto
        .s3()
        .get_bucket_inventory_configuration()
        .bucket(&b)
        .id("daily")
        .send()
        .await;
    assert!(missing.is_err(), "no inventory configuration was put");
}

#[tokio::test]
async fn missing_bucket_and_wrong_region_change_nothing() {
    let moto = Moto::start_local_stack();
    let onboarder = Onboarder::new(&moto.sdk_config());
    let err = onboarder
        .onboard(&request(), "no-such-bucket-anywhere", false)
        .await
        .unwrap_err();
    assert!(
        matches!(err, OnboardError::BucketNotFound { .. }),
        "{err:?}"
    );

    let b = unique_bucket("lake-eu");
    moto.s3()
        .create_bucket()
        .bucket(&b)
        .create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::EuWest1)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let err = onboarder.onboard(&request(), &b, false).await.unwrap_err();
    match &err {
        OnboardError::WrongRegion {
            bucket_region,
            region,
            ..
        } => {
            assert_eq!(bucket_region, "eu-west-1");
            assert_eq!(region, REGION);
        }
        other => panic!("expected WrongRegion, got {other:?}"),
    }
    assert!(err.to_string().contains("AWS_REGION=eu-west-1"), "{err}");
    assert_eq!(policy_of(&moto, &b).await, None);
}

#[tokio::test]
async fn the_command_prints_a_line_per_bucket_and_fails_if_one_failed() {
    let moto = Moto::start_local_stack();
    let b = bucket(&moto).await;
    let run = |extra: &[&str]| {
        let out = Command::new(harness::bin("onboard-source"))
            .envs(moto.env())
            .env("RUST_LOG", "warn")
            .args([
                "--role-arn",
                ROLE,
                "--inventory-bucket",
                INVENTORY_BUCKET,
                "--bucket",
                &b,
            ])
            .args(extra)
            .output()
            .expect("onboard-source runs");
        let lines: Vec<Value> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect();
        (out.status.code(), lines)
    };

    let (code, lines) = run(&[]);
    assert_eq!(code, Some(0), "{lines:?}");
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["bucket"], b.as_str());
    assert_eq!(lines[0]["inventory"], "created");
    assert_eq!(lines[0]["policy"], "created");

    let (code, lines) = run(&["--bucket", "no-such-bucket-anywhere"]);
    assert_eq!(code, Some(1));
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["policy"], "unchanged");
    assert_eq!(lines[0]["inventory"], "unchanged");
    assert_eq!(lines[1]["errorType"], "BucketNotFound");

    // Bad flags never reach AWS: exit 2 and a message naming the flag.
    let out = Command::new(harness::bin("onboard-source"))
        .envs(moto.env())
        .args([
            "--role-arn",
            "arn:aws:iam::1:user/x",
            "--inventory-bucket",
            "i",
            "--bucket",
            &b,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--role-arn"));

    // --print-statement needs no AWS at all.
    let out = Command::new(harness::bin("onboard-source"))
        .args(["--print-statement", "--role-arn", ROLE, "--bucket", "lake"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["Sid"], STATEMENT_SID);
    assert_eq!(printed["Resource"], "arn:aws:s3:::lake/*");
}

#[tokio::test]
async fn an_unmergeable_or_too_large_policy_changes_nothing() {
    let moto = Moto::start_local_stack();
    let onboarder = Onboarder::new(&moto.sdk_config());
    let invalid = bucket(&moto).await;
    put_policy(
        &moto,
        &invalid,
        &json!({"Version": "2012-10-17", "Statement": "s3:*"}),
    )
    .await;
    let large = bucket(&moto).await;
    // Statements up to just under S3's 20 KB, with no room left for the grant.
    let mut statements: Vec<Value> = Vec::new();
    while json!({"Version": "2012-10-17", "Statement": statements})
        .to_string()
        .len()
        < onboard_source::POLICY_MAX_BYTES - 150
    {
        let i = statements.len();
        statements.push(json!({"Sid": format!("S{i}"), "Effect": "Allow",
               "Principal": {"AWS": format!("arn:aws:iam::333333333333:role/r{i}")},
               "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{large}/p{i}/*")}));
    }
    statements.pop();
    put_policy(
        &moto,
        &large,
        &json!({"Version": "2012-10-17", "Statement": statements}),
    )
    .await;

    for (b, want) in [(&invalid, "PolicyInvalid"), (&large, "PolicyTooLarge")] {
        let before = policy_text(&moto, b).await;
        let err = onboarder.onboard(&request(), b, false).await.unwrap_err();
        assert_eq!(kit::StepError::error_type(&err), want, "{err}");
        assert!(err.to_string().contains("nothing was changed"), "{err}");
        assert_eq!(policy_text(&moto, b).await, before, "{b}: policy untouched");
        let inventory = moto
            .s3()
            .get_bucket_inventory_configuration()
            .bucket(b)
            .id("daily")
            .send()
            .await;
        assert!(
            inventory.is_err(),
            "{b}: planned first, so no inventory was put"
        );
    }
}

#[tokio::test]
async fn a_legacy_bucket_name_is_refused_before_any_call() {
    let moto = Moto::start_local_stack();
    let (s3, counter) = counting_s3(&moto);
    let onboarder = Onboarder::with_client(s3, Some(REGION.to_owned()));
    let err = onboarder
        .onboard(&request(), "Lake_Prod", false)
        .await
        .unwrap_err();
    match &err {
        OnboardError::InvalidInput(e) => {
            assert_eq!(e.path, "--bucket");
            assert!(e.message.contains("legacy bucket names"), "{e}");
        }
        other => panic!("expected InvalidInput, got {other:?}"),
    }
    assert_eq!(counter.count(), 0, "no request was sent");
}
