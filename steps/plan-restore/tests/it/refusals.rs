//! What is refused — and that nothing is written when it is.

use plan_restore::PlanRestoreError;
use serde_json::json;

use crate::support::*;

/// Nothing under the report prefix: no manifest, no plan.
async fn nothing_written(stage: &Stage) {
    assert!(
        keys(&stage.s3, REPORTS).await.is_empty(),
        "a refused restore writes nothing"
    );
}

#[tokio::test]
async fn a_target_holding_anything_else_is_refused_and_nothing_is_written() {
    let stage = Stage::new().await;
    put(
        &stage.s3,
        TARGET,
        "events/_delta_log/00000000000000000000.json",
        b"{}".to_vec(),
    )
    .await;
    let e = stage.plan(json!(8)).await.unwrap_err();
    assert!(matches!(e, PlanRestoreError::TargetNotEmpty { .. }), "{e}");
    assert!(e.to_string().contains("never writes over anything"), "{e}");
    nothing_written(&stage).await;
    // One foreign object among this restore's own is enough.
    let stage = Stage::new().await;
    put(&stage.s3, TARGET, "events/notes.txt", b"mine".to_vec()).await;
    assert!(matches!(
        stage.plan(json!(8)).await.unwrap_err(),
        PlanRestoreError::TargetNotEmpty { .. }
    ));
    nothing_written(&stage).await;
}

#[tokio::test]
async fn objects_with_the_plans_names_but_no_plan_are_not_taken_for_a_resume() {
    let stage = Stage::new().await;
    let rel = "_delta_log/00000000000000000006.json";
    put(
        &stage.s3,
        TARGET,
        &format!("events/{rel}"),
        std::fs::read(events().join(rel)).unwrap(),
    )
    .await;
    let e = stage.plan(json!(8)).await.unwrap_err();
    assert!(matches!(e, PlanRestoreError::TargetNotEmpty { .. }), "{e}");
    assert!(e.to_string().contains("no plan of it"), "{e}");
    nothing_written(&stage).await;
}

#[tokio::test]
async fn a_version_whose_files_were_vacuumed_before_the_backup_names_the_nearest_restorable() {
    // A file version 0 adds and version 1 still reads, gone from the snapshot.
    let gone: Vec<String> = live_files(0)
        .into_iter()
        .filter(|f| live_files(1).contains(f))
        .collect();
    let gone: Vec<&str> = gone.iter().map(String::as_str).take(1).collect();
    assert_eq!(gone.len(), 1);
    let stage = Stage::without(&gone).await;
    let e = stage.plan(json!(0)).await.unwrap_err();
    let PlanRestoreError::VersionNotRestorable {
        version,
        why,
        nearest,
        ..
    } = &e
    else {
        panic!("{e}")
    };
    assert_eq!(version, "0");
    assert!(why.contains("not in the bucket"), "{why}");
    // The nearest above it that no longer reads that file.
    let first_ok = (1..10).find(|v| !live_files(*v).contains(gone[0])).unwrap();
    assert!(
        nearest.contains(&format!("version is {first_ok}")),
        "{nearest}"
    );
    nothing_written(&stage).await;
    // Past the newest version.
    let e = stage.plan(json!(42)).await.unwrap_err();
    assert!(
        matches!(&e, PlanRestoreError::VersionNotRestorable { why, .. } if why.contains("newest version in the log is 9")),
        "{e}"
    );
}

#[tokio::test]
async fn missing_buckets_and_tables_are_named() {
    let stage = Stage::new().await;
    let mut e = stage.event(json!(8), "events/");
    e["target"]["bucket"] = json!("no-such-target");
    assert!(matches!(
        stage.plan_event(e).await.unwrap_err(),
        PlanRestoreError::TargetNotFound { .. }
    ));
    let mut e = stage.event(json!(8), "events/");
    e["snapshot_bucket"] = json!("lake-prod-01-apr-2021");
    assert!(matches!(
        stage.plan_event(e).await.unwrap_err(),
        PlanRestoreError::SnapshotNotFound { .. }
    ));
    let mut e = stage.event(json!(8), "clicks/");
    e["table"] = json!("clicks");
    let err = stage.plan_event(e).await.unwrap_err();
    assert!(
        matches!(err, PlanRestoreError::TableNotFound { .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("events/"),
        "names the tables there are: {err}"
    );
    nothing_written(&stage).await;
}

#[tokio::test]
async fn a_target_that_would_rename_the_table_or_is_the_snapshot_is_invalid_input() {
    let stage = Stage::new().await;
    for (prefix, bucket) in [
        ("other/", TARGET),
        ("oldevents/", TARGET),
        ("events/", SNAPSHOT),
        ("events/", REPORTS),
    ] {
        let mut e = stage.event(json!(8), prefix);
        e["target"]["bucket"] = json!(bucket);
        let err = stage.plan_event(e).await.unwrap_err();
        assert!(
            matches!(err, PlanRestoreError::InvalidInput(_)),
            "{prefix} {bucket}: {err}"
        );
    }
    nothing_written(&stage).await;
}
