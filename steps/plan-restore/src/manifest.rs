//! The restore's two objects, deterministic bytes from the plan: the Batch Operations manifest
//! (`S3BatchOperations_CSV_20180820`: `Bucket,Key` rows, keys URL-encoded, no header) and the plan
//! record verify-restore checks the result against.

use md5::{Digest as _, Md5};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use verify_snapshot::VersionContents;

/// Every byte but letters, digits and `-_.~/` is percent-encoded, `+` and space included, so the
/// key decodes the same whether the reader takes `+` for a space (inventory style) or not.
const KEY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// The manifest format plan-restore writes.
pub const MANIFEST_FORMAT: &str = "S3BatchOperations_CSV_20180820";

/// Batch Operations list price (us-east-1): per job.
pub const PRICE_PER_JOB_USD: f64 = 0.25;
/// Batch Operations list price (us-east-1): per object processed.
pub const PRICE_PER_OBJECT_USD: f64 = 1.0 / 1_000_000.0;
/// S3 Standard COPY (PUT-class) request list price (us-east-1), per request.
pub const PRICE_PER_COPY_USD: f64 = 0.005 / 1000.0;

/// What a file of the plan is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    /// Under `_delta_log/`: checkpoint part, sidecar or commit.
    Log,
    /// A data file of the version.
    Data,
    /// A deletion-vector file of the version.
    DeletionVector,
}

/// One object the restore copies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PlanFile {
    /// Its path relative to the table root (the same in the snapshot and the target).
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// What it is.
    pub kind: FileKind,
}

/// `<report prefix>/restore-<id>/plan.json`: what the restore copies, for verify-restore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PlanRecord {
    /// The restore's id.
    pub restore_id: String,
    /// The snapshot bucket copied from.
    pub snapshot_bucket: String,
    /// The table's root in the snapshot.
    pub table: String,
    /// The version restored: the restored table's latest version.
    pub version: u64,
    /// The checkpoint its log starts from.
    pub checkpoint_version: Option<u64>,
    /// The target bucket.
    pub target_bucket: String,
    /// The restored table's root in the target bucket.
    pub target_prefix: String,
    /// Every object copied, by path, log first.
    pub files: Vec<PlanFile>,
}

impl PlanRecord {
    /// The plan of `contents` (keys of the snapshot, under `table`).
    pub fn new(
        restore_id: &str,
        snapshot_bucket: &str,
        table: &str,
        target_bucket: &str,
        target_prefix: &str,
        contents: &VersionContents,
    ) -> Self {
        let rel = |k: &str| k.strip_prefix(table).unwrap_or(k).to_owned();
        let mut files = Vec::with_capacity(contents.object_count());
        for (kind, map) in [
            (FileKind::Log, &contents.log),
            (FileKind::Data, &contents.data),
            (FileKind::DeletionVector, &contents.deletion_vectors),
        ] {
            files.extend(map.iter().map(|(k, s)| PlanFile {
                path: rel(k),
                size: *s,
                kind,
            }));
        }
        Self {
            restore_id: restore_id.to_owned(),
            snapshot_bucket: snapshot_bucket.to_owned(),
            table: table.to_owned(),
            version: contents.version,
            checkpoint_version: contents.checkpoint_version,
            target_bucket: target_bucket.to_owned(),
            target_prefix: target_prefix.to_owned(),
            files,
        }
    }

    /// The record's bytes (pretty JSON: an operator reads it).
    pub fn to_bytes(&self) -> Vec<u8> {
        // A struct of strings and numbers always serialises.
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }
}

/// The manifest's bytes: one `bucket,key` row per object of the snapshot, in key order.
pub fn manifest_csv(snapshot_bucket: &str, contents: &VersionContents) -> Vec<u8> {
    let mut keys: Vec<&String> = contents.objects().map(|(k, _)| k).collect();
    keys.sort();
    let mut out = String::with_capacity(keys.len() * 80);
    for k in keys {
        // Bucket names have no comma, quote or newline; encoded keys neither.
        out.push_str(snapshot_bucket);
        out.push(',');
        out.extend(utf8_percent_encode(k, KEY));
        out.push('\n');
    }
    out.into_bytes()
}

/// The ETag S3 gives a single-part upload without SSE-KMS: the hex MD5 of the bytes (what a dry
/// run reports; a real run reports S3's own).
pub fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

/// The restore's id: 16 hex digits of SHA-256 over what makes it this restore.
pub fn restore_id(
    snapshot_bucket: &str,
    table: &str,
    version: u64,
    target_bucket: &str,
    target_prefix: &str,
) -> String {
    let seed = format!("{snapshot_bucket}|{table}|{version}|{target_bucket}|{target_prefix}");
    hex::encode(Sha256::digest(seed.as_bytes()))[..16].to_owned()
}

/// List-price estimate of the copy: the job, the objects it processes, their COPY requests.
pub fn estimated_cost_usd(objects: u64) -> f64 {
    let usd = PRICE_PER_JOB_USD + objects as f64 * (PRICE_PER_OBJECT_USD + PRICE_PER_COPY_USD);
    (usd * 1e6).round() / 1e6
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn contents() -> VersionContents {
        VersionContents {
            version: 7,
            checkpoint_version: Some(5),
            log: BTreeMap::from([
                (
                    "t/_delta_log/00000000000000000005.checkpoint.parquet".into(),
                    900,
                ),
                ("t/_delta_log/00000000000000000006.json".into(), 100),
                ("t/_delta_log/00000000000000000007.json".into(), 110),
            ]),
            data: BTreeMap::from([
                ("t/part=a b/f+1.parquet".into(), 5000),
                ("t/part=a%20b/f,2.parquet".into(), 6000),
            ]),
            deletion_vectors: BTreeMap::from([("t/deletion_vector_x.bin".into(), 43)]),
        }
    }

    #[test]
    fn the_manifest_lists_every_object_once_with_encoded_keys() {
        let csv = String::from_utf8(manifest_csv("snap-31-mar-2021", &contents())).unwrap();
        let rows: Vec<&str> = csv.lines().collect();
        assert_eq!(rows.len(), 6);
        assert!(rows.contains(&"snap-31-mar-2021,t/part%3Da%20b/f%2B1.parquet"));
        assert!(rows.contains(&"snap-31-mar-2021,t/part%3Da%2520b/f%2C2.parquet"));
        assert!(rows.contains(&"snap-31-mar-2021,t/_delta_log/00000000000000000007.json"));
        // Deterministic: the same plan, the same bytes, the same ETag.
        assert_eq!(
            md5_hex(&manifest_csv("snap-31-mar-2021", &contents())),
            md5_hex(csv.as_bytes())
        );
    }

    #[test]
    fn the_record_holds_paths_relative_to_the_root() {
        let r = PlanRecord::new("id", "snap", "t/", "tgt", "r/t/", &contents());
        assert_eq!(r.files.len(), 6);
        assert_eq!(r.files[0].kind, FileKind::Log);
        assert!(r.files.iter().all(|f| !f.path.starts_with("t/")));
        assert!(
            r.files
                .iter()
                .any(|f| f.path == "deletion_vector_x.bin" && f.kind == FileKind::DeletionVector)
        );
        assert_eq!(r.to_bytes(), r.clone().to_bytes());
    }

    #[test]
    fn ids_and_costs_are_stable() {
        let a = restore_id("s", "t/", 7, "b", "t/");
        assert_eq!(a.len(), 16);
        assert_eq!(a, restore_id("s", "t/", 7, "b", "t/"));
        assert_ne!(a, restore_id("s", "t/", 8, "b", "t/"));
        assert_eq!(estimated_cost_usd(0), 0.25);
        assert_eq!(estimated_cost_usd(1_000_000), 6.25);
    }
}
