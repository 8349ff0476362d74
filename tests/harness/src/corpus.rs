//! The bad-input corpus runner (issue 12), shared by every step's `tests/it/corpus.rs`.
//!
//! A step's corpus is a table of hostile and malformed events ([`Case`]s), each made from the
//! step's good base event (with the tables of cases every step refuses alike: [`NOT_AN_EVENT`],
//! and for the fields several steps take, [`SOURCE_BUCKET`] and [`BACKUP_DATE`]), and a
//! [`World`]: the account the step runs against, the step, the base event, and what of the
//! account a refused event must leave as it was.
//! [`refused_and_nothing_changed`] runs every case and asserts, per case:
//!
//! - the errorType ([`Case::error_type`], `InvalidInput` but for a few);
//! - the JSON path the message names after `invalid input at ` ([`Case::path`]; ending in `*`,
//!   the path's beginning; for another errorType, a text the message holds);
//! - a message of at most [`MAX_MESSAGE`] bytes, whatever the size of the offending value;
//! - no Rust type name or path in it (nor one of the step's own types, [`World::STEP_TYPES`]),
//!   and no raw control character;
//! - through the binary (cases only visible in the event's text): exit status 1, one line;
//!
//! and then that the account is as it was ([`World::state`] before and after), and the control:
//! the base event itself is accepted, and its effect is seen by that comparison
//! ([`World::BASE_WRITES`]). Parsed cases go through `kit::entry::invoke`; text cases through
//! the binary on stdin. `CORPUS_SHOW=1 cargo test -p <step> corpus -- --nocapture` prints every
//! answer.

use std::future::Future;

use kit::Step;
use kit::entry::invoke;
use serde_json::{Value, json};

use crate::Moto;

/// The longest errorMessage accepted, whatever the size of the offending value.
pub const MAX_MESSAGE: usize = 512;

/// A megabyte, for the cases of oversized values.
pub const MB: usize = 1 << 20;

/// Words that only a Rust type name (or serde's name for an object or array) would put into a
/// message.
const RUST_WORDS: &[&str] = &[
    "struct", "enum", "Option", "Vec", "String", "str", "i8", "i16", "i32", "i64", "u8", "u16",
    "u32", "u64", "usize", "isize", "f32", "f64", "Day", "map", "sequence",
];

/// Fragments of Rust paths.
const RUST_PATHS: &[&str] = &["alloc::", "std::", "core::", "serde", "kit::"];

/// One bad input and how it must be refused.
#[derive(Clone, Copy)]
pub struct Case {
    /// What is wrong with it (for the failure list).
    pub name: &'static str,
    /// The event.
    pub event: Event,
    /// The errorType it must fail with.
    pub error_type: &'static str,
    /// The JSON path the message must name (ending in `*`: the path's beginning); for another
    /// errorType than `InvalidInput`, a text the message must hold.
    pub path: &'static str,
}

/// How a case's event is made.
#[derive(Clone, Copy)]
pub enum Event {
    /// The valid base event with the field at this JSON pointer set to a value.
    Set(&'static str, fn() -> Value),
    /// The valid base event without the field at this JSON pointer.
    Without(&'static str),
    /// An event of its own.
    Whole(fn() -> Value),
    /// Bytes on the binary's stdin, made from the base event's text.
    Text(fn(&str) -> Vec<u8>),
}

/// An `InvalidInput` case on the base event with one field set.
pub const fn set(
    name: &'static str,
    field: &'static str,
    v: fn() -> Value,
    path: &'static str,
) -> Case {
    Case {
        name,
        event: Event::Set(field, v),
        error_type: "InvalidInput",
        path,
    }
}

/// An `InvalidInput` case for an event of its own (its path is `$`).
pub const fn whole(name: &'static str, v: fn() -> Value) -> Case {
    Case {
        name,
        event: Event::Whole(v),
        error_type: "InvalidInput",
        path: "$",
    }
}

/// An `InvalidInput` case fed to the binary as text.
pub const fn text(name: &'static str, t: fn(&str) -> Vec<u8>, path: &'static str) -> Case {
    Case {
        name,
        event: Event::Text(t),
        error_type: "InvalidInput",
        path,
    }
}

/// `text` (a compact JSON object) with `"key":value` inserted after its first `{`.
pub fn with_first(text: &str, member: &str) -> Vec<u8> {
    format!("{{{member},{}", &text[1..]).into_bytes()
}

/// What is no event of any step, whatever its fields: every step refuses these at `$` (only a
/// JSON object is an event, one per invocation, and every step needs some field). A step's
/// corpus runs them with its own cases.
#[rustfmt::skip]
pub const NOT_AN_EVENT: &[Case] = &[
    // The array the issue found read positionally.
    whole("the issue's array event", || json!(["lake-prod", "2021-01-15", null])),
    whole("a number event", || json!(42)),
    whole("a null event", || Value::Null),
    whole("an empty object", || json!({})),
    text("the array event as text", |_| br#"["lake-prod","2021-01-15",null]"#.to_vec(), "$"),
    text("two events", |t| format!("{t} {t}").into_bytes(), "$"),
    text("nothing on stdin", |_| Vec::new(), "$"),
    text("invalid UTF-8", |t| [t.as_bytes(), b"\xff\xfe"].concat(), "$"),
    // Over Lambda's 6 MiB payload limit.
    text("an event over 6 MiB", |t| with_first(t, &format!(r#""padding":"{}""#, "x".repeat(7 * MB))), "$"),
];

/// Hostile texts every step meets the same way (issue 12, items 4 and 6): a syntax error names
/// the whole document, a deep array is refused as an array before the parser's recursion limit,
/// and a path in a message is cut like a value (a deep object, a megabyte key given twice).
#[rustfmt::skip]
pub const HOSTILE_TEXT: &[Case] = &[
    text("single-quoted JSON", |t| t.replace('"', "'").into_bytes(), "$"),
    text("a top-level array nested 200 deep", |_| format!("{}{}", "[".repeat(200), "]".repeat(200)).into_bytes(), "$"),
    text("an object nested 200 deep with long keys", |t| with_first(t, &format!(r#""deep":{}1{}"#, format!(r#"{{"{}":"#, "n".repeat(60)).repeat(200), "}".repeat(200))), "$.deep.*"),
    text("a 1 MB key given twice", |t| { let k = "k".repeat(MB); with_first(t, &format!(r#""{k}":1,"{k}":2"#)) }, "$.k*"),
];

/// The source bucket (`$.source_bucket`), by `kit::validate`'s one rule (S3's rules for a bucket
/// created today; legacy names refused): the same cases for every step that takes one.
#[rustfmt::skip]
pub const SOURCE_BUCKET: &[Case] = &[
    set("a number for the source bucket", "/source_bucket", || json!(7), "$.source_bucket"),
    set("an array for the source bucket", "/source_bucket", || json!(["lake-prod"]), "$.source_bucket"),
    set("a nested object for the source bucket", "/source_bucket", || json!({"a": {"b": {"c": [1, 2, 3]}}}), "$.source_bucket"),
    set("an uppercase source bucket (legacy)", "/source_bucket", || json!("Lake-Prod"), "$.source_bucket"),
    set("an underscore in the source bucket (legacy)", "/source_bucket", || json!("lake_prod"), "$.source_bucket"),
    set("a 255-character source bucket (legacy)", "/source_bucket", || json!("a".repeat(255)), "$.source_bucket"),
    set("an IP-form source bucket", "/source_bucket", || json!("192.168.5.4"), "$.source_bucket"),
    set("an xn-- source bucket", "/source_bucket", || json!("xn--lake"), "$.source_bucket"),
    set("a source bucket starting with -", "/source_bucket", || json!("-lake"), "$.source_bucket"),
    set("two periods in the source bucket", "/source_bucket", || json!("lake..prod"), "$.source_bucket"),
    set("a NUL in the source bucket", "/source_bucket", || json!("lake\u{0}prod"), "$.source_bucket"),
    set("non-ASCII in the source bucket", "/source_bucket", || json!("lake-prød"), "$.source_bucket"),
    set("an ARN for the source bucket", "/source_bucket", || json!("arn:aws:s3:::lake-prod"), "$.source_bucket"),
    set("an s3:// URL for the source bucket", "/source_bucket", || json!("s3://lake-prod"), "$.source_bucket"),
    set("a 1 MB source bucket", "/source_bucket", || json!("a".repeat(MB)), "$.source_bucket"),
    text("a source bucket given twice", |t| with_first(t, r#""source_bucket":"lake-test""#), "$.source_bucket"),
];

/// The backup date (`$.backup_date`, `YYYY-MM-DD`, a day of the calendar): the same cases for
/// every step that takes one.
#[rustfmt::skip]
pub const BACKUP_DATE: &[Case] = &[
    set("a number for the backup date", "/backup_date", || json!(20_210_331), "$.backup_date"),
    set("February 30th", "/backup_date", || json!("2021-02-30"), "$.backup_date"),
    set("a date without leading zeros", "/backup_date", || json!("2021-3-1"), "$.backup_date"),
    set("a day-first date", "/backup_date", || json!("31-03-2021"), "$.backup_date"),
    set("an empty date", "/backup_date", || json!(""), "$.backup_date"),
    set("a timestamp for a date", "/backup_date", || json!("2021-03-31T00:00:00Z"), "$.backup_date"),
];

/// What a step's corpus runs against.
pub trait World {
    /// The step.
    type Step: Step;
    /// The step's binary, for the text cases: `env!("CARGO_BIN_EXE_<step>")`.
    const BINARY: &'static str;
    /// Whether the base event changes the account (then the control checks that
    /// [`World::state`] sees its effect).
    const BASE_WRITES: bool;
    /// The step's own type names, which no message may contain.
    const STEP_TYPES: &'static [&'static str];

    /// The moto the step runs against.
    fn moto(&self) -> &Moto;
    /// The step, as the Lambda entry point runs it.
    fn step(&self) -> &Self::Step;
    /// A good event: every case differs from it only where it says.
    fn base(&self) -> &Value;

    /// The environment that points the binary at this world (moto's, unless the step calls
    /// more).
    fn env(&self) -> Vec<(String, String)> {
        self.moto().env()
    }

    /// What a refused event must leave as it was ([`s3_state`], unless the step writes
    /// elsewhere too).
    fn state(&self) -> impl Future<Output = Vec<String>> {
        s3_state(self.moto())
    }
}

/// Runs `cases` against `world`: each is refused as it says, and the account is as it was; then
/// the control (the base event is accepted and, for a step that writes, its effect seen).
pub async fn refused_and_nothing_changed<W: World>(world: &W, cases: &[Case]) {
    let before = world.state().await;
    let failures = run_cases(world, cases).await;
    let after = world.state().await;
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    assert_eq!(after, before, "a refused event changed the account");
    // The control: the base event itself is accepted (each case differs from a good event only
    // where it says) and, for a step that writes, seen by the comparison above.
    invoke(world.step(), world.base().clone())
        .await
        .expect("the base event is accepted");
    if W::BASE_WRITES {
        assert_ne!(
            world.state().await,
            before,
            "the base event's effect is not seen"
        );
    }
}

/// Every bucket with its tags and policy, and every object with its ETag.
pub async fn s3_state(moto: &Moto) -> Vec<String> {
    let s3 = moto.s3();
    let mut state = Vec::new();
    let buckets = s3.list_buckets().send().await.expect("ListBuckets");
    for b in buckets.buckets() {
        let name = b.name().unwrap_or_default();
        let tags = s3.get_bucket_tagging().bucket(name).send().await.ok();
        let policy = s3.get_bucket_policy().bucket(name).send().await.ok();
        state.push(format!(
            "bucket {name} tags {:?} policy {:?}",
            tags.map(|t| t.tag_set().to_vec()),
            policy.and_then(|p| p.policy)
        ));
        let mut pages = s3.list_objects_v2().bucket(name).into_paginator().send();
        while let Some(page) = pages.next().await {
            for o in page.expect("ListObjectsV2").contents() {
                state.push(format!(
                    "object {name}/{} {}",
                    o.key().unwrap_or_default(),
                    o.e_tag().unwrap_or_default()
                ));
            }
        }
    }
    state
}

/// Every Batch Operations job of `account_id`: id, status, description.
pub async fn job_state(control: &aws_sdk_s3control::Client, account_id: &str) -> Vec<String> {
    let mut jobs = Vec::new();
    let mut pages = control
        .list_jobs()
        .account_id(account_id)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        for j in page.expect("ListJobs").jobs() {
            jobs.push(format!(
                "job {} {:?} {}",
                j.job_id().unwrap_or_default(),
                j.status(),
                j.description().unwrap_or_default()
            ));
        }
    }
    jobs
}

/// The errorType and errorMessage of a refusal, or the output of an acceptance.
type Answer = Result<Value, (String, String)>;

/// Every case against the world; the failures, one line each.
async fn run_cases<W: World>(w: &W, cases: &[Case]) -> Vec<String> {
    let mut failures = Vec::new();
    for case in cases {
        let event = match &case.event {
            Event::Set(field, v) => patched(w.base(), field, Some(v())),
            Event::Without(field) => patched(w.base(), field, None),
            Event::Whole(v) => v(),
            Event::Text(t) => {
                let stdin = t(&w.base().to_string());
                let (answer, problems) = run_binary::<W>(&w.env(), &stdin).await;
                failures.extend(judge::<W>(case, answer, problems));
                continue;
            }
        };
        let answer = invoke(w.step(), event)
            .await
            .map_err(|d| (d.error_type, d.error_message));
        failures.extend(judge::<W>(case, answer, Vec::new()));
    }
    failures
}

/// `base` with the field at `pointer` set to `value` (`None`: removed).
fn patched(base: &Value, pointer: &str, value: Option<Value>) -> Value {
    let mut e = base.clone();
    let (parent, key) = pointer.rsplit_once('/').expect("a JSON pointer");
    let obj = e
        .pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .unwrap_or_else(|| panic!("{parent} is not an object of the base event"));
    match value {
        Some(v) => obj.insert(key.to_owned(), v),
        None => obj.remove(key),
    };
    e
}

/// Runs one event through the binary; the exit status and stdout are checked here.
async fn run_binary<W: World>(env: &[(String, String)], stdin: &[u8]) -> (Answer, Vec<String>) {
    let run = crate::run_step_binary_with(W::BINARY, env, stdin).await;
    let mut problems = Vec::new();
    if run.code != Some(1) {
        problems.push(format!("exit status {:?}, want 1", run.code));
    }
    let lines = run.stdout.lines().count();
    if lines != 1 {
        problems.push(format!("{lines} lines on stdout, want 1"));
    }
    let answer = match serde_json::from_str::<Value>(run.stdout.trim()) {
        Ok(v) if v.get("errorType").is_some() => Err((
            v["errorType"].as_str().unwrap_or_default().to_owned(),
            v["errorMessage"].as_str().unwrap_or_default().to_owned(),
        )),
        Ok(v) => Ok(v),
        Err(e) => Err(("(stdout is not JSON)".to_owned(), e.to_string())),
    };
    (answer, problems)
}

/// What is wrong with a case's answer, if anything.
fn judge<W: World>(case: &Case, answer: Answer, mut problems: Vec<String>) -> Option<String> {
    let (error_type, message) = match answer {
        Ok(out) => {
            let out = out.to_string();
            return Some(format!(
                "{}: accepted, answered {}",
                case.name,
                cut(&out, 200)
            ));
        }
        Err(e) => e,
    };
    if std::env::var_os("CORPUS_SHOW").is_some() {
        eprintln!("{}: {error_type}: {}", case.name, cut(&message, 300));
    }
    if error_type != case.error_type {
        problems.push(format!("errorType {error_type}, want {}", case.error_type));
    }
    let named = match case.path.strip_suffix('*') {
        _ if case.error_type != "InvalidInput" => message.contains(case.path),
        Some(prefix) => message.starts_with(&format!("invalid input at {prefix}")),
        None => message.starts_with(&format!("invalid input at {}:", case.path)),
    };
    if !named {
        problems.push(format!("the message does not name {}", case.path));
    }
    // A value is quoted escaped: a raw NUL or newline in a message breaks logs and mail.
    if message.chars().any(char::is_control) {
        problems.push("the message holds a control character".to_owned());
    }
    if message.len() > MAX_MESSAGE {
        problems.push(format!(
            "the message is {} bytes (at most {MAX_MESSAGE})",
            message.len()
        ));
    }
    let words: Vec<&str> = message
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .collect();
    for w in RUST_WORDS
        .iter()
        .chain(W::STEP_TYPES)
        .filter(|w| words.contains(w))
    {
        problems.push(format!("the message names the Rust type {w:?}"));
    }
    for p in RUST_PATHS.iter().filter(|p| message.contains(**p)) {
        problems.push(format!("the message names the Rust path {p:?}"));
    }
    (!problems.is_empty()).then(|| {
        format!(
            "{}: {}; errorMessage: {}",
            case.name,
            problems.join(", "),
            cut(&message, 300)
        )
    })
}

/// `s`, cut after `n` characters (saying how long it was).
fn cut(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((i, _)) => format!("{}… ({} bytes)", &s[..i], s.len()),
        None => s.to_owned(),
    }
}
