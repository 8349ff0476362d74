//! Running a step binary as the state machine's local runner does: an event on stdin, one JSON
//! answer on stdout, the exit status by outcome.

use std::ffi::OsStr;
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::Value;
use tokio::io::AsyncWriteExt;

/// What a step binary did with one input.
#[derive(Debug, Clone)]
pub struct StepRun {
    /// Its exit status (`None`: ended by a signal).
    pub code: Option<i32>,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error (the step's log).
    pub stderr: String,
}

impl StepRun {
    /// The standard output as JSON; panics with both outputs when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}): {}\nstderr: {}",
                self.stdout, self.stderr
            )
        })
    }
}

/// A command for `binary` with `env` added to this process's environment, stdin and stdout piped.
fn command(binary: &Path, env: &[(String, String)]) -> Command {
    let mut cmd = Command::new(binary);
    cmd.envs(env.iter().map(|(k, v)| (OsStr::new(k), OsStr::new(v))))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    cmd
}

/// Runs `binary` with `env` (added to this process's environment) and `stdin`, and returns its
/// exit status and outputs (see [`run_step_command`]).
pub async fn run_step_binary_with(
    binary: impl AsRef<Path>,
    env: &[(String, String)],
    stdin: impl AsRef<[u8]>,
) -> StepRun {
    run_step_command(
        tokio::process::Command::from(command(binary.as_ref(), env)),
        stdin,
    )
    .await
}

/// Runs `cmd` (a step binary with its arguments and environment) as the local runner does:
/// `stdin` written while its output is read — a broken pipe is not an error, a step may answer
/// before it has read all of an oversized event — and stdout and stderr captured. The child is
/// killed if the returned future is dropped (a test's time limit). Async (tokio's process API),
/// so that a service the binary calls can keep running on the test's runtime.
pub async fn run_step_command(
    mut cmd: tokio::process::Command,
    stdin: impl AsRef<[u8]>,
) -> StepRun {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let program = cmd.as_std().get_program().to_owned();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("{} does not start: {e}", program.display()));
    let mut input = child.stdin.take().expect("stdin is piped");
    let write = async move {
        match input.write_all(stdin.as_ref()).await {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            other => other.expect("the input is written"),
        }
        // Dropped here: the binary sees the end of its input.
    };
    let ((), out) = tokio::join!(write, child.wait_with_output());
    let out = out.expect("the binary's output is read");
    StepRun {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `binary` on `stdin` (see [`run_step_binary_with`]): its exit status and its answer, the
/// JSON on stdout (a panic, with both outputs, when stdout is not JSON).
pub async fn run_step_binary(
    binary: impl AsRef<Path>,
    env: &[(String, String)],
    stdin: impl AsRef<[u8]>,
) -> (Option<i32>, Value) {
    let run = run_step_binary_with(binary, env, stdin).await;
    (run.code, run.json())
}

/// Starts `binary` with `env`, writes `stdin` and closes it; stdout is piped, stderr discarded.
/// For a test that waits for the child itself (e.g. with `wait4`, to read its rusage); the
/// input must be small enough for the pipe, as the binary's output is not read meanwhile.
pub fn spawn_step_binary(
    binary: impl AsRef<Path>,
    env: &[(String, String)],
    stdin: impl AsRef<[u8]>,
) -> Child {
    let binary = binary.as_ref();
    let mut child = command(binary, env)
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{} does not start: {e}", binary.display()));
    let mut input = child.stdin.take().expect("stdin is piped");
    input
        .write_all(stdin.as_ref())
        .expect("the input is written");
    child
}
