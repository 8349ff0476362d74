//! Deploying and running the definition on a Step Functions endpoint — AWS's own, or
//! Step Functions Local (`--lambda-endpoint` at `lakevault-local serve`) — with `aws-sdk-sfn`.

use std::time::{Duration, Instant};

use aws_sdk_sfn::types::ExecutionStatus;
use serde_json::Value;

/// Every placeholder of a definition, as the deploy-time `DefinitionSubstitutions` fill them in
/// AWS: `${SubmitJobFunctionArn}` → `arn:aws:lambda:<region>:<account>:function:submit-job`, and
/// `${BackupSourceStateMachineArn}` →
/// `arn:aws:states:<region>:<account>:stateMachine:lakevault-backup-source`. Anything else is
/// left as it is.
pub fn fill_placeholders(definition: &str, account: &str, region: &str) -> String {
    let mut out = String::with_capacity(definition.len());
    let mut rest = definition;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let name = after.find('}').map(|end| (end, &after[..end]));
        let filled = name.and_then(|(end, name)| {
            if let Some(step) = name.strip_suffix("FunctionArn") {
                Some((
                    end,
                    format!("arn:aws:lambda:{region}:{account}:function:{}", kebab(step)),
                ))
            } else {
                name.strip_suffix("StateMachineArn").map(|machine| {
                    let machine = crate::sfn_api::state_machine_name(&kebab(machine));
                    (
                        end,
                        crate::sfn_api::state_machine_arn(region, account, &machine),
                    )
                })
            }
        });
        match filled {
            Some((end, arn)) => {
                out.push_str(&arn);
                rest = &after[end + 1..];
            }
            None => {
                out.push_str("${");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// `PascalCase` → `kebab-case` (`SubmitJob` → `submit-job`).
pub fn kebab(camel: &str) -> String {
    let mut name = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                name.push('-');
            }
            name.push(c.to_ascii_lowercase());
        } else {
            name.push(c);
        }
    }
    name
}

/// Why a run on Step Functions did not produce an output.
#[derive(Debug, thiserror::Error)]
pub enum SfnError {
    /// A Step Functions call failed.
    #[error("{0}")]
    Api(String),
    /// The execution ended without success.
    #[error("execution {arn} ended {status}: {error} {cause}")]
    Failed {
        /// Execution ARN.
        arn: String,
        /// Final status.
        status: String,
        /// Error name.
        error: String,
        /// Cause.
        cause: String,
    },
    /// Still running when we stopped waiting.
    #[error("execution {0} still running after the time limit; inspect it with DescribeExecution")]
    TimedOut(String),
}

fn api<E: std::error::Error + 'static>(op: &str) -> impl FnOnce(E) -> SfnError + '_ {
    move |e| SfnError::Api(format!("{op}: {}", kit::error::source_chain(&e)))
}

/// Creates the state machine, or updates its definition when one of that name exists (so
/// running it again is idempotent). Returns its ARN.
pub async fn deploy(
    sfn: &aws_sdk_sfn::Client,
    name: &str,
    definition: &str,
    role_arn: &str,
) -> Result<String, SfnError> {
    let mut pages = sfn.list_state_machines().into_paginator().items().send();
    while let Some(sm) = pages.next().await {
        let sm = sm.map_err(api("ListStateMachines"))?;
        if sm.name() == name {
            sfn.update_state_machine()
                .state_machine_arn(sm.state_machine_arn())
                .definition(definition)
                .role_arn(role_arn)
                .send()
                .await
                .map_err(api("UpdateStateMachine"))?;
            return Ok(sm.state_machine_arn().to_owned());
        }
    }
    let out = sfn
        .create_state_machine()
        .name(name)
        .definition(definition)
        .role_arn(role_arn)
        .send()
        .await
        .map_err(api("CreateStateMachine"))?;
    Ok(out.state_machine_arn().to_owned())
}

/// Starts an execution and waits (polling DescribeExecution) until it ends or `limit` passes.
/// Returns the execution ARN and its output.
pub async fn run(
    sfn: &aws_sdk_sfn::Client,
    state_machine_arn: &str,
    input: &Value,
    poll: Duration,
    limit: Duration,
) -> Result<(String, Value), SfnError> {
    let started = sfn
        .start_execution()
        .state_machine_arn(state_machine_arn)
        .input(input.to_string())
        .send()
        .await
        .map_err(api("StartExecution"))?;
    let arn = started.execution_arn().to_owned();
    let t0 = Instant::now();
    loop {
        let d = sfn
            .describe_execution()
            .execution_arn(&arn)
            .send()
            .await
            .map_err(api("DescribeExecution"))?;
        match d.status() {
            ExecutionStatus::Running | ExecutionStatus::PendingRedrive => {}
            ExecutionStatus::Succeeded => {
                let output = d
                    .output()
                    .and_then(|o| serde_json::from_str(o).ok())
                    .unwrap_or(Value::Null);
                return Ok((arn, output));
            }
            other => {
                return Err(SfnError::Failed {
                    arn,
                    status: other.as_str().to_owned(),
                    error: d.error().unwrap_or("").to_owned(),
                    cause: d.cause().unwrap_or("").to_owned(),
                });
            }
        }
        if t0.elapsed() > limit {
            return Err(SfnError::TimedOut(arn));
        }
        tokio::time::sleep(poll).await;
    }
}

#[cfg(test)]
mod tests {
    use super::fill_placeholders;

    #[test]
    fn fills_function_placeholders_only() {
        let d = r#"{"a": "${SubmitJobFunctionArn}", "b": "${LocateManifestFunctionArn}", "c": "${Other}"}"#;
        assert_eq!(
            fill_placeholders(d, "123456789012", "eu-west-1"),
            r#"{"a": "arn:aws:lambda:eu-west-1:123456789012:function:submit-job", "b": "arn:aws:lambda:eu-west-1:123456789012:function:locate-manifest", "c": "${Other}"}"#
        );
    }
}
