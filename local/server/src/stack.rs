//! The local stack in one process: the Lambda Invoke endpoint and S3 Batch Operations on one
//! port, plus the runner that executes the state machine through them.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::lambda::{LambdaConfig, LambdaService};

/// What the local server needs to know.
#[derive(Debug, Clone)]
pub struct StackConfig {
    /// SDK configuration the Batch Operations copy with (points at the S3 endpoint, e.g. moto).
    pub sdk: aws_config::SdkConfig,
    /// Where the step binaries are.
    pub bin_dir: PathBuf,
    /// Environment for the steps (AWS endpoint, region, credentials). The server adds
    /// `AWS_ENDPOINT_URL_S3_CONTROL` pointing at itself.
    pub step_env: Vec<(String, String)>,
    /// Copy-size limit of the Batch Operations (AWS: 5 GiB).
    pub max_copy_bytes: i64,
    /// Per-invocation time limit of a step.
    pub timeout: Duration,
}

/// A running local server; stopped when dropped.
#[derive(Debug)]
pub struct Stack {
    /// `http://127.0.0.1:PORT` — Lambda Invoke and S3 Control on the same port.
    pub url: String,
    /// The Lambda endpoint (invocation log, faults).
    pub lambda: Arc<LambdaService>,
    /// The Batch Operations (jobs).
    pub batch: Arc<local_batch::BatchService>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Stack {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The combined routes.
pub fn router(lambda: Arc<LambdaService>, batch: Arc<local_batch::BatchService>) -> axum::Router {
    crate::lambda::router(lambda).merge(local_batch::router(batch))
}

/// Binds `127.0.0.1:port` (0 for any) and serves the stack in the background.
pub async fn start(config: StackConfig, port: u16) -> std::io::Result<Stack> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let url = format!("http://{}", listener.local_addr()?);
    let mut env = config.step_env.clone();
    env.push(("AWS_ENDPOINT_URL_S3_CONTROL".into(), url.clone()));
    let lambda = LambdaService::new(LambdaConfig::new(
        config.bin_dir.clone(),
        env,
        config.timeout,
    ));
    let mut batch_conf = local_batch::BatchConfig::from_sdk_config(&config.sdk);
    batch_conf.max_copy_bytes = config.max_copy_bytes;
    let batch = local_batch::BatchService::new(batch_conf);
    let app = router(Arc::clone(&lambda), Arc::clone(&batch));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let stopped = async move {
            let _ = rx.await;
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(stopped)
            .await
        {
            tracing::error!(error = %e, "local stack stopped");
        }
    });
    Ok(Stack {
        url,
        lambda,
        batch,
        stop: Some(tx),
    })
}

/// How to run the state machine locally.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// `local/sfn-runner` (with its node_modules installed).
    pub runner_dir: PathBuf,
    /// The ASL definition (placeholders unfilled).
    pub definition: PathBuf,
    /// The Lambda endpoint every Task goes through.
    pub lambda_endpoint: String,
    /// Wait states shortened to this many milliseconds.
    pub wait_ms: u64,
    /// Retry intervals shortened to this many milliseconds.
    pub retry_ms: u64,
    /// Where to keep the event history.
    pub events_file: PathBuf,
}

/// The result of a local execution.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// The execution's output, or `{"error", "cause"}` when it failed.
    pub output: Result<Value, Value>,
    /// The event history (aws-local-stepfunctions event log).
    pub events: Vec<Value>,
}

/// Why a local execution could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// node or the runner could not be started.
    #[error("could not start the runner (node {script}): {source}; run `make node` first")]
    Spawn {
        /// The runner script.
        script: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The runner crashed or printed something that is not JSON.
    #[error("the runner failed (exit {status}): {stdout}")]
    Runner {
        /// Exit status.
        status: String,
        /// What it printed.
        stdout: String,
    },
    /// Input could not be written.
    #[error("could not write the run input: {0}")]
    Io(#[from] std::io::Error),
}

/// Runs the definition with `input` on aws-local-stepfunctions (`node run.mjs`).
pub async fn run_state_machine(opts: &RunOptions, input: &Value) -> Result<RunOutcome, RunError> {
    let input_file = opts.events_file.with_extension("input.json");
    tokio::fs::write(
        &input_file,
        serde_json::to_vec_pretty(input).unwrap_or_default(),
    )
    .await?;
    let script = opts.runner_dir.join("run.mjs");
    let out = tokio::process::Command::new("node")
        .arg(&script)
        .arg("--definition")
        .arg(&opts.definition)
        .arg("--input")
        .arg(&input_file)
        .args(["--lambda-endpoint", &opts.lambda_endpoint])
        .args(["--wait-ms", &opts.wait_ms.to_string()])
        .args(["--retry-ms", &opts.retry_ms.to_string()])
        .arg("--events")
        .arg(&opts.events_file)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .await
        .map_err(|source| RunError::Spawn {
            script: script.display().to_string(),
            source,
        })?;
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let parsed: Option<Value> = stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok());
    let output = match (out.status.code(), parsed) {
        (Some(0), Some(v)) => Ok(v),
        (Some(1), Some(v)) => Err(v),
        (_, _) => {
            return Err(RunError::Runner {
                status: out.status.to_string(),
                stdout,
            });
        }
    };
    let events = match tokio::fs::read(&opts.events_file).await {
        Ok(b) => serde_json::from_slice(&b).unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    Ok(RunOutcome { output, events })
}

/// The workspace root, found from a directory inside it (the one holding `statemachine/`).
pub fn find_root(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|p| p.join("statemachine/backup.asl.json").exists())
        .map(Path::to_path_buf)
}
