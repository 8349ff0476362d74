//! CreateJob and its checks: idempotency, accounts, roles.

use aws_sdk_s3control::types::JobManifestFormat;
use harness::DEFAULT_ACCOUNT;

use crate::support::{bucket, copy_job, csv_manifest, one_object, setup};

#[tokio::test]
async fn the_same_client_request_token_returns_the_same_job_and_refuses_another_request() {
    let env = setup(|_| {}).await;
    let s3 = &env.s3;
    let one = one_object(s3).await;
    let job = |token: &str| one.job(&env.control, token);
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
async fn a_role_of_another_account_cannot_be_passed() {
    let env = setup(|_| {}).await;
    let s3 = &env.s3;
    let src = bucket(s3, "src").await;
    let m = csv_manifest(s3, &src, &["k".to_owned()]).await;
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
