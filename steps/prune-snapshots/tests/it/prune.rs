//! A year of daily snapshots of one source pruned with keep 7 daily, 4 weekly, 12 monthly; the
//! dry run, the second run, the budget and the cursor, a bad entry, the binary.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_sdk_s3::Client;
use kit::Day;
use kit::catalog::{CatalogFile, DeletionRecord, ProtectionRecord};
use kit::retention::{self, Candidate, KeepClass, KeepPolicy};
use prune_snapshots::plan::{Secs, rfc3339, start_of};
use prune_snapshots::{Input, Output, PruneSnapshots, Settings, Status};
use serde_json::{Value, json};

use crate::{
    Kind, PREFIX, bucket_of, day_of, put_entry, real_now, report_bucket, report_state, rule_ids,
    snapshot_bucket,
};

const SOURCE: &str = "lake-prod";
const OBJECT: &str = "tables/events/part-0.parquet";

fn policy() -> KeepPolicy {
    KeepPolicy {
        daily: 7,
        weekly: 4,
        monthly: 12,
        yearly: 0,
    }
}

fn event(reports: &str, extra: Value) -> Input {
    let mut ev = json!({"report": {"bucket": reports, "prefix": PREFIX},
                        "keep": {"keep_daily": 7, "keep_weekly": 4, "keep_monthly": 12}});
    if let (Some(ev), Some(extra)) = (ev.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            ev.insert(k.clone(), v.clone());
        }
    }
    serde_json::from_value(ev).unwrap()
}

fn step(s3: &Client, budget_secs: u64) -> PruneSnapshots {
    PruneSnapshots::new(
        s3.clone(),
        Settings {
            budget: Duration::from_secs(budget_secs),
        },
    )
}

/// One source's history: dates oldest first, which are good, what each bucket is.
struct History {
    dates: Vec<Day>,
    bad: BTreeSet<Day>,
    kinds: BTreeMap<Day, Kind>,
    /// The entry's retain_until when it differs from the object's own date (a held snapshot).
    claimed: BTreeMap<Day, Secs>,
    /// The object's own retain-until date, for locked buckets.
    locks: BTreeMap<Day, Secs>,
}

impl History {
    fn decisions(&self) -> Vec<retention::Decision> {
        let c: Vec<Candidate> = self
            .dates
            .iter()
            .map(|d| Candidate {
                date: *d,
                good: !self.bad.contains(d),
            })
            .collect();
        retention::decide(&policy(), &c).unwrap()
    }

    fn kept(&self) -> BTreeSet<Day> {
        self.decisions()
            .into_iter()
            .filter(|d| d.is_kept())
            .map(|d| d.date)
            .collect()
    }

    async fn create(&mut self, s3: &Client, reports: &str, source: &str) {
        for d in self.dates.clone() {
            let kind = self.kinds.get(&d).copied().unwrap_or(Kind::Empty);
            let lock = snapshot_bucket(s3, &bucket_of(source, d), kind).await;
            if let Some(l) = lock {
                self.locks.insert(d, l);
            }
            let entry_lock = match kind {
                Kind::Locked => Some(self.claimed.get(&d).copied().or(lock)),
                _ => None,
            };
            put_entry(s3, reports, source, d, !self.bad.contains(&d), entry_lock).await;
        }
    }
}

/// `n` days ending on `last`.
fn days(last: Day, n: i64) -> Vec<Day> {
    (0..n).rev().map(|i| last.plus_days(-i).unwrap()).collect()
}

async fn retain_until(s3: &Client, bucket: &str) -> Option<Secs> {
    s3.head_object()
        .bucket(bucket)
        .key(OBJECT)
        .send()
        .await
        .expect("the object is still there")
        .object_lock_retain_until_date()
        .map(|d| d.secs())
}

/// Everything prune could change: buckets, their lifecycle rules, the report bucket's objects,
/// the locked objects' retention.
async fn state(s3: &Client, reports: &str, h: &History) -> Vec<String> {
    let mut out = harness::bucket_names(s3).await;
    for d in &h.dates {
        let b = bucket_of(SOURCE, *d);
        out.push(format!("{b} rules {:?}", rule_ids(s3, &b).await));
        if h.locks.contains_key(d) {
            out.push(format!("{b} lock {:?}", retain_until(s3, &b).await));
        }
    }
    for (k, e) in report_state(s3, reports).await {
        out.push(format!("{k} {e}"));
    }
    out
}

async fn record<T: serde::de::DeserializeOwned>(
    s3: &Client,
    reports: &str,
    date: Day,
    file: CatalogFile,
) -> Option<T> {
    let key = kit::catalog::key(PREFIX, SOURCE, date, file);
    let got = s3
        .get_object()
        .bucket(reports)
        .key(&key)
        .send()
        .await
        .ok()?;
    let bytes = got.body.collect().await.unwrap().into_bytes();
    Some(serde_json::from_slice(&bytes).unwrap())
}

fn statuses(outs: &[&Output]) -> BTreeMap<Day, Status> {
    outs.iter()
        .flat_map(|o| o.plan.iter().map(|p| (p.date, p.status)))
        .collect()
}

#[tokio::test]
async fn a_year_of_snapshots_is_pruned_safely() {
    let moto = harness::Moto::start();
    let s3 = moto.s3();
    let reports = report_bucket(&s3).await;
    // S3's locks run on the real clock; prune's `now` is three days later, so a 1-day lock
    // has lapsed by then.
    let now = real_now() + 3 * 86_400;
    let today = day_of(now);
    // As on AWS: the newest snapshot is of two days ago (the inventory is delivered two days
    // after the backup date).
    let dates = days(today.plus_days(-2).unwrap(), 365);
    let bad: BTreeSet<Day> = dates
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 10 == 3)
        .map(|(_, d)| *d)
        .chain([today.plus_days(-4).unwrap()])
        .collect();
    let mut h = History {
        dates: dates.clone(),
        bad,
        kinds: BTreeMap::new(),
        claimed: BTreeMap::new(),
        locks: BTreeMap::new(),
    };
    let decisions = h.decisions();
    let kept = h.kept();
    let by_date: BTreeMap<Day, &retention::Decision> =
        decisions.iter().map(|d| (d.date, d)).collect();
    // The newest: kept by every rule, but settled only as its day's keeper (its week, month and
    // year may still get a newer one), locked for a day: extended to the end of its 7 days (or
    // of its week's 4 when its week is over), never to its month's or year's.
    let k_daily = *dates.last().unwrap();
    // Kept by the monthly rule alone, locked for a day: extended to the end of its 12 months.
    let k_monthly = *dates
        .iter()
        .find(|d| by_date[d].kept_by == [KeepClass::Monthly])
        .unwrap();
    let not_kept: Vec<Day> = dates
        .iter()
        .copied()
        .filter(|d| !kept.contains(d) && !h.bad.contains(d))
        .collect();
    // Not kept, its entry claims a lock for 10 more days: held.
    let held = *not_kept.last().unwrap();
    // Not kept, locked but lapsed (by `now`), one object: expiring, never deleted.
    let e_locked = not_kept[10];
    // Not kept, not locked, one object: expiring, left in place.
    let e_unlocked = not_kept[20];
    h.kinds.insert(k_daily, Kind::Locked);
    h.kinds.insert(k_monthly, Kind::Locked);
    h.kinds.insert(held, Kind::Locked);
    h.kinds.insert(e_locked, Kind::Locked);
    h.kinds.insert(e_unlocked, Kind::Unlocked);
    h.claimed.insert(held, now + 10 * 86_400);
    h.create(&s3, &reports, SOURCE).await;

    // The dry run: the whole plan (two legs: at most 200 lines an answer), nothing written.
    let before = state(&s3, &reports, &h).await;
    let step = step(&s3, 600);
    let dry1 = step
        .prune(event(&reports, json!({"dry_run": true})), now)
        .await
        .unwrap();
    assert!(dry1.done);
    assert_eq!((dry1.plan.len(), dry1.plan_not_listed), (200, 165));
    let dry2 = step
        .prune(
            event(
                &reports,
                json!({"dry_run": true, "cursor": {"source": SOURCE, "after": dates[199]}}),
            ),
            now,
        )
        .await
        .unwrap();
    assert_eq!(dry2.plan.len(), 165);
    assert_eq!(
        state(&s3, &reports, &h).await,
        before,
        "a dry run writes nothing"
    );
    let planned = statuses(&[&dry1, &dry2]);
    assert_eq!(planned.len(), 365);
    let planned_kept: BTreeSet<Day> = planned
        .iter()
        .filter(|(_, s)| **s == Status::Kept)
        .map(|(d, _)| *d)
        .collect();
    assert_eq!(
        planned_kept, kept,
        "the plan keeps what kit::retention::decide keeps"
    );
    assert_eq!(planned[&held], Status::Held);
    assert_eq!(planned[&e_locked], Status::Expiring);
    assert_eq!(planned[&e_unlocked], Status::Expiring);
    let expiring_empty = 365 - kept.len() - 3;
    // The first leg saw every snapshot (its plan lists 200): its counts are the whole run's.
    assert_eq!(
        (
            dry1.snapshots,
            dry1.kept,
            dry1.held,
            dry1.expiring,
            dry1.deleted
        ),
        (365, kept.len() as u64, 1, 2, expiring_empty as u64)
    );
    assert_eq!(dry1.lifecycle_put, 365 - kept.len() as u64 - 1);
    assert_eq!((dry1.extended, dry1.object_versions_extended), (2, 0));
    for p in dry1.plan.iter().chain(&dry2.plan) {
        if p.status == Status::Kept {
            assert_eq!(p.kept_by, by_date[&p.date].kept_by, "{}", p.date);
        } else {
            assert!(p.kept_by.is_empty());
        }
    }
    let held_line = dry2.plan.iter().find(|p| p.date == held).unwrap();
    assert!(
        held_line.reason.starts_with(&format!(
            "held until {} (Object Lock)",
            rfc3339(now + 10 * 86_400)
        )),
        "{}",
        held_line.reason
    );

    // The real run.
    let out = step.prune(event(&reports, json!({})), now).await.unwrap();
    assert!(out.done && out.cursor.is_none());
    assert_eq!(
        (
            out.sources,
            out.snapshots,
            out.kept,
            out.held,
            out.expiring,
            out.deleted
        ),
        (1, 365, kept.len() as u64, 1, 2, expiring_empty as u64)
    );
    assert_eq!(out.lifecycle_put, 365 - kept.len() as u64 - 1);
    assert_eq!((out.extended, out.object_versions_extended), (2, 2));
    let names: BTreeSet<String> = harness::bucket_names(&s3).await.into_iter().collect();
    for d in &dates {
        let b = bucket_of(SOURCE, *d);
        let rules = rule_ids(&s3, &b).await;
        let deleted: Option<DeletionRecord> = record(&s3, &reports, *d, CatalogFile::Deleted).await;
        if kept.contains(d) || *d == held {
            assert_eq!(
                rules,
                Some(vec!["lakevault-abort-incomplete-uploads".to_owned()]),
                "{d}: kept and held buckets are not changed"
            );
            assert!(deleted.is_none());
        } else if [e_locked, e_unlocked].contains(d) {
            assert!(names.contains(&b), "{d}: a bucket with an object stays");
            assert_eq!(
                rules,
                Some(vec![
                    "lakevault-abort-incomplete-uploads".to_owned(),
                    "lakevault-expire-delete-markers".to_owned(),
                    "lakevault-expire-versions".to_owned(),
                ]),
                "{d}: the expiry rules beside the abort rule"
            );
            assert!(deleted.is_none());
        } else {
            assert!(
                !names.contains(&b),
                "{d}: an empty expired bucket is deleted"
            );
            let r = deleted.expect("a deletion record");
            assert_eq!(r.snapshot_bucket, b);
        }
    }
    // The locked expiring object is still there, its lock untouched.
    assert_eq!(
        retain_until(&s3, &bucket_of(SOURCE, e_locked)).await,
        Some(h.locks[&e_locked])
    );
    assert_eq!(
        retain_until(&s3, &bucket_of(SOURCE, held)).await,
        Some(h.locks[&held])
    );
    // The kept ones' locks reach the day after their longest class lets them go.
    for (d, class) in [(k_daily, KeepClass::Daily), (k_monthly, KeepClass::Monthly)] {
        let (settled, last) =
            retention::protection_needed(&policy(), d, &by_date[&d].kept_by, today).unwrap();
        if d == k_daily {
            assert!(
                matches!(settled, KeepClass::Daily | KeepClass::Weekly),
                "{settled:?}"
            );
            assert!(last <= d.plus_days(35).unwrap(), "{last}");
        }
        let target = start_of(last) + 86_400;
        assert!(target > h.locks[&d]);
        assert_eq!(
            retain_until(&s3, &bucket_of(SOURCE, d)).await,
            Some(target),
            "{d}"
        );
        let p: ProtectionRecord = record(&s3, &reports, d, CatalogFile::Protection)
            .await
            .expect("a protection record");
        assert_eq!(p.retain_until, rfc3339(target));
        assert_eq!(p.object_versions, 1);
        if d == k_monthly {
            assert_eq!(p.keep_class, class.as_str());
        }
    }

    // A second run changes nothing.
    let after_first = state(&s3, &reports, &h).await;
    let again = step.prune(event(&reports, json!({})), now).await.unwrap();
    assert_eq!(state(&s3, &reports, &h).await, after_first);
    assert_eq!(
        (
            again.lifecycle_put,
            again.deleted,
            again.extended,
            again.object_versions_extended
        ),
        (0, 0, 0, 0)
    );
    assert_eq!(again.snapshots, 365 - expiring_empty as u64);
    assert_eq!((again.kept, again.held, again.expiring), (out.kept, 1, 2));
}

/// A short history: `n` days, all good, empty unlocked buckets.
async fn short_history(s3: &Client, reports: &str, source: &str, today: Day, n: i64) -> Vec<Day> {
    let dates = days(today, n);
    for d in &dates {
        snapshot_bucket(s3, &bucket_of(source, *d), Kind::Empty).await;
        put_entry(s3, reports, source, *d, true, None).await;
    }
    dates
}

#[tokio::test]
async fn the_budget_stops_with_a_cursor_and_the_next_call_goes_on() {
    let moto = harness::Moto::start();
    let s3 = moto.s3();
    let reports = report_bucket(&s3).await;
    let now = real_now();
    let today = day_of(now);
    let a = short_history(&s3, &reports, "lake-a", today, 12).await;
    short_history(&s3, &reports, "lake-b", today, 3).await;
    let ev = |cursor: Value| {
        event(
            &reports,
            json!({"keep": {"keep_daily": 3}, "cursor": cursor}),
        )
    };
    // Budget 0: one snapshot per call.
    let first = step(&s3, 0).prune(ev(Value::Null), now).await.unwrap();
    assert!(!first.done);
    assert_eq!(first.snapshots, 1);
    assert_eq!(first.plan[0].date, a[0]);
    assert_eq!(
        serde_json::to_value(&first.cursor).unwrap(),
        json!({"source": "lake-a", "after": a[0]})
    );
    let second = step(&s3, 0)
        .prune(ev(serde_json::to_value(&first.cursor).unwrap()), now)
        .await
        .unwrap();
    assert_eq!((second.done, second.snapshots), (false, 1));
    assert_eq!(second.plan[0].date, a[1]);
    // The rest with the default budget.
    let rest = step(&s3, 600)
        .prune(ev(serde_json::to_value(&second.cursor).unwrap()), now)
        .await
        .unwrap();
    assert!(rest.done && rest.cursor.is_none());
    assert_eq!(rest.snapshots, 10 + 3);
    assert_eq!(
        first.deleted + second.deleted + rest.deleted,
        9,
        "12 − 3 kept of lake-a; lake-b keeps its 3"
    );
    let names = harness::bucket_names(&s3).await;
    assert_eq!(names.iter().filter(|n| n.starts_with("lake-a-")).count(), 3);
    assert_eq!(names.iter().filter(|n| n.starts_with("lake-b-")).count(), 3);
    // Done: a new run from the start changes nothing.
    let again = step(&s3, 600).prune(ev(Value::Null), now).await.unwrap();
    assert_eq!((again.deleted, again.lifecycle_put), (0, 0));
    assert_eq!(again.snapshots, 6);
}

#[tokio::test]
async fn a_bad_entry_leaves_its_source_alone_and_fails_the_run() {
    let moto = harness::Moto::start();
    let s3 = moto.s3();
    let reports = report_bucket(&s3).await;
    let now = real_now();
    let today = day_of(now);
    let good = short_history(&s3, &reports, "lake-a", today, 5).await;
    let bad = short_history(&s3, &reports, "lake-b", today, 5).await;
    // An entry naming another date's bucket.
    let key = kit::catalog::key(PREFIX, "lake-b", bad[0], CatalogFile::Entry);
    let body = harness::get_object(&s3, &reports, &key).await;
    let text = String::from_utf8(body)
        .unwrap()
        .replace(&bad[0].dd_mmm_yyyy(), &bad[1].dd_mmm_yyyy());
    harness::put_object(&s3, &reports, &key, text).await;

    let err = kit::entry::invoke(
        &step(&s3, 600),
        serde_json::to_value(json!({
        "report": {"bucket": reports, "prefix": PREFIX}, "keep": {"keep_daily": 2}}))
        .unwrap(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type, "CatalogInvalid");
    assert!(err.error_message.contains(&key), "{}", err.error_message);
    assert!(
        err.error_message.contains("lake-b"),
        "{}",
        err.error_message
    );
    let names = harness::bucket_names(&s3).await;
    // lake-a pruned (3 of 5 deleted), lake-b untouched.
    assert_eq!(names.iter().filter(|n| n.starts_with("lake-a-")).count(), 2);
    for d in &bad {
        assert_eq!(
            rule_ids(&s3, &bucket_of("lake-b", *d)).await,
            Some(vec!["lakevault-abort-incomplete-uploads".to_owned()])
        );
    }
    assert!(
        good.iter()
            .all(|d| names.contains(&bucket_of("lake-a", *d)) == (*d >= good[3]))
    );
}

#[tokio::test]
async fn a_snapshot_kept_again_loses_the_expiry_rules() {
    let moto = harness::Moto::start();
    let s3 = moto.s3();
    let reports = report_bucket(&s3).await;
    let now = real_now();
    let dates = days(day_of(now), 3);
    for d in &dates {
        snapshot_bucket(&s3, &bucket_of(SOURCE, *d), Kind::Unlocked).await;
        put_entry(&s3, &reports, SOURCE, *d, true, None).await;
    }
    let run = |daily: u32| {
        event(
            &reports,
            json!({"keep": {"keep_daily": daily}, "sources": [SOURCE]}),
        )
    };
    let narrow = step(&s3, 600).prune(run(1), now).await.unwrap();
    assert_eq!(
        (
            narrow.kept,
            narrow.expiring,
            narrow.lifecycle_put,
            narrow.deleted
        ),
        (1, 2, 2, 0)
    );
    assert_eq!(
        rule_ids(&s3, &bucket_of(SOURCE, dates[0]))
            .await
            .unwrap()
            .len(),
        3
    );
    // A wider policy keeps them again: the expiry rules go, the abort rule stays.
    let wide = step(&s3, 600).prune(run(3), now).await.unwrap();
    assert_eq!((wide.kept, wide.lifecycle_put), (3, 2));
    for d in &dates {
        assert_eq!(
            rule_ids(&s3, &bucket_of(SOURCE, *d)).await,
            Some(vec!["lakevault-abort-incomplete-uploads".to_owned()])
        );
    }
    assert!(
        wide.plan[0].reason.contains("expiry rules taken away"),
        "{}",
        wide.plan[0].reason
    );
    let again = step(&s3, 600).prune(run(3), now).await.unwrap();
    assert_eq!(again.lifecycle_put, 0);
}

#[tokio::test]
async fn the_binary() {
    let bin = env!("CARGO_BIN_EXE_prune-snapshots");
    let out = std::process::Command::new(bin)
        .arg("--error-types")
        .output()
        .unwrap();
    let types = String::from_utf8(out.stdout).unwrap();
    for t in [
        "InvalidInput",
        "CatalogInvalid",
        "Transient",
        "AccessDenied",
        "ServiceError",
    ] {
        assert!(types.contains(t), "{types}");
    }
    let moto = harness::Moto::start();
    let s3 = moto.s3();
    let reports = report_bucket(&s3).await;
    let today = day_of(real_now());
    short_history(&s3, &reports, "lake-a", today, 3).await;
    let ev = json!({"report": {"bucket": reports, "prefix": PREFIX}, "keep": {}});
    let (code, v) = harness::run_step_binary(bin, &moto.env(), ev.to_string()).await;
    assert_eq!(code, Some(1));
    assert_eq!(v["errorType"], "InvalidInput");
    assert!(
        v["errorMessage"]
            .as_str()
            .unwrap()
            .contains("keeps nothing"),
        "{v}"
    );
    let ev = json!({"report": {"bucket": reports, "prefix": PREFIX}, "keep": {"keep_daily": 1}});
    let (code, v) = harness::run_step_binary(bin, &moto.env(), ev.to_string()).await;
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(
        (v["done"].clone(), v["deleted"].clone()),
        (json!(true), json!(2))
    );
    assert_eq!(v["plan"][2]["status"], "kept");
}
