//! `--local URL`: the restore machine (and `forget`'s prune machine) on the local runner,
//! through a `lakevault-local` endpoint.
//!
//! Runs `statemachine/restore.asl.json` on `local/sfn-runner` exactly as `make demo` runs the
//! backup (lakevault-local's `run_state_machine`: every Task through the Lambda endpoint at
//! `URL`, Waits and retry intervals shortened), and follows it from the endpoint's invocation log
//! (`GET /_lakevault/invocations?after=N`: which Task ran last, the plan, the job) and the local
//! S3 Control API on the same port (`DescribeJob`: the job's counts). The runner runs inside this
//! command: it cannot detach (`--no-wait` is refused), and Ctrl-C stops it.
//!
//! `forget` runs `statemachine/prune.asl.json` the same way ([`run_prune`]): its one Task,
//! prune-snapshots, is served by the same endpoint, and the log's prune-snapshots invocations of
//! this prune give the progress and the counts.

use std::path::PathBuf;
use std::time::Duration;

use lakevault_local::lambda::Invocation;
use lakevault_local::stack::{self, RunOptions};
use serde_json::Value;

use crate::error::CommandError;
use crate::follow::{self, Finished, Status};
use crate::progress::{Reporter, Seen};
use crate::prune::PruneRequest;
use crate::request::{RestoreRequest, Settings};

/// Where the local stack is and how to run on it.
#[derive(Debug, Clone)]
pub struct LocalOptions {
    /// The `lakevault-local serve` / `up` endpoint (`http://127.0.0.1:PORT`).
    pub url: String,
    /// The lakevault workspace (holds `statemachine/` and `local/sfn-runner`).
    pub root: PathBuf,
    /// How often the progress line is refreshed.
    pub refresh: Duration,
}

/// The local endpoint's invocation log, read over HTTP.
#[derive(Debug, Clone)]
pub struct InvocationLog {
    url: String,
    http: reqwest::Client,
}

impl InvocationLog {
    /// The log of the endpoint at `url`.
    pub fn new(url: &str) -> InvocationLog {
        InvocationLog {
            url: url.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
        }
    }

    /// The invocations numbered above `seq`, oldest first.
    pub async fn after(&self, seq: u64) -> Result<Vec<Invocation>, CommandError> {
        let unreachable = |e: reqwest::Error| {
            CommandError::LocalStack(format!(
                "the local Lambda endpoint {} does not answer GET /_lakevault/invocations ({e}); \
                 start it with `lakevault-local up` (or `serve`) and pass the URL it prints",
                self.url
            ))
        };
        let resp = self
            .http
            .get(format!("{}/_lakevault/invocations", self.url))
            .query(&[("after", seq)])
            .timeout(Duration::from_secs(20))
            .send()
            .await
            .map_err(unreachable)?
            .error_for_status()
            .map_err(unreachable)?;
        resp.json().await.map_err(unreachable)
    }

    /// The number of the latest invocation served so far (0 for none).
    pub async fn latest_seq(&self) -> Result<u64, CommandError> {
        Ok(self.after(0).await?.last().map_or(0, |i| i.seq))
    }
}

/// The restore machine's state that runs `function` (its Task).
fn state_of(function: &str, payload: &Value) -> &'static str {
    match function {
        "plan-restore" => "PlanRestore",
        "submit-job" => "SubmitRestoreJob",
        "await-job" => "AwaitRestoreJob",
        "verify-restore" => "VerifyRestore",
        "notify" if payload.get("failure").is_some_and(|f| !f.is_null()) => "NotifyRestoreFailed",
        "notify" => "NotifyRestored",
        _ => "(another step)",
    }
}

/// True when `inv` belongs to the restore `req` (whose plan and job `seen` may already know):
/// plan-restore's event (and a failure notice sent before there is a plan) names the snapshot
/// and the target; the later ones carry the restore id or the job id.
fn belongs(req: &RestoreRequest, seen: &Seen, inv: &Invocation) -> bool {
    let p = &inv.payload;
    let names_this_restore = |r: &Value| {
        let prefix = r["target"]["prefix"].as_str().unwrap_or("");
        r["snapshot_bucket"] == req.snapshot_bucket.as_str()
            && r["target"]["bucket"] == req.target.bucket.as_str()
            && prefix.trim_matches('/') == req.target.prefix.trim_matches('/')
    };
    if inv.function == "plan-restore" {
        return names_this_restore(p);
    }
    if inv.function == "notify" && p["restore"]["restore_id"].is_null() {
        return p["restore"].is_object() && names_this_restore(&p["restore"]);
    }
    let text = p.to_string();
    seen.restore_id().is_some_and(|id| text.contains(id))
        || seen.job_id.as_deref().is_some_and(|id| text.contains(id))
}

/// Takes in one invocation of the restore: its result, and the state the machine is in after it.
pub fn apply(seen: &mut Seen, inv: &Invocation) {
    let state = state_of(&inv.function, &inv.payload);
    seen.record_input(&inv.payload);
    if inv.function_error {
        let error_type = inv.response["errorType"]
            .as_str()
            .unwrap_or("Lambda.Unknown");
        seen.state = Some(format!("{state}: {error_type}"));
        return;
    }
    seen.record(&inv.response);
    let next = match inv.function.as_str() {
        "plan-restore" => "SubmitRestoreJob",
        "submit-job" => "AwaitRestoreJob",
        "await-job" if inv.response["finished"] == true => "VerifyRestore",
        "await-job" => "AwaitRestoreJob",
        "verify-restore" => "NotifyRestored",
        _ => state,
    };
    seen.state = Some(next.to_owned());
}

/// Runs the restore on the local runner and follows it until it ends.
pub async fn run(
    req: &RestoreRequest,
    settings: &Settings,
    opts: &LocalOptions,
    name: &str,
    reporter: &mut Reporter,
) -> Result<Finished, CommandError> {
    let run_opts = run_options(opts, "restore", "lakevault-restore", name).await?;
    let events_file = run_opts.events_file.clone();
    let log = InvocationLog::new(&opts.url);
    let start = log.latest_seq().await?;
    let conf = kit::clients::load_sdk_config().await?;
    let s3 = kit::clients::s3(&conf);
    let control_conf = {
        let mut b = conf.to_builder();
        b.set_endpoint_url(Some(opts.url.clone()));
        b.build()
    };
    let s3control = kit::clients::s3control(&control_conf);
    let input = req.run_input(settings);
    let mut runner = tokio::spawn(async move { stack::run_state_machine(&run_opts, &input).await });

    let mut seen = Seen {
        state: Some("PlanRestore".to_owned()),
        ..Seen::default()
    };
    let mut last_seq = start;
    reporter.show(&seen);
    let outcome = loop {
        tokio::select! {
            done = &mut runner => break done,
            _ = tokio::time::sleep(opts.refresh) => {}
            _ = tokio::signal::ctrl_c() => {
                runner.abort();
                return Err(CommandError::Interrupted {
                    execution: format!("local {name}"),
                    hint: "the local runner stopped with this command; run the same command \
                           again to go on (the restore resumes: the same plan, the same job)"
                        .to_owned(),
                });
            }
        }
        last_seq = refresh(req, &log, last_seq, &mut seen, &s3control, &s3, settings).await;
        reporter.show(&seen);
    };
    refresh(req, &log, last_seq, &mut seen, &s3control, &s3, settings).await;
    finish(outcome, &events_file, name, seen, reporter)
}

/// Checks the workspace holds the definition and the runner; the runner's options, its
/// history file under `target/<work>/`.
async fn run_options(
    opts: &LocalOptions,
    machine: &str,
    work: &str,
    name: &str,
) -> Result<RunOptions, CommandError> {
    let definition = opts.root.join(format!("statemachine/{machine}.asl.json"));
    let runner_dir = opts.root.join("local/sfn-runner");
    for needed in [&definition, &runner_dir.join("run.mjs")] {
        if !needed.exists() {
            return Err(CommandError::LocalStack(format!(
                "{} is missing: run lakevault from the lakevault workspace, or pass --root",
                needed.display()
            )));
        }
    }
    let work = opts.root.join("target").join(work);
    tokio::fs::create_dir_all(&work)
        .await
        .map_err(|e| CommandError::LocalStack(format!("{}: {e}", work.display())))?;
    Ok(RunOptions {
        runner_dir,
        definition,
        lambda_endpoint: opts.url.clone(),
        wait_ms: 250,
        retry_ms: 200,
        events_file: work.join(format!("{name}.events.json")),
    })
}

/// How the runner ended, as a finished execution.
fn finish(
    outcome: Result<Result<stack::RunOutcome, stack::RunError>, tokio::task::JoinError>,
    events_file: &std::path::Path,
    name: &str,
    mut seen: Seen,
    reporter: &mut Reporter,
) -> Result<Finished, CommandError> {
    let outcome = outcome
        .map_err(|e| CommandError::LocalStack(format!("the local runner crashed: {e}")))?
        .map_err(|e| CommandError::LocalStack(e.to_string()))?;
    // Relative to the current directory when inside it (the workspace, usually).
    let shown = std::env::current_dir()
        .ok()
        .and_then(|cwd| events_file.strip_prefix(cwd).ok().map(PathBuf::from))
        .unwrap_or_else(|| events_file.to_path_buf());
    let execution = format!("local {name} (history: {})", shown.display());
    let status = match outcome.output {
        Ok(output) => Status::Succeeded(output),
        Err(failed) => Status::Failed {
            error: failed["error"]
                .as_str()
                .unwrap_or("States.Unknown")
                .to_owned(),
            cause: failed["cause"].as_str().unwrap_or("").to_owned(),
        },
    };
    if matches!(status, Status::Succeeded(_)) {
        seen.state = Some("Succeeded".to_owned());
    }
    reporter.show(&seen);
    Ok(Finished {
        execution,
        status,
        seen,
    })
}

/// Runs the prune machine on the local runner and follows it until it ends.
pub async fn run_prune(
    req: &PruneRequest,
    opts: &LocalOptions,
    name: &str,
    reporter: &mut Reporter,
) -> Result<Finished, CommandError> {
    let run_opts = run_options(opts, "prune", "lakevault-forget", name).await?;
    let events_file = run_opts.events_file.clone();
    let log = InvocationLog::new(&opts.url);
    let start = log.latest_seq().await?;
    let input = req.run_input();
    let mut runner = tokio::spawn(async move { stack::run_state_machine(&run_opts, &input).await });
    let mut seen = Seen {
        state: Some("PruneSnapshots".to_owned()),
        ..Seen::default()
    };
    let mut last_seq = start;
    reporter.show(&seen);
    let outcome = loop {
        tokio::select! {
            done = &mut runner => break done,
            _ = tokio::time::sleep(opts.refresh) => {}
            _ = tokio::signal::ctrl_c() => {
                runner.abort();
                return Err(CommandError::Interrupted {
                    execution: format!("local {name}"),
                    hint: "the local runner stopped with this command; run the same command \
                           again (every action of prune-snapshots is idempotent)"
                        .to_owned(),
                });
            }
        }
        last_seq = refresh_prune(req, &log, last_seq, &mut seen).await;
        reporter.show(&seen);
    };
    refresh_prune(req, &log, last_seq, &mut seen).await;
    finish(outcome, &events_file, name, seen, reporter)
}

/// Takes in one prune-snapshots invocation of the prune: its counts, and the state after it.
pub fn apply_prune(seen: &mut Seen, inv: &Invocation) {
    if inv.function_error {
        let error_type = inv.response["errorType"]
            .as_str()
            .unwrap_or("Lambda.Unknown");
        seen.state = Some(format!("PruneSnapshots: {error_type}"));
        return;
    }
    seen.record_at(inv.seq, &inv.response);
    seen.state = Some("PruneSnapshots".to_owned());
}

/// One look at the log for the prune's invocations; returns the latest number seen.
async fn refresh_prune(
    req: &PruneRequest,
    log: &InvocationLog,
    last_seq: u64,
    seen: &mut Seen,
) -> u64 {
    let mut last = last_seq;
    match log.after(last_seq).await {
        Ok(invocations) => {
            for inv in &invocations {
                last = last.max(inv.seq);
                if inv.function == "prune-snapshots" && req.is_this(&inv.payload) {
                    apply_prune(seen, inv);
                }
            }
        }
        Err(e) => tracing::debug!(error = %e, "invocation log unreadable"),
    }
    last
}

/// One look at the log and the job; returns the latest invocation number seen. A failed look
/// is not fatal: the runner's own answer decides the outcome.
async fn refresh(
    req: &RestoreRequest,
    log: &InvocationLog,
    last_seq: u64,
    seen: &mut Seen,
    s3control: &aws_sdk_s3control::Client,
    s3: &aws_sdk_s3::Client,
    settings: &Settings,
) -> u64 {
    let mut last = last_seq;
    match log.after(last_seq).await {
        Ok(invocations) => {
            for inv in &invocations {
                last = last.max(inv.seq);
                if belongs(req, seen, inv) {
                    apply(seen, inv);
                }
            }
        }
        Err(e) => tracing::debug!(error = %e, "invocation log unreadable"),
    }
    follow::refresh_job(seen, s3control, s3, &settings.account_id).await;
    last
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::request::{Named, VersionChoice};

    fn inv(seq: u64, function: &str, payload: Value, response: Value, error: bool) -> Invocation {
        Invocation {
            seq,
            function: function.to_owned(),
            payload,
            response,
            function_error: error,
            injected: false,
        }
    }

    #[test]
    fn the_log_tells_which_state_runs_and_what_it_found() {
        let req = RestoreRequest::new(
            "lake-prod-31-mar-2021",
            "events",
            VersionChoice::Named(Named::AsOfBackupDate),
            "s3://lake-prod-restored/events/",
        )
        .unwrap();
        let mut seen = Seen::default();
        let other_plan = inv(
            1,
            "plan-restore",
            json!({"snapshot_bucket": "lake-prod-31-mar-2021", "target": {"bucket": "elsewhere", "prefix": "events/"}}),
            json!({}),
            false,
        );
        assert!(!belongs(&req, &seen, &other_plan));
        let plan = inv(
            2,
            "plan-restore",
            json!({"snapshot_bucket": "lake-prod-31-mar-2021", "table": "events",
                   "target": {"bucket": "lake-prod-restored", "prefix": "events/"}}),
            json!({"restore_id": "3f2a9c0d1e4b5a67", "chosen_by": "as_of_backup_date",
                   "objects": 23, "bytes": 100, "table_url": "s3://lake-prod-restored/events/"}),
            false,
        );
        assert!(belongs(&req, &seen, &plan));
        apply(&mut seen, &plan);
        assert_eq!(seen.state.as_deref(), Some("SubmitRestoreJob"));
        let submit = inv(
            3,
            "submit-job",
            json!({"restore": {"restore_id": "3f2a9c0d1e4b5a67"}}),
            json!({"job_id": "job-12345", "created": true}),
            false,
        );
        assert!(belongs(&req, &seen, &submit));
        apply(&mut seen, &submit);
        assert_eq!(seen.job_id.as_deref(), Some("job-12345"));
        let poll = inv(
            4,
            "await-job",
            json!({"job_id": "job-12345", "account_id": "123456789012"}),
            json!({"job_id": "job-12345", "finished": false}),
            false,
        );
        assert!(belongs(&req, &seen, &poll));
        apply(&mut seen, &poll);
        assert_eq!(seen.state.as_deref(), Some("AwaitRestoreJob"));
        let failed = inv(
            5,
            "verify-restore",
            json!({"restore_id": "3f2a9c0d1e4b5a67"}),
            json!({"errorType": "RestoreMismatch", "errorMessage": "…"}),
            true,
        );
        apply(&mut seen, &failed);
        assert_eq!(
            seen.state.as_deref(),
            Some("VerifyRestore: RestoreMismatch")
        );
        let notice = inv(
            6,
            "notify",
            json!({"restore": {"restore_id": "3f2a9c0d1e4b5a67"}, "failure": {"state": "VerifyRestore"}}),
            json!({"message_id": "m"}),
            false,
        );
        apply(&mut seen, &notice);
        assert_eq!(seen.state.as_deref(), Some("NotifyRestoreFailed"));
        assert_eq!(seen.failed_state.as_deref(), Some("VerifyRestore"));

        // A plan that failed: the notice has no restore id yet, but names the snapshot and target.
        let fresh = Seen::default();
        let early_notice = inv(
            7,
            "notify",
            json!({"restore": {"restore_id": null, "snapshot_bucket": "lake-prod-31-mar-2021",
                               "target": {"bucket": "lake-prod-restored", "prefix": "events/"}},
                   "failure": {"state": "PlanRestore", "error": "TargetNotEmpty"}}),
            json!({"message_id": "m"}),
            false,
        );
        assert!(belongs(&req, &fresh, &early_notice));
    }
}
