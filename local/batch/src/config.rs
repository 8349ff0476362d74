//! How the service behaves: limits, rules, pacing.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

/// AWS's copy-source limit for `CopyObject` (5 GiB).
pub const AWS_MAX_COPY_BYTES: i64 = 5_368_709_120;

/// The largest manifest object (CSV manifest, inventory `manifest.json`, one inventory data
/// file — compressed and again decompressed) a job reads, unless configured otherwise: 256 MiB.
/// Every task of a job is held in memory, so a bigger manifest is refused rather than read.
pub const DEFAULT_MAX_MANIFEST_BYTES: u64 = 256 * 1024 * 1024;

/// How the service behaves.
#[derive(Debug, Clone)]
pub struct BatchConfig {
    /// The S3 client the jobs read manifests, copy objects and write reports with.
    pub s3: aws_sdk_s3::Client,
    /// Largest copy source, in bytes (AWS: 5368709120). Lower it to exercise the limit with
    /// small objects.
    pub max_copy_bytes: i64,
    /// Largest manifest object read, in bytes ([`DEFAULT_MAX_MANIFEST_BYTES`]); a job whose
    /// manifest (or one of its inventory data files) is larger fails with `InvalidManifest`.
    pub max_manifest_bytes: u64,
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
            max_manifest_bytes: DEFAULT_MAX_MANIFEST_BYTES,
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
