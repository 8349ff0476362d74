#![doc = include_str!("../README.md")]

pub mod bucket;
pub mod plan;

use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use kit::catalog::{CatalogFile, DeletionRecord, ProtectionRecord};
use kit::catalog_read::{self, DeletedSnapshots, Location, Snapshot, Why};
use kit::retention::{KeepClass, KeepPolicy};
use kit::{AccessDenied, Day, InvalidInput, ServiceFailure, Step, Transient, validate};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::bucket::{Deleted, VersionMarker};
use crate::plan::{Fate, Judged, Secs, rfc3339};

/// Where the catalog is: the report bucket and prefix (the backup's `settings.report`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub struct ReportLocation {
    /// The report bucket's name.
    pub bucket: String,
    /// The report prefix (may be empty); the catalog is `<prefix>/catalog/<source>/`.
    #[serde(default)]
    pub prefix: String,
}

/// A snapshot whose extension stopped midway (the budget ran out between two pages of its
/// object versions): the next invocation goes on from there.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub struct Extending {
    /// The snapshot's backup date.
    pub date: Day,
    /// Where its `ListObjectVersions` goes on.
    #[serde(flatten)]
    pub marker: VersionMarker,
}

/// Where an invocation stopped: pass it back unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub struct Cursor {
    /// The source it was at (sources are taken in name order).
    pub source: String,
    /// The last date of that source it finished (dates are taken oldest first); null: none yet.
    #[serde(default)]
    pub after: Option<Day>,
    /// The snapshot after `after` whose Object Lock extension is under way, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extending: Option<Extending>,
}

/// One prune run (or one leg of it, with a cursor).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct Input {
    /// Where the catalog is.
    pub report: ReportLocation,
    /// The keep policy (restic's `--keep-*`); at least one count above 0.
    pub keep: KeepPolicy,
    /// The sources to prune; absent or null: every source folder under `<prefix>/catalog/`.
    #[serde(default)]
    pub sources: Option<Vec<String>>,
    /// Decide and report, write nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// The previous invocation's `cursor` when it answered `done: false`; null to start.
    #[serde(default)]
    pub cursor: Option<Cursor>,
}

/// What became of a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The policy keeps it (its lock reaches the end of its longest keep class).
    Kept,
    /// Not kept; its Object Lock still holds it: nothing done.
    Held,
    /// Not kept, lock lapsed: the expiry lifecycle rules are on its bucket; S3 empties it.
    Expiring,
    /// Its bucket was empty and is deleted (or was gone already); `.deleted.json` written.
    Deleted,
}

/// One line of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PlanItem {
    /// The source bucket.
    pub source: String,
    /// The backup date.
    pub date: Day,
    /// The snapshot bucket.
    pub bucket: String,
    /// What became of it.
    pub status: Status,
    /// The keep rules that keep it (empty unless kept).
    pub kept_by: Vec<KeepClass>,
    /// Why, and what was done.
    pub reason: String,
}

/// Most plan lines in an answer (it goes through Step Functions, 256 KiB at most).
pub const MAX_PLAN: usize = 200;

/// What one invocation did. In a dry run the counts say what a real run would do
/// (`object_versions_extended` stays 0: versions are not read).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Output {
    /// Every snapshot of every source was seen; false: call again with `cursor`.
    pub done: bool,
    /// Where to go on; null when done.
    pub cursor: Option<Cursor>,
    /// Sources read.
    pub sources: u64,
    /// Snapshots judged (those deleted before are not counted).
    pub snapshots: u64,
    /// Of them, kept.
    pub kept: u64,
    /// Held by Object Lock.
    pub held: u64,
    /// Expiring (the lifecycle rules on, the bucket not empty yet).
    pub expiring: u64,
    /// Lifecycle configurations written (expiry rules put, or taken away from a kept snapshot).
    pub lifecycle_put: u64,
    /// Snapshot buckets deleted (or found gone) and recorded.
    pub deleted: u64,
    /// Kept snapshots whose protection was extended (`.protection.json` written).
    pub extended: u64,
    /// Object versions whose retain-until date was raised.
    pub object_versions_extended: u64,
    /// The first [`MAX_PLAN`] snapshots judged, in the order they were.
    pub plan: Vec<PlanItem>,
    /// Snapshots judged but not in `plan`.
    pub plan_not_listed: u64,
}

/// prune-snapshots' errorTypes.
#[derive(Debug, thiserror::Error, kit::strum::IntoStaticStr, kit::strum::VariantNames)]
#[strum(crate = "kit::strum")]
pub enum PruneError {
    /// The event breaks the contract (the message names the field), e.g. an empty keep policy.
    #[error(transparent)]
    InvalidInput(#[from] InvalidInput),
    /// A catalog entry does not parse, is of another source or date than its key, or names a
    /// snapshot bucket of another date. Its source was left alone; the others were pruned. Never
    /// retried: an operator looks at the entries named.
    #[error(
        "{count} catalog entr{} cannot be trusted, so {sources} was left alone: {detail}; fix or \
         remove the entries (lakevault snapshots shows them) and prune again",
        if *count == 1 { "y" } else { "ies" }
    )]
    CatalogInvalid {
        /// How many entries.
        count: usize,
        /// The sources skipped.
        sources: String,
        /// The first few, `key: why`.
        detail: String,
    },
    /// Throttling, a 5xx, a dropped connection. Retry: the run is idempotent.
    #[error(transparent)]
    Transient(#[from] Transient),
    /// The role may not read the catalog, read or change a snapshot bucket, or write a record.
    #[error(transparent)]
    AccessDenied(#[from] AccessDenied),
    /// S3 answered something this step does not expect.
    #[error("{0}; check the report and snapshot buckets")]
    ServiceError(ServiceFailure),
}

kit::step_error!(PruneError, service => ServiceError);

/// The variable that bounds how long an invocation starts new snapshots.
pub const BUDGET_ENV: &str = "LAKEVAULT_PRUNE_BUDGET_SECONDS";

/// An environment variable of the step's that is out of bounds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}={value:?} is not {expected}")]
pub struct SettingError {
    /// The variable.
    pub variable: &'static str,
    /// Its value (at most 64 characters).
    pub value: String,
    /// What it should be.
    pub expected: &'static str,
}

/// Why the step could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A `LAKEVAULT_*_TIMEOUT_SECONDS` variable (kit's clients).
    #[error(transparent)]
    Timeouts(#[from] kit::clients::ConfigError),
    /// The budget.
    #[error(transparent)]
    Setting(#[from] SettingError),
}

/// Settings read once at cold start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// How long after it starts an invocation still starts a new snapshot, or a new page of an
    /// extension (`LAKEVAULT_PRUNE_BUDGET_SECONDS`, 0 to 780, default 600). The first snapshot
    /// starts whatever the budget, so every invocation moves on.
    pub budget: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            budget: Duration::from_secs(600),
        }
    }
}

impl Settings {
    /// From the environment.
    pub fn from_env() -> Result<Self, SettingError> {
        Self::from_lookup(|v| std::env::var(v).ok())
    }

    /// From `lookup` (the environment, or a test's map). 780 s leaves Lambda's 900 s room for
    /// the page or snapshot in flight (one page of 1,000 versions, one HEAD and one PUT each, 16
    /// at a time, well within a minute) and the answer.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingError> {
        let d = Self::default();
        let budget = match lookup(BUDGET_ENV) {
            None => d.budget,
            Some(v) if v.trim().is_empty() => d.budget,
            Some(v) => v
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|s| (0.0..=780.0).contains(s))
                .map(Duration::from_secs_f64)
                .ok_or_else(|| SettingError {
                    variable: BUDGET_ENV,
                    value: v.chars().take(64).collect(),
                    expected: "a number of seconds from 0 to 780",
                })?,
        };
        Ok(Self { budget })
    }
}

/// The step: an S3 client and its settings, built once.
#[derive(Debug, Clone)]
pub struct PruneSnapshots {
    s3: aws_sdk_s3::Client,
    settings: Settings,
}

impl PruneSnapshots {
    /// From the environment (region, endpoints, kit's timeouts, the budget).
    pub async fn from_env() -> Result<Self, StartError> {
        let settings = Settings::from_env()?;
        kit::clients::Timeouts::from_env()?;
        let conf = kit::clients::load_sdk_config().await?;
        Ok(Self::new(kit::clients::s3(&conf), settings))
    }

    /// With a given client and settings (tests).
    pub fn new(s3: aws_sdk_s3::Client, settings: Settings) -> Self {
        Self { s3, settings }
    }
}

/// Checks the event before any request.
pub fn check_input(input: &Input) -> Result<(), InvalidInput> {
    validate::check_bucket("$.report.bucket", &input.report.bucket)?;
    validate::check_key_prefix("$.report.prefix", &input.report.prefix)?;
    input
        .keep
        .validate()
        .map_err(|e| InvalidInput::new("$.keep", e.to_string()))?;
    if let Some(sources) = &input.sources {
        if sources.is_empty() {
            return Err(InvalidInput::new(
                "$.sources",
                "is empty: name at least one source, or leave it out to prune every source",
            ));
        }
        for (i, s) in sources.iter().enumerate() {
            validate::check_source_bucket(&format!("$.sources[{i}]"), s)?;
        }
    }
    if let Some(c) = &input.cursor {
        validate::check_bucket("$.cursor.source", &c.source)?;
    }
    Ok(())
}

/// What was done to one snapshot.
#[derive(Debug, Default)]
struct Acted {
    status: Option<Status>,
    reason: String,
    lifecycle_put: bool,
    extended: bool,
    versions_extended: u64,
    stopped_at: Option<VersionMarker>,
}

impl PruneSnapshots {
    /// Writes a catalog record (pretty JSON, a final newline) of prune's.
    async fn put_record<T: Serialize>(
        &self,
        input: &Input,
        source: &str,
        date: Day,
        file: CatalogFile,
        record: &T,
    ) -> Result<(), PruneError> {
        let key = kit::catalog::key(&input.report.prefix, source, date, file);
        let mut body = serde_json::to_vec_pretty(record).map_err(|e| {
            PruneError::ServiceError(ServiceFailure {
                operation: "serialise a catalog record".to_owned(),
                code: None,
                status: None,
                message: e.to_string(),
            })
        })?;
        body.push(b'\n');
        self.s3
            .put_object()
            .bucket(&input.report.bucket)
            .key(&key)
            .content_type("application/json")
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| PruneError::from(kit::classify("PutObject", e)))?;
        Ok(())
    }

    /// Records a snapshot bucket that is gone.
    async fn record_deleted(
        &self,
        input: &Input,
        source: &str,
        s: &Snapshot,
        reason: &str,
    ) -> Result<(), PruneError> {
        if input.dry_run {
            return Ok(());
        }
        let rec = DeletionRecord {
            snapshot_bucket: s.entry.snapshot_bucket.clone(),
            reason: reason.to_owned(),
        };
        self.put_record(
            input,
            source,
            s.entry.backup_date,
            CatalogFile::Deleted,
            &rec,
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn kept(
        &self,
        input: &Input,
        source: &str,
        s: &Snapshot,
        j: &Judged,
        class: KeepClass,
        target: Secs,
        extend: bool,
        resume: Option<VersionMarker>,
        deadline: Instant,
    ) -> Result<Acted, PruneError> {
        let bucket = s.entry.snapshot_bucket.as_str();
        let mut a = Acted {
            status: Some(Status::Kept),
            reason: j.reason.clone(),
            ..Acted::default()
        };
        // A snapshot the policy keeps again (a wider policy) must not keep expiry rules an
        // earlier run put on it: they go first, before anything else.
        let Some(life) = bucket::lifecycle(&self.s3, bucket).await? else {
            tracing::warn!(bucket, "a kept snapshot's bucket does not exist");
            a.reason
                .push_str("; its snapshot bucket does not exist: nothing to protect");
            return Ok(a);
        };
        if life.has_any_expiry() {
            a.lifecycle_put = true;
            if input.dry_run {
                a.reason.push_str("; would take away the expiry rules");
            } else {
                bucket::put_rules(&self.s3, bucket, &life, &[]).await?;
                a.reason
                    .push_str("; expiry rules taken away (the policy keeps it now)");
            }
        }
        let Some(mode) = s.entry.lock_mode.as_deref() else {
            a.reason.push_str("; no Object Lock: nothing to extend");
            return Ok(a);
        };
        if !extend {
            if let Some(u) = j.protected_until {
                a.reason
                    .push_str(&format!("; protected until {}", rfc3339(u)));
            }
            return Ok(a);
        }
        a.extended = true;
        if input.dry_run {
            a.reason.push_str(&format!(
                "; would extend protection to {} ({class})",
                rfc3339(target)
            ));
            return Ok(a);
        }
        let ext = bucket::extend(&self.s3, bucket, mode, target, resume, deadline).await?;
        a.versions_extended = ext.extended;
        if ext.missing {
            a.extended = false;
            a.reason
                .push_str("; its snapshot bucket does not exist: nothing to protect");
            return Ok(a);
        }
        if let Some(m) = ext.stopped_at {
            a.reason.push_str(&format!(
                "; extending protection to {} ({class}): under way",
                rfc3339(target)
            ));
            a.stopped_at = Some(m);
            return Ok(a);
        }
        let rec = ProtectionRecord {
            snapshot_bucket: bucket.to_owned(),
            retain_until: rfc3339(target),
            keep_class: class.as_str().to_owned(),
            object_versions: ext.versions,
        };
        self.put_record(
            input,
            source,
            s.entry.backup_date,
            CatalogFile::Protection,
            &rec,
        )
        .await?;
        tracing::info!(bucket, retain_until = %rec.retain_until, keep_class = %class,
            versions = ext.versions, raised = ext.extended, "protection extended");
        a.reason.push_str(&format!(
            "; protection extended to {} ({class}): {} of {} object versions raised",
            rec.retain_until, ext.extended, ext.versions
        ));
        Ok(a)
    }

    async fn expiring(
        &self,
        input: &Input,
        source: &str,
        s: &Snapshot,
        j: &Judged,
    ) -> Result<Acted, PruneError> {
        let bucket = s.entry.snapshot_bucket.as_str();
        let why = match j.protected_until {
            Some(u) => format!("{}; Object Lock lapsed {}", j.reason, rfc3339(u)),
            None => format!("{}; no Object Lock", j.reason),
        };
        let mut a = Acted {
            status: Some(Status::Expiring),
            reason: why.clone(),
            ..Acted::default()
        };
        let gone = |mut a: Acted| {
            a.status = Some(Status::Deleted);
            a.reason.push_str("; the snapshot bucket was gone already");
            a
        };
        let Some(life) = bucket::lifecycle(&self.s3, bucket).await? else {
            self.record_deleted(input, source, s, &why).await?;
            return Ok(gone(a));
        };
        let want = bucket::expiry_rules()?;
        if life.has_expiry(&want) {
            a.reason.push_str("; expiry rules in place");
        } else {
            a.lifecycle_put = true;
            if input.dry_run {
                a.reason.push_str("; would put the expiry rules");
            } else {
                bucket::put_rules(&self.s3, bucket, &life, &want).await?;
                a.reason.push_str("; expiry rules put");
            }
        }
        match bucket::is_empty(&self.s3, bucket).await? {
            None => {
                self.record_deleted(input, source, s, &why).await?;
                Ok(gone(a))
            }
            Some(false) => {
                a.reason
                    .push_str("; not empty yet: S3 expires its objects as their locks allow");
                Ok(a)
            }
            Some(true) if input.dry_run => {
                a.status = Some(Status::Deleted);
                a.reason.push_str("; empty: would delete the bucket");
                Ok(a)
            }
            Some(true) => match bucket::delete_bucket(&self.s3, bucket).await? {
                Deleted::Gone => {
                    self.record_deleted(input, source, s, &why).await?;
                    a.status = Some(Status::Deleted);
                    a.reason.push_str("; empty: bucket deleted");
                    tracing::info!(bucket, "snapshot bucket deleted");
                    Ok(a)
                }
                Deleted::NotEmpty => {
                    a.reason
                        .push_str("; not empty yet (written since the check): S3 expires it");
                    Ok(a)
                }
            },
        }
    }

    /// The run with a given clock (`now`, Unix seconds): tests fix it, the Lambda reads the
    /// system clock.
    pub async fn prune(&self, input: Input, now: Secs) -> Result<Output, PruneError> {
        check_input(&input)?;
        let started = Instant::now();
        let deadline = started + self.settings.budget;
        let at = Location {
            bucket: input.report.bucket.clone(),
            prefix: input.report.prefix.clone(),
        };
        let mut sources = match &input.sources {
            Some(v) => v.clone(),
            None => catalog_read::sources(&self.s3, &at).await?,
        };
        sources.sort();
        sources.dedup();

        let mut out = Output {
            done: true,
            ..Output::default()
        };
        let mut invalid: Vec<String> = Vec::new();
        let mut invalid_sources: Vec<String> = Vec::new();
        let mut started_one = false;
        'sources: for source in sources {
            let cursor = input.cursor.as_ref();
            if cursor.is_some_and(|c| source < c.source) {
                continue;
            }
            let here = cursor.filter(|c| c.source == source);
            let after = here.and_then(|c| c.after);
            // Deleted snapshots are skipped: their buckets are gone, they take no part.
            let cat = Box::pin(catalog_read::read_source(
                &self.s3,
                &at,
                &source,
                DeletedSnapshots::Skip,
            ))
            .await?;
            out.sources += 1;
            let (bad, snapshots) = usable(cat);
            if !bad.is_empty() {
                // One entry that cannot be trusted puts the whole source's decisions in doubt
                // (a bad entry can hide a good snapshot that would keep another one): nothing of
                // this source is touched, the others are pruned, the run fails at the end.
                tracing::error!(source = %source, entries = bad.len(), "catalog invalid: source left alone");
                invalid.extend(bad);
                invalid_sources.push(source);
                continue;
            }
            let judged = plan::judge(&input.keep, &snapshots, now).map_err(|e| {
                PruneError::CatalogInvalid {
                    count: 1,
                    sources: source.clone(),
                    detail: e.to_string(),
                }
            })?;
            let mut last = after;
            for (s, j) in snapshots.iter().zip(&judged) {
                if after.is_some_and(|a| j.date <= a) {
                    continue;
                }
                if started_one && Instant::now() >= deadline {
                    out.done = false;
                    out.cursor = Some(Cursor {
                        source: source.clone(),
                        after: last,
                        extending: None,
                    });
                    break 'sources;
                }
                started_one = true;
                let resume = here
                    .and_then(|c| c.extending.as_ref())
                    .filter(|e| e.date == j.date)
                    .map(|e| e.marker.clone());
                let a = match &j.fate {
                    Fate::Kept {
                        class,
                        target,
                        extend,
                        ..
                    } => {
                        // Boxed: the nested futures are otherwise too deep for the compiler's
                        // layout query.
                        Box::pin(self.kept(
                            &input, &source, s, j, *class, *target, *extend, resume, deadline,
                        ))
                        .await?
                    }
                    Fate::Held { until } => Acted {
                        status: Some(Status::Held),
                        reason: format!(
                            "held until {} (Object Lock); {}",
                            rfc3339(*until),
                            j.reason
                        ),
                        ..Acted::default()
                    },
                    Fate::Expiring => Box::pin(self.expiring(&input, &source, s, j)).await?,
                };
                let status = a.status.unwrap_or(Status::Held);
                out.snapshots += 1;
                match status {
                    Status::Kept => out.kept += 1,
                    Status::Held => out.held += 1,
                    Status::Expiring => out.expiring += 1,
                    Status::Deleted => out.deleted += 1,
                }
                out.lifecycle_put += u64::from(a.lifecycle_put);
                out.object_versions_extended += a.versions_extended;
                if a.stopped_at.is_none() {
                    out.extended += u64::from(a.extended);
                }
                tracing::info!(source = %source, date = %j.date, bucket = %s.entry.snapshot_bucket,
                    status = ?status, reason = %a.reason, dry_run = input.dry_run, "snapshot");
                let kept_by = match &j.fate {
                    Fate::Kept { kept_by, .. } => kept_by.clone(),
                    _ => Vec::new(),
                };
                if out.plan.len() < MAX_PLAN {
                    out.plan.push(PlanItem {
                        source: source.clone(),
                        date: j.date,
                        bucket: s.entry.snapshot_bucket.clone(),
                        status,
                        kept_by,
                        reason: a.reason,
                    });
                } else {
                    out.plan_not_listed += 1;
                }
                if let Some(marker) = a.stopped_at {
                    out.done = false;
                    out.cursor = Some(Cursor {
                        source: source.clone(),
                        after: last,
                        extending: Some(Extending {
                            date: j.date,
                            marker,
                        }),
                    });
                    break 'sources;
                }
                last = Some(j.date);
            }
        }
        if !invalid.is_empty() {
            let count = invalid.len();
            let mut detail: Vec<String> = invalid.into_iter().take(5).collect();
            if count > 5 {
                detail.push(format!("and {} more", count - 5));
            }
            return Err(PruneError::CatalogInvalid {
                count,
                sources: invalid_sources.join(", "),
                detail: detail.join("; "),
            });
        }
        tracing::info!(
            done = out.done,
            sources = out.sources,
            snapshots = out.snapshots,
            kept = out.kept,
            held = out.held,
            expiring = out.expiring,
            deleted = out.deleted,
            lifecycle_put = out.lifecycle_put,
            extended = out.extended,
            object_versions_extended = out.object_versions_extended,
            dry_run = input.dry_run,
            "prune"
        );
        Ok(out)
    }
}

/// What of a source's catalog prune can act on: the entries that cannot be trusted (`key: why`,
/// in key order; any one leaves the source alone), and the snapshots with only their own
/// protection records. An entry deleted since it was listed is no snapshot to judge; a protection
/// record that cannot be used, or is of another bucket, is ignored (at worst the lock is checked
/// and the record written again).
fn usable(cat: catalog_read::SourceCatalog) -> (Vec<String>, Vec<Snapshot>) {
    let mut bad = Vec::new();
    for u in cat.unreadable {
        match (u.file, &u.why) {
            (CatalogFile::Entry, Why::Gone) => {
                tracing::debug!(key = %u.key, "entry gone since it was listed");
            }
            (CatalogFile::Entry, why) => bad.push(format!("{}: {why}", u.key)),
            (_, why) => {
                tracing::warn!(key = %u.key, error = %why, "protection record ignored");
            }
        }
    }
    let snapshots = cat
        .snapshots
        .into_iter()
        .map(|mut s| {
            s.protection = s
                .protection
                .filter(|p| p.snapshot_bucket == s.entry.snapshot_bucket);
            s
        })
        .collect();
    (bad, snapshots)
}

impl Step for PruneSnapshots {
    const NAME: &'static str = "prune-snapshots";
    type Input = Input;
    type Output = Output;
    type Error = PruneError;

    async fn handle(&self, input: Input) -> Result<Output, PruneError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        self.prune(input, now).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(v: serde_json::Value) -> Input {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn the_event_is_checked() {
        let ok = input(
            serde_json::json!({"report": {"bucket": "lake-reports", "prefix": "r"},
            "keep": {"keep_daily": 7}}),
        );
        assert!(check_input(&ok).is_ok());
        assert!(!ok.dry_run && ok.cursor.is_none() && ok.sources.is_none());
        let e = check_input(&input(
            serde_json::json!({"report": {"bucket": "lake-reports"},
            "keep": {}}),
        ))
        .unwrap_err();
        assert_eq!(e.path, "$.keep");
        assert!(e.message.contains("keeps nothing"), "{}", e.message);
        let e = check_input(&input(
            serde_json::json!({"report": {"bucket": "lake-reports"},
            "keep": {"keep_daily": 1}, "sources": []}),
        ))
        .unwrap_err();
        assert_eq!(e.path, "$.sources");
        let e = check_input(&input(
            serde_json::json!({"report": {"bucket": "lake-reports"},
            "keep": {"keep_daily": 1}, "sources": ["ok-bucket", "Bad_Name"]}),
        ))
        .unwrap_err();
        assert_eq!(e.path, "$.sources[1]");
        let e = check_input(&input(serde_json::json!({"report": {"bucket": "s3://x"},
            "keep": {"keep_daily": 1}})))
        .unwrap_err();
        assert_eq!(e.path, "$.report.bucket");
    }

    #[test]
    fn the_budget_setting() {
        assert_eq!(
            Settings::from_lookup(|_| None).unwrap(),
            Settings::default()
        );
        let s = Settings::from_lookup(|v| (v == BUDGET_ENV).then(|| "0".into())).unwrap();
        assert_eq!(s.budget, Duration::ZERO);
        assert!(Settings::from_lookup(|v| (v == BUDGET_ENV).then(|| "781".into())).is_err());
        assert!(Settings::from_lookup(|v| (v == BUDGET_ENV).then(|| "x".into())).is_err());
    }

    #[test]
    fn the_cursor_round_trips() {
        let c = Cursor {
            source: "lake-prod".into(),
            after: Some("2021-03-31".parse().unwrap()),
            extending: None,
        };
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"source": "lake-prod", "after": "2021-03-31"})
        );
        assert_eq!(serde_json::from_value::<Cursor>(v).unwrap(), c);
    }

    #[test]
    fn only_bad_entries_leave_a_source_alone_and_foreign_protections_are_dropped() {
        use kit::catalog::{CATALOG_FORMAT, CatalogEntry};
        use kit::catalog_read::{SourceCatalog, Unreadable};
        use kit::record::{ObjectRef, Verdict};
        let d: Day = "2021-03-31".parse().unwrap();
        let protection = |bucket: &str| ProtectionRecord {
            snapshot_bucket: bucket.into(),
            retain_until: "2021-05-01T00:00:00Z".into(),
            keep_class: "weekly".into(),
            object_versions: 1,
        };
        let snapshot = |protection| Snapshot {
            key: "r/catalog/lake/2021-03-31.json".into(),
            entry: CatalogEntry {
                format: CATALOG_FORMAT,
                source_bucket: "lake".into(),
                backup_date: d,
                snapshot_bucket: "lake-31-mar-2021".into(),
                job_id: "job".into(),
                verdict: Verdict::Complete,
                verification: None,
                good: true,
                objects: 1,
                bytes: 1,
                large_copies: 0,
                storage_class: "STANDARD".into(),
                lock_mode: None,
                retain_until: None,
                audit_record: ObjectRef {
                    bucket: "r".into(),
                    key: "k".into(),
                },
            },
            protection,
            deleted: false,
        };
        let unreadable = |key: &str, file, why| Unreadable {
            key: key.into(),
            date: d,
            file,
            why,
        };
        let cat = |snapshots, unreadable| SourceCatalog {
            source: "lake".into(),
            snapshots,
            deleted: vec![],
            unreadable,
        };
        let (bad, snapshots) = usable(cat(
            vec![snapshot(Some(protection("elsewhere-31-mar-2021")))],
            vec![
                unreadable("r/a.json", CatalogFile::Entry, Why::Gone),
                unreadable(
                    "r/b.protection.json",
                    CatalogFile::Protection,
                    Why::Invalid("not a protection record".into()),
                ),
            ],
        ));
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(snapshots, [snapshot(None)]);
        let (_, snapshots) = usable(cat(
            vec![snapshot(Some(protection("lake-31-mar-2021")))],
            vec![],
        ));
        assert_eq!(
            snapshots[0].protection,
            Some(protection("lake-31-mar-2021"))
        );
        let (bad, _) = usable(cat(
            vec![],
            vec![
                unreadable("r/a.json", CatalogFile::Entry, Why::TooLarge { limit: 9 }),
                unreadable("r/b.json", CatalogFile::Entry, Why::Invalid("x".into())),
            ],
        ));
        assert_eq!(
            bad,
            [
                "r/a.json: longer than 9 bytes: not a catalog file",
                "r/b.json: x"
            ]
        );
    }
}
