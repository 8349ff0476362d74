//! IAM policy documents compared as AWS compares them.
//!
//! AWS re-serialises a stored policy (key order, single-element arrays as strings, `{"AWS": "*"}`
//! for `"*"`), so a step or tool that must recognise "already right" compares normalised JSON,
//! never text.

use serde_json::{Map, Value};

/// A policy in a canonical form: statements as a list sorted by `Sid`; string-or-list elements
/// (`Action`, `Resource`, principals, condition values) as sorted lists; `{"AWS": "*"}` as `"*"`.
/// Two policies that AWS treats as the same document compare equal after this.
pub fn normalise(policy: &Value) -> Value {
    let Value::Object(top) = policy else {
        return policy.clone();
    };
    let mut out = Map::new();
    for (k, v) in top {
        if k == "Statement" {
            let mut stmts: Vec<Value> = match v {
                Value::Array(a) => a.iter().map(normalise_statement).collect(),
                other => vec![normalise_statement(other)],
            };
            stmts.sort_by_key(|s| {
                (
                    s.get("Sid")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned(),
                    s.to_string(),
                )
            });
            out.insert(k.clone(), Value::Array(stmts));
        } else {
            out.insert(k.clone(), v.clone());
        }
    }
    Value::Object(out)
}

/// One statement in the canonical form [`normalise`] gives every statement.
pub fn normalise_statement(stmt: &Value) -> Value {
    let Value::Object(m) = stmt else {
        return stmt.clone();
    };
    let mut out = Map::new();
    for (k, v) in m {
        let nv = match k.as_str() {
            "Action" | "NotAction" | "Resource" | "NotResource" => string_set(v),
            "Principal" | "NotPrincipal" => principal(v),
            "Condition" => match v {
                Value::Object(ops) => Value::Object(
                    ops.iter()
                        .map(|(op, keys)| {
                            let keys = match keys {
                                Value::Object(km) => Value::Object(
                                    km.iter()
                                        .map(|(ck, cv)| (ck.clone(), string_set(cv)))
                                        .collect(),
                                ),
                                other => other.clone(),
                            };
                            (op.clone(), keys)
                        })
                        .collect(),
                ),
                other => other.clone(),
            },
            _ => v.clone(),
        };
        out.insert(k.clone(), nv);
    }
    Value::Object(out)
}

fn principal(v: &Value) -> Value {
    match v {
        Value::Object(m) if m.len() == 1 && m.get("AWS") == Some(&Value::from("*")) => {
            Value::from("*")
        }
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, v)| (k.clone(), string_set(v))).collect())
        }
        other => other.clone(),
    }
}

/// A string or a list of strings as a sorted, deduplicated list. Other values are kept as is.
fn string_set(v: &Value) -> Value {
    let mut items: Vec<Value> = match v {
        Value::Array(a) => a.clone(),
        Value::String(_) => vec![v.clone()],
        other => return other.clone(),
    };
    if items.iter().all(Value::is_string) {
        items.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
        items.dedup();
    }
    Value::Array(items)
}
