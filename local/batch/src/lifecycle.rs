//! A job's lifecycle: its status (one enum, AWS's strings in one place), its record, the
//! service's table of jobs, and every transition — those the engine makes as a job runs and
//! those UpdateJobStatus requests.
//!
//! As AWS shows it: `New → Preparing → (Suspended → Ready →) Active → Completing → Complete`,
//! `Failing → Failed` when the failure-rate rule trips (straight to `Failed` when the manifest
//! cannot be used), `Cancelling → Cancelled` on request (straight to `Cancelled` before `Active`).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::Notify;

use crate::config::BatchConfig;
use crate::model::Tag;
use crate::spec::JobSpec;

/// A job's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum JobStatus {
    /// Created, not yet looked at.
    New,
    /// Reading the manifest.
    Preparing,
    /// Waiting for `UpdateJobStatus Ready` (`ConfirmationRequired`).
    Suspended,
    /// Confirmed, about to run.
    Ready,
    /// Running its tasks.
    Active,
    /// Cancellation requested while active: the tasks in flight finish.
    Cancelling,
    /// Cancelled.
    Cancelled,
    /// Tasks done, the report being written.
    Completing,
    /// Done.
    Complete,
    /// The failure-rate rule tripped: the report being written.
    Failing,
    /// Failed as a whole (see its failure reasons).
    Failed,
}

impl JobStatus {
    /// Every status, for parsing.
    const ALL: [JobStatus; 11] = [
        JobStatus::New,
        JobStatus::Preparing,
        JobStatus::Suspended,
        JobStatus::Ready,
        JobStatus::Active,
        JobStatus::Cancelling,
        JobStatus::Cancelled,
        JobStatus::Completing,
        JobStatus::Complete,
        JobStatus::Failing,
        JobStatus::Failed,
    ];

    /// AWS's name of the status, as `<Status>` and `jobStatuses` write it: the one place the
    /// strings live.
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            JobStatus::New => "New",
            JobStatus::Preparing => "Preparing",
            JobStatus::Suspended => "Suspended",
            JobStatus::Ready => "Ready",
            JobStatus::Active => "Active",
            JobStatus::Cancelling => "Cancelling",
            JobStatus::Cancelled => "Cancelled",
            JobStatus::Completing => "Completing",
            JobStatus::Complete => "Complete",
            JobStatus::Failing => "Failing",
            JobStatus::Failed => "Failed",
        }
    }

    /// The status AWS names `s` (exact spelling), if this service has it.
    pub(crate) fn parse(s: &str) -> Option<JobStatus> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Complete, Cancelled or Failed: nothing happens to the job any more.
    pub(crate) fn is_terminal(self) -> bool {
        matches!(
            self,
            JobStatus::Complete | JobStatus::Cancelled | JobStatus::Failed
        )
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What UpdateJobStatus may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestedStatus {
    /// Confirm a suspended job.
    Ready,
    /// Cancel a job that has not ended.
    Cancelled,
}

impl RequestedStatus {
    /// `requestedJobStatus` as AWS spells it.
    pub(crate) fn parse(s: &str) -> Option<RequestedStatus> {
        match s {
            "Ready" => Some(RequestedStatus::Ready),
            "Cancelled" => Some(RequestedStatus::Cancelled),
            _ => None,
        }
    }

    /// The status it names.
    pub(crate) fn status(self) -> JobStatus {
        match self {
            RequestedStatus::Ready => JobStatus::Ready,
            RequestedStatus::Cancelled => JobStatus::Cancelled,
        }
    }
}

/// UpdateJobStatus asked for a move the lifecycle does not have (`JobStatusException`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("The job cannot be moved from status {from} to {}.", .to.status())]
pub(crate) struct TransitionRefused {
    /// Where the job is.
    pub(crate) from: JobStatus,
    /// What was asked.
    pub(crate) to: RequestedStatus,
}

/// One entry of a job's `FailureReasons`, as DescribeJob shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FailureReason {
    /// `FailureCode`: `InvalidManifest`, `TaskFailureRateExceeded`, `ReportWriteFailed`, or the
    /// S3 error code when the manifest could not be read.
    pub(crate) code: String,
    /// `FailureReason`.
    pub(crate) reason: String,
}

/// How a job ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ending {
    /// Every task ran (each may have failed) and the report, if any, was written.
    Complete,
    /// The job failed as a whole.
    Failed(FailureReason),
    /// Cancelled on request.
    Cancelled,
}

/// What CreateJob was asked, fixed for the job's life.
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) account: String,
    pub(crate) token: String,
    /// The CreateJob body, to tell a retried request from a conflicting one.
    pub(crate) fingerprint: String,
    pub(crate) description: Option<String>,
    pub(crate) role_arn: String,
    pub(crate) confirmation_required: bool,
    /// `<Manifest>`, `<Operation>`, `<Report>` exactly as the client sent them (echoed back).
    pub(crate) raw_manifest: String,
    pub(crate) raw_operation: String,
    pub(crate) raw_report: String,
    pub(crate) spec: Arc<JobSpec>,
}

/// One job's record, as DescribeJob shows it.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) id: String,
    pub(crate) request: Request,
    pub(crate) priority: i64,
    pub(crate) tags: Vec<Tag>,
    pub(crate) status: JobStatus,
    pub(crate) status_update_reason: Option<String>,
    pub(crate) creation_time: OffsetDateTime,
    pub(crate) termination_date: Option<OffsetDateTime>,
    pub(crate) total: u64,
    pub(crate) succeeded: u64,
    pub(crate) failed: u64,
    pub(crate) active_since: Option<Instant>,
    pub(crate) active_elapsed: Duration,
    pub(crate) failure_reasons: Vec<FailureReason>,
    /// Woken on every UpdateJobStatus, so a suspended job sees its confirmation or cancellation.
    pub(crate) wake: Arc<Notify>,
    pub(crate) cancel_requested: bool,
}

impl Job {
    /// A `New` job with a fresh id.
    pub(crate) fn new(request: Request, priority: i64, tags: Vec<Tag>) -> Job {
        Job {
            id: uuid::Uuid::new_v4().to_string(),
            request,
            priority,
            tags,
            status: JobStatus::New,
            status_update_reason: None,
            creation_time: OffsetDateTime::now_utc(),
            termination_date: None,
            total: 0,
            succeeded: 0,
            failed: 0,
            active_since: None,
            active_elapsed: Duration::ZERO,
            failure_reasons: Vec::new(),
            wake: Arc::new(Notify::new()),
            cancel_requested: false,
        }
    }

    /// Seconds spent `Active` so far.
    pub(crate) fn elapsed_active_seconds(&self) -> u64 {
        let running = self.active_since.map(|t| t.elapsed()).unwrap_or_default();
        (self.active_elapsed + running).as_secs()
    }

    /// UpdateJobStatus: `Ready` confirms a suspended job; `Cancelled` cancels any job that has
    /// not ended (an active one goes through `Cancelling`, its copies in flight finish).
    pub(crate) fn request(&mut self, to: RequestedStatus) -> Result<(), TransitionRefused> {
        let refused = TransitionRefused {
            from: self.status,
            to,
        };
        match to {
            RequestedStatus::Ready if self.status == JobStatus::Suspended => {
                self.status = JobStatus::Ready;
            }
            RequestedStatus::Cancelled
                if !self.status.is_terminal() && self.status != JobStatus::Cancelling =>
            {
                self.cancel_requested = true;
                if self.status == JobStatus::Active {
                    self.status = JobStatus::Cancelling;
                } else {
                    self.status = JobStatus::Cancelled;
                    self.termination_date = Some(OffsetDateTime::now_utc());
                }
            }
            _ => return Err(refused),
        }
        self.wake.notify_waiters();
        Ok(())
    }
}

/// Every job, per account.
#[derive(Debug, Default)]
pub(crate) struct Jobs {
    /// Every job by id (ids are UUIDs: unique across accounts).
    pub(crate) by_id: HashMap<String, Job>,
    /// Creation order, for listings (newest last).
    pub(crate) order: Vec<String>,
}

impl Jobs {
    /// Adds a job; returns its id.
    pub(crate) fn insert(&mut self, job: Job) -> String {
        let id = job.id.clone();
        self.order.push(id.clone());
        self.by_id.insert(id.clone(), job);
        id
    }

    /// The job `account` created with `token`.
    pub(crate) fn by_token(&self, account: &str, token: &str) -> Option<&Job> {
        self.by_id
            .values()
            .find(|j| j.request.account == account && j.request.token == token)
    }
}

/// The service's state: its configuration and every job, per account.
#[derive(Debug)]
pub struct BatchService {
    pub(crate) config: BatchConfig,
    jobs: Mutex<Jobs>,
}

/// What a job needs to run, taken from its record once.
#[derive(Debug)]
pub(crate) struct RunTicket {
    pub(crate) spec: Arc<JobSpec>,
    pub(crate) confirmation_required: bool,
    pub(crate) wake: Arc<Notify>,
}

impl BatchService {
    /// A service with no jobs.
    pub fn new(config: BatchConfig) -> Arc<Self> {
        Arc::new(Self {
            config,
            jobs: Mutex::new(Jobs::default()),
        })
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &BatchConfig {
        &self.config
    }

    /// The region job ARNs name: the S3 client's, else `us-east-1`.
    pub(crate) fn region(&self) -> String {
        self.config
            .s3
            .config()
            .region()
            .map(|r| r.to_string())
            .unwrap_or_else(|| "us-east-1".to_owned())
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Jobs> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What the engine needs to run job `id` (None when it does not exist).
    pub(crate) fn ticket(&self, id: &str) -> Option<RunTicket> {
        self.lock().by_id.get(id).map(|job| RunTicket {
            spec: Arc::clone(&job.request.spec),
            confirmation_required: job.request.confirmation_required,
            wake: Arc::clone(&job.wake),
        })
    }

    /// Waits the configured pause (and takes a gate permit) before a lifecycle transition.
    pub(crate) async fn pace(&self) {
        if !self.config.phase_delay.is_zero() {
            tokio::time::sleep(self.config.phase_delay).await;
        }
        if let Some(gate) = &self.config.phase_gate
            && let Ok(permit) = gate.acquire().await
        {
            permit.forget();
        }
    }

    /// Moves the job to `status` unless it was cancelled meanwhile; false when cancelled.
    pub(crate) fn advance(&self, id: &str, status: JobStatus) -> bool {
        let mut jobs = self.lock();
        let Some(job) = jobs.by_id.get_mut(id) else {
            return false;
        };
        if job.cancel_requested {
            return false;
        }
        tracing::info!(job_id = id, from = %job.status, to = %status, "job status");
        job.status = status;
        true
    }

    /// Records how many tasks the manifest listed.
    pub(crate) fn set_total(&self, id: &str, total: u64) {
        if let Some(job) = self.lock().by_id.get_mut(id) {
            job.total = total;
        }
    }

    /// Waits in `Suspended` for UpdateJobStatus: true once `Ready`, false when cancelled.
    pub(crate) async fn confirmed(&self, id: &str, wake: &Notify) -> bool {
        loop {
            // Registered before the status is read, so a request in between is not missed.
            let woken = wake.notified();
            let status = self.lock().by_id.get(id).map(|j| j.status);
            match status {
                Some(JobStatus::Ready) => return true,
                Some(JobStatus::Suspended) => woken.await,
                _ => return false,
            }
        }
    }

    /// `Active`, the clock of `ElapsedTimeInActiveSeconds` started; false when cancelled.
    pub(crate) fn activate(&self, id: &str) -> bool {
        let mut jobs = self.lock();
        let Some(job) = jobs.by_id.get_mut(id) else {
            return false;
        };
        if job.cancel_requested {
            return false;
        }
        job.status = JobStatus::Active;
        job.active_since = Some(Instant::now());
        tracing::info!(job_id = id, tasks = job.total, "job active");
        true
    }

    /// Counts one task's outcome; returns `(tasks run, tasks failed)` so far.
    pub(crate) fn count_task(&self, id: &str, succeeded: bool) -> Option<(u64, u64)> {
        let mut jobs = self.lock();
        let job = jobs.by_id.get_mut(id)?;
        if succeeded {
            job.succeeded += 1;
        } else {
            job.failed += 1;
        }
        Some((job.succeeded + job.failed, job.failed))
    }

    /// Whether a cancellation was requested (or the job is gone).
    pub(crate) fn is_cancelled(&self, id: &str) -> bool {
        self.lock().by_id.get(id).is_none_or(|j| j.cancel_requested)
    }

    /// Ends the job: its terminal status, failure reason and termination date.
    pub(crate) fn finish(&self, id: &str, ending: Ending) {
        let mut jobs = self.lock();
        let Some(job) = jobs.by_id.get_mut(id) else {
            return;
        };
        if let Some(t) = job.active_since.take() {
            job.active_elapsed += t.elapsed();
        }
        let status = match ending {
            Ending::Complete => JobStatus::Complete,
            Ending::Cancelled => JobStatus::Cancelled,
            Ending::Failed(f) => {
                tracing::warn!(job_id = id, code = %f.code, reason = %f.reason, "job failed");
                job.failure_reasons.push(f);
                JobStatus::Failed
            }
        };
        tracing::info!(job_id = id, from = %job.status, to = %status, "job finished");
        job.status = status;
        job.termination_date = Some(OffsetDateTime::now_utc());
    }
}

/// An RFC 3339 timestamp, as S3 Control writes them.
pub(crate) fn timestamp(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_reads_back_from_its_aws_name() {
        for s in JobStatus::ALL {
            assert_eq!(JobStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(JobStatus::parse("Paused"), None);
        assert_eq!(JobStatus::parse("complete"), None);
    }

    fn job(status: JobStatus) -> Job {
        let request = Request {
            account: "123456789012".into(),
            token: "t".into(),
            fingerprint: String::new(),
            description: None,
            role_arn: String::new(),
            confirmation_required: true,
            raw_manifest: String::new(),
            raw_operation: String::new(),
            raw_report: String::new(),
            spec: Arc::new(crate::spec::tests_support::spec()),
        };
        let mut j = Job::new(request, 1, Vec::new());
        j.status = status;
        j
    }

    #[test]
    fn update_job_status_moves_only_along_the_lifecycle() {
        let mut j = job(JobStatus::Suspended);
        j.request(RequestedStatus::Ready).unwrap();
        assert_eq!(j.status, JobStatus::Ready);

        let mut j = job(JobStatus::Active);
        j.request(RequestedStatus::Cancelled).unwrap();
        assert_eq!(j.status, JobStatus::Cancelling);
        assert!(j.cancel_requested && j.termination_date.is_none());
        assert_eq!(
            j.request(RequestedStatus::Cancelled),
            Err(TransitionRefused {
                from: JobStatus::Cancelling,
                to: RequestedStatus::Cancelled
            })
        );

        let mut j = job(JobStatus::Preparing);
        j.request(RequestedStatus::Cancelled).unwrap();
        assert_eq!(j.status, JobStatus::Cancelled);
        assert!(j.termination_date.is_some());

        let mut j = job(JobStatus::Complete);
        let refused = j.request(RequestedStatus::Cancelled).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "The job cannot be moved from status Complete to Cancelled."
        );
        assert!(matches!(
            job(JobStatus::Active).request(RequestedStatus::Ready),
            Err(TransitionRefused {
                from: JobStatus::Active,
                ..
            })
        ));
    }
}
