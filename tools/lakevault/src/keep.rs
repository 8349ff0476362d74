//! What the keep policy (`kit::retention`) makes of a source's catalog, as of a moment: per
//! snapshot kept (by which rules, until when, whether its lock must be extended), held by its
//! Object Lock, expiring now, or deleted already. Pure: `snapshots` and `forget` print it.

use std::collections::BTreeMap;
use std::path::Path;

use kit::retention::{self, Candidate, KeepClass, KeepPolicy, RetentionError};
use kit::{Day, InvalidInput};
use serde::Deserialize;
use serde_json::Value;

use crate::catalog::Snapshot;

pub use kit::unix_time::{Secs, day_of, parse_rfc3339, rfc3339, start_of};

/// The keep counts given by flags or by a settings file, each `None` when not given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct PolicyFields {
    /// `keep_daily`.
    pub keep_daily: Option<u32>,
    /// `keep_weekly`.
    pub keep_weekly: Option<u32>,
    /// `keep_monthly`.
    pub keep_monthly: Option<u32>,
    /// `keep_yearly`.
    pub keep_yearly: Option<u32>,
}

impl PolicyFields {
    fn any(&self) -> bool {
        self.keep_daily.is_some()
            || self.keep_weekly.is_some()
            || self.keep_monthly.is_some()
            || self.keep_yearly.is_some()
    }

    /// `self`'s counts, each replaced by `over`'s when `over` gives it.
    pub fn overridden_by(self, over: PolicyFields) -> PolicyFields {
        PolicyFields {
            keep_daily: over.keep_daily.or(self.keep_daily),
            keep_weekly: over.keep_weekly.or(self.keep_weekly),
            keep_monthly: over.keep_monthly.or(self.keep_monthly),
            keep_yearly: over.keep_yearly.or(self.keep_yearly),
        }
    }

    /// The policy, when any count is given (a rule not given is off); checked by
    /// `KeepPolicy::validate`.
    pub fn policy(&self) -> Result<Option<KeepPolicy>, InvalidInput> {
        if !self.any() {
            return Ok(None);
        }
        let p = KeepPolicy {
            daily: self.keep_daily.unwrap_or(0),
            weekly: self.keep_weekly.unwrap_or(0),
            monthly: self.keep_monthly.unwrap_or(0),
            yearly: self.keep_yearly.unwrap_or(0),
        };
        p.validate().map_err(policy_error)?;
        Ok(Some(p))
    }
}

/// A policy that `kit::retention` refuses, as the flag's `InvalidInput`.
pub fn policy_error(e: RetentionError) -> InvalidInput {
    let path = match &e {
        RetentionError::TooLarge { class, .. } => format!("--keep-{class}"),
        _ => "--keep-*".to_owned(),
    };
    InvalidInput::new(path, e.to_string())
}

/// What a settings file says for the catalog commands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogSettings {
    /// `report.bucket`.
    pub report_bucket: Option<String>,
    /// `report.prefix`.
    pub report_prefix: Option<String>,
    /// The keep counts: from `keep`, else from `retention`, else from the object itself.
    pub policy: PolicyFields,
}

impl CatalogSettings {
    /// Reads `path`: a run input's `settings` object or the object itself. Its `report` gives
    /// the report bucket and prefix; `keep_daily`… are read from its `keep` object, else from
    /// its `retention` object (beside the Object Lock `mode` and `days`), else from the object
    /// itself. Other fields are not this command's and are ignored.
    pub fn read(path: &Path) -> Result<CatalogSettings, InvalidInput> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            InvalidInput::new("--settings", format!("cannot read {}: {e}", path.display()))
        })?;
        let doc: Value = serde_json::from_str(&text).map_err(|e| {
            InvalidInput::new("--settings", format!("{} is not JSON: {e}", path.display()))
        })?;
        Self::from_json(&doc).map_err(|(at, why)| {
            InvalidInput::new("--settings", format!("{} at {at}: {why}", path.display()))
        })
    }

    /// [`CatalogSettings::read`] of a parsed document; the error is a JSON path and a message.
    pub fn from_json(doc: &Value) -> Result<CatalogSettings, (String, String)> {
        let (doc, base) = match doc.get("settings") {
            Some(s) if s.is_object() => (s, "$.settings"),
            _ => (doc, "$"),
        };
        if !doc.is_object() {
            return Err((base.to_owned(), "must be a JSON object".to_owned()));
        }
        let mut out = CatalogSettings::default();
        if let Some(r) = doc.get("report").filter(|r| !r.is_null()) {
            let text = |field: &str| -> Result<Option<String>, (String, String)> {
                match r.get(field) {
                    None | Some(Value::Null) => Ok(None),
                    Some(Value::String(s)) => Ok(Some(s.clone())),
                    Some(_) => Err((
                        format!("{base}.report.{field}"),
                        "must be a string".to_owned(),
                    )),
                }
            };
            out.report_bucket = text("bucket")?;
            out.report_prefix = text("prefix")?;
        }
        let has_counts = |v: &Value| {
            ["keep_daily", "keep_weekly", "keep_monthly", "keep_yearly"]
                .iter()
                .any(|k| v.get(k).is_some())
        };
        for (field, v) in [
            ("keep", doc.get("keep")),
            ("retention", doc.get("retention")),
            ("", Some(doc)),
        ] {
            let Some(v) = v.filter(|v| v.is_object() && has_counts(v)) else {
                continue;
            };
            let at = if field.is_empty() {
                base.to_owned()
            } else {
                format!("{base}.{field}")
            };
            out.policy = serde_path_to_error::deserialize(v).map_err(|e| {
                let e = InvalidInput::from_serde(e);
                (format!("{at}{}", e.path.trim_start_matches('$')), e.message)
            })?;
            break;
        }
        Ok(out)
    }
}

/// US East (N. Virginia) list prices of S3 storage, USD per GiB-month, as of 2025 (the first
/// 50 TB tier; Intelligent-Tiering at its frequent-access tier). Overridable per class.
pub const LIST_PRICES: &[(&str, f64)] = &[
    ("STANDARD", 0.023),
    ("STANDARD_IA", 0.0125),
    ("ONEZONE_IA", 0.01),
    ("INTELLIGENT_TIERING", 0.023),
    ("GLACIER_IR", 0.004),
    ("GLACIER", 0.0036),
    ("DEEP_ARCHIVE", 0.00099),
];

/// USD per GiB-month, per storage class.
#[derive(Debug, Clone, PartialEq)]
pub struct Prices(pub BTreeMap<String, f64>);

impl Default for Prices {
    fn default() -> Self {
        Prices(
            LIST_PRICES
                .iter()
                .map(|(c, p)| ((*c).to_owned(), *p))
                .collect(),
        )
    }
}

impl Prices {
    /// The list prices with `--price-per-gib-month CLASS=USD` over them.
    pub fn with_overrides(overrides: &[String]) -> Result<Prices, InvalidInput> {
        let mut p = Prices::default();
        for o in overrides {
            let bad = |why: &str| {
                InvalidInput::new(
                    "--price-per-gib-month",
                    format!(
                        "{}: {why}; give CLASS=USD, e.g. GLACIER_IR=0.004",
                        kit::validate::quote(o)
                    ),
                )
            };
            let (class, usd) = o.split_once('=').ok_or_else(|| bad("no ="))?;
            let class = class.trim();
            if class.is_empty()
                || !class
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            {
                return Err(bad("the storage class is not an S3 storage class name"));
            }
            let usd: f64 = usd
                .trim()
                .parse()
                .map_err(|_| bad("the price is not a number"))?;
            if !usd.is_finite() || usd < 0.0 {
                return Err(bad("the price must be a number ≥ 0"));
            }
            p.0.insert(class.to_owned(), usd);
        }
        Ok(p)
    }

    /// The monthly cost of `bytes` in `class`; `None` for a class without a price.
    pub fn monthly(&self, class: &str, bytes: u64) -> Option<f64> {
        self.0
            .get(class)
            .map(|p| bytes as f64 / (1024.0 * 1024.0 * 1024.0) * p)
    }
}

/// What becomes of one snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    /// No policy was given: nothing is decided.
    Undecided,
    /// The policy keeps it.
    Kept {
        /// The rules that keep it.
        kept_by: Vec<KeepClass>,
        /// The settled rule that keeps it longest, and the last day it does
        /// (`kit::retention::protection_needed`: none while its day is not over).
        longest: Option<(KeepClass, Day)>,
        /// Its lock lapses before that day ends: the day the protection must reach.
        extend_to: Option<Day>,
    },
    /// Not kept, but its Object Lock holds it until then.
    Held {
        /// When the lock lapses.
        until: Secs,
    },
    /// Not kept and not locked (any more): S3's lifecycle expiration can remove it now.
    ExpiringNow,
    /// prune-snapshots deleted its bucket already.
    Deleted,
}

/// One snapshot and what the policy makes of it.
#[derive(Debug, Clone)]
pub struct Judged<'a> {
    /// The snapshot.
    pub snapshot: &'a Snapshot,
    /// When its lock lapses: the entry's `retain_until` or a later protection record's.
    pub protected_until: Option<Secs>,
    /// `kit::retention::decide`'s reason (none without a policy, or for a deleted snapshot).
    pub reason: Option<String>,
    /// Its fate.
    pub fate: Fate,
}

impl Judged<'_> {
    /// The "kept as" column: the keep classes, `expiring <date>`, `expired`, `deleted` or `-`.
    pub fn kept_as(&self) -> String {
        match &self.fate {
            Fate::Undecided => "-".to_owned(),
            Fate::Kept { kept_by, .. } => kept_by
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>()
                .join(","),
            Fate::Held { until } => match day_of(*until) {
                Some(d) => format!("expiring {d}"),
                None => "expiring".to_owned(),
            },
            Fate::ExpiringNow => "expired".to_owned(),
            Fate::Deleted => "deleted".to_owned(),
        }
    }

    /// The fate's one-word name in JSON.
    pub fn status(&self) -> &'static str {
        match self.fate {
            Fate::Undecided => "undecided",
            Fate::Kept { .. } => "kept",
            Fate::Held { .. } => "held",
            Fate::ExpiringNow => "expiring_now",
            Fate::Deleted => "deleted",
        }
    }
}

/// When a snapshot's lock lapses: the later of the entry's `retain_until` and its protection
/// record's (prune-snapshots extends, never shortens).
pub fn protected_until(s: &Snapshot) -> Option<Secs> {
    s.protected_until()
}

/// Judges one source's snapshots (oldest first, one per date) as of `now`. Deleted snapshots
/// take no part in the policy: their buckets are gone, so they can keep nothing.
pub fn judge<'a>(
    snapshots: &'a [Snapshot],
    policy: Option<&KeepPolicy>,
    now: Secs,
) -> Result<Vec<Judged<'a>>, InvalidInput> {
    let decisions = match policy {
        None => BTreeMap::new(),
        Some(p) => {
            let candidates: Vec<Candidate> = snapshots
                .iter()
                .filter(|s| !s.deleted)
                .map(|s| Candidate {
                    date: s.entry.backup_date,
                    good: s.entry.good,
                })
                .collect();
            retention::decide(p, &candidates)
                .map_err(policy_error)?
                .into_iter()
                .map(|d| (d.date, d))
                .collect()
        }
    };
    let mut out = Vec::with_capacity(snapshots.len());
    for s in snapshots {
        let until = protected_until(s);
        let decision = decisions.get(&s.entry.backup_date);
        let fate = if s.deleted {
            Fate::Deleted
        } else {
            match (policy, decision) {
                (Some(p), Some(d)) if d.is_kept() => {
                    // As prune-snapshots does: only a settled keeper (its bucket is over) is
                    // protected longer (kit::retention::protection_needed).
                    let today = Day::of_unix_seconds(now).unwrap_or(s.entry.backup_date);
                    let longest =
                        retention::protection_needed(p, s.entry.backup_date, &d.kept_by, today);
                    // Kept through the end of that day: the lock must reach the next midnight.
                    let extend_to = longest.and_then(|(_, last)| {
                        let needed = start_of(last) + 86_400;
                        (until.is_none_or(|u| u < needed)).then_some(last)
                    });
                    Fate::Kept {
                        kept_by: d.kept_by.clone(),
                        longest,
                        extend_to,
                    }
                }
                (Some(_), _) => match until {
                    Some(u) if u > now => Fate::Held { until: u },
                    _ => Fate::ExpiringNow,
                },
                (None, _) => Fate::Undecided,
            }
        };
        out.push(Judged {
            snapshot: s,
            protected_until: until,
            reason: if s.deleted {
                None
            } else {
                decision.map(|d| d.reason.clone())
            },
            fate,
        });
    }
    Ok(out)
}

/// restic's summary of a policy: `keep 7 daily, 4 weekly, 12 monthly snapshots`.
pub fn describe(p: &KeepPolicy) -> String {
    let parts: Vec<String> = KeepClass::ALL
        .iter()
        .filter(|c| p.count(**c) > 0)
        .map(|c| format!("{} {c}", p.count(*c)))
        .collect();
    format!("keep {} snapshots", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_and_days() {
        let t = parse_rfc3339("2021-04-30T01:12:09Z").unwrap();
        assert_eq!(rfc3339(t), "2021-04-30T01:12:09Z");
        assert_eq!(day_of(t).unwrap().to_string(), "2021-04-30");
        assert_eq!(
            parse_rfc3339("2021-04-30T03:12:09+02:00"),
            Some(t),
            "offsets are allowed"
        );
        assert_eq!(parse_rfc3339("2021-04-30"), None);
        let d: Day = "2021-04-30".parse().unwrap();
        assert_eq!(rfc3339(start_of(d)), "2021-04-30T00:00:00Z");
        assert_eq!(day_of(start_of(d) - 1).unwrap().to_string(), "2021-04-29");
    }

    #[test]
    fn settings_files_give_the_report_and_the_policy() {
        let s = CatalogSettings::from_json(&serde_json::json!({"settings": {
            "report": {"bucket": "lake-reports", "prefix": "batch"},
            "retention": {"mode": "GOVERNANCE", "days": 30, "keep_daily": 7, "keep_monthly": 12}}}))
        .unwrap();
        assert_eq!(s.report_bucket.as_deref(), Some("lake-reports"));
        assert_eq!(s.report_prefix.as_deref(), Some("batch"));
        assert_eq!(
            s.policy.policy().unwrap(),
            Some(KeepPolicy {
                daily: 7,
                weekly: 0,
                monthly: 12,
                yearly: 0
            })
        );
        let s = CatalogSettings::from_json(&serde_json::json!({"keep": {"keep_weekly": 4},
            "retention": {"mode": "GOVERNANCE", "days": 30}}))
        .unwrap();
        assert_eq!(s.policy.keep_weekly, Some(4));
        let s = CatalogSettings::from_json(&serde_json::json!({"keep_yearly": 3})).unwrap();
        assert_eq!(s.policy.keep_yearly, Some(3));
        // A lock retention alone is no keep policy.
        let s = CatalogSettings::from_json(
            &serde_json::json!({"retention": {"mode": "GOVERNANCE", "days": 30}}),
        )
        .unwrap();
        assert_eq!(s.policy.policy().unwrap(), None);
        let (at, _) = CatalogSettings::from_json(
            &serde_json::json!({"settings": {"keep": {"keep_daily": -1}}}),
        )
        .unwrap_err();
        assert_eq!(at, "$.settings.keep.keep_daily");
        let (at, _) =
            CatalogSettings::from_json(&serde_json::json!({"report": {"bucket": 3}})).unwrap_err();
        assert_eq!(at, "$.report.bucket");
    }

    #[test]
    fn flags_override_the_file_and_empty_policies_are_refused() {
        let file = PolicyFields {
            keep_daily: Some(7),
            keep_weekly: Some(4),
            ..PolicyFields::default()
        };
        let flags = PolicyFields {
            keep_weekly: Some(0),
            ..PolicyFields::default()
        };
        let p = file.overridden_by(flags).policy().unwrap().unwrap();
        assert_eq!((p.daily, p.weekly), (7, 0));
        let e = PolicyFields {
            keep_daily: Some(0),
            ..PolicyFields::default()
        }
        .policy()
        .unwrap_err();
        assert!(e.message.contains("keeps nothing"), "{e}");
        let e = PolicyFields {
            keep_yearly: Some(20_000),
            ..PolicyFields::default()
        }
        .policy()
        .unwrap_err();
        assert_eq!(e.path, "--keep-yearly");
        assert_eq!(describe(&p), "keep 7 daily snapshots");
    }

    #[test]
    fn prices_are_list_prices_unless_overridden() {
        let p = Prices::default();
        assert_eq!(p.monthly("GLACIER_IR", 1024 * 1024 * 1024 * 10), Some(0.04));
        assert_eq!(p.monthly("REDUCED_REDUNDANCY", 1), None);
        let p = Prices::with_overrides(&["GLACIER_IR=0.005".into(), "EXPRESS_ONEZONE=0.16".into()])
            .unwrap();
        assert_eq!(p.0["GLACIER_IR"], 0.005);
        assert_eq!(p.0["EXPRESS_ONEZONE"], 0.16);
        for bad in ["GLACIER_IR", "glacier=1", "GLACIER=-1", "GLACIER=x", "=1"] {
            let e = Prices::with_overrides(&[bad.into()]).unwrap_err();
            assert_eq!(e.path, "--price-per-gib-month", "{bad}");
        }
    }
}
