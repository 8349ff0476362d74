//! The bad-input corpus (issue 12): hostile and malformed events, table-driven. Every case is
//! refused as `InvalidInput` with the JSON path of the field at fault (`$` for the whole event), a
//! short message in JSON words, and nothing in S3 changed. Parsed cases go through
//! `kit::entry::invoke`; cases only visible in the event's text (duplicate keys, not JSON) go
//! through the binary on stdin.
//!
//! The runner, and what it asserts of every case, is `harness::corpus`; here, the step's world,
//! its base event (a good one: the control at the end runs it) and its cases.
//! `CORPUS_SHOW=1 cargo test -p <step> corpus -- --nocapture` prints every answer.

use create_bucket::CreateBucket;
use harness::Moto;
use harness::corpus::{self, Case, Event, MB, set, text, whole};
use serde_json::{Value, json};

/// An account holding the source bucket (with an object), and the event that creates its
/// snapshot bucket `acme-lake-prod-31-mar-2021` with every setting given.
struct World {
    moto: Moto,
    step: CreateBucket,
    base: Value,
}

impl corpus::World for World {
    type Step = CreateBucket;
    const BINARY: &str = env!("CARGO_BIN_EXE_create-bucket");
    /// The base event creates a bucket.
    const BASE_WRITES: bool = true;
    /// The step's own type names, which no message may contain.
    const STEP_TYPES: &[&str] = &["CreateBucketInput", "Retention", "RetentionMode", "Setting"];

    fn moto(&self) -> &Moto {
        &self.moto
    }
    fn step(&self) -> &CreateBucket {
        &self.step
    }
    fn base(&self) -> &Value {
        &self.base
    }
}

const ROLE: &str = "arn:aws:iam::123456789012:role/break-glass";
const KEY: &str = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";

async fn world() -> World {
    let moto = Moto::start();
    let s3 = moto.s3();
    s3.create_bucket()
        .bucket("lake-prod")
        .send()
        .await
        .expect("CreateBucket");
    s3.put_object()
        .bucket("lake-prod")
        .key("table/part-0.parquet")
        .body(b"parquet".to_vec().into())
        .send()
        .await
        .expect("PutObject");
    World {
        step: CreateBucket::new(moto.s3()),
        base: json!({
            "source_bucket": "lake-prod",
            "backup_date": "2021-03-31",
            "bucket_prefix": "acme",
            "region": "us-east-1",
            "kms_key_arn": KEY,
            "retention": {"mode": "GOVERNANCE", "days": 35},
            "break_glass_role_arns": [ROLE],
            "prune_role_arn": "arn:aws:iam::123456789012:role/lakevault-prune"
        }),
        moto,
    }
}

// One case per line: a table reads better than rustfmt's one argument per line.
#[rustfmt::skip]
const CASES: &[Case] = &[
    // Types.
    set("null for the source bucket", "/source_bucket", || Value::Null, "$.source_bucket"),
    set("a string for the retention", "/retention", || json!("GOVERNANCE/35"), "$.retention"),
    set("a string for the retention days", "/retention/days", || json!("35"), "$.retention.days"),
    set("a fraction for the retention days", "/retention/days", || json!(35.5), "$.retention.days"),
    set("negative retention days", "/retention/days", || json!(-3), "$.retention.days"),
    set("retention days beyond 32 bits", "/retention/days", || json!(4_294_967_296_u64), "$.retention.days"),
    set("a lowercase retention mode", "/retention/mode", || json!("governance"), "$.retention.mode"),
    set("a string for the break-glass roles", "/break_glass_role_arns", || json!(ROLE), "$.break_glass_role_arns"),
    set("a number among the break-glass roles", "/break_glass_role_arns", || json!([7]), "$.break_glass_role_arns[0]"),
    set("an object for the region", "/region", || json!({"name": "us-east-1"}), "$.region"),
    set("a boolean for the KMS key", "/kms_key_arn", || json!(true), "$.kms_key_arn"),
    Case { name: "no break-glass roles", event: Event::Without("/break_glass_role_arns"), error_type: "InvalidInput", path: "$" },
    Case { name: "no retention days", event: Event::Without("/retention/days"), error_type: "InvalidInput", path: "$.retention" },
    // Names.
    set("a slash in the source bucket", "/source_bucket", || json!("lake/prod"), "$.source_bucket"),
    set("an uppercase prefix", "/bucket_prefix", || json!("Acme_Backups"), "$.bucket_prefix"),
    set("a reserved prefix", "/bucket_prefix", || json!("xn--acme"), "$.bucket_prefix"),
    set("a prefix ending with -", "/bucket_prefix", || json!("acme-"), "$.bucket_prefix"),
    set("a dotted prefix", "/bucket_prefix", || json!("acme.backups"), "$.bucket_prefix"),
    set("a region that does not exist", "/region", || json!("moon-1"), "$.region"),
    set("an uppercase region", "/region", || json!("US-EAST-1"), "$.region"),
    set("a region with a trailing space", "/region", || json!("us-east-1 "), "$.region"),
    // ARNs.
    set("a role in an unknown partition", "/break_glass_role_arns", || json!(["arn:aws-xx:iam::123456789012:role/x"]), "$.break_glass_role_arns[0]"),
    set("a role with a region", "/break_glass_role_arns", || json!(["arn:aws:iam:us-east-1:123456789012:role/x"]), "$.break_glass_role_arns[0]"),
    set("a role of another partition than the bucket", "/break_glass_role_arns", || json!(["arn:aws-cn:iam::123456789012:role/x"]), "$.break_glass_role_arns[0]"),
    set("a wildcard role", "/break_glass_role_arns", || json!(["arn:aws:iam::123456789012:role/*"]), "$.break_glass_role_arns[0]"),
    set("a user for a role", "/break_glass_role_arns", || json!(["arn:aws:iam::123456789012:user/bob"]), "$.break_glass_role_arns[0]"),
    set("a bad second role", "/break_glass_role_arns", || json!([ROLE, "break-glass"]), "$.break_glass_role_arns[1]"),
    set("an empty role list", "/break_glass_role_arns", || json!([]), "$.break_glass_role_arns"),
    set("21 roles", "/break_glass_role_arns", || json!((0..21).map(|i| format!("arn:aws:iam::123456789012:role/r{i}")).collect::<Vec<_>>()), "$.break_glass_role_arns"),
    set("a bare name for the prune role", "/prune_role_arn", || json!("lakevault-prune"), "$.prune_role_arn"),
    set("a wildcard prune role", "/prune_role_arn", || json!("arn:aws:iam::123456789012:role/*"), "$.prune_role_arn"),
    set("a user for the prune role", "/prune_role_arn", || json!("arn:aws:iam::123456789012:user/prune"), "$.prune_role_arn"),
    set("a prune role of another partition", "/prune_role_arn", || json!("arn:aws-cn:iam::123456789012:role/prune"), "$.prune_role_arn"),
    set("a break-glass role as the prune role", "/prune_role_arn", || json!(ROLE), "$.prune_role_arn"),
    set("a list for the prune role", "/prune_role_arn", || json!([ROLE]), "$.prune_role_arn"),
    set("an empty prune role", "/prune_role_arn", || json!(""), "$.prune_role_arn"),
    set("a 1 MB prune role", "/prune_role_arn", || json!(format!("arn:aws:iam::123456789012:role/{}", "p".repeat(MB))), "$.prune_role_arn"),
    set("a KMS alias", "/kms_key_arn", || json!("arn:aws:kms:us-east-1:123456789012:alias/backup"), "$.kms_key_arn"),
    set("a KMS key of another region", "/kms_key_arn", || json!("arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"), "$.kms_key_arn"),
    set("a KMS key in aws-cn with us-east-1", "/kms_key_arn", || json!("arn:aws-cn:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"), "$.kms_key_arn"),
    set("a bare KMS key id", "/kms_key_arn", || json!("1234abcd-12ab-34cd-56ef-1234567890ab"), "$.kms_key_arn"),
    set("a topic ARN for the KMS key", "/kms_key_arn", || json!("arn:aws:sns:us-east-1:123456789012:backup-reports"), "$.kms_key_arn"),
    // Sizes.
    set("retention days 0", "/retention/days", || json!(0), "$.retention.days"),
    set("retention days 36501", "/retention/days", || json!(36_501), "$.retention.days"),
    set("a 1 MB prefix", "/bucket_prefix", || json!("a".repeat(MB)), "$.bucket_prefix"),
    set("a 1 MB region", "/region", || json!("r".repeat(MB)), "$.region"),
    set("a 1 MB KMS key", "/kms_key_arn", || json!(format!("{KEY}{}", "0".repeat(MB))), "$.kms_key_arn"),
    set("a 1 MB role", "/break_glass_role_arns", || json!([format!("{ROLE}{}", "x".repeat(MB))]), "$.break_glass_role_arns[0]"),
    set("a 1 MB retention mode", "/retention/mode", || json!("G".repeat(MB)), "$.retention.mode"),
    // Nesting.
    whole("a string event", || json!("lake-prod")),
    set("a nested array among the roles", "/break_glass_role_arns", || json!([[ROLE]]), "$.break_glass_role_arns[0]"),
    // Encodings.
    set("an emoji in the prefix", "/bucket_prefix", || json!("acme-🦀"), "$.bucket_prefix"),
    set("a newline in the prefix", "/bucket_prefix", || json!("acme\nbackups"), "$.bucket_prefix"),
    set("a NUL in a role", "/break_glass_role_arns", || json!(["arn:aws:iam::123456789012:role/break\u{0}glass"]), "$.break_glass_role_arns[0]"),
    set("a zero-width space in the region", "/region", || json!("us-east-1\u{200b}"), "$.region"),
    // Only visible in the text: through the binary.
    text("retention days given twice", |t| t.replacen(r#""retention":{"#, r#""retention":{"days":3650,"#, 1).into_bytes(), "$.retention.days"),
    text("not JSON", |_| b"source_bucket=lake-prod&backup_date=2021-03-31".to_vec(), "$"),
];

/// Hostile shapes, sizes and partitions (issue 12 items 4 to 7); each comment names the rule it holds to.
#[rustfmt::skip]
const HOSTILE: &[Case] = &[
    // Item 6: JSON words in messages (now "expected string or map": serde's word for an object).
    set("a number for the retention mode", "/retention/mode", || json!(1), "$.retention.mode"),
    // Item 4: only a JSON object is an event, and that holds inside it too.
    set("an array for the retention", "/retention", || json!(["COMPLIANCE", 3650]), "$.retention"),
];

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
