//! list-large-copies' integration tests: one binary (the SDK is linked once per crate), against
//! moto with manifests written by audit-report's own code, and the error paths no emulator
//! produces on mocked clients.

mod errors;
mod list;

use md5::{Digest, Md5};
use serde_json::{Value, json};

/// S3's message for a copy source over 5 GiB (what audit-report classifies as oversize).
const OVERSIZE_MSG: &str = "The specified copy source is larger than the maximum allowable size for a copy source: 5368709120";

/// A key as S3 writes it in a completion report: URL-encoded, a space as `+`.
fn report_key(key: &str) -> String {
    audit_report::core::encode_key(key).replace("%20", "+")
}

/// The oversize manifest audit-report writes for a report whose every task failed as oversize
/// with `keys` of `bucket`: its own code (`Tally::read_result_file`) makes the lines.
pub(crate) fn oversize_manifest(bucket: &str, keys: &[&str]) -> Vec<u8> {
    let report: String = keys
        .iter()
        .map(|k| {
            format!(
                "{bucket},\"{}\",,failed,400,InvalidRequest,\"{OVERSIZE_MSG}\"\n",
                report_key(k)
            )
        })
        .collect();
    let md5 = hex::encode(Md5::digest(report.as_bytes()));
    let mut tally = audit_report::Tally::default();
    let mut out = Vec::new();
    tally
        .read_result_file(report.as_bytes(), &md5, &mut out)
        .expect("audit-report reads the report");
    assert_eq!(tally.failures.oversize.count, keys.len() as u64);
    out
}

/// Writes `body` as `bucket`/`key` and answers the audit record's `oversize_manifest` for it
/// (the ETag unquoted, as audit-report records it).
pub(crate) async fn put_manifest(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    body: &[u8],
    objects: u64,
) -> Value {
    let out = s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(body.to_vec().into())
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutObject {key}: {e:?}"));
    let etag = out.e_tag().expect("an ETag").trim_matches('"').to_owned();
    json!({"bucket": bucket, "key": key, "arn": format!("arn:aws:s3:::{bucket}/{key}"),
           "etag": etag, "objects": objects})
}

/// The event for `manifest` (null: none).
pub(crate) fn event(source: &str, manifest: Value) -> Value {
    json!({"source_bucket": source, "snapshot_bucket": "lake-prod-31-mar-2021",
           "oversize_manifest": manifest, "storage_class": "GLACIER_IR", "kms_key_arn": null})
}
