//! One table: list its log, date its commits, read candidate versions with the kernel, check
//! their files, conclude.

use std::collections::BTreeMap;
use std::sync::Arc;

use url::Url;

use crate::VerifyError;
use crate::commits::{CommitTime, read_commit_time};
use crate::files::Sizes;
use crate::kernel::{self, Engine, VersionFiles};
use crate::log::LogListing;
use crate::report::{AsOf, Missing, TableReport, TableVerdict};

/// Versions read below the latest at most, looking for a complete one. The inventory behind the
/// copy is eventually consistent, so the newest commit or two can be ahead of their data files;
/// twenty versions back covers that with room, and bounds the work on a table that is broken.
pub const MAX_WALK_BACK: u64 = 20;
/// Commits read at most to find the backup date's version, newest first.
pub const MAX_COMMITS_DATED: u64 = 200;
/// Findings kept per table.
const FINDINGS_LIMIT: usize = 20;

/// What a table's analysis needs.
pub(crate) struct Ctx<'a> {
    pub(crate) s3: &'a aws_sdk_s3::Client,
    pub(crate) bucket: &'a str,
    pub(crate) engine: Arc<Engine>,
    /// The end of the backup date (UTC), exclusive, epoch milliseconds.
    pub(crate) date_end_ms: i64,
}

/// Every object under `prefix`: key → size.
pub(crate) async fn list_prefix(
    ctx: &Ctx<'_>,
    prefix: &str,
) -> Result<BTreeMap<String, u64>, VerifyError> {
    let mut out = BTreeMap::new();
    let mut pages = ctx
        .s3
        .list_objects_v2()
        .bucket(ctx.bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| VerifyError::from(kit::classify("ListObjectsV2", e)))?;
        for o in page.contents() {
            if let Some(k) = o.key() {
                let size = o.size().and_then(|s| u64::try_from(s).ok()).unwrap_or(0);
                out.insert(k.to_owned(), size);
            }
        }
    }
    Ok(out)
}

/// Lists `<root>_delta_log/` (recursively: sidecars included).
pub(crate) async fn list_log(ctx: &Ctx<'_>, root: &str) -> Result<LogListing, VerifyError> {
    let prefix = format!("{root}_delta_log/");
    let mut names = Vec::new();
    let mut pages = ctx
        .s3
        .list_objects_v2()
        .bucket(ctx.bucket)
        .prefix(&prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| VerifyError::from(kit::classify("ListObjectsV2", e)))?;
        for o in page.contents() {
            if let Some(k) = o.key().and_then(|k| k.strip_prefix(&prefix)) {
                names.push(k.to_owned());
            }
        }
    }
    Ok(LogListing::from_names(names.iter().map(String::as_str)))
}

/// The `_last_checkpoint` hint's version, when it parses.
async fn last_checkpoint_version(ctx: &Ctx<'_>, root: &str) -> Result<Option<u64>, VerifyError> {
    let key = format!("{root}_delta_log/_last_checkpoint");
    match ctx
        .s3
        .get_object()
        .bucket(ctx.bucket)
        .key(&key)
        .send()
        .await
    {
        Ok(o) => {
            let len = o.content_length();
            let deadline = kit::clients::body_deadline(ctx.s3.config().timeout_config());
            let bytes = kit::body::read_capped(o.body, len, 1024 * 1024, deadline)
                .await
                .unwrap_or_default();
            Ok(serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v.get("version").and_then(serde_json::Value::as_u64)))
        }
        Err(e) => match kit::classify("GetObject", e) {
            kit::AwsFailure::Service(s) if s.is("NoSuchKey") => Ok(None),
            other => Err(other.into()),
        },
    }
}

/// The newest version committed before `end_ms`, newest first over the commits present.
async fn as_of_version(
    ctx: &Ctx<'_>,
    root: &str,
    log: &LogListing,
    findings: &mut Vec<String>,
) -> Result<Option<(u64, CommitTime)>, VerifyError> {
    for (read, &v) in log.commits.iter().rev().enumerate() {
        if read as u64 >= MAX_COMMITS_DATED {
            findings.push(format!(
                "the backup date's version was not found among the newest {MAX_COMMITS_DATED} commits"
            ));
            return Ok(None);
        }
        let key = format!("{root}_delta_log/{v:020}.json");
        match read_commit_time(ctx.s3, ctx.bucket, &key).await? {
            Ok(t) if t.ms < ctx.date_end_ms => return Ok(Some((v, t))),
            Ok(_) => {}
            Err(why) => {
                findings.push(format!("commit {v} cannot be dated: {why}"));
                return Ok(None);
            }
        }
    }
    let oldest = log.commits.iter().next().copied();
    findings.push(match oldest {
        Some(o) => format!(
            "every commit in the snapshot (the oldest is {o}) was made after the backup date"
        ),
        None => "the log holds no commit to date".to_owned(),
    });
    Ok(None)
}

/// The outcome of checking one version.
enum Check {
    Complete(VersionFiles),
    Incomplete {
        missing: Missing,
        outside: Vec<String>,
        protocol: crate::report::Protocol,
    },
    Unreadable(String),
}

async fn check_version(
    ctx: &Ctx<'_>,
    url: &Url,
    root: &str,
    version: u64,
    sizes: &mut Sizes,
) -> Result<Check, VerifyError> {
    let engine = ctx.engine.clone();
    let (url2, root2) = (url.clone(), root.to_owned());
    // Log replay is CPU-bound (and the kernel's API blocking): off the async workers.
    let read =
        tokio::task::spawn_blocking(move || kernel::read_version(&engine, &url2, &root2, version))
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
    let files = match read {
        Ok(f) => f,
        Err(e) => return Ok(Check::Unreadable(e)),
    };
    sizes.learn(ctx.s3, ctx.bucket, root, &files.files).await?;
    sizes
        .learn(ctx.s3, ctx.bucket, root, &files.deletion_vectors)
        .await?;
    let missing = sizes.missing(version, &files.files, &files.deletion_vectors);
    if missing.count > 0 || !files.outside.is_empty() {
        Ok(Check::Incomplete {
            missing,
            outside: files.outside,
            protocol: files.protocol,
        })
    } else {
        Ok(Check::Complete(files))
    }
}

/// Checks version `v`, notes the outcome; `Some(files)` when it is complete.
#[allow(clippy::too_many_arguments)]
async fn record_check(
    ctx: &Ctx<'_>,
    url: &Url,
    root: &str,
    v: u64,
    sizes: &mut Sizes,
    report: &mut TableReport,
    results: &mut BTreeMap<u64, bool>,
    findings: &mut Vec<String>,
) -> Result<Option<VersionFiles>, VerifyError> {
    report.versions_checked.push(v);
    match check_version(ctx, url, root, v, sizes).await? {
        Check::Complete(files) => {
            results.insert(v, true);
            if report.protocol.is_none() {
                report.protocol = Some(files.protocol.clone());
            }
            Ok(Some(files))
        }
        Check::Incomplete {
            missing,
            outside,
            protocol,
        } => {
            results.insert(v, false);
            if report.protocol.is_none() {
                report.protocol = Some(protocol);
            }
            for p in outside.iter().take(3) {
                findings.push(format!(
                    "version {v} references a file outside the snapshot (an absolute path): {p}"
                ));
            }
            if report.missing.version.is_none() && missing.count > 0 {
                report.missing = missing;
            }
            Ok(None)
        }
        Check::Unreadable(e) => {
            results.insert(v, false);
            findings.push(format!("version {v} cannot be read: {e}"));
            Ok(None)
        }
    }
}

/// Analyses the table at `root`.
pub(crate) async fn analyse(ctx: &Ctx<'_>, root: &str) -> Result<TableReport, VerifyError> {
    let mut findings = Vec::new();
    let log = list_log(ctx, root).await?;
    let latest = log.latest_version();
    let earliest = log.earliest_version();
    let mut report = TableReport {
        root: root.to_owned(),
        verdict: TableVerdict::Unrestorable,
        latest_version: latest,
        restorable_version: None,
        earliest_version: earliest,
        as_of_backup_date: None,
        files: None,
        bytes: None,
        deletion_vectors: None,
        missing: Missing::default(),
        protocol: None,
        versions_checked: Vec::new(),
        findings: Vec::new(),
    };
    if log.has_last_checkpoint
        && let Some(v) = last_checkpoint_version(ctx, root).await?
        && !log.checkpoints.contains(&v)
    {
        findings.push(format!(
            "_last_checkpoint names the checkpoint of version {v}, which is not in the snapshot"
        ));
    }
    for (v, (seen, total)) in &log.partial_checkpoints {
        findings.push(format!(
            "the checkpoint of version {v} has {seen} of its {total} parts"
        ));
    }
    let Some(latest) = latest else {
        findings.push("_delta_log/ holds no commit and no checkpoint".to_owned());
        report.findings = findings;
        return Ok(report);
    };
    if earliest.is_none() {
        findings.push(match log.commits.iter().next() {
            Some(first) if *first > 0 && log.checkpoints.is_empty() => format!(
                "the log starts at commit {first} and has no checkpoint: no version can be \
                 reconstructed (a reader that replays it anyway misses everything before {first})"
            ),
            _ => "no version's log is complete in the snapshot".to_owned(),
        });
    }

    let as_of = as_of_version(ctx, root, &log, &mut findings).await?;

    let url = kernel::table_url(ctx.bucket, root)
        .map_err(|e| VerifyError::InvalidInput(kit::InvalidInput::new("$.snapshot_bucket", e)))?;
    let mut sizes = Sizes::default();
    let mut results: BTreeMap<u64, bool> = BTreeMap::new();
    let mut complete: Option<(u64, VersionFiles)> = None;
    // Newest first, down to the walk-back bound, stopping at the first complete version.
    let walk: Vec<u64> = match earliest {
        Some(e) => (latest.saturating_sub(MAX_WALK_BACK).max(e)..=latest)
            .rev()
            .filter(|v| log.reconstructs(*v))
            .collect(),
        None => Vec::new(),
    };
    for v in walk {
        let done = record_check(
            ctx,
            &url,
            root,
            v,
            &mut sizes,
            &mut report,
            &mut results,
            &mut findings,
        )
        .await?;
        if let Some(files) = done {
            complete = Some((v, files));
            break;
        }
    }
    // The backup date's version, when the walk did not decide it (it is older than the complete
    // version found, or below the bound).
    if let Some((a, _)) = &as_of
        && !results.contains_key(a)
        && log.reconstructs(*a)
    {
        let done = record_check(
            ctx,
            &url,
            root,
            *a,
            &mut sizes,
            &mut report,
            &mut results,
            &mut findings,
        )
        .await?;
        if let Some(files) = done
            && complete.is_none()
        {
            complete = Some((*a, files));
        }
    }
    if let Some((v, files)) = &complete {
        report.restorable_version = Some(*v);
        report.files = Some(files.files.len() as u64);
        report.bytes = Some(files.files.values().sum());
        report.deletion_vectors = Some(files.with_deletion_vectors);
    }
    if let Some((v, t)) = as_of {
        let restorable = results.get(&v).copied().unwrap_or(false);
        report.as_of_backup_date = Some(AsOf {
            version: v,
            committed_at_ms: t.ms,
            source: t.source.to_owned(),
            restorable,
        });
    }
    report.verdict = match (&report.as_of_backup_date, complete.is_some()) {
        (Some(a), _) if a.restorable => TableVerdict::Restorable,
        (_, true) => TableVerdict::Degraded,
        _ => TableVerdict::Unrestorable,
    };
    let total = findings.len();
    findings.truncate(FINDINGS_LIMIT);
    if total > FINDINGS_LIMIT {
        findings.push(format!("… and {} more finding(s)", total - FINDINGS_LIMIT));
    }
    report.findings = findings;
    Ok(report)
}
