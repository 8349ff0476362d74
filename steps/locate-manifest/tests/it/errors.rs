//! Error paths no emulator produces (throttling, 5xx, a denying policy), on a mocked client.

use aws_sdk_s3::Client;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;
use kit::entry::invoke;
use locate_manifest::LocateManifest;
use serde_json::json;

/// An S3 client whose every ListObjectsV2 answers `status` with error `code`.
fn s3_answering(status: u16, code: &'static str) -> Client {
    let rule = mock!(Client::list_objects_v2).then_http_response(move || {
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
             <Error><Code>{code}</Code><Message>mocked</Message><RequestId>1</RequestId></Error>"
        );
        Response::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body))
    });
    mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&rule])
}

fn event() -> serde_json::Value {
    json!({"source_bucket": "lake-prod",
           "inventory": {"bucket": "backup-inventory", "prefix": "inventory", "configuration_id": "daily"},
           "backup_date": "2021-03-31"})
}

#[tokio::test]
async fn throttling_and_5xx_are_transient() {
    for (status, code) in [(503, "SlowDown"), (500, "InternalError")] {
        let step = LocateManifest::new(s3_answering(status, code));
        let err = invoke(&step, event()).await.unwrap_err();
        assert_eq!(
            err.error_type, "Transient",
            "{status} {code}: {}",
            err.error_message
        );
        assert!(
            err.error_message.contains("ListObjectsV2"),
            "{}",
            err.error_message
        );
    }
}

#[tokio::test]
async fn a_denied_listing_is_access_denied() {
    let step = LocateManifest::new(s3_answering(403, "AccessDenied"));
    let err = invoke(&step, event()).await.unwrap_err();
    assert_eq!(err.error_type, "AccessDenied", "{}", err.error_message);
}

#[tokio::test]
async fn an_unexpected_s3_error_is_service_error() {
    let step = LocateManifest::new(s3_answering(400, "InvalidArgument"));
    let err = invoke(&step, event()).await.unwrap_err();
    assert_eq!(err.error_type, "ServiceError", "{}", err.error_message);
    assert!(
        err.error_message.contains("InvalidArgument"),
        "{}",
        err.error_message
    );
}
