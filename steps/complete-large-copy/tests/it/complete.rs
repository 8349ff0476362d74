//! The whole large copy against moto: plan, copy-parts until done, complete — the copy's bytes,
//! metadata and tags are the source's; completion is idempotent; too early is PartsMissing; a
//! source changed mid-copy ends with the upload aborted; the abort is idempotent.

use std::time::Duration;

use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode};
use complete_large_copy::CompleteLargeCopy;
use copy_parts::{CopyParts, Settings};
use kit::entry::invoke;
use plan_large_copy::layout::SOURCE_ETAG_METADATA;
use serde_json::{Value, json};

use crate::support::{
    KEY, METADATA, Moto, Recorder, SIZE, buckets, bytes, md5_hex, object_md5, plan, plan_event,
    put_source, recorded_s3, source_tags, tags_of, uploads,
};

fn copier(s3: &aws_sdk_s3::Client, budget: Duration) -> CopyParts {
    CopyParts::new(
        s3.clone(),
        Settings {
            parallelism: 4,
            budget,
            list_page_size: 1000,
        },
    )
}

/// Runs copy-parts until it answers done, as the state machine's loop does.
async fn copy_all(s3: &aws_sdk_s3::Client, plan: &Value) -> Value {
    let step = copier(s3, Duration::ZERO);
    let mut event = plan.clone();
    for _ in 0..10 {
        let out = invoke(&step, event.clone())
            .await
            .unwrap_or_else(|d| panic!("copy-parts: {}: {}", d.error_type, d.error_message));
        if out["done"] == json!(true) {
            return out;
        }
        event["cursor"] = out;
    }
    panic!("copy-parts never answered done");
}

async fn complete(s3: &aws_sdk_s3::Client, event: Value) -> Result<Value, (String, String)> {
    invoke(
        &CompleteLargeCopy::new(s3.clone()).with_list_page_size(2),
        event,
    )
    .await
    .map_err(|d| (d.error_type, d.error_message))
}

#[tokio::test]
async fn the_copy_has_the_sources_bytes_metadata_and_tags_and_completing_twice_answers_the_same() {
    let moto = Moto::start_local_stack();
    let rec = Recorder::default();
    let s3 = recorded_s3(&moto, &rec);
    let (src, snap) = buckets(&s3).await;
    let body = bytes(SIZE, 31);
    let want_md5 = md5_hex(&body);
    let etag = put_source(&s3, &src, KEY, body).await;
    let plan = plan(&s3, plan_event(&src, KEY, &snap)).await;

    // Too early: parts are missing, and nothing is completed.
    let (t, m) = complete(&s3, plan.clone()).await.unwrap_err();
    assert_eq!(t, "PartsMissing", "{m}");
    assert!(m.contains("lacks 6 of 6 parts"), "{m}");

    let copied = copy_all(&s3, &plan).await;
    // The state machine hands on the plan with copy-parts' answer as its cursor.
    let mut event = plan.clone();
    event["cursor"] = copied;
    let out = complete(&s3, event.clone()).await.unwrap();
    assert_eq!(out["outcome"], json!("copied"));
    assert_eq!(out["size"], json!(SIZE));
    assert_eq!(out["parts"], json!(6));
    assert_eq!(out["aborted_uploads"], json!(0));
    // The source has moto's CRC32; the copy a CRC64NVME: only the sizes compare.
    assert_eq!(out["checksum_check"], json!("not_comparable"));
    assert!(out["copy_etag"].as_str().unwrap().ends_with("-6"), "{out}");
    assert!(
        out["copy_version_id"].is_string(),
        "a versioned snapshot bucket: {out}"
    );

    assert_eq!(
        object_md5(&s3, &snap, KEY).await,
        want_md5,
        "the copy's bytes"
    );
    let head = s3
        .head_object()
        .bucket(&snap)
        .key(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(SIZE as i64));
    assert_eq!(head.content_type(), Some("application/vnd.apache.parquet"));
    assert_eq!(head.content_encoding(), Some("identity"));
    assert_eq!(
        head.content_disposition(),
        Some("attachment; filename=\"part-0.parquet\"")
    );
    assert_eq!(head.content_language(), Some("en"));
    assert_eq!(head.cache_control(), Some("max-age=3600"));
    let meta = head.metadata().cloned().unwrap_or_default();
    for (k, v) in METADATA {
        assert_eq!(meta.get(k).map(String::as_str), Some(v), "{k} in {meta:?}");
    }
    assert_eq!(meta.get(SOURCE_ETAG_METADATA), Some(&etag));
    assert_eq!(tags_of(&s3, &snap, KEY).await, source_tags());
    assert!(uploads(&s3, &snap).await.is_empty());

    // The completion carried the parts in order and the expected size.
    let sent = rec.sent("CompleteMultipartUpload");
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].header("x-amz-mp-object-size"),
        Some(SIZE.to_string().as_str())
    );
    assert_eq!(sent[0].header("x-amz-checksum-type"), Some("FULL_OBJECT"));

    // A retry (the answer was lost): the upload is gone, the copy is there, the same answer.
    let again = complete(&s3, event).await.unwrap();
    assert_eq!(again, out);
    assert_eq!(rec.sent("CompleteMultipartUpload").len(), 1);

    // A plan made after the copy says so, and the other two steps answer without copying.
    let replan = crate::support::plan(&s3, plan_event(&src, KEY, &snap)).await;
    assert_eq!(replan["already_copied"], json!(true));
    let done = copy_all(&s3, &replan).await;
    assert_eq!(done["copied_now"], json!(0));
    let same = complete(&s3, replan).await.unwrap();
    assert_eq!(same, out);
}

#[tokio::test]
async fn a_source_with_a_crc64nvme_gets_a_copy_with_the_same_one() {
    let moto = Moto::start_local_stack();
    let s3 = moto.s3();
    let (src, snap) = buckets(&s3).await;
    let body = bytes(SIZE, 35);
    let want_md5 = md5_hex(&body);
    // The SDK's PutObject with CRC64NVME asked for (the default is a CRC32: the test above).
    s3.put_object()
        .bucket(&src)
        .key(KEY)
        .body(body.into())
        .checksum_algorithm(ChecksumAlgorithm::Crc64Nvme)
        .send()
        .await
        .expect("PutObject");
    let plan = plan(&s3, plan_event(&src, KEY, &snap)).await;
    assert_eq!(
        plan["source_checksum"]["algorithm"],
        json!("CRC64NVME"),
        "{plan}"
    );
    assert_eq!(plan["checksum_algorithm"], json!("CRC64NVME"));
    let mut event = plan.clone();
    event["cursor"] = copy_all(&s3, &plan).await;
    let out = complete(&s3, event).await.unwrap();
    // moto computes the completed copy's CRC64NVME itself (with awscrt, requirements.txt).
    assert_eq!(out["checksum_check"], json!("equal"), "{out}");
    // Read back with the SDK's response checksum validation on.
    let got = s3
        .get_object()
        .bucket(&snap)
        .key(KEY)
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .expect("GetObject");
    assert_eq!(
        got.checksum_crc64_nvme(),
        plan["source_checksum"]["value"].as_str()
    );
    let copied = got.body.collect().await.expect("the body").into_bytes();
    assert_eq!(md5_hex(&copied), want_md5, "the copy's bytes");
}

#[tokio::test]
async fn a_source_changed_mid_copy_ends_with_the_upload_aborted_and_the_abort_is_idempotent() {
    let moto = Moto::start_local_stack();
    let s3 = moto.s3();
    let (src, snap) = buckets(&s3).await;
    put_source(&s3, &src, KEY, bytes(SIZE, 32)).await;
    let plan = plan(&s3, plan_event(&src, KEY, &snap)).await;
    let first = invoke(&copier(&s3, Duration::ZERO), plan.clone())
        .await
        .unwrap();
    assert_eq!(first["done"], json!(false));
    put_source(&s3, &src, KEY, bytes(SIZE, 33)).await;
    let err = invoke(&copier(&s3, Duration::ZERO), plan.clone())
        .await
        .unwrap_err();
    assert_eq!(err.error_type, "SourceChanged", "{}", err.error_message);

    // The failure path: the same plan with abort.
    let mut abort = plan.clone();
    abort["abort"] = json!(true);
    let out = complete(&s3, abort.clone()).await.unwrap();
    assert_eq!(out["outcome"], json!("aborted"));
    assert_eq!(out["aborted_uploads"], json!(1));
    assert_eq!(out["size"], json!(0));
    assert!(uploads(&s3, &snap).await.is_empty());
    let out = complete(&s3, abort).await.unwrap();
    assert_eq!(
        out["aborted_uploads"],
        json!(0),
        "gone already: nothing to abort"
    );
    let err = complete(&s3, plan.clone()).await.unwrap_err();
    assert_eq!(err.0, "UploadNotFound", "{}", err.1);
    assert!(
        s3.head_object()
            .bucket(&snap)
            .key(KEY)
            .send()
            .await
            .is_err(),
        "no copy"
    );

    // When the plan never answered, the abort gets only the item: every upload of the key goes.
    let a = crate::support::plan(&s3, plan_event(&src, KEY, &snap)).await;
    let other = s3
        .create_multipart_upload()
        .bucket(&snap)
        .key(KEY)
        .send()
        .await
        .unwrap();
    assert!(other.upload_id().is_some() && a["upload_id"].is_string());
    assert_eq!(uploads(&s3, &snap).await.len(), 2);
    let item = json!({"source_bucket": src, "key": KEY, "snapshot_bucket": snap, "abort": true});
    let out = complete(&s3, item).await.unwrap();
    assert_eq!(out["aborted_uploads"], json!(2));
    assert!(uploads(&s3, &snap).await.is_empty());
}

#[tokio::test]
async fn the_binary_completes_and_aborts() {
    let moto = Moto::start_local_stack();
    let s3 = moto.s3();
    let (src, snap) = buckets(&s3).await;
    put_source(&s3, &src, KEY, bytes(SIZE, 34)).await;
    let plan = plan(&s3, plan_event(&src, KEY, &snap)).await;
    copy_all(&s3, &plan).await;
    let bin = env!("CARGO_BIN_EXE_complete-large-copy");
    let (code, out) = harness::run_step_binary(bin, &moto.env(), plan.to_string()).await;
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out["outcome"], json!("copied"));
    let mut abort = plan.clone();
    abort["abort"] = json!(true);
    let (code, out) = harness::run_step_binary(bin, &moto.env(), abort.to_string()).await;
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out["outcome"], json!("aborted"));
    assert_eq!(out["aborted_uploads"], json!(0));
}
