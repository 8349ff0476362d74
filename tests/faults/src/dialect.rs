//! Which AWS protocol a request speaks, and so which error document its SDK client parses.
//!
//! A throttling answer is only realistic when the client can read it: S3 sends a bare `<Error>`
//! (the SDK's `rest_xml_unwrapped_errors`), S3 Control and the query-protocol services (SNS) an
//! `<ErrorResponse>` wrapping it (`rest_xml_wrapped_errors`).

use crate::message::{Request, Response};

/// The protocol of a request, told from the request alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// S3 (REST-XML, bare `<Error>` documents).
    S3,
    /// S3 Control: paths under `/v20180820/` (REST-XML, wrapped error documents).
    S3Control,
    /// A query-protocol service such as SNS: a form-encoded `POST` with an `Action`.
    Query,
}

impl Dialect {
    /// The dialect `request` speaks.
    pub fn of(request: &Request) -> Dialect {
        if request.path().starts_with("/v20180820/") {
            Dialect::S3Control
        } else if request.action().is_some() {
            Dialect::Query
        } else {
            Dialect::S3
        }
    }

    /// The throttling error code this service sends with a 503: S3's and S3 Control's
    /// `SlowDown`, the query services' `Throttling` (both in the SDK's throttling list).
    pub fn throttling_code(self) -> &'static str {
        match self {
            Dialect::S3 | Dialect::S3Control => "SlowDown",
            Dialect::Query => "Throttling",
        }
    }

    /// The error document of a throttled request in this dialect.
    pub fn slow_down_document(self) -> String {
        let code = self.throttling_code();
        let message = "Please reduce your request rate.";
        let id = "FAULTS0000000000";
        match self {
            Dialect::S3 => format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>\
                 <Message>{message}</Message><RequestId>{id}</RequestId><HostId>faults</HostId></Error>"
            ),
            Dialect::S3Control => format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ErrorResponse><Error><Code>{code}</Code>\
                 <Message>{message}</Message></Error><RequestId>{id}</RequestId><HostId>faults</HostId>\
                 </ErrorResponse>"
            ),
            Dialect::Query => format!(
                "<ErrorResponse><Error><Type>Receiver</Type><Code>{code}</Code>\
                 <Message>{message}</Message></Error><RequestId>{id}</RequestId></ErrorResponse>"
            ),
        }
    }
}

/// `503 Slow Down` with the error document `request`'s client parses.
pub(crate) fn slow_down(request: &Request) -> Response {
    let dialect = Dialect::of(request);
    let content_type = match dialect {
        Dialect::S3 | Dialect::S3Control => "application/xml",
        Dialect::Query => "text/xml",
    };
    Response::new(
        503,
        "Slow Down",
        &[
            ("Content-Type", content_type),
            ("x-amz-request-id", "FAULTS0000000000"),
        ],
        dialect.slow_down_document().into_bytes(),
        &request.method,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, target: &str, form: Option<&str>) -> Request {
        Request {
            method: method.into(),
            target: target.into(),
            headers: form
                .map(|_| {
                    vec![(
                        "Content-Type".to_owned(),
                        "application/x-www-form-urlencoded; charset=utf-8".to_owned(),
                    )]
                })
                .unwrap_or_default(),
            body: form.unwrap_or("").as_bytes().to_vec(),
        }
    }

    #[test]
    fn each_service_is_recognised_by_its_request() {
        assert_eq!(
            Dialect::of(&req("GET", "/b?list-type=2", None)),
            Dialect::S3
        );
        assert_eq!(
            Dialect::of(&req("POST", "/v20180820/jobs", None)),
            Dialect::S3Control
        );
        assert_eq!(
            Dialect::of(&req("POST", "/", Some("Action=Publish&TopicArn=x"))),
            Dialect::Query
        );
    }

    #[test]
    fn the_documents_are_shaped_as_each_client_parses_them() {
        assert!(
            Dialect::S3
                .slow_down_document()
                .contains("\n<Error><Code>SlowDown</Code>")
        );
        assert!(
            Dialect::S3Control
                .slow_down_document()
                .contains("<ErrorResponse><Error><Code>SlowDown</Code>")
        );
        assert!(
            Dialect::Query
                .slow_down_document()
                .contains("<Error><Type>Receiver</Type><Code>Throttling</Code>")
        );
        assert_eq!(slow_down(&req("GET", "/", None)).status(), 503);
    }
}
