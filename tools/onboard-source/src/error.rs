//! Everything onboard-source can fail with: one variant per errorType it prints.

use kit::error::{AccessDenied, InvalidInput, ServiceFailure, Transient};

use crate::statement::{POLICY_MAX_BYTES, PolicyProblem};

/// Everything onboard-source can fail with; variant names are the errorTypes it prints.
#[derive(Debug, thiserror::Error, kit::strum::IntoStaticStr, kit::strum::VariantNames)]
#[strum(crate = "kit::strum")]
pub enum OnboardError {
    /// A flag's value is malformed (role ARN, account id, prefix, configuration id, bucket name).
    #[error(transparent)]
    InvalidInput(#[from] InvalidInput),
    /// Throttling, a 5xx, a timeout: run again.
    #[error(transparent)]
    Transient(#[from] Transient),
    /// These credentials may not read or change the bucket, or the bucket belongs to another
    /// account than `--expected-owner`.
    #[error(transparent)]
    AccessDenied(#[from] AccessDenied),
    /// There is no bucket of that name.
    #[error("bucket {bucket} does not exist (check the name and the account of your credentials)")]
    BucketNotFound {
        /// The bucket name.
        bucket: String,
    },
    /// The bucket is in another region than the one configured. S3 Inventory delivers only to a
    /// bucket in the source bucket's region, so the backup stack must be deployed there too.
    #[error(
        "bucket {bucket} is in {bucket_region}, not {region}: run again with AWS_REGION={bucket_region} (the backup stack must be deployed in {bucket_region} too: S3 Inventory delivers only within a region)"
    )]
    WrongRegion {
        /// The bucket name.
        bucket: String,
        /// Where the bucket is.
        bucket_region: String,
        /// The region of these credentials' configuration.
        region: String,
    },
    /// The bucket's current policy is not a policy document this tool can merge into. Nothing
    /// was changed.
    #[error(
        "the policy of bucket {bucket} cannot be merged into: {problem}; nothing was changed (fix the policy, or add the statement of --print-statement by hand)"
    )]
    PolicyInvalid {
        /// The bucket name.
        bucket: String,
        /// What is wrong with it.
        problem: PolicyProblem,
    },
    /// With the statement merged in, the policy would exceed S3's 20 KB limit. Nothing was changed.
    #[error(
        "the policy of bucket {bucket} would be {bytes} bytes with the lakevault statement, over S3's limit of {POLICY_MAX_BYTES}; nothing was changed (shorten the policy)"
    )]
    PolicyTooLarge {
        /// The bucket name.
        bucket: String,
        /// Size of the merged policy.
        bytes: usize,
    },
    /// A change read back differs from what was written: someone changed the bucket at the same
    /// time. Running again converges.
    #[error(
        "bucket {bucket}: the {what} read back is not what was written ({detail}); another change raced this one: run again"
    )]
    VerificationFailed {
        /// The bucket name.
        bucket: String,
        /// `inventory configuration` or `policy`.
        what: String,
        /// What differs.
        detail: String,
    },
    /// S3 answered with an error this tool does not expect.
    #[error("{0}")]
    ServiceError(ServiceFailure),
}

kit::step_error!(OnboardError, service => ServiceError);

#[cfg(test)]
mod tests {
    use super::*;
    use kit::StepError;

    #[test]
    fn error_types_are_the_variant_names() {
        assert_eq!(
            OnboardError::error_types(),
            [
                "InvalidInput",
                "Transient",
                "AccessDenied",
                "BucketNotFound",
                "WrongRegion",
                "PolicyInvalid",
                "PolicyTooLarge",
                "VerificationFailed",
                "ServiceError"
            ]
        );
    }
}
