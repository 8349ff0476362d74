//! Failure paths no emulator produces (throttling, a refused call, a write that does not stick),
//! on a mocked S3 client.

use aws_sdk_s3::Client;
use aws_sdk_s3::operation::get_bucket_inventory_configuration::GetBucketInventoryConfigurationOutput;
use aws_sdk_s3::operation::get_bucket_policy::GetBucketPolicyOutput;
use aws_sdk_s3::operation::head_bucket::HeadBucketOutput;
use aws_sdk_s3::operation::put_bucket_inventory_configuration::PutBucketInventoryConfigurationOutput;
use aws_sdk_s3::types::{InventoryFrequency, InventorySchedule};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use onboard_source::{
    InventoryTarget, OnboardError, Onboarder, Request, RoleArn, desired_inventory, read_statement,
};
use serde_json::json;

const ROLE: &str = "arn:aws:iam::222222222222:role/batch";
const BUCKET: &str = "lake-prod";

fn request() -> Request {
    Request::new(ROLE, "inventory-bucket", None, "inventory", "daily", None).unwrap()
}

fn s3_error(code: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <Error><Code>{code}</Code><Message>mocked</Message><RequestId>1</RequestId></Error>"
    )
}

fn head_ok() -> Rule {
    mock!(Client::head_bucket).then_output(|| {
        HeadBucketOutput::builder()
            .bucket_region("us-east-1")
            .build()
    })
}

fn no_inventory() -> Rule {
    mock!(Client::get_bucket_inventory_configuration)
        .sequence()
        .http_status(404, Some(s3_error("NoSuchConfiguration")))
        .build()
}

/// The policy already holds the grant: only the inventory would be written.
fn policy_in_place() -> Rule {
    mock!(Client::get_bucket_policy).then_output(|| {
        let role = RoleArn::parse(ROLE).unwrap();
        let policy = json!({"Version": "2012-10-17", "Statement": [read_statement(&role, BUCKET)]});
        GetBucketPolicyOutput::builder()
            .policy(policy.to_string())
            .build()
    })
}

async fn onboard(rules: &[&Rule]) -> OnboardError {
    let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, rules);
    Onboarder::with_client(s3, Some("us-east-1".to_owned()))
        .onboard(&request(), BUCKET, false)
        .await
        .unwrap_err()
}

#[tokio::test]
async fn throttling_is_transient() {
    let throttled = mock!(Client::get_bucket_policy).then_http_response(|| {
        aws_smithy_runtime_api::http::Response::new(
            aws_smithy_runtime_api::http::StatusCode::try_from(503).unwrap(),
            aws_smithy_types::body::SdkBody::from(s3_error("SlowDown")),
        )
    });
    let err = onboard(&[&head_ok(), &no_inventory(), &throttled]).await;
    assert!(matches!(err, OnboardError::Transient(_)), "{err:?}");
    assert!(err.to_string().contains("GetBucketPolicy"), "{err}");
}

#[tokio::test]
async fn a_refused_head_is_access_denied() {
    // HeadBucket has no body: a 403 is all S3 says (also for a bucket of another owner).
    let refused = mock!(Client::head_bucket).then_http_response(|| {
        aws_smithy_runtime_api::http::Response::new(
            aws_smithy_runtime_api::http::StatusCode::try_from(403).unwrap(),
            aws_smithy_types::body::SdkBody::empty(),
        )
    });
    let err = onboard(&[&refused]).await;
    assert!(matches!(err, OnboardError::AccessDenied(_)), "{err:?}");
}

#[tokio::test]
async fn an_inventory_that_does_not_read_back_is_verification_failed() {
    // Written, then read back weekly: someone else changed it in between.
    let read_back = mock!(Client::get_bucket_inventory_configuration)
        .sequence()
        .http_status(404, Some(s3_error("NoSuchConfiguration")))
        .output(|| {
            let mut other = desired_inventory(
                &InventoryTarget {
                    account_id: "222222222222".to_owned(),
                    bucket: "inventory-bucket".to_owned(),
                    prefix: "inventory".to_owned(),
                    configuration_id: "daily".to_owned(),
                },
                "aws",
            );
            other.schedule = InventorySchedule::builder()
                .frequency(InventoryFrequency::Weekly)
                .build()
                .ok();
            GetBucketInventoryConfigurationOutput::builder()
                .inventory_configuration(other)
                .build()
        })
        .build();
    let put = mock!(Client::put_bucket_inventory_configuration)
        .then_output(|| PutBucketInventoryConfigurationOutput::builder().build());
    let err = onboard(&[&head_ok(), &read_back, &policy_in_place(), &put]).await;
    match &err {
        OnboardError::VerificationFailed { what, .. } => {
            assert_eq!(what, "inventory configuration");
        }
        other => panic!("expected VerificationFailed, got {other:?}"),
    }
    assert!(put.num_calls() == 1, "the configuration was written once");
}
