//! Uploading fixture tables into moto, with objects left out or changed on the way.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aws_sdk_s3::primitives::ByteStream;
use harness::Moto;
use kit::Step;
use kit::verification::Verification;
use verify_snapshot::{TablesRecord, VerifyError, VerifySnapshot};

/// The demo's table: versions 0..9, a checkpoint at 5, removes at 6 and 7; the backup date
/// 2021-03-31 dates to version 8.
pub(crate) fn events() -> PathBuf {
    harness::workspace_root().join("local/fixtures/delta-table/events")
}

/// A table of `steps/verify-snapshot/tests/fixtures`.
pub(crate) fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Every file under `dir`, by its path relative to it (`/`-separated), sorted.
pub(crate) fn files_of(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap())
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let p = e.path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                let rel = p.strip_prefix(base).unwrap();
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out
}

/// The `add.path`s (URI-decoded) and sizes a commit adds.
pub(crate) fn added_in(table: &Path, version: u64) -> Vec<(String, u64)> {
    let text =
        std::fs::read_to_string(table.join(format!("_delta_log/{version:020}.json"))).unwrap();
    text.lines()
        .filter_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).ok()?;
            let add = v.get("add")?;
            let path = add.get("path")?.as_str()?;
            let decoded = percent_encoding::percent_decode_str(path)
                .decode_utf8()
                .unwrap()
                .into_owned();
            Some((decoded, add.get("size")?.as_u64()?))
        })
        .collect()
}

/// How a table is uploaded: files left out, files replaced.
#[derive(Default)]
pub(crate) struct Upload {
    /// Relative paths not uploaded.
    pub(crate) skip: Vec<String>,
    /// Relative path → the bytes uploaded instead.
    pub(crate) replace: BTreeMap<String, Vec<u8>>,
}

/// Uploads the table at `dir` under `prefix` (`""` or ending in `/`).
pub(crate) async fn upload(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    dir: &Path,
    how: &Upload,
) {
    for rel in files_of(dir) {
        if how.skip.contains(&rel) {
            continue;
        }
        let body = match how.replace.get(&rel) {
            Some(b) => b.clone(),
            None => std::fs::read(dir.join(&rel)).unwrap(),
        };
        put(s3, bucket, &format!("{prefix}{rel}"), body).await;
    }
}

/// One PutObject.
pub(crate) async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: Vec<u8>) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body))
        .send()
        .await
        .unwrap();
}

/// One GetObject's bytes.
pub(crate) async fn get(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Vec<u8> {
    let o = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    o.body.collect().await.unwrap().to_vec()
}

/// A snapshot bucket and a report bucket on a moto of their own.
pub(crate) struct Stage {
    pub(crate) moto: Moto,
    pub(crate) s3: aws_sdk_s3::Client,
    pub(crate) snapshot: String,
    pub(crate) reports: String,
}

pub(crate) const JOB: &str = "f8fb9d89-a3aa-461d-bddc-ea6a1b131955";

impl Stage {
    pub(crate) async fn new() -> Stage {
        let moto = Moto::start();
        let s3 = moto.s3();
        let snapshot = harness::unique_bucket("lake-prod-31-mar-2021");
        let reports = harness::unique_bucket("reports");
        for b in [&snapshot, &reports] {
            s3.create_bucket().bucket(b).send().await.unwrap();
        }
        Stage {
            moto,
            s3,
            snapshot,
            reports,
        }
    }

    pub(crate) fn event(&self) -> serde_json::Value {
        serde_json::json!({
            "source_bucket": "lake-prod",
            "backup_date": "2021-03-31",
            "snapshot_bucket": self.snapshot,
            "job_id": JOB,
            "report": {"bucket": format!("arn:aws:s3:::{}", self.reports), "prefix": "batch-reports"},
        })
    }

    /// Runs the step's handler on [`Stage::event`].
    pub(crate) async fn verify(&self) -> Result<Verification, VerifyError> {
        let step = VerifySnapshot::new(&self.moto.sdk_config());
        let input = serde_json::from_value(self.event()).unwrap();
        step.handle(input).await
    }

    /// Verifies and reads back the record the step wrote.
    pub(crate) async fn verify_and_read(&self) -> (Verification, TablesRecord) {
        let v = self.verify().await.unwrap();
        let bytes = get(&self.s3, &v.record.bucket, &v.record.key).await;
        (v, serde_json::from_slice(&bytes).unwrap())
    }
}
