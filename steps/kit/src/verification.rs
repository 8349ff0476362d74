//! verify-snapshot's summary: which Delta tables of a snapshot can be restored, as the state
//! machine carries it to notify. The per-table detail stays in the record it names
//! (`lakevault-tables.json`), so the state's payload does not grow with the number of tables.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Day;
use crate::record::ObjectRef;

/// The snapshot's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotVerdict {
    /// Every table can be restored at its backup-date version.
    AllRestorable,
    /// At least one table cannot be restored at its backup-date version.
    Degraded,
    /// The snapshot holds no Delta table.
    NoTables,
}

impl SnapshotVerdict {
    /// The verdict as written in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AllRestorable => "all_restorable",
            Self::Degraded => "degraded",
            Self::NoTables => "no_tables",
        }
    }
}

/// How many tables got which verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TableCounts {
    /// Delta tables found.
    pub total: u64,
    /// Restorable at the backup date's version.
    pub restorable: u64,
    /// Restorable only at another version.
    pub degraded: u64,
    /// Not restorable at any version checked.
    pub unrestorable: u64,
}

/// verify-snapshot's output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Verification {
    /// The snapshot bucket verified.
    pub snapshot_bucket: String,
    /// The backup date the tables were dated against.
    pub backup_date: Day,
    /// The snapshot's verdict.
    pub verdict: SnapshotVerdict,
    /// Tables per verdict.
    pub tables: TableCounts,
    /// Objects outside any Delta table (counted, not verified).
    pub non_delta_objects: u64,
    /// One line for people, e.g. `3 Delta tables restorable as of 2021-03-31`.
    pub summary: String,
    /// The full per-table record.
    pub record: ObjectRef,
}

/// The one-line summary for a verdict and counts.
pub fn summary_line(date: Day, t: &TableCounts) -> String {
    let tables = |n: u64| {
        if n == 1 {
            "1 Delta table".to_owned()
        } else {
            format!("{n} Delta tables")
        }
    };
    if t.total == 0 {
        return "no Delta tables found".to_owned();
    }
    if t.restorable == t.total {
        return format!("{} restorable as of {date}", tables(t.total));
    }
    let mut parts = vec![format!(
        "{} of {} restorable as of {date}",
        t.restorable,
        tables(t.total)
    )];
    if t.degraded > 0 {
        parts.push(format!("{} only at another version", t.degraded));
    }
    if t.unrestorable > 0 {
        parts.push(format!("{} unrestorable", t.unrestorable));
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_says_how_many_tables_restore_as_of_the_date() {
        let d: Day = "2021-03-31".parse().unwrap();
        let all = TableCounts {
            total: 3,
            restorable: 3,
            ..TableCounts::default()
        };
        assert_eq!(
            summary_line(d, &all),
            "3 Delta tables restorable as of 2021-03-31"
        );
        let one = TableCounts {
            total: 1,
            restorable: 1,
            ..TableCounts::default()
        };
        assert_eq!(
            summary_line(d, &one),
            "1 Delta table restorable as of 2021-03-31"
        );
        let mixed = TableCounts {
            total: 3,
            restorable: 1,
            degraded: 1,
            unrestorable: 1,
        };
        assert_eq!(
            summary_line(d, &mixed),
            "1 of 3 Delta tables restorable as of 2021-03-31, 1 only at another version, 1 unrestorable"
        );
        assert_eq!(
            summary_line(d, &TableCounts::default()),
            "no Delta tables found"
        );
    }
}
