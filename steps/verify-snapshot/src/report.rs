//! The record verify-snapshot persists (`<report prefix>/job-<id>/lakevault-tables.json`): one
//! entry per Delta table, in key order, with nothing that changes between two runs over the same
//! snapshot (no run time, no request ids), so a re-run writes the same bytes.

use kit::Day;
use kit::record::ObjectRef;
use kit::verification::{SnapshotVerdict, TableCounts};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A table's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TableVerdict {
    /// The backup date's version can be restored.
    Restorable,
    /// Only another version can be restored.
    Degraded,
    /// No version checked can be restored.
    Unrestorable,
}

/// The version as of the end of the backup date (UTC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AsOf {
    /// The newest version committed by the end of the backup date.
    pub version: u64,
    /// Its commit time (epoch milliseconds): the in-commit timestamp where the table enables
    /// it, else `commitInfo.timestamp`. Never the object's LastModified (a copy resets it).
    pub committed_at_ms: i64,
    /// Which field it came from: `inCommitTimestamp` or `timestamp`.
    pub source: String,
    /// Whether the snapshot can restore that version.
    pub restorable: bool,
}

/// What a needed file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    /// A data file (`add.path`): its size must be the one the log records.
    Data,
    /// A deletion-vector file (`u`-type descriptor): at least as long as its descriptors need.
    DeletionVector,
}

/// A data or deletion-vector file the version needs that is absent or of another size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MissingFile {
    /// Its object key in the snapshot bucket.
    pub key: String,
    /// A data file or a deletion vector.
    pub kind: FileKind,
    /// The size the log records (a deletion vector: the least size its descriptors need).
    pub expected_size: u64,
    /// The size found (`null`: the object is not there).
    pub found_size: Option<u64>,
}

/// The files of a version that are not in the snapshot as the log records them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Missing {
    /// The version these files belong to (the newest version checked that is not complete).
    pub version: Option<u64>,
    /// How many files are absent or of the wrong size.
    pub count: u64,
    /// Up to 10 of them, in key order.
    pub samples: Vec<MissingFile>,
}

/// The table's protocol at the version read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Protocol {
    /// minReaderVersion
    pub min_reader_version: i32,
    /// minWriterVersion
    pub min_writer_version: i32,
    /// readerFeatures (empty below reader version 3)
    pub reader_features: Vec<String>,
}

/// One Delta table of the snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TableReport {
    /// The table's root prefix in the snapshot bucket (`""` for the bucket root, else ending in `/`).
    pub root: String,
    /// The table's verdict.
    pub verdict: TableVerdict,
    /// The newest version whose log is in the snapshot.
    pub latest_version: Option<u64>,
    /// The newest version the snapshot holds everything for.
    pub restorable_version: Option<u64>,
    /// The oldest version the snapshot's log can reconstruct.
    pub earliest_version: Option<u64>,
    /// The version as of the backup date, when one could be dated.
    pub as_of_backup_date: Option<AsOf>,
    /// Data files of the restorable version.
    pub files: Option<u64>,
    /// Their bytes, as the log records them.
    pub bytes: Option<u64>,
    /// How many of them carry a deletion vector (inline ones included).
    pub deletion_vectors: Option<u64>,
    /// Files missing from the newest incomplete version checked.
    pub missing: Missing,
    /// The protocol, when a version could be read.
    pub protocol: Option<Protocol>,
    /// Versions checked, newest first.
    pub versions_checked: Vec<u64>,
    /// What is wrong or noteworthy (kernel errors quoted).
    pub findings: Vec<String>,
}

/// What verify-snapshot writes next to the audit record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TablesRecord {
    /// The source bucket.
    pub source_bucket: String,
    /// The backup date.
    pub backup_date: Day,
    /// The snapshot bucket.
    pub snapshot_bucket: String,
    /// The Batch Operations job that filled it.
    pub job_id: String,
    /// The snapshot's verdict.
    pub verdict: SnapshotVerdict,
    /// Tables per verdict.
    pub tables: TableCounts,
    /// Objects outside any Delta table.
    pub non_delta_objects: u64,
    /// Every table, in key order.
    pub table_reports: Vec<TableReport>,
    /// Findings about the snapshot as a whole (e.g. discovery stopped at its bound).
    pub findings: Vec<String>,
    /// Where this record is.
    pub record: ObjectRef,
}

/// The snapshot verdict and counts from the tables'.
pub fn conclude(tables: &[TableReport]) -> (SnapshotVerdict, TableCounts) {
    let mut c = TableCounts {
        total: tables.len() as u64,
        ..TableCounts::default()
    };
    for t in tables {
        match t.verdict {
            TableVerdict::Restorable => c.restorable += 1,
            TableVerdict::Degraded => c.degraded += 1,
            TableVerdict::Unrestorable => c.unrestorable += 1,
        }
    }
    let v = if c.total == 0 {
        SnapshotVerdict::NoTables
    } else if c.restorable == c.total {
        SnapshotVerdict::AllRestorable
    } else {
        SnapshotVerdict::Degraded
    };
    (v, c)
}
