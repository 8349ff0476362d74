//! Checks of the state machines — `statemachine/backup.asl.json` (the scheduled parent: one child
//! execution per source), `statemachine/backup-source.asl.json` (the child: one source's backup)
//! and `statemachine/restore.asl.json` — against the code:
//! * asl-validator (its JS API) accepts them;
//! * every `ErrorEquals` name of a Task is one its step can emit, or a `States.*`/`Lambda.*` name;
//! * in each machine, every errorType a step it invokes can emit is routed explicitly: retried or
//!   caught by name — or, in the child, which has no Catch at all, retried or failing the child
//!   execution at its Task (the parent catches the child's failure) — and every registered step
//!   is invoked by a machine; the errorTypes come from the steps' error enums (the registry), not
//!   from a hand-kept list;
//! * no retry for errors that retrying cannot fix; Transient and Lambda service errors retried;
//! * the parent and the child have the issue-17 contract's shape (the child Task, its name, its
//!   retries and catch; the child's chain, no Catch, one Fail state), and so has the restore
//!   machine;
//! * data flows, on the local runner with canned step answers: the parent's output and cause,
//!   each child step failing for good fails the child at that Task (its event log: the Task's
//!   failure, then the execution's, no Fail state), the parent announces it and goes on with the
//!   other source, then fails with `SourcesFailed`; the restore machine's payloads, output and
//!   failures likewise.

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::{Value, json};

use crate::support::{all_states, definition};

/// The child machine's definition file.
pub(crate) const BACKUP_SOURCE: &str = "statemachine/backup-source.asl.json";
/// The restore machine's definition file.
const RESTORE: &str = "statemachine/restore.asl.json";
/// The prune machine's definition file (retention: prune-snapshots on its own schedule).
const PRUNE: &str = "statemachine/prune.asl.json";
/// The child Task's integration.
pub(crate) const START_CHILD: &str = "arn:aws:states:::states:startExecution.sync:2";

fn read_definition(file: &str) -> Value {
    let path = harness::workspace_root().join(file);
    let raw = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
    serde_json::from_str(&raw).unwrap_or_else(|e| panic!("{file} is not JSON: {e}"))
}

/// `statemachine/backup-source.asl.json` (the child), parsed.
pub(crate) fn source_definition() -> Value {
    read_definition(BACKUP_SOURCE)
}

/// `statemachine/restore.asl.json`, parsed.
fn restore_definition() -> Value {
    read_definition(RESTORE)
}

/// `statemachine/prune.asl.json`, parsed.
fn prune_definition() -> Value {
    read_definition(PRUNE)
}

/// The machines that catch nothing: a step failing for good fails the execution at its Task,
/// where a redrive resumes (the child outside its large-copy Map, and the prune machine).
fn catches_nothing(machine: &str) -> bool {
    matches!(machine, "backup-source" | "prune")
}

/// Every machine: (name, definition).
fn machines() -> Vec<(&'static str, Value)> {
    vec![
        ("backup", definition()),
        ("backup-source", source_definition()),
        ("restore", restore_definition()),
        ("prune", prune_definition()),
    ]
}

/// Every errorType of `step` (its error enum, through the registry); `None` for an unknown step.
fn error_types_of(step: &str) -> Option<Vec<String>> {
    workspace_tests::steps()
        .into_iter()
        .find(|s| s.name == step)
        .map(|s| s.error_types.iter().map(|e| (*e).to_owned()).collect())
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

/// The Lambda Tasks of `machine`: (state name, state, step). The parent's child Task is not one.
fn tasks_of(machine: &Value) -> Vec<(String, Value, String)> {
    all_states(machine)
        .into_iter()
        .filter(|(_, s)| s["Type"] == "Task" && s["Resource"] != START_CHILD)
        .map(|(n, s)| {
            let step = step_of(&s).unwrap_or_else(|| {
                panic!("{n}: FunctionName is not a ${{<Step>FunctionArn}} placeholder")
            });
            (n, s, step)
        })
        .collect()
}

/// The child machine's Tasks.
fn source_tasks() -> Vec<(String, Value, String)> {
    tasks_of(&source_definition())
}

/// Every Lambda Task of every machine: (machine, state name, state, step).
fn all_tasks() -> Vec<(&'static str, String, Value, String)> {
    machines()
        .into_iter()
        .flat_map(|(m, d)| {
            tasks_of(&d)
                .into_iter()
                .map(move |(n, s, step)| (m, n, s, step))
        })
        .collect()
}

/// A top-level state of `machine`, or a state of the parent's Map iteration.
fn state(machine: &Value, name: &str) -> Value {
    all_states(machine)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, s)| s)
        .unwrap_or_else(|| panic!("no state {name}"))
}

/// The large-copy Map of the child (objects over 5 GiB): the only place of the child where a Task
/// catches, because a failed item must abort its multipart upload before it fails.
pub(crate) const LARGE_COPY_MAP: &str = "CopyLargeObjects";

/// The names of the states inside the child's large-copy Map.
fn large_copy_states() -> BTreeSet<String> {
    source_definition()["States"][LARGE_COPY_MAP]["ItemProcessor"]["States"]
        .as_object()
        .expect("the large-copy Map has states")
        .keys()
        .cloned()
        .collect()
}

#[test]
fn asl_validator_accepts_the_definitions() {
    let root = harness::workspace_root();
    let runner = root.join("local/sfn-runner");
    assert!(
        runner.join("node_modules/asl-validator").exists(),
        "asl-validator is not installed: run `make node` (make test does)"
    );
    let files = [
        "statemachine/backup.asl.json",
        BACKUP_SOURCE,
        RESTORE,
        PRUNE,
    ];
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
    for (machine, def) in machines() {
        for (name, s) in all_states(&def) {
            if s["Type"] != "Task" {
                continue;
            }
            if machine == "backup" && name == "BackUpSource" {
                // The child Task: checked in the_parent_starts_one_child_per_source.
                assert_eq!(s["Resource"], START_CHILD);
                continue;
            }
            assert_eq!(
                s["Resource"], "arn:aws:states:::lambda:invoke",
                "{machine}: {name}"
            );
            assert!(
                s["TimeoutSeconds"]
                    .as_u64()
                    .is_some_and(|t| t > 0 && t <= 900),
                "{machine}: {name}: TimeoutSeconds"
            );
            assert!(
                s.get("ResultSelector").is_some() && s.get("ResultPath").is_some(),
                "{machine}: {name}: keep payloads small"
            );
        }
    }
}

#[test]
fn error_names_are_ones_the_steps_emit() {
    for (machine, name, s, step) in all_tasks() {
        let emitted = error_types_of(&step)
            .unwrap_or_else(|| panic!("{machine}: {name} invokes {step}, which is not a step"));
        for e in error_names(&s["Retry"])
            .into_iter()
            .chain(error_names(&s["Catch"]))
        {
            assert!(
                e.starts_with("States.") || e.starts_with("Lambda.") || emitted.contains(&e),
                "{machine}: {name} handles {e:?}, which {step} never emits (it emits {emitted:?})"
            );
        }
    }
}

#[test]
fn every_error_a_step_emits_is_routed_by_name() {
    let mut invoked = BTreeSet::new();
    for (machine, definition) in machines() {
        // The child has no Catch: an errorType it does not retry fails the child execution at
        // its Task, by name (the_child_fails_at_its_task checks there is no Catch, and the
        // parent catches the child's failure).
        let child = catches_nothing(machine);
        let in_map = large_copy_states();
        for (name, s, step) in tasks_of(&definition) {
            // Inside the large-copy Map every errorType is caught by name (after its retries):
            // the item aborts its upload first.
            let child = child && !in_map.contains(&name);
            let emitted = error_types_of(&step)
                .unwrap_or_else(|| panic!("the {machine} machine invokes {step}, not a step"));
            let retried = error_names(&s["Retry"]);
            let caught = error_names(&s["Catch"]);
            for e in &emitted {
                if child {
                    assert!(
                        caught.is_empty(),
                        "{machine}: {name} catches: a failure must fail the execution here"
                    );
                    // Retried by name, or left to fail the execution with its own name.
                    continue;
                }
                assert!(
                    retried.contains(e) || caught.contains(e),
                    "{step}'s errorType {e} is not routed by name at {name} in the {machine} machine"
                );
            }
            invoked.insert(step);
        }
    }
    for step in workspace_tests::steps() {
        assert!(
            invoked.contains(step.name),
            "{} is never invoked by a state machine",
            step.name
        );
    }
    // The restore machine invokes the restore's steps.
    let restore: BTreeSet<String> = tasks_of(&restore_definition())
        .into_iter()
        .map(|(_, _, step)| step)
        .collect();
    for step in [
        "plan-restore",
        "submit-job",
        "await-job",
        "verify-restore",
        "notify",
    ] {
        assert!(restore.contains(step), "{step} is never invoked by restore");
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
        "CatalogInvalid",
    ];
    for (machine, name, s, _) in all_tasks() {
        let retried = error_names(&s["Retry"]);
        for e in never_retry {
            assert!(
                !retried.iter().any(|r| r == e),
                "{machine}: {name} retries {e}"
            );
        }
        assert!(
            !retried.iter().any(|r| r == "States.ALL"),
            "{machine}: {name} retries everything"
        );
        assert!(
            retried.iter().any(|r| r == "Transient"),
            "{machine}: {name} does not retry Transient"
        );
        assert!(
            retried.iter().any(|r| r == "Lambda.ServiceException"),
            "{machine}: {name} does not retry Lambda service errors"
        );
        for r in s["Retry"].as_array().into_iter().flatten() {
            // Bounded: a finite number of attempts, jittered backoff where it backs off.
            assert!(
                r["MaxAttempts"].as_u64().is_some_and(|m| m > 0 && m <= 20),
                "{machine}: {name}: {r}"
            );
        }
        // The child catches nothing (its failures fail it at the Task, for a redrive there);
        // every Task of the parent and of the restore machine ends its catches with States.ALL,
        // so one source's failure, or its failed announcement, never stops the others.
        let catches = error_names(&s["Catch"]);
        if catches_nothing(machine) && !large_copy_states().contains(&name) {
            assert!(catches.is_empty(), "{machine}: {name} catches {catches:?}");
        } else {
            assert_eq!(
                catches.last().map(String::as_str),
                Some("States.ALL"),
                "{machine}: {name} must end with a States.ALL catcher"
            );
        }
    }
    // ManifestNotReady: retried patiently but boundedly.
    let (_, locate, _) = source_tasks()
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
        (source_definition(), "JobFinished?"),
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

/// The states met from `start` following `Next` (a Choice: its first rule), up to an end.
fn main_line(machine: &Value, start: &str) -> Vec<String> {
    let mut line = Vec::new();
    let mut at = start.to_owned();
    loop {
        let s = state(machine, &at);
        line.push(at.clone());
        if s["End"] == true {
            break;
        }
        let next = match s["Type"].as_str() {
            Some("Choice") => s["Choices"][0]["Next"].clone(),
            Some("Succeed") | Some("Fail") => break,
            _ => s["Next"].clone(),
        };
        at = next.as_str().expect("a Next").to_owned();
        assert!(line.len() < 100, "a loop through {at}");
    }
    line
}

#[test]
fn the_child_fails_at_its_task() {
    let d = source_definition();
    assert_eq!(
        main_line(&d, d["StartAt"].as_str().unwrap()),
        [
            "LocateManifest",
            "RememberBackupDate",
            "CreateBucket",
            "SubmitJob",
            "StartPolling",
            "AwaitJob",
            "JobFinished?",
            "AuditReport",
            "ListLargeCopies",
            "AnyLargeCopies?",
            "CopyLargeObjects",
            "AuditLargeCopies",
            "VerifySnapshot",
            "CatalogSnapshot",
            "NotifyOutcome",
            "SourceDone",
        ]
    );
    // Without objects over 5 GiB (no items) the Map is skipped: on to the verification.
    let any = state(&d, "AnyLargeCopies?");
    assert_eq!(any["Choices"][0]["Variable"], "$.large.count");
    assert_eq!(any["Default"], "VerifySnapshot");
    let states = all_states(&d);
    // No Catch outside the large-copy Map: a step failing for good fails the execution at that
    // Task, where a redrive resumes. Outside the Map the only Fail state is polling running out,
    // when no Task failed.
    let in_map = large_copy_states();
    for (name, s) in states.iter().filter(|(n, _)| !in_map.contains(n)) {
        assert!(s.get("Catch").is_none(), "{name} has a Catch");
        assert!(
            name == LARGE_COPY_MAP || !matches!(s["Type"].as_str(), Some("Map" | "Parallel")),
            "{name}: the child is one chain but for the large-copy Map"
        );
    }
    // A set: the order of nested states depends on serde_json's map (preserve_order or not).
    let fails: BTreeSet<&str> = states
        .iter()
        .filter(|(_, s)| s["Type"] == "Fail")
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(
        fails,
        BTreeSet::from(["JobPollingExhausted", "LargeCopyFailed"])
    );
    let fail = state(&d, "JobPollingExhausted");
    assert_eq!(fail["Error"], "JobPollingExhausted");
    assert!(
        fail["Comment"]
            .as_str()
            .is_some_and(|c| c.contains("no Task failed")),
        "{fail}"
    );
    let choice = state(&d, "JobFinished?");
    assert_eq!(choice["Default"], "WaitForJob");
    assert_eq!(choice["Choices"][1]["Next"], "PollingExhausted");
    assert_eq!(state(&d, "PollingExhausted")["Next"], "JobPollingExhausted");
    assert_eq!(state(&d, "WaitForJob")["Next"], "CountPoll");
    assert_eq!(state(&d, "CountPoll")["Next"], "AwaitJob");
    // Its output on success is the per-source result.
    let done = &state(&d, "SourceDone")["Parameters"];
    for field in [
        "source_bucket",
        "backup_date",
        "outcome",
        "snapshot_bucket",
        "job_id",
        "audit",
        "verification",
        "notification",
    ] {
        assert!(
            done.get(format!("{field}.$")).is_some(),
            "SourceDone has no {field}: {done}"
        );
    }
    // Which function each Task invokes.
    let steps: Vec<(String, String)> = source_tasks()
        .into_iter()
        .map(|(n, _, step)| (n, step))
        .collect();
    for (task, step) in [
        ("LocateManifest", "locate-manifest"),
        ("CreateBucket", "create-bucket"),
        ("SubmitJob", "submit-job"),
        ("AwaitJob", "await-job"),
        ("AuditReport", "audit-report"),
        ("ListLargeCopies", "list-large-copies"),
        ("PlanLargeCopy", "plan-large-copy"),
        ("CopyParts", "copy-parts"),
        ("CompleteLargeCopy", "complete-large-copy"),
        ("AbortUncopiable", "complete-large-copy"),
        ("AbortBeforeFailing", "complete-large-copy"),
        ("AuditLargeCopies", "audit-report"),
        ("VerifySnapshot", "verify-snapshot"),
        ("CatalogSnapshot", "catalog-snapshot"),
        ("NotifyOutcome", "notify"),
    ] {
        assert!(
            steps.contains(&(task.to_owned(), step.to_owned())),
            "{task} → {step}: {steps:?}"
        );
    }
}

/// The errorTypes that say the object cannot be copied as it is: recorded as a failed item (the
/// snapshot stays incomplete), not a failure of the execution — no redrive would change them.
const UNCOPIABLE: [&str; 4] = [
    "SourceNotFound",
    "SourceNotCopyable",
    "SourceChanged",
    "CopyMismatch",
];

#[test]
fn the_large_copy_map_aborts_its_upload_before_an_item_fails() {
    let d = source_definition();
    let map = state(&d, LARGE_COPY_MAP);
    assert_eq!(map["Type"], "Map");
    assert_eq!(map["ItemProcessor"]["ProcessorConfig"]["Mode"], "INLINE");
    assert_eq!(map["ItemsPath"], "$.large.items");
    assert_eq!(map["ResultPath"], "$.large_copies");
    assert!(
        map["MaxConcurrency"]
            .as_u64()
            .is_some_and(|c| (1..=8).contains(&c)),
        "{map}"
    );
    assert_eq!(map["ItemProcessor"]["StartAt"], "PlanLargeCopy");
    assert_eq!(map["Next"], "AuditLargeCopies");
    // The chain: plan, copy until done, complete.
    assert_eq!(state(&d, "PlanLargeCopy")["Parameters"]["Payload.$"], "$");
    assert_eq!(state(&d, "PlanLargeCopy")["Next"], "StartCopyParts");
    assert_eq!(state(&d, "StartCopyParts")["Next"], "CopyParts");
    assert_eq!(
        state(&d, "CopyParts")["Parameters"]["Payload.$"],
        "States.JsonMerge($.copy.plan, $.copy.progress, false)"
    );
    assert_eq!(state(&d, "CopyParts")["ResultPath"], "$.copy.progress");
    let done = state(&d, "PartsCopied?");
    assert_eq!(
        done["Choices"][0]["Variable"],
        "$.copy.progress.cursor.done"
    );
    assert_eq!(done["Choices"][0]["Next"], "CompleteLargeCopy");
    assert_eq!(done["Default"], "CopyParts");
    let complete = state(&d, "CompleteLargeCopy");
    assert_eq!(complete["Parameters"]["Payload.$"], "$.copy.plan");
    assert_eq!(complete["End"], true);
    assert_eq!(complete["OutputPath"], "$.copy.result");
    // Every failure of the three steps is caught after its retries, and aborts the upload:
    // what the data decides is recorded, anything else fails the item (and the Map).
    for task in ["PlanLargeCopy", "CopyParts", "CompleteLargeCopy"] {
        let s = state(&d, task);
        let emitted = error_types_of(&step_of(&s).unwrap()).unwrap();
        let catches = s["Catch"].as_array().expect("catches");
        for c in catches {
            assert_eq!(c["ResultPath"], "$.failure", "{task}: {c}");
            let names = error_names(&json!([c]));
            let next = c["Next"].as_str().unwrap();
            if names.iter().all(|n| UNCOPIABLE.contains(&n.as_str())) {
                assert_eq!(next, "AbortUncopiable", "{task}: {c}");
            } else {
                assert_eq!(next, "AbortBeforeFailing", "{task}: {c}");
                assert!(
                    !names.iter().any(|n| UNCOPIABLE.contains(&n.as_str())),
                    "{task}: {c}"
                );
            }
        }
        assert_eq!(
            error_names(&s["Catch"]).last().map(String::as_str),
            Some("States.ALL"),
            "{task}"
        );
        for e in emitted.iter().filter(|e| UNCOPIABLE.contains(&e.as_str())) {
            let c = catches
                .iter()
                .find(|c| error_names(&json!([c])).contains(e))
                .unwrap_or_else(|| panic!("{task}: {e} not caught"));
            assert_eq!(c["Next"], "AbortUncopiable", "{task}: {e}");
        }
    }
    // The aborts name the item: every upload of the key is aborted, whether or not the plan
    // answered; an abort that fails still records or fails the item.
    for (abort, then) in [
        ("AbortUncopiable", "RecordUncopiable"),
        ("AbortBeforeFailing", "DescribeLargeCopyFailure"),
    ] {
        let s = state(&d, abort);
        assert_eq!(step_of(&s).as_deref(), Some("complete-large-copy"));
        assert_eq!(
            s["Parameters"]["Payload"],
            json!({"source_bucket.$": "$.source_bucket", "key.$": "$.key",
                   "snapshot_bucket.$": "$.snapshot_bucket", "abort": true})
        );
        assert_ne!(s["ResultPath"], "$.failure", "{abort} keeps the failure");
        assert_eq!(s["Next"], then);
        for c in s["Catch"].as_array().unwrap() {
            assert_eq!(c["Next"], then, "{abort}: {c}");
            assert_ne!(c["ResultPath"], "$.failure", "{abort} keeps the failure");
        }
    }
    let record = state(&d, "RecordUncopiable");
    assert_eq!(record["End"], true);
    assert_eq!(record["Parameters"]["outcome"], "failed");
    assert_eq!(record["Parameters"]["error.$"], "$.failure.Error");
    assert_eq!(
        state(&d, "DescribeLargeCopyFailure")["Next"],
        "LargeCopyFailed"
    );
    let fail = state(&d, "LargeCopyFailed");
    assert_eq!(fail["Error"], "LargeCopyFailed");
    assert_eq!(fail["CausePath"], "$.failed.cause");
    // The second audit gets every item's result, and what the listing left out.
    let audit = state(&d, "AuditLargeCopies");
    assert_eq!(step_of(&audit).as_deref(), Some("audit-report"));
    assert_eq!(
        audit["Parameters"]["Payload"]["large_copies"],
        json!({"results.$": "$.large_copies", "truncated.$": "$.large.truncated",
               "not_listed.$": "$.large.not_listed"})
    );
    assert_eq!(audit["ResultPath"], "$.audit");
    assert_eq!(audit["Next"], "VerifySnapshot");
}

#[test]
fn the_parent_starts_one_child_per_source() {
    let d = definition();
    assert_eq!(
        main_line(&d, "InjectDefaults"),
        [
            "InjectDefaults",
            "ApplyDefaults",
            "AnySources?",
            "BackUpEachSource",
            "Summary",
            "FailureCause",
            "AnySourceFailed?",
            "SourcesFailed",
        ]
    );
    let map = state(&d, "BackUpEachSource");
    assert_eq!(map["Type"], "Map");
    assert_eq!(map["ItemProcessor"]["ProcessorConfig"]["Mode"], "INLINE");
    assert_eq!(map["MaxConcurrencyPath"], "$.settings.max_concurrency");
    assert_eq!(map["ItemProcessor"]["StartAt"], "BackUpSource");
    // Only Lambda Tasks in the parent besides the child Task: the failure notification.
    let lambda: Vec<String> = tasks_of(&d).into_iter().map(|(_, _, s)| s).collect();
    assert_eq!(lambda, ["notify"]);

    let task = state(&d, "BackUpSource");
    assert_eq!(task["Resource"], START_CHILD);
    let params = &task["Parameters"];
    assert_eq!(params["StateMachineArn"], "${BackupSourceStateMachineArn}");
    // A deterministic name, from this execution's name and the source: the same on every
    // attempt (a retried start finds the same child), valid whatever the bucket.
    let name = params["Name.$"].as_str().expect("Name.$");
    assert!(
        name.contains("$$.Execution.Name") && name.contains("$.source.source_bucket"),
        "{name}"
    );
    assert!(name.starts_with("States.Hash("), "{name}");
    assert_eq!(
        params["Input"],
        json!({"source.$": "$.source", "settings.$": "$.settings",
               "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID.$": "$$.Execution.Id"})
    );
    assert!(
        task["TimeoutSeconds"]
            .as_u64()
            .is_some_and(|t| t >= 24 * 3600),
        "the child may poll a day: {task}"
    );
    // Retried: starting failed for a passing reason; never a failed child (it is redriven).
    let retried = error_names(&task["Retry"]);
    assert!(!retried.is_empty());
    for e in &retried {
        assert!(e.starts_with("StepFunctions."), "BackUpSource retries {e}");
    }
    for e in [
        "StepFunctions.ExecutionLimitExceededException",
        "StepFunctions.SdkClientException",
        "StepFunctions.AWSStepFunctionsException",
    ] {
        assert!(retried.iter().any(|r| r == e), "{e} not retried");
    }
    // Every failure of the child Task is caught: the Map goes on with the other sources.
    assert_eq!(error_names(&task["Catch"]), ["States.ALL"]);
    assert_eq!(task["Catch"][0]["Next"], "ChildFailed?");
    assert_eq!(task["Catch"][0]["ResultPath"], "$.error");
    assert_eq!(task["Next"], "SourceSucceeded");
    // A failed child's cause is parsed; anything else keeps its own error at BackUpSource.
    let choice = state(&d, "ChildFailed?");
    assert_eq!(choice["Choices"][0]["Next"], "SourceFailed");
    assert_eq!(choice["Default"], "SourceNotStarted");
    assert_eq!(
        state(&d, "SourceFailed")["Parameters"]["child.$"],
        "States.StringToJson($.error.Cause)"
    );
    let notify = state(&d, "NotifySourceFailed");
    assert_eq!(notify["Parameters"]["Payload"]["failure.$"], "$.failure");
    for pass in ["DescribeSourceFailure", "SourceNotStarted"] {
        assert_eq!(state(&d, pass)["Next"], "NotifySourceFailed", "{pass}");
    }
    assert_eq!(
        state(&d, "DescribeSourceFailure")["Parameters"]["failure"],
        json!({"error.$": "$.child.Error", "cause.$": "$.child.Cause",
               "execution_arn.$": "$.child.ExecutionArn"})
    );
    assert_eq!(notify["Next"], "SourceFailedNotified");
    let caught: BTreeSet<&str> = notify["Catch"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["Next"].as_str().unwrap())
        .collect();
    assert_eq!(caught, BTreeSet::from(["SourceFailedUnannounced"]));
    // Each iteration ends with the source's result: outcome and child execution.
    for end in [
        "SourceSucceeded",
        "SourceFailedNotified",
        "SourceFailedUnannounced",
    ] {
        let s = state(&d, end);
        assert_eq!(s["End"], true, "{end}");
        assert_eq!(s["OutputPath"], "$.result", "{end}");
        let p = &s["Parameters"];
        if end == "SourceSucceeded" {
            assert_eq!(
                p["result.$"],
                "States.JsonMerge($.child.output, $.child.arn, false)"
            );
            continue;
        }
        let r = &p["result"];
        assert_eq!(r["outcome"], "failed", "{end}");
        for field in [
            "source_bucket",
            "backup_date",
            "failed_state",
            "error",
            "cause",
            "child_execution_arn",
        ] {
            assert!(r[format!("{field}.$")].is_string(), "{end}: no {field}");
        }
    }
    assert_eq!(map["ResultPath"], "$.results");
    // The run's cause: every source's outcome and child execution, as JSON.
    let cause = &state(&d, "Summary")["Parameters"]["sources"];
    assert_eq!(cause["outcomes.$"], "$.results[*].outcome");
    assert_eq!(
        cause["child_executions.$"],
        "$.results[*].child_execution_arn"
    );
    assert_eq!(
        state(&d, "FailureCause")["Parameters"]["cause.$"],
        "States.JsonToString($.sources)"
    );
    // The end: the alarm's failure when a source failed, else the results.
    let fail = state(&d, "SourcesFailed");
    assert_eq!(fail["Type"], "Fail");
    assert_eq!(fail["Error"], "SourcesFailed");
    assert_eq!(fail["CausePath"], "$.cause");
    let choice = state(&d, "AnySourceFailed?");
    assert_eq!(choice["Default"], "BackupsDone");
    let done = state(&d, "BackupsDone");
    assert_eq!(done["Type"], "Succeed");
    assert_eq!(done["OutputPath"], "$.output");
}

#[test]
fn the_prune_machine_loops_until_done_and_catches_nothing() {
    let d = prune_definition();
    assert_eq!(d["StartAt"], "InjectDefaults");
    assert_eq!(
        main_line(&d, "InjectDefaults"),
        [
            "InjectDefaults",
            "ApplyDefaults",
            "PruneSnapshots",
            "PruneDone?",
            "Pruned"
        ]
    );
    let defaults = &state(&d, "InjectDefaults")["Result"];
    assert_eq!(
        defaults,
        &json!({"sources": null, "dry_run": false, "cursor": null})
    );
    let task = state(&d, "PruneSnapshots");
    assert_eq!(step_of(&task).as_deref(), Some("prune-snapshots"));
    assert!(task.get("Catch").is_none());
    assert_eq!(task["Parameters"]["Payload"]["cursor.$"], "$.cursor");
    // Not done: the next invocation starts from the cursor.
    let choice = state(&d, "PruneDone?");
    assert_eq!(choice["Choices"][0]["Variable"], "$.pruned.done");
    assert_eq!(choice["Default"], "CarryOn");
    let carry = state(&d, "CarryOn");
    assert_eq!(carry["InputPath"], "$.pruned.cursor");
    assert_eq!(carry["ResultPath"], "$.cursor");
    assert_eq!(carry["Next"], "PruneSnapshots");
}

#[test]
fn every_placeholder_is_a_function_or_the_child() {
    // The deploy-time substitutions: the parent needs notify and the child machine; the child
    // the backup's steps.
    for (file, want) in [
        (
            "statemachine/backup.asl.json",
            &["BackupSourceStateMachineArn", "NotifyFunctionArn"][..],
        ),
        (
            BACKUP_SOURCE,
            &[
                "AuditReportFunctionArn",
                "AwaitJobFunctionArn",
                "CatalogSnapshotFunctionArn",
                "CompleteLargeCopyFunctionArn",
                "CopyPartsFunctionArn",
                "CreateBucketFunctionArn",
                "ListLargeCopiesFunctionArn",
                "LocateManifestFunctionArn",
                "NotifyFunctionArn",
                "PlanLargeCopyFunctionArn",
                "SubmitJobFunctionArn",
                "VerifySnapshotFunctionArn",
            ][..],
        ),
        (PRUNE, &["PruneSnapshotsFunctionArn"][..]),
    ] {
        let raw = std::fs::read_to_string(harness::workspace_root().join(file)).unwrap();
        let found: BTreeSet<&str> = raw
            .split("${")
            .skip(1)
            .filter_map(|s| s.split('}').next())
            .collect();
        assert_eq!(found, want.iter().copied().collect(), "{file}");
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
    pub(super) fn conforms(step: &str, kind: &str, value: &Value) {
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

mod prune_run {
    //! The prune machine on the local runner, prune-snapshots a canned answer (a node script
    //! that answers `done` from its second invocation on, echoing what it was given) or an
    //! injected error: the defaults, the cursor loop, the output, and a failure at the Task.

    use std::os::unix::fs::PermissionsExt;
    use std::time::Duration;

    use harness::Moto;
    use lakevault_local::lambda::{Fault, Invocation};
    use lakevault_local::stack::{self, RunOptions, RunOutcome, Stack, StackConfig};
    use serde_json::{Value, json};

    const STUB: &str = "#!/usr/bin/env node\nlet s='';process.stdin.on('data',c=>s+=c).on('end',()=>{\
        const p=JSON.parse(s);const done=p.cursor!==null;\
        console.log(JSON.stringify({done,cursor:done?null:{source:'lake-a',after:'2021-03-31'},\
        sources:1,snapshots:10,kept:4,held:1,expiring:5,lifecycle_put:5,deleted:3,extended:1,\
        object_versions_extended:27,plan:[],plan_not_listed:0}));});\n";

    struct World {
        _moto: Moto,
        stack: Stack,
        work: tempfile::TempDir,
    }

    async fn world() -> World {
        let work = tempfile::tempdir().unwrap();
        let bin = work.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let path = bin.join("prune-snapshots");
        std::fs::write(&path, STUB).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
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
        async fn run(&self, input: &Value) -> RunOutcome {
            let root = harness::workspace_root();
            stack::run_state_machine(
                &RunOptions {
                    runner_dir: root.join("local/sfn-runner"),
                    definition: root.join(super::PRUNE),
                    lambda_endpoint: self.stack.url.clone(),
                    wait_ms: 10,
                    retry_ms: 10,
                    events_file: self.work.path().join("events.json"),
                },
                input,
            )
            .await
            .expect("the runner runs")
        }

        fn invocations(&self) -> Vec<Invocation> {
            self.stack.lambda.invocations()
        }
    }

    fn input() -> Value {
        json!({"report": {"bucket": "lakevault-reports", "prefix": "reports"},
               "keep": {"keep_daily": 7, "keep_weekly": 5, "keep_monthly": 12, "keep_yearly": 3}})
    }

    #[tokio::test]
    async fn the_prune_loops_on_its_cursor_and_answers_the_last_summary() {
        let w = world().await;
        let out = w.run(&input()).await;
        let output = out.output.unwrap_or_else(|e| panic!("failed: {e}"));
        assert_eq!(output["done"], true);
        assert_eq!(output["deleted"], 3);
        let calls = w.invocations();
        assert_eq!(calls.len(), 2);
        // The defaults reach the step; the second invocation carries the first one's cursor.
        assert_eq!(
            calls[0].payload,
            json!({"report": input()["report"], "keep": input()["keep"],
                   "sources": null, "dry_run": false, "cursor": null})
        );
        assert_eq!(
            calls[1].payload["cursor"],
            json!({"source": "lake-a", "after": "2021-03-31"})
        );
        for c in &calls {
            super::restore_run::conforms("prune-snapshots", "input", &c.payload);
            super::restore_run::conforms("prune-snapshots", "output", &c.response);
        }
    }

    #[tokio::test]
    async fn a_bad_catalog_fails_the_execution_at_the_task_and_transient_is_retried() {
        let w = world().await;
        w.stack
            .lambda
            .add_fault(Fault {
                function: "prune-snapshots".into(),
                error_type: "Transient".into(),
                error_message: "Transient injected".into(),
                count: 2,
            })
            .unwrap();
        let out = w.run(&input()).await;
        assert!(out.output.is_ok(), "{:?}", out.output);
        assert_eq!(w.invocations().len(), 4, "two retried, then two answers");

        let w = world().await;
        w.stack
            .lambda
            .add_fault(Fault {
                function: "prune-snapshots".into(),
                error_type: "CatalogInvalid".into(),
                error_message: "CatalogInvalid injected".into(),
                count: 1,
            })
            .unwrap();
        let out = w.run(&input()).await;
        let err = out.output.expect_err("CatalogInvalid fails the execution");
        assert_eq!(err["error"], "CatalogInvalid", "{err}");
        // Not retried: one invocation, and the failure is the Task's (no Fail state).
        assert_eq!(w.invocations().len(), 1);
        let failed: Vec<&Value> = out
            .events
            .iter()
            .filter(|e| e["type"] == "StateFailed")
            .collect();
        assert_eq!(failed.last().unwrap()["state"]["name"], "PruneSnapshots");
    }
}

mod backup_run {
    //! The parent and the child on the local runner (aws-local-stepfunctions; run.mjs runs each
    //! child execution nested), every Lambda Task through the local Lambda endpoint, each step a
    //! canned answer (a script in place of its binary) or an injected error. What is checked is
    //! the definitions: the payloads they build (against the committed input schemas, and
    //! notify's parsed and turned into a message by its contract code), the parent's output and
    //! cause, the child execution names, and where each failure happens (the child's event log).

    use std::os::unix::fs::PermissionsExt;
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    use harness::Moto;
    use lakevault_local::lambda::{Fault, Invocation};
    use lakevault_local::stack::{self, Stack, StackConfig};
    use serde_json::{Value, json};

    const ARN_PREFIX: &str =
        "arn:aws:states:us-east-1:123456789012:execution:lakevault-backup-source:";

    fn audit_record(source: &str) -> Value {
        let empty = json!({"count": 0, "sample_keys": [], "error_codes": {}});
        json!({
            "source_bucket": source, "backup_date": "2021-03-31",
            "snapshot_bucket": format!("{source}-31-mar-2021"), "job_id": "job-1",
            "verdict": "complete", "job_status": "Complete", "report": null,
            "tasks": {"total": 27, "succeeded": 27, "failed": 0, "unparsed": 0},
            "failures": {"oversize": empty, "source_missing": empty, "access_denied": empty,
                         "transient": empty, "other": empty},
            "failure_classes": [], "oversize_manifest": null, "findings": [],
            "record": {"bucket": "lakevault-reports", "key": "reports/job-job-1/lakevault-audit.json"},
        })
    }

    fn verification() -> Value {
        json!({
            "snapshot_bucket": "lake-a-31-mar-2021", "backup_date": "2021-03-31",
            "verdict": "all_restorable",
            "tables": {"total": 1, "restorable": 1, "degraded": 0, "unrestorable": 0},
            "non_delta_objects": 4, "summary": "1 Delta table restorable as of 2021-03-31",
            "record": {"bucket": "lakevault-reports", "key": "reports/job-job-1/lakevault-tables.json"},
        })
    }

    fn job_status(status: &str, finished: bool) -> Value {
        json!({"job_id": "job-1", "status": status, "finished": finished, "total_tasks": 27,
               "succeeded_tasks": 27, "failed_tasks": 0, "elapsed_active_seconds": 4,
               "failure_reasons": []})
    }

    fn manifest() -> Value {
        let key = "inventory/lake-a/daily/2021-04-02T01-00Z/manifest.json";
        json!({"bucket": "lakevault-inventory", "key": key,
               "arn": format!("arn:aws:s3:::lakevault-inventory/{key}"),
               "etag": "9b2cf535f27731c974343645a3985328"})
    }

    /// Two sources: `lake-a` (no date: the newest inventory decides) and `lake-b`; one at a time,
    /// so an injected error (the next invocation of a function) hits lake-a.
    fn run_input(extra_settings: Value) -> Value {
        let mut settings = json!({
            "account_id": "123456789012",
            "inventory": {"bucket": "lakevault-inventory", "prefix": "inventory", "configuration_id": "daily"},
            "role_arn": "arn:aws:iam::123456789012:role/lakevault-batch",
            "report": {"bucket": "lakevault-reports", "prefix": "reports"},
            "topic_arn": "arn:aws:sns:us-east-1:123456789012:lakevault-backups",
            "break_glass_role_arns": ["arn:aws:iam::123456789012:role/break-glass"],
            "poll_seconds": 1, "max_concurrency": 1
        });
        if let (Some(s), Some(e)) = (settings.as_object_mut(), extra_settings.as_object()) {
            s.extend(e.clone());
        }
        json!({"sources": [{"source_bucket": "lake-a"},
                           {"source_bucket": "lake-b", "backup_date": "2021-03-31"}],
               "settings": settings})
    }

    fn write_script(dir: &Path, step: &str, script: &str) {
        let path = dir.join(step);
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// A script that reads its event and prints `answer`.
    fn write_stub(dir: &Path, step: &str, answer: &Value) {
        write_script(
            dir,
            step,
            &format!("#!/bin/sh\ncat >/dev/null\nprintf '%s\\n' '{answer}'\n"),
        );
    }

    struct World {
        _moto: Moto,
        stack: Stack,
        work: tempfile::TempDir,
    }

    /// The stubs (await-job answering `job`), and the stack.
    async fn world(job: Value) -> World {
        let work = tempfile::tempdir().unwrap();
        let bin = work.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        write_stub(
            &bin,
            "locate-manifest",
            &json!({"source_bucket": "lake-a", "backup_date": "2021-03-31",
                    "delivery_date": "2021-04-02", "manifest": manifest(),
                    "scan_started_at": "2021-04-02T01:00:00Z", "file_schema": ["Bucket", "Key", "Size"],
                    "data_file_count": 1, "data_total_bytes": 100}),
        );
        write_stub(
            &bin,
            "create-bucket",
            &json!({"bucket": "lake-a-31-mar-2021", "arn": "arn:aws:s3:::lake-a-31-mar-2021",
                    "region": "us-east-1", "created": true, "changed": [], "settings": {}}),
        );
        write_stub(
            &bin,
            "submit-job",
            &json!({"job_id": "job-1", "created": true}),
        );
        write_stub(&bin, "await-job", &job);
        write_stub(&bin, "audit-report", &audit_record("lake-a"));
        write_stub(&bin, "verify-snapshot", &verification());
        write_stub(
            &bin,
            "list-large-copies",
            &json!({"items": [], "count": 0, "objects": 0, "truncated": false, "not_listed": 0}),
        );
        write_stub(
            &bin,
            "catalog-snapshot",
            &json!({"entry": {"bucket": "lakevault-reports",
                              "key": "reports/catalog/lake-a/2021-03-31.json"},
                    "written": true, "good": true, "objects": 27, "bytes": 1000,
                    "retain_until": "2021-05-05T00:00:00Z"}),
        );
        // notify answers as the real one does: the state it was given (or found), the date.
        write_script(
            &bin,
            "notify",
            "#!/usr/bin/env node\nlet s='';process.stdin.on('data',c=>s+=c).on('end',()=>{\
             const p=JSON.parse(s);console.log(JSON.stringify({message_id:'m-1',\
             outcome:p.failure?'failed':'complete',subject:'s',\
             failed_state:p.failure?.state??null,backup_date:p.backup_date??null}));});\n",
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

    /// What a run left: the output (or {error, cause}), the parent's events, each child's.
    struct Run {
        output: Result<Value, Value>,
        events: Vec<Value>,
        events_file: PathBuf,
    }

    impl Run {
        /// The child execution's event log, written beside the parent's.
        fn child_events(&self, execution_arn: &str) -> Vec<Value> {
            let name = execution_arn
                .strip_prefix(ARN_PREFIX)
                .unwrap_or_else(|| panic!("{execution_arn} is not a child execution"));
            let path = format!("{}.{name}.json", self.events_file.display());
            serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
                .unwrap()
        }

        /// Each source's result, as the Map handed them on (in the parent's history: what
        /// `BackUpEachSource` exited with), whether the run succeeded or failed.
        fn results(&self) -> Vec<Value> {
            let exited = self
                .events
                .iter()
                .find(|e| e["type"] == "StateExited" && e["state"]["name"] == "BackUpEachSource")
                .expect("the Map exited");
            exited["state"]["output"]["results"]
                .as_array()
                .unwrap()
                .clone()
        }

        /// A failed run's results: its error is SourcesFailed, and its cause names each source's
        /// outcome and child execution, as the results do.
        fn failed_results(&self) -> Vec<Value> {
            let err = self.output.as_ref().expect_err("the parent failed");
            assert_eq!(err["error"], "SourcesFailed", "{err}");
            let cause: Value = serde_json::from_str(err["cause"].as_str().unwrap())
                .unwrap_or_else(|e| panic!("the cause is JSON: {e}: {err}"));
            let results = self.results();
            let field = |r: &Value, k: &str| r[k].clone();
            for (key, field_name) in [
                ("outcomes", "outcome"),
                ("source_buckets", "source_bucket"),
                ("child_executions", "child_execution_arn"),
            ] {
                let want: Vec<Value> = results.iter().map(|r| field(r, field_name)).collect();
                // A one-match projection is a list on AWS and here, a scalar on moto.
                assert_eq!(cause[key], Value::Array(want), "{key}: {cause}");
            }
            results
        }
    }

    impl World {
        async fn run(&self, input: &Value, name: &str, extra: &[&str]) -> Run {
            let root = harness::workspace_root();
            let runner = root.join("local/sfn-runner");
            assert!(
                runner.join("node_modules/aws-local-stepfunctions").exists(),
                "the runner is not installed: run `make node` (make test does)"
            );
            let input_file = self.work.path().join(format!("{name}.input.json"));
            std::fs::write(&input_file, input.to_string()).unwrap();
            let events_file = self.work.path().join(format!("{name}.events.json"));
            let out = tokio::process::Command::new("node")
                .arg(runner.join("run.mjs"))
                .arg("--definition")
                .arg(root.join("statemachine/backup.asl.json"))
                .arg("--input")
                .arg(&input_file)
                .args(["--lambda-endpoint", &self.stack.url])
                .args(["--wait-ms", "10", "--retry-ms", "10", "--name", name])
                .arg("--events")
                .arg(&events_file)
                .args(extra)
                .output()
                .await
                .expect("node runs");
            let stdout = String::from_utf8_lossy(&out.stdout);
            let last: Value = stdout
                .lines()
                .last()
                .and_then(|l| serde_json::from_str(l).ok())
                .unwrap_or_else(|| {
                    panic!(
                        "the runner printed no JSON: {stdout}{}",
                        String::from_utf8_lossy(&out.stderr)
                    )
                });
            let output = match out.status.code() {
                Some(0) => Ok(last),
                Some(1) => Err(last),
                other => panic!("the runner exited {other:?}: {last}"),
            };
            let events = serde_json::from_slice(&std::fs::read(&events_file).unwrap()).unwrap();
            self.check_payloads();
            Run {
                output,
                events,
                events_file,
            }
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

        /// Every payload conforms to its step's committed input schema; notify's builds its
        /// message.
        fn check_payloads(&self) {
            for inv in self.stack.lambda.invocations() {
                super::restore_run::conforms(&inv.function, "input", &inv.payload);
                if inv.function == "notify" {
                    let input: notify::NotifyInput =
                        serde_json::from_value(inv.payload.clone()).unwrap();
                    notify::message_for(&input).unwrap_or_else(|e| panic!("{e}: {}", inv.payload));
                }
            }
        }
    }

    /// The names of the states entered, in order.
    fn entered(events: &[Value]) -> Vec<String> {
        events
            .iter()
            .filter(|e| e["type"] == "StateEntered")
            .filter_map(|e| e["state"]["name"].as_str().map(str::to_owned))
            .collect()
    }

    /// The child failed at `task`: its last failing state is that Task, then the execution
    /// failed with `error`; no Fail state was entered.
    fn assert_failed_at_task(events: &[Value], task: &str, error: &str) {
        let last = events.last().expect("events");
        assert_eq!(last["type"], "ExecutionFailed", "{last}");
        assert_eq!(last["Error"], error, "{last}");
        let failed: Vec<&Value> = events
            .iter()
            .filter(|e| e["type"] == "StateFailed")
            .collect();
        let at = failed.last().expect("a state failed");
        assert_eq!(at["state"]["name"], task, "{at}");
        assert_eq!(at["state"]["type"], "Task", "{at}");
        assert_eq!(at["Error"], error, "{at}");
        assert!(
            !events
                .iter()
                .any(|e| e["type"] == "StateEntered" && e["state"]["type"] == "Fail"),
            "a Fail state was entered"
        );
    }

    fn md5_hex(text: &str) -> String {
        let out = std::process::Command::new("node")
            .args([
                "-e",
                "process.stdout.write(require('crypto').createHash('md5').update(process.argv[1]).digest('hex'))",
                text,
            ])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    }

    #[tokio::test]
    async fn each_source_backs_up_in_its_own_child_execution() {
        let w = world(job_status("Complete", true)).await;
        let run = w.run(&run_input(json!({})), "nightly", &[]).await;
        let output = run.output.clone().unwrap_or_else(|e| panic!("failed: {e}"));
        let results = output["results"].as_array().unwrap();
        assert_eq!(output.as_object().unwrap().len(), 1, "{output}");
        assert_eq!(results.len(), 2);
        for (r, source) in results.iter().zip(["lake-a", "lake-b"]) {
            assert_eq!(r["source_bucket"], source);
            assert_eq!(r["outcome"], "complete");
            assert_eq!(r["backup_date"], "2021-03-31");
            assert_eq!(r["snapshot_bucket"], "lake-a-31-mar-2021");
            assert_eq!(r["job_id"], "job-1");
            assert_eq!(r["audit"]["verdict"], "complete");
            assert_eq!(r["verification"]["verdict"], "all_restorable");
            assert_eq!(r["notification"]["message_id"], "m-1");
            // The child's name: MD5 of "<parent's name>/<source>", valid and the same on every
            // attempt.
            let arn = r["child_execution_arn"].as_str().unwrap();
            assert_eq!(
                arn,
                format!("{ARN_PREFIX}{}", md5_hex(&format!("nightly/{source}")))
            );
            let child = run.child_events(arn);
            assert_eq!(
                entered(&child),
                [
                    "LocateManifest",
                    "RememberBackupDate",
                    "CreateBucket",
                    "SubmitJob",
                    "StartPolling",
                    "AwaitJob",
                    "JobFinished?",
                    "AuditReport",
                    "ListLargeCopies",
                    "AnyLargeCopies?",
                    "VerifySnapshot",
                    "CatalogSnapshot",
                    "NotifyOutcome",
                    "SourceDone",
                ]
            );
            let started = &child[0];
            assert_eq!(started["type"], "ExecutionStarted");
            // The child's input: the source with its defaults, the settings, and its parent.
            assert_eq!(started["input"]["source"]["source_bucket"], source);
            assert_eq!(started["input"]["source"]["lag_days"], 2);
            assert_eq!(started["input"]["settings"]["max_polls"], 1440);
            assert_eq!(
                started["input"]["AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID"],
                "arn:aws:states:us-east-1:123456789012:execution:lakevault-backup:nightly"
            );
            // Its output is the result, without the ARN the parent adds.
            let done = child.last().unwrap();
            assert_eq!(done["type"], "ExecutionSucceeded");
            let mut without = r.clone();
            without
                .as_object_mut()
                .unwrap()
                .remove("child_execution_arn");
            assert_eq!(done["output"], without);
        }
        // The parent: each source's child Task, then the summary and success.
        let parent = entered(&run.events);
        assert_eq!(
            parent.iter().filter(|s| *s == "BackUpSource").count(),
            2,
            "{parent:?}"
        );
        assert!(
            parent.ends_with(&[
                "Summary".into(),
                "FailureCause".into(),
                "AnySourceFailed?".into(),
                "BackupsDone".into()
            ]),
            "{parent:?}"
        );
        // The payloads: lake-a's date is the located one.
        let notes = w.invocations("notify");
        assert_eq!(notes.len(), 2);
        for n in &notes {
            assert_eq!(n.payload["backup_date"], "2021-03-31");
            assert!(n.payload.get("failure").is_none());
        }
        // Another parent execution's children have other names; the same one's the same.
        let again = w.run(&run_input(json!({})), "nightly-2", &[]).await;
        let arns = |o: &Value| -> Vec<String> {
            o["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["child_execution_arn"].as_str().unwrap().to_owned())
                .collect()
        };
        let first = arns(&output);
        let second = arns(again.output.as_ref().unwrap());
        assert!(
            first.iter().all(|a| !second.contains(a)),
            "{first:?} {second:?}"
        );
    }

    #[tokio::test]
    async fn a_step_failing_for_good_fails_its_child_at_that_task_and_the_parent_goes_on() {
        for (function, error, task) in [
            ("locate-manifest", "ManifestInvalid", "LocateManifest"),
            ("create-bucket", "BucketConflict", "CreateBucket"),
            ("submit-job", "JobConflict", "SubmitJob"),
            ("await-job", "JobSuspended", "AwaitJob"),
            ("audit-report", "ReportInvalid", "AuditReport"),
            ("verify-snapshot", "StoreError", "VerifySnapshot"),
            ("notify", "TopicNotFound", "NotifyOutcome"),
        ] {
            let w = world(job_status("Complete", true)).await;
            w.fault(function, error);
            let run = w.run(&run_input(json!({})), "nightly", &[]).await;
            let results = run.failed_results();
            assert_eq!(results.len(), 2, "{function}: {results:?}");
            let (a, b) = (&results[0], &results[1]);
            assert_eq!(a["source_bucket"], "lake-a");
            assert_eq!(a["outcome"], "failed", "{function}: {a}");
            assert_eq!(a["error"], error, "{function}: {a}");
            let arn = a["child_execution_arn"].as_str().unwrap();
            assert!(arn.starts_with(ARN_PREFIX), "{arn}");
            // The other source went on and completed, in its own child.
            assert_eq!(b["source_bucket"], "lake-b");
            assert_eq!(b["outcome"], "complete", "{function}: {b}");
            let b_events = run.child_events(b["child_execution_arn"].as_str().unwrap());
            assert_eq!(b_events.last().unwrap()["type"], "ExecutionSucceeded");
            // lake-a's child failed at the Task, so a redrive resumes there.
            let a_events = run.child_events(arn);
            assert_failed_at_task(&a_events, task, error);
            assert_eq!(entered(&a_events).last().map(String::as_str), Some(task));
            // The parent announced it: the child's error and cause, and its execution (notify
            // reads the failed state from its history).
            let failure = w
                .invocations("notify")
                .into_iter()
                .find(|i| i.payload.get("failure").is_some())
                .unwrap_or_else(|| panic!("{function}: no failure notification"));
            let f = &failure.payload["failure"];
            assert_eq!(failure.payload["source_bucket"], "lake-a");
            assert_eq!(f["error"], error, "{f}");
            assert_eq!(f["execution_arn"], arn, "{f}");
            assert!(f.get("state").is_none(), "{f}");
            assert!(
                f["cause"].as_str().unwrap().contains("injected"),
                "{function}: {f}"
            );
            // lake-a has no date (the newest inventory decides): the parent does not know it.
            assert_eq!(failure.payload["backup_date"], Value::Null);
            let parent = entered(&run.events);
            for s in [
                "ChildFailed?",
                "SourceFailed",
                "DescribeSourceFailure",
                "NotifySourceFailed",
                "SourceFailedNotified",
                "SourcesFailed",
            ] {
                assert!(
                    parent.iter().any(|p| p == s),
                    "{function}: {s} not in {parent:?}"
                );
            }
        }
    }

    #[tokio::test]
    async fn polling_running_out_fails_the_child_in_its_fail_state() {
        let w = world(job_status("Active", false)).await;
        let run = w
            .run(&run_input(json!({"max_polls": 2})), "nightly", &[])
            .await;
        let results = run.failed_results();
        for r in &results {
            assert_eq!(r["outcome"], "failed", "{r}");
            assert_eq!(r["error"], "JobPollingExhausted", "{r}");
            let events = run.child_events(r["child_execution_arn"].as_str().unwrap());
            let last = events.last().unwrap();
            assert_eq!(last["type"], "ExecutionFailed");
            assert_eq!(last["Error"], "JobPollingExhausted");
            assert!(
                last["Cause"]
                    .as_str()
                    .unwrap()
                    .contains("job job-1 still Active after 2 polls"),
                "{last}"
            );
            let states = entered(&events);
            assert_eq!(
                states.iter().filter(|s| *s == "AwaitJob").count(),
                3,
                "{states:?}"
            );
            assert!(states.ends_with(&["PollingExhausted".into(), "JobPollingExhausted".into()]));
        }
        assert_eq!(w.invocations("audit-report").len(), 0);
    }

    #[tokio::test]
    async fn a_failed_announcement_or_a_child_that_cannot_start_never_stops_the_others() {
        // lake-a's child fails and so does its announcement: lake-b still completes.
        let w = world(job_status("Complete", true)).await;
        w.fault("locate-manifest", "ManifestInvalid");
        w.fault("notify", "TopicNotFound");
        let run = w.run(&run_input(json!({})), "nightly", &[]).await;
        let results = run.failed_results();
        assert_eq!(results[0]["outcome"], "failed");
        assert_eq!(results[0]["error"], "ManifestInvalid");
        assert_eq!(results[1]["outcome"], "complete", "{results:?}");
        assert!(
            entered(&run.events)
                .iter()
                .any(|s| s == "SourceFailedUnannounced")
        );

        // No child could start (its definition is missing): each source fails at BackUpSource
        // with the start's own error, announced, and the run ends in SourcesFailed.
        let w = world(job_status("Complete", true)).await;
        let missing = w.work.path().join("missing.asl.json");
        let child = format!("backup-source={}", missing.display());
        let run = w
            .run(&run_input(json!({})), "nightly", &["--child", &child])
            .await;
        let results = run.failed_results();
        assert_eq!(results.len(), 2);
        for r in &results {
            assert_eq!(r["outcome"], "failed", "{r}");
            assert_eq!(r["failed_state"], "BackUpSource", "{r}");
            assert_eq!(r["child_execution_arn"], Value::Null, "{r}");
        }
        let notes = w.invocations("notify");
        assert_eq!(notes.len(), 2);
        for n in &notes {
            assert_eq!(
                n.payload["failure"]["state"], "BackUpSource",
                "{}",
                n.payload
            );
        }
        assert!(entered(&run.events).iter().any(|s| s == "SourceNotStarted"));

        // No sources: nothing to do, and a success.
        let w = world(job_status("Complete", true)).await;
        let mut input = run_input(json!({}));
        input["sources"] = json!([]);
        let run = w.run(&input, "nightly", &[]).await;
        assert_eq!(run.output.unwrap(), json!({"results": []}));
    }

    /// Node scripts in place of the large-copy steps (and an audit that sees objects over
    /// 5 GiB): each answers from its event, as the real step's contract says.
    const LARGE_COPY_STUBS: [(&str, &str); 5] = [
        (
            "audit-report",
            r#"const empty={count:0,sample_keys:[],error_codes:{}};
const lc=p.large_copies;const copied=lc?lc.results.filter(r=>r.outcome==='copied').length:0;
const verdict=lc&&copied===2&&!lc.truncated?'complete':'incomplete';
out({source_bucket:p.source_bucket,backup_date:p.backup_date,snapshot_bucket:p.snapshot_bucket,
job_id:p.job_id,verdict,job_status:'Complete',report:null,
tasks:{total:29,succeeded:27,failed:2,unparsed:0},
failures:{oversize:{count:2,sample_keys:['big/a.parquet','big/b c.parquet'],error_codes:{InvalidRequest:2}},
source_missing:empty,access_denied:empty,transient:empty,other:empty},
failure_classes:['oversize'],findings:['2 task(s) failed as oversize'],
oversize_manifest:{bucket:'lakevault-reports',key:'reports/job-job-1/lakevault-oversize.csv',
arn:'arn:aws:s3:::lakevault-reports/reports/job-job-1/lakevault-oversize.csv',
etag:'9b2cf535f27731c974343645a3985328',objects:2},
record:{bucket:'lakevault-reports',key:'reports/job-job-1/lakevault-audit.json'}});"#,
        ),
        (
            "list-large-copies",
            r#"const item=k=>({source_bucket:p.source_bucket,key:k,snapshot_bucket:p.snapshot_bucket,
storage_class:p.storage_class});
out({items:[item('big/a.parquet'),item('big/b c.parquet')],count:2,objects:2,truncated:false,not_listed:0});"#,
        ),
        (
            "plan-large-copy",
            r#"out({source_bucket:p.source_bucket,key:p.key,version_id:null,snapshot_bucket:p.snapshot_bucket,
upload_id:'up-'+p.key,created:true,already_copied:false,size:12582912,part_size:5242880,parts:3,
source_etag:'9b2cf535f27731c974343645a3985328',source_checksum:null,checksum_algorithm:null,aborted_uploads:0});"#,
        ),
        (
            "copy-parts",
            r#"const n=(p.cursor?p.cursor.invocation:0)+1;const done=n>=2;
out({done,parts_done:done?3:2,parts_total:3,bytes_done:done?12582912:10485760,copied_now:done?1:2,
invocation:n,elapsed_ms:5});"#,
        ),
        (
            "complete-large-copy",
            r#"const base={source_bucket:p.source_bucket,key:p.key,version_id:null,snapshot_bucket:p.snapshot_bucket};
out(p.abort?{outcome:'aborted',...base,size:0,parts:0,copy_etag:null,copy_version_id:null,
checksum_check:null,aborted_uploads:1}:{outcome:'copied',...base,size:p.size,parts:p.parts,
copy_etag:'5f1c0e3c4d2a9b8e7f6a5b4c3d2e1f00-3',copy_version_id:'v-1',checksum_check:'none',aborted_uploads:0});"#,
        ),
    ];

    /// The stubs, with the large-copy ones in place.
    async fn large_copy_world() -> World {
        let w = world(job_status("Complete", true)).await;
        let bin = w.work.path().join("bin");
        for (step, body) in LARGE_COPY_STUBS {
            write_script(
                &bin,
                step,
                &format!(
                    "#!/usr/bin/env node\nlet s='';process.stdin.on('data',c=>s+=c).on('end',()=>{{\
                     const p=JSON.parse(s);const out=v=>console.log(JSON.stringify(v));\n{body}\n}});\n"
                ),
            );
        }
        w
    }

    /// The second audits' `large_copies` (one per source, in order).
    fn second_audits(w: &World) -> Vec<Value> {
        w.invocations("audit-report")
            .into_iter()
            .filter_map(|i| i.payload.get("large_copies").cloned())
            .collect()
    }

    #[tokio::test]
    async fn objects_over_5_gib_are_copied_in_parts_then_audited_again() {
        let w = large_copy_world().await;
        let run = w.run(&run_input(json!({})), "large", &[]).await;
        let output = run.output.clone().unwrap_or_else(|e| panic!("failed: {e}"));
        for r in output["results"].as_array().unwrap() {
            assert_eq!(r["outcome"], "complete", "{r}");
            assert_eq!(r["audit"]["verdict"], "complete", "{r}");
            let child = run.child_events(r["child_execution_arn"].as_str().unwrap());
            let states = entered(&child);
            for s in ["CopyLargeObjects", "AuditLargeCopies"] {
                assert!(states.iter().any(|e| e == s), "{s} not entered: {states:?}");
            }
        }
        // Two sources, two objects each: one plan and one completion per object, the parts in
        // two invocations (the loop), no abort.
        assert_eq!(w.invocations("list-large-copies").len(), 2);
        assert_eq!(w.invocations("plan-large-copy").len(), 4);
        assert_eq!(w.invocations("copy-parts").len(), 8);
        let completes = w.invocations("complete-large-copy");
        assert_eq!(completes.len(), 4);
        assert!(completes.iter().all(|c| c.payload.get("abort").is_none()));
        // copy-parts gets the plan, then the plan with its previous answer as the cursor.
        for c in w.invocations("copy-parts") {
            assert_eq!(c.payload["parts"], 3, "{}", c.payload);
            if let Some(cursor) = c.payload.get("cursor") {
                assert_eq!(cursor["invocation"], 1, "{}", c.payload);
            }
        }
        // The list step is given the audit's manifest and the snapshot's settings.
        let list = &w.invocations("list-large-copies")[0].payload;
        assert_eq!(list["oversize_manifest"]["objects"], 2);
        assert_eq!(list["snapshot_bucket"], "lake-a-31-mar-2021");
        let audits = second_audits(&w);
        assert_eq!(audits.len(), 2);
        for lc in &audits {
            assert_eq!(lc["truncated"], false);
            assert_eq!(lc["not_listed"], 0);
            let mut keys: Vec<&str> = lc["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    assert_eq!(r["outcome"], "copied", "{r}");
                    r["key"].as_str().unwrap()
                })
                .collect();
            keys.sort_unstable();
            assert_eq!(keys, ["big/a.parquet", "big/b c.parquet"]);
        }
    }

    #[tokio::test]
    async fn an_object_that_changed_is_recorded_as_not_copied_after_its_upload_is_aborted() {
        let w = large_copy_world().await;
        w.fault("copy-parts", "SourceChanged");
        let run = w.run(&run_input(json!({})), "changed", &[]).await;
        let output = run.output.clone().unwrap_or_else(|e| panic!("failed: {e}"));
        let results = output["results"].as_array().unwrap();
        // The source whose object changed is backed up, incomplete; the other complete.
        assert_eq!(results[0]["outcome"], "incomplete", "{}", results[0]);
        assert_eq!(results[1]["outcome"], "complete", "{}", results[1]);
        let aborts: Vec<Value> = w
            .invocations("complete-large-copy")
            .into_iter()
            .filter(|c| c.payload.get("abort").is_some())
            .map(|c| c.payload)
            .collect();
        assert_eq!(aborts.len(), 1, "{aborts:?}");
        let failed_key = aborts[0]["key"].as_str().unwrap().to_owned();
        assert_eq!(aborts[0]["abort"], true);
        assert_eq!(aborts[0]["snapshot_bucket"], "lake-a-31-mar-2021");
        let audits = second_audits(&w);
        let first: Vec<&Value> = audits[0]["results"].as_array().unwrap().iter().collect();
        let failed: Vec<&&Value> = first.iter().filter(|r| r["outcome"] == "failed").collect();
        assert_eq!(failed.len(), 1, "{first:?}");
        assert_eq!(failed[0]["key"], failed_key.as_str());
        assert_eq!(failed[0]["error"], "SourceChanged");
        assert!(
            failed[0]["cause"]
                .as_str()
                .is_some_and(|c| c.contains("injected")),
            "{}",
            failed[0]
        );
        assert_eq!(first.len(), 2);
    }

    #[tokio::test]
    async fn any_other_failure_aborts_the_upload_and_fails_the_child_at_the_map() {
        let w = large_copy_world().await;
        w.fault("plan-large-copy", "AccessDenied");
        let run = w.run(&run_input(json!({})), "denied", &[]).await;
        let results = run.failed_results();
        assert_eq!(results[0]["outcome"], "failed", "{}", results[0]);
        assert_eq!(results[0]["error"], "LargeCopyFailed", "{}", results[0]);
        assert_eq!(results[1]["outcome"], "complete", "{}", results[1]);
        let child = run.child_events(results[0]["child_execution_arn"].as_str().unwrap());
        let last = child.last().unwrap();
        assert_eq!(last["type"], "ExecutionFailed", "{last}");
        assert_eq!(last["Error"], "LargeCopyFailed", "{last}");
        let cause = last["Cause"].as_str().unwrap_or_default();
        assert!(
            cause.starts_with("AccessDenied copying s3://lake-a/big/")
                && cause.contains("injected"),
            "{cause}"
        );
        // The upload aborted first; nothing after the Map ran for that source.
        let aborts = w
            .invocations("complete-large-copy")
            .into_iter()
            .filter(|c| c.payload.get("abort").is_some())
            .count();
        assert_eq!(aborts, 1);
        let states = entered(&child);
        assert!(
            states.iter().any(|s| s == "AbortBeforeFailing"),
            "{states:?}"
        );
        assert!(
            !states.iter().any(|s| s == "AuditLargeCopies"),
            "{states:?}"
        );
    }
}
