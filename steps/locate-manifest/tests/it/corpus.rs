//! The bad-input corpus (issue 12): hostile and malformed events, table-driven. Every case is
//! refused as `InvalidInput` with the JSON path of the field at fault (`$` for the whole event), a
//! short message in JSON words, and nothing in S3 changed. Parsed cases go through
//! `kit::entry::invoke`; cases only visible in the event's text (duplicate keys, not JSON) go
//! through the binary on stdin.
//!
//! The runner, and what it asserts of every case, is `harness::corpus`; here, the step's world,
//! its base event (a good one: the control at the end runs it) and its cases.
//! `CORPUS_SHOW=1 cargo test -p <step> corpus -- --nocapture` prints every answer.

use harness::Moto;
use harness::corpus::{self, Case, Event, MB, set, text, whole};
use locate_manifest::LocateManifest;
use serde_json::{Value, json};
use time::macros::datetime;

/// A source bucket with a Delta table, its inventory delivered on 2021-04-02, and the event that
/// finds that delivery for backup date 2021-03-31.
struct World {
    moto: Moto,
    step: LocateManifest,
    base: Value,
}

impl corpus::World for World {
    type Step = LocateManifest;
    const BINARY: &str = env!("CARGO_BIN_EXE_locate-manifest");
    /// The step only reads.
    const BASE_WRITES: bool = false;
    /// The step's own type names, which no message may contain.
    const STEP_TYPES: &[&str] = &["Input", "InventoryLocation", "LocateManifest"];

    fn moto(&self) -> &Moto {
        &self.moto
    }
    fn step(&self) -> &LocateManifest {
        &self.step
    }
    fn base(&self) -> &Value {
        &self.base
    }
}

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

// One case per line: a table reads better than rustfmt's one argument per line.
#[rustfmt::skip]
const CASES: &[Case] = &[
    // Types.
    set("null for the source bucket", "/source_bucket", || Value::Null, "$.source_bucket"),
    set("a boolean for the source bucket", "/source_bucket", || json!(true), "$.source_bucket"),
    set("a string for the inventory", "/inventory", || json!("backup-inventory"), "$.inventory"),
    set("an object for the inventory bucket", "/inventory/bucket", || json!({"name": "backup-inventory"}), "$.inventory.bucket"),
    set("a number for the configuration id", "/inventory/configuration_id", || json!(1), "$.inventory.configuration_id"),
    set("a string for lag_days", "/lag_days", || json!("2"), "$.lag_days"),
    set("a fraction for lag_days", "/lag_days", || json!(2.5), "$.lag_days"),
    Case { name: "no source bucket", event: Event::Without("/source_bucket"), error_type: "InvalidInput", path: "$" },
    Case { name: "no configuration id", event: Event::Without("/inventory/configuration_id"), error_type: "InvalidInput", path: "$.inventory" },
    // Names.
    set("a 64-character source bucket (legacy)", "/source_bucket", || json!("a".repeat(64)), "$.source_bucket"),
    set("an empty source bucket", "/source_bucket", || json!(""), "$.source_bucket"),
    set("an s3:// URL for the inventory bucket", "/inventory/bucket", || json!("s3://backup-inventory/inventory"), "$.inventory.bucket"),
    set("a legacy inventory bucket", "/inventory/bucket", || json!("Backup_Inventory"), "$.inventory.bucket"),
    set("a reserved suffix on the inventory bucket", "/inventory/bucket", || json!("backup-inventory-s3alias"), "$.inventory.bucket"),
    set("a path in the configuration id", "/inventory/configuration_id", || json!("daily/../weekly"), "$.inventory.configuration_id"),
    set("an empty configuration id", "/inventory/configuration_id", || json!(""), "$.inventory.configuration_id"),
    // Dates.
    set("the last day of the calendar plus the lag", "/backup_date", || json!("9999-12-31"), "$.backup_date"),
    // Sizes.
    set("lag_days 31", "/lag_days", || json!(31), "$.lag_days"),
    set("negative lag_days", "/lag_days", || json!(-1), "$.lag_days"),
    set("lag_days beyond 64 bits", "/lag_days", || json!(u64::MAX), "$.lag_days"),
    set("lag_days 1e30", "/lag_days", || json!(1e30), "$.lag_days"),
    set("a 1 MB inventory prefix", "/inventory/prefix", || json!("p".repeat(MB)), "$.inventory.prefix"),
    set("a 1 MB configuration id", "/inventory/configuration_id", || json!("d".repeat(MB)), "$.inventory.configuration_id"),
    set("a 1 MB date", "/backup_date", || json!("2".repeat(MB)), "$.backup_date"),
    // Nesting.
    whole("a string event", || json!("lake-prod")),
    // Encodings.
    set("an emoji in the source bucket", "/source_bucket", || json!("lake-🦀"), "$.source_bucket"),
    set("a zero-width space in the source bucket", "/source_bucket", || json!("lake-prod\u{200b}"), "$.source_bucket"),
    set("a right-to-left override in the source bucket", "/source_bucket", || json!("lake\u{202e}dorp"), "$.source_bucket"),
    set("a newline in the inventory prefix", "/inventory/prefix", || json!("inventory\n"), "$.inventory.prefix"),
    set("a NUL in the inventory prefix", "/inventory/prefix", || json!("inv\u{0}entory"), "$.inventory.prefix"),
    set("an escape sequence in the inventory prefix", "/inventory/prefix", || json!("inventory\u{1b}[2J"), "$.inventory.prefix"),
    // Only visible in the text: through the binary.
    text("an inventory bucket given twice", |t| t.replacen(r#""inventory":{"#, r#""inventory":{"bucket":"other","#, 1).into_bytes(), "$.inventory.bucket"),
    text("not JSON", |_| b"source_bucket=lake-prod&backup_date=2021-03-31".to_vec(), "$"),
    text("a byte-order mark before the event", |t| format!("\u{feff}{t}").into_bytes(), "$"),
    text("a lone surrogate in the source bucket", |t| t.replacen(r#""source_bucket":"lake-prod""#, r#""source_bucket":"lake\ud800""#, 1).into_bytes(), "$.source_bucket"),
    text("NaN for lag_days", |t| t.replacen(r#""lag_days":2"#, r#""lag_days":NaN"#, 1).into_bytes(), "$.lag_days"),
];

/// Hostile shapes, sizes and partitions (issue 12 items 4 to 7); each comment names the rule it holds to.
#[rustfmt::skip]
const HOSTILE: &[Case] = &[
    // Item 4: only a JSON object is an event, and that holds inside it too.
    set("an array for the inventory", "/inventory", || json!(["backup-inventory", "inventory", "daily"]), "$.inventory"),
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
