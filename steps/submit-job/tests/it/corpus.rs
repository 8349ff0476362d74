//! The bad-input corpus (issue 12): hostile and malformed events, table-driven. Every case is
//! refused as `InvalidInput` with the JSON path of the field at fault (`$` for the whole event), a
//! short message in JSON words, and nothing in S3 changed. Parsed cases go through
//! `kit::entry::invoke`; cases only visible in the event's text (duplicate keys, not JSON) go
//! through the binary on stdin.
//!
//! The runner, and what it asserts of every case, is `harness::corpus`; here, the step's world,
//! its base event (a good one: the control at the end runs it) and its cases.
//! `CORPUS_SHOW=1 cargo test -p <step> corpus -- --nocapture` prints every answer.

use harness::corpus::{self, Case, Event, MB, set, text, whole};
use harness::{DEFAULT_ACCOUNT, Moto};
use local_batch::{BatchConfig, RunningBatch};
use serde_json::{Value, json};
use submit_job::SubmitJob;

/// Moto with a source bucket, its inventory, an Object Lock snapshot bucket and a report bucket;
/// the local Batch Operations behind S3 Control; and the event that creates the snapshot's job.
struct World {
    moto: Moto,
    batch: RunningBatch,
    control: aws_sdk_s3control::Client,
    step: SubmitJob,
    base: Value,
}

impl corpus::World for World {
    type Step = SubmitJob;
    const BINARY: &str = env!("CARGO_BIN_EXE_submit-job");
    /// The base event creates a job.
    const BASE_WRITES: bool = true;
    /// The step's own type names, which no message may contain.
    const STEP_TYPES: &[&str] = &[
        "Input",
        "ManifestRef",
        "ReportTarget",
        "RestoreJob",
        "ManifestFormat",
        "DateTime",
        "SubmitJob",
    ];

    fn moto(&self) -> &Moto {
        &self.moto
    }
    fn step(&self) -> &SubmitJob {
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

const ROLE: &str = "arn:aws:iam::123456789012:role/lakevault-batch";

async fn world() -> World {
    let moto = Moto::start();
    let s3 = moto.s3();
    for b in ["lake-prod", "backup-inventory", "backup-reports"] {
        s3.create_bucket()
            .bucket(b)
            .send()
            .await
            .expect("CreateBucket");
    }
    s3.create_bucket()
        .bucket("lake-prod-31-mar-2021")
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .expect("CreateBucket");
    let keys = [
        "table/part-0.parquet",
        "table/_delta_log/00000000000000000000.json",
    ];
    for k in keys {
        s3.put_object()
            .bucket("lake-prod")
            .key(k)
            .body(k.as_bytes().to_vec().into())
            .send()
            .await
            .expect("PutObject");
    }
    let listed: Vec<(String, i64)> = keys
        .iter()
        .map(|k| ((*k).to_owned(), k.len() as i64))
        .collect();
    let m = local_batch::testkit::write_inventory(
        &s3,
        "backup-inventory",
        "inventory",
        "lake-prod",
        &listed,
        2,
    )
    .await
    .expect("an inventory");
    let batch = local_batch::spawn(BatchConfig::new(s3.clone()))
        .await
        .expect("the local Batch Operations");
    let control = batch.s3control(&moto.sdk_config());
    World {
        step: SubmitJob::new(control.clone()),
        base: json!({
            "account_id": DEFAULT_ACCOUNT,
            "source_bucket": "lake-prod",
            "backup_date": "2021-03-31",
            "manifest": {"arn": m.arn, "etag": m.etag, "bucket": m.bucket, "key": m.key},
            "snapshot_bucket": "lake-prod-31-mar-2021",
            "role_arn": ROLE,
            "report": {"bucket": "backup-reports", "prefix": "batch-reports"},
            "priority": 10,
            "storage_class": "STANDARD",
            "retain_until": "2099-12-31T00:00:00Z",
            "object_lock_mode": "GOVERNANCE"
        }),
        control,
        batch,
        moto,
    }
}

const RESTORE_ID: &str = "3f2a9c0d1e4b5a67";

/// Moto with a snapshot bucket holding a table, plan-restore's CSV manifest of it, an empty
/// destination bucket; the local Batch Operations; and the event that creates the restore's job.
async fn restore_world() -> World {
    let moto = Moto::start();
    let s3 = moto.s3();
    for b in [
        "lake-prod-31-mar-2021",
        "lake-prod-restored",
        "backup-reports",
    ] {
        s3.create_bucket()
            .bucket(b)
            .send()
            .await
            .expect("CreateBucket");
    }
    let keys = [
        "events/part-0.parquet".to_owned(),
        "events/_delta_log/00000000000000000000.json".to_owned(),
    ];
    for k in &keys {
        s3.put_object()
            .bucket("lake-prod-31-mar-2021")
            .key(k)
            .body(k.as_bytes().to_vec().into())
            .send()
            .await
            .expect("PutObject");
    }
    let m = local_batch::testkit::write_csv_manifest(
        &s3,
        "backup-reports",
        &format!("reports/restore-{RESTORE_ID}/manifest.csv"),
        "lake-prod-31-mar-2021",
        &keys,
    )
    .await
    .expect("a CSV manifest");
    let batch = local_batch::spawn(BatchConfig::new(s3.clone()))
        .await
        .expect("the local Batch Operations");
    let control = batch.s3control(&moto.sdk_config());
    World {
        step: SubmitJob::new(control.clone()),
        base: json!({
            "account_id": DEFAULT_ACCOUNT,
            "source_bucket": "lake-prod-31-mar-2021",
            "backup_date": "2021-03-31",
            "manifest": {"arn": m.arn, "etag": m.etag, "bucket": m.bucket, "key": m.key,
                         "format": "S3BatchOperations_CSV_20180820"},
            "snapshot_bucket": "lake-prod-restored",
            "role_arn": ROLE,
            "report": {"bucket": "backup-reports", "prefix": format!("reports/restore-{RESTORE_ID}")},
            "priority": 10,
            "restore": {"restore_id": RESTORE_ID, "target_key_prefix": "restored"}
        }),
        control,
        batch,
        moto,
    }
}

const HEX_ETAG: &str = "d41d8cd98f00b204e9800998ecf8427e";

// One case per line: a table reads better than rustfmt's one argument per line.
#[rustfmt::skip]
const CASES: &[Case] = &[
    // Types.
    set("a number for the account id", "/account_id", || json!(123_456_789_012_u64), "$.account_id"),
    set("null for the snapshot bucket", "/snapshot_bucket", || Value::Null, "$.snapshot_bucket"),
    set("a string for the manifest", "/manifest", || json!("arn:aws:s3:::backup-inventory/manifest.json"), "$.manifest"),
    set("a number for the manifest ETag", "/manifest/etag", || json!(7), "$.manifest.etag"),
    set("an array for the role", "/role_arn", || json!([ROLE]), "$.role_arn"),
    set("null for the report", "/report", || Value::Null, "$.report"),
    set("a string for the priority", "/priority", || json!("10"), "$.priority"),
    set("a fraction for the priority", "/priority", || json!(1.5), "$.priority"),
    set("a number for the storage class", "/storage_class", || json!(1), "$.storage_class"),
    set("a number for retain_until", "/retain_until", || json!(4_102_358_400_u64), "$.retain_until"),
    Case { name: "no manifest", event: Event::Without("/manifest"), error_type: "InvalidInput", path: "$" },
    Case { name: "no report prefix", event: Event::Without("/report/prefix"), error_type: "InvalidInput", path: "$.report" },
    // Names.
    set("an ARN for the snapshot bucket", "/snapshot_bucket", || json!("arn:aws:s3:::lake-prod-31-mar-2021"), "$.snapshot_bucket"),
    set("an uppercase snapshot bucket", "/snapshot_bucket", || json!("Lake-Prod-31-Mar-2021"), "$.snapshot_bucket"),
    set("an s3:// URL for the report bucket", "/report/bucket", || json!("s3://backup-reports"), "$.report.bucket"),
    set("an SNS ARN for the report bucket", "/report/bucket", || json!("arn:aws:sns:::backup-reports"), "$.report.bucket"),
    set("an 11-digit account id", "/account_id", || json!("12345678901"), "$.account_id"),
    set("a letter in the account id", "/account_id", || json!("12345678901a"), "$.account_id"),
    // ARNs.
    set("a role in an unknown partition", "/role_arn", || json!("arn:aws-xx:iam::123456789012:role/lakevault-batch"), "$.role_arn"),
    set("a role with a region", "/role_arn", || json!("arn:aws:iam:us-east-1:123456789012:role/lakevault-batch"), "$.role_arn"),
    set("a user for the role", "/role_arn", || json!("arn:aws:iam::123456789012:user/batch"), "$.role_arn"),
    set("a role name for the role", "/role_arn", || json!("lakevault-batch"), "$.role_arn"),
    set("a bucket ARN for the manifest", "/manifest/arn", || json!("arn:aws:s3:::backup-inventory"), "$.manifest.arn"),
    set("an s3:// URL for the manifest", "/manifest/arn", || json!("s3://backup-inventory/inventory/manifest.json"), "$.manifest.arn"),
    set("a manifest in an unknown partition", "/manifest/arn", || json!("arn:aws-xx:s3:::backup-inventory/manifest.json"), "$.manifest.arn"),
    set("a manifest in an xn-- bucket", "/manifest/arn", || json!("arn:aws:s3:::xn--inv/manifest.json"), "$.manifest.arn"),
    // Dates.
    set("retain_until on February 30th", "/retain_until", || json!("2099-02-30T00:00:00Z"), "$.retain_until"),
    set("retain_until without a time", "/retain_until", || json!("2099-12-31"), "$.retain_until"),
    set("retain_until in words", "/retain_until", || json!("in ten years"), "$.retain_until"),
    set("an empty retain_until", "/retain_until", || json!(""), "$.retain_until"),
    // Sizes.
    set("a negative priority", "/priority", || json!(-1), "$.priority"),
    set("a priority beyond 32 bits", "/priority", || json!(2_147_483_648_u64), "$.priority"),
    set("a 1 MB report prefix", "/report/prefix", || json!("p".repeat(MB)), "$.report.prefix"),
    set("a 1 MB role", "/role_arn", || json!(format!("{ROLE}{}", "x".repeat(MB))), "$.role_arn"),
    set("a 1 MB manifest ARN", "/manifest/arn", || json!(format!("arn:aws:s3:::backup-inventory/{}", "k".repeat(MB))), "$.manifest.arn"),
    set("a 1 MB account id", "/account_id", || json!("1".repeat(MB)), "$.account_id"),
    // Step rules.
    set("an empty ETag", "/manifest/etag", || json!(""), "$.manifest.etag"),
    set("an ETag of two quotes", "/manifest/etag", || json!("\"\""), "$.manifest.etag"),
    set("a quote inside the ETag", "/manifest/etag", || json!("d41d8cd9\"8f00b204"), "$.manifest.etag"),
    set("an ETag that is not hex", "/manifest/etag", || json!("not-an-etag!"), "$.manifest.etag"),
    set("a 1 MB hex ETag", "/manifest/etag", || json!("a".repeat(MB)), "$.manifest.etag"),
    set("a 1 MB ETag that is not hex", "/manifest/etag", || json!("z".repeat(MB)), "$.manifest.etag"),
    set("retain_until in the past", "/retain_until", || json!("2020-01-01T00:00:00Z"), "$.retain_until"),
    Case { name: "object_lock_mode without retain_until", event: Event::Without("/retain_until"), error_type: "InvalidInput", path: "$.object_lock_mode" },
    set("a lowercase object_lock_mode", "/object_lock_mode", || json!("governance"), "$.object_lock_mode"),
    set("an unknown storage class", "/storage_class", || json!("REDUCED_REDUNDANCY"), "$.storage_class"),
    set("a lowercase storage class", "/storage_class", || json!("standard"), "$.storage_class"),
    // Nesting.
    whole("a string event", || json!("lake-prod")),
    set("a nested object for the ETag", "/manifest/etag", || json!({"etag": HEX_ETAG}), "$.manifest.etag"),
    // Encodings.
    set("an emoji in the snapshot bucket", "/snapshot_bucket", || json!("lake-🦀-31-mar-2021"), "$.snapshot_bucket"),
    set("a newline in the report prefix", "/report/prefix", || json!("batch-reports\n"), "$.report.prefix"),
    set("a NUL in the report prefix", "/report/prefix", || json!("batch\u{0}reports"), "$.report.prefix"),
    set("a NUL in the role", "/role_arn", || json!("arn:aws:iam::123456789012:role/lakevault\u{0}batch"), "$.role_arn"),
    // Only visible in the text: through the binary.
    text("an ETag given twice", |t| t.replacen(r#""manifest":{"#, &format!(r#""manifest":{{"etag":"{HEX_ETAG}","#), 1).into_bytes(), "$.manifest.etag"),
    text("not JSON", |_| b"source_bucket=lake-prod&backup_date=2021-03-31".to_vec(), "$"),
];

/// Hostile shapes, sizes and partitions (issue 12 items 4 to 7); each comment names the rule it holds to.
#[rustfmt::skip]
const HOSTILE: &[Case] = &[
    // Item 6: quote at most a short prefix of the value.
    set("a 1 MB storage class", "/storage_class", || json!("S".repeat(MB)), "$.storage_class"),
    set("a 1 MB object_lock_mode", "/object_lock_mode", || json!("G".repeat(MB)), "$.object_lock_mode"),
    set("a 1 MB retain_until", "/retain_until", || json!("2".repeat(MB)), "$.retain_until"),
    // Last: a case the step accepts creates a job, which the cases after it would meet.
    // Item 4: only a JSON object is an event, and that holds inside it too.
    set("an array for the report", "/report", || json!(["backup-reports", "batch-reports"]), "$.report"),
    // Items 5 and 7: a role of another partition than the job's region (us-east-1).
    set("a role in aws-cn for a job in us-east-1", "/role_arn", || json!("arn:aws-cn:iam::123456789012:role/lakevault-batch"), "$.role_arn"),
];

/// A restore's rules: its id, a CSV manifest, no Object Lock, a folder for the target key prefix.
#[rustfmt::skip]
const RESTORE: &[Case] = &[
    // Types.
    set("a string for the restore", "/restore", || json!(RESTORE_ID), "$.restore"),
    set("an array for the restore", "/restore", || json!([RESTORE_ID, "restored"]), "$.restore"),
    set("a number for the restore id", "/restore/restore_id", || json!(3_210_987_654_321_u64), "$.restore.restore_id"),
    set("an array for the target key prefix", "/restore/target_key_prefix", || json!(["restored"]), "$.restore.target_key_prefix"),
    set("a number for the manifest format", "/manifest/format", || json!(20_180_820), "$.manifest.format"),
    Case { name: "no restore id", event: Event::Without("/restore/restore_id"), error_type: "InvalidInput", path: "$.restore" },
    // The restore id.
    set("an empty restore id", "/restore/restore_id", || json!(""), "$.restore.restore_id"),
    set("a 15-digit restore id", "/restore/restore_id", || json!("3f2a9c0d1e4b5a6"), "$.restore.restore_id"),
    set("an uppercase restore id", "/restore/restore_id", || json!("3F2A9C0D1E4B5A67"), "$.restore.restore_id"),
    set("a restore id that is not hex", "/restore/restore_id", || json!("restore-events-1"), "$.restore.restore_id"),
    set("a 1 MB restore id", "/restore/restore_id", || json!("a".repeat(MB)), "$.restore.restore_id"),
    // The manifest: plan-restore's CSV only.
    Case { name: "no manifest format", event: Event::Without("/manifest/format"), error_type: "InvalidInput", path: "$.manifest.format" },
    set("an inventory manifest for a restore", "/manifest/format", || json!("S3InventoryReport_CSV_20161130"), "$.manifest.format"),
    set("the manifest generator's format", "/manifest/format", || json!("S3InventoryReport_CSV_20211130"), "$.manifest.format"),
    set("a lowercase manifest format", "/manifest/format", || json!("s3batchoperations_csv_20180820"), "$.manifest.format"),
    set("a 1 MB manifest format", "/manifest/format", || json!("C".repeat(MB)), "$.manifest.format"),
    // No Object Lock.
    set("retain_until for a restore", "/retain_until", || json!("2099-12-31T00:00:00Z"), "$.retain_until"),
    // The target key prefix: a folder, without '/' at either end.
    set("an empty target key prefix", "/restore/target_key_prefix", || json!(""), "$.restore.target_key_prefix"),
    set("a target key prefix of /", "/restore/target_key_prefix", || json!("/"), "$.restore.target_key_prefix"),
    set("a leading / in the target key prefix", "/restore/target_key_prefix", || json!("/restored"), "$.restore.target_key_prefix"),
    set("a trailing / in the target key prefix", "/restore/target_key_prefix", || json!("restored/"), "$.restore.target_key_prefix"),
    set("a newline in the target key prefix", "/restore/target_key_prefix", || json!("restored\n"), "$.restore.target_key_prefix"),
    set("a NUL in the target key prefix", "/restore/target_key_prefix", || json!("re\u{0}stored"), "$.restore.target_key_prefix"),
    set("a 1 MB target key prefix", "/restore/target_key_prefix", || json!("p".repeat(MB)), "$.restore.target_key_prefix"),
    // Last: accepted cases would create a job the later ones meet; object_lock_mode alone.
    set("object_lock_mode for a restore", "/object_lock_mode", || json!("GOVERNANCE"), "$.object_lock_mode"),
];

#[tokio::test]
async fn bad_restore_inputs_are_refused_with_their_path_and_nothing_changed() {
    corpus::refused_and_nothing_changed(&restore_world().await, RESTORE).await;
}

#[tokio::test]
async fn bad_inputs_are_refused_with_their_path_a_short_message_and_nothing_changed() {
    let cases = [
        corpus::NOT_AN_EVENT,
        corpus::SOURCE_BUCKET,
        corpus::BACKUP_DATE,
        CASES,
    ]
    .concat();
    corpus::refused_and_nothing_changed(&world().await, &cases).await;
}

#[tokio::test]
async fn hostile_shapes_sizes_and_partitions_are_refused_too() {
    let cases = [corpus::HOSTILE_TEXT, HOSTILE].concat();
    corpus::refused_and_nothing_changed(&world().await, &cases).await;
}
