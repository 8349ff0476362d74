//! What a table's `_delta_log/` listing says by itself, before any file is read: which versions
//! have their commits, which checkpoints are whole, and so which versions the log can
//! reconstruct. This is where the kernel's blind spot is closed: the kernel checks that the
//! commits it lists are contiguous, not that they start at 0, so a log holding commits 5..9 and
//! no checkpoint would be replayed as if it were complete. Here a version counts only when a
//! whole checkpoint at or below it, or commit 0, starts the chain.

use std::collections::{BTreeMap, BTreeSet};

/// One object under `_delta_log/`, by its name relative to that directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LogFile {
    /// `<v:020>.json`
    Commit(u64),
    /// `<v:020>.checkpoint.parquet` (classic) or `<v:020>.checkpoint.<uuid>.{json,parquet}` (v2).
    Checkpoint(u64),
    /// `<v:020>.checkpoint.<part:010>.<parts:010>.parquet`
    CheckpointPart {
        /// The version.
        version: u64,
        /// This part's number, from 1.
        part: u32,
        /// How many parts the checkpoint has.
        parts: u32,
    },
    /// `_last_checkpoint`
    LastCheckpoint,
    /// Anything else (`.crc`, compaction files, sidecars, staged commits).
    Other,
}

fn version_of(s: &str) -> Option<u64> {
    (s.len() == 20 && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// Classifies a name relative to `_delta_log/`.
pub(crate) fn parse(name: &str) -> LogFile {
    if name == "_last_checkpoint" {
        return LogFile::LastCheckpoint;
    }
    let mut it = name.split('.');
    let Some(version) = it.next().and_then(version_of) else {
        return LogFile::Other;
    };
    let rest: Vec<&str> = it.collect();
    match rest.as_slice() {
        ["json"] => LogFile::Commit(version),
        ["checkpoint", "parquet"] => LogFile::Checkpoint(version),
        ["checkpoint", part, parts, "parquet"] if part.len() == 10 && parts.len() == 10 => {
            match (part.parse(), parts.parse()) {
                (Ok(part), Ok(parts)) if part >= 1 && part <= parts => LogFile::CheckpointPart {
                    version,
                    part,
                    parts,
                },
                _ => LogFile::Other,
            }
        }
        ["checkpoint", uuid, "json" | "parquet"] if uuid.len() == 36 => {
            LogFile::Checkpoint(version)
        }
        _ => LogFile::Other,
    }
}

/// The log as listed: commits present, whole checkpoints, and the `_last_checkpoint` hint.
#[derive(Debug, Default, Clone)]
pub(crate) struct LogListing {
    /// Versions whose commit JSON is present.
    pub(crate) commits: BTreeSet<u64>,
    /// Versions with a whole checkpoint (every part of a multi-part one).
    pub(crate) checkpoints: BTreeSet<u64>,
    /// Multi-part checkpoints with parts missing: version → (parts present, parts expected).
    pub(crate) partial_checkpoints: BTreeMap<u64, (u32, u32)>,
    /// Whether `_last_checkpoint` is present.
    pub(crate) has_last_checkpoint: bool,
}

impl LogListing {
    /// Builds the listing from the names under `_delta_log/`.
    pub(crate) fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        let mut l = LogListing::default();
        // version → (parts count announced → parts seen)
        let mut parts: BTreeMap<u64, BTreeMap<u32, BTreeSet<u32>>> = BTreeMap::new();
        for n in names {
            match parse(n) {
                LogFile::Commit(v) => {
                    l.commits.insert(v);
                }
                LogFile::Checkpoint(v) => {
                    l.checkpoints.insert(v);
                }
                LogFile::CheckpointPart {
                    version,
                    part,
                    parts: total,
                } => {
                    parts
                        .entry(version)
                        .or_default()
                        .entry(total)
                        .or_default()
                        .insert(part);
                }
                LogFile::LastCheckpoint => l.has_last_checkpoint = true,
                LogFile::Other => {}
            }
        }
        for (v, by_total) in parts {
            let whole = by_total
                .iter()
                .any(|(total, seen)| seen.len() as u64 == u64::from(*total));
            if whole {
                l.checkpoints.insert(v);
            } else if let Some((total, seen)) = by_total.iter().next_back() {
                l.partial_checkpoints.insert(v, (seen.len() as u32, *total));
            }
        }
        l
    }

    /// The newest version whose log (a commit or a checkpoint) is in the snapshot.
    pub(crate) fn latest_version(&self) -> Option<u64> {
        let c = self.commits.iter().next_back().copied();
        let k = self.checkpoints.iter().next_back().copied();
        c.max(k)
    }

    /// The checkpoint the log would start from for version `v`: the newest whole one ≤ `v`
    /// from which every commit up to `v` is present. `Some(None)` means "from commit 0".
    /// `None`: the log cannot reconstruct `v`.
    pub(crate) fn base_for(&self, v: u64) -> Option<Option<u64>> {
        for &c in self.checkpoints.range(..=v).rev() {
            if self.commits_present(c + 1, v) {
                return Some(Some(c));
            }
        }
        // No usable checkpoint: every commit from 0 (never from the first one that happens to
        // be listed: that is the blind spot).
        self.commits_present(0, v).then_some(None)
    }

    /// Whether the log can reconstruct version `v`.
    pub(crate) fn reconstructs(&self, v: u64) -> bool {
        self.base_for(v).is_some()
    }

    fn commits_present(&self, from: u64, to: u64) -> bool {
        if from > to {
            return true;
        }
        // Counting the commits in range is enough: they are distinct versions.
        self.commits.range(from..=to).count() as u64 == to - from + 1
    }

    /// The oldest version the log can reconstruct.
    pub(crate) fn earliest_version(&self) -> Option<u64> {
        // Candidates are 0 and the checkpoint versions: any reconstructible version's chain
        // starts at one of them, and the start itself is reconstructible.
        let zero = self.commits.contains(&0).then_some(0);
        zero.into_iter()
            .chain(self.checkpoints.iter().copied())
            .find(|&v| self.reconstructs(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(commits: std::ops::RangeInclusive<u64>, extra: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = commits.map(|c| format!("{c:020}.json")).collect();
        v.extend(extra.iter().map(|s| (*s).to_owned()));
        v
    }

    fn listing(n: &[String]) -> LogListing {
        LogListing::from_names(n.iter().map(String::as_str))
    }

    #[test]
    fn log_file_names_are_classified() {
        assert_eq!(parse("00000000000000000007.json"), LogFile::Commit(7));
        assert_eq!(
            parse("00000000000000000005.checkpoint.parquet"),
            LogFile::Checkpoint(5)
        );
        assert_eq!(
            parse("00000000000000000005.checkpoint.0000000002.0000000003.parquet"),
            LogFile::CheckpointPart {
                version: 5,
                part: 2,
                parts: 3
            }
        );
        assert_eq!(
            parse("00000000000000000005.checkpoint.80a083e8-7026-4e79-81be-64bd76c43a11.json"),
            LogFile::Checkpoint(5)
        );
        assert_eq!(parse("_last_checkpoint"), LogFile::LastCheckpoint);
        for other in [
            "00000000000000000005.crc",
            "00000000000000000001.00000000000000000004.compacted.json",
            "_sidecars/x.parquet",
            "7.json",
            "0000000000000000000x.json",
        ] {
            assert_eq!(parse(other), LogFile::Other, "{other}");
        }
    }

    #[test]
    fn commits_from_zero_reconstruct_every_version() {
        let l = listing(&names(0..=9, &[]));
        assert_eq!(l.latest_version(), Some(9));
        assert_eq!(l.earliest_version(), Some(0));
        assert!(l.reconstructs(9) && l.reconstructs(0));
        assert_eq!(l.base_for(9), Some(None));
    }

    #[test]
    fn commits_five_to_nine_without_a_checkpoint_reconstruct_nothing() {
        // The kernel's blind spot: contiguous, but not from 0.
        let l = listing(&names(5..=9, &[]));
        assert_eq!(l.latest_version(), Some(9));
        assert_eq!(l.earliest_version(), None);
        assert!(!(5..=9).any(|v| l.reconstructs(v)));
    }

    #[test]
    fn a_checkpoint_starts_the_chain_after_log_cleanup() {
        let l = listing(&names(6..=9, &["00000000000000000005.checkpoint.parquet"]));
        assert_eq!(l.earliest_version(), Some(5));
        assert_eq!(l.base_for(9), Some(Some(5)));
        assert!(!l.reconstructs(4));
    }

    #[test]
    fn a_gap_breaks_the_versions_after_it_up_to_the_next_checkpoint() {
        let mut n = names(0..=3, &[]);
        n.extend(names(5..=9, &["00000000000000000006.checkpoint.parquet"]));
        let l = listing(&n);
        assert!(l.reconstructs(3));
        assert!(!l.reconstructs(4) && !l.reconstructs(5));
        assert!(l.reconstructs(6) && l.reconstructs(9));
    }

    #[test]
    fn a_multi_part_checkpoint_counts_only_when_whole() {
        let part = |p: u32| format!("00000000000000000005.checkpoint.{p:010}.0000000002.parquet");
        let l = listing(&names(6..=7, &[&part(1)]));
        assert!(!l.reconstructs(7));
        assert_eq!(l.partial_checkpoints.get(&5), Some(&(1, 2)));
        let l = listing(&names(6..=7, &[&part(1), &part(2)]));
        assert!(l.reconstructs(7));
    }
}
