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

use audit_report::AuditReport;
use aws_sdk_s3::Client;
use harness::Moto;
use kit::entry::invoke;
use md5::{Digest, Md5};
use serde_json::{Value, json};
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

/// A report bucket holding the completion report of a finished two-object job, and the event that
/// audits it (and writes the audit record beside it).
struct World {
    moto: Moto,
    step: AuditReport,
    base: Value,
}

impl World {
    /// The environment that points the binary at this world.
    fn env(&self) -> Vec<(String, String)> {
        self.moto.env()
    }

    /// What a refused event must leave as it was: every bucket and object (no audit record).
    async fn state(&self) -> Vec<String> {
        s3_state(&self.moto).await
    }
}

const BINARY: &str = env!("CARGO_BIN_EXE_audit-report");
/// The base event writes the audit record.
const BASE_WRITES: bool = true;
/// The step's own type names, which no message may contain.
const STEP_TYPES: &[&str] = &["AuditInput", "ReportLocation", "JobSummary", "AuditReport"];

const JOB: &str = "f8fb9d89-a3aa-461d-bddc-ea6a1b131955";

async fn put(s3: &Client, key: &str, body: Vec<u8>) {
    s3.put_object()
        .bucket("backup-reports")
        .key(key)
        .body(body.into())
        .send()
        .await
        .expect("PutObject");
}

async fn world() -> World {
    let moto = Moto::start();
    let s3 = moto.s3();
    s3.create_bucket()
        .bucket("backup-reports")
        .send()
        .await
        .expect("CreateBucket");
    // A completion report as S3 writes it: result files, and a manifest.json listing their MD5s.
    let base = format!("batch-reports/job-{JOB}");
    let csv = "lake-prod,table/part-0.parquet,,succeeded,200,,Successful\n\
               lake-prod,table/_delta_log/00000000000000000000.json,,succeeded,200,,Successful\n";
    let result_key = format!("{base}/results/{:040x}.csv", 0);
    put(&s3, &result_key, csv.as_bytes().to_vec()).await;
    let manifest = json!({
        "Format": "Report_CSV_20180820",
        "ReportCreationDate": "2021-04-02T06:12:44.123Z",
        "Results": [{
            "TaskExecutionStatus": "succeeded",
            "Bucket": "backup-reports",
            "MD5Checksum": hex::encode(Md5::digest(csv.as_bytes())),
            "Key": result_key,
        }],
        "ReportSchema": "Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage",
    });
    put(
        &s3,
        &format!("{base}/manifest.json"),
        manifest.to_string().into_bytes(),
    )
    .await;
    World {
        step: AuditReport::new(moto.s3()),
        base: json!({
            "source_bucket": "lake-prod",
            "backup_date": "2021-03-31",
            "snapshot_bucket": "lake-prod-31-mar-2021",
            "job_id": JOB,
            "report": {"bucket": "backup-reports", "prefix": "batch-reports"},
            "job": {"job_id": JOB, "status": "Complete", "total_tasks": 2, "succeeded_tasks": 2,
                    "failed_tasks": 0, "failure_reasons": []}
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
    set("a number for the backup date", "/backup_date", || json!(20_210_331), "$.backup_date"),
    set("a number for the job id", "/job_id", || json!(12_345), "$.job_id"),
    set("a string for the report", "/report", || json!("backup-reports"), "$.report"),
    set("a number for the report bucket", "/report/bucket", || json!(7), "$.report.bucket"),
    set("an array for the report prefix", "/report/prefix", || json!(["batch-reports"]), "$.report.prefix"),
    set("a string for the job summary", "/job", || json!("Complete"), "$.job"),
    set("a number for the job status", "/job/status", || json!(1), "$.job.status"),
    set("a string for the total tasks", "/job/total_tasks", || json!("2"), "$.job.total_tasks"),
    set("negative total tasks", "/job/total_tasks", || json!(-1), "$.job.total_tasks"),
    set("a string for the failure reasons", "/job/failure_reasons", || json!("none"), "$.job.failure_reasons"),
    Case { name: "no report", event: Event::Without("/report"), error_type: "InvalidInput", path: "$" },
    Case { name: "no job status", event: Event::Without("/job/status"), error_type: "InvalidInput", path: "$.job" },
    // Names.
    set("an uppercase source bucket (legacy)", "/source_bucket", || json!("Lake-Prod"), "$.source_bucket"),
    set("an underscore in the source bucket (legacy)", "/source_bucket", || json!("lake_prod"), "$.source_bucket"),
    set("a 255-character source bucket (legacy)", "/source_bucket", || json!("a".repeat(255)), "$.source_bucket"),
    set("an IP-form source bucket", "/source_bucket", || json!("192.168.5.4"), "$.source_bucket"),
    set("an xn-- source bucket", "/source_bucket", || json!("xn--lake"), "$.source_bucket"),
    set("a source bucket starting with -", "/source_bucket", || json!("-lake"), "$.source_bucket"),
    set("two periods in the source bucket", "/source_bucket", || json!("lake..prod"), "$.source_bucket"),
    set("a NUL in the source bucket", "/source_bucket", || json!("lake\u{0}prod"), "$.source_bucket"),
    set("an ARN for the snapshot bucket", "/snapshot_bucket", || json!("arn:aws:s3:::lake-prod-31-mar-2021"), "$.snapshot_bucket"),
    set("an uppercase snapshot bucket", "/snapshot_bucket", || json!("Lake-Prod-31-Mar-2021"), "$.snapshot_bucket"),
    set("an SNS ARN for the report bucket", "/report/bucket", || json!("arn:aws:sns:::backup-reports"), "$.report.bucket"),
    set("an s3:// URL for the report bucket", "/report/bucket", || json!("s3://backup-reports"), "$.report.bucket"),
    set("a report bucket ARN in an unknown partition", "/report/bucket", || json!("arn:aws-xx:s3:::backup-reports"), "$.report.bucket"),
    set("an object ARN for the report bucket", "/report/bucket", || json!("arn:aws:s3:::backup-reports/batch-reports"), "$.report.bucket"),
    set("a regional ARN for the report bucket", "/report/bucket", || json!("arn:aws:s3:us-east-1:123456789012:backup-reports"), "$.report.bucket"),
    set("an xn-- report bucket", "/report/bucket", || json!("xn--reports"), "$.report.bucket"),
    set("a job id of 37 characters", "/job_id", || json!("a".repeat(37)), "$.job_id"),
    set("a path in the job id", "/job_id", || json!("job/../x"), "$.job_id"),
    // Dates.
    set("February 30th", "/backup_date", || json!("2021-02-30"), "$.backup_date"),
    set("a date without leading zeros", "/backup_date", || json!("2021-3-1"), "$.backup_date"),
    set("a day-first date", "/backup_date", || json!("31-03-2021"), "$.backup_date"),
    set("an empty date", "/backup_date", || json!(""), "$.backup_date"),
    set("a timestamp for a date", "/backup_date", || json!("2021-03-31T00:00:00Z"), "$.backup_date"),
    // Sizes.
    set("a 1 MB source bucket", "/source_bucket", || json!("a".repeat(MB)), "$.source_bucket"),
    set("a 1 MB report bucket", "/report/bucket", || json!("b".repeat(MB)), "$.report.bucket"),
    set("a 1 MB report prefix", "/report/prefix", || json!("p".repeat(MB)), "$.report.prefix"),
    set("a 1 MB job id", "/job_id", || json!("j".repeat(MB)), "$.job_id"),
    set("total tasks beyond 64 bits", "/job/total_tasks", || json!(1e30), "$.job.total_tasks"),
    // Step rules.
    set("a job that is still active", "/job/status", || json!("Active"), "$.job.status"),
    set("a job status in lowercase", "/job/status", || json!("complete"), "$.job.status"),
    set("an empty job status", "/job/status", || json!(""), "$.job.status"),
    set("a job summary of another job", "/job/job_id", || json!("00000000-0000-0000-0000-000000000000"), "$.job.job_id"),
    // Nesting.
    whole("an array event", || json!(["lake-prod", "2021-01-15", null])),
    whole("a string event", || json!("lake-prod")),
    whole("a number event", || json!(42)),
    whole("a null event", || Value::Null),
    whole("an empty object", || json!({})),
    set("a nested object for the source bucket", "/source_bucket", || json!({"a": {"b": {"c": [1, 2, 3]}}}), "$.source_bucket"),
    set("a nested object for the job status", "/job/status", || json!({"status": "Complete"}), "$.job.status"),
    // Encodings.
    set("non-ASCII in the source bucket", "/source_bucket", || json!("lake-prød"), "$.source_bucket"),
    set("an emoji in the report bucket", "/report/bucket", || json!("reports-🦀"), "$.report.bucket"),
    set("a newline in the report prefix", "/report/prefix", || json!("batch-reports\n"), "$.report.prefix"),
    set("a NUL in the report prefix", "/report/prefix", || json!("batch\u{0}reports"), "$.report.prefix"),
    // Only visible in the text: through the binary.
    text("a source bucket given twice", |t| with_first(t, r#""source_bucket":"lake-test""#), "$.source_bucket"),
    text("a report bucket given twice", |t| t.replacen(r#""report":{"#, r#""report":{"bucket":"other-reports","#, 1).into_bytes(), "$.report.bucket"),
    text("a job status given twice", |t| t.replacen(r#""job":{"#, r#""job":{"status":"Active","#, 1).into_bytes(), "$.job.status"),
    text("the array event as text", |_| br#"["lake-prod","2021-01-15",null]"#.to_vec(), "$"),
    text("not JSON", |_| b"source_bucket=lake-prod&backup_date=2021-03-31".to_vec(), "$"),
    text("two events", |t| format!("{t} {t}").into_bytes(), "$"),
    text("nothing on stdin", |_| Vec::new(), "$"),
    text("invalid UTF-8", |t| [t.as_bytes(), b"\xff\xfe"].concat(), "$"),
    text("an event over 6 MiB", |t| with_first(t, &format!(r#""padding":"{}""#, "x".repeat(7 * MB))), "$"),
];

/// Cases that wait for a rule not implemented yet (issue 12); each says what it waits for.
#[rustfmt::skip]
const PENDING: &[Case] = &[
    // Item 6: quote at most a short prefix of the value, escaped (these echo it whole, raw now).
    set("a NUL after the job status", "/job/status", || json!("Complete\u{0}"), "$.job.status"),
    set("a 1 MB job status", "/job/status", || json!("A".repeat(MB)), "$.job.status"),
    set("a 1 MB job id in the job summary", "/job/job_id", || json!("j".repeat(MB)), "$.job.job_id"),
    // Item 6: a JSON syntax error is the whole document's (now `$.?`).
    text("single-quoted JSON", |_| b"{'source_bucket': 'lake-prod'}".to_vec(), "$"),
    // Items 4 and 6: a top-level array is `$` even past the recursion limit (now `$[0][0]…`).
    text("a top-level array nested 200 deep", |_| format!("{}{}", "[".repeat(200), "]".repeat(200)).into_bytes(), "$"),
    // Item 6: the path in a message is cut like a value (now 7 KB of path).
    text("an object nested 200 deep with long keys", |t| with_first(t, &format!(r#""deep":{}1{}"#, format!(r#"{{"{}":"#, "n".repeat(60)).repeat(200), "}".repeat(200))), "$.deep.*"),
    // Item 6: the same for a duplicate key (now the whole 1 MB key in the path).
    text("a 1 MB key given twice", |t| { let k = "k".repeat(MB); with_first(t, &format!(r#""{k}":1,"{k}":2"#)) }, "$.k*"),
    // Last: a case the step accepts writes an audit record, which the cases after it would meet.
    // Item 4: only a JSON object is an event, and that holds inside it too (read positionally now).
    set("an array for the report", "/report", || json!(["backup-reports", "batch-reports"]), "$.report"),
    set("an array for the job summary", "/job", || json!([JOB, "Complete", 2, 2, 0, []]), "$.job"),
    // Item 5: a report bucket ARN of another partition than the step's region (us-east-1).
    set("a report bucket ARN in aws-cn", "/report/bucket", || json!("arn:aws-cn:s3:::backup-reports"), "$.report.bucket"),
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
