//! The local Batch Operations against moto, driven by the real `aws-sdk-s3control` client.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3control::types::{
    JobManifest, JobManifestFormat, JobManifestLocation, JobManifestSpec, JobOperation, JobReport,
    JobReportFormat, JobReportScope, JobStatus, S3CopyObjectOperation, S3MetadataDirective,
    S3ObjectMetadata, S3StorageClass, S3Tag,
};
use harness::{DEFAULT_ACCOUNT, Moto, unique_bucket};
use local_batch::testkit::{WrittenManifest, write_csv_manifest, write_inventory};
use local_batch::{BatchConfig, RunningBatch};
use md5::{Digest, Md5};
use tokio::sync::Semaphore;

const ROLE: &str = "arn:aws:iam::123456789012:role/batch-operations";

struct Env {
    _moto: Moto,
    batch: RunningBatch,
    s3: aws_sdk_s3::Client,
    control: aws_sdk_s3control::Client,
}

async fn setup(tune: impl FnOnce(&mut BatchConfig)) -> Env {
    let moto = Moto::start();
    let s3 = moto.s3();
    let mut config = BatchConfig::new(s3.clone());
    tune(&mut config);
    let batch = local_batch::spawn(config).await.unwrap();
    let control = batch.s3control(&moto.sdk_config());
    Env {
        _moto: moto,
        batch,
        s3,
        control,
    }
}

async fn bucket(s3: &aws_sdk_s3::Client, prefix: &str) -> String {
    let b = unique_bucket(prefix);
    s3.create_bucket().bucket(&b).send().await.unwrap();
    b
}

async fn put(s3: &aws_sdk_s3::Client, b: &str, k: &str, body: &[u8]) {
    s3.put_object()
        .bucket(b)
        .key(k)
        .body(body.to_vec().into())
        .content_type("text/plain")
        .metadata("owner", "lake-team")
        .send()
        .await
        .unwrap();
}

fn copy_job(
    control: &aws_sdk_s3control::Client,
    token: &str,
    manifest: &WrittenManifest,
    format: JobManifestFormat,
    target: &str,
    report_bucket: &str,
) -> aws_sdk_s3control::operation::create_job::builders::CreateJobFluentBuilder {
    control
        .create_job()
        .account_id(DEFAULT_ACCOUNT)
        .client_request_token(token)
        .confirmation_required(false)
        .priority(10)
        .role_arn(ROLE)
        .description("test job")
        .tags(
            S3Tag::builder()
                .key("snapshot")
                .value(target)
                .build()
                .unwrap(),
        )
        .operation(
            JobOperation::builder()
                .s3_put_object_copy(
                    S3CopyObjectOperation::builder()
                        .target_resource(format!("arn:aws:s3:::{target}"))
                        .storage_class(S3StorageClass::Standard)
                        .build(),
                )
                .build(),
        )
        .manifest(
            JobManifest::builder()
                .spec(JobManifestSpec::builder().format(format).build().unwrap())
                .location(
                    JobManifestLocation::builder()
                        .object_arn(&manifest.arn)
                        .e_tag(&manifest.etag)
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .report(
            JobReport::builder()
                .enabled(true)
                .bucket(format!("arn:aws:s3:::{report_bucket}"))
                .prefix("reports")
                .format(JobReportFormat::ReportCsv20180820)
                .report_scope(JobReportScope::AllTasks)
                .build(),
        )
}

async fn describe(
    control: &aws_sdk_s3control::Client,
    id: &str,
) -> aws_sdk_s3control::types::JobDescriptor {
    control
        .describe_job()
        .account_id(DEFAULT_ACCOUNT)
        .job_id(id)
        .send()
        .await
        .unwrap()
        .job
        .unwrap()
}

/// Polls until the job reaches `want` (or any terminal status when `want` is None).
async fn wait_for(
    control: &aws_sdk_s3control::Client,
    id: &str,
    want: Option<JobStatus>,
) -> aws_sdk_s3control::types::JobDescriptor {
    for _ in 0..1200 {
        let job = describe(control, id).await;
        let status = job.status.clone().unwrap();
        let done = match &want {
            Some(w) => &status == w,
            None => matches!(
                status,
                JobStatus::Complete | JobStatus::Failed | JobStatus::Cancelled
            ),
        };
        if done {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("job {id} never reached {want:?}");
}

/// One report row: (bucket, key, version, status, http, code, message).
type Row = (String, String, String, String, String, String, String);

async fn read_report(s3: &aws_sdk_s3::Client, bucket: &str, id: &str) -> Vec<Row> {
    let get = |key: String| async move {
        s3.get_object()
            .bucket(bucket)
            .key(&key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{key}: {e:?}"))
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes()
            .to_vec()
    };
    let manifest: serde_json::Value =
        serde_json::from_slice(&get(format!("reports/job-{id}/manifest.json")).await).unwrap();
    assert_eq!(manifest["Format"], "Report_CSV_20180820");
    let mut rows = Vec::new();
    for r in manifest["Results"].as_array().unwrap() {
        let key = r["Key"].as_str().unwrap().to_owned();
        assert!(
            key.starts_with(&format!("reports/job-{id}/results/")),
            "{key}"
        );
        assert!(key.ends_with(".csv"));
        let body = get(key).await;
        assert_eq!(r["MD5Checksum"], hex::encode(Md5::digest(&body)));
        // Every field is quoted, as AWS writes them.
        assert!(body.starts_with(b"\""));
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(body.as_slice());
        for rec in rdr.deserialize::<Row>() {
            let rec = rec.unwrap();
            assert_eq!(rec.3, r["TaskExecutionStatus"].as_str().unwrap());
            rows.push(rec);
        }
    }
    rows.sort_by(|a, b| a.1.cmp(&b.1));
    rows
}

#[tokio::test]
async fn inventory_job_copies_reports_and_enforces_limits() {
    let env = setup(|c| c.max_copy_bytes = 100).await;
    let s3 = &env.s3;
    let src = bucket(s3, "src").await;
    let inv = bucket(s3, "inv").await;
    let dst = bucket(s3, "dst").await;
    let rep = bucket(s3, "rep").await;
    let keys = [
        "a.txt",
        "dir/with space+plus.parquet",
        "big.bin",
        "deleted.txt",
        "_delta_log/00000000000000000000.json",
    ];
    for k in keys {
        let body: &[u8] = if k == "big.bin" {
            &[7u8; 200]
        } else {
            b"hello"
        };
        put(s3, &src, k, body).await;
    }
    let listed: Vec<(String, i64)> = keys.iter().map(|k| ((*k).to_owned(), 5)).collect();
    // Two rows per data file: three gzip files.
    let manifest = write_inventory(s3, &inv, "inventory", &src, &listed, 2)
        .await
        .unwrap();
    s3.delete_object()
        .bucket(&src)
        .key("deleted.txt")
        .send()
        .await
        .unwrap();

    let id = copy_job(
        &env.control,
        "token-1",
        &manifest,
        JobManifestFormat::S3InventoryReportCsv20161130,
        &dst,
        &rep,
    )
    .send()
    .await
    .unwrap()
    .job_id
    .unwrap();

    let job = wait_for(&env.control, &id, None).await;
    assert_eq!(job.status, Some(JobStatus::Complete));
    let p = job.progress_summary.unwrap();
    assert_eq!(p.total_number_of_tasks, Some(5));
    assert_eq!(p.number_of_tasks_succeeded, Some(3));
    assert_eq!(p.number_of_tasks_failed, Some(2));
    assert_eq!(job.description.as_deref(), Some("test job"));
    assert_eq!(job.role_arn.as_deref(), Some(ROLE));
    assert!(job.termination_date.is_some());
    // The manifest and operation echo back as sent.
    let loc = job.manifest.unwrap().location.unwrap();
    assert_eq!(loc.e_tag, manifest.etag);
    assert!(job.operation.unwrap().s3_put_object_copy.is_some());

    for k in [
        "a.txt",
        "dir/with space+plus.parquet",
        "_delta_log/00000000000000000000.json",
    ] {
        let h = s3.head_object().bucket(&dst).key(k).send().await.unwrap();
        assert_eq!(h.content_type(), Some("text/plain"), "{k}");
        assert_eq!(
            h.metadata()
                .and_then(|m| m.get("owner"))
                .map(String::as_str),
            Some("lake-team"),
            "{k}"
        );
    }
    for k in ["big.bin", "deleted.txt"] {
        assert!(
            s3.head_object().bucket(&dst).key(k).send().await.is_err(),
            "{k}"
        );
    }

    let rows = read_report(s3, &rep, &id).await;
    let enc = local_batch::testkit::encode_key;
    let ok = |k: &str| {
        (
            src.clone(),
            enc(k),
            String::new(),
            "succeeded".to_owned(),
            "200".to_owned(),
            String::new(),
            "Successful".to_owned(),
        )
    };
    let mut want = vec![
        ok("a.txt"),
        ok("dir/with space+plus.parquet"),
        ok("_delta_log/00000000000000000000.json"),
        (
            src.clone(),
            "big.bin".to_owned(),
            String::new(),
            "failed".to_owned(),
            "400".to_owned(),
            "InvalidRequest".to_owned(),
            "The specified copy source is larger than the maximum allowable size for a copy source: 100".to_owned(),
        ),
        (
            src.clone(),
            "deleted.txt".to_owned(),
            String::new(),
            "failed".to_owned(),
            "404".to_owned(),
            "NoSuchKey".to_owned(),
            "The specified key does not exist.".to_owned(),
        ),
    ];
    want.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(rows, want);
}

#[tokio::test]
async fn client_request_token_is_idempotent() {
    let env = setup(|_| {}).await;
    let s3 = &env.s3;
    let src = bucket(s3, "src").await;
    let dst = bucket(s3, "dst").await;
    put(s3, &src, "k", b"x").await;
    let m = write_csv_manifest(s3, &src, "manifest.csv", &src, &["k".to_owned()])
        .await
        .unwrap();
    let job = |token: &str| {
        copy_job(
            &env.control,
            token,
            &m,
            JobManifestFormat::S3BatchOperationsCsv20180820,
            &dst,
            &src,
        )
    };
    let a = job("same").send().await.unwrap().job_id.unwrap();
    let b = job("same").send().await.unwrap().job_id.unwrap();
    assert_eq!(a, b);
    let c = job("other").send().await.unwrap().job_id.unwrap();
    assert_ne!(a, c);
    // The same token for a different request is refused.
    let err = job("same").priority(99).send().await.unwrap_err();
    assert!(err.into_service_error().is_idempotency_exception());
    let listed = env
        .control
        .list_jobs()
        .account_id(DEFAULT_ACCOUNT)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.jobs().len(), 2);
    // Jobs of an account are invisible to another.
    let other = env
        .control
        .describe_job()
        .account_id("210987654321")
        .job_id(&a)
        .send()
        .await
        .unwrap_err();
    let se = other.into_service_error();
    assert_eq!(
        aws_sdk_s3control::error::ProvideErrorMetadata::code(&se),
        Some("NoSuchJob")
    );
}

#[tokio::test]
async fn manifest_etag_mismatch_fails_the_job() {
    let env = setup(|_| {}).await;
    let s3 = &env.s3;
    let src = bucket(s3, "src").await;
    put(s3, &src, "k", b"x").await;
    let mut m = write_csv_manifest(s3, &src, "manifest.csv", &src, &["k".to_owned()])
        .await
        .unwrap();
    m.etag = "0123456789abcdef0123456789abcdef".to_owned();
    let id = copy_job(
        &env.control,
        "t",
        &m,
        JobManifestFormat::S3BatchOperationsCsv20180820,
        &src,
        &src,
    )
    .send()
    .await
    .unwrap()
    .job_id
    .unwrap();
    let job = wait_for(&env.control, &id, None).await;
    assert_eq!(job.status, Some(JobStatus::Failed));
    let reasons = job.failure_reasons();
    assert_eq!(reasons.len(), 1);
    assert_eq!(reasons[0].failure_code(), Some("InvalidManifest"));
    assert!(reasons[0].failure_reason().unwrap().contains("ETag"));
    assert_eq!(job.progress_summary.unwrap().total_number_of_tasks, Some(0));
}

#[tokio::test]
async fn failure_rate_rule_fails_the_job() {
    let env = setup(|c| {
        c.failure_rule_min_tasks = 4;
        c.concurrency = 1;
    })
    .await;
    let s3 = &env.s3;
    let src = bucket(s3, "src").await;
    let keys: Vec<String> = (0..8).map(|i| format!("missing-{i}")).collect();
    let m = write_csv_manifest(s3, &src, "manifest.csv", &src, &keys)
        .await
        .unwrap();
    let id = copy_job(
        &env.control,
        "t",
        &m,
        JobManifestFormat::S3BatchOperationsCsv20180820,
        &src,
        &src,
    )
    .send()
    .await
    .unwrap()
    .job_id
    .unwrap();
    let job = wait_for(&env.control, &id, None).await;
    assert_eq!(job.status, Some(JobStatus::Failed));
    let p = job.progress_summary.clone().unwrap();
    assert_eq!(p.total_number_of_tasks, Some(8));
    assert_eq!(p.number_of_tasks_failed, Some(4));
    assert_eq!(
        job.failure_reasons()[0].failure_code(),
        Some("TaskFailureRateExceeded")
    );
    // The tasks that ran are reported, also for a failed job.
    assert_eq!(read_report(s3, &src, &id).await.len(), 4);
}

#[tokio::test]
async fn lifecycle_steps_through_its_states() {
    let gate = Arc::new(Semaphore::new(0));
    let g = Arc::clone(&gate);
    let env = setup(move |c| c.phase_gate = Some(g)).await;
    let s3 = &env.s3;
    let src = bucket(s3, "src").await;
    put(s3, &src, "k", b"x").await;
    let m = write_csv_manifest(s3, &src, "manifest.csv", &src, &["k".to_owned()])
        .await
        .unwrap();
    let dst = bucket(s3, "dst").await;
    let id = copy_job(
        &env.control,
        "t",
        &m,
        JobManifestFormat::S3BatchOperationsCsv20180820,
        &dst,
        &src,
    )
    .send()
    .await
    .unwrap()
    .job_id
    .unwrap();
    assert_eq!(
        describe(&env.control, &id).await.status,
        Some(JobStatus::New)
    );
    let listed = env
        .control
        .list_jobs()
        .account_id(DEFAULT_ACCOUNT)
        .job_statuses(JobStatus::New)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.jobs()[0].job_id(), Some(id.as_str()));
    gate.add_permits(1);
    wait_for(&env.control, &id, Some(JobStatus::Preparing)).await;
    gate.add_permits(1);
    let active = wait_for(&env.control, &id, Some(JobStatus::Active)).await;
    assert_eq!(
        active.progress_summary.unwrap().total_number_of_tasks,
        Some(1)
    );

    env.control
        .update_job_priority()
        .account_id(DEFAULT_ACCOUNT)
        .job_id(&id)
        .priority(42)
        .send()
        .await
        .unwrap();
    let tags = env
        .control
        .get_job_tagging()
        .account_id(DEFAULT_ACCOUNT)
        .job_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tags()[0].key(), "snapshot");
    assert_eq!(tags.tags()[0].value(), dst);

    gate.add_permits(1);
    let done = wait_for(&env.control, &id, None).await;
    assert_eq!(done.status, Some(JobStatus::Complete));
    assert_eq!(done.priority, 42);
    assert!(env.batch.state.config().phase_gate.is_some());
}

#[tokio::test]
async fn confirmation_required_suspends_until_ready() {
    let env = setup(|_| {}).await;
    let s3 = &env.s3;
    let src = bucket(s3, "src").await;
    let dst = bucket(s3, "dst").await;
    put(s3, &src, "k", b"x").await;
    let m = write_csv_manifest(s3, &src, "manifest.csv", &src, &["k".to_owned()])
        .await
        .unwrap();
    let id = copy_job(
        &env.control,
        "t",
        &m,
        JobManifestFormat::S3BatchOperationsCsv20180820,
        &dst,
        &src,
    )
    .confirmation_required(true)
    .send()
    .await
    .unwrap()
    .job_id
    .unwrap();
    wait_for(&env.control, &id, Some(JobStatus::Suspended)).await;
    let out = env
        .control
        .update_job_status()
        .account_id(DEFAULT_ACCOUNT)
        .job_id(&id)
        .requested_job_status(aws_sdk_s3control::types::RequestedJobStatus::Ready)
        .status_update_reason("approved")
        .send()
        .await
        .unwrap();
    assert_eq!(out.status, Some(JobStatus::Ready));
    let done = wait_for(&env.control, &id, None).await;
    assert_eq!(done.status, Some(JobStatus::Complete));
    assert_eq!(done.status_update_reason.as_deref(), Some("approved"));
    // A finished job cannot be cancelled.
    let err = env
        .control
        .update_job_status()
        .account_id(DEFAULT_ACCOUNT)
        .job_id(&id)
        .requested_job_status(aws_sdk_s3control::types::RequestedJobStatus::Cancelled)
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_job_status_exception());
}

#[tokio::test]
async fn replace_metadata_and_prefix_are_honoured() {
    let env = setup(|_| {}).await;
    let s3 = &env.s3;
    let src = bucket(s3, "src").await;
    let dst = bucket(s3, "dst").await;
    put(s3, &src, "k", b"x").await;
    let m = write_csv_manifest(s3, &src, "manifest.csv", &src, &["k".to_owned()])
        .await
        .unwrap();
    let op = S3CopyObjectOperation::builder()
        .target_resource(format!("arn:aws:s3:::{dst}"))
        .target_key_prefix("copied")
        .storage_class(S3StorageClass::GlacierIr)
        .metadata_directive(S3MetadataDirective::Replace)
        .new_object_metadata(
            S3ObjectMetadata::builder()
                .content_type("application/x-test")
                .user_metadata("copied-by", "batch")
                .build(),
        )
        .build();
    let id = copy_job(
        &env.control,
        "t",
        &m,
        JobManifestFormat::S3BatchOperationsCsv20180820,
        &dst,
        &src,
    )
    .operation(JobOperation::builder().s3_put_object_copy(op).build())
    .send()
    .await
    .unwrap()
    .job_id
    .unwrap();
    assert_eq!(
        wait_for(&env.control, &id, None).await.status,
        Some(JobStatus::Complete)
    );
    let h = s3
        .head_object()
        .bucket(&dst)
        .key("copied/k")
        .send()
        .await
        .unwrap();
    assert_eq!(h.content_type(), Some("application/x-test"));
    let meta: HashMap<String, String> = h.metadata().cloned().unwrap_or_default();
    assert_eq!(meta.get("copied-by").map(String::as_str), Some("batch"));
    assert_eq!(h.storage_class().map(|s| s.as_str()), Some("GLACIER_IR"));
}

#[tokio::test]
async fn a_role_of_another_account_cannot_be_passed() {
    let env = setup(|_| {}).await;
    let s3 = &env.s3;
    let src = bucket(s3, "src").await;
    let m = write_csv_manifest(s3, &src, "manifest.csv", &src, &["k".to_owned()])
        .await
        .unwrap();
    let err = copy_job(
        &env.control,
        "t",
        &m,
        JobManifestFormat::S3BatchOperationsCsv20180820,
        &src,
        &src,
    )
    .role_arn("arn:aws:iam::210987654321:role/theirs")
    .send()
    .await
    .unwrap_err();
    let raw_status = err.raw_response().map(|r| r.status().as_u16());
    assert_eq!(raw_status, Some(403));
    let se = err.into_service_error();
    assert_eq!(
        aws_sdk_s3control::error::ProvideErrorMetadata::code(&se),
        Some("AccessDenied")
    );
    // A malformed one is a bad request.
    let err = copy_job(
        &env.control,
        "t2",
        &m,
        JobManifestFormat::S3BatchOperationsCsv20180820,
        &src,
        &src,
    )
    .role_arn("batch")
    .send()
    .await
    .unwrap_err();
    let se = err.into_service_error();
    assert_eq!(
        aws_sdk_s3control::error::ProvideErrorMetadata::code(&se),
        Some("InvalidRequest")
    );
}
