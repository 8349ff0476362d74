//! Verifying one delivery's `manifest.json` (pure: bytes in, verdict out).

use md5::{Digest, Md5};
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The parts of `manifest.json` the step relies on. Unknown fields are ignored: S3 may add some.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ManifestJson {
    source_bucket: String,
    creation_timestamp: String,
    file_format: String,
    file_schema: String,
    files: Vec<ManifestFile>,
}

#[derive(Debug, Deserialize)]
struct ManifestFile {
    #[allow(dead_code)] // Required by the format; its value is not needed here.
    key: String,
    size: u64,
}

/// What a verified manifest says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Scan start, RFC 3339.
    pub scan_started_at: String,
    /// Column names of the data files.
    pub file_schema: Vec<String>,
    /// Number of data files.
    pub data_file_count: u64,
    /// Their total size (compressed), bytes.
    pub data_total_bytes: u64,
}

/// Checks a delivery: the checksum, the JSON shape, the source bucket, the format, the files.
/// `Err` is the reason, phrased for the `ManifestInvalid` message (without the object's name).
pub fn verify(manifest: &[u8], checksum: &str, source_bucket: &str) -> Result<Verified, String> {
    let want = checksum.trim().to_ascii_lowercase();
    let have = hex::encode(Md5::digest(manifest));
    if want != have {
        return Err(format!(
            "manifest.checksum says {want:?} but the MD5 of manifest.json is {have}: the delivery is \
             corrupt or was modified after S3 wrote it; do not back up from it (a new delivery \
             will be needed, or pass another backup_date)"
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(manifest);
    let m: ManifestJson = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        format!(
            "manifest.json is not a valid S3 Inventory manifest (at {path}: {})",
            e.into_inner()
        )
    })?;
    if m.source_bucket != source_bucket {
        return Err(format!(
            "manifest.json lists bucket {:?}, not the source bucket {source_bucket:?}: the inventory \
             location (prefix / configuration id) belongs to another bucket",
            m.source_bucket
        ));
    }
    if !m.file_format.eq_ignore_ascii_case("CSV") {
        return Err(format!(
            "the inventory is in {} format; S3 Batch Operations only read CSV inventories: switch \
             the inventory configuration's output format to CSV (the next delivery will be usable)",
            m.file_format
        ));
    }
    if m.files.is_empty() {
        return Err("manifest.json lists no data files".to_owned());
    }
    let file_schema: Vec<String> = m
        .file_schema
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect();
    if file_schema.len() < 2 || file_schema[0] != "Bucket" || file_schema[1] != "Key" {
        return Err(format!(
            "fileSchema {:?} does not start with \"Bucket, Key\" as S3 Batch Operations require",
            m.file_schema
        ));
    }
    let scan_started_at = m
        .creation_timestamp
        .parse::<i128>()
        .ok()
        .and_then(|ms| OffsetDateTime::from_unix_timestamp_nanos(ms * 1_000_000).ok())
        .and_then(|t| t.format(&Rfc3339).ok())
        .ok_or_else(|| {
            format!(
                "creationTimestamp {:?} is not epoch milliseconds",
                m.creation_timestamp
            )
        })?;
    Ok(Verified {
        scan_started_at,
        file_schema,
        data_file_count: m.files.len() as u64,
        data_total_bytes: m.files.iter().map(|f| f.size).sum(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md5(b: &[u8]) -> String {
        hex::encode(Md5::digest(b))
    }

    const GOOD: &str = r#"{"sourceBucket":"lake-prod","destinationBucket":"arn:aws:s3:::inv","version":"2016-11-30",
        "creationTimestamp":"1617325200000","fileFormat":"CSV","fileSchema":"Bucket, Key, Size, ETag",
        "files":[{"key":"a.csv.gz","size":10,"MD5checksum":"x"},{"key":"b.csv.gz","size":5,"MD5checksum":"y"}],
        "somethingNew":1}"#;

    #[test]
    fn a_good_manifest() {
        let v = verify(GOOD.as_bytes(), &md5(GOOD.as_bytes()), "lake-prod").unwrap();
        assert_eq!(v.scan_started_at, "2021-04-02T01:00:00Z");
        assert_eq!(v.file_schema, ["Bucket", "Key", "Size", "ETag"]);
        assert_eq!((v.data_file_count, v.data_total_bytes), (2, 15));
        // Upper-case hex and a trailing newline in manifest.checksum are fine.
        let upper = format!("{}\n", md5(GOOD.as_bytes()).to_uppercase());
        assert!(verify(GOOD.as_bytes(), &upper, "lake-prod").is_ok());
    }

    #[test]
    fn refusals() {
        let check = |json: &str, want: &str| {
            let e = verify(json.as_bytes(), &md5(json.as_bytes()), "lake-prod").unwrap_err();
            assert!(e.contains(want), "{e}");
        };
        check(&GOOD.replace("lake-prod", "other"), "not the source bucket");
        check(&GOOD.replace("\"CSV\"", "\"ORC\""), "switch");
        check(&GOOD.replace("Bucket, Key", "Key, Bucket"), "Bucket, Key");
        check(&GOOD.replace("1617325200000", "yesterday"), "epoch");
        check(&GOOD[..GOOD.len() / 2], "not a valid");
        check(
            r#"{"sourceBucket":"lake-prod","creationTimestamp":"1","fileFormat":"CSV","fileSchema":"Bucket, Key","files":[]}"#,
            "no data files",
        );
        check(
            r#"{"sourceBucket":"lake-prod","creationTimestamp":"1","fileFormat":"CSV","fileSchema":"Bucket, Key","files":[{"key":"k","size":"big"}]}"#,
            "files[0].size",
        );
        let e = verify(GOOD.as_bytes(), &md5(b"other"), "lake-prod").unwrap_err();
        assert!(e.contains("corrupt"), "{e}");
    }
}
