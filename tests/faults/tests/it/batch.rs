//! moto with the local S3 Batch Operations in front of it, and snapshots ready to submit: what
//! submit-job and await-job run against.

use aws_sdk_s3control::types::JobStatus;
use harness::{DEFAULT_ACCOUNT, Moto, unique_bucket};
use local_batch::testkit;
use local_batch::{BatchConfig, RunningBatch};
use serde_json::{Value, json};

use crate::support::{Env, Service};

/// The objects of every source bucket.
const KEYS: [&str; 3] = [
    "table/_delta_log/00000000000000000000.json",
    "table/part-0000.parquet",
    "table/date=2021-03-31/part 0001.parquet",
];

pub(crate) struct Batch {
    pub(crate) moto: Moto,
    pub(crate) batch: RunningBatch,
    pub(crate) s3: aws_sdk_s3::Client,
    pub(crate) control: aws_sdk_s3control::Client,
}

/// One snapshot's names and its submit-job event.
pub(crate) struct Snapshot {
    pub(crate) source: String,
    pub(crate) inventory: String,
    pub(crate) snapshot: String,
    pub(crate) etag: String,
    pub(crate) event: Value,
}

impl Snapshot {
    /// `(this snapshot's name, other's)` for every name: to compare two snapshots' results.
    pub(crate) fn names_onto<'a>(&'a self, other: &'a Snapshot) -> Vec<(&'a str, &'a str)> {
        vec![
            (self.source.as_str(), other.source.as_str()),
            (self.inventory.as_str(), other.inventory.as_str()),
            (self.snapshot.as_str(), other.snapshot.as_str()),
            (self.etag.as_str(), other.etag.as_str()),
        ]
    }
}

impl Batch {
    pub(crate) async fn start() -> Batch {
        let moto = Moto::start();
        let s3 = moto.s3();
        let batch = local_batch::spawn(BatchConfig::new(s3.clone()))
            .await
            .expect("the local S3 Batch Operations start");
        Batch {
            control: batch.s3control(&moto.sdk_config()),
            moto,
            batch,
            s3,
        }
    }

    /// The environment of a step run: S3 at moto, S3 Control at the local Batch Operations.
    pub(crate) fn env(&self) -> Env {
        Env::new(&self.moto.endpoint).with(Service::S3Control.variable(), &self.batch.url)
    }

    /// A source bucket with [`KEYS`], its inventory, an empty snapshot bucket; `tag` starts
    /// every name, so that no name of one case is part of another's.
    pub(crate) async fn snapshot(&self, tag: &str) -> Snapshot {
        let [source, inventory, snapshot] =
            ["src", "inv", "snap"].map(|what| unique_bucket(&format!("{tag}-{what}")));
        for b in [&source, &inventory, &snapshot] {
            self.s3.create_bucket().bucket(b).send().await.unwrap();
        }
        for k in KEYS {
            self.s3
                .put_object()
                .bucket(&source)
                .key(k)
                .body(k.as_bytes().to_vec().into())
                .send()
                .await
                .unwrap();
        }
        let listed: Vec<(String, i64)> = KEYS
            .iter()
            .map(|k| ((*k).to_owned(), k.len() as i64))
            .collect();
        let m = testkit::write_inventory(&self.s3, &inventory, "inventory", &source, &listed, 2)
            .await
            .unwrap();
        let event = json!({
            "account_id": DEFAULT_ACCOUNT,
            "source_bucket": source,
            "backup_date": "2021-03-31",
            "manifest": {"arn": m.arn, "etag": m.etag},
            "snapshot_bucket": snapshot,
            "role_arn": format!("arn:aws:iam::{DEFAULT_ACCOUNT}:role/lakevault-batch"),
            "report": {"bucket": inventory, "prefix": "batch-reports"},
        });
        Snapshot {
            source,
            inventory,
            snapshot,
            etag: m.etag,
            event,
        }
    }

    /// The ids of the jobs whose description names `snapshot` (all pages).
    pub(crate) async fn jobs_of(&self, snapshot: &str) -> Vec<String> {
        let mut pages = self
            .control
            .list_jobs()
            .account_id(DEFAULT_ACCOUNT)
            .into_paginator()
            .send();
        let mut ids = Vec::new();
        while let Some(page) = pages.next().await {
            for j in page.unwrap().jobs() {
                if j.description()
                    .is_some_and(|d| d.contains(&format!(" into {snapshot} ")))
                {
                    ids.extend(j.job_id().map(str::to_owned));
                }
            }
        }
        ids
    }

    /// What a job is, without what is the job's own (id, times, progress): two jobs of two
    /// snapshots compare equal once their names are mapped.
    pub(crate) async fn job_definition(&self, id: &str) -> Value {
        let job = testkit::describe_job(&self.control, DEFAULT_ACCOUNT, id)
            .await
            .unwrap();
        json!({
            "description": job.description(),
            "priority": job.priority(),
            "confirmation_required": job.confirmation_required(),
            "role_arn": job.role_arn(),
            "operation": format!("{:?}", job.operation()),
            "manifest": format!("{:?}", job.manifest()),
            "report": format!("{:?}", job.report()),
        })
    }

    /// Waits until the job has ended; its status.
    pub(crate) async fn finished(&self, id: &str) -> JobStatus {
        testkit::wait_for_job(&self.control, DEFAULT_ACCOUNT, id, None)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .status
            .unwrap()
    }
}
