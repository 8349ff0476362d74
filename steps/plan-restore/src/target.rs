//! A restore never writes over anything: the target prefix must be empty — or hold only this
//! same restore's objects (a re-run after the copy began), which is how a retried or redriven
//! restore finds its own work instead of refusing it.

use std::collections::HashMap;

use kit::AwsFailure;
use kit::record::ObjectRef;

use crate::PlanRestoreError;
use crate::manifest::PlanRecord;

/// Objects named in a `TargetNotEmpty` message.
const SAMPLES: usize = 3;

/// `Ok(false)`: empty; `Ok(true)`: this restore's own objects only, and its plan is recorded.
pub(crate) async fn check_empty(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    record: &PlanRecord,
    plan: &ObjectRef,
) -> Result<bool, PlanRestoreError> {
    let planned: HashMap<String, u64> = record
        .files
        .iter()
        .map(|f| (format!("{prefix}{}", f.path), f.size))
        .collect();
    let mut pages = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    let mut seen = 0usize;
    let mut foreign: Vec<String> = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| match kit::classify("ListObjectsV2", e) {
            AwsFailure::Service(s) if s.is("NoSuchBucket") => PlanRestoreError::TargetNotFound {
                bucket: bucket.to_owned(),
            },
            other => other.into(),
        })?;
        for o in page.contents() {
            let key = o.key().unwrap_or_default();
            let size = o.size().and_then(|s| u64::try_from(s).ok());
            seen += 1;
            if planned.get(key).copied() != size {
                foreign.push(key.to_owned());
            }
            // Enough to refuse: no need to list a big foreign prefix to the end.
            if foreign.len() >= SAMPLES {
                break;
            }
        }
        if foreign.len() >= SAMPLES {
            break;
        }
    }
    if seen == 0 {
        return Ok(false);
    }
    let refuse = |found: String| PlanRestoreError::TargetNotEmpty {
        bucket: bucket.to_owned(),
        prefix: prefix.to_owned(),
        found,
    };
    if !foreign.is_empty() {
        return Err(refuse(format!(
            "e.g. {}",
            foreign
                .iter()
                .map(|k| kit::validate::quote(k))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    // Everything there is this plan's: ours only if the plan was recorded (a plan is written
    // before its job can copy anything).
    match s3
        .head_object()
        .bucket(&plan.bucket)
        .key(&plan.key)
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(e) => match kit::classify("HeadObject", e) {
            AwsFailure::Service(s) if s.is("NotFound") || s.status == Some(404) => {
                Err(refuse(format!(
                    "{seen} object(s) with this restore's names, but no plan of it at s3://{}/{}",
                    plan.bucket, plan.key
                )))
            }
            other => Err(other.into()),
        },
    }
}
