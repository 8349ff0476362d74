//! SDK results as the step's errors: one place that turns an `SdkError` into a
//! [`CreateBucketError`], for the reads (where "not configured" is an answer) and the writes.

use aws_sdk_s3::error::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use kit::{AwsFailure, ServiceFailure};

use crate::contract::CreateBucketError;

/// What an S3 call returns.
pub(crate) type SdkResult<T, E> = Result<T, SdkError<E, aws_sdk_s3::config::http::HttpResponse>>;

/// `Ok(None)` when the call failed with `absent_code` (the setting does not exist yet).
pub(crate) fn absent_if<T, E>(
    op: &str,
    res: SdkResult<T, E>,
    absent_code: &str,
) -> Result<Option<T>, CreateBucketError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match res {
        Ok(v) => Ok(Some(v)),
        Err(e) => match kit::classify(op, e) {
            AwsFailure::Service(s) if s.is(absent_code) => Ok(None),
            other => Err(other.into()),
        },
    }
}

/// The call's output, or its failure classified.
pub(crate) fn call<T, E>(op: &str, res: SdkResult<T, E>) -> Result<T, CreateBucketError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    res.map_err(|e| kit::classify(op, e).into())
}

/// A request builder that refused its fields.
pub(crate) fn build_err(what: &str, e: impl std::fmt::Display) -> CreateBucketError {
    // Builders only fail on a missing required field, which this code always sets.
    CreateBucketError::ServiceError(ServiceFailure {
        operation: what.to_owned(),
        code: None,
        status: None,
        message: format!("request could not be built: {e}"),
    })
}
