//! A local S3 Batch Operations service.
//!
//! No AWS emulator implements Batch Operations (moto answers 404), so lakevault brings its own:
//! an HTTP service that speaks the S3 Control job API exactly as `aws-sdk-s3control` sends it
//! (REST-XML under `/v20180820/jobs`, the account id in `x-amz-account-id`) and runs
//! `S3PutObjectCopy` jobs against any S3 endpoint (moto, in practice), asynchronously, through
//! AWS's lifecycle. See the README section "Local S3 Batch Operations" for what it implements
//! and how it differs from AWS.
//!
//! * [`router`] — the axum routes, to serve alone ([`serve`]) or merged with other routes.
//! * [`BatchConfig`] — where to copy, the copy-size limit, the failure-rate rule, pacing.
//! * [`spawn`] — starts a service on a listener in the background (tests, combined servers).

mod api;
mod engine;
pub mod model;
pub mod testkit;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore};

pub use api::router;

/// AWS's copy-source limit for `CopyObject` (5 GiB).
pub const AWS_MAX_COPY_BYTES: i64 = 5_368_709_120;

/// How the service behaves.
#[derive(Debug, Clone)]
pub struct BatchConfig {
    /// The S3 client the jobs read manifests, copy objects and write reports with.
    pub s3: aws_sdk_s3::Client,
    /// Largest copy source, in bytes (AWS: 5368709120). Lower it to exercise the limit with
    /// small objects.
    pub max_copy_bytes: i64,
    /// Copies in flight per job.
    pub concurrency: usize,
    /// Pause before each lifecycle transition (New→Preparing, Preparing→Active, Active→Complete)
    /// so that pollers can observe the states. Zero by default.
    pub phase_delay: Duration,
    /// When set, every lifecycle transition first takes one permit from this semaphore: tests
    /// step a job through its states deterministically (`add_permits(1)` per transition).
    pub phase_gate: Option<Arc<Semaphore>>,
    /// The failure-rate rule: once this many tasks have run… (AWS: 1,000)
    pub failure_rule_min_tasks: u64,
    /// …a job whose failed share exceeds this percentage fails as a whole (AWS: 50).
    pub failure_rule_percent: u64,
}

impl BatchConfig {
    /// AWS's limits and rules, copying with `s3`.
    pub fn new(s3: aws_sdk_s3::Client) -> Self {
        Self {
            s3,
            max_copy_bytes: AWS_MAX_COPY_BYTES,
            concurrency: 8,
            phase_delay: Duration::ZERO,
            phase_gate: None,
            failure_rule_min_tasks: 1000,
            failure_rule_percent: 50,
        }
    }

    /// AWS's limits and rules, copying with an S3 client built from `conf` (path-style when the
    /// endpoint is overridden, e.g. with `AWS_ENDPOINT_URL_S3`).
    pub fn from_sdk_config(conf: &aws_config::SdkConfig) -> Self {
        Self::new(kit::clients::s3(conf))
    }
}

/// The service's state: its configuration and every job, per account.
#[derive(Debug)]
pub struct BatchService {
    pub(crate) config: BatchConfig,
    pub(crate) jobs: Mutex<Jobs>,
}

#[derive(Debug, Default)]
pub(crate) struct Jobs {
    /// Every job by id (ids are UUIDs: unique across accounts).
    pub(crate) by_id: HashMap<String, Job>,
    /// Creation order, for listings (newest last).
    pub(crate) order: Vec<String>,
}

/// One job's record, as DescribeJob shows it.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) id: String,
    pub(crate) account: String,
    pub(crate) token: String,
    /// The CreateJob body, to tell a retried request from a conflicting one.
    pub(crate) request_fingerprint: String,
    pub(crate) description: Option<String>,
    pub(crate) priority: i64,
    pub(crate) role_arn: String,
    pub(crate) confirmation_required: bool,
    pub(crate) status: &'static str,
    pub(crate) status_update_reason: Option<String>,
    pub(crate) creation_time: time::OffsetDateTime,
    pub(crate) termination_date: Option<time::OffsetDateTime>,
    /// `<Manifest>`, `<Operation>`, `<Report>` exactly as the client sent them (echoed back).
    pub(crate) raw_manifest: String,
    pub(crate) raw_operation: String,
    pub(crate) raw_report: String,
    pub(crate) spec: Arc<engine::JobSpec>,
    pub(crate) tags: Vec<model::Tag>,
    pub(crate) total: u64,
    pub(crate) succeeded: u64,
    pub(crate) failed: u64,
    pub(crate) active_since: Option<Instant>,
    pub(crate) active_elapsed: Duration,
    pub(crate) failure_reasons: Vec<(String, String)>,
    pub(crate) cancel: Arc<Notify>,
    pub(crate) cancel_requested: bool,
}

impl Job {
    pub(crate) fn elapsed_active_seconds(&self) -> u64 {
        let running = self.active_since.map(|t| t.elapsed()).unwrap_or_default();
        (self.active_elapsed + running).as_secs()
    }

    pub(crate) fn is_terminal(&self) -> bool {
        matches!(self.status, "Complete" | "Cancelled" | "Failed")
    }
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

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, Jobs> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Serves the router on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    state: Arc<BatchService>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// A service running in the background; stopped when dropped.
#[derive(Debug)]
pub struct RunningBatch {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    /// Its state (jobs, configuration).
    pub state: Arc<BatchService>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl RunningBatch {
    /// An S3 Control client for this service: `base` (credentials, region) with its endpoint
    /// replaced by the service's URL.
    pub fn s3control(&self, base: &aws_config::SdkConfig) -> aws_sdk_s3control::Client {
        kit::clients::s3control(&base.to_builder().endpoint_url(&self.url).build())
    }
}

impl Drop for RunningBatch {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Binds `127.0.0.1:0` and serves a new service there in the background.
pub async fn spawn(config: BatchConfig) -> std::io::Result<RunningBatch> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let state = BatchService::new(config);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let s = Arc::clone(&state);
    tokio::spawn(async move {
        let stopped = async move {
            let _ = rx.await;
        };
        if let Err(e) = serve(listener, s, stopped).await {
            tracing::error!(error = %e, "local-batch server stopped");
        }
    });
    Ok(RunningBatch {
        url,
        state,
        stop: Some(tx),
    })
}
