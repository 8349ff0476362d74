//! The error paths no emulator produces, on mocked clients: throttling, a denial, an S3 error
//! the step does not expect, and a missing bucket as the lock configuration's request meets it.

use aws_sdk_s3::Client;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;
use catalog_snapshot::CatalogSnapshot;
use kit::record::Verdict;
use serde_json::Value;

use crate::{audit, event, run};

fn xml_error(status: u16, code: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <Error><Code>{code}</Code><Message>mocked</Message><RequestId>1</RequestId></Error>"
    );
    Response::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body))
}

#[tokio::test]
async fn throttling_denial_and_the_unexpected_are_named() {
    let snap = "lake-prod-31-mar-2021";
    for (status, code, want) in [
        (503, "SlowDown", "Transient"),
        (500, "InternalError", "Transient"),
        (403, "AccessDenied", "AccessDenied"),
        (400, "InvalidRequest", "ServiceError"),
        (404, "NoSuchBucket", "SnapshotNotFound"),
    ] {
        let lock = mock!(Client::get_object_lock_configuration)
            .then_http_response(move || xml_error(status, code));
        let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&lock]);
        let ev = event(
            snap,
            "lake-reports",
            audit(snap, "lake-reports", Verdict::Complete),
            Value::Null,
        );
        let (t, msg) = run(&CatalogSnapshot::new(client), ev).await.unwrap_err();
        assert_eq!(t, want, "{code}: {msg}");
        assert!(lock.num_calls() >= 1, "{code}");
    }
}
