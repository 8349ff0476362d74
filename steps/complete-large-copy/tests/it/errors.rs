//! What no emulator fails, on mocked clients: a copy of another size or checksum is
//! `CopyMismatch`, S3's refusals to assemble the parts too; the completion request carries the
//! source's full-object CRC64NVME and size (moto ignores both); throttling is `Transient`; an
//! abort of an upload already gone succeeds.

use aws_sdk_s3::Client;
use aws_sdk_s3::operation::abort_multipart_upload::AbortMultipartUploadOutput;
use aws_sdk_s3::operation::complete_multipart_upload::CompleteMultipartUploadOutput;
use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::operation::list_parts::ListPartsOutput;
use aws_sdk_s3::types::{ChecksumType, Part};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use complete_large_copy::CompleteLargeCopy;
use kit::entry::invoke;
use plan_large_copy::layout;
use serde_json::{Value, json};

use crate::support::xml_error;

const SIZE: u64 = 26 << 20;
const PART: u64 = 5 << 20;
const CRC: &str = "nQx5sm5WJ4s=";

fn plan() -> Value {
    json!({"source_bucket": "lake-prod", "key": "events/big.parquet",
           "snapshot_bucket": "lake-prod-31-mar-2021", "upload_id": "2~mocked",
           "already_copied": false, "size": SIZE, "part_size": PART, "parts": 6,
           "source_etag": "d41d8cd98f00b204e9800998ecf8427e-4",
           "source_checksum": {"algorithm": "CRC64NVME", "type": "FULL_OBJECT", "value": CRC},
           "checksum_algorithm": "CRC64NVME"})
}

/// ListParts: all six parts, with their CRC64NVMEs.
fn all_parts() -> Rule {
    mock!(Client::list_parts).then_output(|| {
        let parts = (1..=6)
            .map(|n| {
                Part::builder()
                    .part_number(n)
                    .size(layout::part_len(SIZE, PART, n as u64) as i64)
                    .e_tag(format!("\"etag-{n}\""))
                    .checksum_crc64_nvme(format!("part-{n}"))
                    .build()
            })
            .collect();
        ListPartsOutput::builder()
            .set_parts(Some(parts))
            .is_truncated(false)
            .build()
    })
}

/// CompleteMultipartUpload, answered only when the request is what it must be.
fn completes() -> Rule {
    mock!(Client::complete_multipart_upload)
        .match_requests(|r| {
            let parts = r.multipart_upload().map(|m| m.parts()).unwrap_or_default();
            r.checksum_crc64_nvme() == Some(CRC)
                && r.checksum_type() == Some(&ChecksumType::FullObject)
                && r.mpu_object_size() == Some(SIZE as i64)
                && parts.len() == 6
                && parts.iter().enumerate().all(|(i, p)| {
                    p.part_number() == Some(i as i32 + 1)
                        && p.e_tag() == Some(&format!("\"etag-{}\"", i + 1))
                        && p.checksum_crc64_nvme() == Some(&format!("part-{}", i + 1))
                })
        })
        .then_output(|| {
            CompleteMultipartUploadOutput::builder()
                .e_tag("\"c0ffee00c0ffee00c0ffee00c0ffee00-6\"")
                .version_id("v1")
                .build()
        })
}

fn copy_head(len: u64, crc: Option<&'static str>) -> Rule {
    mock!(Client::head_object).then_output(move || {
        HeadObjectOutput::builder()
            .content_length(len as i64)
            .set_checksum_crc64_nvme(crc.map(str::to_owned))
            .e_tag("\"c0ffee00c0ffee00c0ffee00c0ffee00-6\"")
            .version_id("v1")
            .build()
    })
}

async fn run(rules: &[&Rule], event: Value) -> Result<Value, (String, String)> {
    let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, rules);
    invoke(&CompleteLargeCopy::new(client), event)
        .await
        .map_err(|d| (d.error_type, d.error_message))
}

#[tokio::test]
async fn the_completion_carries_the_source_checksum_and_size_and_the_copy_is_compared() {
    let (list, done) = (all_parts(), completes());
    let out = run(&[&list, &done, &copy_head(SIZE, Some(CRC))], plan())
        .await
        .unwrap();
    assert_eq!(out["outcome"], json!("copied"));
    assert_eq!(out["checksum_check"], json!("equal"));
    assert_eq!(out["copy_version_id"], json!("v1"));
    assert_eq!(done.num_calls(), 1, "the request matched");

    let (t, m) = run(&[&list, &done, &copy_head(SIZE - 1, Some(CRC))], plan())
        .await
        .unwrap_err();
    assert_eq!(t, "CopyMismatch", "{m}");
    assert!(m.contains("bytes"), "{m}");
    let (t, m) = run(
        &[&list, &done, &copy_head(SIZE, Some("AAAAAAAAAAA="))],
        plan(),
    )
    .await
    .unwrap_err();
    assert_eq!(t, "CopyMismatch", "{m}");
    assert!(m.contains("CRC64NVME"), "{m}");
    let out = run(&[&list, &done, &copy_head(SIZE, None)], plan())
        .await
        .unwrap();
    assert_eq!(out["checksum_check"], json!("not_reported"));
}

#[tokio::test]
async fn s3_refusing_the_parts_is_copy_mismatch_and_throttling_transient() {
    for (status, code, want) in [
        (400, "InvalidPart", "CopyMismatch"),
        (400, "BadDigest", "CopyMismatch"),
        (400, "InvalidRequest", "CopyMismatch"),
        (400, "EntityTooSmall", "ServiceError"),
        (503, "SlowDown", "Transient"),
        (403, "AccessDenied", "AccessDenied"),
    ] {
        let refuse = mock!(Client::complete_multipart_upload)
            .then_http_response(move || xml_error(status, code));
        let (t, m) = run(
            &[&all_parts(), &refuse, &copy_head(SIZE, Some(CRC))],
            plan(),
        )
        .await
        .unwrap_err();
        assert_eq!(t, want, "{code}: {m}");
    }
}

#[tokio::test]
async fn an_abort_of_an_upload_already_gone_succeeds() {
    let gone =
        mock!(Client::abort_multipart_upload).then_http_response(|| xml_error(404, "NoSuchUpload"));
    let mut abort = plan();
    abort["abort"] = json!(true);
    let out = run(&[&gone], abort.clone()).await.unwrap();
    assert_eq!(out["outcome"], json!("aborted"));
    assert_eq!(out["aborted_uploads"], json!(0));
    // An abort that S3 takes, then the upload is no longer listed.
    let ok = mock!(Client::abort_multipart_upload)
        .then_output(|| AbortMultipartUploadOutput::builder().build());
    let listed_gone =
        mock!(Client::list_parts).then_http_response(|| xml_error(404, "NoSuchUpload"));
    let out = run(&[&ok, &listed_gone], abort).await.unwrap();
    assert_eq!(out["aborted_uploads"], json!(1));
    assert_eq!(ok.num_calls(), 1);
}
