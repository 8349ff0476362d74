//! `lakevault-local demo`: the whole backup of a real Delta table, on one machine.
//!
//! Starts moto and the local stack on free loopback ports, creates a source bucket holding the
//! Delta table in `local/fixtures/delta-table` (written by the `deltalake` package), delivers an
//! S3 Inventory dated backup date + 2 days, runs `statemachine/backup.asl.json` through the local
//! Lambda endpoint, prints what happened, and stops everything it started.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use moto_launcher::{LaunchError, MotoCommand, MotoServer};
use serde_json::{Value, json};

use crate::stack::{self, RunOptions, StackConfig};

/// Where things are.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// The workspace root (holds `statemachine/`, `local/`).
    pub root: PathBuf,
    /// The Python of the project venv (runs `local/moto/moto_server.py`).
    pub python: PathBuf,
    /// Where the step binaries are.
    pub bin_dir: PathBuf,
}

/// Why the demo stopped.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// A prerequisite is missing, or a local file could not be read or written.
    #[error("{0}")]
    Setup(String),
    /// moto could not be started.
    #[error(transparent)]
    Moto(#[from] LaunchError),
    /// An AWS call against the emulator failed.
    #[error("{0}")]
    Aws(String),
    /// The state machine could not run.
    #[error(transparent)]
    Run(#[from] stack::RunError),
}

const ACCOUNT: &str = moto_launcher::DEFAULT_ACCOUNT;
const REGION: &str = moto_launcher::REGION;
const SOURCE: &str = "lake-prod";
const BACKUP_DATE: &str = "2021-03-31";
const INVENTORY_BUCKET: &str = "lakevault-inventory";
const REPORT_BUCKET: &str = "lakevault-reports";

fn aws<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> DemoError + '_ {
    move |e| DemoError::Aws(format!("{what}: {e}"))
}

fn say(t0: Instant, msg: impl AsRef<str>) {
    println!("[{:>5.1}s] {}", t0.elapsed().as_secs_f64(), msg.as_ref());
}

/// Runs the demo, printing as it goes; returns the state machine's output.
pub async fn run(opts: &DemoOptions) -> Result<Value, DemoError> {
    let t0 = Instant::now();
    let fixture = opts.root.join("local/fixtures/delta-table");
    if !fixture.is_dir() {
        return Err(DemoError::Setup(format!(
            "{} is missing",
            fixture.display()
        )));
    }
    // The local stack's moto: bucket-policy evaluation off, because moto would apply the
    // snapshot bucket's conditional denies unconditionally (see local/moto/moto_server.py).
    let moto = MotoServer::start(&MotoCommand::local_stack(&opts.python, &opts.root)).await?;
    say(t0, format!("moto (S3, SNS, SQS) on {}", moto.endpoint()));

    let mut step_env = moto.env();
    step_env.push(("RUST_LOG".into(), "warn".into()));
    let sdk = moto.sdk_config();
    let local = stack::start(
        StackConfig {
            sdk: sdk.clone(),
            bin_dir: opts.bin_dir.clone(),
            step_env,
            max_copy_bytes: local_batch::AWS_MAX_COPY_BYTES,
            timeout: Duration::from_secs(300),
        },
        0,
    )
    .await
    .map_err(|e| DemoError::Setup(format!("could not start the local stack: {e}")))?;
    say(
        t0,
        format!(
            "local Lambda endpoint + S3 Batch Operations on {}",
            local.url
        ),
    );

    let s3 = kit::clients::s3(&sdk);
    let sns = aws_sdk_sns::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);

    // The source account's bucket with a real Delta table.
    for b in [SOURCE, INVENTORY_BUCKET, REPORT_BUCKET] {
        s3.create_bucket()
            .bucket(b)
            .send()
            .await
            .map_err(aws("CreateBucket"))?;
    }
    let files = upload_dir(&s3, &fixture, SOURCE).await?;
    say(
        t0,
        format!(
            "s3://{SOURCE}: a Delta table, {files} objects (10 commits, a checkpoint, removed files)"
        ),
    );

    // Who hears about it: SNS topic → SQS queue.
    let topic = sns
        .create_topic()
        .name("lakevault-backups")
        .send()
        .await
        .map_err(aws("CreateTopic"))?
        .topic_arn()
        .unwrap_or_default()
        .to_owned();
    let queue_url = sqs
        .create_queue()
        .queue_name("lakevault-demo-inbox")
        .send()
        .await
        .map_err(aws("CreateQueue"))?
        .queue_url()
        .unwrap_or_default()
        .to_owned();
    let queue_arn = format!("arn:aws:sqs:{REGION}:{ACCOUNT}:lakevault-demo-inbox");
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(&queue_arn)
        .send()
        .await
        .map_err(aws("Subscribe"))?;

    // The inventory S3 would deliver two days after the backup date.
    let at = time::macros::datetime!(2021-04-02 01:00 UTC);
    let delivery =
        local_inventory::Delivery::new(SOURCE, INVENTORY_BUCKET, "inventory", "daily", at);
    let report = local_inventory::deliver(&s3, &delivery)
        .await
        .map_err(aws("inventory delivery"))?;
    say(
        t0,
        format!(
            "S3 Inventory delivered: s3://{}/{} ({} rows)",
            report.bucket, report.manifest_key, report.rows
        ),
    );

    let input = json!({
        "sources": [{"source_bucket": SOURCE, "backup_date": BACKUP_DATE}],
        "settings": {
            "account_id": ACCOUNT,
            "inventory": {"bucket": INVENTORY_BUCKET, "prefix": "inventory", "configuration_id": "daily"},
            "role_arn": format!("arn:aws:iam::{ACCOUNT}:role/lakevault-batch"),
            "report": {"bucket": REPORT_BUCKET, "prefix": "reports"},
            "topic_arn": topic,
            "break_glass_role_arns": [format!("arn:aws:iam::{ACCOUNT}:role/lakevault-break-glass")],
            "retention": {"mode": "GOVERNANCE", "days": 30},
            "poll_seconds": 1
        }
    });
    let work = tempdir_in_target(&opts.root).await?;
    say(
        t0,
        "running statemachine/backup.asl.json on aws-local-stepfunctions …",
    );
    let outcome = stack::run_state_machine(
        &RunOptions {
            runner_dir: opts.root.join("local/sfn-runner"),
            definition: opts.root.join("statemachine/backup.asl.json"),
            lambda_endpoint: local.url.clone(),
            wait_ms: 250,
            retry_ms: 200,
            events_file: work.join("events.json"),
        },
        &input,
    )
    .await?;
    let output = match outcome.output {
        Ok(v) => v,
        Err(e) => {
            println!("\nThe execution FAILED: {e}");
            return Ok(e);
        }
    };
    say(
        t0,
        format!(
            "execution succeeded: {} states entered, history in {}",
            outcome
                .events
                .iter()
                .filter(|e| e["type"] == "StateEntered")
                .count(),
            work.join("events.json").display()
        ),
    );

    println!();
    for r in output["results"].as_array().into_iter().flatten() {
        let bucket = r["snapshot_bucket"].as_str().unwrap_or("");
        println!(
            "source         s3://{}",
            r["source_bucket"].as_str().unwrap_or("")
        );
        println!("backup date    {}", r["backup_date"].as_str().unwrap_or(""));
        println!("outcome        {}", r["outcome"].as_str().unwrap_or(""));
        if !bucket.is_empty() {
            let copied = count_objects(&s3, bucket).await?;
            println!("snapshot       s3://{bucket} ({copied} objects)");
            println!("job            {}", r["job_id"].as_str().unwrap_or(""));
            let a = &r["audit"];
            println!(
                "audit          verdict {}, tasks {}, failure classes {}",
                a["verdict"].as_str().unwrap_or("?"),
                compact(&a["tasks"]),
                compact(&a["failure_classes"])
            );
            if let Some(rec) = a["record"].as_object() {
                println!(
                    "audit record   s3://{}/{}",
                    rec.get("bucket").and_then(Value::as_str).unwrap_or(""),
                    rec.get("key").and_then(Value::as_str).unwrap_or("")
                );
            }
            let v = &r["verification"];
            if let Some(summary) = v["summary"].as_str() {
                println!(
                    "delta tables   {summary} (verdict {})",
                    v["verdict"].as_str().unwrap_or("?")
                );
            }
        } else {
            println!(
                "failed at      {} with {}",
                r["failed_state"].as_str().unwrap_or("?"),
                r["error"].as_str().unwrap_or("?")
            );
        }
    }
    let msgs = sqs
        .receive_message()
        .queue_url(&queue_url)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .send()
        .await
        .map_err(aws("ReceiveMessage"))?;
    for m in msgs.messages() {
        let envelope: Value = serde_json::from_str(m.body().unwrap_or("{}")).unwrap_or_default();
        println!(
            "\nnotification   {}",
            envelope["Subject"].as_str().unwrap_or("")
        );
        // The body ends with the whole JSON record; the readable part is enough here.
        for line in envelope["Message"]
            .as_str()
            .unwrap_or("")
            .lines()
            .take_while(|l| !l.starts_with("--- record"))
        {
            println!("               {line}");
        }
    }
    println!();
    say(t0, "done; stopping moto and the local stack");
    drop(local);
    drop(moto);
    Ok(output)
}

fn compact(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 400 {
        format!("{}…", &s[..s.floor_char_boundary(400)])
    } else {
        s
    }
}

async fn tempdir_in_target(root: &Path) -> Result<PathBuf, DemoError> {
    let dir = root.join("target/lakevault-demo");
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| DemoError::Setup(format!("{}: {e}", dir.display())))?;
    Ok(dir)
}

async fn upload_dir(s3: &aws_sdk_s3::Client, dir: &Path, bucket: &str) -> Result<usize, DemoError> {
    let mut stack = vec![dir.to_path_buf()];
    let mut n = 0;
    while let Some(d) = stack.pop() {
        let unreadable = |e: std::io::Error| DemoError::Setup(format!("{}: {e}", d.display()));
        let mut entries = tokio::fs::read_dir(&d).await.map_err(unreadable)?;
        while let Some(entry) = entries.next_entry().await.map_err(unreadable)? {
            let p = entry.path();
            if entry.file_type().await.map_err(unreadable)?.is_dir() {
                stack.push(p);
                continue;
            }
            let key = p
                .strip_prefix(dir)
                .map(|k| k.to_string_lossy().replace('\\', "/"))
                .unwrap_or_default();
            let body = aws_sdk_s3::primitives::ByteStream::from_path(&p)
                .await
                .map_err(aws("read fixture"))?;
            s3.put_object()
                .bucket(bucket)
                .key(&key)
                .body(body)
                .send()
                .await
                .map_err(aws("PutObject"))?;
            n += 1;
        }
    }
    Ok(n)
}

async fn count_objects(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<usize, DemoError> {
    let mut pages = s3.list_objects_v2().bucket(bucket).into_paginator().send();
    let mut n = 0;
    while let Some(page) = pages.next().await {
        n += page.map_err(aws("ListObjectsV2"))?.contents().len();
    }
    Ok(n)
}
