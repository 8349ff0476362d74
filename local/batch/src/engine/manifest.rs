//! Reading a job's manifest into tasks: a CSV manifest, or an S3 Inventory `manifest.json` and
//! its gzip CSV data files. Every object is read with a size cap
//! ([`crate::BatchConfig::max_manifest_bytes`]), decompressed data included.

use std::io::Read;

use kit::body::CappedReadError;
use md5::{Digest, Md5};
use serde::Deserialize;

use super::s3::S3Failure;
use crate::names::bucket_of_arn;
use crate::spec::{JobSpec, ManifestFormat};

/// One object to copy, as the manifest names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Task {
    pub(crate) bucket: String,
    /// The key as written in the manifest (URL-encoded); reports repeat it.
    pub(crate) key_encoded: String,
    /// The decoded key.
    pub(crate) key: String,
    pub(crate) version_id: Option<String>,
}

/// Why a manifest cannot be used: the job fails with [`ManifestError::code`] and this message.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ManifestError {
    /// The manifest object's ETag is not the one the job's manifest location gives.
    #[error(
        "The ETag of the manifest object s3://{bucket}/{key} ({}) does not match the ETag given in the job's manifest location ({want}).",
        have.as_deref().unwrap_or("none")
    )]
    EtagMismatch {
        /// Manifest bucket.
        bucket: String,
        /// Manifest key.
        key: String,
        /// The object's ETag (unquoted), if it has one.
        have: Option<String>,
        /// The job's.
        want: String,
    },
    /// GetObject failed.
    #[error("Reading s3://{bucket}/{key} failed: {} (HTTP {}) {}", failure.code, failure.status, failure.message)]
    Unreadable {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
        /// How S3 answered.
        failure: S3Failure,
    },
    /// The body broke off while being read.
    #[error("Reading s3://{bucket}/{key} was interrupted: {message}")]
    Interrupted {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
        /// Why.
        message: String,
    },
    /// The object is larger than the service reads.
    #[error(
        "s3://{bucket}/{key} is larger than {limit} bytes, the most local-batch reads for a manifest."
    )]
    TooLarge {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
        /// The cap.
        limit: u64,
    },
    /// `manifest.json` is not an inventory manifest.
    #[error("The inventory manifest.json is not valid: {0}")]
    InventoryJson(#[source] serde_json::Error),
    /// An ORC or Parquet inventory.
    #[error("Inventory reports in {0} format are not supported by Batch Operations; use CSV.")]
    InventoryFormat(String),
    /// A data file's MD5 is not the one `manifest.json` lists.
    #[error("Inventory file {file} has MD5 {have}, the manifest says {want}.")]
    Md5Mismatch {
        /// Its key.
        file: String,
        /// Its MD5 (hex).
        have: String,
        /// The manifest's.
        want: String,
    },
    /// A data file is not gzip.
    #[error("Inventory file {file} is not gzip: {source}")]
    NotGzip {
        /// Its key.
        file: String,
        /// The decoder's error.
        #[source]
        source: std::io::Error,
    },
    /// A data file decompresses to more than the cap.
    #[error(
        "Inventory file {file} decompresses to more than {limit} bytes, the most local-batch reads for a manifest."
    )]
    InflatesTooLarge {
        /// Its key.
        file: String,
        /// The cap.
        limit: u64,
    },
    /// The columns have no `Bucket` or no `Key`.
    #[error("The manifest fields {0:?} do not include Bucket and Key.")]
    NoBucketOrKey(Vec<String>),
    /// A row is not CSV.
    #[error("Row {row} of {what} is not CSV: {source}")]
    NotCsv {
        /// `the manifest`, or the data file's key.
        what: String,
        /// 1-based.
        row: usize,
        /// The parser's error.
        #[source]
        source: csv::Error,
    },
    /// A row lacks the bucket or key column.
    #[error("Row {row} of {what} has no bucket or key.")]
    ShortRow {
        /// `the manifest`, or the data file's key.
        what: String,
        /// 1-based.
        row: usize,
    },
}

impl ManifestError {
    /// The job's `FailureCode`: S3's error code when the manifest could not be read,
    /// `InternalError` when the read broke off, `InvalidManifest` otherwise.
    pub(crate) fn code(&self) -> &str {
        match self {
            ManifestError::Unreadable { failure, .. } => &failure.code,
            ManifestError::Interrupted { .. } => "InternalError",
            _ => "InvalidManifest",
        }
    }
}

/// An inventory `manifest.json`: the fields Batch Operations uses.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct InventoryManifest {
    destination_bucket: String,
    file_format: String,
    file_schema: String,
    files: Vec<InventoryFile>,
}

#[derive(Debug, Deserialize)]
struct InventoryFile {
    key: String,
    #[serde(rename = "MD5checksum")]
    md5: Option<String>,
}

/// Reads the manifest into tasks, checking its ETag like AWS; no object larger than `limit`
/// bytes is read.
pub(crate) async fn read(
    s3: &aws_sdk_s3::Client,
    spec: &JobSpec,
    limit: u64,
) -> Result<Vec<Task>, ManifestError> {
    let (bucket, key) = (&spec.manifest_bucket, &spec.manifest_key);
    let out = open(s3, bucket, key, spec.manifest_version.as_deref()).await?;
    let etag = out.e_tag().map(|e| e.trim_matches('"').to_owned());
    if etag.as_deref() != Some(spec.manifest_etag.as_str()) {
        return Err(ManifestError::EtagMismatch {
            bucket: bucket.clone(),
            key: key.clone(),
            have: etag,
            want: spec.manifest_etag.clone(),
        });
    }
    let bytes = read_capped(out, bucket, key, limit).await?;
    match spec.format {
        ManifestFormat::Csv => {
            let fields: Vec<&str> = if spec.fields.is_empty() {
                vec!["Bucket", "Key", "VersionId"]
            } else {
                spec.fields.iter().map(String::as_str).collect()
            };
            parse_rows(bytes.as_slice(), &fields, "the manifest")
        }
        ManifestFormat::Inventory => read_inventory(s3, &bytes, limit).await,
    }
}

async fn read_inventory(
    s3: &aws_sdk_s3::Client,
    manifest: &[u8],
    limit: u64,
) -> Result<Vec<Task>, ManifestError> {
    let m: InventoryManifest =
        serde_json::from_slice(manifest).map_err(ManifestError::InventoryJson)?;
    if m.file_format != "CSV" {
        return Err(ManifestError::InventoryFormat(m.file_format));
    }
    let schema: Vec<&str> = m.file_schema.split(',').map(str::trim).collect();
    let data_bucket = bucket_of_arn(&m.destination_bucket)
        .unwrap_or(&m.destination_bucket)
        .to_owned();
    let mut tasks = Vec::new();
    for f in &m.files {
        let out = open(s3, &data_bucket, &f.key, None).await?;
        let gz = read_capped(out, &data_bucket, &f.key, limit).await?;
        if let Some(want) = &f.md5 {
            let have = hex::encode(Md5::digest(&gz));
            if !have.eq_ignore_ascii_case(want) {
                return Err(ManifestError::Md5Mismatch {
                    file: f.key.clone(),
                    have,
                    want: want.clone(),
                });
            }
        }
        let csv = gunzip_capped(&gz, &f.key, limit)?;
        tasks.extend(parse_rows(csv.as_slice(), &schema, &f.key)?);
    }
    Ok(tasks)
}

async fn open(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    version: Option<&str>,
) -> Result<aws_sdk_s3::operation::get_object::GetObjectOutput, ManifestError> {
    s3.get_object()
        .bucket(bucket)
        .key(key)
        .set_version_id(version.map(str::to_owned))
        .send()
        .await
        .map_err(|e| ManifestError::Unreadable {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            failure: S3Failure::of(&e),
        })
}

/// The body, refusing more than `limit` bytes (kit's capped read: Content-Length first when S3
/// sends it, then chunk by chunk).
async fn read_capped(
    out: aws_sdk_s3::operation::get_object::GetObjectOutput,
    bucket: &str,
    key: &str,
    limit: u64,
) -> Result<Vec<u8>, ManifestError> {
    let length = out.content_length();
    // No client here to read the timeouts from: the default operation bound.
    kit::body::read_capped(out.body, length, limit, kit::clients::body_deadline(None))
        .await
        .map_err(|e| match e {
            CappedReadError::TooLarge { limit } => ManifestError::TooLarge {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                limit,
            },
            CappedReadError::Stream(message) => ManifestError::Interrupted {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                message,
            },
        })
}

/// Decompresses a data file, refusing more than `limit` bytes of CSV.
fn gunzip_capped(gz: &[u8], file: &str, limit: u64) -> Result<Vec<u8>, ManifestError> {
    let mut csv = Vec::new();
    flate2::read::GzDecoder::new(gz)
        .take(limit.saturating_add(1))
        .read_to_end(&mut csv)
        .map_err(|source| ManifestError::NotGzip {
            file: file.to_owned(),
            source,
        })?;
    if csv.len() as u64 > limit {
        return Err(ManifestError::InflatesTooLarge {
            file: file.to_owned(),
            limit,
        });
    }
    Ok(csv)
}

/// Decodes a manifest key: URL-encoded, `+` for space.
pub(crate) fn decode_key(k: &str) -> String {
    percent_encoding::percent_decode_str(&k.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// The tasks of CSV rows whose columns are `fields` (no header; delete markers skipped).
pub(crate) fn parse_rows(
    csv: impl Read,
    fields: &[&str],
    what: &str,
) -> Result<Vec<Task>, ManifestError> {
    let col = |name: &str| fields.iter().position(|f| f.eq_ignore_ascii_case(name));
    let (Some(b), Some(k)) = (col("Bucket"), col("Key")) else {
        return Err(ManifestError::NoBucketOrKey(
            fields.iter().map(|f| (*f).to_owned()).collect(),
        ));
    };
    let v = col("VersionId");
    let dm = col("IsDeleteMarker");
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(csv);
    let mut tasks = Vec::new();
    for (n, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(|source| ManifestError::NotCsv {
            what: what.to_owned(),
            row: n + 1,
            source,
        })?;
        let (Some(bucket), Some(key)) = (rec.get(b), rec.get(k)) else {
            return Err(ManifestError::ShortRow {
                what: what.to_owned(),
                row: n + 1,
            });
        };
        // A delete marker is not an object: nothing to copy.
        if dm.and_then(|i| rec.get(i)) == Some("true") {
            continue;
        }
        tasks.push(Task {
            bucket: bucket.to_owned(),
            key_encoded: key.to_owned(),
            key: decode_key(key),
            version_id: v
                .and_then(|i| rec.get(i))
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        });
    }
    Ok(tasks)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn keys_decode_like_inventory() {
        assert_eq!(decode_key("a%2Fb+c%2Bd"), "a/b c+d");
    }

    #[test]
    fn rows_follow_the_schema_and_skip_delete_markers() {
        let csv = b"\"b\",\"k%20x\",\"v1\",\"false\"\n\"b\",\"gone\",\"v2\",\"true\"\n";
        let t = parse_rows(
            &csv[..],
            &["Bucket", "Key", "VersionId", "IsDeleteMarker"],
            "x",
        )
        .unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].key, "k x");
        assert_eq!(t[0].key_encoded, "k%20x");
        assert_eq!(t[0].version_id.as_deref(), Some("v1"));
    }

    #[test]
    fn a_manifest_without_a_key_column_or_with_a_short_row_is_invalid() {
        let err = parse_rows(&b"b,k\n"[..], &["Bucket", "Size"], "the manifest").unwrap_err();
        assert!(matches!(&err, ManifestError::NoBucketOrKey(f) if f == &["Bucket", "Size"]));
        assert_eq!(err.code(), "InvalidManifest");
        assert_eq!(
            err.to_string(),
            "The manifest fields [\"Bucket\", \"Size\"] do not include Bucket and Key."
        );
        let err = parse_rows(&b"b,k\nonly-bucket\n"[..], &["Bucket", "Key"], "m").unwrap_err();
        assert!(
            matches!(err, ManifestError::ShortRow { row: 2, .. }),
            "{err}"
        );
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(data).unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn a_data_file_inflating_past_the_cap_is_refused() {
        let gz = gzip(&[b'a'; 1000]);
        assert_eq!(gunzip_capped(&gz, "f", 1000).unwrap().len(), 1000);
        let err = gunzip_capped(&gz, "f", 999).unwrap_err();
        assert!(
            matches!(&err, ManifestError::InflatesTooLarge { file, limit: 999 } if file == "f"),
            "{err}"
        );
        assert_eq!(err.code(), "InvalidManifest");
        let err = gunzip_capped(b"not gzip", "f", 999).unwrap_err();
        assert!(matches!(err, ManifestError::NotGzip { .. }), "{err}");
    }
}
