//! Which objects each version needs, and the plan the step writes.

use std::collections::BTreeSet;

use plan_restore::{ChosenBy, FileKind, PlanRecord};
use serde_json::json;

use crate::support::*;

fn log(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| format!("_delta_log/{n}")).collect()
}

/// The manifest's rows, decoded back to table-relative paths.
async fn manifest_paths(stage: &Stage, out: &plan_restore::Output) -> BTreeSet<String> {
    let csv =
        String::from_utf8(get(&stage.s3, &out.manifest.bucket, &out.manifest.key).await).unwrap();
    csv.lines()
        .map(|row| {
            let (bucket, key) = row.split_once(',').unwrap();
            assert_eq!(bucket, SNAPSHOT);
            let key = percent_encoding::percent_decode_str(key)
                .decode_utf8()
                .unwrap()
                .into_owned();
            key.strip_prefix("events/").unwrap().to_owned()
        })
        .collect()
}

#[tokio::test]
async fn the_backup_dates_version_needs_the_checkpoint_the_commits_after_it_and_its_files() {
    let stage = Stage::new().await;
    let out = stage.plan(json!("as_of_backup_date")).await.unwrap();
    assert_eq!((out.version, out.chosen_by), (8, ChosenBy::AsOfBackupDate));
    assert_eq!(out.checkpoint_version, Some(5));
    assert_eq!(
        (
            out.source_bucket.as_str(),
            out.backup_date.to_string().as_str()
        ),
        ("lake-prod", "2021-03-31")
    );
    assert_eq!(out.table, "events/");
    assert_eq!(out.table_url, format!("s3://{TARGET}/events/"));
    assert_eq!(out.target_key_prefix, None);
    let mut want = log(&[
        "00000000000000000005.checkpoint.parquet",
        "00000000000000000006.json",
        "00000000000000000007.json",
        "00000000000000000008.json",
    ]);
    let data = live_files(8);
    assert!(data.len() > 3, "{data:?}");
    want.extend(data.iter().cloned());
    let got = manifest_paths(&stage, &out).await;
    assert_eq!(got, want, "exactly version 8's log segment and live files");
    // Nothing above 8, and no _last_checkpoint naming anything.
    assert!(
        !got.iter()
            .any(|p| p.contains("00000000000000000009") || p.ends_with("_last_checkpoint"))
    );
    assert_eq!(out.objects as usize, want.len());
    assert_eq!(
        (out.log_objects, out.data_files, out.deletion_vectors),
        (4, data.len() as u64, 0)
    );
    assert_eq!(out.manifest.format, "S3BatchOperations_CSV_20180820");
    assert_eq!(
        out.manifest.arn,
        format!("arn:aws:s3:::{REPORTS}/{}", out.manifest.key)
    );
    assert_eq!(
        out.job_report.prefix,
        format!("reports/restore-{}", out.restore_id)
    );
    assert!(!out.resumed && !out.dry_run);

    // The plan record: every object by relative path and size, sizes as in the fixture.
    let plan: PlanRecord =
        serde_json::from_slice(&get(&stage.s3, REPORTS, &out.plan.key).await).unwrap();
    assert_eq!((plan.version, plan.target_prefix.as_str()), (8, "events/"));
    assert_eq!(plan.files.len(), want.len());
    for f in &plan.files {
        let len = std::fs::metadata(events().join(&f.path)).unwrap().len();
        assert_eq!(f.size, len, "{}", f.path);
        assert_eq!(
            f.kind == FileKind::Log,
            f.path.starts_with("_delta_log/"),
            "{}",
            f.path
        );
    }
    assert_eq!(out.bytes, plan.files.iter().map(|f| f.size).sum::<u64>());
}

#[tokio::test]
async fn an_older_version_comes_from_its_commits_and_the_latest_from_the_checkpoint_chain() {
    let stage = Stage::new().await;
    let three = stage.plan(json!(3)).await.unwrap();
    assert_eq!(
        (three.version, three.chosen_by, three.checkpoint_version),
        (3, ChosenBy::Version, None)
    );
    let mut want = log(&[
        "00000000000000000000.json",
        "00000000000000000001.json",
        "00000000000000000002.json",
        "00000000000000000003.json",
    ]);
    want.extend(live_files(3));
    assert_eq!(manifest_paths(&stage, &three).await, want);

    let latest = stage.plan(json!("latest_restorable")).await.unwrap();
    assert_eq!(
        (latest.version, latest.chosen_by),
        (9, ChosenBy::LatestRestorable)
    );
    let got = manifest_paths(&stage, &latest).await;
    assert!(got.contains("_delta_log/00000000000000000009.json"));
    assert!(!got.contains("_delta_log/00000000000000000004.json"));
    // Different versions are different restores.
    assert_ne!(three.restore_id, latest.restore_id);
}

#[tokio::test]
async fn the_same_version_by_rule_or_by_number_is_the_same_restore_with_the_same_bytes() {
    let stage = Stage::new().await;
    let a = stage.plan(json!("as_of_backup_date")).await.unwrap();
    let b = stage.plan(json!(8)).await.unwrap();
    assert_eq!(a.restore_id, b.restore_id);
    assert_eq!(a.manifest.etag, b.manifest.etag);
    assert_eq!(b.chosen_by, ChosenBy::Version);
    // A dry run reports the ETag S3 gave the manifest, and writes nothing.
    let fresh = Stage::new().await;
    let mut e = fresh.event(json!(8), "events/");
    e["dry_run"] = json!(true);
    let dry = fresh.plan_event(e).await.unwrap();
    assert!(dry.dry_run);
    assert_eq!(
        (dry.restore_id.as_str(), dry.manifest.etag.as_str()),
        (a.restore_id.as_str(), a.manifest.etag.as_str())
    );
    assert!(keys(&fresh.s3, REPORTS).await.is_empty());
    assert!(keys(&fresh.s3, TARGET).await.is_empty());
}

#[tokio::test]
async fn a_target_under_a_folder_gets_the_folder_as_target_key_prefix() {
    let stage = Stage::new().await;
    let out = stage
        .plan_event(stage.event(json!(8), "restored/2021-03-31/events"))
        .await
        .unwrap();
    assert_eq!(out.target.prefix, "restored/2021-03-31/events/");
    assert_eq!(
        out.target_key_prefix.as_deref(),
        Some("restored/2021-03-31")
    );
    assert_eq!(
        out.table_url,
        format!("s3://{TARGET}/restored/2021-03-31/events/")
    );
}

#[tokio::test]
async fn a_re_run_over_its_own_partial_copy_resumes_with_the_same_plan() {
    let stage = Stage::new().await;
    let first = stage.plan(json!(8)).await.unwrap();
    // Half the copy happened (the same keys and sizes as the plan), then the run was retried.
    let plan: PlanRecord =
        serde_json::from_slice(&get(&stage.s3, REPORTS, &first.plan.key).await).unwrap();
    for f in plan.files.iter().step_by(2) {
        put(
            &stage.s3,
            TARGET,
            &format!("events/{}", f.path),
            std::fs::read(events().join(&f.path)).unwrap(),
        )
        .await;
    }
    let again = stage.plan(json!(8)).await.unwrap();
    assert!(again.resumed);
    assert_eq!(
        (
            again.restore_id.as_str(),
            again.manifest.etag.as_str(),
            again.objects
        ),
        (
            first.restore_id.as_str(),
            first.manifest.etag.as_str(),
            first.objects
        )
    );
}
