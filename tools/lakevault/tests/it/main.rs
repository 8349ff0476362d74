//! `lakevault`'s command, as a binary: usage errors before any request, the AWS path's
//! execution naming on moto's Step Functions API, `snapshots` / `forget --dry-run` over a
//! catalog in a moto report bucket, and `forget --local` pruning on the local stack. (The restore
//! end to end on the local stack is `tests/workspace/tests/it/restore.rs`.)

mod aws;
mod catalog;
mod forget;
mod usage;

use std::process::{Command, Output};

use serde_json::Value;

/// What one run printed and how it ended.
pub(crate) struct Run {
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", self.stdout, self.stderr))
    }
}

/// Runs the binary with `args` and `env` (nothing else of AWS's from this environment).
pub(crate) fn lakevault(args: &[&str], env: &[(String, String)]) -> Run {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_lakevault"))
        .args(args)
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_ENDPOINT_URL_S3_CONTROL")
        .env_remove("AWS_PROFILE")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("lakevault runs");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The contract's settings, as flags.
pub(crate) const SETTINGS: &[&str] = &[
    "--account-id",
    "123456789012",
    "--role-arn",
    "arn:aws:iam::123456789012:role/lakevault-restore-batch",
    "--report-bucket",
    "lakevault-reports",
    "--topic-arn",
    "arn:aws:sns:us-east-1:123456789012:lakevault-backups",
];
