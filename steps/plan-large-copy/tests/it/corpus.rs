//! The bad-input corpus: hostile and malformed events, table-driven, each refused as
//! `InvalidInput` at the field's JSON path with a short message and nothing changed — no object,
//! no upload (the runner is `harness::corpus`). `CORPUS_SHOW=1 cargo test -p plan-large-copy
//! corpus -- --nocapture` prints every answer.

use harness::Moto;
use harness::corpus::{self, Case, Event, MB, set, text, whole, with_first};
use plan_large_copy::PlanLargeCopy;
use serde_json::{Value, json};

use crate::support::{MIB, buckets, bytes, plan_event, planner, put_source, uploads};

struct World {
    moto: Moto,
    step: PlanLargeCopy,
    base: Value,
    snapshot: String,
}

impl corpus::World for World {
    type Step = PlanLargeCopy;
    const BINARY: &str = env!("CARGO_BIN_EXE_plan-large-copy");
    /// The base event starts an upload.
    const BASE_WRITES: bool = true;
    const STEP_TYPES: &[&str] = &[
        "Input",
        "PlanLargeCopy",
        "Checked",
        "SourceChecksum",
        "DateTime",
    ];

    fn moto(&self) -> &Moto {
        &self.moto
    }
    fn step(&self) -> &PlanLargeCopy {
        &self.step
    }
    fn base(&self) -> &Value {
        &self.base
    }

    fn env(&self) -> Vec<(String, String)> {
        let mut env = self.moto.env();
        env.push(("LAKEVAULT_MIN_PART_BYTES".into(), (5 * MIB).to_string()));
        env
    }

    /// Every bucket and object, and the snapshot bucket's uploads.
    async fn state(&self) -> Vec<String> {
        let mut state = corpus::s3_state(&self.moto).await;
        for (key, id) in uploads(&self.moto.s3(), &self.snapshot).await {
            state.push(format!("upload {key} {id}"));
        }
        state
    }
}

async fn world() -> World {
    let moto = Moto::start_local_stack();
    let s3 = moto.s3();
    let (src, snap) = buckets(&s3).await;
    put_source(&s3, &src, "events/part-0.parquet", bytes(6 * MIB, 9)).await;
    let mut base = plan_event(&src, "events/part-0.parquet", &snap);
    base["storage_class"] = json!("STANDARD");
    base["retain_until"] = json!("2099-12-31T00:00:00Z");
    base["object_lock_mode"] = json!("GOVERNANCE");
    base["kms_key_arn"] = json!(KMS);
    World {
        step: planner(&s3),
        base,
        snapshot: snap,
        moto,
    }
}

const KMS: &str = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";

#[rustfmt::skip]
const CASES: &[Case] = &[
    // Types.
    set("a number for the key", "/key", || json!(7), "$.key"),
    set("null for the key", "/key", || Value::Null, "$.key"),
    set("an array for the key", "/key", || json!(["events/part-0.parquet"]), "$.key"),
    set("a number for the version id", "/version_id", || json!(3), "$.version_id"),
    set("a number for the snapshot bucket", "/snapshot_bucket", || json!(31), "$.snapshot_bucket"),
    set("a number for the storage class", "/storage_class", || json!(1), "$.storage_class"),
    set("a number for retain_until", "/retain_until", || json!(4_102_358_400_u64), "$.retain_until"),
    set("an object for the KMS key", "/kms_key_arn", || json!({"arn": KMS}), "$.kms_key_arn"),
    Case { name: "no key", event: Event::Without("/key"), error_type: "InvalidInput", path: "$" },
    Case { name: "no snapshot bucket", event: Event::Without("/snapshot_bucket"), error_type: "InvalidInput", path: "$" },
    // Keys.
    set("an empty key", "/key", || json!(""), "$.key"),
    set("a key of 1,025 bytes", "/key", || json!("k".repeat(1025)), "$.key"),
    set("a 1 MB key", "/key", || json!("k".repeat(MB)), "$.key"),
    set("a newline in the key", "/key", || json!("events/part-0.parquet\n"), "$.key"),
    set("a NUL in the key", "/key", || json!("events/\u{0}part-0.parquet"), "$.key"),
    // Version ids.
    set("an empty version id", "/version_id", || json!(""), "$.version_id"),
    set("a space in the version id", "/version_id", || json!("3 L4kqtJl"), "$.version_id"),
    set("a 1 MB version id", "/version_id", || json!("v".repeat(MB)), "$.version_id"),
    // Names.
    set("an ARN for the snapshot bucket", "/snapshot_bucket", || json!("arn:aws:s3:::lake-prod-31-mar-2021"), "$.snapshot_bucket"),
    set("an uppercase snapshot bucket", "/snapshot_bucket", || json!("Lake-Prod-31-Mar-2021"), "$.snapshot_bucket"),
    set("a 1 MB snapshot bucket", "/snapshot_bucket", || json!("s".repeat(MB)), "$.snapshot_bucket"),
    // Storage classes.
    set("an unknown storage class", "/storage_class", || json!("REDUCED_REDUNDANCY"), "$.storage_class"),
    set("a lowercase storage class", "/storage_class", || json!("standard"), "$.storage_class"),
    set("a 1 MB storage class", "/storage_class", || json!("S".repeat(MB)), "$.storage_class"),
    // Object Lock.
    set("retain_until in the past", "/retain_until", || json!("2020-01-01T00:00:00Z"), "$.retain_until"),
    set("retain_until without a time", "/retain_until", || json!("2099-12-31"), "$.retain_until"),
    set("retain_until in words", "/retain_until", || json!("in ten years"), "$.retain_until"),
    set("a 1 MB retain_until", "/retain_until", || json!("2".repeat(MB)), "$.retain_until"),
    Case { name: "object_lock_mode without retain_until", event: Event::Without("/retain_until"), error_type: "InvalidInput", path: "$.object_lock_mode" },
    set("a lowercase object_lock_mode", "/object_lock_mode", || json!("governance"), "$.object_lock_mode"),
    // KMS keys.
    set("a KMS alias", "/kms_key_arn", || json!("arn:aws:kms:us-east-1:123456789012:alias/lakevault"), "$.kms_key_arn"),
    set("a key id for the KMS key", "/kms_key_arn", || json!("1234abcd-12ab-34cd-56ef-1234567890ab"), "$.kms_key_arn"),
    set("a KMS key of another region", "/kms_key_arn", || json!("arn:aws:kms:eu-west-1:123456789012:key/1234abcd"), "$.kms_key_arn"),
    set("a KMS key of another partition", "/kms_key_arn", || json!("arn:aws-cn:kms:cn-north-1:123456789012:key/1234abcd"), "$.kms_key_arn"),
    set("a 1 MB KMS key", "/kms_key_arn", || json!(format!("{KMS}{}", "x".repeat(MB))), "$.kms_key_arn"),
    // Nesting and text.
    whole("a string event", || json!("events/part-0.parquet")),
    text("a key given twice", |t| with_first(t, r#""key":"other.parquet""#), "$.key"),
];

#[tokio::test]
async fn bad_inputs_are_refused_with_their_path_a_short_message_and_nothing_changed() {
    let cases = [
        corpus::NOT_AN_EVENT,
        corpus::SOURCE_BUCKET,
        corpus::HOSTILE_TEXT,
        CASES,
    ]
    .concat();
    corpus::refused_and_nothing_changed(&world().await, &cases).await;
}
