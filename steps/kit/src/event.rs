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
    let mut de = serde_json::Deserializer::from_str(text);
    let Strict(value) = serde_path_to_error::deserialize(&mut de).map_err(|e| {
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
