//! An S3 call's failure, as a task's report row or a job's failure reason shows it.

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

/// HTTP status, error code and message of a failed S3 call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct S3Failure {
    /// The HTTP status (500 when no response came back).
    pub(crate) status: u16,
    /// S3's error code; for a response without one (HEAD has no body), the code its status
    /// stands for.
    pub(crate) code: String,
    /// S3's message, or why no response came back.
    pub(crate) message: String,
}

impl S3Failure {
    /// Classifies `err`.
    pub(crate) fn of<E>(err: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        match err {
            SdkError::ServiceError(se) => {
                let status = se.raw().status().as_u16();
                let e = se.err();
                let code = e.code().map(str::to_owned).unwrap_or_else(|| match status {
                    403 => "AccessDenied".to_owned(),
                    404 => "NoSuchKey".to_owned(),
                    _ => format!("Http{status}"),
                });
                S3Failure {
                    status,
                    code,
                    message: e.message().map(str::to_owned).unwrap_or_default(),
                }
            }
            other => S3Failure {
                status: 500,
                code: "InternalError".to_owned(),
                message: kit::error::source_chain(other),
            },
        }
    }
}
