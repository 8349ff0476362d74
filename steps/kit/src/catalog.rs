//! The snapshot catalog: one entry per source and backup date, written by catalog-snapshot at the
//! end of each backup run, read by prune-snapshots and by `lakevault snapshots` / `lakevault
//! forget`. It lives here so that no step depends on another step's crate.
//!
//! Layout under the report prefix, one folder per source so that one listing reads a source:
//!
//! - `<prefix>/catalog/<source>/<yyyy-mm-dd>.json`: the [`CatalogEntry`] (facts of the backup run,
//!   byte-identical when the run is re-driven);
//! - `<prefix>/catalog/<source>/<yyyy-mm-dd>.protection.json`: a [`ProtectionRecord`], written by
//!   prune-snapshots when it extended the snapshot's Object Lock for a longer keep class;
//! - `<prefix>/catalog/<source>/<yyyy-mm-dd>.deleted.json`: a [`DeletionRecord`], written by
//!   prune-snapshots once S3 emptied an expired snapshot bucket and the bucket was deleted.
//!
//! Why three files and not one rewritten entry: the entry is the run's own record (a redrive must
//! write the same bytes), the other two are prune's later findings; they never race each other.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Day;
use crate::record::{ObjectRef, Verdict};
use crate::verification::{SnapshotVerdict, TableCounts};

/// The catalog's format version, in every entry.
pub const CATALOG_FORMAT: u32 = 1;

/// Which file of the catalog a key names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CatalogFile {
    /// `<date>.json`
    Entry,
    /// `<date>.protection.json`
    Protection,
    /// `<date>.deleted.json`
    Deleted,
}

impl CatalogFile {
    fn suffix(self) -> &'static str {
        match self {
            CatalogFile::Entry => ".json",
            CatalogFile::Protection => ".protection.json",
            CatalogFile::Deleted => ".deleted.json",
        }
    }
}

/// The folder (with a trailing `/`) holding one source's catalog under the report `prefix`.
pub fn source_prefix(report_prefix: &str, source_bucket: &str) -> String {
    crate::record::under_prefix(report_prefix, &format!("catalog/{source_bucket}/"))
}

/// The key of one catalog file.
pub fn key(report_prefix: &str, source_bucket: &str, date: Day, file: CatalogFile) -> String {
    format!(
        "{}{date}{}",
        source_prefix(report_prefix, source_bucket),
        file.suffix()
    )
}

/// What a key in a source's catalog folder names: the date and the file, or `None` for anything
/// else (a foreign object is ignored, never an error).
pub fn parse_key(source_prefix: &str, key: &str) -> Option<(Day, CatalogFile)> {
    let name = key.strip_prefix(source_prefix)?;
    // The longest suffixes first: `.json` ends the other two as well.
    for file in [
        CatalogFile::Protection,
        CatalogFile::Deleted,
        CatalogFile::Entry,
    ] {
        if let Some(date) = name.strip_suffix(file.suffix()) {
            return date.parse::<Day>().ok().map(|d| (d, file));
        }
    }
    None
}

/// What verify-snapshot found, as far as the catalog keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CatalogVerification {
    /// The snapshot's verdict.
    pub verdict: SnapshotVerdict,
    /// Tables per verdict.
    pub tables: TableCounts,
    /// Per table: its root and the versions it can be restored at (bounded, see
    /// [`MAX_TABLES_IN_ENTRY`]).
    pub restorable: Vec<TableVersions>,
    /// Tables left out of `restorable` because the entry keeps at most [`MAX_TABLES_IN_ENTRY`].
    pub tables_not_listed: u64,
    /// verify-snapshot's full record.
    pub record: ObjectRef,
}

/// Most tables listed by name in one entry; the full list is in verify-snapshot's record.
pub const MAX_TABLES_IN_ENTRY: usize = 100;

/// One Delta table of a snapshot and what it can be restored at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TableVersions {
    /// The table's root in the snapshot, e.g. `tables/events`.
    pub root: String,
    /// The version current at the backup date, when restorable.
    pub backup_date_version: Option<u64>,
    /// The oldest and newest restorable versions, when any.
    pub oldest_restorable: Option<u64>,
    /// See `oldest_restorable`.
    pub newest_restorable: Option<u64>,
}

/// One snapshot: the facts of one backup run of one source on one backup date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CatalogEntry {
    /// [`CATALOG_FORMAT`].
    pub format: u32,
    /// The source bucket backed up.
    pub source_bucket: String,
    /// The backup date (the inventory's date).
    pub backup_date: Day,
    /// The snapshot bucket.
    pub snapshot_bucket: String,
    /// The Batch Operations job that copied it.
    pub job_id: String,
    /// audit-report's verdict (after the large copies, when there were any).
    pub verdict: Verdict,
    /// verify-snapshot's findings; none when it did not run.
    pub verification: Option<CatalogVerification>,
    /// Whether the snapshot counts toward a keep rule: verdict `complete`, and, when verified,
    /// every table restorable at its backup-date version (see [`is_good`]).
    pub good: bool,
    /// Current object versions in the snapshot bucket when the entry was written.
    pub objects: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Objects copied by the large-object path (over 5 GiB).
    pub large_copies: u64,
    /// The storage class of the copies (for the cost estimate), e.g. `GLACIER_IR`.
    pub storage_class: String,
    /// Object Lock mode of the bucket's default retention, `GOVERNANCE` or `COMPLIANCE`; none
    /// without a default retention.
    pub lock_mode: Option<String>,
    /// When the earliest lock of the snapshot lapses (RFC 3339, UTC): the oldest object's
    /// LastModified plus the default retention. None without a default retention.
    pub retain_until: Option<String>,
    /// The audit record.
    pub audit_record: ObjectRef,
}

/// The good-snapshot rule: only these count toward `keep_*` (a failed or incomplete snapshot
/// never displaces a good one).
pub fn is_good(verdict: Verdict, verification: Option<&CatalogVerification>) -> bool {
    verdict == Verdict::Complete
        && verification.is_none_or(|v| v.verdict != SnapshotVerdict::Degraded)
}

/// prune-snapshots extended a snapshot's Object Lock because a keep rule holds it longer than
/// its default retention.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ProtectionRecord {
    /// The snapshot bucket.
    pub snapshot_bucket: String,
    /// The new retain-until date of every object version (RFC 3339, UTC).
    pub retain_until: String,
    /// The keep class that asked for it: `weekly`, `monthly` or `yearly`.
    pub keep_class: String,
    /// Object versions whose retention was set.
    pub object_versions: u64,
}

/// prune-snapshots deleted an expired snapshot's bucket (S3 had emptied it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DeletionRecord {
    /// The snapshot bucket deleted.
    pub snapshot_bucket: String,
    /// Why it expired, as `lakevault forget` printed it.
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> Day {
        s.parse().unwrap()
    }

    #[test]
    fn keys_round_trip() {
        let p = source_prefix("batch-reports/", "lake-prod");
        assert_eq!(p, "batch-reports/catalog/lake-prod/");
        assert_eq!(source_prefix("", "lake"), "catalog/lake/");
        for f in [
            CatalogFile::Entry,
            CatalogFile::Protection,
            CatalogFile::Deleted,
        ] {
            let k = key("batch-reports", "lake-prod", day("2021-03-31"), f);
            assert_eq!(parse_key(&p, &k), Some((day("2021-03-31"), f)));
        }
        assert_eq!(
            key("r", "s", day("2021-03-31"), CatalogFile::Protection),
            "r/catalog/s/2021-03-31.protection.json"
        );
        assert_eq!(
            parse_key(&p, "batch-reports/catalog/lake-prod/notes.txt"),
            None
        );
        assert_eq!(
            parse_key(&p, "batch-reports/catalog/lake-prod/x.json"),
            None
        );
        assert_eq!(parse_key(&p, "elsewhere/2021-03-31.json"), None);
    }

    #[test]
    fn only_complete_and_restorable_snapshots_are_good() {
        let v = |verdict, unrestorable| CatalogVerification {
            verdict,
            tables: TableCounts {
                total: 2,
                restorable: 2 - unrestorable,
                degraded: 0,
                unrestorable,
            },
            restorable: vec![],
            tables_not_listed: 0,
            record: ObjectRef {
                bucket: "b".into(),
                key: "k".into(),
            },
        };
        assert!(is_good(Verdict::Complete, None));
        assert!(!is_good(Verdict::Incomplete, None));
        assert!(!is_good(Verdict::Failed, None));
        assert!(is_good(
            Verdict::Complete,
            Some(&v(SnapshotVerdict::AllRestorable, 0))
        ));
        assert!(!is_good(
            Verdict::Complete,
            Some(&v(SnapshotVerdict::Degraded, 1))
        ));
        // Restorable only at another version is not good enough to displace a good snapshot.
        assert!(!is_good(
            Verdict::Complete,
            Some(&v(SnapshotVerdict::Degraded, 0))
        ));
        assert!(is_good(
            Verdict::Complete,
            Some(&v(SnapshotVerdict::NoTables, 0))
        ));
    }
}
