#![doc = include_str!("../README.md")]

pub mod bucket;
pub mod tables;

use aws_sdk_s3::primitives::ByteStream;
use kit::catalog::{self, CATALOG_FORMAT, CatalogEntry, CatalogFile, CatalogVerification};
use kit::record::{AuditRecord, ObjectRef};
use kit::verification::Verification;
use kit::{AccessDenied, AwsFailure, Day, InvalidInput, ServiceFailure, Step, Transient, validate};
use md5::{Digest, Md5};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::bucket::{Contents, DefaultRetention};
use crate::tables::TablesRecordView;

/// Where the catalog goes: the report bucket and prefix (the backup's `settings.report`).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct ReportLocation {
    /// The report bucket's name.
    pub bucket: String,
    /// The report prefix (may be empty); the catalog is `<prefix>/catalog/<source>/`.
    #[serde(default)]
    pub prefix: String,
}

/// One backup run of one source, after verify-snapshot.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct Input {
    /// The source bucket backed up.
    pub source_bucket: String,
    /// The backup date.
    pub backup_date: Day,
    /// The snapshot bucket.
    pub snapshot_bucket: String,
    /// The Batch Operations job that filled it.
    pub job_id: String,
    /// Where the catalog goes.
    pub report: ReportLocation,
    /// The copies' storage class; null or absent: `STANDARD` (submit-job's default).
    #[serde(default)]
    pub storage_class: Option<String>,
    /// The audit record, as audit-report returned it (the second audit's, after large copies).
    pub audit: AuditRecord,
    /// verify-snapshot's output; null or absent when it did not run.
    #[serde(default)]
    pub verification: Option<Verification>,
}

/// Where the entry is and what it says, in short.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Output {
    /// The catalog entry.
    pub entry: ObjectRef,
    /// False when an object of identical bytes was there already (a redrive): nothing written.
    pub written: bool,
    /// The entry's `good`: whether the snapshot counts toward a keep rule.
    pub good: bool,
    /// Current objects in the snapshot bucket.
    pub objects: u64,
    /// Their bytes.
    pub bytes: u64,
    /// When the earliest Object Lock of the snapshot lapses (RFC 3339, UTC); null without a
    /// default retention or without objects.
    pub retain_until: Option<String>,
}

/// catalog-snapshot's errorTypes.
#[derive(Debug, thiserror::Error, kit::strum::IntoStaticStr, kit::strum::VariantNames)]
#[strum(crate = "kit::strum")]
pub enum CatalogSnapshotError {
    /// The event breaks the contract (the message names the field), or the audit or the
    /// verification is of another snapshot, or verify-snapshot's record is missing or not its.
    #[error(transparent)]
    InvalidInput(#[from] InvalidInput),
    /// The snapshot bucket does not exist. Never retried.
    #[error(
        "the snapshot bucket s3://{bucket} does not exist; check that create-bucket ran for this \
         backup date and that the name is right"
    )]
    SnapshotNotFound {
        /// The bucket.
        bucket: String,
    },
    /// Throttling, a 5xx, a dropped connection, a body that stalls. Retry.
    #[error(transparent)]
    Transient(#[from] Transient),
    /// The role may not read the snapshot bucket or the tables record, or write the entry.
    #[error(transparent)]
    AccessDenied(#[from] AccessDenied),
    /// S3 answered something this step does not expect.
    #[error("{0}; check the snapshot and report buckets")]
    ServiceError(ServiceFailure),
}

kit::step_error!(CatalogSnapshotError, service => ServiceError);

/// The largest tables record read. A table's report is about 1 KiB, so this is thousands of
/// tables; beyond it the entry lists none by name (the counts and the record's reference stay).
pub const MAX_RECORD_BYTES: u64 = 16 << 20;

/// The storage classes a copy may have (submit-job's and plan-large-copy's list).
pub const STORAGE_CLASSES: &[&str] = &[
    "STANDARD",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER_IR",
    "GLACIER",
    "DEEP_ARCHIVE",
];

/// The step: an S3 client and the record's size cap, built once.
#[derive(Debug, Clone)]
pub struct CatalogSnapshot {
    s3: aws_sdk_s3::Client,
    record_bytes: u64,
}

impl CatalogSnapshot {
    /// From the environment (region, endpoints, kit's timeouts).
    pub async fn from_env() -> Result<Self, kit::clients::ConfigError> {
        let conf = kit::clients::load_sdk_config().await?;
        Ok(Self::new(kit::clients::s3(&conf)))
    }

    /// With a given client and [`MAX_RECORD_BYTES`].
    pub fn new(s3: aws_sdk_s3::Client) -> Self {
        Self::with_record_limit(s3, MAX_RECORD_BYTES)
    }

    /// With a given client and record cap (tests).
    pub fn with_record_limit(s3: aws_sdk_s3::Client, record_bytes: u64) -> Self {
        Self { s3, record_bytes }
    }
}

fn same<T: PartialEq + std::fmt::Display>(
    path: &str,
    found: &T,
    input_field: &str,
    want: &T,
) -> Result<(), InvalidInput> {
    if found == want {
        Ok(())
    } else {
        Err(InvalidInput::new(
            path,
            format!(
                "{} is not the input's {input_field} {}: the record is of another snapshot",
                validate::quote(&found.to_string()),
                validate::quote(&want.to_string())
            ),
        ))
    }
}

fn check_ref(path: &str, r: &ObjectRef) -> Result<(), InvalidInput> {
    validate::check_bucket(&format!("{path}.bucket"), &r.bucket)?;
    if r.key.is_empty() || r.key.len() > 1024 {
        return Err(InvalidInput::new(
            format!("{path}.key"),
            "an object key has 1 to 1,024 bytes",
        ));
    }
    Ok(())
}

/// Checks the event before any request; answers the storage class to record.
pub fn check_input(input: &Input) -> Result<String, InvalidInput> {
    validate::check_source_bucket("$.source_bucket", &input.source_bucket)?;
    validate::check_bucket("$.snapshot_bucket", &input.snapshot_bucket)?;
    validate::check_job_id("$.job_id", &input.job_id)?;
    validate::check_bucket("$.report.bucket", &input.report.bucket)?;
    validate::check_key_prefix("$.report.prefix", &input.report.prefix)?;
    let storage_class = input
        .storage_class
        .clone()
        .unwrap_or_else(|| "STANDARD".to_owned());
    if !STORAGE_CLASSES.contains(&storage_class.as_str()) {
        return Err(InvalidInput::new(
            "$.storage_class",
            format!(
                "{} is not one of {STORAGE_CLASSES:?}",
                validate::quote(&storage_class)
            ),
        ));
    }
    // The entry joins the audit's and the verification's findings to this snapshot: records of
    // another run would put their verdict on the wrong date.
    let a = &input.audit;
    same(
        "$.audit.source_bucket",
        &a.source_bucket,
        "source_bucket",
        &input.source_bucket,
    )?;
    same(
        "$.audit.backup_date",
        &a.backup_date,
        "backup_date",
        &input.backup_date,
    )?;
    same(
        "$.audit.snapshot_bucket",
        &a.snapshot_bucket,
        "snapshot_bucket",
        &input.snapshot_bucket,
    )?;
    same("$.audit.job_id", &a.job_id, "job_id", &input.job_id)?;
    check_ref("$.audit.record", &a.record)?;
    if let Some(v) = &input.verification {
        same(
            "$.verification.snapshot_bucket",
            &v.snapshot_bucket,
            "snapshot_bucket",
            &input.snapshot_bucket,
        )?;
        same(
            "$.verification.backup_date",
            &v.backup_date,
            "backup_date",
            &input.backup_date,
        )?;
        check_ref("$.verification.record", &v.record)?;
    }
    Ok(storage_class)
}

/// The entry for a run: pure, so a redrive over the same bucket builds the same value.
pub fn entry(
    input: &Input,
    storage_class: String,
    verification: Option<CatalogVerification>,
    contents: &Contents,
    lock: Option<&DefaultRetention>,
) -> CatalogEntry {
    let verdict = input.audit.verdict;
    // Each version is locked until its own creation plus the default period: the oldest one's
    // lock lapses first, and until then the whole snapshot is protected.
    let retain_until = lock
        .zip(contents.oldest_secs)
        .and_then(|(l, oldest)| bucket::plus_period(oldest, l.period));
    CatalogEntry {
        format: CATALOG_FORMAT,
        source_bucket: input.source_bucket.clone(),
        backup_date: input.backup_date,
        snapshot_bucket: input.snapshot_bucket.clone(),
        job_id: input.job_id.clone(),
        verdict,
        good: catalog::is_good(verdict, verification.as_ref()),
        verification,
        objects: contents.objects,
        bytes: contents.bytes,
        large_copies: input.audit.large_copies.as_ref().map_or(0, |l| l.copied),
        storage_class,
        lock_mode: lock.map(|l| l.mode.clone()),
        retain_until,
        audit_record: input.audit.record.clone(),
    }
}

/// The entry's bytes: serde's field order is the struct's, and nothing in it is a clock reading,
/// so equal entries are equal bytes.
pub fn entry_bytes(e: &CatalogEntry) -> Result<Vec<u8>, serde_json::Error> {
    let mut b = serde_json::to_vec_pretty(e)?;
    b.push(b'\n');
    Ok(b)
}

impl CatalogSnapshot {
    /// The catalog's part of verify-snapshot's findings: its counts, and the tables' versions
    /// from the record it wrote.
    async fn verification(
        &self,
        input: &Input,
        v: &Verification,
    ) -> Result<CatalogVerification, CatalogSnapshotError> {
        let mut out = CatalogVerification {
            verdict: v.verdict,
            tables: v.tables,
            restorable: Vec::new(),
            tables_not_listed: 0,
            record: v.record.clone(),
        };
        if v.tables.total == 0 {
            // No table to list: the record is not read.
            return Ok(out);
        }
        let url = format!("s3://{}/{}", v.record.bucket, v.record.key);
        let bad = |why: String| {
            CatalogSnapshotError::InvalidInput(InvalidInput::new(
                "$.verification.record",
                format!("{url} {why}"),
            ))
        };
        let got = self
            .s3
            .get_object()
            .bucket(&v.record.bucket)
            .key(&v.record.key)
            .send()
            .await
            .map_err(|e| match kit::classify("GetObject", e) {
                AwsFailure::Service(s)
                    if s.is("NoSuchKey")
                        || s.is("NoSuchBucket")
                        || (s.status == Some(404) && s.code.is_none()) =>
                {
                    bad("does not exist: re-run VerifySnapshot".to_owned())
                }
                other => other.into(),
            })?;
        let deadline = kit::clients::body_deadline(self.s3.config().timeout_config());
        let body =
            match kit::body::read_capped(got.body, got.content_length, self.record_bytes, deadline)
                .await
            {
                Ok(b) => b,
                Err(kit::body::CappedReadError::TooLarge { limit }) => {
                    // The entry stays useful without names: the counts and the record's place.
                    tracing::warn!(record = %url, limit,
                        "tables record over the cap: the entry lists no table by name");
                    out.tables_not_listed = v.tables.total;
                    return Ok(out);
                }
                Err(kit::body::CappedReadError::Stream(detail)) => {
                    return Err(CatalogSnapshotError::Transient(Transient {
                        operation: "GetObject".to_owned(),
                        detail: format!("reading {url}: {detail}"),
                    }));
                }
            };
        let record: TablesRecordView = serde_json::from_slice(&body).map_err(|e| {
            bad(format!(
                "is not verify-snapshot's tables record: {}",
                e.to_string().chars().take(200).collect::<String>()
            ))
        })?;
        if record.snapshot_bucket != input.snapshot_bucket
            || record.backup_date != input.backup_date
        {
            return Err(bad(format!(
                "is the record of s3://{} on {}, not of this snapshot: re-run VerifySnapshot",
                record.snapshot_bucket, record.backup_date
            )));
        }
        let (restorable, left) = tables::bounded(&record.table_reports);
        out.restorable = restorable;
        out.tables_not_listed = left;
        Ok(out)
    }

    /// Writes `body` at `key` unless the same bytes are there: true when written.
    async fn put_if_changed(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
    ) -> Result<bool, CatalogSnapshotError> {
        let md5 = hex::encode(Md5::digest(&body));
        let head = self.s3.head_object().bucket(bucket).key(key).send().await;
        match head {
            // The report bucket is SSE-S3 (infra/backup-account.yaml): a single-part object's
            // ETag is the MD5 of its bytes.
            Ok(h) if h.e_tag().map(|t| t.trim_matches('"')) == Some(md5.as_str()) => {
                return Ok(false);
            }
            Ok(_) => {
                tracing::info!(bucket, key, "catalog entry differs: replaced");
            }
            Err(e) => match kit::classify("HeadObject", e) {
                AwsFailure::Service(s) if s.status == Some(404) => {}
                other => return Err(other.into()),
            },
        }
        self.s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type("application/json")
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| CatalogSnapshotError::from(kit::classify("PutObject", e)))?;
        Ok(true)
    }
}

impl Step for CatalogSnapshot {
    const NAME: &'static str = "catalog-snapshot";
    type Input = Input;
    type Output = Output;
    type Error = CatalogSnapshotError;

    async fn handle(&self, input: Input) -> Result<Output, CatalogSnapshotError> {
        let storage_class = check_input(&input)?;
        let bucket = input.snapshot_bucket.as_str();
        // The lock first: one request that also tells a missing bucket.
        let lock = bucket::default_retention(&self.s3, bucket).await?;
        let contents = bucket::contents(&self.s3, bucket).await?;
        let verification = match &input.verification {
            Some(v) => Some(self.verification(&input, v).await?),
            None => None,
        };
        let e = entry(
            &input,
            storage_class,
            verification,
            &contents,
            lock.as_ref(),
        );
        let body = entry_bytes(&e).map_err(|err| {
            CatalogSnapshotError::ServiceError(ServiceFailure {
                operation: "serialise the catalog entry".to_owned(),
                code: None,
                status: None,
                message: err.to_string(),
            })
        })?;
        let key = catalog::key(
            &input.report.prefix,
            &input.source_bucket,
            input.backup_date,
            CatalogFile::Entry,
        );
        let written = self
            .put_if_changed(&input.report.bucket, &key, body)
            .await?;
        let last_lock_lapses = lock
            .as_ref()
            .zip(contents.newest_secs)
            .and_then(|(l, newest)| bucket::plus_period(newest, l.period));
        tracing::info!(
            snapshot_bucket = bucket,
            key = %key,
            written,
            good = e.good,
            verdict = e.verdict.as_str(),
            objects = e.objects,
            bytes = e.bytes,
            pages = contents.pages,
            retain_until = ?e.retain_until,
            last_lock_lapses = ?last_lock_lapses,
            "catalog entry"
        );
        Ok(Output {
            entry: ObjectRef {
                bucket: input.report.bucket,
                key,
            },
            written,
            good: e.good,
            objects: e.objects,
            bytes: e.bytes,
            retain_until: e.retain_until,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kit::record::{Failures, LargeCopies, TaskCounts, Verdict};
    use kit::verification::{SnapshotVerdict, TableCounts};

    fn day() -> Day {
        "2021-03-31".parse().unwrap()
    }

    fn audit(verdict: Verdict) -> AuditRecord {
        AuditRecord {
            source_bucket: "lake-prod".into(),
            backup_date: day(),
            snapshot_bucket: "lake-prod-31-mar-2021".into(),
            job_id: "job-5f1c".into(),
            verdict,
            job_status: None,
            report: None,
            tasks: TaskCounts::default(),
            failures: Failures::default(),
            failure_classes: vec![],
            oversize_manifest: None,
            cross_check: None,
            large_copies: None,
            findings: vec![],
            record: ObjectRef {
                bucket: "lake-reports".into(),
                key: "reports/job-job-5f1c/lakevault-audit.json".into(),
            },
        }
    }

    fn input() -> Input {
        Input {
            source_bucket: "lake-prod".into(),
            backup_date: day(),
            snapshot_bucket: "lake-prod-31-mar-2021".into(),
            job_id: "job-5f1c".into(),
            report: ReportLocation {
                bucket: "lake-reports".into(),
                prefix: "reports".into(),
            },
            storage_class: Some("GLACIER_IR".into()),
            audit: audit(Verdict::Complete),
            verification: Some(Verification {
                snapshot_bucket: "lake-prod-31-mar-2021".into(),
                backup_date: day(),
                verdict: SnapshotVerdict::AllRestorable,
                tables: TableCounts {
                    total: 1,
                    restorable: 1,
                    ..TableCounts::default()
                },
                non_delta_objects: 0,
                summary: "1 Delta table restorable as of 2021-03-31".into(),
                record: ObjectRef {
                    bucket: "lake-reports".into(),
                    key: "reports/job-job-5f1c/lakevault-tables.json".into(),
                },
            }),
        }
    }

    #[test]
    fn the_event_is_checked() {
        assert_eq!(check_input(&input()).unwrap(), "GLACIER_IR");
        let mut i = input();
        i.storage_class = None;
        assert_eq!(check_input(&i).unwrap(), "STANDARD");
        let path = |i: &Input| check_input(i).unwrap_err().path;
        let mut i = input();
        i.storage_class = Some("COLD".into());
        assert_eq!(path(&i), "$.storage_class");
        let mut i = input();
        i.audit.backup_date = "2021-03-30".parse().unwrap();
        assert_eq!(path(&i), "$.audit.backup_date");
        let mut i = input();
        i.audit.source_bucket = "lake-other".into();
        assert_eq!(path(&i), "$.audit.source_bucket");
        let mut i = input();
        i.audit.snapshot_bucket = "lake-prod-30-mar-2021".into();
        let e = check_input(&i).unwrap_err();
        assert_eq!(e.path, "$.audit.snapshot_bucket");
        assert!(e.message.contains("another snapshot"), "{}", e.message);
        let mut i = input();
        i.audit.job_id = "job-other".into();
        assert_eq!(path(&i), "$.audit.job_id");
        let mut i = input();
        if let Some(v) = i.verification.as_mut() {
            v.snapshot_bucket = "lake-prod-30-mar-2021".into();
        }
        assert_eq!(path(&i), "$.verification.snapshot_bucket");
        let mut i = input();
        i.report.bucket = "s3://lake-reports".into();
        assert_eq!(path(&i), "$.report.bucket");
        let mut i = input();
        i.audit.record.key = String::new();
        assert_eq!(path(&i), "$.audit.record.key");
        let mut i = input();
        i.job_id = "x".into();
        assert_eq!(path(&i), "$.job_id");
    }

    #[test]
    fn the_entry_is_built_from_the_records_and_the_bucket() {
        let contents = Contents {
            objects: 3,
            bytes: 30,
            // 2021-03-31T12:00:00Z and a day later.
            oldest_secs: Some(1_617_192_000),
            newest_secs: Some(1_617_278_400),
            pages: 1,
        };
        let lock = DefaultRetention {
            mode: "COMPLIANCE".into(),
            period: bucket::Period::Days(30),
        };
        let mut i = input();
        i.audit.large_copies = Some(LargeCopies {
            copied: 2,
            ..LargeCopies::default()
        });
        let e = entry(&i, "GLACIER_IR".into(), None, &contents, Some(&lock));
        assert_eq!(e.retain_until.as_deref(), Some("2021-04-30T12:00:00Z"));
        assert_eq!(e.lock_mode.as_deref(), Some("COMPLIANCE"));
        assert_eq!((e.objects, e.bytes, e.large_copies), (3, 30, 2));
        assert!(e.good);
        assert_eq!(entry_bytes(&e).unwrap(), entry_bytes(&e.clone()).unwrap());

        // No lock, or no object: no date.
        let e = entry(&i, "GLACIER_IR".into(), None, &contents, None);
        assert_eq!((e.lock_mode, e.retain_until), (None, None));
        let e = entry(
            &i,
            "GLACIER_IR".into(),
            None,
            &Contents::default(),
            Some(&lock),
        );
        assert_eq!(e.lock_mode.as_deref(), Some("COMPLIANCE"));
        assert_eq!(e.retain_until, None);

        i.audit = audit(Verdict::Incomplete);
        assert!(!entry(&i, "STANDARD".into(), None, &contents, None).good);
    }
}
