//! Small manifests for tests and demos: an S3 Inventory CSV delivery (gzip data files and
//! `manifest.json`, as S3 writes them) and a Batch Operations CSV manifest. Not an inventory
//! generator: it lists exactly the keys it is given.

use std::io::Write;

use md5::{Digest, Md5};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Inventory key encoding: everything but unreserved characters and `/`.
const KEY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// A key URL-encoded as inventories and Batch Operations manifests write it.
pub fn encode_key(key: &str) -> String {
    utf8_percent_encode(key, KEY).to_string()
}

/// Where a manifest was written: what CreateJob needs.
#[derive(Debug, Clone)]
pub struct WrittenManifest {
    /// Bucket of the manifest object.
    pub bucket: String,
    /// Key of the manifest object.
    pub key: String,
    /// `arn:aws:s3:::bucket/key`
    pub arn: String,
    /// Its ETag, without quotes.
    pub etag: String,
}

async fn put(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    body: Vec<u8>,
) -> Result<String, aws_sdk_s3::Error> {
    let out = s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(body.into())
        .send()
        .await?;
    Ok(out.e_tag().unwrap_or_default().trim_matches('"').to_owned())
}

/// Writes an inventory delivery listing `keys` of `source_bucket` under
/// `<prefix>/<source>/<config>/…` in `dest_bucket`, `rows_per_file` rows per gzip data file
/// (columns `Bucket, Key, Size`; every field quoted; keys URL-encoded).
pub async fn write_inventory(
    s3: &aws_sdk_s3::Client,
    dest_bucket: &str,
    prefix: &str,
    source_bucket: &str,
    keys: &[(String, i64)],
    rows_per_file: usize,
) -> Result<WrittenManifest, aws_sdk_s3::Error> {
    let base = format!("{prefix}/{source_bucket}/daily");
    let mut files = Vec::new();
    for (n, chunk) in keys.chunks(rows_per_file.max(1)).enumerate() {
        let mut csv = String::new();
        for (k, size) in chunk {
            csv.push_str(&format!(
                "\"{source_bucket}\",\"{}\",\"{size}\"\n",
                encode_key(k)
            ));
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(csv.as_bytes()).expect("gzip into memory");
        let gz = gz.finish().expect("gzip into memory");
        let key = format!("{base}/data/{n:04}-{}.csv.gz", uuid::Uuid::new_v4());
        let md5 = hex::encode(Md5::digest(&gz));
        let size = gz.len();
        put(s3, dest_bucket, &key, gz).await?;
        files.push(serde_json::json!({"key": key, "size": size, "MD5checksum": md5}));
    }
    let manifest = serde_json::json!({
        "sourceBucket": source_bucket,
        "destinationBucket": format!("arn:aws:s3:::{dest_bucket}"),
        "version": "2016-11-30",
        "creationTimestamp": "1617321600000",
        "fileFormat": "CSV",
        "fileSchema": "Bucket, Key, Size",
        "files": files,
    });
    let key = format!("{base}/2021-04-02T00-00Z/manifest.json");
    let etag = put(s3, dest_bucket, &key, manifest.to_string().into_bytes()).await?;
    Ok(WrittenManifest {
        bucket: dest_bucket.to_owned(),
        arn: format!("arn:aws:s3:::{dest_bucket}/{key}"),
        key,
        etag,
    })
}

/// Writes a `S3BatchOperations_CSV_20180820` manifest (`Bucket,Key` rows, keys URL-encoded).
pub async fn write_csv_manifest(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    source_bucket: &str,
    keys: &[String],
) -> Result<WrittenManifest, aws_sdk_s3::Error> {
    let body: String = keys
        .iter()
        .map(|k| format!("{source_bucket},{}\n", encode_key(k)))
        .collect();
    let etag = put(s3, bucket, key, body.into_bytes()).await?;
    Ok(WrittenManifest {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        arn: format!("arn:aws:s3:::{bucket}/{key}"),
        etag,
    })
}
