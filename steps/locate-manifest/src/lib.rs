#![doc = include_str!("../README.md")]

pub mod layout;
pub mod verify;

use aws_sdk_s3::Client;
use kit::strum::{IntoStaticStr, VariantNames};
use kit::{AccessDenied, AwsFailure, Day, InvalidInput, ServiceFailure, Transient, validate};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::layout::{Folder, Neighbours, base_prefix, folders};
pub use crate::verify::ManifestProblem;

/// Default days between a backup date and the inventory delivery that describes it.
pub const DEFAULT_LAG_DAYS: i64 = 2;
/// The largest `lag_days` accepted.
pub const MAX_LAG_DAYS: i64 = 30;
/// Days listed back from the target day to name the nearest existing deliveries.
const NEIGHBOUR_WINDOW_DAYS: i64 = 31;
/// Days listed back from today for "the newest delivery" before falling back to a search.
const RECENT_WINDOW_DAYS: i64 = 14;
/// Rounds of the newest-day search when the newest days only hold incomplete deliveries.
const NEWEST_ROUNDS: usize = 3;
/// The earliest day a delivery can exist (S3 Inventory launched in late 2016).
const EPOCH: Day = Day(time::macros::date!(2016 - 01 - 01));
/// A manifest.json larger than this is refused rather than read into memory.
pub const MAX_MANIFEST_BYTES: u64 = 64 * 1024 * 1024;

/// The event: which bucket is backed up, where its inventory is delivered, for which day.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct Input {
    /// The bucket being backed up (the inventory's source bucket), e.g. `lake-prod`.
    pub source_bucket: String,
    /// Where the source bucket's S3 Inventory is delivered.
    pub inventory: InventoryLocation,
    /// The day the backup is of (`YYYY-MM-DD`). Omitted: the newest complete delivery decides it.
    #[serde(default)]
    pub backup_date: Option<Day>,
    /// Days between the backup date and the delivery that describes it (0–30, default 2).
    #[serde(default)]
    #[schemars(range(min = 0, max = 30))]
    pub lag_days: Option<i64>,
}

/// An inventory configuration's destination.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct InventoryLocation {
    /// The destination bucket of the inventory configuration, e.g. `backup-inventory`.
    pub bucket: String,
    /// The destination prefix of the inventory configuration (may be empty), e.g. `inventory`.
    #[serde(default)]
    pub prefix: String,
    /// The inventory configuration id, e.g. `daily`.
    pub configuration_id: String,
}

/// The verified delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Output {
    /// The bucket being backed up.
    pub source_bucket: String,
    /// The day the backup is of: the delivery's day minus `lag_days`.
    pub backup_date: Day,
    /// The day the inventory delivery was made.
    pub delivery_date: Day,
    /// The delivery's `manifest.json`, as S3 Batch Operations' CreateJob wants it.
    pub manifest: ManifestObject,
    /// When the inventory scan started (RFC 3339, from `creationTimestamp`).
    pub scan_started_at: String,
    /// Columns of the data files, in order (`["Bucket", "Key", "Size", …]`).
    pub file_schema: Vec<String>,
    /// Number of data files the manifest lists.
    pub data_file_count: u64,
    /// Total size of those data files (compressed), in bytes.
    pub data_total_bytes: u64,
}

/// A `manifest.json` object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ManifestObject {
    /// Its bucket (the inventory destination).
    pub bucket: String,
    /// Its key, `<prefix>/<source>/<config>/<YYYY-MM-DDTHH-MMZ>/manifest.json`.
    pub key: String,
    /// Its object ARN, `arn:aws:s3:::<bucket>/<key>`.
    pub arn: String,
    /// Its ETag, without the surrounding quotes (CreateJob's `Manifest.Location.ETag`).
    pub etag: String,
}

/// Everything that can go wrong; variant names are the step's errorTypes.
#[derive(Debug, thiserror::Error, IntoStaticStr, VariantNames)]
#[strum(crate = "kit::strum")]
pub enum LocateError {
    /// The event breaks the contract (bad bucket name, date, `lag_days` out of range, a bucket
    /// that does not exist); the message names the JSON path.
    #[error(transparent)]
    InvalidInput(#[from] InvalidInput),
    /// No complete delivery for the target day (yet). The state machine retries; the message
    /// names the prefix searched and the nearest days that do exist.
    #[error("{0}")]
    ManifestNotReady(String),
    /// The delivery exists but cannot be used: checksum mismatch, another source bucket, not
    /// CSV, malformed JSON, no data files.
    #[error("{url}: {problem}")]
    ManifestInvalid {
        /// The delivery's `manifest.json`, as an `s3://` URL.
        url: String,
        /// What is wrong with it.
        problem: ManifestProblem,
    },
    /// S3 answered with an error this step does not expect.
    #[error("{0}")]
    ServiceError(ServiceFailure),
    /// Throttling, 5xx, timeouts, connection failures: retry.
    #[error(transparent)]
    Transient(#[from] Transient),
    /// The role may not list or read the inventory bucket.
    #[error(transparent)]
    AccessDenied(#[from] AccessDenied),
}

kit::step_error!(LocateError);

/// The step: one S3 client (the backup account's, which owns the inventory bucket).
#[derive(Debug, Clone)]
pub struct LocateManifest {
    s3: Client,
    today: Option<Day>,
}

impl LocateManifest {
    /// Builds the client from the environment (region, credentials, `AWS_ENDPOINT_URL…`).
    pub async fn from_env() -> Result<Self, kit::clients::ConfigError> {
        let conf = kit::clients::load_sdk_config().await?;
        Ok(Self::new(kit::clients::s3(&conf)))
    }

    /// A step using `s3`.
    pub fn new(s3: Client) -> Self {
        Self { s3, today: None }
    }

    /// Pretends today is `day` (where "recent" starts when looking for the newest delivery).
    pub fn with_today(mut self, day: Day) -> Self {
        self.today = Some(day);
        self
    }

    fn today(&self) -> Day {
        self.today
            .unwrap_or_else(|| Day(time::OffsetDateTime::now_utc().date()))
    }
}

impl kit::Step for LocateManifest {
    const NAME: &'static str = "locate-manifest";
    type Input = Input;
    type Output = Output;
    type Error = LocateError;

    async fn handle(&self, input: Input) -> Result<Output, LocateError> {
        let lag = validate(&input)?;
        let inv = &input.inventory;
        let search = Search {
            s3: &self.s3,
            bucket: &inv.bucket,
            base: base_prefix(&inv.prefix, &input.source_bucket, &inv.configuration_id),
            source_bucket: &input.source_bucket,
        };
        let (folder, found) = match input.backup_date {
            Some(backup) => {
                let target = backup.plus_days(lag).ok_or_else(|| {
                    InvalidInput::new("$.backup_date", "backup_date + lag_days is out of range")
                })?;
                search.on_day(backup, lag, target).await?
            }
            None => search.newest(self.today()).await?,
        };
        let backup_date =
            folder
                .day
                .plus_days(-lag)
                .ok_or_else(|| LocateError::ManifestInvalid {
                    url: search.url(&folder.stamp),
                    problem: ManifestProblem::TooEarlyForLag { lag },
                })?;
        let key = folder.manifest_key(&search.base);
        tracing::info!(manifest = %key, backup_date = %backup_date, files = found.verified.data_file_count,
            bytes = found.verified.data_total_bytes, "manifest located");
        Ok(Output {
            source_bucket: input.source_bucket.clone(),
            backup_date,
            delivery_date: folder.day,
            manifest: ManifestObject {
                arn: format!("arn:aws:s3:::{}/{key}", inv.bucket),
                bucket: inv.bucket.clone(),
                key,
                etag: found.etag,
            },
            scan_started_at: found.verified.scan_started_at,
            file_schema: found.verified.file_schema,
            data_file_count: found.verified.data_file_count,
            data_total_bytes: found.verified.data_total_bytes,
        })
    }
}

/// Checks the event before any request; returns `lag_days`.
fn validate(input: &Input) -> Result<i64, InvalidInput> {
    validate::check_source_bucket("$.source_bucket", &input.source_bucket)?;
    validate::check_bucket("$.inventory.bucket", &input.inventory.bucket)?;
    validate::check_key_prefix("$.inventory.prefix", &input.inventory.prefix)?;
    validate::check_inventory_id(
        "$.inventory.configuration_id",
        &input.inventory.configuration_id,
    )?;
    let lag = input.lag_days.unwrap_or(DEFAULT_LAG_DAYS);
    if !(0..=MAX_LAG_DAYS).contains(&lag) {
        return Err(InvalidInput::new(
            "$.lag_days",
            format!("{lag} is out of range: use 0 to {MAX_LAG_DAYS} (default {DEFAULT_LAG_DAYS})"),
        ));
    }
    Ok(lag)
}

/// A verified delivery.
struct Found {
    verified: verify::Verified,
    etag: String,
}

/// The search for a delivery under one configuration's base prefix.
struct Search<'a> {
    s3: &'a Client,
    bucket: &'a str,
    base: String,
    source_bucket: &'a str,
}

impl Search<'_> {
    fn url(&self, suffix: &str) -> String {
        format!("s3://{}/{}{suffix}", self.bucket, self.base)
    }

    /// The latest complete delivery made on `target`.
    async fn on_day(
        &self,
        backup: Day,
        lag: i64,
        target: Day,
    ) -> Result<(Folder, Found), LocateError> {
        let day_folders = self.list_day(target).await?;
        if let Some(found) = self.newest_complete(&day_folders).await? {
            return Ok(found);
        }
        // Nothing usable that day: one more listing to tell people what does exist.
        let from = target.plus_days(-NEIGHBOUR_WINDOW_DAYS).unwrap_or(target);
        let (around, _) = self.list_after(from, 1000).await?;
        let neighbours = Neighbours::around(target, &around, NEIGHBOUR_WINDOW_DAYS);
        let in_progress: Vec<&str> = day_folders
            .iter()
            .filter(|f| !f.has_checksum)
            .map(|f| f.stamp.as_str())
            .collect();
        let state = if in_progress.is_empty() {
            "no delivery that day".to_owned()
        } else {
            format!(
                "delivery {} has no manifest.checksum yet (still being written)",
                in_progress.join(", ")
            )
        };
        Err(LocateError::ManifestNotReady(format!(
            "no complete inventory delivery for {target} (backup date {backup} + {lag} lag days) \
             under {}: {state}; {}. The delivery may still arrive (S3 can take up to 48 hours, and \
             can skip a day): retry later, or pass a backup_date whose delivery exists.",
            self.url(&target.to_string()),
            neighbours.describe()
        )))
    }

    /// The newest complete delivery. Recent days first (one request); if none is there, a
    /// binary search over days finds the newest day that has a delivery.
    async fn newest(&self, today: Day) -> Result<(Folder, Found), LocateError> {
        let from = today.plus_days(-RECENT_WINDOW_DAYS).unwrap_or(today);
        let (recent, past_folders) = self.list_after(from, 1000).await?;
        // Only trust the window when the page reached its end: otherwise newer folders remain.
        if past_folders && let Some(found) = self.newest_complete(&recent).await? {
            return Ok(found);
        }
        let epoch = EPOCH;
        // Search below the window when it was fully seen, else anywhere up to a far future.
        let mut hi = match (past_folders, recent.first()) {
            (true, Some(oldest)) => oldest.day.plus_days(-1),
            (true, None) => from.plus_days(-1),
            (false, _) => today.plus_days(366 * 100),
        }
        .unwrap_or(today);
        for _ in 0..NEWEST_ROUNDS {
            let Some(day) = self.newest_day_up_to(epoch, hi).await? else {
                break;
            };
            let day_folders = self.list_day(day).await?;
            if let Some(found) = self.newest_complete(&day_folders).await? {
                return Ok(found);
            }
            hi = match day.plus_days(-1) {
                Some(d) => d,
                None => break,
            };
        }
        Err(LocateError::ManifestNotReady(format!(
            "no complete inventory delivery under {}: the inventory has not delivered yet (the first \
             report can take 48 hours), or the prefix / configuration id / source bucket is wrong",
            self.url("")
        )))
    }

    /// Among `folders` (oldest first), the newest with a `manifest.checksum`, verified.
    /// Folders without one are still being written and are skipped; a present but wrong
    /// checksum is an error, not a reason to fall back silently.
    async fn newest_complete(
        &self,
        folders: &[Folder],
    ) -> Result<Option<(Folder, Found)>, LocateError> {
        for f in folders.iter().rev() {
            if !f.has_checksum {
                tracing::info!(folder = %f.stamp, "delivery in progress (no manifest.checksum); skipped");
                continue;
            }
            let found = self.verify(f).await?;
            return Ok(Some((f.clone(), found)));
        }
        Ok(None)
    }

    async fn verify(&self, f: &Folder) -> Result<Found, LocateError> {
        let manifest_key = f.manifest_key(&self.base);
        let checksum_key = f.checksum_key(&self.base);
        let (checksum, manifest) =
            tokio::try_join!(self.get(&checksum_key), self.get(&manifest_key))?;
        let url = format!("s3://{}/{manifest_key}", self.bucket);
        let (Some((checksum, _)), Some((manifest, etag))) = (checksum, manifest) else {
            return Err(LocateError::ManifestInvalid {
                url,
                problem: ManifestProblem::Missing,
            });
        };
        let checksum = String::from_utf8_lossy(&checksum);
        let verified = match verify::verify(&manifest, &checksum, self.source_bucket) {
            Ok(v) => v,
            Err(problem) => return Err(LocateError::ManifestInvalid { url, problem }),
        };
        let Some(etag) = etag
            .map(|e| e.trim_matches('"').to_owned())
            .filter(|e| !e.is_empty())
        else {
            return Err(LocateError::ManifestInvalid {
                url,
                problem: ManifestProblem::NoEtag,
            });
        };
        Ok(Found { verified, etag })
    }

    /// An object's bytes and ETag; `None` when it does not exist.
    async fn get(&self, key: &str) -> Result<Option<(Vec<u8>, Option<String>)>, LocateError> {
        let out = match self
            .s3
            .get_object()
            .bucket(self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                return match kit::classify("GetObject", e) {
                    AwsFailure::Service(s) if s.is("NoSuchKey") => Ok(None),
                    other => Err(self.failure(other)),
                };
            }
        };
        let etag = out.e_tag().map(str::to_owned);
        let length = out.content_length();
        let deadline = kit::clients::body_deadline(self.s3.config().timeout_config());
        let bytes =
            match kit::body::read_capped(out.body, length, MAX_MANIFEST_BYTES, deadline).await {
                Ok(b) => b,
                Err(kit::body::CappedReadError::TooLarge { limit }) => {
                    return Err(LocateError::ManifestInvalid {
                        url: format!("s3://{}/{key}", self.bucket),
                        problem: ManifestProblem::TooLarge { limit },
                    });
                }
                Err(kit::body::CappedReadError::Stream(e)) => {
                    return Err(LocateError::Transient(Transient {
                        operation: "GetObject".to_owned(),
                        detail: format!("reading s3://{}/{key}: {e}", self.bucket),
                    }));
                }
            };
        Ok(Some((bytes, etag)))
    }

    /// The delivery folders of one day: one request (`Prefix=<base><day>`).
    async fn list_day(&self, day: Day) -> Result<Vec<Folder>, LocateError> {
        let prefix = format!("{}{day}", self.base);
        // A day holds a handful of keys: the paginator stops after its first page.
        let mut pages = self
            .s3
            .list_objects_v2()
            .bucket(self.bucket)
            .prefix(&prefix)
            .into_paginator()
            .send();
        let mut keys = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.failure(kit::classify("ListObjectsV2", e)))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key())
                    .map(str::to_owned),
            );
        }
        let (found, _) = folders(&self.base, keys.iter().map(String::as_str));
        tracing::debug!(prefix = %prefix, folders = found.len(), "listed one day");
        Ok(found)
    }

    /// One page of keys from `day` on (`StartAfter=<base><day>`): the folders in it, oldest
    /// first, and whether the page went past the last folder.
    async fn list_after(
        &self,
        day: Day,
        max_keys: i32,
    ) -> Result<(Vec<Folder>, bool), LocateError> {
        let out = self
            .s3
            .list_objects_v2()
            .bucket(self.bucket)
            .prefix(&self.base)
            .start_after(format!("{}{day}", self.base))
            .max_keys(max_keys)
            .send()
            .await
            .map_err(|e| self.failure(kit::classify("ListObjectsV2", e)))?;
        let keys = out.contents().iter().filter_map(|o| o.key());
        let (found, past) = folders(&self.base, keys);
        // A page that is not truncated has also seen everything there is.
        Ok((found, past || out.is_truncated() != Some(true)))
    }

    /// The newest day in `[lo, hi]` with a delivery folder, by binary search: "the first key
    /// after `<base><d>` is a folder of a day ≤ hi" holds for every d up to that day and for none
    /// after it. ~log2(days) single-key requests, whatever the number of deliveries.
    async fn newest_day_up_to(&self, lo: Day, hi: Day) -> Result<Option<Day>, LocateError> {
        let span = (hi.0 - lo.0).whole_days();
        if span < 0 {
            return Ok(None);
        }
        let (mut lo_i, mut hi_i) = (0_i64, span);
        let mut best = None;
        while lo_i <= hi_i {
            let mid = lo_i + (hi_i - lo_i) / 2;
            let Some(d) = lo.plus_days(mid) else { break };
            let (first, _) = self.list_after(d, 1).await?;
            match first.first().filter(|f| f.day <= hi) {
                Some(f) => {
                    // A folder on day f.day ≥ d exists: the answer is at least f.day.
                    best = Some(f.day);
                    lo_i = (f.day.0 - lo.0).whole_days() + 1;
                }
                None => hi_i = mid - 1,
            }
        }
        Ok(best)
    }

    fn failure(&self, f: AwsFailure) -> LocateError {
        match f {
            AwsFailure::Transient(t) => LocateError::Transient(t),
            AwsFailure::AccessDenied(a) => LocateError::AccessDenied(a),
            AwsFailure::Service(s) if s.is("NoSuchBucket") => {
                LocateError::InvalidInput(InvalidInput::new(
                    "$.inventory.bucket",
                    format!(
                        "bucket {:?} does not exist (or is in another account/region): give the \
                         inventory configuration's destination bucket",
                        self.bucket
                    ),
                ))
            }
            AwsFailure::Service(s) => LocateError::ServiceError(s),
        }
    }
}
