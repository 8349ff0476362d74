//! Running a step binary as its Lambda would run it (one event on stdin, one JSON line on
//! stdout), with short timeouts, and checking its answer to a fault.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

/// The timeouts every faulted run is given (`LAKEVAULT_*_TIMEOUT_SECONDS`).
pub(crate) const CONNECT: Duration = Duration::from_secs(1);
/// Per attempt.
pub(crate) const ATTEMPT: Duration = Duration::from_secs(2);
/// Per operation, retries included.
pub(crate) const OPERATION: Duration = Duration::from_secs(4);
/// Slack on top of the operation timeout: process start, the SDK's backoff, the requests made
/// before the faulted one, a loaded machine.
pub(crate) const MARGIN: Duration = Duration::from_secs(5);

/// A faulted run must answer within this.
pub(crate) fn bound() -> Duration {
    OPERATION + MARGIN
}

/// A run that has not answered after this is killed (and fails its cell): the suite stays
/// bounded even when a step hangs.
const PATIENCE: Duration = Duration::from_secs(60);

/// The environment of a step run: nothing inherited, so that no profile, credential file or
/// endpoint of the machine leaks in.
#[derive(Debug, Clone)]
pub(crate) struct Env(Vec<(String, String)>);

impl Env {
    /// Test credentials, us-east-1, every service at `endpoint`, the steps' default timeouts
    /// (clean runs and re-runs: a loaded machine must not turn them into faults).
    pub(crate) fn new(endpoint: &str) -> Env {
        Env(vec![
            ("AWS_ENDPOINT_URL".into(), endpoint.into()),
            ("AWS_REGION".into(), harness::REGION.into()),
            ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
            ("RUST_LOG".into(), "warn".into()),
        ])
    }

    /// The same, with the short timeouts every faulted run gets.
    pub(crate) fn short_timeouts(self) -> Env {
        let secs = |d: Duration| d.as_secs_f64().to_string();
        self.with("LAKEVAULT_CONNECT_TIMEOUT_SECONDS", &secs(CONNECT))
            .with("LAKEVAULT_ATTEMPT_TIMEOUT_SECONDS", &secs(ATTEMPT))
            .with("LAKEVAULT_OPERATION_TIMEOUT_SECONDS", &secs(OPERATION))
    }

    /// The same, with `name` set to `value`.
    pub(crate) fn with(mut self, name: &str, value: &str) -> Env {
        self.0.retain(|(n, _)| n != name);
        self.0.push((name.into(), value.into()));
        self
    }
}

/// Which client of a step a fault endpoint stands in for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Service {
    S3,
    S3Control,
    Sns,
}

impl Service {
    /// The variable that points the step's client at an endpoint.
    pub(crate) fn variable(self) -> &'static str {
        match self {
            Service::S3 => "AWS_ENDPOINT_URL_S3",
            Service::S3Control => "AWS_ENDPOINT_URL_S3_CONTROL",
            Service::Sns => "AWS_ENDPOINT_URL_SNS",
        }
    }
}

/// One run of a step binary.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) step: &'static str,
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    /// From spawning the process to its exit, measured here.
    pub(crate) elapsed: Duration,
}

impl Run {
    /// The single JSON line the step printed.
    pub(crate) fn answer(&self) -> Result<Value, String> {
        if self.code.is_none() {
            return Err(format!("no answer: {}", self.stderr));
        }
        let line = self
            .stdout
            .strip_suffix('\n')
            .ok_or_else(|| format!("stdout does not end with a newline: {:?}", self.stdout))?;
        if line.contains('\n') {
            return Err(format!("more than one line on stdout: {:?}", self.stdout));
        }
        serde_json::from_str(line).map_err(|e| format!("stdout is not JSON ({e}): {line:?}"))
    }

    /// The output of a run that succeeded (panics with everything the step said otherwise).
    pub(crate) fn output(&self) -> Value {
        match (self.code, self.answer()) {
            (Some(0), Ok(v)) => v,
            (code, answer) => panic!(
                "{} did not succeed (exit {code:?}): {answer:?}\nstderr: {}",
                self.step, self.stderr
            ),
        }
    }

    /// The error answer of a failed run: `(exit status, errorType, errorMessage)`.
    pub(crate) fn error(&self) -> Result<(Option<i32>, String, String), String> {
        let v = self.answer()?;
        let (Some(t), Some(m)) = (v["errorType"].as_str(), v["errorMessage"].as_str()) else {
            return Err(format!("not an error answer: {v}"));
        };
        Ok((self.code, t.to_owned(), m.to_owned()))
    }

    /// `Ok` when the run answered `Transient`, exit 1, one JSON line, within [`bound`].
    pub(crate) fn check_transient(&self) -> Result<(), String> {
        let (code, error_type, message) = self.error()?;
        let mut problems = Vec::new();
        if code != Some(1) {
            problems.push(format!("exit status {code:?}, not 1"));
        }
        if error_type != "Transient" {
            problems.push(format!("errorType {error_type}, not Transient ({message})"));
        }
        if self.elapsed >= bound() {
            problems.push(format!(
                "answered after {:.2} s, not within {} s",
                self.elapsed.as_secs_f64(),
                bound().as_secs()
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}

/// Runs `step` on `event` with `env` and waits for its answer (at most [`PATIENCE`]).
pub(crate) async fn run(step: &'static str, env: &Env, event: &Value) -> Run {
    let mut cmd = tokio::process::Command::new(binary(step));
    cmd.env_clear().envs(env.0.iter().cloned());
    let start = Instant::now();
    match tokio::time::timeout(PATIENCE, harness::run_step_command(cmd, event.to_string())).await {
        Ok(out) => Run {
            step,
            code: out.code,
            stdout: out.stdout,
            stderr: out.stderr,
            elapsed: start.elapsed(),
        },
        // Dropping the run kills the child.
        Err(_) => Run {
            step,
            code: None,
            stdout: String::new(),
            stderr: format!("no answer within {} s: killed", PATIENCE.as_secs()),
            elapsed: start.elapsed(),
        },
    }
}

/// The path of a step binary, checked to exist and to be newer than its sources (`cargo test
/// -p faults` builds no other package's binaries: a stale one would test old code).
pub(crate) fn binary(step: &str) -> PathBuf {
    let bin = harness::bin(step);
    let built = std::fs::metadata(&bin)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| {
            panic!(
                "{} is not built: run `cargo build --workspace --bins` first (`make test` builds \
                 every binary; `cargo test -p faults` builds none of the steps')",
                bin.display()
            )
        });
    let root = harness::workspace_root();
    // Not Cargo.lock: it changes whenever any package of the workspace gains a dependency.
    let sources = [root.join("steps").join(step), root.join("steps/kit")];
    if let Some((path, _)) = sources
        .iter()
        .filter_map(|p| newest(p))
        .filter(|(_, t)| *t > built)
        .max_by_key(|(_, t)| *t)
    {
        panic!(
            "{} is older than {}: rebuild it (`cargo build --workspace --bins`) so that the \
             suite tests the code as it is",
            bin.display(),
            path.display()
        );
    }
    bin
}

/// The most recently modified `.rs` or `Cargo.toml` under `path` (tests and benches excluded:
/// they are not in the binary; READMEs are only its rustdoc).
fn newest(path: &Path) -> Option<(PathBuf, SystemTime)> {
    let meta = std::fs::metadata(path).ok()?;
    if meta.is_file() {
        return Some((path.to_owned(), meta.modified().ok()?));
    }
    let mut best: Option<(PathBuf, SystemTime)> = None;
    for entry in std::fs::read_dir(path).ok()?.flatten() {
        let p = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let candidate = if p.is_dir() {
            if matches!(name.as_ref(), "tests" | "benches" | "bench" | "target") {
                continue;
            }
            newest(&p)
        } else if name.ends_with(".rs") || name == "Cargo.toml" {
            entry
                .metadata()
                .ok()
                .and_then(|m| m.modified().ok())
                .map(|t| (p.clone(), t))
        } else {
            None
        };
        if let Some(c) = candidate
            && best.as_ref().is_none_or(|(_, t)| c.1 > *t)
        {
            best = Some(c);
        }
    }
    best
}

/// One cell of the matrix: a step, a fault, where the fault hit, and the run.
#[derive(Debug)]
pub(crate) struct Cell {
    pub(crate) fault: String,
    /// The requests the fault server faulted (at least one, or the cell proves nothing).
    pub(crate) hits: Vec<String>,
    pub(crate) run: Run,
}

impl Cell {
    fn verdict(&self) -> Result<(), String> {
        if self.hits.is_empty() {
            return Err("the fault never hit a request".to_owned());
        }
        self.run.check_transient()
    }
}

/// Prints the cells as a table (`cargo test -p faults -- --nocapture` shows it) and fails
/// with every cell that did not answer `Transient` in time.
pub(crate) fn report<'a>(cells: impl IntoIterator<Item = &'a Cell>) {
    let mut failures = Vec::new();
    let mut count = 0;
    for c in cells {
        count += 1;
        let verdict = c.verdict();
        let answer = match c.run.error() {
            Ok((_, t, m)) => format!("{t}: {}", shorten(&m, 110)),
            Err(e) => shorten(&e, 110),
        };
        let line = format!(
            "{:<16} {:<36} {:>6.2} s  {}  {}  [first hit: {}]",
            c.run.step,
            c.fault,
            c.run.elapsed.as_secs_f64(),
            if verdict.is_ok() { "ok  " } else { "FAIL" },
            answer,
            c.hits.first().map_or("-", String::as_str),
        );
        println!("{line}");
        if let Err(e) = verdict {
            failures.push(format!(
                "{line}\n    {e}\n    stderr: {}",
                shorten(&c.run.stderr, 2000)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} faulted runs did not answer Transient within {} s:\n{}",
        failures.len(),
        count,
        bound().as_secs(),
        failures.join("\n")
    );
}

/// At most `n` characters of `s`.
pub(crate) fn shorten(s: &str, n: usize) -> String {
    let s = s.trim();
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(n).collect();
        out.push('…');
        out
    }
}

/// `v` as JSON text with every `(from, to)` replaced: a case's names mapped onto the clean
/// run's, so that the two results compare whole.
pub(crate) fn renamed(v: &Value, names: &[(&str, &str)]) -> Value {
    let mut text = v.to_string();
    for (from, to) in names {
        text = text.replace(from, to);
    }
    serde_json::from_str(&text).expect("still JSON")
}
