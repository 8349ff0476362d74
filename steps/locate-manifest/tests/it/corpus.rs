//! The bad-input corpus (issue 12): hostile and malformed events, table-driven. Every case is
//! refused as `InvalidInput` with the JSON path of the field at fault (`$` for the whole event), a
//! short message in JSON words, and nothing in S3 changed. Parsed cases go through
//! `kit::entry::invoke`; cases only visible in the event's text (duplicate keys, not JSON) go
//! through the binary on stdin.
//!
//! The runner (up to the line) is the same in every step's `corpus.rs`; below it, the step's
//! world, its base event (a good one: the control at the end runs it) and its cases.
//! `CORPUS_SHOW=1 cargo test -p <step> corpus -- --nocapture` prints every answer.

use std::process::Stdio;

use harness::Moto;
use kit::entry::invoke;
use locate_manifest::LocateManifest;
use serde_json::{Value, json};
use time::macros::datetime;
use tokio::io::AsyncWriteExt;

/// The longest errorMessage accepted, whatever the size of the offending value.
const MAX_MESSAGE: usize = 512;
/// Words that only a Rust type name (or serde's name for an object or array) would put into a
/// message.
const RUST_WORDS: &[&str] = &[
    "struct", "enum", "Option", "Vec", "String", "str", "i8", "i16", "i32", "i64", "u8", "u16",
    "u32", "u64", "usize", "isize", "f32", "f64", "Day", "map", "sequence",
];
/// Fragments of Rust paths.
const RUST_PATHS: &[&str] = &["alloc::", "std::", "core::", "serde", "kit::"];

/// One bad input and how it must be refused.
struct Case {
    /// What is wrong with it (for the failure list).
    name: &'static str,
    /// The event.
    event: Event,
    /// The errorType it must fail with.
    error_type: &'static str,
    /// The JSON path the message must name (ending in `*`: the path's beginning); for another
    /// errorType than `InvalidInput`, a text the message must hold.
    path: &'static str,
}

/// How a case's event is made.
enum Event {
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
const fn set(
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
const fn whole(name: &'static str, v: fn() -> Value) -> Case {
    Case {
        name,
        event: Event::Whole(v),
        error_type: "InvalidInput",
        path: "$",
    }
}

/// An `InvalidInput` case fed to the binary as text.
const fn text(name: &'static str, t: fn(&str) -> Vec<u8>, path: &'static str) -> Case {
    Case {
        name,
        event: Event::Text(t),
        error_type: "InvalidInput",
        path,
    }
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

/// `text` (a compact JSON object) with `"key":value` inserted after its first `{`.
fn with_first(text: &str, member: &str) -> Vec<u8> {
    format!("{{{member},{}", &text[1..]).into_bytes()
}

/// The errorType and errorMessage of a refusal, or the output of an acceptance.
type Answer = Result<Value, (String, String)>;

/// Runs one event through the binary; the exit status and stdout are checked here.
async fn run_binary(env: &[(String, String)], stdin: &[u8]) -> (Answer, Vec<String>) {
    let mut child = tokio::process::Command::new(BINARY)
        .envs(env.iter().cloned())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the step's binary starts");
    let mut input = child.stdin.take().expect("stdin is piped");
    // A step may answer before reading everything (an oversized event): a broken pipe is fine.
    let _ = input.write_all(stdin).await;
    drop(input);
    let out = child.wait_with_output().await.expect("the binary ends");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut problems = Vec::new();
    if out.status.code() != Some(1) {
        problems.push(format!("exit status {:?}, want 1", out.status.code()));
    }
    if stdout.lines().count() != 1 {
        problems.push(format!(
            "{} lines on stdout, want 1",
            stdout.lines().count()
        ));
    }
    let answer = match serde_json::from_str::<Value>(stdout.trim()) {
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
fn judge(case: &Case, answer: Answer, mut problems: Vec<String>) -> Option<String> {
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
        .chain(STEP_TYPES)
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

fn cut(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((i, _)) => format!("{}… ({} bytes)", &s[..i], s.len()),
        None => s.to_owned(),
    }
}

/// Every case against the world; the failures, one line each.
async fn run_cases(w: &World, cases: &[Case]) -> Vec<String> {
    let mut failures = Vec::new();
    for case in cases {
        let event = match &case.event {
            Event::Set(field, v) => patched(&w.base, field, Some(v())),
            Event::Without(field) => patched(&w.base, field, None),
            Event::Whole(v) => v(),
            Event::Text(t) => {
                let stdin = t(&w.base.to_string());
                let (answer, problems) = run_binary(&w.env(), &stdin).await;
                failures.extend(judge(case, answer, problems));
                continue;
            }
        };
        let answer = invoke(&w.step, event)
            .await
            .map_err(|d| (d.error_type, d.error_message));
        failures.extend(judge(case, answer, Vec::new()));
    }
    failures
}

/// Every bucket with its tags and policy, and every object with its ETag.
async fn s3_state(moto: &Moto) -> Vec<String> {
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

/// Runs `cases` against a fresh world: each is refused as it says, and the account is as it was.
async fn refused_and_nothing_changed(cases: &[Case]) {
    let w = world().await;
    let before = w.state().await;
    let failures = run_cases(&w, cases).await;
    let after = w.state().await;
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
    invoke(&w.step, w.base.clone())
        .await
        .expect("the base event is accepted");
    if BASE_WRITES {
        assert_ne!(
            w.state().await,
            before,
            "the base event's effect is not seen"
        );
    }
}

// ---------------------------------------------------------------------------------------------

/// A source bucket with a Delta table, its inventory delivered on 2021-04-02, and the event that
/// finds that delivery for backup date 2021-03-31.
struct World {
    moto: Moto,
    step: LocateManifest,
    base: Value,
}

impl World {
    /// The environment that points the binary at this world.
    fn env(&self) -> Vec<(String, String)> {
        self.moto.env()
    }

    /// What a refused event must leave as it was: every bucket and object.
    async fn state(&self) -> Vec<String> {
        s3_state(&self.moto).await
    }
}

const BINARY: &str = env!("CARGO_BIN_EXE_locate-manifest");
/// The step only reads.
const BASE_WRITES: bool = false;
/// The step's own type names, which no message may contain.
const STEP_TYPES: &[&str] = &["Input", "InventoryLocation", "LocateManifest"];

async fn world() -> World {
    let moto = Moto::start();
    let s3 = moto.s3();
    for b in ["lake-prod", "backup-inventory"] {
        s3.create_bucket()
            .bucket(b)
            .send()
            .await
            .expect("CreateBucket");
    }
    for k in [
        "table/_delta_log/00000000000000000000.json",
        "table/part-0.parquet",
    ] {
        s3.put_object()
            .bucket("lake-prod")
            .key(k)
            .body(k.as_bytes().to_vec().into())
            .send()
            .await
            .expect("PutObject");
    }
    let d = local_inventory::Delivery::new(
        "lake-prod",
        "backup-inventory",
        "inventory",
        "daily",
        datetime!(2021-04-02 01:00 UTC),
    );
    local_inventory::deliver(&s3, &d).await.expect("a delivery");
    World {
        step: LocateManifest::new(moto.s3()),
        base: json!({
            "source_bucket": "lake-prod",
            "inventory": {"bucket": "backup-inventory", "prefix": "inventory", "configuration_id": "daily"},
            "backup_date": "2021-03-31",
            "lag_days": 2
        }),
        moto,
    }
}

const MB: usize = 1 << 20;

// One case per line: a table reads better than rustfmt's one argument per line.
#[rustfmt::skip]
const CASES: &[Case] = &[
    // Types.
    set("a number for the source bucket", "/source_bucket", || json!(7), "$.source_bucket"),
    set("an array for the source bucket", "/source_bucket", || json!(["lake-prod"]), "$.source_bucket"),
    set("null for the source bucket", "/source_bucket", || Value::Null, "$.source_bucket"),
    set("a boolean for the source bucket", "/source_bucket", || json!(true), "$.source_bucket"),
    set("a string for the inventory", "/inventory", || json!("backup-inventory"), "$.inventory"),
    set("an object for the inventory bucket", "/inventory/bucket", || json!({"name": "backup-inventory"}), "$.inventory.bucket"),
    set("a number for the configuration id", "/inventory/configuration_id", || json!(1), "$.inventory.configuration_id"),
    set("a string for lag_days", "/lag_days", || json!("2"), "$.lag_days"),
    set("a fraction for lag_days", "/lag_days", || json!(2.5), "$.lag_days"),
    set("a number for the backup date", "/backup_date", || json!(20_210_331), "$.backup_date"),
    Case { name: "no source bucket", event: Event::Without("/source_bucket"), error_type: "InvalidInput", path: "$" },
    Case { name: "no configuration id", event: Event::Without("/inventory/configuration_id"), error_type: "InvalidInput", path: "$.inventory" },
    // Names.
    set("an uppercase source bucket (legacy)", "/source_bucket", || json!("Lake-Prod"), "$.source_bucket"),
    set("an underscore in the source bucket (legacy)", "/source_bucket", || json!("lake_prod"), "$.source_bucket"),
    set("a 64-character source bucket (legacy)", "/source_bucket", || json!("a".repeat(64)), "$.source_bucket"),
    set("an IP-form source bucket", "/source_bucket", || json!("192.168.5.4"), "$.source_bucket"),
    set("an xn-- source bucket", "/source_bucket", || json!("xn--lake"), "$.source_bucket"),
    set("a source bucket starting with -", "/source_bucket", || json!("-lake"), "$.source_bucket"),
    set("two periods in the source bucket", "/source_bucket", || json!("lake..prod"), "$.source_bucket"),
    set("a NUL in the source bucket", "/source_bucket", || json!("lake\u{0}prod"), "$.source_bucket"),
    set("an ARN for the source bucket", "/source_bucket", || json!("arn:aws:s3:::lake-prod"), "$.source_bucket"),
    set("an s3:// URL for the source bucket", "/source_bucket", || json!("s3://lake-prod"), "$.source_bucket"),
    set("an empty source bucket", "/source_bucket", || json!(""), "$.source_bucket"),
    set("an s3:// URL for the inventory bucket", "/inventory/bucket", || json!("s3://backup-inventory/inventory"), "$.inventory.bucket"),
    set("a legacy inventory bucket", "/inventory/bucket", || json!("Backup_Inventory"), "$.inventory.bucket"),
    set("a reserved suffix on the inventory bucket", "/inventory/bucket", || json!("backup-inventory-s3alias"), "$.inventory.bucket"),
    set("a path in the configuration id", "/inventory/configuration_id", || json!("daily/../weekly"), "$.inventory.configuration_id"),
    set("an empty configuration id", "/inventory/configuration_id", || json!(""), "$.inventory.configuration_id"),
    // Dates.
    set("February 30th", "/backup_date", || json!("2021-02-30"), "$.backup_date"),
    set("a date without leading zeros", "/backup_date", || json!("2021-3-1"), "$.backup_date"),
    set("a day-first date", "/backup_date", || json!("31-03-2021"), "$.backup_date"),
    set("an empty date", "/backup_date", || json!(""), "$.backup_date"),
    set("a timestamp for a date", "/backup_date", || json!("2021-03-31T00:00:00Z"), "$.backup_date"),
    set("the last day of the calendar plus the lag", "/backup_date", || json!("9999-12-31"), "$.backup_date"),
    // Sizes.
    set("lag_days 31", "/lag_days", || json!(31), "$.lag_days"),
    set("negative lag_days", "/lag_days", || json!(-1), "$.lag_days"),
    set("lag_days beyond 64 bits", "/lag_days", || json!(u64::MAX), "$.lag_days"),
    set("lag_days 1e30", "/lag_days", || json!(1e30), "$.lag_days"),
    set("a 1 MB source bucket", "/source_bucket", || json!("a".repeat(MB)), "$.source_bucket"),
    set("a 1 MB inventory prefix", "/inventory/prefix", || json!("p".repeat(MB)), "$.inventory.prefix"),
    set("a 1 MB configuration id", "/inventory/configuration_id", || json!("d".repeat(MB)), "$.inventory.configuration_id"),
    set("a 1 MB date", "/backup_date", || json!("2".repeat(MB)), "$.backup_date"),
    // Nesting.
    whole("an array event", || json!(["lake-prod", "2021-01-15", null])),
    whole("a string event", || json!("lake-prod")),
    whole("a number event", || json!(42)),
    whole("a null event", || Value::Null),
    whole("an empty object", || json!({})),
    set("a nested object for the source bucket", "/source_bucket", || json!({"a": {"b": {"c": [1, 2, 3]}}}), "$.source_bucket"),
    // Encodings.
    set("non-ASCII in the source bucket", "/source_bucket", || json!("lake-prød"), "$.source_bucket"),
    set("an emoji in the source bucket", "/source_bucket", || json!("lake-🦀"), "$.source_bucket"),
    set("a zero-width space in the source bucket", "/source_bucket", || json!("lake-prod\u{200b}"), "$.source_bucket"),
    set("a right-to-left override in the source bucket", "/source_bucket", || json!("lake\u{202e}dorp"), "$.source_bucket"),
    set("a newline in the inventory prefix", "/inventory/prefix", || json!("inventory\n"), "$.inventory.prefix"),
    set("a NUL in the inventory prefix", "/inventory/prefix", || json!("inv\u{0}entory"), "$.inventory.prefix"),
    set("an escape sequence in the inventory prefix", "/inventory/prefix", || json!("inventory\u{1b}[2J"), "$.inventory.prefix"),
    // Only visible in the text: through the binary.
    text("a source bucket given twice", |t| with_first(t, r#""source_bucket":"lake-test""#), "$.source_bucket"),
    text("an inventory bucket given twice", |t| t.replacen(r#""inventory":{"#, r#""inventory":{"bucket":"other","#, 1).into_bytes(), "$.inventory.bucket"),
    text("the array event as text", |_| br#"["lake-prod","2021-01-15",null]"#.to_vec(), "$"),
    text("not JSON", |_| b"source_bucket=lake-prod&backup_date=2021-03-31".to_vec(), "$"),
    text("two events", |t| format!("{t} {t}").into_bytes(), "$"),
    text("nothing on stdin", |_| Vec::new(), "$"),
    text("a byte-order mark before the event", |t| format!("\u{feff}{t}").into_bytes(), "$"),
    text("invalid UTF-8", |t| [t.as_bytes(), b"\xff\xfe"].concat(), "$"),
    text("a lone surrogate in the source bucket", |t| t.replacen(r#""source_bucket":"lake-prod""#, r#""source_bucket":"lake\ud800""#, 1).into_bytes(), "$.source_bucket"),
    text("NaN for lag_days", |t| t.replacen(r#""lag_days":2"#, r#""lag_days":NaN"#, 1).into_bytes(), "$.lag_days"),
    text("an event over 6 MiB", |t| with_first(t, &format!(r#""padding":"{}""#, "x".repeat(7 * MB))), "$"),
];

/// Cases that wait for a rule not implemented yet (issue 12); each says what it waits for.
#[rustfmt::skip]
const PENDING: &[Case] = &[
    // Item 4: only a JSON object is an event, and that holds inside it too (read positionally now).
    set("an array for the inventory", "/inventory", || json!(["backup-inventory", "inventory", "daily"]), "$.inventory"),
    // Item 6: a JSON syntax error is the whole document's (now `$.?`).
    text("single-quoted JSON", |_| b"{'source_bucket': 'lake-prod'}".to_vec(), "$"),
    // Items 4 and 6: a top-level array is `$` even past the recursion limit (now `$[0][0]…`).
    text("a top-level array nested 200 deep", |_| format!("{}{}", "[".repeat(200), "]".repeat(200)).into_bytes(), "$"),
    // Item 6: the path in a message is cut like a value (now 7 KB of path).
    text("an object nested 200 deep with long keys", |t| with_first(t, &format!(r#""deep":{}1{}"#, format!(r#"{{"{}":"#, "n".repeat(60)).repeat(200), "}".repeat(200))), "$.deep.*"),
    // Item 6: the same for a duplicate key (now the whole 1 MB key in the path).
    text("a 1 MB key given twice", |t| { let k = "k".repeat(MB); with_first(t, &format!(r#""{k}":1,"{k}":2"#)) }, "$.k*"),
];

#[tokio::test]
async fn bad_inputs_are_refused_with_their_path_a_short_message_and_nothing_changed() {
    refused_and_nothing_changed(CASES).await;
}

#[tokio::test]
#[ignore = "waits for rules of issue 12 not implemented yet (each case in PENDING says which)"]
async fn bad_inputs_waiting_for_a_rule_are_refused_too() {
    refused_and_nothing_changed(PENDING).await;
}
