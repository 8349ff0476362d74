//! What the policy makes of each snapshot of a source, as of `now`: pure, so the tests (and the
//! dry run) see exactly what the step then does.

use kit::Day;
use kit::retention::{self, Candidate, KeepClass, KeepPolicy, RetentionError};

use kit::catalog_read::Snapshot;
pub use kit::unix_time::{Secs, parse_rfc3339, rfc3339, start_of};

/// When a snapshot's protection lapses (`kit::catalog_read::Snapshot::protected_until`).
pub fn protected_until(s: &Snapshot) -> Option<Secs> {
    s.protected_until()
}

/// What becomes of one snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    /// The policy keeps it.
    Kept {
        /// The rules that keep it.
        kept_by: Vec<KeepClass>,
        /// The rule that keeps it longest among those whose bucket is over
        /// (`kit::retention::protection_needed`); its first rule while none is.
        class: KeepClass,
        /// The first second after the last day that rule keeps it: the protection must reach it
        /// (while no rule's bucket is over: the protection it has, nothing to extend).
        target: Secs,
        /// The protection ends before `target` (the bucket locks: `lock_mode` is set).
        extend: bool,
    },
    /// Not kept, but its lock holds it until then: nothing is done.
    Held {
        /// When the lock lapses.
        until: Secs,
    },
    /// Not kept and not (any more) locked: S3's lifecycle expiration may empty it.
    Expiring,
}

/// One snapshot and its fate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judged {
    /// Its backup date.
    pub date: Day,
    /// kit::retention::decide's reason.
    pub reason: String,
    /// When its protection lapses.
    pub protected_until: Option<Secs>,
    /// Its fate.
    pub fate: Fate,
}

/// Judges a source's snapshots (none deleted) as of `now`, in their order.
pub fn judge(
    policy: &KeepPolicy,
    snapshots: &[Snapshot],
    now: Secs,
) -> Result<Vec<Judged>, RetentionError> {
    let candidates: Vec<Candidate> = snapshots
        .iter()
        .map(|s| Candidate {
            date: s.entry.backup_date,
            good: s.entry.good,
        })
        .collect();
    let decisions: std::collections::BTreeMap<Day, retention::Decision> =
        retention::decide(policy, &candidates)?
            .into_iter()
            .map(|d| (d.date, d))
            .collect();
    let mut out = Vec::with_capacity(snapshots.len());
    for s in snapshots {
        let date = s.entry.backup_date;
        let until = protected_until(s);
        let (reason, kept_by) = decisions
            .get(&date)
            .map(|d| (d.reason.clone(), d.kept_by.clone()))
            .unwrap_or_default();
        // Only a settled keeper is protected longer: the newest snapshot keeps its week, month
        // and year only until the next one comes (kit::retention::protection_needed).
        let today = Day::of_unix_seconds(now).unwrap_or(date);
        let fate = match kept_by.first().copied() {
            Some(first) => match retention::protection_needed(policy, date, &kept_by, today) {
                Some((class, last)) => {
                    // Kept through the end of that day: the lock must reach the next midnight.
                    let target = start_of(last) + 86_400;
                    Fate::Kept {
                        kept_by,
                        class,
                        target,
                        extend: s.entry.lock_mode.is_some() && until.is_none_or(|u| u < target),
                    }
                }
                None => Fate::Kept {
                    kept_by,
                    class: first,
                    target: until.unwrap_or(now),
                    extend: false,
                },
            },
            None => match until {
                Some(u) if u > now => Fate::Held { until: u },
                _ => Fate::Expiring,
            },
        };
        out.push(Judged {
            date,
            reason,
            protected_until: until,
            fate,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kit::catalog::{CATALOG_FORMAT, CatalogEntry, ProtectionRecord};
    use kit::record::{ObjectRef, Verdict};

    fn day(s: &str) -> Day {
        s.parse().unwrap()
    }

    fn snap(date: &str, good: bool, retain_until: Option<&str>) -> Snapshot {
        let d = day(date);
        Snapshot {
            key: format!("r/catalog/lake/{date}.json"),
            entry: CatalogEntry {
                format: CATALOG_FORMAT,
                source_bucket: "lake".into(),
                backup_date: d,
                snapshot_bucket: format!("lake-{}", d.dd_mmm_yyyy()),
                job_id: "job".into(),
                verdict: Verdict::Complete,
                verification: None,
                good,
                objects: 1,
                bytes: 1,
                large_copies: 0,
                storage_class: "STANDARD".into(),
                lock_mode: retain_until.map(|_| "GOVERNANCE".into()),
                retain_until: retain_until.map(str::to_owned),
                audit_record: ObjectRef {
                    bucket: "r".into(),
                    key: "k".into(),
                },
            },
            protection: None,
            deleted: false,
        }
    }

    #[test]
    fn times() {
        let t = parse_rfc3339("2021-04-30T01:12:09Z").unwrap();
        assert_eq!(rfc3339(t), "2021-04-30T01:12:09Z");
        assert_eq!(rfc3339(start_of(day("2021-04-30"))), "2021-04-30T00:00:00Z");
        assert_eq!(parse_rfc3339("2021-04-30"), None);
    }

    #[test]
    fn fates() {
        let now = parse_rfc3339("2021-05-20T12:00:00Z").unwrap();
        let policy = KeepPolicy {
            daily: 2,
            weekly: 0,
            monthly: 0,
            yearly: 0,
        };
        let mut snaps = vec![
            snap("2021-05-01", true, Some("2021-05-10T00:00:00Z")), // lapsed: expiring
            snap("2021-05-02", true, Some("2021-06-01T00:00:00Z")), // held
            snap("2021-05-03", true, None),                         // no lock: expiring
            snap("2021-05-18", false, Some("2021-06-18T00:00:00Z")), // bad: held
            snap("2021-05-19", true, Some("2021-05-19T10:00:00Z")), // kept, extend
            snap("2021-05-20", true, Some("2021-06-20T00:00:00Z")), // kept, long enough
        ];
        let j = judge(&policy, &snaps, now).unwrap();
        assert_eq!(j[0].fate, Fate::Expiring);
        assert_eq!(
            j[1].fate,
            Fate::Held {
                until: parse_rfc3339("2021-06-01T00:00:00Z").unwrap()
            }
        );
        assert_eq!(j[2].fate, Fate::Expiring);
        assert!(matches!(j[3].fate, Fate::Held { .. }));
        assert_eq!(j[3].reason, "not good (counts toward no rule)");
        // Kept daily through 2021-05-20: protected to 2021-05-21T00:00:00Z.
        let target = parse_rfc3339("2021-05-21T00:00:00Z").unwrap();
        assert_eq!(
            j[4].fate,
            Fate::Kept {
                kept_by: vec![KeepClass::Daily],
                class: KeepClass::Daily,
                target,
                extend: true
            }
        );
        assert!(matches!(j[5].fate, Fate::Kept { extend: false, .. }));
        // A protection record reaching the target: nothing more to extend.
        snaps[4].protection = Some(ProtectionRecord {
            snapshot_bucket: snaps[4].entry.snapshot_bucket.clone(),
            retain_until: "2021-05-21T00:00:00Z".into(),
            keep_class: "daily".into(),
            object_versions: 1,
        });
        let j = judge(&policy, &snaps, now).unwrap();
        assert!(matches!(j[4].fate, Fate::Kept { extend: false, .. }));
        assert_eq!(j[4].protected_until, Some(target));
        // Kept without a lock: nothing to extend.
        let j = judge(&policy, &[snap("2021-05-20", true, None)], now).unwrap();
        assert!(matches!(j[0].fate, Fate::Kept { extend: false, .. }));
        assert!(judge(&KeepPolicy::default(), &snaps, now).is_err());
    }
}
