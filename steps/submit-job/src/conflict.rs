//! A job of the snapshot exists already: is it the job this input asks for?
//!
//! A snapshot has one job, and every setting of a job is fixed when it is created. A re-run with
//! the same input finds that job and returns it; a re-run with *different* settings for the same
//! snapshot (another report prefix, storage class, priority, Object Lock mode or date, role, or
//! for a restore another target key prefix) must not silently return a job that does not do what
//! was asked — audit-report, pointed at the new report prefix, would then fail with
//! `ReportNotFound`. It is a `JobConflict` instead.

use std::fmt;

use aws_sdk_s3control::primitives::DateTime;
use aws_sdk_s3control::types::JobDescriptor;
use kit::validate::quote;

/// What this input asks of the snapshot's job.
#[derive(Debug, Clone, PartialEq)]
pub struct Requested<'a> {
    /// The role Batch Operations assumes.
    pub role_arn: &'a str,
    /// Job priority.
    pub priority: i32,
    /// `arn:aws:s3:::<report bucket>`.
    pub report_bucket_arn: String,
    /// The report prefix.
    pub report_prefix: &'a str,
    /// `arn:aws:s3:::<snapshot bucket>`.
    pub target_arn: String,
    /// Storage class of the copies.
    pub storage_class: &'a str,
    /// Object Lock mode and retain-until date.
    pub lock: Option<(&'a str, DateTime)>,
    /// `TargetKeyPrefix` of the copies (a restore's; none for a snapshot).
    pub target_key_prefix: Option<&'a str>,
}

/// One setting in which the existing job differs from the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// The input field (`report.prefix`, `storage_class`, …).
    pub setting: &'static str,
    /// The existing job's value.
    pub existing: String,
    /// The requested value.
    pub requested: String,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} is {} in the job, {} in this input",
            self.setting,
            quote(&self.existing),
            quote(&self.requested)
        )
    }
}

fn lock_text(lock: Option<(&str, DateTime)>) -> String {
    match lock {
        None => "none".to_owned(),
        Some((mode, until)) => format!("{mode} until {until}"),
    }
}

/// The settings in which `job` differs from `want` (empty: it is the requested job).
pub fn differences(job: &JobDescriptor, want: &Requested<'_>) -> Vec<Difference> {
    let mut out = Vec::new();
    let mut check = |setting: &'static str, existing: String, requested: String| {
        if existing != requested {
            out.push(Difference {
                setting,
                existing,
                requested,
            });
        }
    };
    check(
        "role_arn",
        job.role_arn().unwrap_or_default().to_owned(),
        want.role_arn.to_owned(),
    );
    check(
        "priority",
        job.priority().to_string(),
        want.priority.to_string(),
    );
    let report = job.report();
    check(
        "report.bucket",
        report
            .and_then(|r| r.bucket())
            .unwrap_or_default()
            .to_owned(),
        want.report_bucket_arn.clone(),
    );
    // S3 writes under `<prefix>/job-<id>/` whether or not the prefix ends in '/'.
    check(
        "report.prefix",
        report
            .and_then(|r| r.prefix())
            .unwrap_or_default()
            .trim_end_matches('/')
            .to_owned(),
        want.report_prefix.trim_end_matches('/').to_owned(),
    );
    let copy = job.operation().and_then(|o| o.s3_put_object_copy());
    check(
        "snapshot_bucket",
        copy.and_then(|c| c.target_resource())
            .unwrap_or_default()
            .to_owned(),
        want.target_arn.clone(),
    );
    check(
        "storage_class",
        copy.and_then(|c| c.storage_class())
            .map_or("STANDARD", |s| s.as_str())
            .to_owned(),
        want.storage_class.to_owned(),
    );
    let existing_lock = copy.and_then(|c| {
        let mode = c.object_lock_mode()?.as_str();
        let until = c.object_lock_retain_until_date()?;
        Some((mode, *until))
    });
    check(
        "retain_until / object_lock_mode",
        lock_text(existing_lock),
        lock_text(want.lock),
    );
    let prefix_text = |p: Option<&str>| p.filter(|p| !p.is_empty()).unwrap_or("none").to_owned();
    check(
        "restore.target_key_prefix",
        prefix_text(copy.and_then(|c| c.target_key_prefix())),
        prefix_text(want.target_key_prefix),
    );
    out
}
