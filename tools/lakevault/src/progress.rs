//! What is known about a running restore, and the progress line that shows it.
//!
//! Both ways of running feed the same [`Seen`]: the state the execution is in, and the results
//! of its Tasks as they arrive (plan-restore's plan, submit-job's job, verify-restore's verdict;
//! recognised by their fields, so the machine's state names and result paths do not matter), then
//! the job's counts from DescribeJob and the bytes found under the target.

use std::io::{IsTerminal, Write};
use std::time::Instant;

use serde_json::Value;

use crate::render::bytes_fraction;

/// What a Task returned, recognised by its fields.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskResult {
    /// plan-restore's output.
    Plan(Value),
    /// submit-job's output (`job_id`).
    Job(String),
    /// verify-restore's output.
    Verified(Value),
    /// prune-snapshots' output (one invocation of the prune machine's loop).
    Pruned(Value),
    /// Something else (await-job, notify).
    Other,
}

impl TaskResult {
    /// Sorts a Task's output: `verdict` + `table_url` is a verification, `restore_id` +
    /// `chosen_by` a plan, `job_id` + `created` a submitted job.
    pub fn of(output: &Value) -> TaskResult {
        // The Lambda integration wraps the function's output in `Payload`.
        let v = output.get("Payload").unwrap_or(output);
        if v.get("verdict").is_some() && v.get("table_url").is_some() {
            TaskResult::Verified(v.clone())
        } else if v.get("restore_id").is_some() && v.get("chosen_by").is_some() {
            TaskResult::Plan(v.clone())
        } else if let (Some(id), Some(_)) = (v["job_id"].as_str(), v.get("created")) {
            TaskResult::Job(id.to_owned())
        } else if crate::prune::is_output(v) {
            TaskResult::Pruned(v.clone())
        } else {
            TaskResult::Other
        }
    }
}

/// The Batch Operations job's counts (DescribeJob's ProgressSummary).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobCounts {
    /// The job's status (`Active`, `Complete`, …).
    pub status: String,
    /// Tasks in the job (= objects in the manifest), once known.
    pub total: Option<u64>,
    /// Tasks that succeeded.
    pub succeeded: u64,
    /// Tasks that failed.
    pub failed: u64,
}

/// Everything seen so far of one restore.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Seen {
    /// The state the execution is in (or last entered).
    pub state: Option<String>,
    /// plan-restore's output.
    pub plan: Option<Value>,
    /// The copy job.
    pub job_id: Option<String>,
    /// Its counts.
    pub job: Option<JobCounts>,
    /// Bytes found under the target; `true` when estimated from the task counts instead.
    pub copied_bytes: Option<(u64, bool)>,
    /// verify-restore's output.
    pub verified: Option<Value>,
    /// The state a failure was caught at (`$.failure.state`, as the notice of it carries).
    pub failed_state: Option<String>,
    /// prune-snapshots' outputs, by history event id (AWS) or invocation number (local): each
    /// invocation once however often it is read.
    pub pruned: std::collections::BTreeMap<u64, Value>,
}

impl Seen {
    /// Takes in a Task's output.
    pub fn record(&mut self, output: &Value) {
        self.record_at(0, output);
    }

    /// Takes in a Task's output, `key` telling invocations apart (a history event id, a log
    /// number).
    pub fn record_at(&mut self, key: u64, output: &Value) {
        match TaskResult::of(output) {
            TaskResult::Plan(p) => self.plan = Some(p),
            TaskResult::Job(id) => self.job_id = Some(id),
            TaskResult::Verified(v) => self.verified = Some(v),
            TaskResult::Pruned(v) => {
                self.pruned.insert(key, v);
            }
            TaskResult::Other => {}
        }
    }

    /// Takes in a state's or a Task's input: a caught failure there names its state.
    pub fn record_input(&mut self, input: &Value) {
        let failure = input.get("Payload").unwrap_or(input).get("failure");
        if let Some(state) = failure.and_then(|f| f["state"].as_str()) {
            self.failed_state = Some(state.to_owned());
        }
    }

    /// The restore id, once planned.
    pub fn restore_id(&self) -> Option<&str> {
        self.plan.as_ref().and_then(|p| p["restore_id"].as_str())
    }

    /// Objects and bytes the plan copies.
    pub fn totals(&self) -> Option<(u64, u64)> {
        let p = self.plan.as_ref()?;
        Some((p["objects"].as_u64()?, p["bytes"].as_u64()?))
    }

    /// The progress line: the state, then `copied N/M objects, X/Y MiB` once a job runs.
    pub fn line(&self) -> String {
        let mut out = self.state.clone().unwrap_or_else(|| "starting".to_owned());
        if !self.pruned.is_empty() {
            let t = crate::prune::totals(&self.pruned, &Value::Null);
            out.push_str(&format!(
                ": {} snapshots judged so far ({} kept, {} held, {} expiring, {} deleted)",
                t["snapshots"], t["kept"], t["held"], t["expiring"], t["deleted"]
            ));
        }
        let Some((objects, bytes)) = self.totals() else {
            return out;
        };
        let Some(job) = &self.job else {
            if self.job_id.is_some() {
                out.push_str(&format!(
                    ": copy job submitted ({objects} objects, {})",
                    crate::render::human_bytes(bytes)
                ));
            }
            return out;
        };
        let total = job.total.unwrap_or(objects);
        out.push_str(&format!(": copied {}/{total} objects", job.succeeded));
        match self.copied_bytes {
            Some((b, false)) => out.push_str(&format!(", {}", bytes_fraction(b, bytes))),
            Some((b, true)) => out.push_str(&format!(", ~{}", bytes_fraction(b, bytes))),
            None => {}
        }
        if job.failed > 0 {
            out.push_str(&format!(", {} failed", job.failed));
        }
        if !job.status.is_empty() {
            out.push_str(&format!(" (job {})", job.status));
        }
        out
    }

    /// An estimate of the bytes copied from the task counts (when the target is too large, or
    /// not readable, to list).
    pub fn estimated_bytes(&self) -> Option<u64> {
        let (objects, bytes) = self.totals()?;
        let job = self.job.as_ref()?;
        let total = job.total.unwrap_or(objects).max(1);
        Some(((bytes as u128 * job.succeeded.min(total) as u128) / total as u128) as u64)
    }
}

/// Shows the progress line on stderr: rewritten in place on a terminal, a new line each time it
/// changes otherwise (logs, CI). Silent when asked to be.
#[derive(Debug)]
pub struct Reporter {
    t0: Instant,
    tty: bool,
    quiet: bool,
    last: String,
    width: usize,
}

impl Reporter {
    /// A reporter on stderr; `quiet` prints nothing.
    pub fn new(quiet: bool) -> Reporter {
        Reporter {
            t0: Instant::now(),
            tty: std::io::stderr().is_terminal(),
            quiet,
            last: String::new(),
            width: 0,
        }
    }

    /// Shows `seen`'s line if it changed.
    pub fn show(&mut self, seen: &Seen) {
        let line = seen.line();
        if self.quiet || line == self.last {
            return;
        }
        let stamped = format!("[{:>6.1}s] {line}", self.t0.elapsed().as_secs_f64());
        let mut err = std::io::stderr().lock();
        if self.tty {
            let pad = self.width.saturating_sub(stamped.chars().count());
            let _ = write!(err, "\r{stamped}{}", " ".repeat(pad));
            self.width = stamped.chars().count();
        } else {
            let _ = writeln!(err, "{stamped}");
        }
        let _ = err.flush();
        self.last = line;
    }

    /// Ends the line in place (a terminal) before other output.
    pub fn finish(&mut self) {
        if !self.quiet && self.tty && self.width > 0 {
            let _ = writeln!(std::io::stderr());
            self.width = 0;
        }
    }

    /// Prints a note on its own line (stderr).
    pub fn note(&mut self, text: &str) {
        if self.quiet {
            return;
        }
        self.finish();
        eprintln!("{text}");
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn task_results_are_recognised_by_their_fields() {
        let plan = json!({"restore_id": "3f2a9c0d1e4b5a67", "chosen_by": "version", "objects": 23,
                          "bytes": 2 * 1024 * 1024, "table_url": "s3://restored/events/"});
        assert_eq!(
            TaskResult::of(&json!({"Payload": plan.clone(), "StatusCode": 200})),
            TaskResult::Plan(plan.clone())
        );
        assert_eq!(
            TaskResult::of(&json!({"job_id": "abc12", "created": true})),
            TaskResult::Job("abc12".into())
        );
        assert_eq!(
            TaskResult::of(&json!({"job_id": "abc12", "status": "Active"})),
            TaskResult::Other
        );
        let mut seen = Seen {
            state: Some("AwaitRestoreJob".into()),
            ..Seen::default()
        };
        assert_eq!(seen.line(), "AwaitRestoreJob");
        seen.record(&json!({"Payload": plan}));
        seen.record(&json!({"job_id": "abc12", "created": true}));
        assert_eq!(
            seen.line(),
            "AwaitRestoreJob: copy job submitted (23 objects, 2.0 MiB)"
        );
        seen.job = Some(JobCounts {
            status: "Active".into(),
            total: Some(23),
            succeeded: 11,
            failed: 0,
        });
        assert_eq!(seen.estimated_bytes(), Some(1_002_985));
        seen.copied_bytes = Some((1024 * 1024, false));
        assert_eq!(
            seen.line(),
            "AwaitRestoreJob: copied 11/23 objects, 1.0/2.0 MiB (job Active)"
        );
        seen.copied_bytes = Some((1024 * 1024, true));
        assert!(seen.line().contains(", ~1.0/2.0 MiB"), "{}", seen.line());
    }
}
