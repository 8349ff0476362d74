//! End-to-end: the real state machine on aws-local-stepfunctions, every Task through the local
//! Lambda endpoint running the real step binaries, against moto and the local S3 Batch Operations.
//!
//! Every Task input and output recorded here is validated against the committed schemas.

use std::path::PathBuf;
use std::time::Duration;

use harness::Moto;
use lakevault_local::lambda::Fault;
use lakevault_local::stack::{self, RunOptions, RunOutcome, Stack, StackConfig};
use serde_json::{Value, json};

const ACCOUNT: &str = "123456789012";
const BACKUP_DATE: &str = "2021-03-31";

struct World {
    moto: Moto,
    stack: Stack,
    s3: aws_sdk_s3::Client,
    sqs: aws_sdk_sqs::Client,
    topic_arn: String,
    queue_url: String,
    inventory_bucket: String,
    report_bucket: String,
    work: tempfile::TempDir,
}

impl World {
    async fn new(max_copy_bytes: i64) -> World {
        let moto = Moto::start_local_stack();
        let sdk = moto.sdk_config();
        let stack = stack::start(
            StackConfig {
                sdk: sdk.clone(),
                bin_dir: harness::target_bin_dir(),
                step_env: moto
                    .env()
                    .into_iter()
                    .chain([("RUST_LOG".to_owned(), "warn".to_owned())])
                    .collect(),
                max_copy_bytes,
                timeout: Duration::from_secs(120),
            },
            0,
        )
        .await
        .expect("local stack starts");
        for step in lakevault_local::lambda::FUNCTIONS {
            assert!(
                harness::bin(step).exists(),
                "{} is not built: run `cargo build --workspace --bins` (make test does)",
                harness::bin(step).display()
            );
        }
        let s3 = moto.s3();
        let sns = aws_sdk_sns::Client::new(&sdk);
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let inventory_bucket = harness::unique_bucket("inventory");
        let report_bucket = harness::unique_bucket("reports");
        for b in [&inventory_bucket, &report_bucket] {
            s3.create_bucket().bucket(b).send().await.unwrap();
        }
        let topic_arn = sns
            .create_topic()
            .name("lakevault")
            .send()
            .await
            .unwrap()
            .topic_arn()
            .unwrap()
            .to_owned();
        let queue_url = sqs
            .create_queue()
            .queue_name("inbox")
            .send()
            .await
            .unwrap()
            .queue_url()
            .unwrap()
            .to_owned();
        sns.subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(format!("arn:aws:sqs:us-east-1:{ACCOUNT}:inbox"))
            .send()
            .await
            .unwrap();
        World {
            moto,
            stack,
            s3,
            sqs,
            topic_arn,
            queue_url,
            inventory_bucket,
            report_bucket,
            work: tempfile::tempdir().unwrap(),
        }
    }

    /// A source bucket with a small Delta-like table, keys that need encoding included, and its
    /// inventory delivered two days after the backup date.
    async fn source(&self, prefix: &str, extra: &[(&str, usize)]) -> String {
        self.source_with(prefix, extra, false).await
    }

    /// A source whose `events/` is the demo's real Delta table (`local/fixtures/delta-table`),
    /// beside the same odd-named objects: verify-snapshot can restore it.
    async fn source_with_delta_table(&self, prefix: &str) -> String {
        self.source_with(prefix, &[], true).await
    }

    async fn source_with(&self, prefix: &str, extra: &[(&str, usize)], real_table: bool) -> String {
        let bucket = harness::unique_bucket(prefix);
        self.s3
            .create_bucket()
            .bucket(&bucket)
            .send()
            .await
            .unwrap();
        let mut objects: Vec<(String, Vec<u8>)> = if real_table {
            let dir = harness::workspace_root().join("local/fixtures/delta-table");
            fixture_files(&dir)
                .into_iter()
                .map(|rel| {
                    let body = std::fs::read(dir.join(&rel)).unwrap();
                    (rel, body)
                })
                .collect()
        } else {
            vec![
                (
                    "events/_delta_log/00000000000000000000.json".into(),
                    vec![b'x'; 700],
                ),
                (
                    "events/_delta_log/00000000000000000001.json".into(),
                    vec![b'x'; 500],
                ),
            ]
        };
        objects.push((
            "events/date=2021-03-30/part-00000-a b+c.snappy.parquet".into(),
            vec![b'x'; 900],
        ));
        objects.push((
            "events/date=2021-03-31/part-00001-ü%20.snappy.parquet".into(),
            vec![b'x'; 800],
        ));
        objects.extend(extra.iter().map(|(k, n)| (k.to_string(), vec![b'x'; *n])));
        for (key, body) in &objects {
            self.s3
                .put_object()
                .bucket(&bucket)
                .key(key)
                .content_type("application/octet-stream")
                .metadata("writer", "e2e")
                .body(body.clone().into())
                .send()
                .await
                .unwrap();
        }
        let at = time::macros::datetime!(2021-04-02 01:00 UTC);
        let d = local_inventory::Delivery::new(
            &bucket,
            &self.inventory_bucket,
            "inventory",
            "daily",
            at,
        );
        local_inventory::deliver(&self.s3, &d).await.unwrap();
        bucket
    }

    fn input(&self, sources: &[&str]) -> Value {
        json!({
            "sources": sources.iter().map(|s| json!({"source_bucket": s, "backup_date": BACKUP_DATE})).collect::<Vec<_>>(),
            "settings": {
                "account_id": ACCOUNT,
                "inventory": {"bucket": self.inventory_bucket, "prefix": "inventory", "configuration_id": "daily"},
                "role_arn": format!("arn:aws:iam::{ACCOUNT}:role/lakevault-batch"),
                "report": {"bucket": self.report_bucket, "prefix": "reports"},
                "topic_arn": self.topic_arn,
                "break_glass_role_arns": [format!("arn:aws:iam::{ACCOUNT}:role/break-glass")],
                "poll_seconds": 1
            }
        })
    }

    async fn run(&self, input: &Value, name: &str) -> RunOutcome {
        let root = harness::workspace_root();
        let outcome = stack::run_state_machine(
            &RunOptions {
                runner_dir: root.join("local/sfn-runner"),
                definition: root.join("statemachine/backup.asl.json"),
                lambda_endpoint: self.stack.url.clone(),
                wait_ms: 100,
                retry_ms: 50,
                events_file: self.work.path().join(format!("{name}.events.json")),
            },
            input,
        )
        .await
        .expect("the runner runs");
        check_contracts(&self.stack);
        outcome
    }

    /// Every notification received so far: (subject, message, outcome attribute).
    async fn notifications(&self) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        loop {
            let r = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .unwrap();
            if r.messages().is_empty() {
                return out;
            }
            for m in r.messages() {
                let env: Value = serde_json::from_str(m.body().unwrap()).unwrap();
                out.push((
                    env["Subject"].as_str().unwrap_or("").to_owned(),
                    env["Message"].as_str().unwrap_or("").to_owned(),
                    env["MessageAttributes"]["outcome"]["Value"]
                        .as_str()
                        .unwrap_or("")
                        .to_owned(),
                ));
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
    }

    async fn get(&self, bucket: &str, key: &str) -> Vec<u8> {
        let o = self
            .s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .unwrap();
        o.body.collect().await.unwrap().to_vec()
    }

    async fn keys(&self, bucket: &str) -> Vec<String> {
        let mut keys = Vec::new();
        let mut pages = self
            .s3
            .list_objects_v2()
            .bucket(bucket)
            .into_paginator()
            .send();
        while let Some(p) = pages.next().await {
            keys.extend(
                p.unwrap()
                    .contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_owned)),
            );
        }
        keys.sort();
        keys
    }

    async fn job_count(&self) -> usize {
        let mut conf = self.moto.sdk_config().to_builder();
        conf.set_endpoint_url(Some(self.stack.url.clone()));
        let s3control = kit::clients::s3control(&conf.build());
        s3control
            .list_jobs()
            .account_id(ACCOUNT)
            .send()
            .await
            .unwrap()
            .jobs()
            .len()
    }
}

fn schema(step: &str, kind: &str) -> Value {
    let p: PathBuf = harness::workspace_root().join(format!("schemas/{step}.{kind}.json"));
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
}

/// `value` validates against the committed schema `schemas/<step>.<kind>.json`.
fn assert_conforms(step: &str, kind: &str, value: &Value) {
    let validator = jsonschema::validator_for(&schema(step, kind)).unwrap();
    let errs: Vec<String> = validator
        .iter_errors(value)
        .map(|e| e.to_string())
        .collect();
    assert!(
        errs.is_empty(),
        "{step} {kind} {value} breaks its schema: {errs:?}"
    );
}

/// Every Task input of the run validates against its step's committed input schema, and every
/// successful output against its output schema.
fn check_contracts(stack: &Stack) {
    let invocations = stack.lambda.invocations();
    assert!(!invocations.is_empty());
    for inv in invocations {
        assert_conforms(&inv.function, "input", &inv.payload);
        if !inv.function_error {
            assert_conforms(&inv.function, "output", &inv.response);
        }
    }
}

/// Every file under `dir`, by its `/`-separated path relative to it, sorted.
fn fixture_files(dir: &std::path::Path) -> Vec<String> {
    fn walk(base: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                out.push(
                    p.strip_prefix(base)
                        .unwrap()
                        .to_string_lossy()
                        .replace('\\', "/"),
                );
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out
}

fn results(outcome: &RunOutcome) -> Vec<Value> {
    let out = outcome
        .output
        .as_ref()
        .unwrap_or_else(|e| panic!("execution failed: {e}"));
    out["results"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn happy_path_backs_up_and_notifies() {
    let w = World::new(local_batch::AWS_MAX_COPY_BYTES).await;
    let src = w.source_with_delta_table("lake").await;
    let outcome = w.run(&w.input(&[&src]), "happy").await;
    let r = &results(&outcome)[0];
    assert_eq!(r["outcome"], "complete", "{r}");
    let snapshot = r["snapshot_bucket"].as_str().unwrap();
    assert_eq!(snapshot, format!("{src}-31-mar-2021"));
    assert_eq!(
        w.keys(snapshot).await,
        w.keys(&src).await,
        "every object copied"
    );
    let head =
        w.s3.head_object()
            .bucket(snapshot)
            .key("events/date=2021-03-30/part-00000-a b+c.snappy.parquet")
            .send()
            .await
            .unwrap();
    assert_eq!(
        head.metadata()
            .and_then(|m| m.get("writer"))
            .map(String::as_str),
        Some("e2e")
    );
    assert_eq!(r["audit"]["verdict"], "complete");

    let notes = w.notifications().await;
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0].2, "complete");
    assert!(
        notes[0].0.contains("complete") && notes[0].0.contains(&src[..10]),
        "{}",
        notes[0].0
    );

    // verify-snapshot read the copied table with the Delta reader: restorable as of the date.
    let v = &r["verification"];
    assert_eq!(v["verdict"], "all_restorable", "{v}");
    assert_eq!(v["summary"], "1 Delta table restorable as of 2021-03-31");
    assert_eq!(v["tables"]["total"], 1);
    assert!(
        notes[0].0.ends_with("complete; 1 Delta table restorable"),
        "{}",
        notes[0].0
    );
    let record = w
        .get(
            v["record"]["bucket"].as_str().unwrap(),
            v["record"]["key"].as_str().unwrap(),
        )
        .await;
    let record: Value = serde_json::from_slice(&record).unwrap();
    let table = &record["table_reports"][0];
    assert_eq!(table["root"], "events/");
    assert_eq!(table["restorable_version"], 9);
    assert_eq!(table["as_of_backup_date"]["version"], 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_corrupt_manifest_fails_only_its_source() {
    let w = World::new(local_batch::AWS_MAX_COPY_BYTES).await;
    let good = w.source("good", &[]).await;
    let bad = w.source("bad", &[]).await;
    // Corrupt the bad source's manifest after delivery: its checksum no longer matches.
    let listed =
        w.s3.list_objects_v2()
            .bucket(&w.inventory_bucket)
            .prefix(format!("inventory/{bad}/daily/2021-04-02"))
            .send()
            .await
            .unwrap();
    let manifest_key = listed
        .contents()
        .iter()
        .filter_map(|o| o.key())
        .find(|k| k.ends_with("manifest.json"))
        .unwrap()
        .to_owned();
    w.s3.put_object()
        .bucket(&w.inventory_bucket)
        .key(&manifest_key)
        .body(b"{\"sourceBucket\": \"tampered\"}".to_vec().into())
        .send()
        .await
        .unwrap();

    let outcome = w.run(&w.input(&[&good, &bad]), "corrupt").await;
    let res = results(&outcome);
    let by = |b: &str| {
        res.iter()
            .find(|r| r["source_bucket"] == b)
            .unwrap()
            .clone()
    };
    assert_eq!(by(&good)["outcome"], "complete");
    let failed = by(&bad);
    assert_eq!(failed["outcome"], "failed");
    assert_eq!(failed["failed_state"], "LocateManifest");
    assert_eq!(failed["error"], "ManifestInvalid");

    let notes = w.notifications().await;
    assert_eq!(notes.len(), 2, "{notes:?}");
    let failure = notes
        .iter()
        .find(|n| n.2 == "failed")
        .expect("a failure notification");
    assert!(
        failure.0.contains("FAILED") && failure.0.contains("ManifestInvalid"),
        "{}",
        failure.0
    );
    assert!(notes.iter().any(|n| n.2 == "complete"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_are_retried() {
    let w = World::new(local_batch::AWS_MAX_COPY_BYTES).await;
    let src = w.source("retry", &[]).await;
    w.stack
        .lambda
        .add_fault(Fault {
            function: "submit-job".into(),
            error_type: "Transient".into(),
            error_message: "throttled (injected)".into(),
            count: 2,
        })
        .unwrap();
    let outcome = w.run(&w.input(&[&src]), "transient").await;
    assert_eq!(results(&outcome)[0]["outcome"], "complete");
    let retried = outcome
        .events
        .iter()
        .filter(|e| e["type"] == "StateRetried" && e["state"]["name"] == "SubmitJob")
        .count();
    assert_eq!(retried, 2);
    let submits = w
        .stack
        .lambda
        .invocations()
        .iter()
        .filter(|i| i.function == "submit-job")
        .count();
    assert_eq!(submits, 3);
    assert_eq!(w.job_count().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversize_object_makes_the_backup_incomplete() {
    // The copy limit lowered to 4 KiB stands in for AWS's 5 GiB.
    let w = World::new(4096).await;
    let src = w
        .source("big", &[("events/date=2021-03-31/huge.parquet", 10_000)])
        .await;
    let outcome = w.run(&w.input(&[&src]), "oversize").await;
    let r = &results(&outcome)[0];
    assert_eq!(r["outcome"], "incomplete", "{r}");
    let audit = r["audit"].to_string();
    assert!(audit.contains("oversize"), "{audit}");
    let snapshot = r["snapshot_bucket"].as_str().unwrap();
    let copied = w.keys(snapshot).await;
    assert_eq!(copied.len(), 4);
    assert!(!copied.iter().any(|k| k.ends_with("huge.parquet")));
    let notes = w.notifications().await;
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].2, "incomplete");
    assert!(
        notes[0].0.to_lowercase().contains("incomplete") && notes[0].0.contains("oversize"),
        "{}",
        notes[0].0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_run_twice_makes_one_bucket_and_one_job() {
    let w = World::new(local_batch::AWS_MAX_COPY_BYTES).await;
    let src = w.source("twice", &[]).await;
    let input = w.input(&[&src]);
    let first = results(&w.run(&input, "first").await)[0].clone();
    let buckets_after_first = w.s3.list_buckets().send().await.unwrap().buckets().len();
    let second = results(&w.run(&input, "second").await)[0].clone();
    assert_eq!(first["outcome"], "complete");
    assert_eq!(first["job_id"], second["job_id"]);
    assert_eq!(first["snapshot_bucket"], second["snapshot_bucket"]);
    assert_eq!(first["audit"], second["audit"], "the same audit record");
    assert_eq!(
        first["verification"], second["verification"],
        "the same verification"
    );
    assert_eq!(
        w.s3.list_buckets().send().await.unwrap().buckets().len(),
        buckets_after_first
    );
    assert_eq!(w.job_count().await, 1);
}
