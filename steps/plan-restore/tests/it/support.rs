//! A snapshot of the demo table on a moto of its own, and the event that plans its restore.

use std::collections::BTreeSet;
use std::path::PathBuf;

use harness::Moto;
use kit::Step;
use plan_restore::{Output, PlanRestore, PlanRestoreError};

/// The snapshot bucket (each test has its own moto, so the name can be the real shape).
pub(crate) const SNAPSHOT: &str = "lake-prod-31-mar-2021";
pub(crate) const TARGET: &str = "lake-prod-restored";
pub(crate) const REPORTS: &str = "lakevault-reports";

/// The demo's table.
pub(crate) fn events() -> PathBuf {
    harness::workspace_root().join("local/fixtures/delta-table/events")
}

pub(crate) use harness::files_under as files_of;

pub(crate) async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: Vec<u8>) {
    harness::put_object(s3, bucket, key, body).await;
}

pub(crate) async fn keys(s3: &aws_sdk_s3::Client, bucket: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut pages = s3.list_objects_v2().bucket(bucket).into_paginator().send();
    while let Some(p) = pages.next().await {
        for o in p.unwrap().contents() {
            out.insert(o.key().unwrap().to_owned());
        }
    }
    out
}

pub(crate) use harness::get_object as get;

/// moto with the snapshot (the demo table at `events/`, minus `skip`), an empty target and the
/// report bucket.
pub(crate) struct Stage {
    pub(crate) moto: Moto,
    pub(crate) s3: aws_sdk_s3::Client,
}

impl Stage {
    pub(crate) async fn new() -> Stage {
        Self::without(&[]).await
    }

    /// The snapshot lacks these table-relative paths (vacuumed before the backup).
    pub(crate) async fn without(skip: &[&str]) -> Stage {
        let moto = Moto::start();
        let s3 = moto.s3();
        for b in [SNAPSHOT, TARGET, REPORTS] {
            s3.create_bucket().bucket(b).send().await.unwrap();
        }
        let dir = events();
        for rel in files_of(&dir) {
            if skip.contains(&rel.as_str()) {
                continue;
            }
            put(
                &s3,
                SNAPSHOT,
                &format!("events/{rel}"),
                std::fs::read(dir.join(&rel)).unwrap(),
            )
            .await;
        }
        Stage { moto, s3 }
    }

    pub(crate) fn event(&self, version: serde_json::Value, prefix: &str) -> serde_json::Value {
        serde_json::json!({
            "snapshot_bucket": SNAPSHOT,
            "table": "events",
            "version": version,
            "target": {"bucket": TARGET, "prefix": prefix},
            "report": {"bucket": REPORTS, "prefix": "reports"},
        })
    }

    pub(crate) async fn plan_event(
        &self,
        event: serde_json::Value,
    ) -> Result<Output, PlanRestoreError> {
        let step = PlanRestore::new(&self.moto.sdk_config());
        step.handle(serde_json::from_value(event).unwrap()).await
    }

    pub(crate) async fn plan(
        &self,
        version: serde_json::Value,
    ) -> Result<Output, PlanRestoreError> {
        self.plan_event(self.event(version, "events/")).await
    }
}

/// The data files (table-relative, decoded) of the demo table's version `v`, replayed from its
/// commits by hand here, independently of the kernel: adds minus removes of commits 0..=v.
pub(crate) fn live_files(v: u64) -> BTreeSet<String> {
    let mut live = BTreeSet::new();
    for c in 0..=v {
        let text =
            std::fs::read_to_string(events().join(format!("_delta_log/{c:020}.json"))).unwrap();
        for line in text.lines() {
            let a: serde_json::Value = serde_json::from_str(line).unwrap();
            let decode = |p: &str| {
                percent_encoding::percent_decode_str(p)
                    .decode_utf8()
                    .unwrap()
                    .into_owned()
            };
            if let Some(p) = a.pointer("/add/path").and_then(|p| p.as_str()) {
                live.insert(decode(p));
            }
            if let Some(p) = a.pointer("/remove/path").and_then(|p| p.as_str()) {
                live.remove(&decode(p));
            }
        }
    }
    live
}
