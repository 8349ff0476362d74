//! Checks of `statemachine/backup.asl.json` against the code:
//! * asl-validator (its JS API) accepts it;
//! * every `ErrorEquals` name of a Task is one its step can emit, or a `States.*`/`Lambda.*` name;
//! * every errorType a step can emit is routed explicitly (retried or caught by name) — the list
//!   of errorTypes comes from the steps' error enums, not from a hand-kept list;
//! * no retry for errors that retrying cannot fix; Transient and Lambda service errors retried.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::Value;

use crate::support::{all_states, definition};

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

fn tasks() -> Vec<(String, Value, String)> {
    all_states(&definition())
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

#[test]
fn asl_validator_accepts_the_definition() {
    let root = harness::workspace_root();
    let runner = root.join("local/sfn-runner");
    assert!(
        runner.join("node_modules/asl-validator").exists(),
        "asl-validator is not installed: run `make node` (make test does)"
    );
    let out = Command::new("node")
        .arg(runner.join("validate.mjs"))
        .arg(root.join("statemachine/backup.asl.json"))
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "asl-validator: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["isValid"], true, "{v}");
}

#[test]
fn every_task_has_a_timeout_and_uses_the_lambda_integration() {
    for (name, s, _) in tasks() {
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
    let registry: BTreeMap<&str, Vec<&str>> = workspace_tests::steps()
        .into_iter()
        .map(|s| (s.name, s.error_types))
        .collect();
    for (name, s, step) in tasks() {
        let emitted = registry
            .get(step.as_str())
            .unwrap_or_else(|| panic!("{name} invokes {step}, which is not a registered step"));
        for e in error_names(&s["Retry"])
            .into_iter()
            .chain(error_names(&s["Catch"]))
        {
            assert!(
                e.starts_with("States.")
                    || e.starts_with("Lambda.")
                    || emitted.contains(&e.as_str()),
                "{name} handles {e:?}, which {step} never emits (it emits {emitted:?})"
            );
        }
    }
}

#[test]
fn every_error_a_step_emits_is_routed_by_name() {
    let mut routed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (_, s, step) in tasks() {
        routed.entry(step).or_default().extend(
            error_names(&s["Retry"])
                .into_iter()
                .chain(error_names(&s["Catch"])),
        );
    }
    for step in workspace_tests::steps() {
        let names = routed
            .get(step.name)
            .unwrap_or_else(|| panic!("{} is never invoked by the state machine", step.name));
        for e in &step.error_types {
            assert!(
                names.contains(*e),
                "{}'s errorType {e} is not routed by name anywhere",
                step.name
            );
        }
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
    ];
    for (name, s, _) in tasks() {
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
        // Every Task but the failure notification itself catches everything, so one source's
        // failure never stops the others; the failure notification is left uncaught on purpose:
        // if even it fails, the execution fails and can be redriven.
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
    let states = all_states(&definition());
    let wait = states
        .iter()
        .find(|(_, s)| s["Type"] == "Wait")
        .expect("a Wait state");
    assert_eq!(wait.1["SecondsPath"], "$.settings.poll_seconds");
    let choice = states
        .iter()
        .find(|(n, _)| n == "JobFinished?")
        .expect("JobFinished? choice");
    assert!(choice.1.to_string().contains("$.settings.max_polls"));
}
