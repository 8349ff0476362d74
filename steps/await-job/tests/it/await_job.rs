//! await-job against moto + the local Batch Operations, and error paths with aws-smithy-mocks.

use std::sync::Arc;

use await_job::{AwaitJob, AwaitJobError, Input, Output};
use aws_sdk_s3control::types::JobManifestFormat;
use aws_smithy_mocks::{mock, mock_client};
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;
use harness::{DEFAULT_ACCOUNT, Moto, unique_bucket};
use kit::{Step, StepError};
use local_batch::testkit;
use local_batch::{BatchConfig, RunningBatch};
use tokio::sync::Semaphore;

struct Env {
    _moto: Moto,
    _batch: RunningBatch,
    s3: aws_sdk_s3::Client,
    control: aws_sdk_s3control::Client,
}

async fn setup(gate: Option<Arc<Semaphore>>) -> Env {
    let moto = Moto::start();
    let s3 = moto.s3();
    let mut config = BatchConfig::new(s3.clone());
    config.phase_gate = gate;
    let batch = local_batch::spawn(config).await.unwrap();
    Env {
        control: batch.s3control(&moto.sdk_config()),
        _moto: moto,
        _batch: batch,
        s3,
    }
}

/// A two-object copy job; `etag` overrides the manifest's real ETag.
async fn create(env: &Env, confirm: bool, etag: Option<&str>) -> String {
    let src = unique_bucket("src");
    env.s3.create_bucket().bucket(&src).send().await.unwrap();
    for k in ["a", "b"] {
        env.s3
            .put_object()
            .bucket(&src)
            .key(k)
            .body(b"x".to_vec().into())
            .send()
            .await
            .unwrap();
    }
    let mut m = testkit::write_csv_manifest(
        &env.s3,
        &src,
        "manifest.csv",
        &src,
        &["a".to_owned(), "b".to_owned()],
    )
    .await
    .unwrap();
    if let Some(etag) = etag {
        m.etag = etag.to_owned();
    }
    testkit::copy_job(
        &env.control,
        DEFAULT_ACCOUNT,
        m.job_manifest(JobManifestFormat::S3BatchOperationsCsv20180820, &[]),
        testkit::copy_into(&src).target_key_prefix("copy").build(),
        &src,
        "reports",
    )
    .client_request_token("t")
    .confirmation_required(confirm)
    .send()
    .await
    .unwrap()
    .job_id
    .unwrap()
}

fn input(job_id: &str) -> Input {
    Input {
        account_id: DEFAULT_ACCOUNT.to_owned(),
        job_id: job_id.to_owned(),
    }
}

/// Calls the step until the status is `want`.
async fn until(step: &AwaitJob, id: &str, want: &str) -> Output {
    for _ in 0..2000 {
        let out = step.handle(input(id)).await.unwrap();
        if out.status == want {
            return out;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("job {id} never reached {want}");
}

#[tokio::test]
async fn follows_the_job_through_its_states() {
    let gate = Arc::new(Semaphore::new(0));
    let env = setup(Some(Arc::clone(&gate))).await;
    let id = create(&env, false, None).await;
    let step = AwaitJob::new(env.control.clone());

    let new = step.handle(input(&id)).await.unwrap();
    assert_eq!(
        (new.status.as_str(), new.finished, new.total_tasks),
        ("New", false, 0)
    );
    gate.add_permits(1);
    until(&step, &id, "Preparing").await;
    gate.add_permits(1);
    let active = until(&step, &id, "Active").await;
    assert!(!active.finished);
    assert_eq!(active.total_tasks, 2);
    gate.add_permits(1);
    let done = until(&step, &id, "Complete").await;
    assert_eq!(
        done,
        Output {
            job_id: id.clone(),
            status: "Complete".into(),
            finished: true,
            total_tasks: 2,
            succeeded_tasks: 2,
            failed_tasks: 0,
            elapsed_active_seconds: done.elapsed_active_seconds,
            failure_reasons: vec![],
            status_update_reason: None,
        }
    );
}

#[tokio::test]
async fn a_failed_job_is_finished_not_an_error() {
    let env = setup(None).await;
    let id = create(&env, false, Some("00000000000000000000000000000000")).await;
    let step = AwaitJob::new(env.control.clone());
    let out = until(&step, &id, "Failed").await;
    assert!(out.finished);
    assert_eq!(out.failure_reasons.len(), 1);
    assert_eq!(out.failure_reasons[0].code, "InvalidManifest");
}

#[tokio::test]
async fn a_suspended_job_is_an_error() {
    let env = setup(None).await;
    let id = create(&env, true, None).await;
    let step = AwaitJob::new(env.control.clone());
    for _ in 0..2000 {
        match step.handle(input(&id)).await {
            Ok(out) => assert!(!out.finished, "{out:?}"),
            Err(e) => {
                assert_eq!(e.error_type(), "JobSuspended", "{e}");
                assert!(e.to_string().contains("UpdateJobStatus"));
                return;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("never suspended");
}

#[tokio::test]
async fn an_unknown_job_is_transient() {
    let env = setup(None).await;
    let step = AwaitJob::new(env.control.clone());
    let err = step
        .handle(input("00000000-0000-0000-0000-000000000000"))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "Transient", "{err}");
}

#[tokio::test]
async fn bad_input_names_the_field() {
    let step = AwaitJob::new(mock_client!(aws_sdk_s3control, &[]));
    let mut i = input("job/../x");
    let err = step.handle(i.clone()).await.unwrap_err();
    assert!(
        matches!(err, AwaitJobError::InvalidInput(ref ii) if ii.path == "$.job_id"),
        "{err}"
    );
    i.account_id = "12".into();
    i.job_id = "ok".into();
    let err = step.handle(i).await.unwrap_err();
    assert!(
        matches!(err, AwaitJobError::InvalidInput(ref ii) if ii.path == "$.account_id"),
        "{err}"
    );
}

fn xml_error(status: u16, code: &str) -> Response {
    Response::new(
        StatusCode::try_from(status).unwrap(),
        SdkBody::from(format!(
            "<ErrorResponse><Error><Code>{code}</Code><Message>m</Message></Error><RequestId>r</RequestId></ErrorResponse>"
        )),
    )
}

async fn mocked(status: u16, code: &'static str) -> AwaitJobError {
    let rule = mock!(aws_sdk_s3control::Client::describe_job)
        .then_http_response(move || xml_error(status, code));
    let client = mock_client!(aws_sdk_s3control, &[&rule]);
    AwaitJob::new(client)
        .handle(input("job-1"))
        .await
        .unwrap_err()
}

#[tokio::test]
async fn throttling_and_no_such_job_are_transient_and_denial_is_access_denied() {
    assert_eq!(
        mocked(400, "TooManyRequestsException").await.error_type(),
        "Transient"
    );
    assert_eq!(
        mocked(503, "ServiceUnavailable").await.error_type(),
        "Transient"
    );
    assert_eq!(mocked(404, "NoSuchJob").await.error_type(), "Transient");
    assert_eq!(
        mocked(404, "NotFoundException").await.error_type(),
        "Transient"
    );
    assert_eq!(
        mocked(403, "AccessDenied").await.error_type(),
        "AccessDenied"
    );
    assert_eq!(
        mocked(400, "BadRequestException").await.error_type(),
        "ServiceError"
    );
}
