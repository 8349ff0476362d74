//! `lakevault forget --local`: the prune machine (`statemachine/prune.asl.json`) on the local
//! runner, its prune-snapshots Task served by the local Lambda endpoint running the real step
//! binary, against moto: five days of catalog entries whose snapshot buckets are empty and
//! unlocked, keep_daily 1. The four older buckets are deleted and recorded; a second run changes
//! nothing.

use std::time::Duration;

use harness::Moto;
use kit::Day;
use kit::catalog::{self, CATALOG_FORMAT, CatalogEntry, CatalogFile, CatalogVerification};
use kit::record::{ObjectRef, Verdict};
use kit::verification::{SnapshotVerdict, TableCounts};
use lakevault_local::stack::{self, StackConfig};

use crate::lakevault;

const SOURCE: &str = "lake-prod";
const DATES: &[&str] = &[
    "2021-03-01",
    "2021-03-02",
    "2021-03-03",
    "2021-03-04",
    "2021-03-05",
];

fn entry(date: Day, n: u64) -> CatalogEntry {
    let verification = CatalogVerification {
        verdict: SnapshotVerdict::AllRestorable,
        tables: TableCounts {
            total: 1,
            restorable: 1,
            degraded: 0,
            unrestorable: 0,
        },
        restorable: vec![],
        tables_not_listed: 1,
        record: ObjectRef {
            bucket: "lake-reports".into(),
            key: format!("reports/job-{n}/lakevault-tables.json"),
        },
    };
    CatalogEntry {
        format: CATALOG_FORMAT,
        source_bucket: SOURCE.into(),
        backup_date: date,
        snapshot_bucket: format!("{SOURCE}-{}", date.dd_mmm_yyyy()),
        job_id: format!("00000000-0000-4000-8000-{n:012}"),
        verdict: Verdict::Complete,
        good: catalog::is_good(Verdict::Complete, Some(&verification)),
        verification: Some(verification),
        objects: 0,
        bytes: 0,
        large_copies: 0,
        storage_class: "GLACIER_IR".into(),
        // No lock: nothing holds these, an expired one is deleted as soon as it is empty.
        lock_mode: None,
        retain_until: None,
        audit_record: ObjectRef {
            bucket: "lake-reports".into(),
            key: format!("reports/job-{n}/lakevault-audit.json"),
        },
    }
}

/// Every key of the report bucket with its ETag.
async fn report_state(s3: &aws_sdk_s3::Client, bucket: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut pages = s3.list_objects_v2().bucket(bucket).into_paginator().send();
    while let Some(page) = pages.next().await {
        for o in page.unwrap().contents() {
            out.push((
                o.key().unwrap_or_default().to_owned(),
                o.e_tag().unwrap_or_default().to_owned(),
            ));
        }
    }
    out
}

async fn bucket_exists(s3: &aws_sdk_s3::Client, bucket: &str) -> bool {
    s3.head_bucket().bucket(bucket).send().await.is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forget_local_deletes_the_expired_empty_buckets_and_a_second_run_changes_nothing() {
    let bin = harness::bin("prune-snapshots");
    assert!(
        bin.exists(),
        "{} is not built: run `cargo build -p prune-snapshots` (make test builds every binary)",
        bin.display()
    );
    let moto = Moto::start_local_stack();
    let stack = stack::start(
        StackConfig {
            sdk: moto.sdk_config(),
            bin_dir: harness::target_bin_dir(),
            step_env: moto
                .env()
                .into_iter()
                .chain([("RUST_LOG".to_owned(), "error".to_owned())])
                .collect(),
            max_copy_bytes: local_batch_limit(),
            timeout: Duration::from_secs(120),
        },
        0,
    )
    .await
    .expect("local stack starts");
    let s3 = moto.s3();
    let reports = harness::unique_bucket("lake-reports");
    s3.create_bucket().bucket(&reports).send().await.unwrap();
    let days: Vec<Day> = DATES.iter().map(|d| d.parse().unwrap()).collect();
    for (n, d) in days.iter().enumerate() {
        let e = entry(*d, n as u64);
        s3.create_bucket()
            .bucket(&e.snapshot_bucket)
            .send()
            .await
            .unwrap();
        let key = catalog::key("reports", SOURCE, *d, CatalogFile::Entry);
        harness::put_object(&s3, &reports, &key, serde_json::to_vec(&e).unwrap()).await;
    }
    let root = harness::workspace_root();
    let root = root.to_str().unwrap();
    let args = |json: bool| {
        let mut v = vec![
            "forget",
            "--local",
            stack.url.as_str(),
            "--root",
            root,
            "--report-bucket",
            reports.as_str(),
            "--source",
            SOURCE,
            "--keep-daily",
            "1",
            "--refresh-secs",
            "0.1",
        ];
        if json {
            v.push("--json");
        }
        v
    };

    let first = lakevault(&args(false), &moto.env());
    assert_eq!(first.code, Some(0), "{}\n{}", first.stdout, first.stderr);
    // The plan first, as --dry-run prints it, without its dry-run line; then the summary.
    let out = &first.stdout;
    assert!(out.starts_with("Applying policy: keep 1 daily"), "{out}");
    assert!(!out.contains("dry run"), "{out}");
    let plan_at = out.find("lake-prod-01-mar-2021").unwrap();
    let summary_at = out.find("\npruned ").unwrap();
    assert!(plan_at < summary_at, "{out}");
    assert!(
        out.contains("\npruned         5 snapshots of 1 sources judged"),
        "{out}"
    );
    assert!(out.contains("\nkept           1 ("), "{out}");
    assert!(out.contains("\nlifecycle put  4 buckets"), "{out}");
    assert!(out.contains("\ndeleted        4 empty buckets"), "{out}");
    assert!(out.contains("\nexecution      local forget-"), "{out}");
    assert!(
        first.stderr.contains("local execution forget-"),
        "{}",
        first.stderr
    );
    for (n, d) in days.iter().enumerate() {
        let bucket = entry(*d, n as u64).snapshot_bucket;
        let deleted = catalog::key("reports", SOURCE, *d, CatalogFile::Deleted);
        let record = s3.get_object().bucket(&reports).key(&deleted).send().await;
        if n + 1 == days.len() {
            assert!(bucket_exists(&s3, &bucket).await, "{bucket} is kept");
            assert!(record.is_err(), "{deleted}");
        } else {
            assert!(!bucket_exists(&s3, &bucket).await, "{bucket} is deleted");
            assert!(record.is_ok(), "{deleted} is written");
        }
    }

    // Again: the deleted ones take no part, the kept one stays; nothing is written.
    let before = report_state(&s3, &reports).await;
    let second = lakevault(&args(true), &moto.env());
    assert_eq!(second.code, Some(0), "{}\n{}", second.stdout, second.stderr);
    let v = second.json();
    assert_eq!(v["status"], "SUCCEEDED", "{v}");
    assert_eq!(v["plan"]["dry_run"], false, "{v}");
    assert_eq!(
        v["plan"]["sources"][0]["deleted"].as_array().unwrap().len(),
        4
    );
    let s = &v["summary"];
    assert_eq!(
        (
            s["snapshots"].as_u64(),
            s["kept"].as_u64(),
            s["deleted"].as_u64(),
            s["lifecycle_put"].as_u64(),
            s["extended"].as_u64()
        ),
        (Some(1), Some(1), Some(0), Some(0), Some(0)),
        "{v}"
    );
    assert_eq!(report_state(&s3, &reports).await, before);
    assert!(bucket_exists(&s3, &entry(days[4], 4).snapshot_bucket).await);
}

/// The local Batch Operations' copy limit (unused: prune submits no job).
fn local_batch_limit() -> i64 {
    5 << 30
}

/// The AWS path on moto's Step Functions API (it stores executions without running them): the
/// machine's input is the policy the plan was printed for, and the same prune asked again the
/// same day is the same execution.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forget_on_aws_starts_the_prune_machine_once_per_day_with_the_planned_policy() {
    let moto = Moto::start();
    let s3 = moto.s3();
    let reports = harness::unique_bucket("lake-reports");
    s3.create_bucket().bucket(&reports).send().await.unwrap();
    let d: Day = DATES[0].parse().unwrap();
    let key = catalog::key("reports", SOURCE, d, CatalogFile::Entry);
    harness::put_object(
        &s3,
        &reports,
        &key,
        serde_json::to_vec(&entry(d, 0)).unwrap(),
    )
    .await;
    let sfn = aws_sdk_sfn::Client::new(&moto.sdk_config());
    let arn = sfn
        .create_state_machine()
        .name("lakevault-prune")
        .definition(r#"{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}"#)
        .role_arn("arn:aws:iam::123456789012:role/lakevault-prune-machine")
        .send()
        .await
        .unwrap()
        .state_machine_arn()
        .to_owned();
    let run = || {
        lakevault(
            &[
                "forget",
                "--json",
                "--no-wait",
                "--state-machine-arn",
                &arn,
                "--report-bucket",
                &reports,
                "--keep-daily",
                "3",
                "--keep-monthly",
                "2",
            ],
            &moto.env(),
        )
    };
    let first = run();
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    let first = first.json();
    assert_eq!(first["started"], true, "{first}");
    assert_eq!(first["plan"]["sources"][0]["source_bucket"], SOURCE);
    let name = first["name"].as_str().unwrap();
    assert!(name.starts_with("forget-"), "{name}");
    let execution = first["execution_arn"].as_str().unwrap();
    assert!(execution.ends_with(&format!(":execution:lakevault-prune:{name}")));
    // While it runs, StartExecution of the same name and input answers that execution (Step
    // Functions' idempotency): one execution.
    let again = run().json();
    assert_eq!(again["execution_arn"], execution);
    let listed = sfn
        .list_executions()
        .state_machine_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.executions().len(), 1);
    let described = sfn
        .describe_execution()
        .execution_arn(execution)
        .send()
        .await
        .unwrap();
    let input: serde_json::Value = serde_json::from_str(described.input().unwrap()).unwrap();
    assert_eq!(
        input,
        serde_json::json!({"report": {"bucket": reports, "prefix": "reports"},
                           "keep": {"keep_daily": 3, "keep_weekly": 0, "keep_monthly": 2, "keep_yearly": 0},
                           "sources": null, "dry_run": false})
    );
}
