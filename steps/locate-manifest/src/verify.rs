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

/// Why a delivery cannot be backed up from: the reason of a `ManifestInvalid`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestProblem {
    /// `manifest.checksum` is not the MD5 of `manifest.json`.
    #[error(
        "manifest.checksum says {want:?} but the MD5 of manifest.json is {have}: the delivery is \
         corrupt or was modified after S3 wrote it; do not back up from it (a new delivery will be \
         needed, or pass another backup_date)"
    )]
    ChecksumMismatch {
        /// What manifest.checksum says (lowercased, at most 64 characters).
        want: String,
        /// The MD5 of manifest.json.
        have: String,
    },
    /// `manifest.json` does not parse as an S3 Inventory manifest.
    #[error("manifest.json is not a valid S3 Inventory manifest (at {path}: {detail})")]
    NotAManifest {
        /// Where in the JSON it went wrong.
        path: String,
        /// The parser's complaint.
        detail: String,
    },
    /// The manifest is of another bucket's inventory.
    #[error(
        "manifest.json lists bucket {listed:?}, not the source bucket {expected:?}: the inventory \
         location (prefix / configuration id) belongs to another bucket"
    )]
    OtherSourceBucket {
        /// The manifest's `sourceBucket` (at most 64 characters).
        listed: String,
        /// The source bucket of the event.
        expected: String,
    },
    /// The inventory is not CSV.
    #[error(
        "the inventory is in {format} format; S3 Batch Operations only read CSV inventories: switch \
         the inventory configuration's output format to CSV (the next delivery will be usable)"
    )]
    NotCsv {
        /// The manifest's `fileFormat` (at most 64 characters).
        format: String,
    },
    /// The manifest lists no data file.
    #[error("manifest.json lists no data files")]
    NoDataFiles,
    /// The data files' columns do not start with `Bucket, Key`.
    #[error(
        "fileSchema {schema:?} does not start with \"Bucket, Key\" as S3 Batch Operations require"
    )]
    FileSchema {
        /// The manifest's `fileSchema` (at most 64 characters).
        schema: String,
    },
    /// `creationTimestamp` is not epoch milliseconds.
    #[error("creationTimestamp {value:?} is not epoch milliseconds")]
    CreationTimestamp {
        /// The manifest's `creationTimestamp` (at most 64 characters).
        value: String,
    },
    /// One of manifest.json and manifest.checksum is missing.
    #[error("manifest.checksum and manifest.json must both exist; one is missing")]
    Missing,
    /// S3 returned the manifest without an ETag (CreateJob needs it).
    #[error("S3 returned no ETag for it")]
    NoEtag,
    /// The delivery's day minus `lag_days` is before the calendar's range.
    #[error("the delivery is too early for lag_days {lag}")]
    TooEarlyForLag {
        /// The event's `lag_days`.
        lag: i64,
    },
    /// The object is larger than any inventory manifest.
    #[error("larger than {limit} bytes: not an inventory manifest")]
    TooLarge {
        /// The cap, in bytes.
        limit: u64,
    },
}

/// At most 64 characters of a value read from the manifest, for a message.
fn short(s: &str) -> String {
    s.chars().take(64).collect()
}

/// Checks a delivery: the checksum, the JSON shape, the source bucket, the format, the files.
pub fn verify(
    manifest: &[u8],
    checksum: &str,
    source_bucket: &str,
) -> Result<Verified, ManifestProblem> {
    let want = checksum.trim().to_ascii_lowercase();
    let have = hex::encode(Md5::digest(manifest));
    if want != have {
        return Err(ManifestProblem::ChecksumMismatch {
            want: short(&want),
            have,
        });
    }
    let mut de = serde_json::Deserializer::from_slice(manifest);
    let m: ManifestJson =
        serde_path_to_error::deserialize(&mut de).map_err(|e| ManifestProblem::NotAManifest {
            path: e.path().to_string(),
            detail: e.into_inner().to_string(),
        })?;
    if m.source_bucket != source_bucket {
        return Err(ManifestProblem::OtherSourceBucket {
            listed: short(&m.source_bucket),
            expected: source_bucket.to_owned(),
        });
    }
    if !m.file_format.eq_ignore_ascii_case("CSV") {
        return Err(ManifestProblem::NotCsv {
            format: short(&m.file_format),
        });
    }
    if m.files.is_empty() {
        return Err(ManifestProblem::NoDataFiles);
    }
    let file_schema: Vec<String> = m
        .file_schema
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect();
    if file_schema.len() < 2 || file_schema[0] != "Bucket" || file_schema[1] != "Key" {
        return Err(ManifestProblem::FileSchema {
            schema: short(&m.file_schema),
        });
    }
    let scan_started_at = m
        .creation_timestamp
        .parse::<i128>()
        .ok()
        .and_then(|ms| OffsetDateTime::from_unix_timestamp_nanos(ms * 1_000_000).ok())
        .and_then(|t| t.format(&Rfc3339).ok())
        .ok_or_else(|| ManifestProblem::CreationTimestamp {
            value: short(&m.creation_timestamp),
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
    fn each_manifest_problem_is_named_and_explained() {
        let check = |json: &str, want: &str| {
            let e = verify(json.as_bytes(), &md5(json.as_bytes()), "lake-prod").unwrap_err();
            assert!(e.to_string().contains(want), "{e}");
            e
        };
        let e = check(&GOOD.replace("lake-prod", "other"), "not the source bucket");
        assert!(
            matches!(e, ManifestProblem::OtherSourceBucket { ref listed, .. } if listed == "other")
        );
        let e = check(&GOOD.replace("\"CSV\"", "\"ORC\""), "switch");
        assert!(matches!(e, ManifestProblem::NotCsv { ref format } if format == "ORC"));
        let e = check(&GOOD.replace("Bucket, Key", "Key, Bucket"), "Bucket, Key");
        assert!(matches!(e, ManifestProblem::FileSchema { .. }));
        let e = check(&GOOD.replace("1617325200000", "yesterday"), "epoch");
        assert!(matches!(e, ManifestProblem::CreationTimestamp { .. }));
        let e = check(&GOOD[..GOOD.len() / 2], "not a valid");
        assert!(matches!(e, ManifestProblem::NotAManifest { .. }));
        let e = check(
            r#"{"sourceBucket":"lake-prod","creationTimestamp":"1","fileFormat":"CSV","fileSchema":"Bucket, Key","files":[]}"#,
            "no data files",
        );
        assert_eq!(e, ManifestProblem::NoDataFiles);
        let e = check(
            r#"{"sourceBucket":"lake-prod","creationTimestamp":"1","fileFormat":"CSV","fileSchema":"Bucket, Key","files":[{"key":"k","size":"big"}]}"#,
            "files[0].size",
        );
        assert!(
            matches!(e, ManifestProblem::NotAManifest { ref path, .. } if path == "files[0].size")
        );
        let e = verify(GOOD.as_bytes(), &md5(b"other"), "lake-prod").unwrap_err();
        assert!(e.to_string().contains("corrupt"), "{e}");
        assert!(
            matches!(e, ManifestProblem::ChecksumMismatch { ref have, .. } if *have == md5(GOOD.as_bytes()))
        );
    }
}
