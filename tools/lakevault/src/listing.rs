//! `lakevault snapshots` and `lakevault forget --dry-run` as text and JSON, from the judged
//! catalog ([`crate::keep`]).

use std::collections::BTreeMap;

use kit::retention::KeepPolicy;
use serde_json::{Value, json};

use crate::catalog::{Catalog, Location, Snapshot};
use crate::keep::{self, Fate, Judged, Prices, Secs};
use crate::render::human_bytes;

/// Whether a column's cells are aligned left or right.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Align {
    Left,
    Right,
}

/// A text table as restic prints one: a header, a rule, the rows, a rule.
struct Table {
    columns: Vec<(&'static str, Align)>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(columns: &[(&'static str, Align)]) -> Table {
        Table {
            columns: columns.to_vec(),
            rows: Vec::new(),
        }
    }

    fn widths(&self) -> Vec<usize> {
        self.columns
            .iter()
            .enumerate()
            .map(|(i, (h, _))| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(i))
                    .map(|c| c.chars().count())
                    .chain(std::iter::once(h.chars().count()))
                    .max()
                    .unwrap_or(0)
            })
            .collect()
    }

    fn line(&self, cells: &[String], widths: &[usize]) -> String {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i > 0 {
                out.push_str("  ");
            }
            let pad = w.saturating_sub(cell.chars().count());
            let right = self.columns.get(i).is_some_and(|c| c.1 == Align::Right);
            if right {
                out.push_str(&" ".repeat(pad));
                out.push_str(cell);
            } else {
                out.push_str(cell);
                out.push_str(&" ".repeat(pad));
            }
        }
        out.trim_end().to_owned()
    }

    /// The table, or nothing when it has no rows (the count line below says so).
    fn render(&self) -> String {
        if self.rows.is_empty() {
            return String::new();
        }
        let widths = self.widths();
        let total = widths.iter().sum::<usize>() + 2 * widths.len().saturating_sub(1);
        let rule = "-".repeat(total);
        let header: Vec<String> = self.columns.iter().map(|(h, _)| (*h).to_owned()).collect();
        let mut out = format!("{}\n{rule}\n", self.line(&header, &widths));
        for r in &self.rows {
            out.push_str(&self.line(r, &widths));
            out.push('\n');
        }
        out.push_str(&rule);
        out.push('\n');
        out
    }
}

/// The verdict shown: the audit's, or `degraded` when verify-snapshot found a table that cannot
/// be restored at its backup-date version.
pub fn verdict(s: &Snapshot) -> &'static str {
    match &s.entry.verification {
        Some(v) if v.verdict == kit::verification::SnapshotVerdict::Degraded => "degraded",
        _ => s.entry.verdict.as_str(),
    }
}

/// `restorable/total`, or `-` when verify-snapshot did not run.
pub fn tables(s: &Snapshot) -> String {
    match &s.entry.verification {
        Some(v) => format!("{}/{}", v.tables.restorable, v.tables.total),
        None => "-".to_owned(),
    }
}

fn date_of(secs: Option<Secs>) -> String {
    secs.and_then(keep::day_of)
        .map_or_else(|| "-".to_owned(), |d| d.to_string())
}

/// A cost in USD: cents from one dollar up, four decimals below.
pub fn usd(v: f64) -> String {
    // An empty sum of f64 is -0.0.
    let v = if v == 0.0 { 0.0 } else { v };
    if v >= 1.0 || v == 0.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}

/// The catalog, judged per source.
pub struct Report<'a> {
    /// Where it was read.
    pub at: &'a Location,
    /// The moment the fates are of.
    pub now: Secs,
    /// The policy, when one was given.
    pub policy: Option<KeepPolicy>,
    /// Per source, its snapshots oldest first, judged.
    pub sources: BTreeMap<&'a str, Vec<Judged<'a>>>,
    /// Keys skipped.
    pub unreadable: Vec<(String, String)>,
    /// The price list.
    pub prices: &'a Prices,
}

impl<'a> Report<'a> {
    /// Judges every source of `catalog`.
    pub fn new(
        at: &'a Location,
        catalog: &'a Catalog,
        policy: Option<KeepPolicy>,
        now: Secs,
        prices: &'a Prices,
    ) -> Result<Report<'a>, kit::InvalidInput> {
        let mut sources = BTreeMap::new();
        for (source, snapshots) in &catalog.sources {
            sources.insert(
                source.as_str(),
                keep::judge(snapshots, policy.as_ref(), now)?,
            );
        }
        Ok(Report {
            at,
            now,
            policy,
            sources,
            unreadable: catalog
                .unreadable
                .iter()
                .map(|u| (u.key.clone(), u.why.clone()))
                .collect(),
            prices,
        })
    }

    fn all(&self) -> impl Iterator<Item = &Judged<'a>> {
        self.sources.values().flatten()
    }

    /// The totals: snapshots, objects and bytes (of buckets not deleted), the estimated monthly
    /// storage cost per storage class.
    pub fn totals(&self) -> Value {
        let mut by_class: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
        let (mut snapshots, mut deleted, mut objects, mut bytes) = (0u64, 0u64, 0u64, 0u64);
        for j in self.all() {
            snapshots += 1;
            if j.snapshot.deleted {
                deleted += 1;
                continue;
            }
            let e = &j.snapshot.entry;
            objects += e.objects;
            bytes += e.bytes;
            let c = by_class.entry(e.storage_class.as_str()).or_default();
            c.0 += 1;
            c.1 += e.bytes;
        }
        let mut cost = 0.0;
        let mut unpriced = Vec::new();
        let mut classes = serde_json::Map::new();
        for (class, (n, b)) in &by_class {
            let monthly = self.prices.monthly(class, *b);
            match monthly {
                Some(m) => cost += m,
                None => unpriced.push(*class),
            }
            classes.insert(
                (*class).to_owned(),
                json!({"snapshots": n, "bytes": b,
                       "usd_per_gib_month": self.prices.0.get(*class),
                       "monthly_cost_usd": monthly}),
            );
        }
        json!({
            "snapshots": snapshots,
            "deleted": deleted,
            "unreadable": self.unreadable.len(),
            "objects": objects,
            "bytes": bytes,
            "monthly_cost_usd": cost,
            "by_storage_class": classes,
            "unpriced_storage_classes": unpriced,
        })
    }

    fn snapshot_json(&self, j: &Judged<'_>) -> Value {
        let s = j.snapshot;
        let e = &s.entry;
        let (kept_by, kept_until, longest, extend) = match &j.fate {
            Fate::Kept {
                kept_by,
                longest,
                extend_to,
            } => (
                json!(kept_by),
                json!(longest.map(|(_, d)| d.to_string())),
                json!(longest.map(|(c, _)| c.as_str())),
                json!(extend_to.map(|d| d.to_string())),
            ),
            Fate::Undecided => (Value::Null, Value::Null, Value::Null, Value::Null),
            _ => (json!([]), Value::Null, Value::Null, Value::Null),
        };
        json!({
            "source_bucket": e.source_bucket,
            "backup_date": e.backup_date,
            "snapshot_bucket": e.snapshot_bucket,
            "key": s.key,
            "job_id": e.job_id,
            "verdict": e.verdict,
            "verification_verdict": e.verification.as_ref().map(|v| v.verdict),
            "good": e.good,
            "objects": e.objects,
            "bytes": e.bytes,
            "large_copies": e.large_copies,
            "storage_class": e.storage_class,
            "tables": e.verification.as_ref().map(|v| v.tables),
            "lock_mode": e.lock_mode,
            "retain_until": e.retain_until,
            "protected_until": j.protected_until.map(keep::rfc3339),
            "deleted": s.deleted,
            "status": j.status(),
            "kept_as": j.kept_as(),
            "kept_by": kept_by,
            "reason": j.reason,
            "kept_until": kept_until,
            "longest_class": longest,
            "extend_protection_to": extend,
            "monthly_cost_usd": if s.deleted { Some(0.0) } else { self.prices.monthly(&e.storage_class, e.bytes) },
        })
    }

    /// `snapshots --json`: `{"snapshots": [...], "totals": {...}}`.
    pub fn snapshots_json(&self) -> Value {
        json!({
            "report_bucket": self.at.bucket,
            "report_prefix": self.at.prefix,
            "now": keep::rfc3339(self.now),
            "policy": self.policy,
            "snapshots": self.all().map(|j| self.snapshot_json(j)).collect::<Vec<_>>(),
            "unreadable": self.unreadable.iter().map(|(k, w)| json!({"key": k, "why": w})).collect::<Vec<_>>(),
            "totals": self.totals(),
        })
    }

    /// `snapshots` as text: restic's table, then the totals line.
    pub fn snapshots_text(&self) -> String {
        let mut t = Table::new(&[
            ("date", Align::Left),
            ("source", Align::Left),
            ("bucket", Align::Left),
            ("verdict", Align::Left),
            ("objects", Align::Right),
            ("size", Align::Right),
            ("tables", Align::Right),
            ("protected until", Align::Left),
            ("kept as", Align::Left),
        ]);
        for j in self.all() {
            let e = &j.snapshot.entry;
            t.rows.push(vec![
                e.backup_date.to_string(),
                e.source_bucket.clone(),
                e.snapshot_bucket.clone(),
                verdict(j.snapshot).to_owned(),
                e.objects.to_string(),
                human_bytes(e.bytes),
                tables(j.snapshot),
                date_of(j.protected_until),
                j.kept_as(),
            ]);
        }
        let mut out = String::new();
        if let Some(p) = &self.policy {
            out.push_str(&format!(
                "policy: {} (as of {})\n",
                keep::describe(p),
                keep::rfc3339(self.now)
            ));
        }
        out.push_str(&t.render());
        out.push_str(&self.totals_line());
        out.push('\n');
        out
    }

    fn totals_line(&self) -> String {
        let t = self.totals();
        let n = |k: &str| t[k].as_u64().unwrap_or(0);
        let mut line = format!("{} snapshots", n("snapshots"));
        let mut extra = Vec::new();
        if n("deleted") > 0 {
            extra.push(format!("{} deleted", n("deleted")));
        }
        if n("unreadable") > 0 {
            extra.push(format!("{} unreadable", n("unreadable")));
        }
        if !extra.is_empty() {
            line.push_str(&format!(" ({})", extra.join(", ")));
        }
        line.push_str(&format!(
            ", {} objects, {}; estimated storage {} USD/month at list prices",
            n("objects"),
            human_bytes(n("bytes")),
            usd(t["monthly_cost_usd"].as_f64().unwrap_or(0.0)),
        ));
        let unpriced: Vec<&str> = t["unpriced_storage_classes"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if !unpriced.is_empty() {
            line.push_str(&format!(
                " (no price for {}: pass --price-per-gib-month)",
                unpriced.join(", ")
            ));
        }
        line
    }

    /// `forget --dry-run --json`: per source the kept, expiring and held snapshots with reasons.
    pub fn forget_json(&self) -> Value {
        let sources: Vec<Value> = self
            .sources
            .iter()
            .map(|(source, judged)| {
                let pick = |f: fn(&Fate) -> bool| -> Vec<Value> {
                    judged
                        .iter()
                        .rev()
                        .filter(|j| f(&j.fate))
                        .map(|j| self.snapshot_json(j))
                        .collect()
                };
                json!({
                    "source_bucket": source,
                    "catalog": self.at.source_url(source),
                    "keep": pick(|f| matches!(f, Fate::Kept { .. })),
                    "remove": {
                        "expiring_now": pick(|f| matches!(f, Fate::ExpiringNow)),
                        "held": pick(|f| matches!(f, Fate::Held { .. })),
                    },
                    "deleted": pick(|f| matches!(f, Fate::Deleted)),
                })
            })
            .collect();
        json!({
            "dry_run": true,
            "now": keep::rfc3339(self.now),
            "policy": self.policy,
            "sources": sources,
            "unreadable": self.unreadable.iter().map(|(k, w)| json!({"key": k, "why": w})).collect::<Vec<_>>(),
        })
    }

    /// `forget --dry-run` as text, as restic's `forget --dry-run` prints it: per source the
    /// snapshots kept with their reasons, then the ones to remove, split by their lock.
    pub fn forget_text(&self) -> String {
        let mut out = self.forget_plan_text();
        out.push_str("\ndry run: nothing was changed\n");
        out
    }

    /// The plan of [`Report::forget_text`] without its dry-run line: what `forget` prints before
    /// it starts the prune.
    pub fn forget_plan_text(&self) -> String {
        let mut out = String::new();
        if let Some(p) = &self.policy {
            out.push_str(&format!(
                "Applying policy: {} (as of {})\n",
                keep::describe(p),
                keep::rfc3339(self.now)
            ));
        }
        let columns = [
            ("date", Align::Left),
            ("bucket", Align::Left),
            ("verdict", Align::Left),
            ("size", Align::Right),
            ("protected until", Align::Left),
            ("reasons", Align::Left),
        ];
        let row = |j: &Judged<'_>, protection: String| {
            let e = &j.snapshot.entry;
            vec![
                e.backup_date.to_string(),
                e.snapshot_bucket.clone(),
                verdict(j.snapshot).to_owned(),
                human_bytes(e.bytes),
                protection,
                j.reason.clone().unwrap_or_default(),
            ]
        };
        let bytes = |v: &[&Judged<'_>]| v.iter().map(|j| j.snapshot.entry.bytes).sum::<u64>();
        let monthly = |v: &[&Judged<'_>]| {
            v.iter()
                .filter_map(|j| {
                    self.prices
                        .monthly(&j.snapshot.entry.storage_class, j.snapshot.entry.bytes)
                })
                .fold(0.0, |a, b| a + b)
        };
        for (source, judged) in &self.sources {
            out.push_str(&format!(
                "\nsnapshots of {source} ({}):\n",
                self.at.source_url(source)
            ));
            // Newest first, as restic lists a plan.
            let kept: Vec<&Judged<'_>> = judged
                .iter()
                .rev()
                .filter(|j| matches!(j.fate, Fate::Kept { .. }))
                .collect();
            let now_: Vec<&Judged<'_>> = judged
                .iter()
                .rev()
                .filter(|j| matches!(j.fate, Fate::ExpiringNow))
                .collect();
            let held: Vec<&Judged<'_>> = judged
                .iter()
                .rev()
                .filter(|j| matches!(j.fate, Fate::Held { .. }))
                .collect();
            let deleted = judged
                .iter()
                .filter(|j| matches!(j.fate, Fate::Deleted))
                .count();

            out.push_str(&format!("keep {} snapshots:\n", kept.len()));
            let mut t = Table::new(&columns);
            for j in &kept {
                t.rows.push(row(j, date_of(j.protected_until)));
                if let Fate::Kept {
                    extend_to: Some(d),
                    longest: Some((class, _)),
                    ..
                } = &j.fate
                {
                    t.rows.push(vec![
                        String::new(),
                        String::new(),
                        String::new(),
                        String::new(),
                        String::new(),
                        format!("protection to extend to {d} ({class})"),
                    ]);
                }
            }
            out.push_str(&t.render());
            out.push_str(&format!(
                "{} snapshots, {}\n",
                kept.len(),
                human_bytes(bytes(&kept))
            ));

            let remove = now_.len() + held.len();
            out.push_str(&format!("\nremove {remove} snapshots:\n"));
            out.push_str(
                "expiring now (lock lapsed): lifecycle expiration will be put on the bucket\n",
            );
            let mut t = Table::new(&columns);
            for j in &now_ {
                let lapsed = match j.protected_until {
                    Some(u) => format!("lapsed {}", date_of(Some(u))),
                    None => "no lock".to_owned(),
                };
                t.rows.push(row(j, lapsed));
            }
            out.push_str(&t.render());
            out.push_str(&format!(
                "{} snapshots, {}, {} USD/month\n",
                now_.len(),
                human_bytes(bytes(&now_)),
                usd(monthly(&now_))
            ));
            out.push_str("\nheld by Object Lock: removed once the lock lapses\n");
            let mut t = Table::new(&columns);
            for j in &held {
                t.rows.push(row(
                    j,
                    format!("held until {} (Object Lock)", date_of(j.protected_until)),
                ));
            }
            out.push_str(&t.render());
            out.push_str(&format!(
                "{} snapshots, {}, {} USD/month\n",
                held.len(),
                human_bytes(bytes(&held)),
                usd(monthly(&held))
            ));
            if deleted > 0 {
                out.push_str(&format!("\n{deleted} snapshots deleted already\n"));
            }
        }
        if !self.unreadable.is_empty() {
            out.push_str(&format!(
                "\n{} catalog files unreadable (skipped, see the warnings)\n",
                self.unreadable.len()
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use kit::catalog::{CATALOG_FORMAT, CatalogEntry, ProtectionRecord};
    use kit::record::{ObjectRef, Verdict};

    use super::*;

    fn snapshot(date: &str, good: bool, retain_until: Option<&str>) -> Snapshot {
        let date: kit::Day = date.parse().unwrap();
        Snapshot {
            key: format!("reports/catalog/lake-prod/{date}.json"),
            entry: CatalogEntry {
                format: CATALOG_FORMAT,
                source_bucket: "lake-prod".into(),
                backup_date: date,
                snapshot_bucket: format!("lake-prod-{}", date.dd_mmm_yyyy()),
                job_id: "j".into(),
                verdict: if good {
                    Verdict::Complete
                } else {
                    Verdict::Incomplete
                },
                verification: None,
                good,
                objects: 10,
                bytes: 3 * 1024 * 1024 * 1024,
                large_copies: 0,
                storage_class: "GLACIER_IR".into(),
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

    fn catalog(snapshots: Vec<Snapshot>) -> Catalog {
        Catalog {
            sources: [("lake-prod".to_owned(), snapshots)].into(),
            unreadable: vec![],
        }
    }

    const NOW: &str = "2021-05-20T12:00:00Z";

    fn at() -> Location {
        Location {
            bucket: "lake-reports".into(),
            prefix: "reports".into(),
        }
    }

    #[test]
    fn each_fate_has_its_kept_as() {
        let mut deleted = snapshot("2021-05-15", true, Some("2021-05-30T00:00:00Z"));
        deleted.deleted = true;
        let mut extended = snapshot("2021-05-16", true, Some("2021-05-17T00:00:00Z"));
        extended.protection = Some(ProtectionRecord {
            snapshot_bucket: "lake-prod-16-may-2021".into(),
            retain_until: "2021-05-24T00:00:00Z".into(),
            keep_class: "weekly".into(),
            object_versions: 10,
        });
        let mut foreign = snapshot("2021-05-18", true, Some("2021-05-19T00:00:00Z"));
        foreign.protection = Some(ProtectionRecord {
            snapshot_bucket: "another-bucket".into(),
            retain_until: "2099-01-01T00:00:00Z".into(),
            keep_class: "weekly".into(),
            object_versions: 10,
        });
        let c = catalog(vec![
            snapshot("2021-05-10", true, Some("2021-05-20T00:00:00Z")),
            snapshot("2021-05-11", true, None),
            snapshot("2021-05-12", false, Some("2021-06-01T00:00:00Z")),
            deleted,
            extended,
            snapshot("2021-05-17", true, Some("2021-06-16T00:00:00Z")),
            foreign,
            snapshot("2021-05-19", true, Some("2021-05-21T00:00:00Z")),
        ]);
        let prices = Prices::default();
        let now = keep::parse_rfc3339(NOW).unwrap();
        let policy = KeepPolicy {
            daily: 2,
            weekly: 2,
            monthly: 0,
            yearly: 0,
        };
        let at = at();
        let r = Report::new(&at, &c, Some(policy), now, &prices).unwrap();
        let kept_as: Vec<(String, String)> = r.sources["lake-prod"]
            .iter()
            .map(|j| (j.snapshot.entry.backup_date.to_string(), j.kept_as()))
            .collect();
        let want = [
            ("2021-05-10", "expired"),
            ("2021-05-11", "expired"),
            ("2021-05-12", "expiring 2021-06-01"),
            ("2021-05-15", "deleted"),
            ("2021-05-16", "weekly"),
            ("2021-05-17", "expiring 2021-06-16"),
            ("2021-05-18", "daily"),
            ("2021-05-19", "daily,weekly"),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect();
        assert_eq!(kept_as, want);
        let judged = &r.sources["lake-prod"];
        // Weekly 2 keeps 2021-05-16 through Sunday 2021-05-23: the record's lock reaches the
        // next midnight, so nothing to extend; the foreign record does not count.
        assert!(matches!(
            judged[4].fate,
            Fate::Kept {
                extend_to: None,
                ..
            }
        ));
        assert_eq!(
            judged[6].protected_until,
            keep::parse_rfc3339("2021-05-19T00:00:00Z")
        );
        assert!(matches!(
            &judged[6].fate,
            Fate::Kept { extend_to: Some(d), .. } if d.to_string() == "2021-05-19"
        ));
        // Without a policy nothing is decided, but a deleted snapshot is still deleted.
        let r = Report::new(&at, &c, None, now, &prices).unwrap();
        let kept_as: Vec<String> = r.sources["lake-prod"].iter().map(|j| j.kept_as()).collect();
        assert_eq!(kept_as, ["-", "-", "-", "deleted", "-", "-", "-", "-"]);
        let t = r.totals();
        assert_eq!(
            (t["snapshots"].as_u64(), t["deleted"].as_u64()),
            (Some(8), Some(1))
        );
        assert_eq!(t["bytes"], 7 * 3 * 1024 * 1024 * 1024_u64);
        assert!((t["monthly_cost_usd"].as_f64().unwrap() - 21.0 * 0.004).abs() < 1e-12);
    }

    #[test]
    fn texts_read_like_restic() {
        let c = catalog(vec![
            snapshot("2021-05-18", true, Some("2021-05-19T00:00:00Z")),
            snapshot("2021-05-19", true, Some("2021-06-18T00:00:00Z")),
        ]);
        let prices = Prices::default();
        let now = keep::parse_rfc3339(NOW).unwrap();
        let at = at();
        let r = Report::new(&at, &c, None, now, &prices).unwrap();
        let text = r.snapshots_text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "date        source     bucket                 verdict   objects     size  tables  protected until  kept as"
        );
        assert_eq!(
            lines[3],
            "2021-05-19  lake-prod  lake-prod-19-may-2021  complete       10  3.0 GiB       -  2021-06-18       -"
        );
        assert_eq!(
            lines[5],
            "2 snapshots, 20 objects, 6.0 GiB; estimated storage 0.0240 USD/month at list prices"
        );
        let policy = KeepPolicy {
            daily: 1,
            ..KeepPolicy::default()
        };
        let r = Report::new(&at, &c, Some(policy), now, &prices).unwrap();
        let text = r.forget_text();
        assert!(text.starts_with(
            "Applying policy: keep 1 daily snapshots (as of 2021-05-20T12:00:00Z)\n\nsnapshots of lake-prod (s3://lake-reports/reports/catalog/lake-prod/):\nkeep 1 snapshots:\n"
        ), "{text}");
        assert!(text.contains("remove 1 snapshots:\nexpiring now (lock lapsed): lifecycle expiration will be put on the bucket\n"), "{text}");
        assert!(
            text.contains("lapsed 2021-05-19  not kept by the policy"),
            "{text}"
        );
        assert!(
            text.contains("held by Object Lock: removed once the lock lapses\n0 snapshots, 0 B, 0.00 USD/month\n"),
            "{text}"
        );
        assert!(text.ends_with("dry run: nothing was changed\n"));
        assert_eq!(usd(-0.0), "0.00");
        assert_eq!(usd(12.345), "12.35");
    }
}
