//! Running lakevault's state machines through the Step Functions API (aws-sdk-sfn) — on moto's
//! executing Step Functions backend locally (`local/moto/moto_server.py --lambda-endpoint`), on
//! Step Functions Local, or on AWS — and reading what happened from the execution history, child
//! executions included.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use aws_sdk_sfn::types::{ExecutionStatus, HistoryEvent, HistoryEventType};
use serde_json::Value;

use crate::sfn::SfnError;

/// `lakevault-<kebab-case name>`: the state machine a `${<Name>StateMachineArn}` placeholder
/// names (`BackupSource` → `lakevault-backup-source`), and the name each definition file is
/// deployed under (`backup-source.asl.json` → `lakevault-backup-source`).
pub fn state_machine_name(stem: &str) -> String {
    format!("lakevault-{stem}")
}

/// The ARN of state machine `name`.
pub fn state_machine_arn(region: &str, account: &str, name: &str) -> String {
    format!("arn:aws:states:{region}:{account}:stateMachine:{name}")
}

/// Every placeholder of a definition filled (see [`crate::sfn::fill_placeholders`]).
pub fn fill_all(definition: &str, account: &str, region: &str) -> String {
    crate::sfn::fill_placeholders(definition, account, region)
}

/// Deploys every `*.asl.json` of `dir` as `lakevault-<stem>` (created, or updated when it
/// exists), placeholders filled. Returns name → ARN.
pub async fn deploy_dir(
    sfn: &aws_sdk_sfn::Client,
    dir: &Path,
    account: &str,
    region: &str,
    role_arn: &str,
) -> Result<BTreeMap<String, String>, SfnError> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| SfnError::Api(format!("{}: {e}", dir.display())))?;
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".asl.json"))
        .collect();
    files.sort();
    let mut out = BTreeMap::new();
    for path in files {
        let stem = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".asl.json"))
            .unwrap_or_default()
            .to_owned();
        let text = std::fs::read_to_string(&path)
            .map_err(|e| SfnError::Api(format!("{}: {e}", path.display())))?;
        let name = state_machine_name(&stem);
        let arn =
            crate::sfn::deploy(sfn, &name, &fill_all(&text, account, region), role_arn).await?;
        out.insert(name, arn);
    }
    Ok(out)
}

/// One execution's history, as much as the tests and the progress line need.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecutionTrace {
    /// The execution.
    pub arn: String,
    /// States entered, in order.
    pub states_entered: Vec<String>,
    /// The state the execution failed at, with the error: a Task's failure (`TaskFailed` then
    /// `ExecutionFailed`) or a Fail state's.
    pub failed_at: Option<(String, String)>,
    /// Whether the failure came from a Fail state (rather than a Task).
    pub failed_by_fail_state: bool,
    /// Child executions started by `startExecution.sync:2` Tasks.
    pub children: Vec<String>,
}

/// How an execution ended.
#[derive(Debug, Clone)]
pub struct ApiOutcome {
    /// The execution.
    pub arn: String,
    /// Its final status (`SUCCEEDED`, `FAILED`, …).
    pub status: String,
    /// The output, or `{"error", "cause"}` when it did not succeed.
    pub output: Result<Value, Value>,
    /// Its history.
    pub trace: ExecutionTrace,
    /// Each child's history, by execution ARN.
    pub children: BTreeMap<String, ExecutionTrace>,
}

fn api<E: std::error::Error + 'static>(op: &str) -> impl FnOnce(E) -> SfnError + '_ {
    move |e| SfnError::Api(format!("{op}: {}", kit::error::source_chain(&e)))
}

/// Every event of an execution, oldest first.
pub async fn history(sfn: &aws_sdk_sfn::Client, arn: &str) -> Result<Vec<HistoryEvent>, SfnError> {
    let mut pages = sfn
        .get_execution_history()
        .execution_arn(arn)
        .into_paginator()
        .items()
        .send();
    let mut out = Vec::new();
    while let Some(e) = pages.next().await {
        out.push(e.map_err(api("GetExecutionHistory"))?);
    }
    Ok(out)
}

fn entered_name(e: &HistoryEvent) -> Option<&str> {
    let t = e.r#type().as_str();
    if t.ends_with("StateEntered") {
        e.state_entered_event_details().map(|d| d.name())
    } else {
        None
    }
}

/// What a history says.
pub fn trace_of(arn: &str, events: &[HistoryEvent]) -> ExecutionTrace {
    let mut t = ExecutionTrace {
        arn: arn.to_owned(),
        ..ExecutionTrace::default()
    };
    let mut current: Option<String> = None;
    let mut last_was_fail_state = false;
    for e in events {
        if let Some(n) = entered_name(e) {
            t.states_entered.push(n.to_owned());
            current = Some(n.to_owned());
            last_was_fail_state = *e.r#type() == HistoryEventType::FailStateEntered;
        }
        if let Some(d) = e.task_submitted_event_details()
            && d.resource() == "startExecution.sync:2"
            && let Some(out) = d.output()
            && let Ok(v) = serde_json::from_str::<Value>(out)
            && let Some(child) = v["ExecutionArn"].as_str()
        {
            t.children.push(child.to_owned());
        }
        if let Some(d) = e.execution_failed_event_details() {
            t.failed_at = Some((
                current.clone().unwrap_or_default(),
                d.error().unwrap_or_default().to_owned(),
            ));
            t.failed_by_fail_state = last_was_fail_state;
        }
    }
    t
}

/// The ARN of execution `name` of state machine `sm_arn`.
pub fn execution_arn(sm_arn: &str, name: &str) -> String {
    format!(
        "{}:{name}",
        sm_arn.replacen(":stateMachine:", ":execution:", 1)
    )
}

/// Starts execution `name` (a given name: the same run twice is the same execution) and follows
/// it until it ends or `limit` passes, calling `progress` with one line per new state entered
/// (children's prefixed with their name). An execution of that name that exists already is
/// followed instead of started again.
pub async fn run_named(
    sfn: &aws_sdk_sfn::Client,
    sm_arn: &str,
    name: &str,
    input: &Value,
    poll: Duration,
    limit: Duration,
    mut progress: impl FnMut(&str),
) -> Result<ApiOutcome, SfnError> {
    let arn = match sfn
        .start_execution()
        .state_machine_arn(sm_arn)
        .name(name)
        .input(input.to_string())
        .send()
        .await
    {
        Ok(o) => o.execution_arn().to_owned(),
        Err(e) => {
            let already = e
                .as_service_error()
                .is_some_and(|s| s.is_execution_already_exists());
            if !already {
                return Err(api("StartExecution")(e));
            }
            let arn = execution_arn(sm_arn, name);
            progress(&format!("execution {name} exists already: following it"));
            arn
        }
    };
    let t0 = Instant::now();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    loop {
        let d = sfn
            .describe_execution()
            .execution_arn(&arn)
            .send()
            .await
            .map_err(api("DescribeExecution"))?;
        // Progress: the parent's and the children's new states.
        let events = history(sfn, &arn).await?;
        let trace = trace_of(&arn, &events);
        report_new(&mut seen, "", &trace, &mut progress);
        let mut children = BTreeMap::new();
        for child in &trace.children {
            let ce = history(sfn, child).await?;
            let ct = trace_of(child, &ce);
            let short = child.rsplit(':').next().unwrap_or(child).to_owned();
            report_new(&mut seen, &short, &ct, &mut progress);
            children.insert(child.clone(), ct);
        }
        let status = d.status().clone();
        if !matches!(
            status,
            ExecutionStatus::Running | ExecutionStatus::PendingRedrive
        ) {
            let output = if status == ExecutionStatus::Succeeded {
                Ok(d.output()
                    .and_then(|o| serde_json::from_str(o).ok())
                    .unwrap_or(Value::Null))
            } else {
                Err(serde_json::json!({
                    "error": d.error().unwrap_or_default(),
                    "cause": d.cause().unwrap_or_default(),
                }))
            };
            return Ok(ApiOutcome {
                arn,
                status: status.as_str().to_owned(),
                output,
                trace,
                children,
            });
        }
        if t0.elapsed() > limit {
            return Err(SfnError::TimedOut(arn));
        }
        tokio::time::sleep(poll).await;
    }
}

fn report_new(
    seen: &mut BTreeMap<String, usize>,
    who: &str,
    t: &ExecutionTrace,
    progress: &mut impl FnMut(&str),
) {
    let n = seen.entry(t.arn.clone()).or_default();
    for s in t.states_entered.iter().skip(*n) {
        if who.is_empty() {
            progress(s);
        } else {
            progress(&format!("[{who}] {s}"));
        }
    }
    *n = t.states_entered.len();
    if let Some((state, error)) = &t.failed_at
        && !who.is_empty()
    {
        let key = format!("{}#failed", t.arn);
        if let std::collections::btree_map::Entry::Vacant(e) = seen.entry(key) {
            e.insert(1);
            progress(&format!("[{who}] failed at {state}: {error}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_machine_placeholders_name_lakevault_machines() {
        let d =
            r#"{"a": "${BackupSourceStateMachineArn}", "b": "${NotifyFunctionArn}", "c": "${X}"}"#;
        assert_eq!(
            fill_all(d, "123456789012", "us-east-1"),
            r#"{"a": "arn:aws:states:us-east-1:123456789012:stateMachine:lakevault-backup-source", "b": "arn:aws:lambda:us-east-1:123456789012:function:notify", "c": "${X}"}"#
        );
        assert_eq!(
            execution_arn(
                "arn:aws:states:us-east-1:1:stateMachine:lakevault-backup",
                "run-1"
            ),
            "arn:aws:states:us-east-1:1:execution:lakevault-backup:run-1"
        );
    }
}
