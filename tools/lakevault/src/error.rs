//! How `lakevault` fails: an errorType, a message, an exit code.

use kit::{AwsFailure, InvalidInput};

/// Why a command did not succeed. [`CommandError::error_type`] is what it prints before the
/// message; [`CommandError::exit_code`] its exit status.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// A flag or the settings file is malformed, or the flags contradict each other; nothing was
    /// called. Exit 2.
    #[error(transparent)]
    InvalidInput(#[from] InvalidInput),
    /// The AWS configuration of the environment is unusable (a `LAKEVAULT_*_TIMEOUT_SECONDS`
    /// variable). Exit 3.
    #[error(transparent)]
    ConfigurationError(#[from] kit::clients::ConfigError),
    /// The restore (or `forget`'s prune) failed or was refused: a step's errorType
    /// (`TargetNotEmpty`, `VersionNotRestorable`, `CatalogInvalid`, …), from the execution or
    /// from the plan of a dry run. Exit 1.
    #[error("{message}")]
    Restore {
        /// What failed: `restore` or `forget`.
        command: &'static str,
        /// The step's errorType.
        error_type: String,
        /// Its message.
        message: String,
        /// The state it failed at, when known.
        state: Option<String>,
        /// The execution, when there was one.
        execution: Option<String>,
    },
    /// The execution ended without success or failure: aborted or timed out. Exit 1.
    #[error("execution {execution} ended {status}")]
    Stopped {
        /// The execution.
        execution: String,
        /// `ABORTED` or `TIMED_OUT`.
        status: String,
    },
    /// A call to Step Functions, S3 Control or S3 failed (`Transient`, `AccessDenied`,
    /// `ServiceError`). Exit 3.
    #[error("{0}")]
    Aws(AwsFailure),
    /// The local stack (`--local`) or its state machine runner could not be reached or run.
    /// Exit 3.
    #[error("{0}")]
    LocalStack(String),
    /// Interrupted (Ctrl-C) while following: the execution goes on without this command. Exit 130.
    #[error("stopped following {execution}; the execution goes on: {hint}")]
    Interrupted {
        /// The execution.
        execution: String,
        /// How to look at it later.
        hint: String,
    },
}

/// Every errorType of the command itself (a failed restore prints its step's errorType instead).
pub const ERROR_TYPES: &[&str] = &[
    "InvalidInput",
    "ConfigurationError",
    "Stopped",
    "Transient",
    "AccessDenied",
    "ServiceError",
    "LocalStackUnavailable",
    "Interrupted",
];

impl CommandError {
    /// The errorType printed with the message.
    pub fn error_type(&self) -> &str {
        match self {
            CommandError::InvalidInput(_) => "InvalidInput",
            CommandError::ConfigurationError(_) => "ConfigurationError",
            CommandError::Restore { error_type, .. } => error_type,
            CommandError::Stopped { .. } => "Stopped",
            CommandError::Aws(AwsFailure::Transient(_)) => "Transient",
            CommandError::Aws(AwsFailure::AccessDenied(_)) => "AccessDenied",
            CommandError::Aws(AwsFailure::Service(_)) => "ServiceError",
            CommandError::LocalStack(_) => "LocalStackUnavailable",
            CommandError::Interrupted { .. } => "Interrupted",
        }
    }

    /// The exit status: 1 the restore failed, 2 usage, 3 could not run or follow it, 130
    /// interrupted.
    pub fn exit_code(&self) -> u8 {
        match self {
            CommandError::Restore { .. } | CommandError::Stopped { .. } => 1,
            CommandError::InvalidInput(_) => 2,
            CommandError::ConfigurationError(_)
            | CommandError::Aws(_)
            | CommandError::LocalStack(_) => 3,
            CommandError::Interrupted { .. } => 130,
        }
    }

    /// `{"errorType", "errorMessage"}` (+ `state` for a failed restore), as `--json` prints it.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "errorType": self.error_type(),
            "errorMessage": self.to_string(),
        });
        if let CommandError::Restore {
            state, execution, ..
        } = self
        {
            if let Some(state) = state {
                v["state"] = serde_json::json!(state);
            }
            if let Some(execution) = execution {
                v["execution"] = serde_json::json!(execution);
            }
        }
        v
    }
}

/// A step's error JSON (`{"errorType", "errorMessage"}`, or a Step Functions `Cause` holding
/// one, possibly after a sentence of the runner's) → the message; anything else as it is.
pub fn message_of_cause(cause: &str) -> String {
    let json_part = cause.find('{').map_or(cause, |i| &cause[i..]);
    match serde_json::from_str::<serde_json::Value>(json_part) {
        Ok(v) => match v["errorMessage"].as_str() {
            Some(m) => m.to_owned(),
            None => cause.to_owned(),
        },
        Err(_) => cause.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_and_error_types() {
        let restore = CommandError::Restore {
            command: "restore",
            error_type: "TargetNotEmpty".into(),
            message: "s3://x/events/ is not empty".into(),
            state: Some("PlanRestore".into()),
            execution: None,
        };
        assert_eq!(
            (restore.error_type(), restore.exit_code()),
            ("TargetNotEmpty", 1)
        );
        assert_eq!(restore.to_json()["state"], "PlanRestore");
        let usage = CommandError::from(InvalidInput::new("--to", "bad"));
        assert_eq!((usage.error_type(), usage.exit_code()), ("InvalidInput", 2));
        let local = CommandError::LocalStack("down".into());
        assert_eq!(
            (local.error_type(), local.exit_code()),
            ("LocalStackUnavailable", 3)
        );
        assert!(ERROR_TYPES.contains(&local.error_type()));
    }

    #[test]
    fn the_readme_lists_exactly_these_error_types() {
        let readme = include_str!("../README.md");
        let section = readme
            .split("\n## Errors\n")
            .nth(1)
            .and_then(|s| s.split("\n## ").next())
            .unwrap_or_default();
        let listed: std::collections::BTreeSet<&str> = section
            .lines()
            .filter_map(|l| l.strip_prefix("| `"))
            .filter_map(|l| l.split('`').next())
            .collect();
        let want: std::collections::BTreeSet<&str> = ERROR_TYPES.iter().copied().collect();
        assert_eq!(listed, want);
    }

    #[test]
    fn causes_holding_error_json_give_their_message() {
        assert_eq!(
            message_of_cause(r#"{"errorType":"TargetNotEmpty","errorMessage":"not empty"}"#),
            "not empty"
        );
        assert_eq!(
            message_of_cause(
                r#"Execution has failed with the following error: {"errorMessage":"gone","errorType":"X"}"#
            ),
            "gone"
        );
        assert_eq!(message_of_cause("plain words"), "plain words");
    }
}
