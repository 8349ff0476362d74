//! Checks of the state machines, `statemachine/backup.asl.json` and `statemachine/restore.asl.json`,
//! against the code:
//! * asl-validator (its JS API) accepts them;
//! * every `ErrorEquals` name of a Task is one its step can emit, or a `States.*`/`Lambda.*` name;
//! * in each machine, every errorType a step it invokes can emit is routed explicitly (retried or
//!   caught by name), and every registered step is invoked by a machine — the list of errorTypes
//!   comes from the steps' error enums (the registry, or a step's `--error-types` while it is not
//!   registered yet), not from a hand-kept list;
//! * no retry for errors that retrying cannot fix; Transient and Lambda service errors retried;
//! * the restore machine has the restore contract's shape, and its data flows: run on the local
//!   runner with canned step answers, each Task gets the payload its step's contract says, the
//!   execution's output is the restore's summary, and a step failing for good fails the execution
//!   with that step's errorType after the failure notification.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::{Value, json};

use crate::support::{all_states, definition};

/// The restore machine's definition file.
const RESTORE: &str = "statemachine/restore.asl.json";

/// `statemachine/restore.asl.json`, parsed.
fn restore_definition() -> Value {
    let path = harness::workspace_root().join(RESTORE);
    let raw = std::fs::read_to_string(&path).expect("statemachine/restore.asl.json exists");
    serde_json::from_str(&raw).expect("the restore definition is JSON")
}

/// Both machines: (name, definition).
fn machines() -> Vec<(&'static str, Value)> {
    vec![("backup", definition()), ("restore", restore_definition())]
}

/// What the restore contract says plan-restore and verify-restore emit, for as long as a step is
/// neither registered nor built (then its `--error-types` is used).
const CONTRACT_ERROR_TYPES: &[(&str, &[&str])] = &[
    (
        "plan-restore",
        &[
            "InvalidInput",
            "SnapshotNotFound",
            "TableNotFound",
            "VersionNotRestorable",
            "TargetNotFound",
            "TargetNotEmpty",
            "Transient",
            "AccessDenied",
            "ServiceError",
            "StoreError",
            "ConfigurationError",
            "InternalError",
        ],
    ),
    (
        "verify-restore",
        &[
            "InvalidInput",
            "RestoreMismatch",
            "PlanNotFound",
            "Transient",
            "AccessDenied",
            "ServiceError",
            "StoreError",
            "ConfigurationError",
            "InternalError",
        ],
    ),
];

/// Every errorType of `step`: the registry's (its error enum), else its binary's
/// `--error-types`, else the restore contract's list; `None` for an unknown step.
fn error_types_of(step: &str) -> Option<Vec<String>> {
    if let Some(s) = workspace_tests::steps()
        .into_iter()
        .find(|s| s.name == step)
    {
        return Some(s.error_types.iter().map(|e| (*e).to_owned()).collect());
    }
    let bin = harness::bin(step);
    if bin.exists() {
        let out = Command::new(&bin)
            .arg("--error-types")
            .output()
            .unwrap_or_else(|e| panic!("{} --error-types: {e}", bin.display()));
        assert!(
            out.status.success(),
            "{} --error-types failed",
            bin.display()
        );
        return Some(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect(),
        );
    }
    let (_, list) = CONTRACT_ERROR_TYPES.iter().find(|(s, _)| *s == step)?;
    eprintln!(
        "{step} is neither registered nor built: checking against the restore contract's errorTypes"
    );
    Some(list.iter().map(|e| (*e).to_owned()).collect())
}

/// `${SubmitJobFunctionArn}` → `submit-job`.
fn step_of(task: &Value) -> Option<String> {
    let f = task["Parameters"]["FunctionName"].as_str()?;
    let camel = f.strip_prefix("${")?.strip_suffix("FunctionArn}")?;
    let mut out = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    Some(out)
}

fn error_names(list: &Value) -> Vec<String> {
    list.as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r["ErrorEquals"].as_array().cloned().unwrap_or_default())
        .filter_map(|e| e.as_str().map(str::to_owned))
        .collect()
}

/// The Tasks of `machine`: (state name, state, step).
fn tasks_of(machine: &Value) -> Vec<(String, Value, String)> {
    all_states(machine)
        .into_iter()
        .filter(|(_, s)| s["Type"] == "Task")
        .map(|(n, s)| {
            let step = step_of(&s).unwrap_or_else(|| {
                panic!("{n}: FunctionName is not a ${{<Step>FunctionArn}} placeholder")
            });
            (n, s, step)
        })
        .collect()
}

/// The backup machine's Tasks.
fn tasks() -> Vec<(String, Value, String)> {
    tasks_of(&definition())
}

/// Every Task of both machines.
fn all_tasks() -> Vec<(String, Value, String)> {
    machines().iter().flat_map(|(_, m)| tasks_of(m)).collect()
}

#[test]
fn asl_validator_accepts_the_definitions() {
    let root = harness::workspace_root();
    let runner = root.join("local/sfn-runner");
    assert!(
        runner.join("node_modules/asl-validator").exists(),
        "asl-validator is not installed: run `make node` (make test does)"
    );
    let files = ["statemachine/backup.asl.json", RESTORE];
    let out = Command::new("node")
        .arg(runner.join("validate.mjs"))
        .args(files.iter().map(|f| root.join(f)))
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "asl-validator: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // One line per file.
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), files.len(), "{stdout}");
    for v in lines {
        assert_eq!(v["isValid"], true, "{v}");
    }
}

#[test]
fn every_task_has_a_timeout_and_uses_the_lambda_integration() {
    for (name, s, _) in all_tasks() {
        assert_eq!(s["Resource"], "arn:aws:states:::lambda:invoke", "{name}");
        assert!(
            s["TimeoutSeconds"]
                .as_u64()
                .is_some_and(|t| t > 0 && t <= 900),
            "{name}: TimeoutSeconds"
        );
        assert!(
            s.get("ResultSelector").is_some() && s.get("ResultPath").is_some(),
            "{name}: keep payloads small"
        );
    }
}

#[test]
fn error_names_are_ones_the_steps_emit() {
    for (name, s, step) in all_tasks() {
        let emitted = error_types_of(&step)
            .unwrap_or_else(|| panic!("{name} invokes {step}, which is not a step"));
        for e in error_names(&s["Retry"])
            .into_iter()
            .chain(error_names(&s["Catch"]))
        {
            assert!(
                e.starts_with("States.") || e.starts_with("Lambda.") || emitted.contains(&e),
                "{name} handles {e:?}, which {step} never emits (it emits {emitted:?})"
            );
        }
    }
}

#[test]
fn every_error_a_step_emits_is_routed_by_name() {
    let mut invoked = BTreeSet::new();
    for (machine, definition) in machines() {
        let mut routed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (_, s, step) in tasks_of(&definition) {
            routed.entry(step).or_default().extend(
                error_names(&s["Retry"])
                    .into_iter()
                    .chain(error_names(&s["Catch"])),
            );
        }
        for (step, names) in &routed {
            let emitted = error_types_of(step)
                .unwrap_or_else(|| panic!("the {machine} machine invokes {step}, not a step"));
            for e in &emitted {
                assert!(
                    names.contains(e),
                    "{step}'s errorType {e} is not routed by name in the {machine} machine"
                );
            }
        }
        invoked.extend(routed.into_keys());
    }
    for step in workspace_tests::steps() {
        assert!(
            invoked.contains(step.name),
            "{} is never invoked by a state machine",
            step.name
        );
    }
    // The restore machine invokes the restore's steps, whether registered yet or not.
    for step in [
        "plan-restore",
        "submit-job",
        "await-job",
        "verify-restore",
        "notify",
    ] {
        assert!(invoked.contains(step), "{step} is never invoked");
    }
}

#[test]
fn retries_are_for_what_retrying_can_fix() {
    let never_retry = [
        "InvalidInput",
        "ManifestInvalid",
        "BucketConflict",
        "AccessDenied",
        "ReportInvalid",
        "ConfigurationError",
        "InternalError",
        "JobConflict",
        "SnapshotNotFound",
        "TableNotFound",
        "VersionNotRestorable",
        "TargetNotEmpty",
        "RestoreMismatch",
        "PlanNotFound",
    ];
    for (name, s, _) in all_tasks() {
        let retried = error_names(&s["Retry"]);
        for e in never_retry {
            assert!(!retried.iter().any(|r| r == e), "{name} retries {e}");
        }
        assert!(
            !retried.iter().any(|r| r == "States.ALL"),
            "{name} retries everything"
        );
        assert!(
            retried.iter().any(|r| r == "Transient"),
            "{name} does not retry Transient"
        );
        assert!(
            retried.iter().any(|r| r == "Lambda.ServiceException"),
            "{name} does not retry Lambda service errors"
        );
        for r in s["Retry"].as_array().into_iter().flatten() {
            // Bounded: a finite number of attempts, jittered backoff where it backs off.
            assert!(
                r["MaxAttempts"].as_u64().is_some_and(|m| m > 0 && m <= 20),
                "{name}: {r}"
            );
        }
        // Every Task but the backup's failure notification itself catches everything, so one
        // source's failure never stops the others; the backup's failure notification is left
        // uncaught on purpose: if even it fails, the execution fails and can be redriven. (The
        // restore's catches, and then fails with the failed step's error all the same.)
        let catches = error_names(&s["Catch"]);
        if name != "NotifyFailure" {
            assert_eq!(
                catches.last().map(String::as_str),
                Some("States.ALL"),
                "{name} must end with a States.ALL catcher"
            );
        }
    }
    // ManifestNotReady: retried patiently but boundedly.
    let (_, locate, _) = tasks()
        .into_iter()
        .find(|(n, _, _)| n == "LocateManifest")
        .unwrap();
    let r = locate["Retry"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["ErrorEquals"][0] == "ManifestNotReady")
        .expect("ManifestNotReady retried");
    let total = r["IntervalSeconds"].as_u64().unwrap() * r["MaxAttempts"].as_u64().unwrap();
    assert!(
        (3600..=24 * 3600).contains(&total),
        "ManifestNotReady waits {total}s in all"
    );
}

#[test]
fn polling_is_bounded_and_configurable() {
    for (machine, choice_name) in [
        (definition(), "JobFinished?"),
        (restore_definition(), "RestoreJobFinished?"),
    ] {
        let states = all_states(&machine);
        let wait = states
            .iter()
            .find(|(_, s)| s["Type"] == "Wait")
            .expect("a Wait state");
        assert_eq!(wait.1["SecondsPath"], "$.settings.poll_seconds");
        let choice = states
            .iter()
            .find(|(n, _)| n == choice_name)
            .unwrap_or_else(|| panic!("{choice_name} choice"));
        assert!(choice.1.to_string().contains("$.settings.max_polls"));
    }
}

/// A state of the restore machine (it has no nested states).
fn restore_state(name: &str) -> Value {
    let d = restore_definition();
    let s = &d["States"][name];
    assert!(s.is_object(), "the restore machine has no state {name}");
    s.clone()
}

#[test]
fn the_restore_machine_has_the_contracts_shape() {
    let d = restore_definition();
    assert_eq!(d["StartAt"], "InjectDefaults");
    // The main line, following Next (and the Choice's first rule).
    let mut line = Vec::new();
    let mut at = "InjectDefaults".to_owned();
    loop {
        let s = restore_state(&at);
        line.push(at.clone());
        let next = match s["Type"].as_str() {
            Some("Choice") => s["Choices"][0]["Next"].clone(),
            Some("Succeed") | Some("Fail") => break,
            _ => s["Next"].clone(),
        };
        at = next.as_str().expect("a Next").to_owned();
    }
    assert_eq!(
        line,
        [
            "InjectDefaults",
            "ApplyDefaults",
            "PlanRestore",
            "SubmitRestoreJob",
            "StartPolling",
            "AwaitRestoreJob",
            "RestoreJobFinished?",
            "VerifyRestore",
            "NotifyRestored",
            "RestoreSummary",
            "Restored",
        ]
    );
    assert_eq!(restore_state("Restored")["Type"], "Succeed");
    // Which function each Task invokes.
    for (task, step) in [
        ("PlanRestore", "plan-restore"),
        ("SubmitRestoreJob", "submit-job"),
        ("AwaitRestoreJob", "await-job"),
        ("VerifyRestore", "verify-restore"),
        ("NotifyRestored", "notify"),
        ("NotifyRestoreFailed", "notify"),
    ] {
        assert_eq!(
            step_of(&restore_state(task)).as_deref(),
            Some(step),
            "{task}"
        );
    }
    // The polling loop: the job finished (Complete) moves on; otherwise wait, count, poll again,
    // at most max_polls times.
    let choice = restore_state("RestoreJobFinished?");
    assert_eq!(choice["Default"], "WaitForRestoreJob");
    assert_eq!(restore_state("WaitForRestoreJob")["Next"], "CountPoll");
    assert_eq!(restore_state("CountPoll")["Next"], "AwaitRestoreJob");
    let targets: Vec<&str> = choice["Choices"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["Next"].as_str())
        .collect();
    assert!(targets.contains(&"PollingExhausted"), "{targets:?}");
    // Defaults.
    let defaults = &restore_state("InjectDefaults")["Result"];
    assert_eq!(defaults["restore"]["version"], "as_of_backup_date");
    assert_eq!(
        defaults["settings"],
        json!({"priority": 10, "poll_seconds": 60, "max_polls": 1440})
    );
    // The execution fails with the failed step's errorType and cause.
    let fail = restore_state("RestoreFailed");
    assert_eq!(fail["Type"], "Fail");
    assert_eq!(fail["ErrorPath"], "$.failure.error");
    assert_eq!(fail["CausePath"], "$.failure.cause");
    assert_eq!(
        restore_state("NotifyRestoreFailed")["Next"],
        "RestoreFailed"
    );
}

#[test]
fn every_restore_catch_records_the_failure_and_ends_in_the_fail_state() {
    let d = restore_definition();
    for (name, s, _) in tasks_of(&d) {
        for c in s["Catch"].as_array().into_iter().flatten() {
            let next = c["Next"].as_str().unwrap();
            if name == "NotifyRestoreFailed" {
                // Announcing the failure failed: the execution still fails with the step's error.
                assert_eq!(next, "RestoreFailed");
                assert_ne!(c["ResultPath"], "$.failure", "keeps the step's failure");
                continue;
            }
            let pass = restore_state(next);
            assert_eq!(pass["Type"], "Pass", "{name} → {next}");
            let failure = &pass["Parameters"]["failure"];
            assert_eq!(failure["state"], name.as_str(), "{next} names its state");
            assert_eq!(failure["error.$"], "$.error.Error", "{next}");
            assert_eq!(failure["cause.$"], "$.error.Cause", "{next}");
            assert_eq!(c["ResultPath"], "$.error", "{name}");
            assert_eq!(pass["Next"], "NotifyRestoreFailed", "{next}");
        }
    }
    for pass in ["PollingExhausted", "RestoreJobEnded"] {
        let p = restore_state(pass);
        assert_eq!(p["Next"], "NotifyRestoreFailed");
        assert_eq!(p["Parameters"]["failure"]["state"], "AwaitRestoreJob");
    }
}

#[test]
fn submit_restore_job_passes_the_plan_as_the_contract_says() {
    let s = restore_state("SubmitRestoreJob");
    assert_eq!(
        s["Parameters"]["Payload"],
        json!({
            "account_id.$": "$.settings.account_id",
            "source_bucket.$": "$.plan.snapshot_bucket",
            "backup_date.$": "$.plan.backup_date",
            "manifest.$": "$.plan.manifest",
            "snapshot_bucket.$": "$.plan.target.bucket",
            "role_arn.$": "$.settings.role_arn",
            "report.$": "$.plan.job_report",
            "priority.$": "$.settings.priority",
            "restore": {
                "restore_id.$": "$.plan.restore_id",
                "target_key_prefix.$": "$.plan.target_key_prefix"
            }
        })
    );
}

mod restore_run {
    //! The restore machine on the local runner (aws-local-stepfunctions), every Task through
    //! the local Lambda endpoint, each step a canned answer (a script in place of its binary) or
    //! an injected error. What is checked is the definition: the payloads it builds (parsed by
    //! the real steps' contract code, and against the committed schemas where they exist), the
    //! output, and how it fails.

    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;
    use std::time::Duration;

    use harness::Moto;
    use lakevault_local::lambda::{Fault, Invocation};
    use lakevault_local::stack::{self, RunOptions, RunOutcome, Stack, StackConfig};
    use serde_json::{Value, json};

    const RESTORE_ID: &str = "3f2a9c0d1e4b5a67";

    fn plan() -> Value {
        json!({
            "restore_id": RESTORE_ID, "snapshot_bucket": "lake-prod-31-mar-2021",
            "source_bucket": "lake-prod", "backup_date": "2021-03-31",
            "table": "events/", "version": 7, "chosen_by": "as_of_backup_date",
            "checkpoint_version": 5, "objects": 23, "bytes": 123_456, "log_objects": 3,
            "data_files": 20, "deletion_vectors": 0,
            "target": {"bucket": "lake-prod-restored", "prefix": "restored/events/"},
            "target_key_prefix": "restored",
            "table_url": "s3://lake-prod-restored/restored/events/",
            "manifest": {"bucket": "lakevault-reports",
                         "key": format!("reports/restore-{RESTORE_ID}/manifest.csv"),
                         "arn": format!("arn:aws:s3:::lakevault-reports/reports/restore-{RESTORE_ID}/manifest.csv"),
                         "etag": "9b2cf535f27731c974343645a3985328",
                         "format": "S3BatchOperations_CSV_20180820"},
            "plan": {"bucket": "lakevault-reports", "key": format!("reports/restore-{RESTORE_ID}/plan.json")},
            "job_report": {"bucket": "lakevault-reports", "prefix": format!("reports/restore-{RESTORE_ID}")},
            "resumed": false, "dry_run": false, "estimated_cost_usd": 0.250023
        })
    }

    fn job_status(status: &str, finished: bool) -> Value {
        json!({"job_id": "job-1", "status": status, "finished": finished, "total_tasks": 23,
               "succeeded_tasks": if status == "Complete" { 23 } else { 0 },
               "failed_tasks": if status == "Complete" { 0 } else { 23 },
               "elapsed_active_seconds": 4, "failure_reasons": []})
    }

    fn verified() -> Value {
        json!({"restore_id": RESTORE_ID, "table_url": "s3://lake-prod-restored/restored/events/",
               "version": 7, "files": 20, "objects": 23, "bytes": 123_000, "verdict": "restored"})
    }

    fn run_input() -> Value {
        json!({
            "restore": {"snapshot_bucket": "lake-prod-31-mar-2021", "table": "events",
                        "target": {"bucket": "lake-prod-restored", "prefix": "restored/events/"}},
            "settings": {"account_id": "123456789012",
                         "role_arn": "arn:aws:iam::123456789012:role/lakevault-restore-batch",
                         "report": {"bucket": "lakevault-reports", "prefix": "reports"},
                         "topic_arn": "arn:aws:sns:us-east-1:123456789012:lakevault-backups",
                         "poll_seconds": 1}
        })
    }

    /// A script that reads its event and prints `answer` (after `running` once, when given:
    /// the first poll sees the job still running).
    fn write_stub(dir: &Path, step: &str, answer: &Value, running: Option<&Value>) {
        let path = dir.join(step);
        let script = match running {
            None => format!("#!/bin/sh\ncat >/dev/null\nprintf '%s\\n' '{answer}'\n"),
            Some(first) => format!(
                "#!/bin/sh\ncat >/dev/null\nif [ -e \"$0.polled\" ]; then printf '%s\\n' '{answer}'; \
                 else : > \"$0.polled\"; printf '%s\\n' '{first}'; fi\n"
            ),
        };
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    struct World {
        _moto: Moto,
        stack: Stack,
        work: tempfile::TempDir,
    }

    /// The stubs answering `job` (the job's end as await-job reports it), and the stack.
    async fn world(job: Value) -> World {
        let work = tempfile::tempdir().unwrap();
        let bin = work.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        write_stub(&bin, "plan-restore", &plan(), None);
        write_stub(
            &bin,
            "submit-job",
            &json!({"job_id": "job-1", "created": true}),
            None,
        );
        write_stub(&bin, "await-job", &job, Some(&job_status("Active", false)));
        write_stub(&bin, "verify-restore", &verified(), None);
        write_stub(
            &bin,
            "notify",
            &json!({"message_id": "m-1", "outcome": "restored", "subject": "s"}),
            None,
        );
        let moto = Moto::start();
        let stack = stack::start(
            StackConfig {
                sdk: moto.sdk_config(),
                bin_dir: bin,
                step_env: moto.env(),
                max_copy_bytes: 1 << 30,
                timeout: Duration::from_secs(30),
            },
            0,
        )
        .await
        .expect("local stack starts");
        World {
            _moto: moto,
            stack,
            work,
        }
    }

    impl World {
        async fn run(&self) -> RunOutcome {
            let root = harness::workspace_root();
            assert!(
                root.join("local/sfn-runner/node_modules/aws-local-stepfunctions")
                    .exists(),
                "the runner is not installed: run `make node` (make test does)"
            );
            stack::run_state_machine(
                &RunOptions {
                    runner_dir: root.join("local/sfn-runner"),
                    definition: root.join(super::RESTORE),
                    lambda_endpoint: self.stack.url.clone(),
                    wait_ms: 10,
                    retry_ms: 10,
                    events_file: self.work.path().join("events.json"),
                },
                &run_input(),
            )
            .await
            .expect("the runner runs")
        }

        fn fault(&self, function: &str, error_type: &str) {
            self.stack
                .lambda
                .add_fault(Fault {
                    function: function.into(),
                    error_type: error_type.into(),
                    error_message: format!("{error_type} injected"),
                    count: 1,
                })
                .unwrap();
        }

        fn invocations(&self, function: &str) -> Vec<Invocation> {
            self.stack
                .lambda
                .invocations()
                .into_iter()
                .filter(|i| i.function == function)
                .collect()
        }

        /// Every payload parses as its step's input: submit-job's plans, notify's builds its
        /// message; each payload and canned answer conforms to a committed schema there is.
        fn check_payloads(&self) {
            for inv in self.stack.lambda.invocations() {
                conforms(&inv.function, "input", &inv.payload);
                if !inv.function_error {
                    conforms(&inv.function, "output", &inv.response);
                }
                match inv.function.as_str() {
                    "submit-job" => {
                        let input: submit_job::Input =
                            serde_json::from_value(inv.payload.clone()).unwrap();
                        submit_job::plan(&input).unwrap_or_else(|e| panic!("{e}: {}", inv.payload));
                    }
                    "notify" => {
                        let input: notify::NotifyInput =
                            serde_json::from_value(inv.payload.clone()).unwrap();
                        notify::message_for(&input)
                            .unwrap_or_else(|e| panic!("{e}: {}", inv.payload));
                    }
                    _ => {}
                }
            }
        }
    }

    /// `value` conforms to `schemas/<step>.<kind>.json`, when that is committed.
    fn conforms(step: &str, kind: &str, value: &Value) {
        let path = harness::workspace_root().join(format!("schemas/{step}.{kind}.json"));
        let Ok(raw) = std::fs::read_to_string(&path) else {
            eprintln!("no {}: {step}'s {kind} not checked", path.display());
            return;
        };
        let schema: Value = serde_json::from_str(&raw).unwrap();
        let validator = jsonschema::validator_for(&schema).unwrap();
        let errs: Vec<String> = validator
            .iter_errors(value)
            .map(|e| e.to_string())
            .collect();
        assert!(
            errs.is_empty(),
            "{step} {kind} {value} breaks its schema: {errs:?}"
        );
    }

    #[tokio::test]
    async fn a_restore_runs_through_and_answers_its_summary() {
        let w = world(job_status("Complete", true)).await;
        let out = w.run().await;
        let output = out
            .output
            .unwrap_or_else(|e| panic!("the execution failed: {e}"));
        assert_eq!(
            output,
            json!({"restore_id": RESTORE_ID, "version": 7, "table": "events/",
                   "target": {"bucket": "lake-prod-restored", "prefix": "restored/events/"},
                   "objects": 23, "bytes": 123_456, "job_id": "job-1", "verified": verified()})
        );
        w.check_payloads();
        // Defaults applied; plan-restore asked what the run said.
        let plan_in = &w.invocations("plan-restore")[0].payload;
        assert_eq!(
            plan_in,
            &json!({"snapshot_bucket": "lake-prod-31-mar-2021", "table": "events",
                    "version": "as_of_backup_date",
                    "target": {"bucket": "lake-prod-restored", "prefix": "restored/events/"},
                    "report": {"bucket": "lakevault-reports", "prefix": "reports"},
                    "dry_run": false})
        );
        // The job: from the snapshot into the target, under the plan's prefix.
        let submit = &w.invocations("submit-job")[0].payload;
        assert_eq!(submit["source_bucket"], "lake-prod-31-mar-2021");
        assert_eq!(submit["snapshot_bucket"], "lake-prod-restored");
        assert_eq!(submit["priority"], 10);
        assert_eq!(submit["report"], plan()["job_report"]);
        assert_eq!(
            submit["restore"],
            json!({"restore_id": RESTORE_ID, "target_key_prefix": "restored"})
        );
        // Polled twice (running, then complete).
        assert_eq!(w.invocations("await-job").len(), 2);
        assert_eq!(
            w.invocations("verify-restore")[0].payload,
            json!({"restore_id": RESTORE_ID, "plan": plan()["plan"],
                   "target": plan()["target"], "version": 7})
        );
        let notified = w.invocations("notify");
        assert_eq!(notified.len(), 1);
        let n = &notified[0].payload;
        assert_eq!(n["source_bucket"], "lake-prod");
        assert_eq!(n["restore"]["job_id"], "job-1");
        assert_eq!(n["restore"]["verified"], verified());
        assert!(n.get("failure").is_none());
    }

    #[tokio::test]
    async fn a_step_failing_for_good_is_announced_and_fails_the_execution_with_its_error() {
        for (function, error, state) in [
            ("plan-restore", "VersionNotRestorable", "PlanRestore"),
            ("submit-job", "JobConflict", "SubmitRestoreJob"),
            ("await-job", "JobSuspended", "AwaitRestoreJob"),
            ("verify-restore", "RestoreMismatch", "VerifyRestore"),
            ("notify", "TopicNotFound", "NotifyRestored"),
        ] {
            let w = world(job_status("Complete", true)).await;
            w.fault(function, error);
            let out = w.run().await;
            let err = out
                .output
                .expect_err(&format!("{function} failing must fail the execution"));
            assert_eq!(err["error"], error, "{function}: {err}");
            assert!(
                err["cause"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("injected"),
                "{function}: {err}"
            );
            w.check_payloads();
            let notified = w.invocations("notify");
            let failure = notified.last().expect("the failure is announced");
            let n = &failure.payload;
            assert_eq!(n["failure"]["state"], state, "{function}: {n}");
            assert_eq!(n["failure"]["error"], error, "{function}: {n}");
            if function == "plan-restore" {
                // Before the plan: what the run was asked, nothing more.
                assert_eq!(n["source_bucket"], Value::Null);
                assert_eq!(n["restore"]["restore_id"], Value::Null);
                assert_eq!(n["restore"]["snapshot_bucket"], "lake-prod-31-mar-2021");
                assert_eq!(n["restore"]["table"], "events");
            } else {
                assert_eq!(n["source_bucket"], "lake-prod");
                assert_eq!(n["restore"]["restore_id"], RESTORE_ID);
                assert_eq!(n["restore"]["version"], 7);
            }
        }
    }

    #[tokio::test]
    async fn a_failed_job_or_a_failed_failure_notice_still_fails_with_the_steps_error() {
        // The job ended Failed: nothing to verify.
        let w = world(job_status("Failed", true)).await;
        let err = w
            .run()
            .await
            .output
            .expect_err("a failed job fails the restore");
        assert_eq!(err["error"], "RestoreJobFailed", "{err}");
        assert!(
            err["cause"]
                .as_str()
                .unwrap()
                .contains("job-1 ended Failed"),
            "{err}"
        );
        assert!(w.invocations("verify-restore").is_empty());
        w.check_payloads();

        // The failure notification fails too: the execution still names the step's error.
        let w = world(job_status("Complete", true)).await;
        w.fault("verify-restore", "RestoreMismatch");
        w.fault("notify", "TopicNotFound");
        let err = w.run().await.output.expect_err("fails");
        assert_eq!(err["error"], "RestoreMismatch", "{err}");
    }
}
