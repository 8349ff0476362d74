//! submit-job against moto + the local Batch Operations, and error paths with aws-smithy-mocks.

use std::sync::Arc;

use aws_sdk_s3control::types::{JobStatus, RequestedJobStatus};
use aws_smithy_mocks::{mock, mock_client};
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;
use harness::{DEFAULT_ACCOUNT, Moto, unique_bucket};
use kit::{Step, StepError};
use local_batch::testkit;
use local_batch::{BatchConfig, RunningBatch};
use md5::Digest as _;
use submit_job::{Input, ManifestRef, ReportTarget, SubmitJob, client_request_token, plan};
use tokio::sync::Semaphore;

pub(crate) struct Env {
    pub(crate) moto: Moto,
    pub(crate) batch: RunningBatch,
    pub(crate) s3: aws_sdk_s3::Client,
    pub(crate) control: aws_sdk_s3control::Client,
}

pub(crate) async fn setup(gate: Option<Arc<Semaphore>>) -> Env {
    let moto = Moto::start();
    let s3 = moto.s3();
    let mut config = BatchConfig::new(s3.clone());
    config.phase_gate = gate;
    let batch = local_batch::spawn(config).await.unwrap();
    Env {
        control: batch.s3control(&moto.sdk_config()),
        moto,
        batch,
        s3,
    }
}

const KEYS: [&str; 3] = [
    "part-0001.parquet",
    "_delta_log/00000000000000000000.json",
    "a b/c+d.parquet",
];

/// Source objects with metadata, an inventory of them, a snapshot and a report bucket.
async fn snapshot_input(env: &Env) -> Input {
    let s3 = &env.s3;
    let [src, inv, snap] = [
        unique_bucket("lake"),
        unique_bucket("inv"),
        unique_bucket("snap"),
    ];
    for b in [&src, &inv, &snap] {
        s3.create_bucket().bucket(b).send().await.unwrap();
    }
    for k in KEYS {
        s3.put_object()
            .bucket(&src)
            .key(k)
            .body(k.as_bytes().to_vec().into())
            .content_type("application/octet-stream")
            .metadata("table", "sales")
            .send()
            .await
            .unwrap();
    }
    let listed: Vec<(String, i64)> = KEYS
        .iter()
        .map(|k| ((*k).to_owned(), k.len() as i64))
        .collect();
    let m = testkit::write_inventory(s3, &inv, "inventory", &src, &listed, 2)
        .await
        .unwrap();
    Input {
        account_id: DEFAULT_ACCOUNT.into(),
        source_bucket: src,
        backup_date: "2021-03-31".parse().unwrap(),
        manifest: ManifestRef {
            arn: m.arn,
            etag: format!("\"{}\"", m.etag),
            format: None,
        },
        snapshot_bucket: snap,
        role_arn: "arn:aws:iam::123456789012:role/lakevault-batch".into(),
        report: ReportTarget {
            bucket: inv,
            prefix: "batch-reports".into(),
        },
        priority: None,
        storage_class: None,
        retain_until: None,
        object_lock_mode: None,
        restore: None,
    }
}

/// How many jobs the account has (one page: a test makes few).
pub(crate) async fn job_count(control: &aws_sdk_s3control::Client) -> usize {
    let jobs = control
        .list_jobs()
        .account_id(DEFAULT_ACCOUNT)
        .send()
        .await
        .unwrap();
    jobs.jobs().len()
}

/// Waits until the job has ended; its status.
pub(crate) async fn wait_terminal(control: &aws_sdk_s3control::Client, id: &str) -> JobStatus {
    testkit::wait_for_job(control, DEFAULT_ACCOUNT, id, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .status
        .unwrap()
}

#[tokio::test]
async fn a_rerun_with_other_settings_is_a_job_conflict_and_changes_nothing() {
    let env = setup(None).await;
    let input = snapshot_input(&env).await;
    let step = SubmitJob::new(env.control.clone());
    let first = step.handle(input.clone()).await.unwrap();
    assert!(first.created);

    type Change = Box<dyn Fn(&mut Input)>;
    let changes: Vec<(&str, Change)> = vec![
        (
            "report.prefix",
            Box::new(|i| i.report.prefix = "other-reports".into()),
        ),
        (
            "storage_class",
            Box::new(|i| i.storage_class = Some("GLACIER_IR".into())),
        ),
        ("priority", Box::new(|i| i.priority = Some(99))),
        (
            "retain_until / object_lock_mode",
            Box::new(|i| i.retain_until = Some("2031-01-01T00:00:00Z".into())),
        ),
        (
            "role_arn",
            Box::new(|i| i.role_arn = "arn:aws:iam::123456789012:role/other".into()),
        ),
    ];
    for (setting, change) in changes {
        let mut other = input.clone();
        change(&mut other);
        let err = step.handle(other).await.unwrap_err();
        match &err {
            submit_job::SubmitJobError::JobConflict {
                job_id,
                differences,
            } => {
                assert_eq!(job_id, &first.job_id);
                assert_eq!(differences.len(), 1, "{err}");
                assert_eq!(differences[0].setting, setting, "{err}");
            }
            other => panic!("{setting}: expected JobConflict, got {other:?}"),
        }
        assert!(err.to_string().contains("cancel"), "{err}");
    }
    // Nothing was created by the refused re-runs, and the same input still converges.
    assert_eq!(job_count(&env.control).await, 1);
    let again = step.handle(input).await.unwrap();
    assert_eq!((again.job_id, again.created), (first.job_id, false));
}

#[tokio::test]
async fn submits_once_and_the_job_copies_the_snapshot() {
    let env = setup(None).await;
    let input = snapshot_input(&env).await;
    let step = SubmitJob::new(env.control.clone());
    let first = step.handle(input.clone()).await.unwrap();
    assert!(first.created);
    let again = step.handle(input.clone()).await.unwrap();
    assert_eq!(again.job_id, first.job_id);
    assert!(!again.created);
    assert_eq!(job_count(&env.control).await, 1);

    assert_eq!(
        wait_terminal(&env.control, &first.job_id).await,
        JobStatus::Complete
    );
    for k in KEYS {
        let h = env
            .s3
            .head_object()
            .bucket(&input.snapshot_bucket)
            .key(k)
            .send()
            .await
            .unwrap();
        assert_eq!(
            h.metadata().unwrap().get("table").map(String::as_str),
            Some("sales"),
            "{k}"
        );
        assert_eq!(h.content_type(), Some("application/octet-stream"));
    }
    // The job identifies the snapshot, and a still-submitted job keeps being returned.
    let tags = env
        .control
        .get_job_tagging()
        .account_id(DEFAULT_ACCOUNT)
        .job_id(&first.job_id)
        .send()
        .await
        .unwrap();
    assert!(
        tags.tags()
            .iter()
            .any(|t| t.key() == "lakevault:source-bucket" && t.value() == input.source_bucket)
    );
    assert!(!step.handle(input.clone()).await.unwrap().created);

    // The report covers all tasks.
    let manifest = harness::get_object(
        &env.s3,
        &input.report.bucket,
        &format!("batch-reports/job-{}/manifest.json", first.job_id),
    )
    .await;
    let manifest: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    let results = manifest["Results"].as_array().unwrap();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["TaskExecutionStatus"], "succeeded");
    let csv = harness::get_object(
        &env.s3,
        &input.report.bucket,
        results[0]["Key"].as_str().unwrap(),
    )
    .await;
    assert_eq!(
        results[0]["MD5Checksum"],
        hex::encode(md5::Md5::digest(&csv))
    );
    assert_eq!(csv.iter().filter(|b| **b == b'\n').count(), KEYS.len());
}

#[tokio::test]
async fn a_cancelled_job_is_replaced_by_a_new_one() {
    let gate = Arc::new(Semaphore::new(0));
    let env = setup(Some(Arc::clone(&gate))).await;
    let input = snapshot_input(&env).await;
    let step = SubmitJob::new(env.control.clone());
    let first = step.handle(input.clone()).await.unwrap();
    env.control
        .update_job_status()
        .account_id(DEFAULT_ACCOUNT)
        .job_id(&first.job_id)
        .requested_job_status(RequestedJobStatus::Cancelled)
        .send()
        .await
        .unwrap();
    let second = step.handle(input.clone()).await.unwrap();
    assert!(second.created);
    assert_ne!(second.job_id, first.job_id);
    // …and that one is now the snapshot's job.
    let third = step.handle(input).await.unwrap();
    assert_eq!((third.job_id, third.created), (second.job_id, false));
    drop(gate);
}

#[tokio::test]
async fn a_role_that_cannot_be_passed_is_access_denied() {
    let env = setup(None).await;
    let mut input = snapshot_input(&env).await;
    input.role_arn = "arn:aws:iam::210987654321:role/someone-elses".into();
    let err = SubmitJob::new(env.control.clone())
        .handle(input)
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "AccessDenied", "{err}");
}

#[tokio::test]
async fn the_binary_works_against_the_local_endpoint() {
    let env = setup(None).await;
    let input = snapshot_input(&env).await;
    let event = serde_json::json!({
        "account_id": input.account_id,
        "source_bucket": input.source_bucket,
        "backup_date": "2021-03-31",
        "manifest": {"arn": input.manifest.arn, "etag": input.manifest.etag, "bucket": "x", "key": "y"},
        "snapshot_bucket": input.snapshot_bucket,
        "role_arn": input.role_arn,
        "report": {"bucket": input.report.bucket, "prefix": "r"},
        "storage_class": "GLACIER_IR",
        "extra": "ignored",
    });
    // Async: the local service runs on this test's runtime and must keep serving.
    let mut env_vars = env.moto.env();
    env_vars.push(("AWS_ENDPOINT_URL_S3_CONTROL".into(), env.batch.url.clone()));
    let (code, v) = harness::run_step_binary(
        env!("CARGO_BIN_EXE_submit-job"),
        &env_vars,
        event.to_string(),
    )
    .await;
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["created"], true);
    let id = v["job_id"].as_str().unwrap();
    assert_eq!(wait_terminal(&env.control, id).await, JobStatus::Complete);
    let h = env
        .s3
        .head_object()
        .bucket(&input.snapshot_bucket)
        .key(KEYS[0])
        .send()
        .await
        .unwrap();
    assert_eq!(h.storage_class().map(|s| s.as_str()), Some("GLACIER_IR"));
}

pub(crate) fn base_input() -> Input {
    Input {
        account_id: DEFAULT_ACCOUNT.into(),
        source_bucket: "lake-prod".into(),
        backup_date: "2021-03-31".parse().unwrap(),
        manifest: ManifestRef {
            arn: "arn:aws:s3:::inv/inventory/lake-prod/daily/2021-04-02T00-00Z/manifest.json"
                .into(),
            etag: "\"0cc175b9c0f1b6a831c399e269772661\"".into(),
            format: None,
        },
        snapshot_bucket: "lake-prod-31-mar-2021".into(),
        role_arn: "arn:aws:iam::123456789012:role/batch".into(),
        report: ReportTarget {
            bucket: "reports".into(),
            prefix: "r".into(),
        },
        priority: None,
        storage_class: None,
        retain_until: None,
        object_lock_mode: None,
        restore: None,
    }
}

#[test]
fn the_token_is_deterministic_and_bounded() {
    let p = plan(&base_input()).unwrap();
    // Quotes stripped.
    assert_eq!(p.etag, "0cc175b9c0f1b6a831c399e269772661");
    assert_eq!(p.storage_class, "STANDARD");
    assert_eq!(p.priority, 10);
    assert!(p.description.len() <= 256);
    let t = client_request_token(&p.identity, 0);
    assert_eq!(t.len(), 64);
    assert_eq!(
        t,
        client_request_token(&plan(&base_input()).unwrap().identity, 0)
    );
    assert_ne!(t, client_request_token(&p.identity, 1));
}

#[test]
fn bad_input_names_the_field() {
    type Edit = Box<dyn Fn(&mut Input)>;
    let cases: Vec<(&str, Edit)> = vec![
        ("$.account_id", Box::new(|i| i.account_id = "1".into())),
        (
            "$.manifest.arn",
            Box::new(|i| i.manifest.arn = "s3://x/y".into()),
        ),
        (
            "$.manifest.etag",
            Box::new(|i| i.manifest.etag = "\"\"".into()),
        ),
        (
            "$.snapshot_bucket",
            Box::new(|i| i.snapshot_bucket = "Bad_Bucket".into()),
        ),
        ("$.role_arn", Box::new(|i| i.role_arn = "batch".into())),
        (
            "$.storage_class",
            Box::new(|i| i.storage_class = Some("COLD".into())),
        ),
        (
            "$.retain_until",
            Box::new(|i| i.retain_until = Some("tomorrow".into())),
        ),
        (
            "$.retain_until",
            Box::new(|i| i.retain_until = Some("2021-01-01T00:00:00Z".into())),
        ),
        (
            "$.manifest.etag",
            Box::new(|i| i.manifest.etag = "f".repeat(1 << 20)),
        ),
        (
            "$.role_arn",
            Box::new(|i| i.role_arn = "arn:aws-xx:iam::123456789012:role/batch".into()),
        ),
        (
            "$.object_lock_mode",
            Box::new(|i| {
                i.retain_until = Some("2031-01-01T00:00:00Z".into());
                i.object_lock_mode = Some("LOOSE".into());
            }),
        ),
        ("$.priority", Box::new(|i| i.priority = Some(-1))),
    ];
    for (path, f) in cases {
        let mut i = base_input();
        f(&mut i);
        assert_eq!(plan(&i).unwrap_err().path, path);
    }
    let mut i = base_input();
    i.retain_until = Some("2031-01-01T00:00:00Z".into());
    assert_eq!(plan(&i).unwrap().lock.unwrap().0, "GOVERNANCE");
}

pub(crate) fn xml_error(status: u16, code: &str) -> Response {
    Response::new(
        StatusCode::try_from(status).unwrap(),
        SdkBody::from(format!(
            "<ErrorResponse><Error><Code>{code}</Code><Message>m</Message></Error><RequestId>r</RequestId></ErrorResponse>"
        )),
    )
}

async fn create_fails_with(status: u16, code: &'static str) -> &'static str {
    let list = mock!(aws_sdk_s3control::Client::list_jobs)
        .then_output(|| aws_sdk_s3control::operation::list_jobs::ListJobsOutput::builder().build());
    let create = mock!(aws_sdk_s3control::Client::create_job)
        .then_http_response(move || xml_error(status, code));
    let client = mock_client!(aws_sdk_s3control, &[&list, &create]);
    SubmitJob::new(client)
        .handle(base_input())
        .await
        .unwrap_err()
        .error_type()
}

#[tokio::test]
async fn throttling_denial_and_refusal_map_to_their_error_types() {
    assert_eq!(
        create_fails_with(400, "TooManyRequestsException").await,
        "Transient"
    );
    assert_eq!(
        create_fails_with(500, "InternalServiceException").await,
        "Transient"
    );
    assert_eq!(create_fails_with(403, "AccessDenied").await, "AccessDenied");
    assert_eq!(
        create_fails_with(400, "BadRequestException").await,
        "JobRejected"
    );
    assert_eq!(
        create_fails_with(409, "IdempotencyException").await,
        "JobRejected"
    );

    let list = mock!(aws_sdk_s3control::Client::list_jobs)
        .then_http_response(|| xml_error(400, "TooManyRequestsException"));
    let client = mock_client!(aws_sdk_s3control, &[&list]);
    let err = SubmitJob::new(client)
        .handle(base_input())
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "Transient");

    // An error listing jobs is not the job being refused: it is S3 Control answering something
    // unexpected, reported with its operation and code.
    let list = mock!(aws_sdk_s3control::Client::list_jobs)
        .then_http_response(|| xml_error(400, "InvalidRequest"));
    let client = mock_client!(aws_sdk_s3control, &[&list]);
    let err = SubmitJob::new(client)
        .handle(base_input())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, submit_job::SubmitJobError::ServiceError(s) if s.operation == "ListJobs" && s.is("InvalidRequest")),
        "{err:?}"
    );
}
