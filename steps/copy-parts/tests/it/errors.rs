//! The error paths no emulator produces, on mocked clients: S3's 412 for a failed
//! `CopySourceIfMatch` (moto ignores the header), throttling, a denial, a vanished upload.

use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::operation::list_parts::ListPartsOutput;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use copy_parts::{CopyParts, Settings};
use kit::entry::invoke;
use serde_json::{Value, json};

use crate::support::xml_error;

const ETAG: &str = "d41d8cd98f00b204e9800998ecf8427e-4";

fn plan() -> Value {
    json!({"source_bucket": "lake-prod", "key": "events/big.parquet",
           "snapshot_bucket": "lake-prod-31-mar-2021", "upload_id": "2~mocked",
           "already_copied": false, "size": 26 << 20, "part_size": 5 << 20, "parts": 6,
           "source_etag": ETAG})
}

fn head() -> Rule {
    mock!(Client::head_object).then_output(|| {
        HeadObjectOutput::builder()
            .e_tag(format!("\"{ETAG}\""))
            .content_length(26 << 20)
            .build()
    })
}

fn no_parts() -> Rule {
    mock!(Client::list_parts).then_output(|| ListPartsOutput::builder().is_truncated(false).build())
}

fn step(client: Client) -> CopyParts {
    CopyParts::new(
        client,
        Settings {
            parallelism: 1,
            budget: Duration::from_secs(600),
            list_page_size: 1000,
        },
    )
}

#[tokio::test]
async fn a_failed_copy_source_if_match_is_source_changed_and_stops_the_copy() {
    let copy = mock!(Client::upload_part_copy)
        .match_requests(|r| r.copy_source_if_match() == Some(&format!("\"{ETAG}\"")))
        .then_http_response(|| xml_error(412, "PreconditionFailed"));
    let client = mock_client!(
        aws_sdk_s3,
        RuleMode::MatchAny,
        [&head(), &no_parts(), &copy]
    );
    let err = invoke(&step(client), plan()).await.unwrap_err();
    assert_eq!(err.error_type, "SourceChanged", "{}", err.error_message);
    assert_eq!(copy.num_calls(), 1, "no part started after the refusal");
}

#[tokio::test]
async fn throttling_denial_and_a_vanished_upload_are_named() {
    for (status, code, want) in [
        (503, "SlowDown", "Transient"),
        (500, "InternalError", "Transient"),
        (403, "AccessDenied", "AccessDenied"),
        (404, "NoSuchUpload", "UploadNotFound"),
        (400, "InvalidRequest", "ServiceError"),
    ] {
        let copy =
            mock!(Client::upload_part_copy).then_http_response(move || xml_error(status, code));
        let client = mock_client!(
            aws_sdk_s3,
            RuleMode::MatchAny,
            [&head(), &no_parts(), &copy]
        );
        let err = invoke(&step(client), plan()).await.unwrap_err();
        assert_eq!(
            err.error_type, want,
            "{status} {code}: {}",
            err.error_message
        );
    }
    let list = mock!(Client::list_parts).then_http_response(|| xml_error(404, "NoSuchUpload"));
    let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&head(), &list]);
    let err = invoke(&step(client), plan()).await.unwrap_err();
    assert_eq!(err.error_type, "UploadNotFound", "{}", err.error_message);
}
