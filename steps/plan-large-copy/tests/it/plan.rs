//! plan-large-copy against moto: the upload it starts (read at the request level: moto keeps
//! neither Object Lock nor the checksum settings of an upload), its idempotence, the copies it
//! does not start again, and the sources it refuses.

use crate::support::Moto;
use aws_sdk_s3::config::RequestChecksumCalculation;
use aws_sdk_s3::types::StorageClass;
use kit::entry::invoke;
use plan_large_copy::layout::SOURCE_ETAG_METADATA;
use serde_json::{Value, json};

use crate::support::{
    self, KEY, METADATA, PART, Recorder, SIZE, buckets, bytes, next_second, plan, plan_event,
    planner, put_source, recorded_s3, uploads,
};

const KMS: &str = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";

#[tokio::test]
async fn the_upload_carries_the_sources_metadata_and_tags_and_the_snapshots_settings() {
    let moto = Moto::start_local_stack();
    let rec = Recorder::default();
    let s3 = recorded_s3(&moto, &rec);
    let (src, snap) = buckets(&s3).await;
    let etag = put_source(&s3, &src, KEY, bytes(SIZE, 1)).await;
    let mut event = plan_event(&src, KEY, &snap);
    event["storage_class"] = json!("GLACIER_IR");
    event["retain_until"] = json!("2099-12-31T00:00:00Z");
    event["object_lock_mode"] = json!("COMPLIANCE");
    event["kms_key_arn"] = json!(KMS);
    let out = plan(&s3, event).await;

    assert_eq!(out["size"], json!(SIZE));
    assert_eq!(out["part_size"], json!(PART));
    assert_eq!(out["parts"], json!(6));
    assert_eq!(out["source_etag"], json!(etag));
    assert_eq!(out["created"], json!(true));
    assert_eq!(out["already_copied"], json!(false));
    assert_eq!(out["aborted_uploads"], json!(0));
    // The SDK's PutObject sends a CRC32: the source has a checksum, so the copy gets one.
    assert_eq!(out["source_checksum"]["algorithm"], json!("CRC32"));
    assert_eq!(out["checksum_algorithm"], json!("CRC64NVME"));
    let id = out["upload_id"].as_str().expect("an upload id");
    assert_eq!(
        uploads(&s3, &snap).await,
        vec![(KEY.to_owned(), id.to_owned())]
    );

    let created = rec.sent("CreateMultipartUpload");
    assert_eq!(created.len(), 1);
    let c = &created[0];
    for (header, want) in [
        ("x-amz-object-lock-mode", "COMPLIANCE"),
        (
            "x-amz-object-lock-retain-until-date",
            "2099-12-31T00:00:00Z",
        ),
        ("x-amz-checksum-algorithm", "CRC64NVME"),
        ("x-amz-checksum-type", "FULL_OBJECT"),
        ("x-amz-storage-class", "GLACIER_IR"),
        ("x-amz-server-side-encryption", "aws:kms"),
        ("x-amz-server-side-encryption-aws-kms-key-id", KMS),
        ("x-amz-server-side-encryption-bucket-key-enabled", "true"),
        ("content-type", "application/vnd.apache.parquet"),
        ("content-encoding", "identity"),
        (
            "content-disposition",
            "attachment; filename=\"part-0.parquet\"",
        ),
        ("content-language", "en"),
        ("cache-control", "max-age=3600"),
        ("x-amz-meta-lakevault-source-etag", etag.as_str()),
    ] {
        assert_eq!(c.header(header), Some(want), "{header} in {:?}", c.headers);
    }
    for (k, v) in METADATA {
        assert_eq!(c.header(&format!("x-amz-meta-{k}")), Some(v), "{k}");
    }
    let mut tagging: Vec<&str> = c
        .header("x-amz-tagging")
        .expect("tags")
        .split('&')
        .collect();
    tagging.sort_unstable();
    assert_eq!(tagging, ["a%2Bb=c%2Fd%3De", "team=data%20eng"]);
    // The source was read with its checksum asked for.
    let head = &rec.sent("HeadObject")[0];
    assert_eq!(head.header("x-amz-checksum-mode"), Some("ENABLED"));
}

#[tokio::test]
async fn a_source_without_a_checksum_plans_none() {
    let moto = Moto::start_local_stack();
    let rec = Recorder::default();
    let s3 = recorded_s3(&moto, &rec);
    let (src, snap) = buckets(&s3).await;
    // A client that sends no checksum unless the operation requires one.
    let plain = aws_sdk_s3::Client::from_conf(
        s3.config()
            .to_builder()
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .build(),
    );
    plain
        .put_object()
        .bucket(&src)
        .key("t/plain.bin")
        .body(bytes(12 * support::MIB, 2).into())
        .send()
        .await
        .unwrap();
    let out = plan(&s3, plan_event(&src, "t/plain.bin", &snap)).await;
    assert_eq!(out["source_checksum"], Value::Null);
    assert_eq!(out["checksum_algorithm"], Value::Null);
    assert_eq!(out["parts"], json!(3));
    let c = &rec.sent("CreateMultipartUpload")[0];
    assert_eq!(c.header("x-amz-checksum-algorithm"), None);
    assert_eq!(c.header("x-amz-checksum-type"), None);
    // No lock asked for, no KMS key: the bucket's defaults apply.
    assert_eq!(c.header("x-amz-object-lock-mode"), None);
    assert_eq!(c.header("x-amz-server-side-encryption"), None);
    assert_eq!(c.header("x-amz-storage-class"), Some("STANDARD"));
}

/// Copies part 1 of `plan`'s upload (as copy-parts would).
async fn copy_first_part(s3: &aws_sdk_s3::Client, plan: &Value) {
    s3.upload_part_copy()
        .bucket(plan["snapshot_bucket"].as_str().unwrap())
        .key(plan["key"].as_str().unwrap())
        .upload_id(plan["upload_id"].as_str().unwrap())
        .part_number(1)
        .copy_source(plan_large_copy::layout::copy_source(
            plan["source_bucket"].as_str().unwrap(),
            plan["key"].as_str().unwrap(),
            None,
        ))
        .copy_source_range(plan_large_copy::layout::copy_source_range(
            plan["size"].as_u64().unwrap(),
            plan["part_size"].as_u64().unwrap(),
            1,
        ))
        .send()
        .await
        .expect("UploadPartCopy");
}

#[tokio::test]
async fn a_retry_carries_on_with_its_upload_and_parts_older_than_the_source_start_over() {
    let moto = Moto::start_local_stack();
    let rec = Recorder::default();
    let s3 = recorded_s3(&moto, &rec);
    let (src, snap) = buckets(&s3).await;
    put_source(&s3, &src, KEY, bytes(SIZE, 3)).await;
    next_second().await;
    let first = plan(&s3, plan_event(&src, KEY, &snap)).await;
    // A retry (the answer was lost) finds the upload, with no part and then with one.
    let again = plan(&s3, plan_event(&src, KEY, &snap)).await;
    assert_eq!(again["upload_id"], first["upload_id"]);
    assert_eq!(again["created"], json!(false));
    copy_first_part(&s3, &first).await;
    let third = plan(&s3, plan_event(&src, KEY, &snap)).await;
    assert_eq!(third["upload_id"], first["upload_id"]);
    assert_eq!(third["created"], json!(false));
    assert_eq!(rec.sent("CreateMultipartUpload").len(), 1);
    assert_eq!(uploads(&s3, &snap).await.len(), 1);

    // The source is rewritten: its part 1 is from the old version. A new plan aborts that
    // upload and starts another.
    next_second().await;
    let new_etag = put_source(&s3, &src, KEY, bytes(SIZE, 4)).await;
    let fourth = plan(&s3, plan_event(&src, KEY, &snap)).await;
    assert_ne!(fourth["upload_id"], first["upload_id"]);
    assert_eq!(fourth["created"], json!(true));
    assert_eq!(fourth["aborted_uploads"], json!(1));
    assert_eq!(fourth["source_etag"], json!(new_etag));
    let left = uploads(&s3, &snap).await;
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].1, fourth["upload_id"].as_str().unwrap());
}

#[tokio::test]
async fn a_copy_already_in_the_snapshot_is_not_planned_again() {
    let moto = Moto::start_local_stack();
    let s3 = moto.s3();
    let (src, snap) = buckets(&s3).await;
    let body = bytes(SIZE, 5);
    let etag = put_source(&s3, &src, KEY, body.clone()).await;
    // A leftover upload of the key, and the copy itself (as complete-large-copy leaves it).
    let orphan = plan(&s3, plan_event(&src, KEY, &snap)).await;
    s3.put_object()
        .bucket(&snap)
        .key(KEY)
        .body(body.into())
        .metadata(SOURCE_ETAG_METADATA, &etag)
        .send()
        .await
        .unwrap();
    let out = plan(&s3, plan_event(&src, KEY, &snap)).await;
    assert_eq!(out["already_copied"], json!(true));
    assert_eq!(out["upload_id"], Value::Null);
    assert_eq!(out["created"], json!(false));
    assert_eq!(out["aborted_uploads"], json!(1), "the leftover {orphan}");
    assert_eq!(out["parts"], json!(6));
    assert!(uploads(&s3, &snap).await.is_empty());
}

#[tokio::test]
async fn missing_empty_and_archived_sources_are_named() {
    let moto = Moto::start_local_stack();
    let s3 = moto.s3();
    let (src, snap) = buckets(&s3).await;
    let step = planner(&s3);
    let err = invoke(&step, plan_event(&src, "gone.parquet", &snap))
        .await
        .unwrap_err();
    assert_eq!(err.error_type, "SourceNotFound", "{}", err.error_message);
    assert!(
        err.error_message.contains("gone.parquet"),
        "{}",
        err.error_message
    );
    let err = invoke(&step, plan_event("no-such-bucket-here", "k", &snap))
        .await
        .unwrap_err();
    assert_eq!(err.error_type, "SourceNotFound", "{}", err.error_message);

    s3.put_object()
        .bucket(&src)
        .key("empty")
        .body(Vec::new().into())
        .send()
        .await
        .unwrap();
    let err = invoke(&step, plan_event(&src, "empty", &snap))
        .await
        .unwrap_err();
    assert_eq!(err.error_type, "SourceNotCopyable", "{}", err.error_message);
    assert!(err.error_message.contains("empty"), "{}", err.error_message);

    s3.put_object()
        .bucket(&src)
        .key("cold")
        .body(bytes(MIB_6, 6).into())
        .storage_class(StorageClass::DeepArchive)
        .send()
        .await
        .unwrap();
    let err = invoke(&step, plan_event(&src, "cold", &snap))
        .await
        .unwrap_err();
    assert_eq!(err.error_type, "SourceNotCopyable", "{}", err.error_message);
    assert!(
        err.error_message.contains("DEEP_ARCHIVE"),
        "{}",
        err.error_message
    );
    assert!(uploads(&s3, &snap).await.is_empty());
}

const MIB_6: usize = 6 * support::MIB;

#[tokio::test]
async fn the_binary_plans_with_its_environment_and_refuses_a_bad_setting() {
    let moto = Moto::start_local_stack();
    let s3 = moto.s3();
    let (src, snap) = buckets(&s3).await;
    put_source(&s3, &src, KEY, bytes(SIZE, 7)).await;
    let bin = env!("CARGO_BIN_EXE_plan-large-copy");
    let event = plan_event(&src, KEY, &snap).to_string();
    let mut env = moto.env();
    env.push(("LAKEVAULT_MIN_PART_BYTES".into(), PART.to_string()));
    let (code, out) = harness::run_step_binary(bin, &env, &event).await;
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out["parts"], json!(6));
    let first = out;
    // Without the variable: 64 MiB parts, one part for 26 MiB. The upload has no part yet, so
    // it carries on under the new layout.
    let (code, out) = harness::run_step_binary(bin, &moto.env(), &event).await;
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out["part_size"], json!(64 << 20));
    assert_eq!(out["parts"], json!(1));
    assert_eq!(out["upload_id"], first["upload_id"]);
    let mut bad = moto.env();
    bad.push(("LAKEVAULT_MIN_PART_BYTES".into(), "5MiB".into()));
    let (code, out) = harness::run_step_binary(bin, &bad, &event).await;
    assert_eq!(code, Some(2), "{out}");
    assert_eq!(out["errorType"], json!("ConfigurationError"));
    assert!(
        out["errorMessage"]
            .as_str()
            .unwrap()
            .contains("LAKEVAULT_MIN_PART_BYTES"),
        "{out}"
    );
}
