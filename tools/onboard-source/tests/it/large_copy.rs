//! onboard-source granting the large-copy roles (`--plan-large-copy-role-arn`,
//! `--copy-parts-role-arn`) read access to a source bucket, against moto: the two statements
//! merged by Sid beside the batch role's, a re-run that changes nothing, and the flags that go
//! together.

use std::process::Command;

use harness::{Moto, REGION, counting_s3, unique_bucket};
use onboard_source::{
    Change, LARGE_COPY_PARTS_SID, LARGE_COPY_PLAN_SID, LargeCopyGrant, Onboarder, Request, RoleArn,
    STATEMENT_SID, large_copy_statements, read_statement,
};
use serde_json::{Value, json};

const BATCH_ROLE: &str = "arn:aws:iam::222222222222:role/lakevault-BatchOperationsRole-X1";
const PLAN_ROLE: &str = "arn:aws:iam::222222222222:role/lakevault-PlanLargeCopyRole-X1";
const PARTS_ROLE: &str = "arn:aws:iam::222222222222:role/lakevault-CopyPartsRole-X1";
const INVENTORY_BUCKET: &str = "222222222222-lakevault-inventory-us-east-1";

fn grant() -> LargeCopyGrant {
    LargeCopyGrant::new(PLAN_ROLE, PARTS_ROLE).unwrap()
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

fn large_copy_request() -> Request {
    source_request().with_large_copy(grant()).unwrap()
}

async fn bucket(moto: &Moto) -> String {
    let name = unique_bucket("lake-large");
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
async fn an_onboarded_bucket_gets_the_large_copy_grants_and_a_rerun_changes_nothing() {
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
    // Onboarded before the large-copy grants existed.
    onboarder
        .onboard(&source_request(), &b, false)
        .await
        .unwrap();

    let report = onboarder
        .onboard(&large_copy_request(), &b, false)
        .await
        .unwrap();
    assert_eq!(report.inventory, Some(Change::Unchanged));
    assert_eq!(report.policy, Change::Added);
    assert_eq!(
        report.statements.into_iter().collect::<Vec<_>>(),
        [
            (STATEMENT_SID.to_owned(), Change::Unchanged),
            (LARGE_COPY_PARTS_SID.to_owned(), Change::Added),
            (LARGE_COPY_PLAN_SID.to_owned(), Change::Added),
        ]
    );
    assert!(report.previous_statements.is_empty());
    let policy = policy_of(&moto, &b).await;
    assert_eq!(policy["Id"], "team");
    let mut want = vec![
        theirs(&b),
        read_statement(&RoleArn::parse(BATCH_ROLE).unwrap(), &b),
    ];
    want.extend(large_copy_statements(&grant(), &b));
    assert_eq!(policy["Statement"], json!(want), "theirs first, in place");
    assert_eq!(
        policy["Statement"][2]["Principal"]["AWS"], PLAN_ROLE,
        "{policy}"
    );
    assert_eq!(
        policy["Statement"][3]["Action"],
        json!(["s3:GetObject", "s3:GetObjectVersion"])
    );

    // A re-run: HeadBucket, GetBucketInventoryConfiguration, GetBucketPolicy, no write, the
    // policy byte for byte the same.
    let stored = policy_text(&moto, &b).await;
    let before = counter.count();
    let again = onboarder
        .onboard(&large_copy_request(), &b, false)
        .await
        .unwrap();
    assert_eq!(again.policy, Change::Unchanged);
    assert_eq!(again.statements.len(), 3);
    assert!(again.statements.values().all(|c| *c == Change::Unchanged));
    assert_eq!(counter.count() - before, 3, "a re-run sends three reads");
    assert_eq!(policy_text(&moto, &b).await, stored);

    // Onboarding without the flags later keeps the grants (nothing is ever removed).
    let report = onboarder
        .onboard(&source_request(), &b, false)
        .await
        .unwrap();
    assert_eq!(report.policy, Change::Unchanged);
    assert_eq!(policy_text(&moto, &b).await, stored);

    // Another stack's copy-parts role: only its statement is replaced, in place.
    let other = LargeCopyGrant::new(PLAN_ROLE, "arn:aws:iam::222222222222:role/new-parts").unwrap();
    let report = onboarder
        .onboard(&source_request().with_large_copy(other).unwrap(), &b, false)
        .await
        .unwrap();
    assert_eq!(report.policy, Change::Updated);
    assert_eq!(report.statements[LARGE_COPY_PLAN_SID], Change::Unchanged);
    assert_eq!(report.statements[LARGE_COPY_PARTS_SID], Change::Updated);
    assert_eq!(report.previous_statements, [want[3].clone()]);
    let policy = policy_of(&moto, &b).await;
    assert_eq!(
        sids(&policy),
        [
            "AnalyticsRead",
            STATEMENT_SID,
            LARGE_COPY_PLAN_SID,
            LARGE_COPY_PARTS_SID
        ]
    );
    assert_eq!(
        policy["Statement"][3]["Principal"]["AWS"],
        "arn:aws:iam::222222222222:role/new-parts"
    );
}

#[tokio::test]
async fn a_dry_run_with_the_large_copy_grants_changes_nothing() {
    let moto = Moto::start_local_stack();
    let b = bucket(&moto).await;
    let report = Onboarder::new(&moto.sdk_config())
        .onboard(&large_copy_request(), &b, true)
        .await
        .unwrap();
    assert!(report.dry_run);
    assert_eq!(report.policy, Change::Created);
    assert_eq!(
        report.statements.keys().collect::<Vec<_>>(),
        [STATEMENT_SID, LARGE_COPY_PARTS_SID, LARGE_COPY_PLAN_SID]
    );
    assert_eq!(policy_text(&moto, &b).await, None);
}

#[tokio::test]
async fn the_command_writes_the_large_copy_grants_and_refuses_half_of_them() {
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
    let source_flags = [
        "--role-arn",
        BATCH_ROLE,
        "--inventory-bucket",
        INVENTORY_BUCKET,
    ];
    let with = |extra: &[&'static str]| {
        let mut args = source_flags.to_vec();
        args.extend_from_slice(extra);
        args
    };
    let large_copy_flags = [
        "--plan-large-copy-role-arn",
        PLAN_ROLE,
        "--copy-parts-role-arn",
        PARTS_ROLE,
    ];

    let mut args = with(&large_copy_flags);
    args.extend(["--bucket", &b]);
    let out = command(&args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["policy"], "created");
    assert_eq!(
        line["statements"],
        json!({STATEMENT_SID: "created", LARGE_COPY_PLAN_SID: "created", LARGE_COPY_PARTS_SID: "created"})
    );
    assert_eq!(
        sids(&policy_of(&moto, &b).await),
        [STATEMENT_SID, LARGE_COPY_PLAN_SID, LARGE_COPY_PARTS_SID]
    );

    // The same command again changes nothing.
    let stored = policy_text(&moto, &b).await;
    let out = command(&args);
    assert_eq!(out.status.code(), Some(0));
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["policy"], "unchanged");
    assert_eq!(line["inventory"], "unchanged");
    assert_eq!(
        line["statements"],
        json!({STATEMENT_SID: "unchanged", LARGE_COPY_PLAN_SID: "unchanged", LARGE_COPY_PARTS_SID: "unchanged"})
    );
    assert_eq!(policy_text(&moto, &b).await, stored);

    // Flags that do not go together never reach AWS: exit 2, the missing flag named.
    let other = bucket(&moto).await;
    let stderr = |args: Vec<&str>| {
        // A new vector: its elements may borrow `other`, which the arguments do not.
        let mut args: Vec<&str> = args.into_iter().collect();
        args.extend(["--bucket", other.as_str()]);
        let out = command(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let e = stderr(with(&["--plan-large-copy-role-arn", PLAN_ROLE]));
    assert!(e.contains("--copy-parts-role-arn"), "{e}");
    let e = stderr(with(&["--copy-parts-role-arn", PARTS_ROLE]));
    assert!(e.contains("--plan-large-copy-role-arn"), "{e}");
    let e = stderr(with(&[
        "--plan-large-copy-role-arn",
        "arn:aws:iam::222222222222:user/plan",
        "--copy-parts-role-arn",
        PARTS_ROLE,
    ]));
    assert!(
        e.contains("--plan-large-copy-role-arn") && e.contains("PlanLargeCopyRoleArn"),
        "{e}"
    );
    let e = stderr(with(&[
        "--plan-large-copy-role-arn",
        "arn:aws:iam::333333333333:role/plan",
        "--copy-parts-role-arn",
        "arn:aws:iam::333333333333:role/parts",
    ]));
    assert!(e.contains("one backup stack"), "{e}");
    // A source bucket's grants: not without --role-arn.
    let e = stderr(large_copy_flags.to_vec());
    assert!(e.contains("--role-arn"), "{e}");
    assert_eq!(policy_text(&moto, &other).await, None, "nothing written");

    // --print-statement prints the batch role's and the two large-copy statements, no AWS.
    let mut print = with(&large_copy_flags);
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
    let mut want = vec![read_statement(&RoleArn::parse(BATCH_ROLE).unwrap(), "lake")];
    want.extend(large_copy_statements(&grant(), "lake"));
    assert_eq!(printed, want);
}
