#![doc = include_str!("../README.md")]

use aws_sdk_s3control::types::{JobDescriptor, JobStatus};
use kit::{AccessDenied, AwsFailure, InvalidInput, ServiceFailure, Step, Transient, validate};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The job to look at.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct Input {
    /// The AWS account that owns the job (the backup account), 12 digits.
    pub account_id: String,
    /// The Batch Operations job id, as submit-job returned it.
    pub job_id: String,
}

/// Where the job stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Output {
    /// The job id.
    pub job_id: String,
    /// The job's status as S3 reports it (`New`, `Preparing`, `Active`, `Complete`, `Failed`…).
    pub status: String,
    /// True once the job has ended (`Complete`, `Failed` or `Cancelled`): stop polling.
    pub finished: bool,
    /// Number of tasks (objects) in the job; 0 until the manifest has been read.
    pub total_tasks: i64,
    /// Tasks that succeeded so far.
    pub succeeded_tasks: i64,
    /// Tasks that failed so far.
    pub failed_tasks: i64,
    /// Seconds the job has spent in the `Active` state.
    pub elapsed_active_seconds: i64,
    /// Why the job failed as a whole, as S3 reports it (empty unless it failed).
    pub failure_reasons: Vec<FailureReason>,
    /// The reason given with the job's last status change, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_update_reason: Option<String>,
}

/// One of S3's reasons for a failed job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FailureReason {
    /// S3's failure code.
    pub code: String,
    /// S3's explanation.
    pub reason: String,
}

/// await-job's errorTypes.
#[derive(Debug, thiserror::Error, kit::strum::IntoStaticStr, kit::strum::VariantNames)]
#[strum(crate = "kit::strum")]
pub enum AwaitJobError {
    /// The event breaks the contract (bad account id or job id).
    #[error(transparent)]
    InvalidInput(#[from] InvalidInput),
    /// Throttling, a 5xx, a dropped connection — or `NoSuchJob`, which S3 answers for a while
    /// right after a job is created. Retry.
    #[error(transparent)]
    Transient(#[from] Transient),
    /// The role may not describe jobs (`s3:DescribeJob`).
    #[error(transparent)]
    AccessDenied(#[from] AccessDenied),
    /// The job is `Suspended`, waiting for a confirmation nobody will give (it was created
    /// with `ConfirmationRequired`), or paused by someone. It will not finish on its own.
    #[error(
        "job {job_id} is Suspended{}: confirm it (UpdateJobStatus Ready) or cancel it and resubmit",
        reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default()
    )]
    JobSuspended {
        /// The job id.
        job_id: String,
        /// The status update reason or suspended cause, if any.
        reason: Option<String>,
    },
    /// S3 Control answered with an error this step does not expect.
    #[error("{0}")]
    ServiceError(ServiceFailure),
}

kit::step_error!(AwaitJobError, service => ServiceError);

/// The step: an S3 Control client, built once.
#[derive(Debug, Clone)]
pub struct AwaitJob {
    s3control: aws_sdk_s3control::Client,
}

impl AwaitJob {
    /// From the environment (region, credentials, `AWS_ENDPOINT_URL_S3_CONTROL`).
    pub async fn from_env() -> Result<Self, kit::clients::ConfigError> {
        let conf = kit::clients::load_sdk_config().await?;
        Ok(Self::new(kit::clients::s3control(&conf)))
    }

    /// With a given client (tests).
    pub fn new(s3control: aws_sdk_s3control::Client) -> Self {
        Self { s3control }
    }
}

fn validate(input: &Input) -> Result<(), InvalidInput> {
    validate::check_account_id("$.account_id", &input.account_id)?;
    validate::check_job_id("$.job_id", &input.job_id)
}

/// Turns a job description into the step's output (pure; tested without S3).
pub fn summarize(job_id: &str, job: &JobDescriptor) -> Result<Output, AwaitJobError> {
    let status = job.status.clone().unwrap_or(JobStatus::New);
    if status == JobStatus::Suspended {
        return Err(AwaitJobError::JobSuspended {
            job_id: job_id.to_owned(),
            reason: job
                .status_update_reason
                .clone()
                .or_else(|| job.suspended_cause.clone()),
        });
    }
    let finished = matches!(
        status,
        JobStatus::Complete | JobStatus::Failed | JobStatus::Cancelled
    );
    let p = job.progress_summary.as_ref();
    Ok(Output {
        job_id: job.job_id.clone().unwrap_or_else(|| job_id.to_owned()),
        status: status.as_str().to_owned(),
        finished,
        total_tasks: p.and_then(|p| p.total_number_of_tasks).unwrap_or(0),
        succeeded_tasks: p.and_then(|p| p.number_of_tasks_succeeded).unwrap_or(0),
        failed_tasks: p.and_then(|p| p.number_of_tasks_failed).unwrap_or(0),
        elapsed_active_seconds: p
            .and_then(|p| p.timers.as_ref())
            .and_then(|t| t.elapsed_time_in_active_seconds)
            .unwrap_or(0),
        failure_reasons: job
            .failure_reasons()
            .iter()
            .map(|f| FailureReason {
                code: f.failure_code().unwrap_or_default().to_owned(),
                reason: f.failure_reason().unwrap_or_default().to_owned(),
            })
            .collect(),
        status_update_reason: job.status_update_reason.clone(),
    })
}

impl Step for AwaitJob {
    const NAME: &'static str = "await-job";
    type Input = Input;
    type Output = Output;
    type Error = AwaitJobError;

    async fn handle(&self, input: Input) -> Result<Output, AwaitJobError> {
        validate(&input)?;
        let out = self
            .s3control
            .describe_job()
            .account_id(&input.account_id)
            .job_id(&input.job_id)
            .send()
            .await
            .map_err(|e| match kit::classify("DescribeJob", e) {
                // Right after CreateJob the job may not be visible yet: worth another poll.
                AwsFailure::Service(s)
                    if s.is("NoSuchJob") || s.is("NotFoundException") || s.status == Some(404) =>
                {
                    AwaitJobError::Transient(Transient {
                        operation: "DescribeJob".to_owned(),
                        detail: format!(
                            "job {} not found yet ({}); S3 needs a moment after CreateJob",
                            input.job_id,
                            s.code.as_deref().unwrap_or("404")
                        ),
                    })
                }
                other => AwaitJobError::from(other),
            })?;
        let job = out.job.ok_or_else(|| {
            AwaitJobError::ServiceError(ServiceFailure {
                operation: "DescribeJob".to_owned(),
                code: None,
                status: Some(200),
                message: format!("DescribeJob answered without a job for {}", input.job_id),
            })
        })?;
        let output = summarize(&input.job_id, &job)?;
        tracing::info!(
            job_id = %output.job_id,
            status = %output.status,
            finished = output.finished,
            total = output.total_tasks,
            succeeded = output.succeeded_tasks,
            failed = output.failed_tasks,
            "job described"
        );
        Ok(output)
    }
}
