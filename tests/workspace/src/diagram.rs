//! The state machine as a Mermaid flowchart, generated from its Amazon States Language
//! definition, so that the picture in the root README is the definition's and nothing else.
//!
//! Every state is a node (a Map or Parallel state is a subgraph holding its states), every
//! transition an edge: `Next`, a Choice's rules (labelled with their condition) and `Default`,
//! and `Catch` routes (dotted). The output is deterministic, so a test can compare it with the
//! README byte for byte and print the block to paste when they differ: states come in the order
//! a walk from `StartAt` meets them (a state's own transitions first, its `Catch` routes last),
//! never in the JSON object's order, which depends on the serde_json features a build unifies.
//!
//! Shapes: a Task is a rectangle, a Pass a rounded box, a Choice a diamond, a Wait a
//! parallelogram; a state that ends its machine (`End`, `Succeed`, `Fail`) is a stadium.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde_json::Value;

/// The Mermaid node id of a state: its name with everything but ASCII letters, digits and `_`
/// replaced by `_` (`JobFinished?` → `JobFinished_`).
pub fn node_id(state: &str) -> String {
    let id: String = state
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    // `end` closes a subgraph in Mermaid; no state may take that id.
    if id.eq_ignore_ascii_case("end") {
        format!("{id}_")
    } else {
        id
    }
}

/// The flowchart of a whole definition (the text inside a ```` ```mermaid ```` block, ending
/// with a newline).
pub fn mermaid(definition: &Value) -> String {
    let mut out = String::from("flowchart TD\n");
    let mut declared = BTreeSet::new();
    machine(definition, 1, &mut declared, &mut out);
    out
}

/// One transition out of a state.
struct Edge {
    to: String,
    label: Option<String>,
    catch: bool,
}

/// Every transition out of `state`, in definition order, without repeats.
fn edges(state: &Value) -> Vec<Edge> {
    let mut found: Vec<Edge> = Vec::new();
    let mut push = |to: Option<&str>, label: Option<String>, catch: bool| {
        if let Some(to) = to
            && !found
                .iter()
                .any(|e| e.to == to && e.label == label && e.catch == catch)
        {
            found.push(Edge {
                to: to.to_owned(),
                label,
                catch,
            });
        }
    };
    for rule in state["Choices"].as_array().into_iter().flatten() {
        push(rule["Next"].as_str(), Some(describe_rule(rule)), false);
    }
    if state["Type"] == "Choice" {
        push(
            state["Default"].as_str(),
            Some("otherwise".to_owned()),
            false,
        );
    }
    push(state["Next"].as_str(), None, false);
    for catcher in state["Catch"].as_array().into_iter().flatten() {
        push(catcher["Next"].as_str(), None, true);
    }
    found
}

/// A Choice rule as a short condition: `$.progress.finished == true`.
fn describe_rule(rule: &Value) -> String {
    if let Some(inner) = rule.get("Not") {
        return format!("not ({})", describe_rule(inner));
    }
    for (key, joiner) in [("And", " and "), ("Or", " or ")] {
        if let Some(all) = rule[key].as_array() {
            let parts: Vec<String> = all.iter().map(describe_rule).collect();
            return parts.join(joiner);
        }
    }
    let variable = rule["Variable"].as_str().unwrap_or("?");
    let Some((op, value)) = rule.as_object().and_then(|m| {
        m.iter()
            .find(|(k, _)| !matches!(k.as_str(), "Variable" | "Next" | "Comment"))
    }) else {
        return variable.to_owned();
    };
    let base = op.strip_suffix("Path").unwrap_or(op);
    let symbol = if base.ends_with("GreaterThanEquals") {
        ">="
    } else if base.ends_with("LessThanEquals") {
        "<="
    } else if base.ends_with("GreaterThan") {
        ">"
    } else if base.ends_with("LessThan") {
        "<"
    } else if base.ends_with("Equals") {
        "=="
    } else {
        // IsPresent, IsNull, StringMatches, …: the operator's own name reads well enough.
        op.as_str()
    };
    let value = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    format!("{variable} {symbol} {value}")
}

/// Mermaid text in double quotes (a `"` cannot appear inside; Mermaid's entity stands in).
fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "#quot;"))
}

/// The node with its shape, e.g. `JobFinished_{"JobFinished?"}`.
fn node(name: &str, state: &Value) -> String {
    let id = node_id(name);
    let label = quoted(name);
    let ends = state["End"] == true || matches!(state["Type"].as_str(), Some("Succeed" | "Fail"));
    if ends {
        return format!("{id}([{label}])");
    }
    match state["Type"].as_str() {
        Some("Pass") => format!("{id}({label})"),
        Some("Choice") => format!("{id}{{{label}}}"),
        Some("Wait") => format!("{id}[/{label}/]"),
        _ => format!("{id}[{label}]"),
    }
}

/// The states of one machine: depth-first from `StartAt`, following each state's transitions in
/// order; any state no transition reaches comes last, by name.
fn walk_order(def: &Value) -> Vec<String> {
    fn visit(name: &str, def: &Value, seen: &mut BTreeSet<String>, out: &mut Vec<String>) {
        let Some(state) = def["States"].get(name) else {
            return;
        };
        if !seen.insert(name.to_owned()) {
            return;
        }
        out.push(name.to_owned());
        for edge in edges(state) {
            visit(&edge.to, def, seen, out);
        }
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    if let Some(start) = def["StartAt"].as_str() {
        visit(start, def, &mut seen, &mut out);
    }
    let mut rest: Vec<String> = def["States"]
        .as_object()
        .map(|m| m.keys().filter(|k| !seen.contains(*k)).cloned().collect())
        .unwrap_or_default();
    rest.sort();
    out.extend(rest);
    out
}

/// A state machine (the top level, a Map's `ItemProcessor`, a Parallel branch) at `depth`.
fn machine(def: &Value, depth: usize, declared: &mut BTreeSet<String>, out: &mut String) {
    let indent = "    ".repeat(depth);
    let Some(states) = def["States"].as_object() else {
        return;
    };
    let order = walk_order(def);
    let in_order = || order.iter().filter_map(|n| states.get(n).map(|s| (n, s)));
    // Subgraphs first: an edge may name a subgraph only once it exists.
    for (name, state) in in_order() {
        let nested: Vec<&Value> = match state["Type"].as_str() {
            Some("Map") => [&state["ItemProcessor"], &state["Iterator"]]
                .into_iter()
                .filter(|v| v.is_object())
                .collect(),
            Some("Parallel") => state["Branches"].as_array().into_iter().flatten().collect(),
            _ => continue,
        };
        let id = node_id(name);
        let title = match state["ItemsPath"].as_str() {
            Some(items) => format!("{name}: each of {items}"),
            None => name.clone(),
        };
        let _ = writeln!(out, "{indent}subgraph {id} [{}]", quoted(&title));
        for inner in nested {
            machine(inner, depth + 1, declared, out);
        }
        let _ = writeln!(out, "{indent}end");
        declared.insert(id);
    }
    // Then the edges of this level, each node's shape given where it is first named.
    let reference = |name: &str, declared: &mut BTreeSet<String>| -> String {
        let id = node_id(name);
        if declared.insert(id.clone()) {
            node(name, states.get(name).unwrap_or(&Value::Null))
        } else {
            id
        }
    };
    for (name, state) in in_order() {
        let found = edges(state);
        if found.is_empty() {
            if !declared.contains(&node_id(name)) {
                let line = reference(name, declared);
                let _ = writeln!(out, "{indent}{line}");
            }
            continue;
        }
        for edge in found {
            let from = reference(name, declared);
            let to = reference(&edge.to, declared);
            let arrow = if edge.catch { "-.->" } else { "-->" };
            let label = edge
                .label
                .map(|l| format!("|{}|", quoted(&l)))
                .unwrap_or_default();
            let _ = writeln!(out, "{indent}{from} {arrow}{label} {to}");
        }
    }
}
