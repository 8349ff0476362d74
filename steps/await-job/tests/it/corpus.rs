//! The bad-input corpus (issue 12): hostile and malformed events, table-driven. Every case is
//! refused as `InvalidInput` with the JSON path of the field at fault (`$` for the whole event), a
//! short message in JSON words, and nothing in S3 changed. Parsed cases go through
//! `kit::entry::invoke`; cases only visible in the event's text (duplicate keys, not JSON) go
//! through the binary on stdin.
//!
//! The runner, and what it asserts of every case, is `harness::corpus`; here, the step's world,
//! its base event (a good one: the control at the end runs it) and its cases.
//! `CORPUS_SHOW=1 cargo test -p <step> corpus -- --nocapture` prints every answer.

use await_job::AwaitJob;
use aws_sdk_s3control::types::{JobManifestFormat, JobStatus};
use harness::corpus::{self, Case, Event, MB, set, text, whole, with_first};
use harness::{DEFAULT_ACCOUNT, Moto};
use local_batch::testkit;
use local_batch::{BatchConfig, RunningBatch};
use serde_json::{Value, json};

/// Moto and the local Batch Operations holding one finished copy job, and the event that asks
/// for that job's status.
struct World {
    moto: Moto,
    batch: RunningBatch,
    control: aws_sdk_s3control::Client,
    step: AwaitJob,
    base: Value,
}

impl corpus::World for World {
    type Step = AwaitJob;
    const BINARY: &str = env!("CARGO_BIN_EXE_await-job");
    /// The step only reads.
    const BASE_WRITES: bool = false;
    /// The step's own type names, which no message may contain.
    const STEP_TYPES: &[&str] = &["Input", "AwaitJob", "JobDescriptor"];

    fn moto(&self) -> &Moto {
        &self.moto
    }
    fn step(&self) -> &AwaitJob {
        &self.step
    }
    fn base(&self) -> &Value {
        &self.base
    }

    /// moto's, and S3 Control at the local Batch Operations.
    fn env(&self) -> Vec<(String, String)> {
        let mut env = self.moto.env();
        env.push(("AWS_ENDPOINT_URL_S3_CONTROL".into(), self.batch.url.clone()));
        env
    }

    /// Every bucket and object, and every job.
    async fn state(&self) -> Vec<String> {
        let mut state = corpus::s3_state(&self.moto).await;
        state.extend(corpus::job_state(&self.control, DEFAULT_ACCOUNT).await);
        state
    }
}

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
    let m = testkit::write_csv_manifest(&s3, "lake-prod", "manifest.csv", "lake-prod", &keys)
        .await
        .expect("a manifest");
    let batch = local_batch::spawn(BatchConfig::new(s3.clone()))
        .await
        .expect("the local Batch Operations");
    let control = batch.s3control(&moto.sdk_config());
    let job_id = testkit::copy_job(
        &control,
        DEFAULT_ACCOUNT,
        m.job_manifest(JobManifestFormat::S3BatchOperationsCsv20180820, &[]),
        testkit::copy_into("lake-prod")
            .target_key_prefix("copy")
            .build(),
        "lake-prod",
        "reports",
    )
    .client_request_token("corpus")
    .send()
    .await
    .expect("CreateJob")
    .job_id
    .expect("a job id");
    // The job finishes first, so that nothing moves while the corpus runs.
    let job = testkit::wait_for_job(&control, DEFAULT_ACCOUNT, &job_id, None)
        .await
        .expect("the job finishes");
    assert_eq!(job.status, Some(JobStatus::Complete), "job {job_id}");
    World {
        step: AwaitJob::new(control.clone()),
        base: json!({"account_id": DEFAULT_ACCOUNT, "job_id": job_id}),
        control,
        batch,
        moto,
    }
}

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
    whole("a string event", || json!("f8fb9d89-a3aa-461d-bddc-ea6a1b131955")),
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
    text("not JSON", |_| b"job_id=f8fb9d89-a3aa-461d-bddc-ea6a1b131955".to_vec(), "$"),
];

/// Hostile shapes, sizes and partitions (issue 12 items 4 to 7); each comment names the rule it holds to.
#[rustfmt::skip]
const HOSTILE: &[Case] = &[
];

#[tokio::test]
async fn bad_inputs_are_refused_with_their_path_a_short_message_and_nothing_changed() {
    let cases = [corpus::NOT_AN_EVENT, CASES].concat();
    corpus::refused_and_nothing_changed(&world().await, &cases).await;
}

#[tokio::test]
async fn hostile_shapes_sizes_and_partitions_are_refused_too() {
    let cases = [corpus::HOSTILE_TEXT, HOSTILE].concat();
    corpus::refused_and_nothing_changed(&world().await, &cases).await;
}
