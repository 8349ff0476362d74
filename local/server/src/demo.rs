//! `lakevault-local demo`: the whole backup of a real Delta table, on one machine — and the pieces
//! `up` and `restore-demo` reuse.
//!
//! Starts moto and the local stack on free loopback ports, creates a source bucket holding the
//! Delta table in `local/fixtures/delta-table` (written by the `deltalake` package), delivers an
//! S3 Inventory dated backup date + 2 days, runs `statemachine/backup.asl.json` through the local
//! Lambda endpoint, prints what happened, and stops everything it started.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use moto_launcher::{LaunchError, MotoCommand, MotoServer};
use serde_json::{Value, json};

use crate::drill;
use crate::stack::{self, RunOptions, RunOutcome, Stack, StackConfig};

/// Where things are.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// The workspace root (holds `statemachine/`, `local/`).
    pub root: PathBuf,
    /// The Python of the project venv (runs `local/moto/moto_server.py`).
    pub python: PathBuf,
    /// Where the step binaries are.
    pub bin_dir: PathBuf,
    /// Also show the copy of objects over the Batch Operations limit: the limit lowered to
    /// [`DEMO_COPY_LIMIT`], and the source given one object above it ([`LARGE_OBJECT_KEY`]).
    pub large_objects: bool,
}

/// The Batch Operations copy limit with `--large-objects` (AWS's is 5 GiB): an object above it is
/// copied by the large-copy Map, in parts of [`DEMO_PART_BYTES`].
pub const DEMO_COPY_LIMIT: i64 = 8 << 20;
/// The large copy's part size with `--large-objects`: moto's part minimum (5 MiB).
pub const DEMO_PART_BYTES: u64 = 5 << 20;
/// The object over [`DEMO_COPY_LIMIT`] that `--large-objects` adds to the source (beside the
/// table: the Delta table's own files are small).
pub const LARGE_OBJECT_KEY: &str = "exports/events-2021-03-31.parquet";
/// The keep policy `make demo` shows its snapshot under (restic's `--keep-*`).
pub const DEMO_KEEP: [(&str, u32); 3] = [
    ("--keep-daily", 7),
    ("--keep-weekly", 4),
    ("--keep-monthly", 12),
];
/// Its size: 4 parts of 5 MiB, the last one shorter.
pub const LARGE_OBJECT_BYTES: usize = 18 << 20;

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
    /// A step of the restore drill could not be done.
    #[error(transparent)]
    Drill(#[from] drill::DrillError),
    /// The restore drill found something wrong (what, is printed above).
    #[error("the restore drill failed: {0}")]
    DrillFailed(String),
}

/// The account everything runs in.
pub const ACCOUNT: &str = moto_launcher::DEFAULT_ACCOUNT;
const REGION: &str = moto_launcher::REGION;
/// The demo's source bucket.
pub const SOURCE: &str = "lake-prod";
/// The demo's backup date.
pub const BACKUP_DATE: &str = "2021-03-31";
/// The snapshot of [`SOURCE`] on [`BACKUP_DATE`].
pub const SNAPSHOT: &str = "lake-prod-31-mar-2021";
/// The table's root in the source (and the snapshot).
pub const TABLE: &str = "events/";
const INVENTORY_BUCKET: &str = "lakevault-inventory";
/// Reports, audit records, restore plans.
pub const REPORT_BUCKET: &str = "lakevault-reports";

fn aws<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> DemoError + '_ {
    move |e| DemoError::Aws(format!("{what}: {e}"))
}

/// Which Step Functions interpreter runs the backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Interpreter {
    /// aws-local-stepfunctions (local/sfn-runner), calling the local Lambda endpoint.
    #[default]
    Local,
    /// The Step Functions API (aws-sdk-sfn) on moto's executing backend: the definitions are
    /// deployed as state machines and a named execution is started and followed.
    Api,
}

/// How long a Wait state or Retry interval lasts on moto's interpreter, as a fraction of the
/// definition's (60 s polls take 0.6 s).
pub const API_WAIT_TIME_SCALE: f64 = 0.01;

/// moto and the local stack, with the inventory and report buckets and an SNS topic whose
/// messages reach an SQS queue: what every demo starts from. Stopped when dropped.
pub struct DemoWorld {
    /// Where things are.
    pub opts: DemoOptions,
    /// When it started (the `[  1.2s]` stamps).
    pub t0: Instant,
    /// The local stack (Lambda endpoint + Batch Operations).
    pub stack: Stack,
    /// SDK configuration for moto.
    pub sdk: aws_config::SdkConfig,
    /// S3 on moto.
    pub s3: aws_sdk_s3::Client,
    /// The topic the steps notify.
    pub topic_arn: String,
    /// The queue subscribed to it.
    pub queue_url: String,
    /// `target/lakevault-demo`: histories, settings.
    pub work: PathBuf,
    sqs: aws_sdk_sqs::Client,
    interpreter: Interpreter,
    // Last: moto outlives the stack that copies through it.
    moto: MotoServer,
}

impl DemoWorld {
    /// Starts moto and the stack (on `port`, 0 for any free one) and creates what every run needs;
    /// the steps log warnings.
    pub async fn start(opts: &DemoOptions, port: u16) -> Result<DemoWorld, DemoError> {
        Self::start_with(opts, port, "warn").await
    }

    /// [`DemoWorld::start`] with the steps' `RUST_LOG` (the drill's refusals are expected: it
    /// keeps their warnings out of the story with `error`).
    pub async fn start_with(
        opts: &DemoOptions,
        port: u16,
        step_log: &str,
    ) -> Result<DemoWorld, DemoError> {
        Self::start_on(opts, port, step_log, Interpreter::Local).await
    }

    /// [`DemoWorld::start_with`] on a chosen interpreter. For [`Interpreter::Api`], moto runs
    /// Step Functions with its Lambda calls sent to the local stack, which listens on a port
    /// chosen before moto starts (moto must know it; the stack must know moto's).
    pub async fn start_on(
        opts: &DemoOptions,
        port: u16,
        step_log: &str,
        interpreter: Interpreter,
    ) -> Result<DemoWorld, DemoError> {
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
        let mut port = port;
        let mut command = MotoCommand::local_stack(&opts.python, &opts.root);
        if interpreter == Interpreter::Api {
            if port == 0 {
                port = moto_launcher::free_port()
                    .map_err(|e| DemoError::Setup(format!("no free port: {e}")))?;
            }
            command = command
                .with_step_functions(&format!("http://127.0.0.1:{port}"), API_WAIT_TIME_SCALE);
        }
        let moto = MotoServer::start(&command).await?;
        say(
            t0,
            match interpreter {
                Interpreter::Local => format!("moto (S3, SNS, SQS) on {}", moto.endpoint()),
                Interpreter::Api => format!(
                    "moto (S3, SNS, SQS, Step Functions executing, waits × {API_WAIT_TIME_SCALE}) on {}",
                    moto.endpoint()
                ),
            },
        );

        let mut step_env = moto.env();
        step_env.push(("RUST_LOG".into(), step_log.into()));
        let max_copy_bytes = if opts.large_objects {
            // Parts of 5 MiB, which moto accepts, so an object of tens of MiB takes the real
            // multipart path.
            step_env.push((
                "LAKEVAULT_MIN_PART_BYTES".into(),
                DEMO_PART_BYTES.to_string(),
            ));
            DEMO_COPY_LIMIT
        } else {
            local_batch::AWS_MAX_COPY_BYTES
        };
        let sdk = moto.sdk_config();
        let stack = stack::start(
            StackConfig {
                sdk: sdk.clone(),
                bin_dir: opts.bin_dir.clone(),
                step_env,
                max_copy_bytes,
                timeout: Duration::from_secs(300),
            },
            port,
        )
        .await
        .map_err(|e| DemoError::Setup(format!("could not start the local stack: {e}")))?;
        say(
            t0,
            format!(
                "local Lambda endpoint + S3 Batch Operations on {}",
                stack.url
            ),
        );

        let s3 = kit::clients::s3(&sdk);
        let sns = aws_sdk_sns::Client::new(&sdk);
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        for b in [INVENTORY_BUCKET, REPORT_BUCKET] {
            s3.create_bucket()
                .bucket(b)
                .send()
                .await
                .map_err(aws("CreateBucket"))?;
        }
        // Who hears about it: SNS topic → SQS queue.
        let topic_arn = sns
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
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(&queue_arn)
            .send()
            .await
            .map_err(aws("Subscribe"))?;
        let work = opts.root.join("target/lakevault-demo");
        tokio::fs::create_dir_all(&work)
            .await
            .map_err(|e| DemoError::Setup(format!("{}: {e}", work.display())))?;
        Ok(DemoWorld {
            opts: opts.clone(),
            t0,
            stack,
            sdk,
            s3,
            topic_arn,
            queue_url,
            work,
            sqs,
            interpreter,
            moto,
        })
    }

    /// Prints `[  1.2s] msg`.
    pub fn say(&self, msg: impl AsRef<str>) {
        say(self.t0, msg);
    }

    /// moto's URL.
    pub fn moto_endpoint(&self) -> &str {
        self.moto.endpoint()
    }

    /// The environment a program needs to reach moto (credentials, region, endpoint) and the
    /// stack's S3 Control API.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = self.moto.env();
        env.push(("AWS_ENDPOINT_URL_S3_CONTROL".into(), self.stack.url.clone()));
        env
    }

    /// Creates `bucket` holding the demo's Delta table minus the keys in `skip`, and delivers its
    /// S3 Inventory of backup date + 2 days. Returns the number of objects.
    pub async fn add_source(&self, bucket: &str, skip: &[String]) -> Result<usize, DemoError> {
        self.s3
            .create_bucket()
            .bucket(bucket)
            .send()
            .await
            .map_err(aws("CreateBucket"))?;
        let fixture = self.opts.root.join("local/fixtures/delta-table");
        let mut n = drill::upload_dir(&self.s3, &fixture, bucket, skip).await?;
        if self.opts.large_objects {
            // Deterministic bytes that do not compress to nothing: a digest chain would be
            // overkill, the position is enough for a byte-for-byte comparison.
            let body: Vec<u8> = (0..LARGE_OBJECT_BYTES)
                .map(|i| (i % 251) as u8 ^ (i >> 16) as u8)
                .collect();
            self.s3
                .put_object()
                .bucket(bucket)
                .key(LARGE_OBJECT_KEY)
                .content_type("application/vnd.apache.parquet")
                .body(body.into())
                .send()
                .await
                .map_err(aws("PutObject"))?;
            n += 1;
            self.say(format!(
                "s3://{bucket}/{LARGE_OBJECT_KEY}: {} MiB, over the lowered copy limit of {} MiB (AWS's: 5 GiB)",
                LARGE_OBJECT_BYTES >> 20,
                DEMO_COPY_LIMIT >> 20
            ));
        }
        let at = time::macros::datetime!(2021-04-02 01:00 UTC);
        let delivery =
            local_inventory::Delivery::new(bucket, INVENTORY_BUCKET, "inventory", "daily", at);
        let report = local_inventory::deliver(&self.s3, &delivery)
            .await
            .map_err(aws("inventory delivery"))?;
        let held = if skip.is_empty() {
            " (10 commits, a checkpoint, removed files)".to_owned()
        } else {
            format!(
                " ({} of its files deleted before the backup, as a VACUUM would)",
                skip.len()
            )
        };
        self.say(format!("s3://{bucket}: a Delta table, {n} objects{held}"));
        self.say(format!(
            "S3 Inventory delivered: s3://{}/{} ({} rows)",
            report.bucket, report.manifest_key, report.rows
        ));
        Ok(n)
    }

    /// Creates an empty bucket (a restore target).
    pub async fn create_bucket(&self, bucket: &str) -> Result<(), DemoError> {
        self.s3
            .create_bucket()
            .bucket(bucket)
            .send()
            .await
            .map_err(aws("CreateBucket"))?;
        Ok(())
    }

    /// The backup's run input for `sources` on the backup date.
    pub fn backup_input(&self, sources: &[&str]) -> Value {
        json!({
            "sources": sources.iter().map(|s| json!({"source_bucket": s, "backup_date": BACKUP_DATE})).collect::<Vec<_>>(),
            "settings": {
                "account_id": ACCOUNT,
                "inventory": {"bucket": INVENTORY_BUCKET, "prefix": "inventory", "configuration_id": "daily"},
                "role_arn": format!("arn:aws:iam::{ACCOUNT}:role/lakevault-batch"),
                "report": {"bucket": REPORT_BUCKET, "prefix": "reports"},
                "topic_arn": self.topic_arn,
                "break_glass_role_arns": [format!("arn:aws:iam::{ACCOUNT}:role/lakevault-break-glass")],
                "retention": {"mode": "GOVERNANCE", "days": 30},
                "poll_seconds": 1
            }
        })
    }

    /// The restore's run settings (the contract's `settings` object).
    pub fn restore_settings(&self) -> Value {
        json!({
            "account_id": ACCOUNT,
            "role_arn": format!("arn:aws:iam::{ACCOUNT}:role/lakevault-restore-batch"),
            "report": {"bucket": REPORT_BUCKET, "prefix": "reports"},
            "topic_arn": self.topic_arn,
            "poll_seconds": 1
        })
    }

    /// Writes [`Self::restore_settings`] to `<work>/restore-settings.json`; returns its path.
    pub async fn write_restore_settings(&self) -> Result<PathBuf, DemoError> {
        let path = self.work.join("restore-settings.json");
        let text = serde_json::to_vec_pretty(&self.restore_settings()).unwrap_or_default();
        tokio::fs::write(&path, text)
            .await
            .map_err(|e| DemoError::Setup(format!("{}: {e}", path.display())))?;
        Ok(path)
    }

    /// Runs the backup of `sources` on the local runner; the history goes to
    /// `<work>/<name>.json`.
    pub async fn back_up(&self, sources: &[&str], name: &str) -> Result<RunOutcome, DemoError> {
        if self.interpreter == Interpreter::Api {
            return self.back_up_on_api(sources, name).await;
        }
        self.say("running statemachine/backup.asl.json on aws-local-stepfunctions …");
        let events_file = self.work.join(format!("{name}.json"));
        let outcome = stack::run_state_machine(
            &RunOptions {
                runner_dir: self.opts.root.join("local/sfn-runner"),
                definition: self.opts.root.join("statemachine/backup.asl.json"),
                lambda_endpoint: self.stack.url.clone(),
                wait_ms: 250,
                retry_ms: 200,
                events_file: events_file.clone(),
            },
            &self.backup_input(sources),
        )
        .await?;
        if outcome.output.is_ok() {
            self.say(format!(
                "execution succeeded: {} states entered, history in {}",
                outcome
                    .events
                    .iter()
                    .filter(|e| e["type"] == "StateEntered")
                    .count(),
                events_file.display()
            ));
        }
        Ok(outcome)
    }

    /// The backup through the Step Functions API on moto: every definition deployed, execution
    /// `name` started and followed (states as they are entered, children's prefixed).
    async fn back_up_on_api(&self, sources: &[&str], name: &str) -> Result<RunOutcome, DemoError> {
        let sfn = aws_sdk_sfn::Client::new(&self.sdk);
        let role = format!("arn:aws:iam::{ACCOUNT}:role/lakevault-local");
        let machines = crate::sfn_api::deploy_dir(
            &sfn,
            &self.opts.root.join("statemachine"),
            ACCOUNT,
            REGION,
            &role,
        )
        .await
        .map_err(|e| DemoError::Aws(e.to_string()))?;
        let parent = machines
            .get(&crate::sfn_api::state_machine_name("backup"))
            .cloned()
            .ok_or_else(|| DemoError::Setup("statemachine/backup.asl.json is missing".into()))?;
        self.say(format!(
            "deployed {} state machines; starting execution {name} of {parent} through the Step Functions API …",
            machines.len()
        ));
        let t0 = self.t0;
        let out = crate::sfn_api::run_named(
            &sfn,
            &parent,
            name,
            &self.backup_input(sources),
            Duration::from_millis(500),
            Duration::from_secs(900),
            |line| say(t0, format!("  {line}")),
        )
        .await
        .map_err(|e| DemoError::Aws(e.to_string()))?;
        let entered = out.trace.states_entered.len()
            + out
                .children
                .values()
                .map(|c| c.states_entered.len())
                .sum::<usize>();
        if out.output.is_ok() {
            self.say(format!(
                "execution {} succeeded: {entered} states entered (children included)",
                out.arn
            ));
        }
        // The local runner's shape: the output, and one StateEntered event per state entered.
        let events = out
            .trace
            .states_entered
            .iter()
            .chain(out.children.values().flat_map(|c| c.states_entered.iter()))
            .map(|s| json!({"type": "StateEntered", "stateName": s}))
            .collect();
        Ok(RunOutcome {
            output: out.output,
            events,
        })
    }

    /// Prints each source's result of a backup.
    pub async fn print_backup(&self, output: &Value) -> Result<(), DemoError> {
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
                let copied = drill::keys(&self.s3, bucket, "").await?.len();
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
                let large = &a["large_copies"];
                if large.is_object() {
                    println!(
                        "large copies   {} copied in parts, {} not copied{}",
                        large["copied"],
                        large["failed"],
                        if large["truncated"] == true {
                            ", more not listed"
                        } else {
                            ""
                        }
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
        Ok(())
    }

    /// Prints what the snapshot catalog holds for `source`, as an operator sees it:
    /// `lakevault snapshots --source <source>` (the binary beside the steps), with the demo's
    /// keep policy ([`DEMO_KEEP`]).
    pub async fn print_snapshots(&self, source: &str) -> Result<(), DemoError> {
        let mut args: Vec<String> = [
            "snapshots",
            "--source",
            source,
            "--report-bucket",
            REPORT_BUCKET,
            "--report-prefix",
            "reports",
        ]
        .iter()
        .map(|a| (*a).to_owned())
        .collect();
        for (flag, n) in DEMO_KEEP {
            args.push(flag.to_owned());
            args.push(n.to_string());
        }
        println!("\n$ lakevault {}", args.join(" "));
        let run = drill::lakevault(&self.opts.bin_dir, &self.opts.root, &args, &self.env()).await?;
        print!("{}", run.stdout);
        if run.code != Some(0) {
            return Err(DemoError::Setup(format!(
                "lakevault snapshots exited {:?}: {}",
                run.code, run.stderr
            )));
        }
        Ok(())
    }

    /// Prints (and removes) the notifications that reached the queue: subject and readable part.
    pub async fn print_notifications(&self) -> Result<usize, DemoError> {
        let mut n = 0;
        loop {
            let msgs = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .map_err(aws("ReceiveMessage"))?;
            if msgs.messages().is_empty() {
                return Ok(n);
            }
            for m in msgs.messages() {
                n += 1;
                let envelope: Value =
                    serde_json::from_str(m.body().unwrap_or("{}")).unwrap_or_default();
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
                if let Some(handle) = m.receipt_handle() {
                    self.sqs
                        .delete_message()
                        .queue_url(&self.queue_url)
                        .receipt_handle(handle)
                        .send()
                        .await
                        .map_err(aws("DeleteMessage"))?;
                }
            }
        }
    }
}

fn say(t0: Instant, msg: impl AsRef<str>) {
    println!("[{:>5.1}s] {}", t0.elapsed().as_secs_f64(), msg.as_ref());
}

/// Runs the demo, printing as it goes; returns the state machine's output.
pub async fn run(opts: &DemoOptions) -> Result<Value, DemoError> {
    run_on(opts, Interpreter::Local).await
}

/// [`run`] on a chosen interpreter (`make demo SFN=api`: the Step Functions API on moto).
pub async fn run_on(opts: &DemoOptions, interpreter: Interpreter) -> Result<Value, DemoError> {
    let world = DemoWorld::start_on(opts, 0, "warn", interpreter).await?;
    world.add_source(SOURCE, &[]).await?;
    let outcome = world.back_up(&[SOURCE], "events").await?;
    let output = match outcome.output {
        Ok(v) => v,
        Err(e) => {
            println!("\nThe execution FAILED: {e}");
            return Ok(e);
        }
    };
    world.print_backup(&output).await?;
    world.print_notifications().await?;
    world.print_snapshots(SOURCE).await?;
    println!();
    world.say("done; stopping moto and the local stack");
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

/// The workspace-relative form of `path` for printed commands (absolute when outside `root`).
pub fn shown(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}
