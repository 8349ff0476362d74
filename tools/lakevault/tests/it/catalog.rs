//! `lakevault snapshots` and `lakevault forget --dry-run` over a year of catalog entries in a
//! moto report bucket (entries built with kit's catalog types, as catalog-snapshot writes them).

use std::collections::BTreeSet;

use harness::Moto;
use kit::Day;
use kit::catalog::{
    self, CATALOG_FORMAT, CatalogEntry, CatalogFile, CatalogVerification, DeletionRecord,
    ProtectionRecord,
};
use kit::record::{ObjectRef, Verdict};
use kit::retention::{self, Candidate, KeepPolicy};
use kit::verification::{SnapshotVerdict, TableCounts};
use serde_json::Value;

use crate::lakevault;

const SOURCE: &str = "lake-prod";
const OTHER: &str = "lake-dev";
const NOW: &str = "2022-01-01T12:00:00Z";
/// The first and last backup dates of the year written.
const FIRST: &str = "2021-01-01";
const LAST: &str = "2021-12-31";
/// Not good: an incomplete audit, a failed job, a degraded verification (a Sunday, a month's
/// last day: buckets a good snapshot would otherwise keep).
const INCOMPLETE: &str = "2021-06-15";
const FAILED: &str = "2021-11-30";
const DEGRADED: &str = "2021-12-26";
/// prune-snapshots deleted this one's bucket.
const DELETED: &str = "2021-01-02";
/// prune-snapshots extended this one's lock (a monthly keeper).
const EXTENDED: &str = "2021-05-31";
const MIB: u64 = 1024 * 1024;

fn day(s: &str) -> Day {
    s.parse().unwrap()
}

fn every_day(from: &str, to: &str) -> Vec<Day> {
    let (mut d, to) = (day(from), day(to));
    let mut v = Vec::new();
    while d <= to {
        v.push(d);
        d = d.plus_days(1).unwrap();
    }
    v
}

fn entry(source: &str, date: Day, n: u64) -> CatalogEntry {
    let s = date.to_string();
    let verdict = match s.as_str() {
        INCOMPLETE => Verdict::Incomplete,
        FAILED => Verdict::Failed,
        _ => Verdict::Complete,
    };
    let degraded = s == DEGRADED;
    let verification = CatalogVerification {
        verdict: if degraded {
            SnapshotVerdict::Degraded
        } else {
            SnapshotVerdict::AllRestorable
        },
        tables: TableCounts {
            total: 3,
            restorable: if degraded { 2 } else { 3 },
            degraded: 0,
            unrestorable: u64::from(degraded),
        },
        restorable: vec![],
        tables_not_listed: 3,
        record: ObjectRef {
            bucket: "lake-reports".into(),
            key: format!("reports/job-{n}/lakevault-tables.json"),
        },
    };
    CatalogEntry {
        format: CATALOG_FORMAT,
        source_bucket: source.into(),
        backup_date: date,
        snapshot_bucket: format!("{source}-{}", date.dd_mmm_yyyy()),
        job_id: format!("00000000-0000-4000-8000-{n:012}"),
        verdict,
        good: catalog::is_good(verdict, Some(&verification)),
        verification: Some(verification),
        objects: 1000 + n,
        bytes: 700 * MIB + n * 1024,
        large_copies: 0,
        storage_class: "GLACIER_IR".into(),
        lock_mode: Some("GOVERNANCE".into()),
        // 30 days of default retention from the copies' creation, an hour into the next day.
        retain_until: Some(format!("{}T01:00:00Z", date.plus_days(30).unwrap())),
        audit_record: ObjectRef {
            bucket: "lake-reports".into(),
            key: format!("reports/job-{n}/lakevault-audit.json"),
        },
    }
}

struct World {
    moto: Moto,
    bucket: String,
    entries: Vec<CatalogEntry>,
}

async fn world() -> World {
    let moto = Moto::start();
    let s3 = moto.s3();
    let bucket = harness::unique_bucket("lake-reports");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let mut entries = Vec::new();
    for (n, date) in every_day(FIRST, LAST).into_iter().enumerate() {
        entries.push(entry(SOURCE, date, n as u64));
    }
    for (n, date) in every_day("2021-12-30", "2021-12-31")
        .into_iter()
        .enumerate()
    {
        entries.push(entry(OTHER, date, 900 + n as u64));
    }
    // Written 16 at a time: a year of entries.
    for chunk in entries.chunks(16) {
        let mut set = tokio::task::JoinSet::new();
        for e in chunk {
            let (s3, bucket) = (s3.clone(), bucket.clone());
            let key = catalog::key(
                "reports",
                &e.source_bucket,
                e.backup_date,
                CatalogFile::Entry,
            );
            let body = serde_json::to_vec_pretty(e).unwrap();
            set.spawn(async move { harness::put_object(&s3, &bucket, &key, body).await });
        }
        while let Some(r) = set.join_next().await {
            r.unwrap();
        }
    }
    let put = |key: String, body: Vec<u8>| {
        let (s3, bucket) = (s3.clone(), bucket.clone());
        async move { harness::put_object(&s3, &bucket, &key, body).await }
    };
    put(
        catalog::key("reports", SOURCE, day(DELETED), CatalogFile::Deleted),
        serde_json::to_vec(&DeletionRecord {
            snapshot_bucket: format!("{SOURCE}-02-jan-2021"),
            reason: "not kept by the policy".into(),
        })
        .unwrap(),
    )
    .await;
    put(
        catalog::key("reports", SOURCE, day(EXTENDED), CatalogFile::Protection),
        serde_json::to_vec(&ProtectionRecord {
            snapshot_bucket: format!("{SOURCE}-31-may-2021"),
            retain_until: "2022-05-01T00:00:00Z".into(),
            keep_class: "monthly".into(),
            object_versions: 1000,
        })
        .unwrap(),
    )
    .await;
    // Not an entry: a warning, skipped, counted; and a foreign file, ignored.
    put(
        catalog::key("reports", SOURCE, day("2020-12-31"), CatalogFile::Entry),
        b"{\"format\": 1, \"source_bucket\": \"lake-prod\"}".to_vec(),
    )
    .await;
    put(
        format!("reports/catalog/{SOURCE}/notes.txt"),
        b"hello".to_vec(),
    )
    .await;
    World {
        moto,
        bucket,
        entries,
    }
}

impl World {
    fn run(&self, args: &[&str]) -> crate::Run {
        let mut all = args.to_vec();
        all.extend_from_slice(&["--report-bucket", &self.bucket, "--now", NOW]);
        lakevault(&all, &self.moto.env())
    }

    /// What kit::retention decides for lake-prod: the snapshots not deleted take part.
    fn decisions(&self, p: &KeepPolicy) -> Vec<retention::Decision> {
        let candidates: Vec<Candidate> = self
            .entries
            .iter()
            .filter(|e| e.source_bucket == SOURCE && e.backup_date.to_string() != DELETED)
            .map(|e| Candidate {
                date: e.backup_date,
                good: e.good,
            })
            .collect();
        retention::decide(p, &candidates).unwrap()
    }

    async fn state(&self) -> Vec<String> {
        let mut pages = self
            .moto
            .s3()
            .list_objects_v2()
            .bucket(&self.bucket)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(p) = pages.next().await {
            for o in p.unwrap().contents() {
                out.push(format!(
                    "{:?} {:?} {:?}",
                    o.key(),
                    o.e_tag(),
                    o.last_modified()
                ));
            }
        }
        out
    }
}

fn dates(items: &Value) -> BTreeSet<String> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["backup_date"].as_str().unwrap().to_owned())
        .collect()
}

const POLICY: &[&str] = &[
    "--keep-daily",
    "7",
    "--keep-weekly",
    "4",
    "--keep-monthly",
    "12",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_lists_a_year_of_catalog_entries_like_restic() {
    let w = world().await;

    // Text, without a policy.
    let run = w.run(&["snapshots"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "warning: s3://{}/reports/catalog/lake-prod/2020-12-31.json: not a catalog entry",
            w.bucket
        )),
        "{}",
        run.stderr
    );
    let lines: Vec<&str> = run.stdout.lines().collect();
    let header: Vec<&str> = lines[0].split("  ").filter(|c| !c.is_empty()).collect();
    let header: Vec<&str> = header.iter().map(|c| c.trim()).collect();
    assert_eq!(
        header,
        [
            "date",
            "source",
            "bucket",
            "verdict",
            "objects",
            "size",
            "tables",
            "protected until",
            "kept as"
        ],
        "{}",
        run.stdout
    );
    assert!(lines[1].chars().all(|c| c == '-'), "{}", lines[1]);
    // Sorted by source, then date, newest last.
    assert!(
        lines[2].starts_with("2021-12-30  lake-dev "),
        "{}",
        lines[2]
    );
    assert!(
        lines[4].starts_with("2021-01-01  lake-prod"),
        "{}",
        lines[4]
    );
    let last = lines[lines.len() - 3];
    let cells: Vec<&str> = last.split_whitespace().collect();
    assert_eq!(
        cells,
        [
            "2021-12-31",
            "lake-prod",
            "lake-prod-31-dec-2021",
            "complete",
            "1364",
            "700.4",
            "MiB",
            "3/3",
            "2022-01-30",
            "-"
        ],
        "{last}"
    );
    let degraded = lines.iter().find(|l| l.starts_with(DEGRADED)).unwrap();
    assert!(
        degraded.contains(" degraded ") && degraded.contains(" 2/3 "),
        "{degraded}"
    );
    let deleted = lines.iter().find(|l| l.starts_with(DELETED)).unwrap();
    assert!(deleted.ends_with(" deleted"), "{deleted}");
    let totals = lines[lines.len() - 1];
    // 367 entries (the unreadable one is not), one of them deleted; 366 buckets' objects.
    let objects: u64 = w
        .entries
        .iter()
        .filter(|e| e.backup_date.to_string() != DELETED || e.source_bucket != SOURCE)
        .map(|e| e.objects)
        .sum();
    assert!(
        totals.starts_with(&format!(
            "367 snapshots (1 deleted, 1 unreadable), {objects} objects, 250."
        )) && totals.contains(" GiB; estimated storage 1.00 USD/month at list prices"),
        "{totals}"
    );

    // JSON, with a policy.
    let mut args = vec!["snapshots", "--json"];
    args.extend_from_slice(POLICY);
    let run = w.run(&args);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let doc = run.json();
    let snapshots = doc["snapshots"].as_array().unwrap();
    assert_eq!(snapshots.len(), 367);
    let t = &doc["totals"];
    assert_eq!(t["snapshots"], 367);
    assert_eq!(t["deleted"], 1);
    assert_eq!(t["unreadable"], 1);
    assert_eq!(t["objects"], objects);
    let bytes: u64 = snapshots
        .iter()
        .filter(|s| s["deleted"] == false)
        .map(|s| s["bytes"].as_u64().unwrap())
        .sum();
    assert_eq!(t["bytes"], bytes);
    let cost = t["monthly_cost_usd"].as_f64().unwrap();
    let want = bytes as f64 / (1024.0 * 1024.0 * 1024.0) * 0.004;
    assert!((cost - want).abs() < 1e-9, "{cost} {want}");
    assert_eq!(
        t["by_storage_class"]["GLACIER_IR"]["usd_per_gib_month"],
        0.004
    );
    assert_eq!(
        doc["unreadable"][0]["key"],
        "reports/catalog/lake-prod/2020-12-31.json"
    );
    // The kept classes are kit::retention's.
    let p = KeepPolicy {
        daily: 7,
        weekly: 4,
        monthly: 12,
        yearly: 0,
    };
    for d in w.decisions(&p) {
        let s = snapshots
            .iter()
            .find(|s| s["source_bucket"] == SOURCE && s["backup_date"] == d.date.to_string())
            .unwrap();
        assert_eq!(s["kept_by"], serde_json::json!(d.kept_by), "{}", d.date);
        assert_eq!(s["reason"], d.reason.as_str(), "{}", d.date);
    }
    let newest = snapshots
        .iter()
        .find(|s| s["snapshot_bucket"] == "lake-prod-31-dec-2021")
        .unwrap();
    assert_eq!(newest["kept_as"], "daily,weekly,monthly");
    assert_eq!(newest["protected_until"], "2022-01-30T01:00:00Z");
    let held = snapshots
        .iter()
        .find(|s| s["snapshot_bucket"] == "lake-prod-20-dec-2021")
        .unwrap();
    assert_eq!(held["kept_as"], "expiring 2022-01-19");
    let gone = snapshots
        .iter()
        .find(|s| s["snapshot_bucket"] == "lake-prod-01-jun-2021")
        .unwrap();
    assert_eq!(gone["kept_as"], "expired");

    // One source: its folder only.
    let run = w.run(&["snapshots", "--json", "--source", OTHER]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.json()["totals"]["snapshots"], 2);
    assert!(run.stderr.is_empty(), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forget_dry_run_plans_what_kit_retention_decides_and_changes_nothing() {
    let w = world().await;
    let before = w.state().await;
    let p = KeepPolicy {
        daily: 7,
        weekly: 4,
        monthly: 12,
        yearly: 0,
    };
    let decisions = w.decisions(&p);
    let now = "2022-01-01T12:00:00Z";

    let mut args = vec!["forget", "--dry-run", "--json", "--source", SOURCE];
    args.extend_from_slice(POLICY);
    let run = w.run(&args);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let doc = run.json();
    let plan = &doc["sources"][0];
    assert_eq!(plan["source_bucket"], SOURCE);
    let kept: BTreeSet<String> = decisions
        .iter()
        .filter(|d| d.is_kept())
        .map(|d| d.date.to_string())
        .collect();
    assert_eq!(dates(&plan["keep"]), kept);
    assert!(!kept.contains(DEGRADED) && !kept.contains(FAILED));
    for k in plan["keep"].as_array().unwrap() {
        let reason = k["reason"].as_str().unwrap();
        assert!(reason.ends_with("snapshot"), "{reason}");
    }
    // Not kept: held while the lock runs (retain_until after now), expiring once it lapsed.
    let (mut held, mut expiring) = (BTreeSet::new(), BTreeSet::new());
    for e in w.entries.iter().filter(|e| e.source_bucket == SOURCE) {
        let date = e.backup_date.to_string();
        if kept.contains(&date) || date == DELETED {
            continue;
        }
        if e.retain_until.as_deref().unwrap() > now {
            held.insert(date);
        } else {
            expiring.insert(date);
        }
    }
    assert_eq!(dates(&plan["remove"]["held"]), held);
    assert_eq!(dates(&plan["remove"]["expiring_now"]), expiring);
    assert!(held.contains(DEGRADED) && expiring.contains(FAILED));
    assert_eq!(
        dates(&plan["deleted"]),
        BTreeSet::from([DELETED.to_owned()])
    );
    for r in plan["remove"]["held"].as_array().unwrap() {
        assert!(
            ["not kept by the policy", "not good (counts toward no rule)"]
                .contains(&r["reason"].as_str().unwrap()),
            "{r}"
        );
    }
    // A monthly keeper's 30 days of lock do not reach a year: to extend; the one prune
    // extended already is not.
    let monthly = plan["keep"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["backup_date"] == "2021-04-30")
        .unwrap();
    assert_eq!(monthly["reason"], "monthly snapshot");
    assert_eq!(monthly["extend_protection_to"], "2022-03-31");
    let extended = plan["keep"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["backup_date"] == EXTENDED)
        .unwrap();
    assert_eq!(extended["extend_protection_to"], Value::Null);
    assert_eq!(extended["protected_until"], "2022-05-01T00:00:00Z");
    let daily = plan["keep"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["backup_date"] == "2021-12-29")
        .unwrap();
    assert_eq!(daily["extend_protection_to"], Value::Null, "{daily}");

    // The text: restic's sections, reasons and the lock split.
    let mut args = vec!["forget", "--dry-run"];
    args.extend_from_slice(POLICY);
    let run = w.run(&args);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let out = &run.stdout;
    for want in [
        "Applying policy: keep 7 daily, 4 weekly, 12 monthly snapshots (as of 2022-01-01T12:00:00Z)",
        "snapshots of lake-dev (s3://",
        "snapshots of lake-prod (s3://",
        &format!("keep {} snapshots:", kept.len()),
        &format!("remove {} snapshots:", held.len() + expiring.len()),
        "expiring now (lock lapsed): lifecycle expiration will be put on the bucket",
        "held until 2022-01-25 (Object Lock)",
        "daily snapshot, weekly snapshot, monthly snapshot",
        "protection to extend to 2022-03-31 (monthly)",
        "1 snapshots deleted already",
        "dry run: nothing was changed",
    ] {
        assert!(out.contains(want), "{want:?} not in\n{out}");
    }
    let row = out.lines().find(|l| l.starts_with(DEGRADED)).unwrap();
    assert!(
        row.contains("held until 2022-01-25 (Object Lock)")
            && row.ends_with("not good (counts toward no rule)"),
        "{row}"
    );

    // No policy: refused before any request.
    let run = w.run(&["forget", "--dry-run", "--json"]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    let e = run.json();
    assert_eq!(e["errorType"], "InvalidInput");
    assert!(
        e["errorMessage"]
            .as_str()
            .unwrap()
            .contains("keeps nothing: give at least one of keep_daily"),
        "{e}"
    );
    // Neither --dry-run nor a place to run: refused before any request, nothing is touched.
    let mut args = vec!["forget", "--json"];
    args.extend_from_slice(POLICY);
    let run = w.run(&args);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    let e = run.json();
    assert_eq!(e["errorType"], "InvalidInput");
    assert!(
        e["errorMessage"]
            .as_str()
            .unwrap()
            .contains("--local URL (the local stack) or --state-machine-arn ARN"),
        "{e}"
    );
    assert_eq!(w.state().await, before);
}
