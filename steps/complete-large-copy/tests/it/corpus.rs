//! The bad-input corpus: a plan tampered with or malformed, in both modes, each refused as
//! `InvalidInput` at the field's JSON path with a short message and nothing completed or
//! aborted (the runner is `harness::corpus`). `CORPUS_SHOW=1 cargo test -p complete-large-copy
//! corpus -- --nocapture` prints every answer.

use complete_large_copy::CompleteLargeCopy;
use harness::corpus::{self, Case, Event, MB, set, text, whole, with_first};
use serde_json::{Value, json};

use crate::support::{self, KEY, MIB, Moto, buckets, bytes, plan, plan_event, put_source};

struct World {
    moto: Moto,
    step: CompleteLargeCopy,
    base: Value,
    snapshot: String,
}

impl corpus::World for World {
    type Step = CompleteLargeCopy;
    const BINARY: &str = env!("CARGO_BIN_EXE_complete-large-copy");
    const BASE_WRITES: bool = true;
    const STEP_TYPES: &[&str] = &[
        "Input",
        "Planned",
        "CompleteLargeCopy",
        "SourceChecksum",
        "Outcome",
    ];

    fn moto(&self) -> &Moto {
        &self.moto
    }
    fn step(&self) -> &CompleteLargeCopy {
        &self.step
    }
    fn base(&self) -> &Value {
        &self.base
    }

    /// The snapshot bucket's uploads and objects.
    async fn state(&self) -> Vec<String> {
        let s3 = self.moto.s3();
        let mut state: Vec<String> = support::uploads(&s3, &self.snapshot)
            .await
            .into_iter()
            .map(|(k, id)| format!("upload {k} {id}"))
            .collect();
        let objects = s3
            .list_objects_v2()
            .bucket(&self.snapshot)
            .send()
            .await
            .expect("ListObjectsV2");
        state.extend(objects.contents().iter().map(|o| {
            format!(
                "object {} {}",
                o.key().unwrap_or_default(),
                o.e_tag().unwrap_or_default()
            )
        }));
        state
    }
}

/// A plan of 3 parts, all copied: the base event completes it.
async fn world() -> World {
    let moto = Moto::start_local_stack();
    let s3 = moto.s3();
    let (src, snap) = buckets(&s3).await;
    put_source(&s3, &src, KEY, bytes(11 * MIB, 41)).await;
    let base = plan(&s3, plan_event(&src, KEY, &snap)).await;
    let copy = copy_parts::CopyParts::new(s3.clone(), copy_parts::Settings::default());
    let done = kit::entry::invoke(&copy, base.clone())
        .await
        .expect("copy-parts");
    assert_eq!(done["done"], json!(true));
    World {
        step: CompleteLargeCopy::new(s3),
        base,
        snapshot: snap,
        moto,
    }
}

#[rustfmt::skip]
const CASES: &[Case] = &[
    // Types.
    set("a string for the size", "/size", || json!("11534336"), "$.size"),
    set("a string for abort", "/abort", || json!("true"), "$.abort"),
    set("a number for the checksum algorithm", "/checksum_algorithm", || json!(64), "$.checksum_algorithm"),
    set("a string for the source checksum", "/source_checksum", || json!("CRC64NVME"), "$.source_checksum"),
    set("a source checksum without a value", "/source_checksum", || json!({"algorithm": "CRC64NVME"}), "$.source_checksum"),
    // The plan's fields: required unless aborting, and consistent.
    Case { name: "no size", event: Event::Without("/size"), error_type: "InvalidInput", path: "$.size" },
    Case { name: "no part size", event: Event::Without("/part_size"), error_type: "InvalidInput", path: "$.part_size" },
    Case { name: "no parts", event: Event::Without("/parts"), error_type: "InvalidInput", path: "$.parts" },
    Case { name: "no source ETag", event: Event::Without("/source_etag"), error_type: "InvalidInput", path: "$.source_etag" },
    Case { name: "no upload id", event: Event::Without("/upload_id"), error_type: "InvalidInput", path: "$.upload_id" },
    set("a part count that is not the size's", "/parts", || json!(4), "$.parts"),
    set("a size of zero", "/size", || json!(0), "$.size"),
    set("already copied with an upload id", "/already_copied", || json!(true), "$.upload_id"),
    set("another checksum algorithm", "/checksum_algorithm", || json!("SHA256"), "$.checksum_algorithm"),
    set("a 1 MB checksum algorithm", "/checksum_algorithm", || json!("C".repeat(MB)), "$.checksum_algorithm"),
    set("an ETag that is not hex", "/source_etag", || json!("not-an-etag"), "$.source_etag"),
    set("a space in the upload id", "/upload_id", || json!("2~a b"), "$.upload_id"),
    set("a 1 MB upload id", "/upload_id", || json!("u".repeat(MB)), "$.upload_id"),
    set("a newline in the key", "/key", || json!("a\nb"), "$.key"),
    set("an ARN for the snapshot bucket", "/snapshot_bucket", || json!("arn:aws:s3:::lake-prod-31-mar-2021"), "$.snapshot_bucket"),
    whole("a string event", || json!("complete")),
    text("a size given twice", |t| with_first(t, r#""size":1"#), "$.size"),
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

/// An abort names what it aborts like the completion does: bad names are refused before any
/// request, with the upload left in place.
#[rustfmt::skip]
const ABORT: &[Case] = &[
    set("a newline in the key", "/key", || json!("a\nb"), "$.key"),
    set("a space in the upload id", "/upload_id", || json!("2~a b"), "$.upload_id"),
    set("an uppercase snapshot bucket", "/snapshot_bucket", || json!("Snap"), "$.snapshot_bucket"),
    set("a number for abort", "/abort", || json!(1), "$.abort"),
];

#[tokio::test]
async fn bad_aborts_are_refused_and_abort_nothing() {
    let mut w = world().await;
    w.base["abort"] = json!(true);
    corpus::refused_and_nothing_changed(&w, ABORT).await;
}
