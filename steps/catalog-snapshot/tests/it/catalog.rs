//! catalog-snapshot against moto: a snapshot under Object Lock default retention, a redrive that
//! writes nothing, a bucket without lock, an empty one, a missing one, the audit's and the
//! verification's verdicts, verify-snapshot's record (bounded, of another snapshot, missing) and
//! the binary.

use aws_sdk_s3::types::{
    BucketVersioningStatus, DefaultRetention, ObjectLockConfiguration, ObjectLockEnabled,
    ObjectLockRetentionMode, ObjectLockRule, VersioningConfiguration,
};
use catalog_snapshot::CatalogSnapshot;
use kit::catalog::{CatalogEntry, MAX_TABLES_IN_ENTRY};
use kit::record::Verdict;
use serde_json::{Value, json};

use crate::{
    DATE, PREFIX, SOURCE, audit, event, run, table_report, tables_key, tables_record, verification,
};

fn entry_key() -> String {
    format!("{PREFIX}/catalog/{SOURCE}/{DATE}.json")
}

/// A versioned report bucket: its versions show whether an entry was written again.
async fn report_bucket(s3: &aws_sdk_s3::Client) -> String {
    let b = harness::unique_bucket("reports");
    s3.create_bucket()
        .bucket(&b)
        .send()
        .await
        .expect("CreateBucket");
    s3.put_bucket_versioning()
        .bucket(&b)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .expect("PutBucketVersioning");
    b
}

/// A snapshot bucket as create-bucket leaves it: Object Lock, default retention `days`
/// (none: no lock at all).
async fn snapshot_bucket(s3: &aws_sdk_s3::Client, lock_days: Option<i32>) -> String {
    let b = harness::unique_bucket("lake-prod-31-mar-2021");
    s3.create_bucket()
        .bucket(&b)
        .object_lock_enabled_for_bucket(lock_days.is_some())
        .send()
        .await
        .expect("CreateBucket");
    if let Some(days) = lock_days {
        s3.put_object_lock_configuration()
            .bucket(&b)
            .object_lock_configuration(
                ObjectLockConfiguration::builder()
                    .object_lock_enabled(ObjectLockEnabled::Enabled)
                    .rule(
                        ObjectLockRule::builder()
                            .default_retention(
                                DefaultRetention::builder()
                                    .mode(ObjectLockRetentionMode::Governance)
                                    .days(days)
                                    .build(),
                            )
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .expect("PutObjectLockConfiguration");
    }
    b
}

async fn entry_versions(s3: &aws_sdk_s3::Client, bucket: &str) -> usize {
    s3.list_object_versions()
        .bucket(bucket)
        .prefix(entry_key())
        .send()
        .await
        .expect("ListObjectVersions")
        .versions()
        .len()
}

async fn read_entry(s3: &aws_sdk_s3::Client, bucket: &str) -> (Vec<u8>, CatalogEntry) {
    let bytes = harness::get_object(s3, bucket, &entry_key()).await;
    let e = serde_json::from_slice(&bytes).expect("a CatalogEntry");
    (bytes, e)
}

fn secs(rfc3339: &str) -> i64 {
    aws_smithy_types::DateTime::from_str(rfc3339, aws_smithy_types::date_time::Format::DateTime)
        .unwrap()
        .secs()
}

#[tokio::test]
async fn a_locked_snapshot_is_catalogued_once() {
    let moto = harness::Moto::start();
    let (s3, counter) = harness::counting_s3(&moto);
    let reports = report_bucket(&s3).await;
    let snap = snapshot_bucket(&s3, Some(30)).await;
    for (k, n) in [
        ("tables/events/part-0.parquet", 10),
        ("tables/events/_delta_log/0.json", 20),
        ("x", 30),
    ] {
        harness::put_object(&s3, &snap, k, vec![b'a'; n]).await;
    }
    let tables = vec![
        table_report("tables/events/", Some(9), Some((7, true))),
        table_report("tables/users/", Some(4), Some((4, true))),
    ];
    harness::put_object(
        &s3,
        &reports,
        &tables_key(),
        tables_record(&snap, &reports, tables),
    )
    .await;
    let ev = event(
        &snap,
        &reports,
        audit(&snap, &reports, Verdict::Complete),
        verification(&snap, &reports, "all_restorable", 2),
    );
    let step = CatalogSnapshot::new(s3.clone());

    let before = counter.count();
    let out = run(&step, ev.clone()).await.unwrap();
    assert_eq!(
        counter.count() - before,
        5,
        "lock, list, the tables record, HEAD, PUT"
    );
    let retain_until = out["retain_until"].as_str().expect("a date").to_owned();
    assert_eq!(
        out,
        json!({"entry": {"bucket": reports, "key": entry_key()}, "written": true, "good": true,
               "objects": 3, "bytes": 60, "retain_until": retain_until})
    );
    // S3's own retain-until dates: the entry's is the earliest (moto rounds both to seconds).
    let mut earliest = i64::MAX;
    for k in [
        "tables/events/part-0.parquet",
        "tables/events/_delta_log/0.json",
        "x",
    ] {
        let h = s3.head_object().bucket(&snap).key(k).send().await.unwrap();
        earliest = earliest.min(h.object_lock_retain_until_date().unwrap().secs());
    }
    assert!(
        (secs(&retain_until) - earliest).abs() <= 1,
        "{retain_until} vs S3's earliest {earliest}"
    );

    let (bytes, e) = read_entry(&s3, &reports).await;
    assert_eq!(e.format, kit::catalog::CATALOG_FORMAT);
    assert_eq!(
        (
            e.source_bucket.as_str(),
            e.snapshot_bucket.as_str(),
            e.job_id.as_str()
        ),
        (SOURCE, snap.as_str(), crate::JOB)
    );
    assert_eq!(e.backup_date.to_string(), DATE);
    assert_eq!((e.verdict, e.good), (Verdict::Complete, true));
    assert_eq!((e.objects, e.bytes, e.large_copies), (3, 60, 0));
    assert_eq!(e.storage_class, "GLACIER_IR");
    assert_eq!(e.lock_mode.as_deref(), Some("GOVERNANCE"));
    assert_eq!(e.retain_until.as_deref(), Some(retain_until.as_str()));
    assert_eq!(
        e.audit_record.key,
        format!("{PREFIX}/job-{}/lakevault-audit.json", crate::JOB)
    );
    let v = e.verification.expect("the verification");
    assert_eq!(v.record.key, tables_key());
    assert_eq!(v.tables_not_listed, 0);
    let versions: Vec<_> = v
        .restorable
        .iter()
        .map(|t| {
            (
                t.root.as_str(),
                t.backup_date_version,
                t.oldest_restorable,
                t.newest_restorable,
            )
        })
        .collect();
    assert_eq!(
        versions,
        [
            ("tables/events/", Some(7), Some(7), Some(9)),
            ("tables/users/", Some(4), Some(4), Some(4))
        ]
    );

    // A redrive: the same bytes are there, nothing is written.
    let before = counter.count();
    let again = run(&step, ev.clone()).await.unwrap();
    assert_eq!(counter.count() - before, 4, "no PUT");
    assert_eq!(again["written"], json!(false));
    assert_eq!(again["retain_until"], out["retain_until"]);
    assert_eq!(read_entry(&s3, &reports).await.0, bytes);
    assert_eq!(entry_versions(&s3, &reports).await, 1);

    // The second audit (after large copies) changes the facts: the entry is replaced.
    let mut ev2 = ev.clone();
    ev2["audit"]["large_copies"] = json!({"covers_oversize": true, "copied": 2, "failed": 0,
        "bytes_copied": 12_000_000_000_u64, "missing": 0, "unexpected": 0, "truncated": false,
        "not_listed": 0, "entries": [], "more_entries": 0});
    let out2 = run(&step, ev2).await.unwrap();
    assert_eq!(out2["written"], json!(true));
    assert_eq!(read_entry(&s3, &reports).await.1.large_copies, 2);
    assert_eq!(entry_versions(&s3, &reports).await, 2);
}

#[tokio::test]
async fn without_lock_or_objects_there_is_no_date() {
    let moto = harness::Moto::start();
    let s3 = moto.s3();
    let reports = report_bucket(&s3).await;
    let step = CatalogSnapshot::new(s3.clone());

    let plain = snapshot_bucket(&s3, None).await;
    harness::put_object(&s3, &plain, "a", b"abc").await;
    let out = run(
        &step,
        event(
            &plain,
            &reports,
            audit(&plain, &reports, Verdict::Complete),
            Value::Null,
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        (&out["objects"], &out["bytes"], &out["retain_until"]),
        (&json!(1), &json!(3), &Value::Null)
    );
    assert_eq!(out["good"], json!(true), "complete and not verified");
    let e = read_entry(&s3, &reports).await.1;
    assert_eq!(
        (e.lock_mode, e.retain_until, e.verification),
        (None, None, None)
    );

    // Locked but empty: the mode, no date.
    let empty = snapshot_bucket(&s3, Some(1)).await;
    let mut ev = event(
        &empty,
        &reports,
        audit(&empty, &reports, Verdict::Failed),
        Value::Null,
    );
    ev.as_object_mut().unwrap().remove("verification");
    ev["storage_class"] = Value::Null;
    let out = run(&step, ev).await.unwrap();
    assert_eq!(
        (&out["objects"], &out["retain_until"], &out["good"]),
        (&json!(0), &Value::Null, &json!(false))
    );
    let e = read_entry(&s3, &reports).await.1;
    assert_eq!(e.lock_mode.as_deref(), Some("GOVERNANCE"));
    assert_eq!(e.storage_class, "STANDARD");
    assert_eq!(e.verdict, Verdict::Failed);
}

#[tokio::test]
async fn a_missing_snapshot_bucket_is_snapshot_not_found() {
    let moto = harness::Moto::start();
    let s3 = moto.s3();
    let reports = report_bucket(&s3).await;
    let gone = harness::unique_bucket("lake-prod-31-mar-2021");
    let (t, msg) = run(
        &CatalogSnapshot::new(s3.clone()),
        event(
            &gone,
            &reports,
            audit(&gone, &reports, Verdict::Complete),
            Value::Null,
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(t, "SnapshotNotFound", "{msg}");
    assert!(msg.contains(&gone), "{msg}");
    assert_eq!(entry_versions(&s3, &reports).await, 0, "nothing written");
}

#[tokio::test]
async fn an_incomplete_audit_or_a_degraded_verification_is_not_good() {
    let moto = harness::Moto::start();
    let s3 = moto.s3();
    let reports = report_bucket(&s3).await;
    let snap = snapshot_bucket(&s3, Some(7)).await;
    harness::put_object(&s3, &snap, "tables/events/_delta_log/0.json", b"{}").await;
    let step = CatalogSnapshot::new(s3.clone());
    let tables = vec![table_report("tables/events/", Some(9), Some((7, false)))];
    harness::put_object(
        &s3,
        &reports,
        &tables_key(),
        tables_record(&snap, &reports, tables),
    )
    .await;

    let incomplete = event(
        &snap,
        &reports,
        audit(&snap, &reports, Verdict::Incomplete),
        verification(&snap, &reports, "all_restorable", 1),
    );
    let out = run(&step, incomplete).await.unwrap();
    assert_eq!(out["good"], json!(false));
    assert_eq!(
        read_entry(&s3, &reports).await.1.verdict,
        Verdict::Incomplete
    );

    let degraded = event(
        &snap,
        &reports,
        audit(&snap, &reports, Verdict::Complete),
        verification(&snap, &reports, "degraded", 1),
    );
    let out = run(&step, degraded).await.unwrap();
    assert_eq!(out["good"], json!(false));
    let e = read_entry(&s3, &reports).await.1;
    assert!(!e.good);
    let v = e.verification.unwrap();
    assert_eq!(v.verdict, kit::verification::SnapshotVerdict::Degraded);
    // The backup date's version is not restorable: only the newest complete one is claimed.
    let t = &v.restorable[0];
    assert_eq!(
        (
            t.backup_date_version,
            t.oldest_restorable,
            t.newest_restorable
        ),
        (None, Some(9), Some(9))
    );
}

#[tokio::test]
async fn the_tables_record_is_bounded_and_must_be_this_snapshots() {
    let moto = harness::Moto::start();
    let (s3, counter) = harness::counting_s3(&moto);
    let reports = report_bucket(&s3).await;
    let snap = snapshot_bucket(&s3, None).await;
    let step = CatalogSnapshot::new(s3.clone());
    let ev = |total| {
        event(
            &snap,
            &reports,
            audit(&snap, &reports, Verdict::Complete),
            verification(&snap, &reports, "all_restorable", total),
        )
    };

    // More tables than an entry names: the first ones, in the record's order, the rest counted.
    let n = MAX_TABLES_IN_ENTRY + 5;
    let many: Vec<Value> = (0..n)
        .map(|i| table_report(&format!("t/{i:04}/"), Some(1), Some((1, true))))
        .collect();
    harness::put_object(
        &s3,
        &reports,
        &tables_key(),
        tables_record(&snap, &reports, many),
    )
    .await;
    run(&step, ev(n as u64)).await.unwrap();
    let v = read_entry(&s3, &reports).await.1.verification.unwrap();
    assert_eq!(v.restorable.len(), MAX_TABLES_IN_ENTRY);
    assert_eq!(v.restorable[0].root, "t/0000/");
    assert_eq!(v.tables_not_listed, 5);

    // Over the cap: no table by name, all counted.
    let small = CatalogSnapshot::with_record_limit(s3.clone(), 64);
    run(&small, ev(n as u64)).await.unwrap();
    let v = read_entry(&s3, &reports).await.1.verification.unwrap();
    assert_eq!((v.restorable.len(), v.tables_not_listed), (0, n as u64));

    // No tables: the record is not read.
    let before = counter.count();
    run(&step, ev(0)).await.unwrap();
    assert_eq!(counter.count() - before, 4, "lock, list, HEAD, PUT");

    let invalid = async |says: &[&str]| {
        let (t, msg) = run(&step, ev(1)).await.unwrap_err();
        assert_eq!(t, "InvalidInput", "{msg}");
        for s in says {
            assert!(msg.contains(s), "{msg:?} lacks {s:?}");
        }
    };
    // Another snapshot's record.
    let other = tables_record("lake-prod-30-mar-2021", &reports, vec![]);
    harness::put_object(&s3, &reports, &tables_key(), other).await;
    invalid(&[
        "$.verification.record",
        "lake-prod-30-mar-2021",
        "re-run VerifySnapshot",
    ])
    .await;
    // Not a tables record.
    harness::put_object(&s3, &reports, &tables_key(), b"[1, 2]").await;
    invalid(&["not verify-snapshot's tables record"]).await;
    // Gone.
    s3.delete_object()
        .bucket(&reports)
        .key(tables_key())
        .send()
        .await
        .unwrap();
    invalid(&["does not exist", "re-run VerifySnapshot"]).await;

    // An audit of another snapshot, before any request.
    let mut e = ev(1);
    e["audit"]["snapshot_bucket"] = json!("lake-prod-30-mar-2021");
    let before = counter.count();
    let (t, msg) = run(&step, e).await.unwrap_err();
    assert_eq!(
        (t.as_str(), counter.count() - before),
        ("InvalidInput", 0),
        "{msg}"
    );
    assert!(msg.contains("$.audit.snapshot_bucket"), "{msg}");
}

#[tokio::test]
async fn the_binary() {
    let bin = env!("CARGO_BIN_EXE_catalog-snapshot");
    let out = std::process::Command::new(bin)
        .arg("--error-types")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .collect::<Vec<_>>(),
        [
            "InvalidInput",
            "ConfigurationError",
            "InternalError",
            "SnapshotNotFound",
            "Transient",
            "AccessDenied",
            "ServiceError"
        ]
    );

    let moto = harness::Moto::start();
    let s3 = moto.s3();
    let reports = report_bucket(&s3).await;
    let snap = snapshot_bucket(&s3, Some(30)).await;
    harness::put_object(&s3, &snap, "a", b"abc").await;
    let ev = event(
        &snap,
        &reports,
        audit(&snap, &reports, Verdict::Complete),
        Value::Null,
    );
    let (code, out) = harness::run_step_binary(bin, &moto.env(), ev.to_string()).await;
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(
        (&out["written"], &out["objects"]),
        (&json!(true), &json!(1))
    );
    let (code, out) = harness::run_step_binary(bin, &moto.env(), ev.to_string()).await;
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out["written"], json!(false));
    let gone = harness::unique_bucket("gone");
    let ev = event(
        &gone,
        &reports,
        audit(&gone, &reports, Verdict::Complete),
        Value::Null,
    );
    let (code, out) = harness::run_step_binary(bin, &moto.env(), ev.to_string()).await;
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(out["errorType"], json!("SnapshotNotFound"));
}
