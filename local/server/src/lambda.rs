//! A Lambda Invoke endpoint for lakevault's steps.
//!
//! `POST /2015-03-31/functions/{name or ARN}/invocations` runs the step's own binary in its local
//! mode (event on stdin, output JSON on stdout) and answers exactly as Lambda's Invoke API does:
//! HTTP 200 with the output; a function error is *also* HTTP 200, with
//! `X-Amz-Function-Error: Unhandled` and the `{"errorType", "errorMessage"}` JSON as the body.
//! Step Functions Local (`--lambda-endpoint`) and the local runner both call it.
//!
//! Two extras for testing what no real Lambda does on demand:
//! * `POST /_lakevault/faults` `{"function": "submit-job", "error_type": "Transient", "count": 2}`
//!   makes the next `count` invocations of that function fail with that errorType *without*
//!   running it (how a retry policy is exercised end to end);
//! * `GET /_lakevault/invocations[?after=SEQ]` lists the invocations served, oldest first:
//!   sequence number, function, payload, outcome (with `after`, only those numbered above it: how
//!   `lakevault restore --local` follows a run). Only the last
//!   [`LambdaConfig::invocation_log_limit`] are kept ([`DEFAULT_INVOCATION_LOG_LIMIT`] by
//!   default), so a long-running server's memory stays bounded; the numbers keep counting.
//!
//! The event is written to the step's stdin while its output is read, both inside the
//! invocation's time limit: a step that never reads its input times out like any other.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

/// The workflow's functions, by their Lambda names (= package = binary names).
pub const FUNCTIONS: &[&str] = &[
    "locate-manifest",
    "create-bucket",
    "submit-job",
    "await-job",
    "audit-report",
    "list-large-copies",
    "plan-large-copy",
    "copy-parts",
    "complete-large-copy",
    "verify-snapshot",
    "catalog-snapshot",
    "notify",
    "plan-restore",
    "verify-restore",
    "prune-snapshots",
];

/// Invocations kept for `GET /_lakevault/invocations` unless configured otherwise.
pub const DEFAULT_INVOCATION_LOG_LIMIT: usize = 1000;

/// How the endpoint runs functions.
#[derive(Debug, Clone)]
pub struct LambdaConfig {
    /// Directory holding the step binaries (`target/debug`, `target/release`).
    pub bin_dir: PathBuf,
    /// Extra environment for every function (AWS endpoints, credentials, region).
    pub env: Vec<(String, String)>,
    /// Per-invocation time limit, like a function's configured timeout: it covers passing the
    /// event, the run, and reading the output.
    pub timeout: Duration,
    /// How many of the latest invocations the log keeps (older ones are dropped).
    pub invocation_log_limit: usize,
}

impl LambdaConfig {
    /// Running the binaries in `bin_dir` with `env`, `timeout` per invocation, the default log
    /// limit.
    pub fn new(bin_dir: PathBuf, env: Vec<(String, String)>, timeout: Duration) -> Self {
        Self {
            bin_dir,
            env,
            timeout,
            invocation_log_limit: DEFAULT_INVOCATION_LOG_LIMIT,
        }
    }
}

/// A fault for a function the endpoint does not serve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Function not found: {0}")]
pub struct UnknownFunction(pub String);

/// A fault queued for a function.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Fault {
    /// Function name.
    pub function: String,
    /// errorType to report.
    pub error_type: String,
    /// errorMessage to report.
    #[serde(default = "default_fault_message")]
    pub error_message: String,
    /// How many invocations fail this way.
    #[serde(default = "one")]
    pub count: u32,
}

fn default_fault_message() -> String {
    "fault injected by the local Lambda endpoint".to_owned()
}

fn one() -> u32 {
    1
}

/// One served invocation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Invocation {
    /// Its number: 1 for the first invocation the server served, counting on past the log's limit.
    #[serde(default)]
    pub seq: u64,
    /// Function name.
    pub function: String,
    /// The event it received.
    pub payload: Value,
    /// Its output (success) or error JSON (function error).
    pub response: Value,
    /// True when the invocation was a function error.
    pub function_error: bool,
    /// True when the error was injected rather than produced by the step.
    pub injected: bool,
}

/// Shared state of the endpoint.
#[derive(Debug)]
pub struct LambdaService {
    config: LambdaConfig,
    faults: Mutex<HashMap<String, Vec<Fault>>>,
    log: Mutex<VecDeque<Invocation>>,
    served: std::sync::atomic::AtomicU64,
}

impl LambdaService {
    /// A service running the binaries in `config.bin_dir`.
    pub fn new(config: LambdaConfig) -> Arc<Self> {
        Arc::new(Self {
            config,
            faults: Mutex::new(HashMap::new()),
            log: Mutex::new(VecDeque::new()),
            served: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// The invocations served so far, oldest first (the last
    /// [`LambdaConfig::invocation_log_limit`] of them).
    pub fn invocations(&self) -> Vec<Invocation> {
        self.log
            .lock()
            .map(|l| l.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Queues a fault: the next `fault.count` invocations of `fault.function` fail with its
    /// errorType without running. Refused for a function the endpoint does not serve.
    pub fn add_fault(&self, fault: Fault) -> Result<(), UnknownFunction> {
        if !FUNCTIONS.contains(&fault.function.as_str()) {
            return Err(UnknownFunction(fault.function));
        }
        if let Ok(mut faults) = self.faults.lock() {
            faults
                .entry(fault.function.clone())
                .or_default()
                .push(fault);
        }
        Ok(())
    }

    fn take_fault(&self, function: &str) -> Option<Fault> {
        let mut faults = self.faults.lock().ok()?;
        let queue = faults.get_mut(function)?;
        let first = queue.first_mut()?;
        let fault = first.clone();
        first.count = first.count.saturating_sub(1);
        if first.count == 0 {
            queue.remove(0);
        }
        Some(fault)
    }

    /// The invocations numbered above `seq`, oldest first.
    pub fn invocations_after(&self, seq: u64) -> Vec<Invocation> {
        self.log
            .lock()
            .map(|l| l.iter().filter(|i| i.seq > seq).cloned().collect())
            .unwrap_or_default()
    }

    fn record(&self, mut inv: Invocation) {
        if let Ok(mut l) = self.log.lock() {
            // Numbered under the log's lock: the log stays in number order.
            inv.seq = self
                .served
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
                + 1;
            l.push_back(inv);
            while l.len() > self.config.invocation_log_limit {
                l.pop_front();
            }
        }
    }
}

/// The routes: Invoke, plus the fault and invocation-log endpoints.
pub fn router(service: Arc<LambdaService>) -> axum::Router {
    axum::Router::new()
        .route("/2015-03-31/functions/{function}/invocations", post(invoke))
        .route("/_lakevault/faults", post(add_fault))
        .route("/_lakevault/invocations", get(list_invocations))
        .with_state(service)
}

/// `name`, `name:qualifier`, a function ARN or a partial ARN → the function name.
pub fn function_name(id: &str) -> &str {
    let parts: Vec<&str> = id.split(':').collect();
    match parts.as_slice() {
        // arn:aws:lambda:region:account:function:name[:qualifier]
        ["arn", _, "lambda", _, _, "function", name, ..] => name,
        // account:function:name[:qualifier]
        [_, "function", name, ..] => name,
        [name, ..] => name,
        [] => id,
    }
}

fn aws_error(status: StatusCode, error_type: &str, message: String) -> Response {
    let mut resp = (
        status,
        Json(json!({"Type": "User", "message": message, "Message": message})),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(error_type) {
        resp.headers_mut().insert("x-amzn-ErrorType", v);
    }
    resp
}

fn function_response(body: &Value, function_error: bool) -> Response {
    let mut resp = (StatusCode::OK, Json(body.clone())).into_response();
    let h = resp.headers_mut();
    h.insert(
        "X-Amz-Executed-Version",
        HeaderValue::from_static("$LATEST"),
    );
    if let Ok(id) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
        h.insert("x-amzn-RequestId", id);
    }
    if function_error {
        h.insert(
            "X-Amz-Function-Error",
            HeaderValue::from_static("Unhandled"),
        );
    }
    resp
}

async fn invoke(
    State(svc): State<Arc<LambdaService>>,
    Path(function): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let name = function_name(&function).to_owned();
    if !FUNCTIONS.contains(&name.as_str()) {
        return aws_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            format!("Function not found: {function}"),
        );
    }
    // An empty body is the event `{}` to Lambda.
    let payload: Value = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => {
                return aws_error(
                    StatusCode::BAD_REQUEST,
                    "InvalidRequestContentException",
                    format!("Could not parse request body into json: {e}"),
                );
            }
        }
    };
    let invocation_type = headers
        .get("X-Amz-Invocation-Type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("RequestResponse")
        .to_owned();
    match invocation_type.as_str() {
        "DryRun" => return StatusCode::NO_CONTENT.into_response(),
        "Event" => {
            let svc2 = Arc::clone(&svc);
            tokio::spawn(async move {
                let _ = run_function(&svc2, &name, payload).await;
            });
            return StatusCode::ACCEPTED.into_response();
        }
        "RequestResponse" => {}
        other => {
            return aws_error(
                StatusCode::BAD_REQUEST,
                "InvalidParameterValueException",
                format!("unsupported invocation type {other:?}"),
            );
        }
    }
    let (body, function_error) = run_function(&svc, &name, payload).await;
    function_response(&body, function_error)
}

/// Runs one invocation; returns the response body and whether it is a function error.
async fn run_function(svc: &LambdaService, name: &str, payload: Value) -> (Value, bool) {
    if let Some(f) = svc.take_fault(name) {
        tracing::info!(function = name, error_type = %f.error_type, "injected fault");
        let body = json!({"errorType": f.error_type, "errorMessage": f.error_message});
        svc.record(Invocation {
            seq: 0,
            function: name.to_owned(),
            payload,
            response: body.clone(),
            function_error: true,
            injected: true,
        });
        return (body, true);
    }
    let (body, function_error) = exec(&svc.config, name, &payload).await;
    tracing::info!(function = name, function_error, "invoked");
    svc.record(Invocation {
        seq: 0,
        function: name.to_owned(),
        payload,
        response: body.clone(),
        function_error,
        injected: false,
    });
    (body, function_error)
}

async fn exec(config: &LambdaConfig, name: &str, payload: &Value) -> (Value, bool) {
    let request_id = uuid::Uuid::new_v4();
    let runtime_error = |msg: String| {
        (
            json!({"errorType": "Runtime.ExitError", "errorMessage": format!("RequestId: {request_id} Error: {msg}")}),
            true,
        )
    };
    let mut cmd = tokio::process::Command::new(config.bin_dir.join(name));
    cmd.envs(config.env.iter().map(|(k, v)| (k, v)))
        // The step must run in its local (stdin/stdout) mode, not try to reach a runtime API.
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return runtime_error(format!(
                "could not start {}: {e} (build the steps first: cargo build)",
                config.bin_dir.join(name).display()
            ));
        }
    };
    // The event goes in while the output is read (a step may write before it has read all of
    // its input), and both inside the time limit: a step that never reads its stdin must time
    // out, not hang the write.
    let stdin = child.stdin.take();
    let bytes = payload.to_string().into_bytes();
    let pass_event = async move {
        if let Some(mut stdin) = stdin {
            stdin.write_all(&bytes).await?;
            // Dropping stdin closes it: the step reads to EOF.
        }
        Ok::<(), std::io::Error>(())
    };
    let run = async { tokio::join!(pass_event, child.wait_with_output()) };
    let output = match tokio::time::timeout(config.timeout, run).await {
        // The step stopped reading (e.g. an event over its cap) and exited: its output is its
        // answer.
        Ok((Err(e), Ok(o))) if e.kind() == std::io::ErrorKind::BrokenPipe => o,
        Ok((Err(e), _)) => return runtime_error(format!("could not pass the event: {e}")),
        Ok((Ok(()), Ok(o))) => o,
        Ok((Ok(()), Err(e))) => return runtime_error(format!("Runtime exited with error: {e}")),
        Err(_) => {
            // Lambda reports a timeout without an errorType; Step Functions names it Lambda.Unknown.
            return (
                json!({"errorMessage": format!("RequestId: {request_id} Task timed out after {:.2} seconds", config.timeout.as_secs_f64())}),
                true,
            );
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let parsed: Option<Value> = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .and_then(|l| serde_json::from_str(l).ok());
    match (output.status.success(), parsed) {
        (true, Some(v)) => (v, false),
        (false, Some(v)) if v.get("errorType").is_some() => (v, true),
        (_, _) => runtime_error(format!(
            "Runtime exited with error: {} and no JSON result",
            output.status
        )),
    }
}

async fn add_fault(State(svc): State<Arc<LambdaService>>, Json(fault): Json<Fault>) -> Response {
    match svc.add_fault(fault) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => aws_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            e.to_string(),
        ),
    }
}

/// `GET /_lakevault/invocations`'s query.
#[derive(Debug, Default, Deserialize)]
struct InvocationsQuery {
    /// Only the invocations numbered above this.
    after: Option<u64>,
}

async fn list_invocations(
    State(svc): State<Arc<LambdaService>>,
    Query(q): Query<InvocationsQuery>,
) -> Json<Vec<Invocation>> {
    Json(svc.invocations_after(q.after.unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::function_name;

    #[test]
    fn a_function_is_named_by_name_qualified_name_or_arn() {
        assert_eq!(function_name("notify"), "notify");
        assert_eq!(function_name("notify:$LATEST"), "notify");
        assert_eq!(
            function_name("arn:aws:lambda:us-east-1:123456789012:function:submit-job"),
            "submit-job"
        );
        assert_eq!(
            function_name("arn:aws:lambda:us-east-1:123456789012:function:submit-job:live"),
            "submit-job"
        );
        assert_eq!(
            function_name("123456789012:function:await-job"),
            "await-job"
        );
    }
}
