//! The restore drill, end to end: the real backup, then the real `lakevault restore --local`
//! running `statemachine/restore.asl.json` on the local runner, every Task through the local
//! Lambda endpoint running the real step binaries, against moto and the local Batch Operations.
//! The restored tables are read by an independent reader (the `deltalake` package, through
//! `local/fixtures/delta_digest.py`) and compared with the lost table's rows.
//!
//! The last test takes the AWS path instead: `lakevault restore --state-machine-arn` on moto's
//! executing Step Functions backend, its Lambda calls sent to the same local stack.
//!
//! Every Task input and output recorded here is validated against the committed schemas.

use std::path::PathBuf;
use std::time::Duration;

use harness::Moto;
use lakevault_local::drill::{self, CommandRun, Digest};
use lakevault_local::stack::{self, RunOptions, Stack, StackConfig};
use serde_json::{Value, json};

const ACCOUNT: &str = "123456789012";
const BACKUP_DATE: &str = "2021-03-31";
const TABLE: &str = "events/";
const INVENTORY: &str = "lakevault-inventory";
const REPORTS: &str = "lakevault-reports";

struct World {
    moto: Moto,
    stack: Stack,
    s3: aws_sdk_s3::Client,
    topic_arn: String,
    work: tempfile::TempDir,
    settings: PathBuf,
}

impl World {
    async fn new() -> World {
        let moto = Moto::start_local_stack();
        let sdk = moto.sdk_config();
        let stack = stack::start(
            StackConfig {
                sdk: sdk.clone(),
                bin_dir: harness::target_bin_dir(),
                step_env: moto
                    .env()
                    .into_iter()
                    .chain([("RUST_LOG".to_owned(), "error".to_owned())])
                    .collect(),
                max_copy_bytes: local_batch::AWS_MAX_COPY_BYTES,
                timeout: Duration::from_secs(120),
            },
            0,
        )
        .await
        .expect("local stack starts");
        for bin in lakevault_local::lambda::FUNCTIONS
            .iter()
            .chain(&["lakevault"])
        {
            assert!(
                harness::bin(bin).exists(),
                "{} is not built: run `cargo build --workspace --bins` (make test does)",
                harness::bin(bin).display()
            );
        }
        let s3 = moto.s3();
        for b in [INVENTORY, REPORTS] {
            s3.create_bucket().bucket(b).send().await.unwrap();
        }
        let topic_arn = aws_sdk_sns::Client::new(&sdk)
            .create_topic()
            .name("lakevault")
            .send()
            .await
            .unwrap()
            .topic_arn()
            .unwrap()
            .to_owned();
        let work = tempfile::tempdir().unwrap();
        let settings = work.path().join("settings.json");
        std::fs::write(
            &settings,
            json!({
                "account_id": ACCOUNT,
                "role_arn": format!("arn:aws:iam::{ACCOUNT}:role/lakevault-restore-batch"),
                "report": {"bucket": REPORTS, "prefix": "reports"},
                "topic_arn": topic_arn,
                "poll_seconds": 1
            })
            .to_string(),
        )
        .unwrap();
        World {
            moto,
            stack,
            s3,
            topic_arn,
            work,
            settings,
        }
    }

    fn fixture() -> PathBuf {
        harness::workspace_root().join("local/fixtures/delta-table")
    }

    /// A source bucket holding the demo's Delta table (minus `skip`), its inventory delivered.
    async fn source(&self, bucket: &str, skip: &[String]) {
        self.s3.create_bucket().bucket(bucket).send().await.unwrap();
        drill::upload_dir(&self.s3, &Self::fixture(), bucket, skip)
            .await
            .unwrap();
        let at = time::macros::datetime!(2021-04-02 01:00 UTC);
        let d = local_inventory::Delivery::new(bucket, INVENTORY, "inventory", "daily", at);
        local_inventory::deliver(&self.s3, &d).await.unwrap();
    }

    /// Backs up `sources` with the backup machine; asserts every one is complete.
    async fn back_up(&self, sources: &[&str]) {
        let root = harness::workspace_root();
        let input = json!({
            "sources": sources.iter().map(|s| json!({"source_bucket": s, "backup_date": BACKUP_DATE})).collect::<Vec<_>>(),
            "settings": {
                "account_id": ACCOUNT,
                "inventory": {"bucket": INVENTORY, "prefix": "inventory", "configuration_id": "daily"},
                "role_arn": format!("arn:aws:iam::{ACCOUNT}:role/lakevault-batch"),
                "report": {"bucket": REPORTS, "prefix": "reports"},
                "topic_arn": self.topic_arn,
                "break_glass_role_arns": [format!("arn:aws:iam::{ACCOUNT}:role/break-glass")],
                "poll_seconds": 1
            }
        });
        let outcome = stack::run_state_machine(
            &RunOptions {
                runner_dir: root.join("local/sfn-runner"),
                definition: root.join("statemachine/backup.asl.json"),
                lambda_endpoint: self.stack.url.clone(),
                wait_ms: 100,
                retry_ms: 50,
                events_file: self.work.path().join("backup.events.json"),
            },
            &input,
        )
        .await
        .expect("the runner runs");
        let out = outcome
            .output
            .unwrap_or_else(|e| panic!("backup failed: {e}"));
        for r in out["results"].as_array().unwrap() {
            assert_eq!(r["outcome"], "complete", "{r}");
        }
    }

    fn env(&self) -> Vec<(String, String)> {
        let mut env = self.moto.env();
        env.push(("AWS_ENDPOINT_URL_S3_CONTROL".into(), self.stack.url.clone()));
        env
    }

    /// `lakevault restore --json --local <stack> --settings <file> --snapshot S --table events
    /// --to TO <extra>`.
    async fn restore(&self, snapshot: &str, to: &str, extra: &[&str]) -> CommandRun {
        let mut args: Vec<String> = [
            "restore",
            "--json",
            "--local",
            &self.stack.url,
            "--settings",
            &self.settings.display().to_string(),
            "--snapshot",
            snapshot,
            "--table",
            "events",
            "--to",
            to,
            "--refresh-secs",
            "0.2",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        drill::lakevault(
            &harness::target_bin_dir(),
            &harness::workspace_root(),
            &args,
            &self.env(),
        )
        .await
        .unwrap()
    }

    async fn digest(&self, uri: &str, version: Option<u64>) -> Digest {
        let root = harness::workspace_root();
        drill::digest(
            &moto_python(),
            &root,
            uri,
            version,
            &self.moto.endpoint,
            &self.moto.env(),
        )
        .await
        .unwrap()
    }

    async fn jobs(&self) -> usize {
        drill::job_count(&self.moto.sdk_config(), &self.stack.url, ACCOUNT)
            .await
            .unwrap()
    }

    async fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        drill::keys(&self.s3, bucket, prefix).await.unwrap()
    }
}

fn moto_python() -> PathBuf {
    moto_launcher::MotoCommand::venv_python(&harness::workspace_root())
}

/// Every Task input of the restores validates against its step's committed input schema, and
/// every successful output against its output schema.
fn check_contracts(stack: &Stack) {
    let root = harness::workspace_root();
    for inv in stack.lambda.invocations() {
        let mut kinds = vec![("input", &inv.payload)];
        if !inv.function_error {
            kinds.push(("output", &inv.response));
        }
        for (kind, value) in kinds {
            let p = root.join(format!("schemas/{}.{kind}.json", inv.function));
            let schema: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            let validator = jsonschema::validator_for(&schema).unwrap();
            let errs: Vec<String> = validator
                .iter_errors(value)
                .map(|e| e.to_string())
                .collect();
            assert!(
                errs.is_empty(),
                "{} {kind} {value} breaks its schema: {errs:?}",
                inv.function
            );
        }
    }
}

fn assert_ok(run: &CommandRun) -> Value {
    assert_eq!(
        run.code,
        Some(0),
        "lakevault failed:\n{}\n{}",
        run.stdout,
        run.stderr
    );
    run.json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_table_comes_back_at_two_versions_with_the_same_rows_and_once() {
    let w = World::new().await;
    w.source("lake-prod", &[]).await;
    w.back_up(&["lake-prod"]).await;
    let snapshot = "lake-prod-31-mar-2021";

    // The rows of the versions to restore, read from the original before it is lost.
    let source = format!("s3://lake-prod/{TABLE}");
    let before_3 = w.digest(&source, Some(3)).await;
    let before_8 = w.digest(&source, Some(8)).await;
    assert_eq!((before_3.version, before_8.version), (3, 8));
    assert_ne!(before_3.sha256, before_8.sha256);

    // The source table is lost: every object under its prefix.
    let deleted = drill::delete_prefix(&w.s3, "lake-prod", TABLE)
        .await
        .unwrap();
    assert_eq!(deleted, 27);
    assert!(w.keys("lake-prod", "").await.is_empty());

    w.s3.create_bucket()
        .bucket("lake-prod-restored")
        .send()
        .await
        .unwrap();
    let jobs_after_backup = w.jobs().await;

    // Version 3 (older than the newest, 9), under a folder: TargetKeyPrefix "v3".
    let v3_to = format!("s3://lake-prod-restored/v3/{TABLE}");
    let first = assert_ok(&w.restore(snapshot, &v3_to, &["--version", "3"]).await);
    assert_eq!(first["status"], "SUCCEEDED");
    assert_eq!(first["plan"]["version"], 3);
    assert_eq!(first["plan"]["chosen_by"], "version");
    assert_eq!(first["plan"]["target_key_prefix"], "v3");
    assert_eq!(first["verification"]["verdict"], "restored");
    assert_eq!(first["verification"]["table_url"], v3_to.as_str());
    let restored_3 = w.digest(&v3_to, None).await;
    assert_eq!(restored_3, before_3, "version 3 read back the same");
    // Nothing of the log above 3 came along.
    let log = w
        .keys("lake-prod-restored", &format!("v3/{TABLE}_delta_log/"))
        .await;
    assert_eq!(
        log,
        (0..=3)
            .map(|v| format!("v3/{TABLE}_delta_log/{v:020}.json"))
            .collect::<Vec<_>>()
    );

    // The backup date's version (8: the default), at the same path as the lost table.
    let dated_to = format!("s3://lake-prod-restored/{TABLE}");
    let dated = assert_ok(&w.restore(snapshot, &dated_to, &[]).await);
    assert_eq!(dated["plan"]["version"], 8);
    assert_eq!(dated["plan"]["chosen_by"], "as_of_backup_date");
    assert_eq!(dated["plan"]["target_key_prefix"], Value::Null);
    let restored_8 = w.digest(&dated_to, None).await;
    assert_eq!(
        restored_8, before_8,
        "the backup date's version read back the same"
    );
    assert_eq!(w.jobs().await, jobs_after_backup + 2);

    // The same restore again: it resumes (the same plan, the same job), no second copy.
    let keys_before = w.keys("lake-prod-restored", "").await;
    let again = assert_ok(&w.restore(snapshot, &v3_to, &["--version", "3"]).await);
    assert_eq!(again["job_id"], first["job_id"]);
    assert_eq!(again["plan"]["restore_id"], first["plan"]["restore_id"]);
    assert_eq!(again["plan"]["resumed"], true);
    assert_eq!(w.jobs().await, jobs_after_backup + 2, "one job per restore");
    assert_eq!(w.keys("lake-prod-restored", "").await, keys_before);

    check_contracts(&w.stack);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_that_cannot_be_done_writes_nothing_and_says_why() {
    let w = World::new().await;
    // The second source lost the files version 0 needs before its backup (a VACUUM).
    let version_0 = drill::files_added_by(&World::fixture(), TABLE, 0).unwrap();
    assert!(!version_0.is_empty());
    w.source("lake-prod", &[]).await;
    w.source("lake-vacuumed", &version_0).await;
    w.back_up(&["lake-prod", "lake-vacuumed"]).await;
    let jobs_after_backup = w.jobs().await;
    let reports_after_backup = w.keys(REPORTS, "reports/restore-").await;

    // A dry run prints the plan and writes nothing.
    w.s3.create_bucket()
        .bucket("lake-prod-restored")
        .send()
        .await
        .unwrap();
    let plan = assert_ok(
        &w.restore(
            "lake-prod-31-mar-2021",
            "s3://lake-prod-restored/events/",
            &["--dry-run", "--latest-restorable"],
        )
        .await,
    );
    assert_eq!(plan["dry_run"], true);
    assert_eq!(plan["version"], 9);
    assert_eq!(plan["chosen_by"], "latest_restorable");
    assert!(plan["estimated_cost_usd"].as_f64().unwrap() >= 0.25);
    assert!(w.keys("lake-prod-restored", "").await.is_empty());
    assert_eq!(
        w.keys(REPORTS, "reports/restore-").await,
        reports_after_backup
    );

    // A target holding anything under the table's path: TargetNotEmpty, nothing written.
    w.s3.create_bucket()
        .bucket("lake-prod-scratch")
        .send()
        .await
        .unwrap();
    harness::put_object(&w.s3, "lake-prod-scratch", "events/notes.txt", b"mine").await;
    let refused = w
        .restore(
            "lake-prod-31-mar-2021",
            "s3://lake-prod-scratch/events/",
            &[],
        )
        .await;
    assert_eq!(refused.code, Some(1), "{}", refused.stderr);
    let e = refused.json();
    assert_eq!(e["errorType"], "TargetNotEmpty", "{e}");
    assert_eq!(e["state"], "PlanRestore");
    assert!(
        e["errorMessage"]
            .as_str()
            .unwrap()
            .contains("events/notes.txt"),
        "{e}"
    );
    assert_eq!(
        w.keys("lake-prod-scratch", "").await,
        vec!["events/notes.txt".to_owned()]
    );

    // A version whose files were vacuumed out of the snapshot: VersionNotRestorable, naming the
    // nearest restorable version.
    let vacuumed = w
        .restore(
            "lake-vacuumed-31-mar-2021",
            "s3://lake-prod-restored/vacuumed/events/",
            &["--version", "0"],
        )
        .await;
    assert_eq!(vacuumed.code, Some(1), "{}", vacuumed.stderr);
    let e = vacuumed.json();
    assert_eq!(e["errorType"], "VersionNotRestorable", "{e}");
    assert!(
        e["errorMessage"]
            .as_str()
            .unwrap()
            .contains("nearest restorable version is 6"),
        "{e}"
    );
    // The same in a dry run, before any execution.
    let dry = w
        .restore(
            "lake-vacuumed-31-mar-2021",
            "s3://lake-prod-restored/vacuumed/events/",
            &["--version", "0", "--dry-run"],
        )
        .await;
    assert_eq!(dry.code, Some(1));
    assert_eq!(dry.json()["errorType"], "VersionNotRestorable");

    // A --to that cannot hold the table: a usage error before any request.
    let usage = w
        .restore(
            "lake-prod-31-mar-2021",
            "s3://lake-prod-restored/renamed/",
            &[],
        )
        .await;
    assert_eq!(usage.code, Some(2));
    assert_eq!(usage.json()["errorType"], "InvalidInput");

    assert!(w.keys("lake-prod-restored", "").await.is_empty());
    assert_eq!(w.jobs().await, jobs_after_backup, "no copy job was made");
    check_contracts(&w.stack);
}

/// The AWS path: `lakevault restore --state-machine-arn` on moto's executing Step Functions
/// backend (the interpreter's Lambda calls to the local stack), the restore machine deployed with
/// its placeholders filled as CloudFormation fills them. The snapshot is the demo table put
/// straight into a snapshot bucket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_step_functions_the_command_starts_one_named_execution_and_follows_it() {
    let port = harness::free_port();
    let moto =
        Moto::start_local_stack_with_step_functions(&format!("http://127.0.0.1:{port}"), 0.01);
    let sdk = moto.sdk_config();
    let stack = stack::start(
        StackConfig {
            sdk: sdk.clone(),
            bin_dir: harness::target_bin_dir(),
            step_env: moto
                .env()
                .into_iter()
                .chain([("RUST_LOG".to_owned(), "error".to_owned())])
                .collect(),
            max_copy_bytes: local_batch::AWS_MAX_COPY_BYTES,
            timeout: Duration::from_secs(120),
        },
        port,
    )
    .await
    .expect("local stack starts");
    let s3 = moto.s3();
    for b in ["lake-prod-31-mar-2021", "lake-prod-restored", REPORTS] {
        s3.create_bucket().bucket(b).send().await.unwrap();
    }
    drill::upload_dir(&s3, &World::fixture(), "lake-prod-31-mar-2021", &[])
        .await
        .unwrap();
    let topic_arn = aws_sdk_sns::Client::new(&sdk)
        .create_topic()
        .name("lakevault")
        .send()
        .await
        .unwrap()
        .topic_arn()
        .unwrap()
        .to_owned();
    let definition =
        std::fs::read_to_string(harness::workspace_root().join("statemachine/restore.asl.json"))
            .unwrap();
    let sfn = aws_sdk_sfn::Client::new(&sdk);
    let arn = lakevault_local::sfn::deploy(
        &sfn,
        "lakevault-restore",
        &lakevault_local::sfn::fill_placeholders(&definition, ACCOUNT, "us-east-1"),
        &format!("arn:aws:iam::{ACCOUNT}:role/lakevault-restore-machine"),
    )
    .await
    .unwrap();

    let mut env = moto.env();
    env.push(("AWS_ENDPOINT_URL_S3_CONTROL".into(), stack.url.clone()));
    let restore = || async {
        let args: Vec<String> = [
            "restore",
            "--json",
            "--state-machine-arn",
            &arn,
            "--snapshot",
            "lake-prod-31-mar-2021",
            "--table",
            "events",
            "--version",
            "3",
            "--to",
            "s3://lake-prod-restored/events/",
            "--account-id",
            ACCOUNT,
            "--role-arn",
            &format!("arn:aws:iam::{ACCOUNT}:role/lakevault-restore-batch"),
            "--report-bucket",
            REPORTS,
            "--topic-arn",
            &topic_arn,
            "--poll-seconds",
            "1",
            "--refresh-secs",
            "0.2",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        drill::lakevault(
            &harness::target_bin_dir(),
            &harness::workspace_root(),
            &args,
            &env,
        )
        .await
        .unwrap()
    };
    let first = assert_ok(&restore().await);
    let execution = first["execution"].as_str().unwrap().to_owned();
    assert!(
        execution.contains(":execution:lakevault-restore:restore-"),
        "{execution}"
    );
    // What the command saw in the execution history: the plan, the job, the verification.
    assert_eq!(first["plan"]["version"], 3);
    assert_eq!(first["verification"]["verdict"], "restored");
    let job_id = first["job_id"].as_str().unwrap().to_owned();
    assert_eq!(first["output"]["job_id"], job_id.as_str());
    assert_eq!(
        drill::keys(&s3, "lake-prod-restored", "events/_delta_log/")
            .await
            .unwrap()
            .len(),
        4
    );

    // Again: Step Functions refuses a second execution of that name; the command follows the
    // first (its outcome, its job) instead of starting another.
    let again = assert_ok(&restore().await);
    assert_eq!(again["execution"], execution.as_str());
    assert_eq!(again["job_id"], job_id.as_str());
    let executions = sfn
        .list_executions()
        .state_machine_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(executions.executions().len(), 1);
    assert_eq!(
        drill::job_count(&sdk, &stack.url, ACCOUNT).await.unwrap(),
        1
    );
    check_contracts(&stack);
}
