//! `--state-machine-arn ARN`: the restore machine deployed in AWS, through aws-sdk-sfn.
//!
//! StartExecution with a deterministic name (`restore-<hash of the restore>`): asking for the
//! same restore again while it runs returns the same execution (Step Functions' idempotency);
//! once it has ended, Step Functions answers `ExecutionAlreadyExists` and the command follows
//! (and reports) that execution instead of starting another. Following reads DescribeExecution
//! and the execution history (the state entered last; the plan and the job from the Tasks'
//! results), DescribeJob for the copy's counts, and ListObjectsV2 on the target for its bytes.

use std::time::Duration;

use aws_sdk_sfn::types::{ExecutionStatus, HistoryEvent};
use kit::InvalidInput;
use kit::validate::quote;
use serde_json::Value;

use crate::error::CommandError;
use crate::follow::{self, Finished, Status};
use crate::progress::{Reporter, Seen};

/// Checks a state machine ARN (`arn:<partition>:states:<region>:<account>:stateMachine:<name>`).
pub fn check_state_machine_arn(arn: &str) -> Result<(), InvalidInput> {
    let parts: Vec<&str> = arn.split(':').collect();
    let ok = matches!(
        parts.as_slice(),
        ["arn", p, "states", region, account, "stateMachine", name]
            if kit::validate::Partition::parse(p).is_some()
                && kit::validate::is_region(region)
                && kit::validate::is_account_id(account)
                && !name.is_empty()
    );
    if ok {
        Ok(())
    } else {
        Err(InvalidInput::new(
            "--state-machine-arn",
            format!(
                "{} is not a state machine ARN (arn:aws:states:<region>:<account>:stateMachine:<name>; \
                 the backup stack's RestoreStateMachineArn output)",
                quote(arn)
            ),
        ))
    }
}

/// The ARN of execution `name` of state machine `state_machine_arn`.
pub fn execution_arn(state_machine_arn: &str, name: &str) -> String {
    format!(
        "{}:{name}",
        state_machine_arn.replacen(":stateMachine:", ":execution:", 1)
    )
}

/// An execution started, or found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    /// Its ARN.
    pub execution_arn: String,
    /// False when an execution of that name existed already (this one is followed instead).
    pub new: bool,
}

/// An SDK error of Step Functions as the command's error.
macro_rules! aws {
    ($op:literal) => {
        |e| CommandError::Aws(kit::classify($op, e))
    };
}

/// Starts execution `name` with `input`, or finds the one of that name.
pub async fn start(
    sfn: &aws_sdk_sfn::Client,
    state_machine_arn: &str,
    name: &str,
    input: &Value,
) -> Result<Started, CommandError> {
    match sfn
        .start_execution()
        .state_machine_arn(state_machine_arn)
        .name(name)
        .input(input.to_string())
        .send()
        .await
    {
        Ok(out) => Ok(Started {
            execution_arn: out.execution_arn().to_owned(),
            new: true,
        }),
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.is_execution_already_exists()) =>
        {
            Ok(Started {
                execution_arn: execution_arn(state_machine_arn, name),
                new: false,
            })
        }
        Err(e) => Err(CommandError::Aws(kit::classify("StartExecution", e))),
    }
}

/// Takes in one history event.
fn apply_event(seen: &mut Seen, ev: &HistoryEvent) {
    if let Some(d) = ev.state_entered_event_details() {
        seen.state = Some(d.name().to_owned());
        if let Some(input) = d
            .input()
            .and_then(|i| serde_json::from_str::<Value>(i).ok())
        {
            seen.record_input(&input);
        }
    }
    let output = ev
        .task_succeeded_event_details()
        .and_then(|d| d.output())
        .or_else(|| {
            ev.lambda_function_succeeded_event_details()
                .and_then(|d| d.output())
        });
    if let Some(v) = output.and_then(|o| serde_json::from_str::<Value>(o).ok()) {
        seen.record_at(u64::try_from(ev.id()).unwrap_or(0), &v);
    }
}

/// Reads the history: from the start until the plan and the job are known, then the latest
/// events (for the current state and, at the end, the verification).
async fn read_history(
    sfn: &aws_sdk_sfn::Client,
    arn: &str,
    seen: &mut Seen,
) -> Result<(), CommandError> {
    if seen.plan.is_none() || seen.job_id.is_none() {
        let mut token: Option<String> = None;
        loop {
            let page = sfn
                .get_execution_history()
                .execution_arn(arn)
                .max_results(200)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(aws!("GetExecutionHistory"))?;
            for ev in page.events() {
                apply_event(seen, ev);
            }
            token = page.next_token().map(str::to_owned);
            if token.is_none() || (seen.plan.is_some() && seen.job_id.is_some()) {
                break;
            }
        }
    }
    let latest = sfn
        .get_execution_history()
        .execution_arn(arn)
        .reverse_order(true)
        .max_results(50)
        .send()
        .await
        .map_err(aws!("GetExecutionHistory"))?;
    // Oldest first (by id: an emulator may ignore reverseOrder), so that the state entered last
    // wins.
    let mut events: Vec<&HistoryEvent> = latest.events().iter().collect();
    events.sort_by_key(|ev| ev.id());
    for ev in events {
        apply_event(seen, ev);
    }
    Ok(())
}

/// Follows execution `arn` until it ends, showing progress.
pub async fn follow(
    conf: &aws_config::SdkConfig,
    arn: &str,
    account_id: &str,
    refresh: Duration,
    reporter: &mut Reporter,
) -> Result<Finished, CommandError> {
    let sfn = aws_sdk_sfn::Client::new(conf);
    let s3control = kit::clients::s3control(conf);
    let s3 = kit::clients::s3(conf);
    let mut seen = Seen::default();
    let interrupted = || CommandError::Interrupted {
        execution: arn.to_owned(),
        hint: format!(
            "follow it again with the same command, or `aws stepfunctions describe-execution \
             --execution-arn {arn}`"
        ),
    };
    loop {
        let d = sfn
            .describe_execution()
            .execution_arn(arn)
            .send()
            .await
            .map_err(aws!("DescribeExecution"))?;
        read_history(&sfn, arn, &mut seen).await?;
        follow::refresh_job(&mut seen, &s3control, &s3, account_id).await;
        let status = match d.status() {
            ExecutionStatus::Running | ExecutionStatus::PendingRedrive => None,
            ExecutionStatus::Succeeded => Some(Status::Succeeded(
                d.output()
                    .and_then(|o| serde_json::from_str(o).ok())
                    .unwrap_or(Value::Null),
            )),
            ExecutionStatus::Failed => Some(Status::Failed {
                error: d.error().unwrap_or("States.Unknown").to_owned(),
                cause: d.cause().unwrap_or("").to_owned(),
            }),
            other => Some(Status::Stopped(other.as_str().to_owned())),
        };
        match &status {
            Some(Status::Succeeded(_)) => seen.state = Some("Succeeded".to_owned()),
            Some(Status::Stopped(s)) => seen.state = Some(s.clone()),
            _ => {}
        }
        reporter.show(&seen);
        if let Some(status) = status {
            return Ok(Finished {
                execution: arn.to_owned(),
                status,
                seen,
            });
        }
        tokio::select! {
            _ = tokio::time::sleep(refresh) => {}
            _ = tokio::signal::ctrl_c() => return Err(interrupted()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_machine_and_execution_arns() {
        let sm = "arn:aws:states:us-east-1:123456789012:stateMachine:lakevault-restore";
        assert!(check_state_machine_arn(sm).is_ok());
        assert_eq!(
            execution_arn(sm, "restore-0123456789abcdef"),
            "arn:aws:states:us-east-1:123456789012:execution:lakevault-restore:restore-0123456789abcdef"
        );
        for bad in [
            "lakevault-restore",
            "arn:aws:states:us-east-1:123456789012:execution:x:y",
            "arn:aws:lambda:us-east-1:123456789012:function:x",
            "arn:aws:states:us-east-1:12:stateMachine:x",
        ] {
            assert_eq!(
                check_state_machine_arn(bad).unwrap_err().path,
                "--state-machine-arn",
                "{bad}"
            );
        }
    }
}
