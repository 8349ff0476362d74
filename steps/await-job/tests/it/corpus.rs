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

use await_job::AwaitJob;
use aws_sdk_s3control::types::{
    JobManifest, JobManifestFormat, JobManifestLocation, JobManifestSpec, JobOperation, JobReport,
    JobReportFormat, JobReportScope, S3CopyObjectOperation,
};
use harness::{DEFAULT_ACCOUNT, Moto};
use kit::entry::invoke;
use local_batch::{BatchConfig, RunningBatch};
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

/// Moto and the local Batch Operations holding one finished copy job, and the event that asks
/// for that job's status.
struct World {
    moto: Moto,
    batch: RunningBatch,
    control: aws_sdk_s3control::Client,
    step: AwaitJob,
    base: Value,
}

impl World {
    /// The environment that points the binary at this world.
    fn env(&self) -> Vec<(String, String)> {
        let mut env = self.moto.env();
        env.push(("AWS_ENDPOINT_URL_S3_CONTROL".into(), self.batch.url.clone()));
        env
    }

    /// What a refused event must leave as it was: every bucket and object, and every job.
    async fn state(&self) -> Vec<String> {
        let mut state = s3_state(&self.moto).await;
        state.extend(jobs(&self.control).await);
        state
    }
}

/// Every job of the account: id, status, description.
async fn jobs(control: &aws_sdk_s3control::Client) -> Vec<String> {
    let mut jobs = Vec::new();
    let mut pages = control
        .list_jobs()
        .account_id(DEFAULT_ACCOUNT)
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

const BINARY: &str = env!("CARGO_BIN_EXE_await-job");
/// The step only reads.
const BASE_WRITES: bool = false;
/// The step's own type names, which no message may contain.
const STEP_TYPES: &[&str] = &["Input", "AwaitJob", "JobDescriptor"];

async fn world() -> World {
    let moto = Moto::start();
    let s3 = moto.s3();
    s3.create_bucket()
        .bucket("lake-prod")
        .send()
        .await
        .expect("CreateBucket");
    let keys = [
        "table/part-0.parquet".to_owned(),
        "table/part-1.parquet".to_owned(),
    ];
    for k in &keys {
        s3.put_object()
            .bucket("lake-prod")
            .key(k)
            .body(k.as_bytes().to_vec().into())
            .send()
            .await
            .expect("PutObject");
    }
    let m = local_batch::testkit::write_csv_manifest(
        &s3,
        "lake-prod",
        "manifest.csv",
        "lake-prod",
        &keys,
    )
    .await
    .expect("a manifest");
    let batch = local_batch::spawn(BatchConfig::new(s3.clone()))
        .await
        .expect("the local Batch Operations");
    let control = batch.s3control(&moto.sdk_config());
    let job_id = control
        .create_job()
        .account_id(DEFAULT_ACCOUNT)
        .client_request_token("corpus")
        .confirmation_required(false)
        .priority(10)
        .role_arn("arn:aws:iam::123456789012:role/batch")
        .operation(
            JobOperation::builder()
                .s3_put_object_copy(
                    S3CopyObjectOperation::builder()
                        .target_resource("arn:aws:s3:::lake-prod")
                        .target_key_prefix("copy")
                        .build(),
                )
                .build(),
        )
        .manifest(
            JobManifest::builder()
                .spec(
                    JobManifestSpec::builder()
                        .format(JobManifestFormat::S3BatchOperationsCsv20180820)
                        .build()
                        .expect("a manifest spec"),
                )
                .location(
                    JobManifestLocation::builder()
                        .object_arn(&m.arn)
                        .e_tag(&m.etag)
                        .build()
                        .expect("a manifest location"),
                )
                .build(),
        )
        .report(
            JobReport::builder()
                .enabled(true)
                .bucket("arn:aws:s3:::lake-prod")
                .prefix("reports")
                .format(JobReportFormat::ReportCsv20180820)
                .report_scope(JobReportScope::AllTasks)
                .build(),
        )
        .send()
        .await
        .expect("CreateJob")
        .job_id
        .expect("a job id");
    // The job finishes first, so that nothing moves while the corpus runs.
    let mut finished = false;
    for _ in 0..2000 {
        if jobs(&control).await.iter().any(|j| j.contains("Complete")) {
            finished = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(finished, "job {job_id} did not finish");
    World {
        step: AwaitJob::new(control.clone()),
        base: json!({"account_id": DEFAULT_ACCOUNT, "job_id": job_id}),
        control,
        batch,
        moto,
    }
}

const MB: usize = 1 << 20;

// One case per line: a table reads better than rustfmt's one argument per line.
#[rustfmt::skip]
const CASES: &[Case] = &[
    // Types.
    set("a number for the account id", "/account_id", || json!(123_456_789_012_u64), "$.account_id"),
    set("null for the account id", "/account_id", || Value::Null, "$.account_id"),
    set("an array for the account id", "/account_id", || json!(["123456789012"]), "$.account_id"),
    set("a number for the job id", "/job_id", || json!(12_345), "$.job_id"),
    set("null for the job id", "/job_id", || Value::Null, "$.job_id"),
    set("a boolean for the job id", "/job_id", || json!(true), "$.job_id"),
    set("a fraction for the job id", "/job_id", || json!(1.5), "$.job_id"),
    Case { name: "no job id", event: Event::Without("/job_id"), error_type: "InvalidInput", path: "$" },
    Case { name: "no account id", event: Event::Without("/account_id"), error_type: "InvalidInput", path: "$" },
    // Names: job ids (S3 Control: 5 to 36 letters, digits, '-', '_').
    set("a job id of 37 characters", "/job_id", || json!("a".repeat(37)), "$.job_id"),
    set("a job id of 64 characters", "/job_id", || json!("a".repeat(64)), "$.job_id"),
    set("a job id of 4 characters", "/job_id", || json!("abcd"), "$.job_id"),
    set("an empty job id", "/job_id", || json!(""), "$.job_id"),
    set("a path in the job id", "/job_id", || json!("job/../x"), "$.job_id"),
    set("a space in the job id", "/job_id", || json!("job 12345"), "$.job_id"),
    set("a job id in braces", "/job_id", || json!("{f8fb9d89-a3aa-461d-bddc-ea6a1b131955}"), "$.job_id"),
    set("a percent-encoded job id", "/job_id", || json!("job%2F12345"), "$.job_id"),
    set("a job ARN for the job id", "/job_id", || json!("arn:aws:s3:us-east-1:123456789012:job/f8fb9d89-a3aa-461d-bddc-ea6a1b131955"), "$.job_id"),
    // Names: account ids (12 ASCII digits).
    set("an 11-digit account id", "/account_id", || json!("12345678901"), "$.account_id"),
    set("a 13-digit account id", "/account_id", || json!("1234567890123"), "$.account_id"),
    set("an account id with dashes", "/account_id", || json!("1234-5678-9012"), "$.account_id"),
    set("an account id with a trailing space", "/account_id", || json!("123456789012 "), "$.account_id"),
    set("an ARN for the account id", "/account_id", || json!("arn:aws:iam::123456789012:root"), "$.account_id"),
    set("an empty account id", "/account_id", || json!(""), "$.account_id"),
    // Dates: the event has none (and "2021-03-31" is a well-formed job id: S3 Control's rule).
    // Sizes.
    set("a 1 MB job id", "/job_id", || json!("a".repeat(MB)), "$.job_id"),
    set("a 1 MB account id", "/account_id", || json!("1".repeat(MB)), "$.account_id"),
    set("a job id beyond 64 bits", "/job_id", || json!(u64::MAX), "$.job_id"),
    // Nesting.
    whole("an array event", || json!(["123456789012", "f8fb9d89-a3aa-461d-bddc-ea6a1b131955"])),
    whole("the issue's array event", || json!(["lake-prod", "2021-01-15", null])),
    whole("a string event", || json!("f8fb9d89-a3aa-461d-bddc-ea6a1b131955")),
    whole("a number event", || json!(42)),
    whole("a null event", || Value::Null),
    whole("an empty object", || json!({})),
    set("a nested object for the job id", "/job_id", || json!({"job_id": "f8fb9d89-a3aa-461d-bddc-ea6a1b131955"}), "$.job_id"),
    set("a nested array for the job id", "/job_id", || json!([["f8fb9d89"]]), "$.job_id"),
    // Encodings.
    set("non-ASCII in the job id", "/job_id", || json!("jöb-12345"), "$.job_id"),
    set("an emoji in the job id", "/job_id", || json!("job-🦀-12345"), "$.job_id"),
    set("a NUL in the job id", "/job_id", || json!("job-\u{0}-12345"), "$.job_id"),
    set("a newline in the job id", "/job_id", || json!("job-12345\n"), "$.job_id"),
    set("full-width digits in the account id", "/account_id", || json!("１２３４５６７８９０１２"), "$.account_id"),
    set("Arabic-Indic digits in the account id", "/account_id", || json!("١٢٣٤٥٦٧٨٩٠١٢"), "$.account_id"),
    // Only visible in the text: through the binary.
    text("a job id given twice", |t| with_first(t, r#""job_id":"f8fb9d89-a3aa-461d-bddc-ea6a1b131955""#), "$.job_id"),
    text("an account id given twice", |t| with_first(t, r#""account_id":"111122223333""#), "$.account_id"),
    text("the array event as text", |_| br#"["lake-prod","2021-01-15",null]"#.to_vec(), "$"),
    text("not JSON", |_| b"job_id=f8fb9d89-a3aa-461d-bddc-ea6a1b131955".to_vec(), "$"),
    text("two events", |t| format!("{t} {t}").into_bytes(), "$"),
    text("nothing on stdin", |_| Vec::new(), "$"),
    text("invalid UTF-8", |t| [t.as_bytes(), b"\xff\xfe"].concat(), "$"),
    text("an event over 6 MiB", |t| with_first(t, &format!(r#""padding":"{}""#, "x".repeat(7 * MB))), "$"),
];

/// Cases that wait for a rule not implemented yet (issue 12); each says what it waits for.
#[rustfmt::skip]
const PENDING: &[Case] = &[
    // Item 6: a JSON syntax error is the whole document's (now `$.?`).
    text("single-quoted JSON", |_| b"{'job_id': 'f8fb9d89-a3aa-461d-bddc-ea6a1b131955'}".to_vec(), "$"),
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
