//! What several test modules read: the state machine definition and its states, the step packages.

use std::collections::BTreeSet;

use serde_json::Value;

/// `statemachine/backup.asl.json`, parsed.
pub(crate) fn definition() -> Value {
    let path = harness::workspace_root().join("statemachine/backup.asl.json");
    let raw = std::fs::read_to_string(&path).expect("statemachine/backup.asl.json exists");
    serde_json::from_str(&raw).expect("the definition is JSON")
}

/// Every state of a state machine (or of a Map's `ItemProcessor`), nested Map/Parallel states
/// included, in document order: (name, state).
pub(crate) fn all_states(machine: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    collect_states(machine, &mut out);
    out
}

fn collect_states(machine: &Value, out: &mut Vec<(String, Value)>) {
    let Some(states) = machine["States"].as_object() else {
        return;
    };
    for (name, state) in states {
        out.push((name.clone(), state.clone()));
        for key in ["ItemProcessor", "Iterator"] {
            if state.get(key).is_some() {
                collect_states(&state[key], out);
            }
        }
        for branch in state["Branches"].as_array().into_iter().flatten() {
            collect_states(branch, out);
        }
    }
}

/// The packages under steps/ that are workflow steps (everything but the shared kit).
pub(crate) fn step_packages() -> BTreeSet<String> {
    std::fs::read_dir(harness::workspace_root().join("steps"))
        .expect("steps/ exists")
        .map(|e| e.expect("readable steps/ entry").path())
        .filter(|p| p.join("Cargo.toml").exists())
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .filter(|n| n != "kit")
        .collect()
}
