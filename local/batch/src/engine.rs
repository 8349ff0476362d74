//! Running a job through its lifecycle: read the manifest ([`manifest`]), copy every object
//! ([`copy`]), write the completion report ([`report`]). The statuses and their transitions are
//! [`crate::lifecycle`]'s; this module decides when to make them.

mod copy;
mod manifest;
mod report;
mod s3;

use std::sync::Arc;

use futures::StreamExt;

use crate::lifecycle::{BatchService, Ending, FailureReason, JobStatus};
use crate::spec::JobSpec;
use copy::Outcome;
use manifest::{ManifestError, Task};
use report::ReportError;

/// Why a job failed as a whole: DescribeJob's `FailureCode` ([`JobFailure::code`]) and
/// `FailureReason` (the message).
#[derive(Debug, thiserror::Error)]
pub(crate) enum JobFailure {
    /// The manifest could not be read or used.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The failure-rate rule tripped.
    #[error(
        "Job failed: {failed} of the {ran} tasks run so far failed, more than {percent}% after at least {min_tasks} tasks."
    )]
    FailureRate {
        /// Tasks failed.
        failed: u64,
        /// Tasks run.
        ran: u64,
        /// The rule's percentage.
        percent: u64,
        /// The rule's minimum of tasks run.
        min_tasks: u64,
    },
    /// The completion report could not be written.
    #[error(transparent)]
    Report(#[from] ReportError),
}

impl JobFailure {
    /// The `FailureCode`.
    pub(crate) fn code(&self) -> &str {
        match self {
            JobFailure::Manifest(e) => e.code(),
            JobFailure::FailureRate { .. } => "TaskFailureRateExceeded",
            JobFailure::Report(_) => "ReportWriteFailed",
        }
    }

    fn reason(&self) -> FailureReason {
        FailureReason {
            code: self.code().to_owned(),
            reason: self.to_string(),
        }
    }
}

/// Starts running a newly created job in the background.
pub(crate) fn start(state: Arc<BatchService>, id: String) {
    tokio::spawn(async move {
        run(&state, &id).await;
    });
}

async fn run(state: &BatchService, id: &str) {
    let Some(ticket) = state.ticket(id) else {
        return;
    };
    state.pace().await;
    if !state.advance(id, JobStatus::Preparing) {
        return;
    }
    let conf = &state.config;
    let tasks = match manifest::read(&conf.s3, &ticket.spec, conf.max_manifest_bytes).await {
        Ok(t) => t,
        Err(e) => {
            state.finish(id, Ending::Failed(JobFailure::from(e).reason()));
            return;
        }
    };
    state.set_total(id, tasks.len() as u64);
    state.pace().await;
    if ticket.confirmation_required {
        if !state.advance(id, JobStatus::Suspended) {
            return;
        }
        if !state.confirmed(id, &ticket.wake).await {
            return;
        }
    }
    if !state.activate(id) {
        return;
    }
    let Some((outcomes, rate_failure)) = copy_all(state, id, &ticket.spec, tasks).await else {
        return;
    };

    // AWS writes a report whenever at least one task ran, also for failed and cancelled jobs.
    let cancelled = state.is_cancelled(id);
    if rate_failure.is_none() && !cancelled {
        state.pace().await;
        state.advance(id, JobStatus::Completing);
    } else if rate_failure.is_some() {
        state.advance(id, JobStatus::Failing);
    }
    let report_failure = match &ticket.spec.report {
        Some(r) if !outcomes.is_empty() => report::write(&conf.s3, r, id, &outcomes)
            .await
            .err()
            .map(JobFailure::from),
        _ => None,
    };
    let ending = if cancelled {
        Ending::Cancelled
    } else if let Some(f) = rate_failure.or(report_failure) {
        Ending::Failed(f.reason())
    } else {
        Ending::Complete
    };
    state.finish(id, ending);
}

/// Runs the tasks, `concurrency` at a time, until all ran, a cancellation, or the failure-rate
/// rule. Returns the outcomes and the rule's failure, if it tripped (None: the job is gone).
async fn copy_all(
    state: &BatchService,
    id: &str,
    spec: &JobSpec,
    tasks: Vec<Task>,
) -> Option<(Vec<Outcome>, Option<JobFailure>)> {
    let conf = &state.config;
    let mut outcomes = Vec::with_capacity(tasks.len());
    let mut copies = futures::stream::iter(tasks)
        .map(|t| copy::copy_one(&conf.s3, &spec.copy, conf.max_copy_bytes, t))
        .buffer_unordered(conf.concurrency.max(1));
    while let Some(outcome) = copies.next().await {
        let (ran, failed) = state.count_task(id, outcome.succeeded)?;
        outcomes.push(outcome);
        if state.is_cancelled(id) {
            break;
        }
        if ran >= conf.failure_rule_min_tasks && failed * 100 > ran * conf.failure_rule_percent {
            let rule = JobFailure::FailureRate {
                failed,
                ran,
                percent: conf.failure_rule_percent,
                min_tasks: conf.failure_rule_min_tasks,
            };
            return Some((outcomes, Some(rule)));
        }
    }
    Some((outcomes, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_codes_are_this_services_wording_or_s3s() {
        let rule = JobFailure::FailureRate {
            failed: 4,
            ran: 4,
            percent: 50,
            min_tasks: 4,
        };
        assert_eq!(rule.code(), "TaskFailureRateExceeded");
        assert_eq!(
            rule.reason().reason,
            "Job failed: 4 of the 4 tasks run so far failed, more than 50% after at least 4 tasks."
        );
        let unreadable = JobFailure::from(ManifestError::Unreadable {
            bucket: "b".into(),
            key: "k".into(),
            failure: s3::S3Failure {
                status: 403,
                code: "AccessDenied".into(),
                message: "no".into(),
            },
        });
        assert_eq!(unreadable.code(), "AccessDenied");
        assert_eq!(
            unreadable.to_string(),
            "Reading s3://b/k failed: AccessDenied (HTTP 403) no"
        );
        let report = JobFailure::from(ReportError::Finish(std::io::Error::other("full")));
        assert_eq!(report.code(), "ReportWriteFailed");
        assert!(matches!(report, JobFailure::Report(ReportError::Finish(_))));
    }
}
