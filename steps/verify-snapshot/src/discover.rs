//! Finding the tables: a delimiter walk of the snapshot bucket. Each directory outside a table is
//! listed once with `Delimiter=/`; a directory whose common prefixes include `_delta_log/` is a
//! table root and is not descended into, so no data file of any table is ever listed here. The
//! walk stops paging a directory as soon as it knows it is a table root (`_delta_log/` sorts
//! before lowercase names, so that is usually the first page).

use std::collections::VecDeque;

use kit::AwsFailure;

use crate::VerifyError;

/// Directories visited at most. A bucket laid out as tables needs a few per table; beyond this the
/// walk stops and says so (the snapshot's verdict becomes `degraded`).
pub const MAX_DIRECTORIES: u64 = 100_000;

/// What the walk found.
#[derive(Debug, Default)]
pub(crate) struct Discovery {
    /// Table roots (`""` or ending in `/`), in key order.
    pub(crate) tables: Vec<String>,
    /// Objects seen outside any table.
    pub(crate) non_delta_objects: u64,
    /// Directories listed.
    pub(crate) directories: u64,
    /// ListObjectsV2 requests sent.
    pub(crate) requests: u64,
    /// Whether the walk stopped at [`MAX_DIRECTORIES`].
    pub(crate) truncated: bool,
}

/// Walks `bucket` from its root.
pub(crate) async fn discover(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
) -> Result<Discovery, VerifyError> {
    let mut d = Discovery::default();
    let mut queue: VecDeque<String> = VecDeque::from([String::new()]);
    while let Some(dir) = queue.pop_front() {
        if d.directories >= MAX_DIRECTORIES {
            d.truncated = true;
            break;
        }
        d.directories += 1;
        let log_dir = format!("{dir}_delta_log/");
        let mut children = Vec::new();
        let mut objects = 0u64;
        let mut is_table = false;
        let mut pages = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(&dir)
            .delimiter("/")
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            d.requests += 1;
            let page = page.map_err(|e| match kit::classify("ListObjectsV2", e) {
                AwsFailure::Service(s) if s.is("NoSuchBucket") => VerifyError::SnapshotNotFound {
                    bucket: bucket.to_owned(),
                },
                other => other.into(),
            })?;
            for p in page.common_prefixes() {
                match p.prefix() {
                    Some(p) if p == log_dir => is_table = true,
                    Some(p) => children.push(p.to_owned()),
                    None => {}
                }
            }
            if is_table {
                break;
            }
            objects += page.contents().len() as u64;
        }
        if is_table {
            d.tables.push(dir);
        } else {
            d.non_delta_objects += objects;
            queue.extend(children);
        }
    }
    d.tables.sort();
    Ok(d)
}
