//! `forget` without `--dry-run`: the prune state machine (`statemachine/prune.asl.json`, its
//! PruneSnapshots Task looping on prune-snapshots' `done` / `cursor`), started with the policy the
//! plan was printed for, and its summary.

use std::collections::BTreeMap;

use kit::Day;
use kit::retention::KeepPolicy;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::catalog;

/// The counts of prune-snapshots' output that add up over its invocations.
pub const COUNTS: &[&str] = &[
    "snapshots",
    "kept",
    "held",
    "expiring",
    "lifecycle_put",
    "deleted",
    "extended",
    "object_versions_extended",
];

/// One prune, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PruneRequest {
    /// The report bucket and prefix, which hold the catalog.
    pub report: catalog::Location,
    /// The keep policy (the one the plan was printed for).
    pub policy: KeepPolicy,
    /// One source, or every source of the catalog.
    pub source: Option<String>,
}

impl PruneRequest {
    /// The prune machine's input: prune-snapshots' input without the cursor (the machine adds
    /// it).
    pub fn run_input(&self) -> Value {
        json!({
            "report": {"bucket": self.report.bucket, "prefix": self.report.prefix},
            "keep": self.policy,
            "sources": self.source.as_ref().map(|s| vec![s]),
            "dry_run": false,
        })
    }

    /// The execution's name: `forget-<16 hex of sha256 of the input>-<yyyymmdd>`, `-<attempt>`
    /// from the second attempt on. The same prune asked again on the same day (UTC) is the same
    /// execution — followed, not started twice; the next day's is another, as a scheduled prune's
    /// would be.
    pub fn execution_name(&self, today: Day, attempt: u32) -> String {
        let digest = Sha256::digest(self.run_input().to_string().as_bytes());
        let hash = hex::encode(&digest[..8]);
        let date = today.to_string().replace('-', "");
        if attempt <= 1 {
            format!("forget-{hash}-{date}")
        } else {
            format!("forget-{hash}-{date}-{attempt}")
        }
    }

    /// True when a prune-snapshots invocation's event is this prune's (the local runner's log
    /// holds every run's invocations).
    pub fn is_this(&self, payload: &Value) -> bool {
        let input = self.run_input();
        ["report", "keep", "sources"]
            .iter()
            .all(|k| payload.get(*k).unwrap_or(&Value::Null) == &input[*k])
            && payload["dry_run"] != true
    }
}

/// True when `v` is prune-snapshots' output (recognised by its fields, as progress recognises
/// the restore's Task results).
pub fn is_output(v: &Value) -> bool {
    v.get("lifecycle_put").is_some() && v.get("plan_not_listed").is_some()
}

/// The counts over every invocation seen (keyed by history event id or log number, so that one
/// seen twice counts once); the execution's output (the last invocation's) when none was seen.
pub fn totals(calls: &BTreeMap<u64, Value>, output: &Value) -> Value {
    let outputs: Vec<&Value> = if calls.is_empty() {
        vec![output]
    } else {
        calls.values().collect()
    };
    let mut t = serde_json::Map::new();
    for k in COUNTS {
        let n: u64 = outputs.iter().filter_map(|o| o[*k].as_u64()).sum();
        t.insert((*k).to_owned(), json!(n));
    }
    // A source the budget split over two invocations is counted by both: the most one saw.
    let sources = outputs
        .iter()
        .filter_map(|o| o["sources"].as_u64())
        .max()
        .unwrap_or(0);
    t.insert("sources".to_owned(), json!(sources));
    t.insert("invocations".to_owned(), json!(outputs.len()));
    Value::Object(t)
}

/// The summary printed once the prune has succeeded.
pub fn summary_text(totals: &Value, execution: &str) -> String {
    let n = |k: &str| totals[k].as_u64().unwrap_or(0);
    let mut out = String::new();
    let line = |out: &mut String, label: &str, text: String| {
        out.push_str(&format!("{label:<15}{text}\n"));
    };
    line(
        &mut out,
        "pruned",
        format!(
            "{} snapshots of {} sources judged ({} invocations of prune-snapshots)",
            n("snapshots"),
            n("sources"),
            n("invocations")
        ),
    );
    line(
        &mut out,
        "kept",
        format!(
            "{} ({} with their protection extended: {} object versions)",
            n("kept"),
            n("extended"),
            n("object_versions_extended")
        ),
    );
    line(
        &mut out,
        "held",
        format!("{} (their Object Lock still runs: untouched)", n("held")),
    );
    line(
        &mut out,
        "expiring",
        format!(
            "{} (S3's lifecycle expiration empties them; a later run deletes the buckets)",
            n("expiring")
        ),
    );
    line(
        &mut out,
        "lifecycle put",
        format!(
            "{} buckets' lifecycle configurations written",
            n("lifecycle_put")
        ),
    );
    line(
        &mut out,
        "deleted",
        format!("{} empty buckets (.deleted.json recorded)", n("deleted")),
    );
    line(&mut out, "execution", execution.to_owned());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(source: Option<&str>) -> PruneRequest {
        PruneRequest {
            report: catalog::Location {
                bucket: "lake-reports".into(),
                prefix: "reports".into(),
            },
            policy: KeepPolicy {
                daily: 7,
                weekly: 4,
                ..KeepPolicy::default()
            },
            source: source.map(str::to_owned),
        }
    }

    #[test]
    fn the_input_is_the_machines_and_the_name_is_per_day() {
        assert_eq!(
            req(Some("lake-prod")).run_input(),
            json!({"report": {"bucket": "lake-reports", "prefix": "reports"},
                   "keep": {"keep_daily": 7, "keep_weekly": 4, "keep_monthly": 0, "keep_yearly": 0},
                   "sources": ["lake-prod"], "dry_run": false})
        );
        assert_eq!(req(None).run_input()["sources"], Value::Null);
        let day: Day = "2022-01-01".parse().unwrap();
        let name = req(None).execution_name(day, 1);
        assert!(
            name.starts_with("forget-") && name.ends_with("-20220101"),
            "{name}"
        );
        assert_eq!(name.len(), "forget-".len() + 16 + 9);
        assert_eq!(req(None).execution_name(day, 2), format!("{name}-2"));
        assert_ne!(req(Some("lake-prod")).execution_name(day, 1), name);
        assert_ne!(req(None).execution_name(day.plus_days(1).unwrap(), 1), name);
        let mut payload = req(None).run_input();
        payload["cursor"] = Value::Null;
        assert!(req(None).is_this(&payload));
        assert!(!req(Some("lake-prod")).is_this(&payload));
        payload["dry_run"] = json!(true);
        assert!(!req(None).is_this(&payload));
    }

    #[test]
    fn totals_add_up_the_invocations() {
        let call = |snapshots: u64, deleted: u64, done: bool| {
            json!({"done": done, "cursor": null, "sources": 1, "snapshots": snapshots, "kept": 1,
                   "held": 0, "expiring": 0, "lifecycle_put": deleted, "deleted": deleted,
                   "extended": 0, "object_versions_extended": 0, "plan": [], "plan_not_listed": 0})
        };
        assert!(is_output(&call(1, 0, true)));
        let calls: BTreeMap<u64, Value> = [(3, call(10, 9, false)), (7, call(5, 4, true))].into();
        let t = totals(&calls, &call(5, 4, true));
        assert_eq!(
            (
                t["snapshots"].clone(),
                t["deleted"].clone(),
                t["kept"].clone()
            ),
            (json!(15), json!(13), json!(2))
        );
        assert_eq!(
            (t["sources"].clone(), t["invocations"].clone()),
            (json!(1), json!(2))
        );
        let only = totals(&BTreeMap::new(), &call(5, 4, true));
        assert_eq!(only["snapshots"], 5);
        let text = summary_text(&t, "local forget-x");
        assert!(
            text.starts_with("pruned         15 snapshots of 1 sources judged"),
            "{text}"
        );
        assert!(text.contains("\ndeleted        13 empty buckets"), "{text}");
        assert!(text.ends_with("execution      local forget-x\n"), "{text}");
    }
}
