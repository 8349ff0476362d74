//! A restored table that is the plan's, and each way it can fail to be.

use std::path::PathBuf;

use harness::Moto;
use kit::Step;
use plan_restore::{PlanRecord, PlanRestore};
use serde_json::{Value, json};
use verify_restore::{VerifyRestore, VerifyRestoreError};

const SNAPSHOT: &str = "lake-prod-31-mar-2021";
const TARGET: &str = "lake-prod-restored";
const REPORTS: &str = "lakevault-reports";

fn events() -> PathBuf {
    harness::workspace_root().join("local/fixtures/delta-table/events")
}

async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: Vec<u8>) {
    harness::put_object(s3, bucket, key, body).await;
}

/// moto with the snapshot, a plan of version 8 into `TARGET/events/`, and the plan's objects
/// copied there.
struct Restored {
    moto: Moto,
    s3: aws_sdk_s3::Client,
    plan: plan_restore::Output,
    record: PlanRecord,
}

impl Restored {
    async fn new() -> Self {
        let moto = Moto::start();
        let s3 = moto.s3();
        for b in [SNAPSHOT, TARGET, REPORTS] {
            s3.create_bucket().bucket(b).send().await.unwrap();
        }
        for rel in &harness::files_under(&events()) {
            put(
                &s3,
                SNAPSHOT,
                &format!("events/{rel}"),
                std::fs::read(events().join(rel)).unwrap(),
            )
            .await;
        }
        let planner = PlanRestore::new(&moto.sdk_config());
        let plan = planner
            .handle(
                serde_json::from_value(json!({
                    "snapshot_bucket": SNAPSHOT, "table": "events", "version": 8,
                    "target": {"bucket": TARGET, "prefix": "events/"},
                    "report": {"bucket": REPORTS, "prefix": "reports"},
                }))
                .unwrap(),
            )
            .await
            .unwrap();
        let o = s3
            .get_object()
            .bucket(REPORTS)
            .key(&plan.plan.key)
            .send()
            .await
            .unwrap();
        let record: PlanRecord =
            serde_json::from_slice(&o.body.collect().await.unwrap().to_vec()).unwrap();
        // The copy, as the job does it: each manifest object to the same relative path.
        for f in &record.files {
            s3.copy_object()
                .copy_source(format!(
                    "{SNAPSHOT}/events/{}",
                    percent_encoding::utf8_percent_encode(
                        &f.path,
                        percent_encoding::NON_ALPHANUMERIC
                    )
                ))
                .bucket(TARGET)
                .key(format!("events/{}", f.path))
                .send()
                .await
                .unwrap();
        }
        Restored {
            moto,
            s3,
            plan,
            record,
        }
    }

    fn event(&self) -> Value {
        json!({
            "restore_id": self.plan.restore_id,
            "plan": self.plan.plan,
            "target": self.plan.target,
            "version": self.plan.version,
        })
    }

    async fn verify(&self, event: Value) -> Result<verify_restore::Output, VerifyRestoreError> {
        VerifyRestore::new(&self.moto.sdk_config())
            .handle(serde_json::from_value(event).unwrap())
            .await
    }

    async fn differences(&self) -> Vec<String> {
        match self.verify(self.event()).await {
            Err(VerifyRestoreError::RestoreMismatch {
                differences, count, ..
            }) => {
                assert_eq!(count.min(10), differences.len());
                differences
            }
            other => panic!("not a mismatch: {other:?}"),
        }
    }

    fn data_file(&self) -> &str {
        &self
            .record
            .files
            .iter()
            .find(|f| f.kind == plan_restore::FileKind::Data)
            .unwrap()
            .path
    }
}

#[tokio::test]
async fn the_planned_copy_opens_at_its_version_with_exactly_its_files() {
    let r = Restored::new().await;
    let out = r.verify(r.event()).await.unwrap();
    assert_eq!(out.verdict, "restored");
    assert_eq!(
        (out.version, out.table_url.as_str()),
        (8, "s3://lake-prod-restored/events/")
    );
    assert_eq!(out.objects as usize, r.record.files.len());
    assert_eq!(out.files, r.plan.data_files);
    assert_eq!(out.bytes, r.plan.bytes);
    // Only reads: the same answer again.
    assert_eq!(r.verify(r.event()).await.unwrap(), out);
}

#[tokio::test]
async fn a_missing_data_file_is_named() {
    let r = Restored::new().await;
    let gone = r.data_file().to_owned();
    r.s3.delete_object()
        .bucket(TARGET)
        .key(format!("events/{gone}"))
        .send()
        .await
        .unwrap();
    let d = r.differences().await;
    assert!(
        d.iter().any(|l| l.contains(&gone) && l.contains("missing")),
        "{d:?}"
    );
}

#[tokio::test]
async fn a_resized_file_and_an_extra_object_are_named() {
    let r = Restored::new().await;
    let resized = r.data_file().to_owned();
    put(
        &r.s3,
        TARGET,
        &format!("events/{resized}"),
        b"short".to_vec(),
    )
    .await;
    put(&r.s3, TARGET, "events/stray.txt", b"x".to_vec()).await;
    let d = r.differences().await;
    assert!(
        d.iter()
            .any(|l| l.contains(&resized) && l.contains("5 bytes")),
        "{d:?}"
    );
    assert!(
        d.iter()
            .any(|l| l.contains("stray.txt") && l.contains("not in the plan")),
        "{d:?}"
    );
}

#[tokio::test]
async fn a_commit_above_the_version_makes_another_latest_version() {
    let r = Restored::new().await;
    let nine = "_delta_log/00000000000000000009.json";
    put(
        &r.s3,
        TARGET,
        &format!("events/{nine}"),
        std::fs::read(events().join(nine)).unwrap(),
    )
    .await;
    let d = r.differences().await;
    assert!(
        d.iter().any(|l| l.contains("latest version is 9, not 8")),
        "{d:?}"
    );
}

#[tokio::test]
async fn another_restores_plan_or_no_plan_is_refused() {
    let r = Restored::new().await;
    let mut e = r.event();
    e["version"] = json!(7);
    assert!(
        matches!(r.verify(e).await.unwrap_err(), VerifyRestoreError::InvalidInput(i) if i.path == "$.plan")
    );
    let mut e = r.event();
    e["plan"]["key"] = json!("reports/restore-0000000000000000/plan.json");
    assert!(matches!(
        r.verify(e).await.unwrap_err(),
        VerifyRestoreError::PlanNotFound { .. }
    ));
    let mut e = r.event();
    e["restore_id"] = json!("not-an-id");
    assert!(
        matches!(r.verify(e).await.unwrap_err(), VerifyRestoreError::InvalidInput(i) if i.path == "$.restore_id")
    );
}

#[tokio::test]
async fn the_binary_answers_and_names_its_errors() {
    let r = Restored::new().await;
    let bin = env!("CARGO_BIN_EXE_verify-restore");
    let env = r.moto.env();
    let (code, out) = harness::run_step_binary(bin, &env, r.event().to_string()).await;
    assert_eq!(
        (code, out["verdict"].as_str()),
        (Some(0), Some("restored")),
        "{out}"
    );
    put(&r.s3, TARGET, "events/stray.txt", b"x".to_vec()).await;
    let (code, err) = harness::run_step_binary(bin, &env, r.event().to_string()).await;
    assert_ne!(code, Some(0));
    assert_eq!(err["errorType"], "RestoreMismatch", "{err}");
    for bad in [json!({}), json!({"restore_id": 1}), json!([1])] {
        let (_, err) = harness::run_step_binary(bin, &env, bad.to_string()).await;
        assert_eq!(err["errorType"], "InvalidInput", "{bad}: {err}");
    }
}
