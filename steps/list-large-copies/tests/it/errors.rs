//! The error paths no emulator produces, on mocked clients: throttling, a denial, an S3 error
//! the step does not expect, and an answer whose ETag is not the record's.

use aws_sdk_s3::Client;
use aws_sdk_s3::operation::get_object::GetObjectOutput;
use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;
use list_large_copies::ListLargeCopies;
use serde_json::json;

use crate::event;
use crate::list::list;

const ETAG: &str = "0cc175b9c0f1b6a831c399e269772661";

fn manifest() -> serde_json::Value {
    json!({"bucket": "lake-reports", "key": "r/lakevault-oversize.csv",
           "arn": "arn:aws:s3:::lake-reports/r/lakevault-oversize.csv", "etag": ETAG, "objects": 1})
}

fn xml_error(status: u16, code: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <Error><Code>{code}</Code><Message>mocked</Message><RequestId>1</RequestId></Error>"
    );
    Response::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body))
}

#[tokio::test]
async fn throttling_denial_and_the_unexpected_are_named() {
    for (status, code, want) in [
        (503, "SlowDown", "Transient"),
        (500, "InternalError", "Transient"),
        (403, "AccessDenied", "AccessDenied"),
        (400, "InvalidRequest", "ServiceError"),
        (412, "PreconditionFailed", "ManifestInvalid"),
        (404, "NoSuchKey", "ManifestInvalid"),
    ] {
        let get = mock!(Client::get_object)
            .match_requests(|r| r.if_match() == Some(&format!("\"{ETAG}\"")))
            .then_http_response(move || xml_error(status, code));
        let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&get]);
        let (t, msg) = list(
            &ListLargeCopies::new(client),
            event("lake-prod", manifest()),
        )
        .await
        .unwrap_err();
        assert_eq!(t, want, "{code}: {msg}");
        assert!(get.num_calls() >= 1, "{code}: the request carried If-Match");
    }
}

#[tokio::test]
async fn an_answer_with_another_etag_is_not_read() {
    let get = mock!(Client::get_object).then_output(|| {
        GetObjectOutput::builder()
            .e_tag("\"92eb5ffee6ae2fec3ad71c777531578f\"")
            .body(ByteStream::from_static(b"lake-prod,a\n"))
            .build()
    });
    let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&get]);
    let (t, msg) = list(
        &ListLargeCopies::new(client),
        event("lake-prod", manifest()),
    )
    .await
    .unwrap_err();
    assert_eq!(t, "ManifestInvalid");
    assert!(
        msg.contains("S3 has 92eb5ffee6ae2fec3ad71c777531578f"),
        "{msg}"
    );
}
