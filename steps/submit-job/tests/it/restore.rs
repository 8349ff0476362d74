//! Restore jobs (`restore` given): the snapshot's objects a CSV manifest lists, copied into the
//! destination bucket under the target key prefix; exactly once per restore; a re-run with
//! another prefix is a `JobConflict`.

use aws_sdk_s3control::types::{JobManifestFormat, JobStatus};
use harness::{DEFAULT_ACCOUNT, unique_bucket};
use kit::Step;
use local_batch::testkit;
use submit_job::{
    Input, ManifestFormat, ManifestRef, ReportTarget, RestoreJob, SubmitJob, SubmitJobError, plan,
};

use crate::submit_job::{Env, base_input, job_count, setup, wait_terminal};

const RESTORE_ID: &str = "3f2a9c0d1e4b5a67";

/// The table's objects in the snapshot (a space, a `+` and a `=` in keys, as partitions have).
const KEYS: [&str; 3] = [
    "events/_delta_log/00000000000000000000.json",
    "events/part-0000.parquet",
    "events/day=2021-03-31/a b+c.parquet",
];

/// A snapshot bucket holding the table, a CSV manifest of its keys in the report bucket (as
/// plan-restore writes it), an empty destination bucket; the restore's input.
async fn restore_input(env: &Env, target_key_prefix: Option<&str>) -> Input {
    let s3 = &env.s3;
    let [snap, target, reports] = [
        unique_bucket("snap"),
        unique_bucket("restored"),
        unique_bucket("reports"),
    ];
    for b in [&snap, &target, &reports] {
        s3.create_bucket().bucket(b).send().await.unwrap();
    }
    for k in KEYS {
        s3.put_object()
            .bucket(&snap)
            .key(k)
            .body(k.as_bytes().to_vec().into())
            .content_type("application/octet-stream")
            .metadata("table", "events")
            .send()
            .await
            .unwrap();
    }
    let keys: Vec<String> = KEYS.iter().map(|k| (*k).to_owned()).collect();
    let m = testkit::write_csv_manifest(
        s3,
        &reports,
        &format!("reports/restore-{RESTORE_ID}/manifest.csv"),
        &snap,
        &keys,
    )
    .await
    .unwrap();
    Input {
        account_id: DEFAULT_ACCOUNT.into(),
        source_bucket: snap,
        backup_date: "2021-03-31".parse().unwrap(),
        manifest: ManifestRef {
            arn: m.arn,
            etag: m.etag,
            format: Some(ManifestFormat::CSV.into()),
        },
        snapshot_bucket: target,
        role_arn: "arn:aws:iam::123456789012:role/lakevault-restore-batch".into(),
        report: ReportTarget {
            bucket: reports,
            prefix: format!("reports/restore-{RESTORE_ID}"),
        },
        priority: Some(10),
        storage_class: None,
        retain_until: None,
        object_lock_mode: None,
        restore: Some(RestoreJob {
            restore_id: RESTORE_ID.into(),
            target_key_prefix: target_key_prefix.map(str::to_owned),
        }),
    }
}

/// Every key of `bucket`.
async fn keys_of(s3: &aws_sdk_s3::Client, bucket: &str) -> Vec<String> {
    let out = s3.list_objects_v2().bucket(bucket).send().await.unwrap();
    let mut keys: Vec<String> = out
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect();
    keys.sort();
    keys
}

fn sorted(keys: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = keys.into_iter().collect();
    v.sort();
    v
}

#[tokio::test]
async fn a_restore_job_copies_the_csv_manifest_under_the_target_key_prefix_once() {
    let env = setup(None).await;
    let input = restore_input(&env, Some("restored/2021")).await;
    let step = SubmitJob::new(env.control.clone());
    let first = step.handle(input.clone()).await.unwrap();
    assert!(first.created);
    // The same input twice: one job.
    let again = step.handle(input.clone()).await.unwrap();
    assert_eq!(
        (again.job_id.as_str(), again.created),
        (first.job_id.as_str(), false)
    );
    assert_eq!(job_count(&env.control).await, 1);

    assert_eq!(
        wait_terminal(&env.control, &first.job_id).await,
        JobStatus::Complete
    );
    // Prefix + "/" + snapshot key, and nothing else; metadata copied.
    assert_eq!(
        keys_of(&env.s3, &input.snapshot_bucket).await,
        sorted(KEYS.iter().map(|k| format!("restored/2021/{k}")))
    );
    for k in KEYS {
        let h = env
            .s3
            .head_object()
            .bucket(&input.snapshot_bucket)
            .key(format!("restored/2021/{k}"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            h.metadata().unwrap().get("table").map(String::as_str),
            Some("events"),
            "{k}"
        );
        assert_eq!(h.object_lock_mode(), None, "{k}");
    }

    // The job says what it is: description, tags, a CSV manifest, the prefix, no Object Lock.
    let job = testkit::describe_job(&env.control, DEFAULT_ACCOUNT, &first.job_id)
        .await
        .unwrap();
    let description = job.description().unwrap_or_default();
    assert_eq!(
        description,
        format!(
            "lakevault restore {RESTORE_ID} of {} into {} (manifest {})",
            input.source_bucket, input.snapshot_bucket, input.manifest.etag
        )
    );
    let spec = job.manifest().and_then(|m| m.spec()).unwrap();
    assert_eq!(
        spec.format(),
        &JobManifestFormat::S3BatchOperationsCsv20180820
    );
    let copy = job
        .operation()
        .and_then(|o| o.s3_put_object_copy())
        .unwrap();
    assert_eq!(copy.target_key_prefix(), Some("restored/2021"));
    assert_eq!(copy.object_lock_mode(), None);
    let tags = env
        .control
        .get_job_tagging()
        .account_id(DEFAULT_ACCOUNT)
        .job_id(&first.job_id)
        .send()
        .await
        .unwrap();
    let tags: Vec<(&str, &str)> = tags.tags().iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(
        tags,
        [
            ("lakevault:restore-id", RESTORE_ID),
            ("lakevault:snapshot-bucket", input.source_bucket.as_str()),
            ("lakevault:target-bucket", input.snapshot_bucket.as_str()),
        ]
    );
    // The completion report is under the plan's job_report prefix.
    let report = harness::get_object(
        &env.s3,
        &input.report.bucket,
        &format!(
            "reports/restore-{RESTORE_ID}/job-{}/manifest.json",
            first.job_id
        ),
    )
    .await;
    let report: serde_json::Value = serde_json::from_slice(&report).unwrap();
    assert_eq!(report["Results"][0]["TaskExecutionStatus"], "succeeded");
}

#[tokio::test]
async fn a_restore_without_a_prefix_keeps_the_snapshot_keys() {
    let env = setup(None).await;
    let input = restore_input(&env, None).await;
    let out = SubmitJob::new(env.control.clone())
        .handle(input.clone())
        .await
        .unwrap();
    assert_eq!(
        wait_terminal(&env.control, &out.job_id).await,
        JobStatus::Complete
    );
    assert_eq!(
        keys_of(&env.s3, &input.snapshot_bucket).await,
        sorted(KEYS.iter().map(|k| (*k).to_owned()))
    );
}

#[tokio::test]
async fn a_restore_with_another_target_key_prefix_is_a_job_conflict() {
    let env = setup(None).await;
    let input = restore_input(&env, Some("restored")).await;
    let step = SubmitJob::new(env.control.clone());
    let first = step.handle(input.clone()).await.unwrap();
    for (other, shown) in [(Some("elsewhere"), "\"elsewhere\""), (None, "\"none\"")] {
        let mut changed = input.clone();
        if let Some(r) = changed.restore.as_mut() {
            r.target_key_prefix = other.map(str::to_owned);
        }
        let err = step.handle(changed).await.unwrap_err();
        match &err {
            SubmitJobError::JobConflict {
                job_id,
                differences,
            } => {
                assert_eq!(job_id, &first.job_id);
                assert_eq!(differences.len(), 1, "{err}");
                assert_eq!(differences[0].setting, "restore.target_key_prefix");
                assert_eq!(differences[0].existing, "restored");
                assert!(err.to_string().contains(shown), "{err}");
            }
            other => panic!("expected JobConflict, got {other:?}"),
        }
    }
    // Nothing was created, and the same input still converges.
    assert_eq!(job_count(&env.control).await, 1);
    let again = step.handle(input).await.unwrap();
    assert_eq!((again.job_id, again.created), (first.job_id, false));
}

/// `base_input` as a restore's (a CSV manifest, a restore id, a prefix).
fn restore_base() -> Input {
    let mut i = base_input();
    i.source_bucket = "lake-prod-31-mar-2021".into();
    i.snapshot_bucket = "lake-prod-restored".into();
    i.manifest.format = Some(ManifestFormat::CSV.into());
    i.restore = Some(RestoreJob {
        restore_id: RESTORE_ID.into(),
        target_key_prefix: Some("restored".into()),
    });
    i
}

#[test]
fn a_restore_is_identified_by_its_id_and_manifest() {
    let p = plan(&restore_base()).unwrap();
    assert_eq!(p.identity, format!("restore|{RESTORE_ID}|{}", p.etag));
    assert_eq!(p.manifest_format, ManifestFormat::Csv);
    assert_eq!(p.target_key_prefix.as_deref(), Some("restored"));
    assert_eq!(p.lock, None);
    assert!(p.description.starts_with(&format!(
        "lakevault restore {RESTORE_ID} of lake-prod-31-mar-2021 into lake-prod-restored"
    )));
    // The longest names still fit CreateJob's 256 characters.
    let mut long = restore_base();
    long.source_bucket = "s".repeat(63);
    long.snapshot_bucket = "t".repeat(63);
    long.manifest.etag = format!("{}-10000", "a".repeat(32));
    assert!(plan(&long).unwrap().description.len() <= 256);
    // A backup's plan is as before.
    let b = plan(&base_input()).unwrap();
    assert_eq!(b.manifest_format, ManifestFormat::Inventory);
    assert_eq!(b.target_key_prefix, None);
    assert!(b.description.starts_with("lakevault snapshot of lake-prod"));
}

#[test]
fn bad_restore_input_names_the_field() {
    type Edit = Box<dyn Fn(&mut Input)>;
    let prefix = |p: &'static str| -> Edit {
        Box::new(move |i: &mut Input| {
            if let Some(r) = i.restore.as_mut() {
                r.target_key_prefix = Some(p.into());
            }
        })
    };
    let cases: Vec<(&str, Edit)> = vec![
        ("$.manifest.format", Box::new(|i| i.manifest.format = None)),
        (
            "$.manifest.format",
            Box::new(|i| i.manifest.format = Some(ManifestFormat::INVENTORY.into())),
        ),
        (
            "$.manifest.format",
            Box::new(|i| i.manifest.format = Some("S3InventoryReport_CSV_20211130".into())),
        ),
        (
            "$.restore.restore_id",
            Box::new(|i| {
                if let Some(r) = i.restore.as_mut() {
                    r.restore_id = RESTORE_ID.to_uppercase();
                }
            }),
        ),
        (
            "$.restore.restore_id",
            Box::new(|i| {
                if let Some(r) = i.restore.as_mut() {
                    r.restore_id = RESTORE_ID[1..].into();
                }
            }),
        ),
        ("$.restore.target_key_prefix", prefix("")),
        ("$.restore.target_key_prefix", prefix("/restored")),
        ("$.restore.target_key_prefix", prefix("restored/")),
        ("$.restore.target_key_prefix", prefix("/")),
        ("$.restore.target_key_prefix", prefix("re\nstored")),
        (
            "$.retain_until",
            Box::new(|i| i.retain_until = Some("2099-01-01T00:00:00Z".into())),
        ),
    ];
    for (path, f) in cases {
        let mut i = restore_base();
        f(&mut i);
        assert_eq!(plan(&i).unwrap_err().path, path);
    }
    // A CSV manifest alone (no restore) is a backup's job reading a CSV.
    let mut i = base_input();
    i.manifest.format = Some(ManifestFormat::CSV.into());
    assert_eq!(plan(&i).unwrap().manifest_format, ManifestFormat::Csv);
}
