//! The per-table versions, from verify-snapshot's record (`lakevault-tables.json`): its summary
//! carries only counts, so the versions a table restores at are read from the record it names.
//!
//! Only the fields the catalog keeps are read, as verify-snapshot's `TablesRecord` writes them
//! (other fields are ignored, so the record may grow without breaking this step). The crate does
//! not depend on verify-snapshot's (it pulls the Delta reader).

use kit::Day;
use kit::catalog::{MAX_TABLES_IN_ENTRY, TableVersions};
use serde::Deserialize;

/// The part of verify-snapshot's record this step reads.
#[derive(Debug, Deserialize)]
pub struct TablesRecordView {
    /// The snapshot bucket it verified.
    pub snapshot_bucket: String,
    /// The backup date it dated the tables against.
    pub backup_date: Day,
    /// Every table, in key order.
    pub table_reports: Vec<TableReportView>,
}

/// One table of the record.
#[derive(Debug, Deserialize)]
pub struct TableReportView {
    /// The table's root prefix.
    pub root: String,
    /// The newest version the snapshot holds everything for.
    #[serde(default)]
    pub restorable_version: Option<u64>,
    /// The version as of the backup date, when one could be dated.
    #[serde(default)]
    pub as_of_backup_date: Option<AsOfView>,
}

/// The backup date's version of a table.
#[derive(Debug, Deserialize)]
pub struct AsOfView {
    /// The version.
    pub version: u64,
    /// Whether the snapshot can restore it.
    pub restorable: bool,
}

/// A table's versions as the catalog keeps them. verify-snapshot proves at most two versions
/// restorable: the newest complete one (`restorable_version`) and the backup date's (checked
/// even when the walk back did not reach it); `oldest_restorable` and `newest_restorable` are
/// the older and newer of those. Older versions may restore too, but nothing proved it, so the
/// catalog does not claim them (verify-snapshot's `earliest_version` is the oldest version the
/// log can reconstruct, not one whose data files were checked).
pub fn versions(t: &TableReportView) -> TableVersions {
    let backup_date_version = t
        .as_of_backup_date
        .as_ref()
        .filter(|a| a.restorable)
        .map(|a| a.version);
    let proved = [t.restorable_version, backup_date_version];
    TableVersions {
        root: t.root.clone(),
        backup_date_version,
        oldest_restorable: proved.iter().flatten().min().copied(),
        newest_restorable: proved.iter().flatten().max().copied(),
    }
}

/// The first [`MAX_TABLES_IN_ENTRY`] tables (in the record's key order) and how many are left.
pub fn bounded(tables: &[TableReportView]) -> (Vec<TableVersions>, u64) {
    let listed: Vec<TableVersions> = tables
        .iter()
        .take(MAX_TABLES_IN_ENTRY)
        .map(versions)
        .collect();
    let left = (tables.len() - listed.len()) as u64;
    (listed, left)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(restorable: Option<u64>, as_of: Option<(u64, bool)>) -> TableReportView {
        TableReportView {
            root: "tables/events/".into(),
            restorable_version: restorable,
            as_of_backup_date: as_of.map(|(version, restorable)| AsOfView {
                version,
                restorable,
            }),
        }
    }

    #[test]
    fn only_proved_versions_are_claimed() {
        let v = versions(&table(Some(9), Some((7, true))));
        assert_eq!(
            (
                v.backup_date_version,
                v.oldest_restorable,
                v.newest_restorable
            ),
            (Some(7), Some(7), Some(9))
        );
        // The backup date's version is not restorable: only the newest complete one is claimed.
        let v = versions(&table(Some(9), Some((7, false))));
        assert_eq!(
            (
                v.backup_date_version,
                v.oldest_restorable,
                v.newest_restorable
            ),
            (None, Some(9), Some(9))
        );
        // Restorable at the backup date although the walk back found no complete version.
        let v = versions(&table(None, Some((3, true))));
        assert_eq!(
            (v.oldest_restorable, v.newest_restorable),
            (Some(3), Some(3))
        );
        let v = versions(&table(None, None));
        assert_eq!(
            (
                v.backup_date_version,
                v.oldest_restorable,
                v.newest_restorable
            ),
            (None, None, None)
        );
    }

    #[test]
    fn at_most_the_entrys_bound_is_listed() {
        let many: Vec<TableReportView> = (0..MAX_TABLES_IN_ENTRY + 3)
            .map(|_| table(Some(1), None))
            .collect();
        let (listed, left) = bounded(&many);
        assert_eq!((listed.len(), left), (MAX_TABLES_IN_ENTRY, 3));
        let (listed, left) = bounded(&many[..2]);
        assert_eq!((listed.len(), left), (2, 0));
    }

    #[test]
    fn the_record_is_read_as_verify_snapshot_writes_it() {
        // verify-snapshot's README example, with fields this step does not read.
        let json = r#"{"source_bucket": "lake-prod", "backup_date": "2021-03-31",
            "snapshot_bucket": "lake-prod-31-mar-2021", "job_id": "job-1", "verdict": "all_restorable",
            "tables": {"total": 1, "restorable": 1, "degraded": 0, "unrestorable": 0},
            "non_delta_objects": 0, "findings": [], "record": {"bucket": "r", "key": "k"},
            "table_reports": [{"root": "warehouse/sales/events/", "verdict": "restorable",
              "latest_version": 9, "restorable_version": 9, "earliest_version": 0,
              "as_of_backup_date": {"version": 7, "committed_at_ms": 1617209400000,
                                    "source": "timestamp", "restorable": true},
              "files": 3, "bytes": 100, "deletion_vectors": 0,
              "missing": {"version": null, "count": 0, "samples": []},
              "protocol": null, "versions_checked": [9], "findings": []}]}"#;
        let r: TablesRecordView = serde_json::from_str(json).unwrap();
        assert_eq!(r.snapshot_bucket, "lake-prod-31-mar-2021");
        assert_eq!(r.table_reports.len(), 1);
        assert_eq!(versions(&r.table_reports[0]).backup_date_version, Some(7));
    }
}
