//! The verifier's core for other steps: a bucket opened once (one S3 client, one kernel engine),
//! and per table the same analysis verify-snapshot records, plus the exact contents of one
//! version — what plan-restore copies and verify-restore checks. One log reader for all three:
//! the kernel decides which log files a version needs, this crate checks that they and the
//! version's data files are present with the sizes the log records.

use std::collections::BTreeMap;
use std::sync::Arc;

use kit::{AwsFailure, Day};

use crate::files::Sizes;
use crate::kernel::{self, Engine};
use crate::report::{Missing, TableReport};
use crate::table::{self, Ctx};
use crate::{VerifyError, VerifySnapshot, end_of_day_ms};

/// A bucket opened for reading its Delta tables.
pub struct OpenBucket {
    s3: aws_sdk_s3::Client,
    bucket: String,
    engine: Arc<Engine>,
    date_end_ms: i64,
}

impl std::fmt::Debug for OpenBucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenBucket")
            .field("bucket", &self.bucket)
            .finish_non_exhaustive()
    }
}

/// Everything one version of a table is made of, as object keys of the bucket (table root
/// included) with their sizes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionContents {
    /// The version.
    pub version: u64,
    /// The checkpoint its log starts from (`None`: from commit 0).
    pub checkpoint_version: Option<u64>,
    /// Log objects: the checkpoint's parts (and a v2 checkpoint's sidecars), the commits after
    /// it up to the version. Nothing above the version.
    pub log: BTreeMap<String, u64>,
    /// The live data files, with the size the log records (and the bucket holds).
    pub data: BTreeMap<String, u64>,
    /// The deletion-vector files, with the size the bucket holds.
    pub deletion_vectors: BTreeMap<String, u64>,
}

impl VersionContents {
    /// Every object of the version: log, data files and deletion vectors.
    pub fn objects(&self) -> impl Iterator<Item = (&String, &u64)> {
        self.log
            .iter()
            .chain(self.data.iter())
            .chain(self.deletion_vectors.iter())
    }

    /// Number of objects.
    pub fn object_count(&self) -> usize {
        self.log.len() + self.data.len() + self.deletion_vectors.len()
    }

    /// Total bytes.
    pub fn bytes(&self) -> u64 {
        self.objects().map(|(_, s)| *s).sum()
    }
}

/// Whether a version can be rebuilt from the bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionState {
    /// Its log and every file it needs are there.
    Restorable(VersionContents),
    /// It cannot be rebuilt; the text says why (for the operator).
    NotRestorable(String),
}

/// What the log listing of a table says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogBounds {
    /// The newest version with a commit or checkpoint.
    pub latest: Option<u64>,
    /// The oldest version the log can reconstruct.
    pub earliest: Option<u64>,
}

impl VerifySnapshot {
    /// Opens `bucket` (`SnapshotNotFound` when it does not exist). Tables are dated against the
    /// end of `backup_date` (no date: every commit counts as before it).
    pub async fn open(
        &self,
        bucket: &str,
        backup_date: Option<Day>,
    ) -> Result<OpenBucket, VerifyError> {
        self.s3
            .list_objects_v2()
            .bucket(bucket)
            .max_keys(1)
            .send()
            .await
            .map_err(|e| match kit::classify("ListObjectsV2", e) {
                AwsFailure::Service(s) if s.is("NoSuchBucket") => VerifyError::SnapshotNotFound {
                    bucket: bucket.to_owned(),
                },
                other => other.into(),
            })?;
        let date_end_ms = match backup_date {
            Some(d) => end_of_day_ms(d)?,
            None => i64::MAX,
        };
        let settings = self.store_settings().await?;
        let engine = Arc::new(kernel::engine(bucket, &settings).map_err(VerifyError::StoreError)?);
        Ok(OpenBucket {
            s3: self.s3.clone(),
            bucket: bucket.to_owned(),
            engine,
            date_end_ms,
        })
    }
}

impl OpenBucket {
    fn ctx(&self) -> Ctx<'_> {
        Ctx {
            s3: &self.s3,
            bucket: &self.bucket,
            engine: Arc::clone(&self.engine),
            date_end_ms: self.date_end_ms,
        }
    }

    /// The bucket's name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The table roots of the bucket (`""` or ending in `/`), as verify-snapshot finds them.
    pub async fn tables(&self) -> Result<Vec<String>, VerifyError> {
        Ok(crate::discover::discover(&self.s3, &self.bucket)
            .await?
            .tables)
    }

    /// Whether `root` (`""` or ending in `/`) holds a `_delta_log/`.
    pub async fn is_table(&self, root: &str) -> Result<bool, VerifyError> {
        let out = self
            .s3
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(format!("{root}_delta_log/"))
            .max_keys(1)
            .send()
            .await
            .map_err(|e| VerifyError::from(kit::classify("ListObjectsV2", e)))?;
        Ok(!out.contents().is_empty())
    }

    /// The table's analysis, exactly as verify-snapshot records it.
    pub async fn analyse(&self, root: &str) -> Result<TableReport, VerifyError> {
        table::analyse(&self.ctx(), root).await
    }

    /// The newest and oldest versions the table's log listing holds.
    pub async fn bounds(&self, root: &str) -> Result<LogBounds, VerifyError> {
        let log = table::list_log(&self.ctx(), root).await?;
        Ok(LogBounds {
            latest: log.latest_version(),
            earliest: log.earliest_version(),
        })
    }

    /// Whether version `v` of the table at `root` can be rebuilt from this bucket, and of what.
    pub async fn version(&self, root: &str, v: u64) -> Result<VersionState, VerifyError> {
        let ctx = self.ctx();
        let log = table::list_log(&ctx, root).await?;
        self.version_with(&ctx, &log, root, v, &mut Sizes::default())
            .await
    }

    async fn version_with(
        &self,
        ctx: &Ctx<'_>,
        log: &crate::log::LogListing,
        root: &str,
        v: u64,
        sizes: &mut Sizes,
    ) -> Result<VersionState, VerifyError> {
        if !log.reconstructs(v) {
            let why = match (log.earliest_version(), log.latest_version()) {
                (_, None) => "the table's _delta_log/ holds no commit and no checkpoint".to_owned(),
                (_, Some(l)) if v > l => format!("the newest version in the log is {l}"),
                (Some(e), _) if v < e => format!(
                    "its commits are gone from the log (log cleanup): the oldest version the log \
                     can rebuild is {e}"
                ),
                _ => "the log lacks a commit it needs and no checkpoint covers it".to_owned(),
            };
            return Ok(VersionState::NotRestorable(why));
        }
        let url = kernel::table_url(&self.bucket, root)
            .map_err(|e| VerifyError::InvalidInput(kit::InvalidInput::new("$.table", e)))?;
        let engine = Arc::clone(&ctx.engine);
        let root2 = root.to_owned();
        // Log replay is CPU-bound and the kernel's API blocking: off the async workers.
        let read =
            tokio::task::spawn_blocking(move || kernel::read_version(&engine, &url, &root2, v))
                .await
                .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
        let files = match read {
            Ok(f) => f,
            Err(e) => {
                return Ok(VersionState::NotRestorable(format!(
                    "Delta's reference reader cannot read it: {e}"
                )));
            }
        };
        if let Some(p) = files.outside.first() {
            return Ok(VersionState::NotRestorable(format!(
                "it references {} file(s) outside the table (absolute paths, e.g. {p}); a copy \
                 of the table cannot hold them",
                files.outside.len()
            )));
        }
        sizes.learn(ctx.s3, ctx.bucket, root, &files.files).await?;
        sizes
            .learn(ctx.s3, ctx.bucket, root, &files.deletion_vectors)
            .await?;
        let missing = sizes.missing(v, &files.files, &files.deletion_vectors);
        if missing.count > 0 {
            return Ok(VersionState::NotRestorable(describe_missing(&missing)));
        }
        let mut log_files = files.log;
        // A v2 checkpoint names its sidecars inside itself; they all live in `_sidecars/`, and
        // a sidecar no checkpoint names is ignored by readers, so all of them are copied.
        let v2 = log_files.keys().any(|k| is_v2_checkpoint(k));
        if v2 {
            for (k, s) in table::list_prefix(ctx, &format!("{root}_delta_log/_sidecars/")).await? {
                log_files.insert(k, s);
            }
        }
        let deletion_vectors = files
            .deletion_vectors
            .keys()
            .map(|k| (k.clone(), sizes.size_of(k).unwrap_or(0)))
            .collect();
        Ok(VersionState::Restorable(VersionContents {
            version: v,
            checkpoint_version: files.checkpoint_version,
            log: log_files,
            data: files.files,
            deletion_vectors,
        }))
    }

    /// The nearest restorable versions below and above `v` (within
    /// [`crate::MAX_WALK_BACK`] versions each way), for an operator whose choice is not.
    pub async fn nearest_restorable(
        &self,
        root: &str,
        v: u64,
    ) -> Result<(Option<u64>, Option<u64>), VerifyError> {
        let ctx = self.ctx();
        let log = table::list_log(&ctx, root).await?;
        let mut sizes = Sizes::default();
        let (Some(earliest), Some(latest)) = (log.earliest_version(), log.latest_version()) else {
            return Ok((None, None));
        };
        let mut below = None;
        let low = v.saturating_sub(crate::MAX_WALK_BACK).max(earliest);
        for c in (low..v.min(latest.saturating_add(1))).rev() {
            if matches!(
                self.version_with(&ctx, &log, root, c, &mut sizes).await?,
                VersionState::Restorable(_)
            ) {
                below = Some(c);
                break;
            }
        }
        let mut above = None;
        let high = v.saturating_add(crate::MAX_WALK_BACK).min(latest);
        for c in v.saturating_add(1).max(earliest)..=high {
            if matches!(
                self.version_with(&ctx, &log, root, c, &mut sizes).await?,
                VersionState::Restorable(_)
            ) {
                above = Some(c);
                break;
            }
        }
        Ok((below, above))
    }

    /// Every object under `prefix`, key → size (one listing).
    pub async fn list(&self, prefix: &str) -> Result<BTreeMap<String, u64>, VerifyError> {
        table::list_prefix(&self.ctx(), prefix).await
    }
}

/// `<v>.checkpoint.<uuid>.{json,parquet}`: a v2 checkpoint, whose sidecars are separate files.
fn is_v2_checkpoint(key: &str) -> bool {
    let name = key.rsplit('/').next().unwrap_or(key);
    let parts: Vec<&str> = name.split('.').collect();
    matches!(parts.as_slice(), [_, "checkpoint", uuid, "json" | "parquet"] if uuid.len() == 36)
}

fn describe_missing(m: &Missing) -> String {
    let samples: Vec<String> = m
        .samples
        .iter()
        .take(3)
        .map(|f| match f.found_size {
            None => format!("{} (absent)", f.key),
            Some(s) => format!("{} ({s} bytes, the log records {})", f.key, f.expected_size),
        })
        .collect();
    format!(
        "{} of its files are not in the bucket as the log records them (vacuumed before the \
         backup, or not copied), e.g. {}",
        m.count,
        samples.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::is_v2_checkpoint;

    #[test]
    fn v2_checkpoints_are_told_from_classic_and_multi_part_ones() {
        assert!(is_v2_checkpoint(
            "t/_delta_log/00000000000000000005.checkpoint.80a083e8-7026-4e79-81be-64bd76c43a11.json"
        ));
        assert!(!is_v2_checkpoint(
            "t/_delta_log/00000000000000000005.checkpoint.parquet"
        ));
        assert!(!is_v2_checkpoint(
            "_delta_log/00000000000000000005.checkpoint.0000000001.0000000002.parquet"
        ));
    }
}
