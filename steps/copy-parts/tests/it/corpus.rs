//! The bad-input corpus: a plan tampered with or malformed, each refused as `InvalidInput` at
//! the field's JSON path with a short message and nothing copied (the runner is
//! `harness::corpus`). `CORPUS_SHOW=1 cargo test -p copy-parts corpus -- --nocapture` prints
//! every answer.

use std::time::Duration;

use copy_parts::CopyParts;
use harness::corpus::{self, Case, Event, MB, set, text, whole, with_first};
use serde_json::{Value, json};

use crate::copy::copier;
use crate::support::{self, KEY, MIB, Moto, buckets, bytes, plan, plan_event, put_source};

struct World {
    moto: Moto,
    step: CopyParts,
    base: Value,
    snapshot: String,
}

impl corpus::World for World {
    type Step = CopyParts;
    const BINARY: &str = env!("CARGO_BIN_EXE_copy-parts");
    const BASE_WRITES: bool = true;
    const STEP_TYPES: &[&str] = &["Input", "Cursor", "CopyParts", "Settings"];

    fn moto(&self) -> &Moto {
        &self.moto
    }
    fn step(&self) -> &CopyParts {
        &self.step
    }
    fn base(&self) -> &Value {
        &self.base
    }

    /// The upload's parts, and every object of the snapshot bucket.
    async fn state(&self) -> Vec<String> {
        let s3 = self.moto.s3();
        let mut state: Vec<String> = support::uploads(&s3, &self.snapshot)
            .await
            .into_iter()
            .map(|(k, id)| format!("upload {k} {id}"))
            .collect();
        let id = self.base["upload_id"].as_str().unwrap();
        let parts = plan_large_copy::uploads::list_parts(&s3, &self.snapshot, KEY, id, 1000)
            .await
            .expect("ListParts")
            .unwrap_or_default();
        state.extend(
            parts
                .values()
                .map(|p| format!("part {} {}", p.number, p.etag)),
        );
        state
    }
}

async fn world() -> World {
    let moto = Moto::start_local_stack();
    let s3 = moto.s3();
    let (src, snap) = buckets(&s3).await;
    put_source(&s3, &src, KEY, bytes(11 * MIB, 21)).await;
    let base = plan(&s3, plan_event(&src, KEY, &snap)).await;
    World {
        step: copier(&s3, 4, Duration::from_secs(600)),
        base,
        snapshot: snap,
        moto,
    }
}

#[rustfmt::skip]
const CASES: &[Case] = &[
    // Types.
    set("a string for the size", "/size", || json!("11534336"), "$.size"),
    set("a negative size", "/size", || json!(-1), "$.size"),
    set("a fraction for the part size", "/part_size", || json!(5.5), "$.part_size"),
    set("a string for the parts", "/parts", || json!("3"), "$.parts"),
    set("a number for the upload id", "/upload_id", || json!(7), "$.upload_id"),
    set("a string for already_copied", "/already_copied", || json!("false"), "$.already_copied"),
    set("a number for the ETag", "/source_etag", || json!(5), "$.source_etag"),
    set("a string for the cursor", "/cursor", || json!("1"), "$.cursor"),
    set("a negative invocation", "/cursor", || json!({"invocation": -1}), "$.cursor.invocation"),
    Case { name: "no size", event: Event::Without("/size"), error_type: "InvalidInput", path: "$" },
    Case { name: "no source ETag", event: Event::Without("/source_etag"), error_type: "InvalidInput", path: "$" },
    Case { name: "no upload id", event: Event::Without("/upload_id"), error_type: "InvalidInput", path: "$.upload_id" },
    // A plan that does not add up.
    set("a part count that is not the size's", "/parts", || json!(2), "$.parts"),
    set("more than 10,000 parts", "/parts", || json!(10_001), "$.parts"),
    set("a size of zero", "/size", || json!(0), "$.size"),
    set("a part size of zero", "/part_size", || json!(0), "$.part_size"),
    set("a part over 5 GiB", "/part_size", || json!(6_u64 << 30), "$.part_size"),
    set("already copied with an upload id", "/already_copied", || json!(true), "$.upload_id"),
    // Names and tokens.
    set("an empty ETag", "/source_etag", || json!(""), "$.source_etag"),
    set("an ETag that is not hex", "/source_etag", || json!("not-an-etag"), "$.source_etag"),
    set("a 1 MB ETag", "/source_etag", || json!("a".repeat(MB)), "$.source_etag"),
    set("an empty upload id", "/upload_id", || json!(""), "$.upload_id"),
    set("a space in the upload id", "/upload_id", || json!("2~a b"), "$.upload_id"),
    set("a 1 MB upload id", "/upload_id", || json!("u".repeat(MB)), "$.upload_id"),
    set("an empty key", "/key", || json!(""), "$.key"),
    set("a newline in the key", "/key", || json!("events/a\nb"), "$.key"),
    set("a 1 MB key", "/key", || json!("k".repeat(MB)), "$.key"),
    set("an uppercase snapshot bucket", "/snapshot_bucket", || json!("Lake-Prod-31-Mar-2021"), "$.snapshot_bucket"),
    set("a space in the version id", "/version_id", || json!("a b"), "$.version_id"),
    whole("a string event", || json!("copy")),
    text("an upload id given twice", |t| with_first(t, r#""upload_id":"2~other""#), "$.upload_id"),
];

#[tokio::test]
async fn bad_inputs_are_refused_with_their_path_a_short_message_and_nothing_copied() {
    let cases = [
        corpus::NOT_AN_EVENT,
        corpus::SOURCE_BUCKET,
        corpus::HOSTILE_TEXT,
        CASES,
    ]
    .concat();
    corpus::refused_and_nothing_changed(&world().await, &cases).await;
}
