//! onboard-source making a bucket a restore target (`--restore-role-arn`), against moto: the three
//! restore statements merged by Sid, alone or beside a source bucket's read grant.

use std::process::Command;

use harness::{Moto, REGION, counting_s3, unique_bucket};
use onboard_source::{
    Change, Onboarder, RESTORE_LIST_SID, RESTORE_READ_SID, RESTORE_WRITE_SID, Request,
    RestoreGrant, RoleArn, STATEMENT_SID, read_statement, restore_statements,
};
use serde_json::{Value, json};

const BATCH_ROLE: &str = "arn:aws:iam::222222222222:role/lakevault-BatchOperationsRole-X1";
const RESTORE_ROLE: &str = "arn:aws:iam::222222222222:role/lakevault-RestoreBatchRole-X1";
const PLAN_ROLE: &str = "arn:aws:iam::222222222222:role/lakevault-PlanRestoreRole-X1";
const VERIFY_ROLE: &str = "arn:aws:iam::222222222222:role/lakevault-VerifyRestoreRole-X1";
const INVENTORY_BUCKET: &str = "222222222222-lakevault-inventory-us-east-1";

fn grant(prefix: Option<&str>) -> RestoreGrant {
    RestoreGrant::new(RESTORE_ROLE, PLAN_ROLE, VERIFY_ROLE, prefix).unwrap()
}

fn target_request(prefix: Option<&str>) -> Request {
    Request::restore_target(grant(prefix), None).unwrap()
}

fn source_request() -> Request {
    Request::new(
        BATCH_ROLE,
        INVENTORY_BUCKET,
        None,
        "inventory",
        "daily",
        None,
    )
    .unwrap()
}

async fn bucket(moto: &Moto) -> String {
    let name = unique_bucket("lake-restored");
    moto.s3()
        .create_bucket()
        .bucket(&name)
        .send()
        .await
        .unwrap();
    name
}

async fn policy_text(moto: &Moto, bucket: &str) -> Option<String> {
    match moto.s3().get_bucket_policy().bucket(bucket).send().await {
        Ok(o) => o.policy,
        Err(_) => None,
    }
}

async fn policy_of(moto: &Moto, bucket: &str) -> Value {
    serde_json::from_str(&policy_text(moto, bucket).await.expect("a policy")).unwrap()
}

async fn has_inventory(moto: &Moto, bucket: &str) -> bool {
    moto.s3()
        .get_bucket_inventory_configuration()
        .bucket(bucket)
        .id("daily")
        .send()
        .await
        .is_ok()
}

/// A platform team's own statement.
fn theirs(bucket: &str) -> Value {
    json!({
        "Sid": "AnalyticsRead",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::333333333333:role/analytics"},
        "Action": ["s3:GetObject", "s3:ListBucket"],
        "Resource": [format!("arn:aws:s3:::{bucket}"), format!("arn:aws:s3:::{bucket}/*")]
    })
}

fn sids(policy: &Value) -> Vec<String> {
    policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["Sid"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn a_restore_target_gets_its_three_grants_and_nothing_else() {
    let moto = Moto::start_local_stack();
    let b = bucket(&moto).await;
    moto.s3()
        .put_bucket_policy()
        .bucket(&b)
        .policy(
            json!({"Version": "2012-10-17", "Id": "team", "Statement": [theirs(&b)]}).to_string(),
        )
        .send()
        .await
        .unwrap();

    let (s3, counter) = counting_s3(&moto);
    let onboarder = Onboarder::with_client(s3, Some(REGION.to_owned()));
    let report = onboarder
        .onboard(&target_request(Some("restored/")), &b, false)
        .await
        .unwrap();
    assert_eq!(report.inventory, None, "a restore target gets no inventory");
    assert_eq!(report.policy, Change::Added);
    assert_eq!(
        report.statements.into_iter().collect::<Vec<_>>(),
        [
            (RESTORE_LIST_SID.to_owned(), Change::Added),
            (RESTORE_READ_SID.to_owned(), Change::Added),
            (RESTORE_WRITE_SID.to_owned(), Change::Added),
        ]
    );
    assert!(
        report.note.contains("RestoreTargetBuckets"),
        "{}",
        report.note
    );
    assert!(!has_inventory(&moto, &b).await);

    let policy = policy_of(&moto, &b).await;
    assert_eq!(policy["Id"], "team");
    let mut want = vec![theirs(&b)];
    want.extend(restore_statements(&grant(Some("restored/")), &b));
    assert_eq!(policy["Statement"], json!(want), "theirs first, in place");
    assert_eq!(
        policy["Statement"][1]["Resource"],
        format!("arn:aws:s3:::{b}/restored/*")
    );

    // A re-run: HeadBucket and GetBucketPolicy, no write, the policy byte for byte the same.
    let stored = policy_text(&moto, &b).await;
    let before = counter.count();
    let again = onboarder
        .onboard(&target_request(Some("restored/")), &b, false)
        .await
        .unwrap();
    assert_eq!(again.policy, Change::Unchanged);
    assert!(again.statements.values().all(|c| *c == Change::Unchanged));
    assert_eq!(counter.count() - before, 2, "a re-run sends two reads");
    assert_eq!(policy_text(&moto, &b).await, stored);
}

#[tokio::test]
async fn a_source_bucket_can_also_be_a_restore_target() {
    let moto = Moto::start_local_stack();
    let b = bucket(&moto).await;
    let onboarder = Onboarder::new(&moto.sdk_config());
    onboarder
        .onboard(&source_request(), &b, false)
        .await
        .unwrap();

    let both = source_request().with_restore(grant(None));
    let report = onboarder.onboard(&both, &b, false).await.unwrap();
    assert_eq!(report.inventory, Some(Change::Unchanged));
    assert_eq!(report.policy, Change::Added);
    assert_eq!(report.statements[STATEMENT_SID], Change::Unchanged);
    assert_eq!(report.statements[RESTORE_WRITE_SID], Change::Added);
    let policy = policy_of(&moto, &b).await;
    let batch = RoleArn::parse(BATCH_ROLE).unwrap();
    let mut want = vec![read_statement(&batch, &b)];
    want.extend(restore_statements(&grant(None), &b));
    assert_eq!(policy["Statement"], json!(want));

    // Onboarding only one side later keeps the other side's statements.
    for request in [target_request(None), source_request()] {
        let report = onboarder.onboard(&request, &b, false).await.unwrap();
        assert_eq!(report.policy, Change::Unchanged);
    }
    assert_eq!(policy_of(&moto, &b).await["Statement"], json!(want));
}

#[tokio::test]
async fn another_restore_role_replaces_only_its_statement() {
    let moto = Moto::start_local_stack();
    let b = bucket(&moto).await;
    let onboarder = Onboarder::new(&moto.sdk_config());
    let old = RestoreGrant::new(
        "arn:aws:iam::222222222222:role/old-restore-role",
        PLAN_ROLE,
        VERIFY_ROLE,
        None,
    )
    .unwrap();
    onboarder
        .onboard(&Request::restore_target(old, None).unwrap(), &b, false)
        .await
        .unwrap();
    let mut policy = policy_of(&moto, &b).await;
    policy["Statement"].as_array_mut().unwrap().push(theirs(&b));
    moto.s3()
        .put_bucket_policy()
        .bucket(&b)
        .policy(policy.to_string())
        .send()
        .await
        .unwrap();

    let report = onboarder
        .onboard(&target_request(None), &b, false)
        .await
        .unwrap();
    assert_eq!(report.policy, Change::Updated);
    assert_eq!(report.statements[RESTORE_WRITE_SID], Change::Updated);
    assert_eq!(report.statements[RESTORE_LIST_SID], Change::Unchanged);
    assert_eq!(report.previous_statements.len(), 1);
    assert_eq!(
        report.previous_statements[0]["Principal"]["AWS"],
        "arn:aws:iam::222222222222:role/old-restore-role"
    );
    let mut want = restore_statements(&grant(None), &b);
    want.push(theirs(&b));
    assert_eq!(policy_of(&moto, &b).await["Statement"], json!(want));
}

#[tokio::test]
async fn a_dry_run_of_a_restore_target_changes_nothing() {
    let moto = Moto::start_local_stack();
    let b = bucket(&moto).await;
    let report = Onboarder::new(&moto.sdk_config())
        .onboard(&target_request(None), &b, true)
        .await
        .unwrap();
    assert!(report.dry_run);
    assert_eq!(report.policy, Change::Created);
    assert_eq!(report.statements.len(), 3);
    assert_eq!(policy_text(&moto, &b).await, None);
}

#[tokio::test]
async fn the_command_onboards_a_restore_target() {
    let moto = Moto::start_local_stack();
    let b = bucket(&moto).await;
    let command = |args: &[&str]| {
        Command::new(harness::bin("onboard-source"))
            .envs(moto.env())
            .env("RUST_LOG", "warn")
            .args(args)
            .output()
            .expect("onboard-source runs")
    };
    let restore_flags = [
        "--restore-role-arn",
        RESTORE_ROLE,
        "--plan-restore-role-arn",
        PLAN_ROLE,
        "--verify-restore-role-arn",
        VERIFY_ROLE,
    ];

    let mut args = restore_flags.to_vec();
    args.extend(["--restore-prefix", "restored/", "--bucket", &b]);
    let out = command(&args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["bucket"], b.as_str());
    assert_eq!(line["policy"], "created");
    assert!(line.get("inventory").is_none(), "{line}");
    assert_eq!(
        line["statements"],
        json!({RESTORE_WRITE_SID: "created", RESTORE_LIST_SID: "created", RESTORE_READ_SID: "created"})
    );
    assert_eq!(
        sids(&policy_of(&moto, &b).await),
        [RESTORE_WRITE_SID, RESTORE_LIST_SID, RESTORE_READ_SID]
    );

    // Flags that do not go together never reach AWS: exit 2, the flag named.
    let stderr = |args: &[&str]| {
        let out = command(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let e = stderr(&["--restore-role-arn", RESTORE_ROLE, "--bucket", &b]);
    assert!(e.contains("--plan-restore-role-arn"), "{e}");
    let mut bad_prefix = restore_flags.to_vec();
    bad_prefix.extend(["--restore-prefix", "restored", "--bucket", &b]);
    assert!(stderr(&bad_prefix).contains("--restore-prefix"));
    let e = stderr(&["--role-arn", BATCH_ROLE, "--bucket", &b]);
    assert!(e.contains("--inventory-bucket"), "{e}");
    let e = stderr(&["--bucket", &b]);
    assert!(
        e.contains("--role-arn") && e.contains("--restore-role-arn"),
        "{e}"
    );
    let e = stderr(&["--restore-prefix", "restored/", "--bucket", &b]);
    assert!(e.contains("--restore-role-arn"), "{e}");

    // --print-statement prints the three statements, and needs no AWS at all.
    let mut print = restore_flags.to_vec();
    print.extend(["--print-statement", "--bucket", "lake"]);
    let out = Command::new(harness::bin("onboard-source"))
        .args(&print)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let printed: Vec<Value> = serde_json::Deserializer::from_slice(&out.stdout)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(printed, restore_statements(&grant(None), "lake"));
}
