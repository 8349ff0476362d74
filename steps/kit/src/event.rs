//! What an event is: one JSON object, with no key given twice at any depth, of at most
//! [`MAX_EVENT_BYTES`]. Checked before the step's own types see it, in both modes.
//!
//! serde_json would read `["lake-prod", "2021-03-31", …]` into a struct positionally and keep
//! the last of two equal keys silently; neither is what the caller meant.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::error::{InvalidInput, json_path, readable_serde_message};
use crate::validate::quote;

/// The largest event accepted: Lambda's own limit for a synchronous invocation's payload.
pub const MAX_EVENT_BYTES: usize = 6 * 1024 * 1024;

/// Parses an event's text: one JSON object, no duplicate keys, at most [`MAX_EVENT_BYTES`].
pub fn parse_event(text: &str) -> Result<Value, InvalidInput> {
    if text.len() > MAX_EVENT_BYTES {
        return Err(InvalidInput::new(
            "$",
            format!(
                "the event is {} bytes; at most {MAX_EVENT_BYTES} are accepted",
                text.len()
            ),
        ));
    }
    // What the document is, from its first character: a deeply nested array is refused as an
    // array here, before the parser's recursion limit would name a path hundreds of `[0]` long.
    let kind = match text.trim_start().bytes().next() {
        Some(b'{') => None,
        Some(b'[') => Some("an array"),
        Some(b'"') => Some("a string"),
        Some(b'-' | b'0'..=b'9') => Some("a number"),
        Some(b't' | b'f') => Some("a boolean"),
        Some(b'n') => Some("null"),
        Some(_) => Some("text that is not JSON"),
        None => Some("nothing"),
    };
    if let Some(kind) = kind {
        return Err(InvalidInput::new(
            "$",
            format!("an event is a JSON object with named fields; got {kind}"),
        ));
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let Strict(value) = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        // The path where it went wrong, cut short (json_path): a syntax error inside a field
        // names that field.
        let path = json_path(&e.path().to_string());
        InvalidInput::new(path, readable_serde_message(&e.into_inner().to_string()))
    })?;
    de.end().map_err(|e| {
        InvalidInput::new(
            "$",
            format!(
                "the event is not one JSON document: {}",
                readable_serde_message(&e.to_string())
            ),
        )
    })?;
    check_object(&value)?;
    Ok(value)
}

/// Refuses anything but a JSON object as an event.
pub fn check_object(event: &Value) -> Result<(), InvalidInput> {
    let kind = match event {
        Value::Object(_) => return Ok(()),
        Value::Array(_) => "an array",
        Value::String(_) => "a string",
        Value::Number(_) => "a number",
        Value::Bool(_) => "a boolean",
        Value::Null => "null",
    };
    Err(InvalidInput::new(
        "$",
        format!("an event is a JSON object with named fields; got {kind}"),
    ))
}

/// Refuses an array wherever the step's input schema expects an object (a struct), at any depth.
///
/// serde's derived structs also accept a sequence and read it positionally, so
/// `"retention": ["COMPLIANCE", 3650]` would become a ten-year lock nobody spelled out. The
/// input's own JSON Schema (generated from the same types) says where objects go; this walks the
/// event along it and names the first array found in such a place.
pub fn refuse_positional_objects(event: &Value, schema: &Value) -> Result<(), InvalidInput> {
    walk(event, schema, schema, "$".to_owned())
}

fn resolve<'a>(schema: &'a Value, root: &'a Value) -> &'a Value {
    let mut s = schema;
    // $refs point into $defs; a bounded loop guards against a cyclic definition.
    for _ in 0..16 {
        let Some(r) = s.get("$ref").and_then(Value::as_str) else {
            break;
        };
        match r
            .strip_prefix("#/$defs/")
            .and_then(|name| root.get("$defs")?.get(name))
        {
            Some(next) => s = next,
            None => break,
        }
    }
    s
}

/// Whether `schema` admits a value of JSON type `ty` (`"object"`, `"array"`).
fn admits(schema: &Value, root: &Value, ty: &str) -> bool {
    let s = resolve(schema, root);
    let alternatives = ["anyOf", "oneOf"]
        .iter()
        .filter_map(|k| s.get(*k).and_then(Value::as_array))
        .flatten()
        .collect::<Vec<_>>();
    match s.get("type") {
        Some(Value::String(t)) => t == ty,
        Some(Value::Array(ts)) => ts.iter().any(|t| t == ty),
        _ if !alternatives.is_empty() => alternatives.iter().any(|a| admits(a, root, ty)),
        // No type said: anything goes.
        _ => true,
    }
}

/// The alternative of `schema` (itself, or one of its anyOf/oneOf) that admits `ty`.
fn branch_for<'a>(schema: &'a Value, root: &'a Value, ty: &str) -> &'a Value {
    let s = resolve(schema, root);
    if s.get("type").is_some() {
        return s;
    }
    for k in ["anyOf", "oneOf"] {
        if let Some(alts) = s.get(k).and_then(Value::as_array)
            && let Some(a) = alts.iter().find(|a| admits(a, root, ty))
        {
            return resolve(a, root);
        }
    }
    s
}

fn walk(value: &Value, schema: &Value, root: &Value, path: String) -> Result<(), InvalidInput> {
    match value {
        Value::Array(items) => {
            if admits(schema, root, "object") && !admits(schema, root, "array") {
                return Err(InvalidInput::new(
                    crate::error::json_path_cut(&path),
                    "expected a JSON object with named fields, got an array (fields are never \
                     read by position)",
                ));
            }
            let s = branch_for(schema, root, "array");
            if let Some(item) = s.get("items") {
                for (i, v) in items.iter().enumerate() {
                    walk(v, item, root, format!("{path}[{i}]"))?;
                }
            }
            Ok(())
        }
        Value::Object(fields) => {
            let s = branch_for(schema, root, "object");
            let properties = s.get("properties");
            let additional = s.get("additionalProperties").filter(|a| a.is_object());
            for (k, v) in fields {
                if let Some(p) = properties.and_then(|ps| ps.get(k)) {
                    walk(v, p, root, format!("{path}.{k}"))?;
                } else if let Some(a) = additional {
                    walk(v, a, root, format!("{path}.{k}"))?;
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// A JSON value read with duplicate keys refused.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

/// A value that is refused as soon as it is reached, with the given reason.
struct Reject(String);

impl<'de> de::DeserializeSeed<'de> for Reject {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, _: D) -> Result<(), D::Error> {
        Err(de::Error::custom(self.0))
    }
}

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                // Failing inside the value's own deserialisation puts the key in the error's path.
                let why = format!(
                    "the key {} is given twice; give each field once",
                    quote(&key)
                );
                map.next_value_seed(Reject(why))?;
            }
            let Strict(v) = map.next_value()?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_one_object() {
        assert!(parse_event(r#"{"a": {"b": [1, 2.5, "x", null, true]}}"#).is_ok());
        for (text, want) in [
            (r#"["lake-prod", "2021-03-31"]"#, "got an array"),
            ("\"lake-prod\"", "got a string"),
            ("42", "got a number"),
            ("null", "got null"),
            ("{} {}", "not one JSON document"),
        ] {
            let e = parse_event(text).unwrap_err();
            assert_eq!(e.path, "$", "{text}");
            assert!(e.message.contains(want), "{text}: {e}");
        }
    }

    #[test]
    fn arrays_are_refused_where_the_schema_wants_an_object() {
        let schema = serde_json::json!({
            "$defs": {"Retention": {"type": "object", "properties": {"mode": {"type": "string"}}}},
            "type": "object",
            "properties": {
                "retention": {"anyOf": [{"$ref": "#/$defs/Retention"}, {"type": "null"}]},
                "roles": {"type": "array", "items": {"type": "string"}},
                "items": {"type": "array", "items": {"$ref": "#/$defs/Retention"}},
                "codes": {"type": "object", "additionalProperties": {"type": "integer"}},
            }
        });
        let ok = serde_json::json!({"retention": {"mode": "GOVERNANCE"}, "roles": ["a"],
            "items": [{"mode": "x"}], "codes": {"a": 1}, "other": [1]});
        assert!(refuse_positional_objects(&ok, &schema).is_ok());
        for (event, path) in [
            (
                serde_json::json!({"retention": ["COMPLIANCE", 3650]}),
                "$.retention",
            ),
            (
                serde_json::json!({"items": [{"mode": "x"}, ["y"]]}),
                "$.items[1]",
            ),
            (serde_json::json!({"codes": ["a"]}), "$.codes"),
        ] {
            let e = refuse_positional_objects(&event, &schema).unwrap_err();
            assert_eq!(e.path, path, "{event}");
        }
    }

    #[test]
    fn syntax_errors_and_deep_nesting_give_short_paths() {
        let e = parse_event("{'a': 1}").unwrap_err();
        assert_eq!(e.path, "$");
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let e = parse_event(&deep).unwrap_err();
        assert_eq!(e.path, "$");
        assert!(e.message.contains("got an array"), "{e}");
        let mut nested = String::new();
        for _ in 0..200 {
            nested.push_str(&format!("{{\"{}\":", "k".repeat(60)));
        }
        nested.push('1');
        nested.push_str(&"}".repeat(200));
        let e = parse_event(&nested).unwrap_err();
        assert!(e.to_string().len() <= 512, "{}", e.to_string().len());
        let twice = format!("{{\"{k}\": 1, \"{k}\": 2}}", k = "x".repeat(1 << 20));
        let e = parse_event(&twice).unwrap_err();
        assert!(e.to_string().len() <= 512, "{}", e.to_string().len());
    }

    #[test]
    fn a_key_given_twice_is_refused_with_its_path() {
        let e = parse_event(r#"{"report": {"bucket": "a", "bucket": "b"}}"#).unwrap_err();
        assert_eq!(e.path, "$.report.bucket");
        assert!(e.message.contains("given twice"), "{e}");
    }

    #[test]
    fn an_oversized_event_is_refused_before_parsing() {
        let text = format!("{{\"a\": \"{}\"}}", "x".repeat(MAX_EVENT_BYTES));
        let e = parse_event(&text).unwrap_err();
        assert!(e.message.len() < 200, "{e}");
    }
}
