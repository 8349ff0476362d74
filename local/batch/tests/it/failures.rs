//! Jobs that fail as a whole: the manifest, the failure-rate rule.

use aws_sdk_s3control::types::{JobDescriptor, JobManifestFormat, JobStatus};
use local_batch::testkit::{self, WrittenManifest};

use crate::support::{
    Env, bucket, copy_job, csv_manifest, put, read_report, setup, submit, wait_for,
};

const CSV: JobManifestFormat = JobManifestFormat::S3BatchOperationsCsv20180820;
const INVENTORY: JobManifestFormat = JobManifestFormat::S3InventoryReportCsv20161130;

/// Runs a job of `manifest` (read as `format`) copying into `bucket` and reporting there, to its
/// end.
async fn run_in(
    env: &Env,
    manifest: &WrittenManifest,
    format: JobManifestFormat,
    bucket: &str,
) -> JobDescriptor {
    let id = submit(copy_job(
        &env.control,
        "t",
        manifest,
        format,
        bucket,
        bucket,
    ))
    .await;
    wait_for(&env.control, &id, None).await
}

#[tokio::test]
async fn a_manifest_whose_etag_differs_fails_the_job_as_invalid_manifest() {
    let env = setup(|_| {}).await;
    let s3 = &env.s3;
    let src = bucket(s3, "src").await;
    put(s3, &src, "k", b"x").await;
    let mut m = csv_manifest(s3, &src, &["k".to_owned()]).await;
    m.etag = "0123456789abcdef0123456789abcdef".to_owned();
    let job = run_in(&env, &m, CSV, &src).await;
    assert_eq!(job.status, Some(JobStatus::Failed));
    let reasons = job.failure_reasons();
    assert_eq!(reasons.len(), 1);
    assert_eq!(reasons[0].failure_code(), Some("InvalidManifest"));
    assert!(reasons[0].failure_reason().unwrap().contains("ETag"));
    assert_eq!(job.progress_summary.unwrap().total_number_of_tasks, Some(0));
}

#[tokio::test]
async fn too_many_failed_tasks_fail_the_job_and_the_tasks_run_are_reported() {
    let env = setup(|c| {
        c.failure_rule_min_tasks = 4;
        c.concurrency = 1;
    })
    .await;
    let s3 = &env.s3;
    let src = bucket(s3, "src").await;
    let keys: Vec<String> = (0..8).map(|i| format!("missing-{i}")).collect();
    let m = csv_manifest(s3, &src, &keys).await;
    let job = run_in(&env, &m, CSV, &src).await;
    assert_eq!(job.status, Some(JobStatus::Failed));
    let p = job.progress_summary.clone().unwrap();
    assert_eq!(p.total_number_of_tasks, Some(8));
    assert_eq!(p.number_of_tasks_failed, Some(4));
    assert_eq!(
        job.failure_reasons()[0].failure_code(),
        Some("TaskFailureRateExceeded")
    );
    // The tasks that ran are reported, also for a failed job.
    let id = job.job_id.as_deref().unwrap();
    assert_eq!(read_report(s3, &src, id).await.len(), 4);
}

#[tokio::test]
async fn a_manifest_over_the_size_cap_fails_the_job_as_invalid_manifest() {
    let env = setup(|c| c.max_manifest_bytes = 10).await;
    let s3 = &env.s3;
    let src = bucket(s3, "src").await;
    let keys: Vec<String> = (0..4).map(|i| format!("key-{i}")).collect();
    let m = csv_manifest(s3, &src, &keys).await;
    let job = run_in(&env, &m, CSV, &src).await;
    assert_eq!(job.status, Some(JobStatus::Failed));
    let reasons = job.failure_reasons();
    assert_eq!(reasons[0].failure_code(), Some("InvalidManifest"));
    assert!(
        reasons[0]
            .failure_reason()
            .unwrap()
            .contains("larger than 10 bytes"),
        "{reasons:?}"
    );
    assert_eq!(job.progress_summary.unwrap().total_number_of_tasks, Some(0));
}

#[tokio::test]
async fn an_inventory_data_file_inflating_past_the_cap_fails_the_job() {
    let env = setup(|c| c.max_manifest_bytes = 2000).await;
    let s3 = &env.s3;
    let src = bucket(s3, "src").await;
    let inv = bucket(s3, "inv").await;
    // 200 alike rows: a few hundred bytes of gzip, several KiB of CSV.
    let listed: Vec<(String, i64)> = (0..200).map(|i| (format!("part-{i:05}"), 5)).collect();
    let m = testkit::write_inventory(s3, &inv, "inventory", &src, &listed, 1000)
        .await
        .unwrap();
    let job = run_in(&env, &m, INVENTORY, &src).await;
    assert_eq!(job.status, Some(JobStatus::Failed));
    let reason = job.failure_reasons()[0]
        .failure_reason()
        .unwrap()
        .to_owned();
    assert!(
        reason.contains("decompresses to more than 2000 bytes"),
        "{reason}"
    );
}
