//! What both ways of running share: how an execution ended, and the copy job's progress
//! (DescribeJob's counts, the bytes already under the target).

use serde_json::Value;

use crate::progress::{JobCounts, Seen};

/// How an execution ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    /// With this output.
    Succeeded(Value),
    /// With this error (the failed step's errorType) and cause.
    Failed {
        /// The error name.
        error: String,
        /// The cause (often the step's error JSON).
        cause: String,
    },
    /// Aborted or timed out.
    Stopped(String),
}

/// A finished execution and what was seen of it.
#[derive(Debug, Clone)]
pub struct Finished {
    /// The execution ARN (AWS) or the local run's name and history file.
    pub execution: String,
    /// How it ended.
    pub status: Status,
    /// The plan, job and verification seen on the way.
    pub seen: Seen,
}

/// Listing the target costs a request per 1,000 objects: beyond this many pages the bytes copied
/// are estimated from the task counts instead.
const MAX_LISTING_PAGES: usize = 10;

/// Updates the job's counts (DescribeJob) and the bytes under the target (ListObjectsV2), when
/// a job is known. Failures leave what was known: progress is best effort.
pub async fn refresh_job(
    seen: &mut Seen,
    s3control: &aws_sdk_s3control::Client,
    s3: &aws_sdk_s3::Client,
    account_id: &str,
) {
    let Some(job_id) = seen.job_id.clone() else {
        return;
    };
    if seen.job.as_ref().is_some_and(|j| is_terminal(&j.status)) && seen.copied_bytes.is_some() {
        return;
    }
    match s3control
        .describe_job()
        .account_id(account_id)
        .job_id(&job_id)
        .send()
        .await
    {
        Ok(out) => {
            if let Some(job) = out.job() {
                let p = job.progress_summary();
                let non_negative = |v: Option<i64>| v.map(|n| n.max(0) as u64);
                seen.job = Some(JobCounts {
                    status: job
                        .status()
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default(),
                    total: p
                        .and_then(|p| non_negative(p.total_number_of_tasks()))
                        .filter(|n| *n > 0),
                    succeeded: p
                        .and_then(|p| non_negative(p.number_of_tasks_succeeded()))
                        .unwrap_or(0),
                    failed: p
                        .and_then(|p| non_negative(p.number_of_tasks_failed()))
                        .unwrap_or(0),
                });
            }
        }
        // Right after creation DescribeJob may answer NoSuchJob for a while: try again later.
        Err(e) => tracing::debug!(job_id, error = %kit::error::source_chain(&e), "DescribeJob"),
    }
    seen.copied_bytes = match target_bytes(seen, s3).await {
        Some(b) => Some((b, false)),
        None => seen.estimated_bytes().map(|b| (b, true)),
    };
}

/// `Complete`, `Failed`, `Cancelled`.
pub fn is_terminal(status: &str) -> bool {
    matches!(status, "Complete" | "Failed" | "Cancelled")
}

/// The bytes under the target prefix (the target was empty when planned: what is there now is
/// what the job copied), or `None` when it cannot be listed or is too large to list each time.
async fn target_bytes(seen: &Seen, s3: &aws_sdk_s3::Client) -> Option<u64> {
    let plan = seen.plan.as_ref()?;
    let bucket = plan["target"]["bucket"].as_str()?;
    let prefix = plan["target"]["prefix"].as_str().unwrap_or("");
    let mut pages = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    let mut bytes = 0u64;
    let mut n = 0;
    while let Some(page) = pages.next().await {
        n += 1;
        if n > MAX_LISTING_PAGES {
            return None;
        }
        let page = page.ok()?;
        bytes += page
            .contents()
            .iter()
            .map(|o| o.size().unwrap_or(0).max(0) as u64)
            .sum::<u64>();
    }
    Some(bytes)
}
