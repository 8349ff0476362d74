#![doc = include_str!("../README.md")]

pub mod cli;
pub mod field;
pub mod key;

use std::collections::BTreeMap;
use std::io::Write;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use flate2::Compression;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use futures::{StreamExt, TryStreamExt};
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::macros::format_description;

pub use field::{Field, UnknownField};
pub use key::{BadKey, decode_key, encode_key};

/// Rows per data file unless told otherwise. S3 splits large inventories into several files too;
/// a file is compressed in memory before upload, so this bounds the memory a delivery needs.
pub const DEFAULT_ROWS_PER_FILE: usize = 250_000;

/// The largest object [`read_delivery`] reads (a `manifest.json` or one data file): 256 MiB.
pub const MAX_READ_BYTES: u64 = 256 * 1024 * 1024;

/// HeadObject calls in flight when a field needs one per object.
const HEAD_CONCURRENCY: usize = 16;

/// Which object versions the inventory lists (`IncludedObjectVersions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Versions {
    /// Only current versions (ListObjectsV2).
    #[default]
    Current,
    /// Every version and delete marker (ListObjectVersions); adds `VersionId, IsLatest,
    /// IsDeleteMarker` after `Key`.
    All,
}

/// A version scope other than `current` and `all`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a version scope: use current or all")]
pub struct UnknownVersions(pub String);

impl std::str::FromStr for Versions {
    type Err = UnknownVersions;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "current" => Ok(Versions::Current),
            "all" => Ok(Versions::All),
            _ => Err(UnknownVersions(s.to_owned())),
        }
    }
}

/// What to deliver, where, and when.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The bucket to list.
    pub source_bucket: String,
    /// The bucket the inventory is written into.
    pub destination_bucket: String,
    /// The destination prefix of the inventory configuration (may be empty).
    pub prefix: String,
    /// The inventory configuration id.
    pub configuration_id: String,
    /// When the scan "started": names the delivery folder and fills `creationTimestamp`.
    pub at: OffsetDateTime,
    /// Optional fields (any order; written in S3's `fileSchema` order).
    pub fields: Vec<Field>,
    /// Current versions only, or all versions.
    pub versions: Versions,
    /// Rows per data file before a new one starts (≥ 1).
    pub rows_per_file: usize,
}

impl Delivery {
    /// A delivery with the fields lakevault's demo uses (`Size, LastModifiedDate, ETag,
    /// StorageClass`), current versions, [`DEFAULT_ROWS_PER_FILE`].
    pub fn new(
        source_bucket: impl Into<String>,
        destination_bucket: impl Into<String>,
        prefix: impl Into<String>,
        configuration_id: impl Into<String>,
        at: OffsetDateTime,
    ) -> Self {
        Self {
            source_bucket: source_bucket.into(),
            destination_bucket: destination_bucket.into(),
            prefix: prefix.into(),
            configuration_id: configuration_id.into(),
            at,
            fields: vec![
                Field::Size,
                Field::LastModifiedDate,
                Field::ETag,
                Field::StorageClass,
            ],
            versions: Versions::Current,
            rows_per_file: DEFAULT_ROWS_PER_FILE,
        }
    }

    /// `<prefix>/<source>/<config>/` (no leading prefix part when the prefix is empty).
    pub fn base(&self) -> String {
        base_prefix(&self.prefix, &self.source_bucket, &self.configuration_id)
    }

    /// The delivery folder, `<base><YYYY-MM-DDTHH-MMZ>/`.
    pub fn folder(&self) -> String {
        let f = format_description!("[year]-[month]-[day]T[hour]-[minute]Z");
        format!("{}{}/", self.base(), fmt_time(self.utc(), f))
    }

    /// Key of `manifest.json`.
    pub fn manifest_key(&self) -> String {
        format!("{}manifest.json", self.folder())
    }

    /// Key of `manifest.checksum`.
    pub fn checksum_key(&self) -> String {
        format!("{}manifest.checksum", self.folder())
    }

    /// Key of the hive `symlink.txt`.
    pub fn symlink_key(&self) -> String {
        let f = format_description!("[year]-[month]-[day]-[hour]-[minute]");
        format!(
            "{}hive/dt={}/symlink.txt",
            self.base(),
            fmt_time(self.utc(), f)
        )
    }

    /// The columns of the data files, as `fileSchema` lists them.
    pub fn file_schema(&self) -> Vec<&'static str> {
        let mut cols = vec!["Bucket", "Key"];
        if self.versions == Versions::All {
            cols.extend(["VersionId", "IsLatest", "IsDeleteMarker"]);
        }
        cols.extend(Field::canonical(&self.fields).into_iter().map(Field::name));
        cols
    }

    fn utc(&self) -> OffsetDateTime {
        self.at.to_offset(time::UtcOffset::UTC)
    }
}

/// `<prefix>/<source>/<config>/`: where a configuration's deliveries live.
///
/// locate-manifest has the same function on purpose: this crate emulates S3's side of the
/// layout from AWS's documentation, the step reads it, and the end-to-end tests only prove the
/// reader right if the two are written independently.
pub fn base_prefix(prefix: &str, source_bucket: &str, configuration_id: &str) -> String {
    let prefix = prefix.trim_matches('/');
    if prefix.is_empty() {
        format!("{source_bucket}/{configuration_id}/")
    } else {
        format!("{prefix}/{source_bucket}/{configuration_id}/")
    }
}

fn fmt_time(t: OffsetDateTime, f: &[time::format_description::BorrowedFormatItem<'_>]) -> String {
    // Only numeric components: formatting a valid OffsetDateTime cannot fail.
    t.format(f).unwrap_or_default()
}

/// `manifest.json` as S3 writes it (field order included).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// The source bucket's name.
    pub source_bucket: String,
    /// The destination bucket's ARN.
    pub destination_bucket: String,
    /// Always `2016-11-30`.
    pub version: String,
    /// Scan start, epoch milliseconds as a string.
    pub creation_timestamp: String,
    /// `CSV` here (S3 also writes `ORC` and `Parquet`).
    pub file_format: String,
    /// Column names, `", "`-separated.
    pub file_schema: String,
    /// The data files.
    pub files: Vec<ManifestFile>,
}

/// One data file in `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// Its key in the destination bucket.
    pub key: String,
    /// Its size in bytes (compressed).
    pub size: u64,
    /// MD5 (hex) of its bytes.
    #[serde(rename = "MD5checksum")]
    pub md5_checksum: String,
}

/// What a delivery wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveryReport {
    /// The destination bucket.
    pub bucket: String,
    /// Key of `manifest.json`.
    pub manifest_key: String,
    /// Key of `manifest.checksum`.
    pub checksum_key: String,
    /// Key of the hive `symlink.txt`.
    pub symlink_key: String,
    /// Keys of the data files, in order.
    pub data_files: Vec<String>,
    /// Rows written (objects, versions and delete markers).
    pub rows: u64,
    /// MD5 (hex) of `manifest.json`: the content of `manifest.checksum`.
    pub manifest_md5: String,
    /// The manifest written.
    pub manifest: Manifest,
}

/// Why a delivery could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An S3 call failed (classified by the kit: transient, access denied, service error).
    #[error("{0}")]
    Aws(String),
    /// The delivery's parameters are unusable.
    #[error("invalid delivery: {0}")]
    Invalid(String),
    /// An object to read back is larger than the limit ([`MAX_READ_BYTES`] unless given).
    #[error("s3://{bucket}/{key} is larger than {limit} bytes, the most read_delivery reads")]
    TooLarge {
        /// Its bucket.
        bucket: String,
        /// Its key.
        key: String,
        /// The cap.
        limit: u64,
    },
    /// A data file could not be written or read.
    #[error("data file {file}: {message}")]
    DataFile {
        /// Its key (or `<new>` while writing).
        file: String,
        /// What went wrong.
        message: String,
    },
}

fn aws<E>(op: &str, e: aws_sdk_s3::error::SdkError<E>) -> Error
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    Error::Aws(kit::classify(op, e).to_string())
}

/// Lists `d.source_bucket` and writes one delivery into `d.destination_bucket`, one client for
/// both (one account).
pub async fn deliver(s3: &Client, d: &Delivery) -> Result<DeliveryReport, Error> {
    deliver_between(s3, s3, d).await
}

/// As [`deliver`], reading the source with `source` and writing with `destination` (the
/// inventory destination usually lives in another account).
pub async fn deliver_between(
    source: &Client,
    destination: &Client,
    d: &Delivery,
) -> Result<DeliveryReport, Error> {
    if d.rows_per_file == 0 {
        return Err(Error::Invalid(
            "rows_per_file must be at least 1".to_owned(),
        ));
    }
    for (what, v) in [
        ("source bucket", &d.source_bucket),
        ("destination bucket", &d.destination_bucket),
        ("configuration id", &d.configuration_id),
    ] {
        if v.is_empty() || v.contains('/') {
            return Err(Error::Invalid(format!(
                "{what} {v:?} must be non-empty and contain no '/'"
            )));
        }
    }
    let fields = Field::canonical(&d.fields);
    let head = fields.iter().any(|f| f.needs_head());
    let mut out = DataFiles::new(d, destination);

    tracing::info!(source = %d.source_bucket, destination = %d.destination_bucket,
        folder = %d.folder(), versions = ?d.versions, "delivering inventory");
    match d.versions {
        Versions::Current => {
            let mut pages = source
                .list_objects_v2()
                .bucket(&d.source_bucket)
                .fetch_owner(fields.contains(&Field::ObjectOwner))
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| aws("ListObjectsV2", e))?;
                let listed: Vec<Listed> = page.contents().iter().map(Listed::from_object).collect();
                out.write_page(source, listed, &fields, head).await?;
            }
        }
        Versions::All => {
            // The SDK has no paginator for ListObjectVersions (it pages on two markers), so this
            // one loop is written by hand.
            let (mut key_marker, mut version_marker) = (None::<String>, None::<String>);
            loop {
                let page = source
                    .list_object_versions()
                    .bucket(&d.source_bucket)
                    .set_key_marker(key_marker.take())
                    .set_version_id_marker(version_marker.take())
                    .send()
                    .await
                    .map_err(|e| aws("ListObjectVersions", e))?;
                let mut listed: Vec<Listed> = page
                    .versions()
                    .iter()
                    .map(Listed::from_version)
                    .chain(page.delete_markers().iter().map(Listed::from_marker))
                    .collect();
                // A page lists versions and delete markers apart; S3 interleaves them per key,
                // newest first.
                listed.sort_by(|a, b| {
                    a.key
                        .cmp(&b.key)
                        .then_with(|| b.last_modified_ms.cmp(&a.last_modified_ms))
                });
                out.write_page(source, listed, &fields, head).await?;
                if page.is_truncated() != Some(true) {
                    break;
                }
                key_marker = page.next_key_marker().map(str::to_owned);
                version_marker = page.next_version_id_marker().map(str::to_owned);
                if key_marker.is_none() {
                    break;
                }
            }
        }
    }
    out.finish().await
}

/// One row's source data, from a listing.
#[derive(Debug, Clone, Default)]
struct Listed {
    key: String,
    version_id: Option<String>,
    is_latest: Option<bool>,
    is_delete_marker: bool,
    size: Option<i64>,
    last_modified: Option<String>,
    last_modified_ms: i128,
    etag: Option<String>,
    storage_class: Option<String>,
    checksum_algorithm: Option<String>,
    owner: Option<String>,
}

fn iso_millis(t: Option<&aws_smithy_types::DateTime>) -> (Option<String>, i128) {
    let Some(t) = t else { return (None, 0) };
    let nanos = i128::from(t.secs()) * 1_000_000_000 + i128::from(t.subsec_nanos());
    let f =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    let s = OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .map(|dt| fmt_time(dt, f));
    (s, nanos / 1_000_000)
}

fn unquote(etag: Option<&str>) -> Option<String> {
    etag.map(|e| e.trim_matches('"').to_owned())
}

impl Listed {
    fn from_object(o: &aws_sdk_s3::types::Object) -> Self {
        let (last_modified, last_modified_ms) = iso_millis(o.last_modified());
        Listed {
            key: o.key().unwrap_or_default().to_owned(),
            size: o.size(),
            last_modified,
            last_modified_ms,
            etag: unquote(o.e_tag()),
            storage_class: o.storage_class().map(|s| s.as_str().to_owned()),
            checksum_algorithm: o
                .checksum_algorithm()
                .first()
                .map(|a| a.as_str().to_owned()),
            owner: o.owner().and_then(|w| w.id()).map(str::to_owned),
            ..Default::default()
        }
    }

    fn from_version(v: &aws_sdk_s3::types::ObjectVersion) -> Self {
        let (last_modified, last_modified_ms) = iso_millis(v.last_modified());
        Listed {
            key: v.key().unwrap_or_default().to_owned(),
            version_id: v.version_id().map(str::to_owned),
            is_latest: v.is_latest(),
            size: v.size(),
            last_modified,
            last_modified_ms,
            etag: unquote(v.e_tag()),
            storage_class: v.storage_class().map(|s| s.as_str().to_owned()),
            checksum_algorithm: v
                .checksum_algorithm()
                .first()
                .map(|a| a.as_str().to_owned()),
            owner: v.owner().and_then(|w| w.id()).map(str::to_owned),
            ..Default::default()
        }
    }

    fn from_marker(m: &aws_sdk_s3::types::DeleteMarkerEntry) -> Self {
        let (last_modified, last_modified_ms) = iso_millis(m.last_modified());
        Listed {
            key: m.key().unwrap_or_default().to_owned(),
            version_id: m.version_id().map(str::to_owned),
            is_latest: m.is_latest(),
            is_delete_marker: true,
            last_modified,
            last_modified_ms,
            owner: m.owner().and_then(|w| w.id()).map(str::to_owned),
            ..Default::default()
        }
    }
}

/// What HeadObject adds for the fields the listing lacks.
#[derive(Debug, Clone, Default)]
struct Headed {
    replication_status: String,
    encryption_status: String,
    lock_until: String,
    lock_mode: String,
    legal_hold: String,
    bucket_key: String,
}

async fn head(s3: &Client, bucket: &str, l: &Listed) -> Result<Headed, Error> {
    if l.is_delete_marker {
        return Ok(Headed::default());
    }
    let h = s3
        .head_object()
        .bucket(bucket)
        .key(&l.key)
        .set_version_id(l.version_id.clone().filter(|v| v != "null"))
        .send()
        .await
        .map_err(|e| aws("HeadObject", e))?;
    use aws_sdk_s3::types::ServerSideEncryption as Sse;
    let sse = h.server_side_encryption();
    let encryption_status = match sse {
        Some(Sse::Aes256) => "SSE-S3",
        Some(Sse::AwsKms) => "SSE-KMS",
        Some(Sse::AwsKmsDsse) => "DSSE-KMS",
        _ if h.sse_customer_algorithm().is_some() => "SSE-C",
        _ => "NOT-SSE",
    };
    let kms = matches!(sse, Some(Sse::AwsKms) | Some(Sse::AwsKmsDsse));
    Ok(Headed {
        replication_status: h
            .replication_status()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        encryption_status: encryption_status.to_owned(),
        lock_until: iso_millis(h.object_lock_retain_until_date())
            .0
            .unwrap_or_default(),
        lock_mode: h
            .object_lock_mode()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        legal_hold: h
            .object_lock_legal_hold_status()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_else(|| "OFF".to_owned()),
        bucket_key: match (kms, h.bucket_key_enabled()) {
            (true, Some(true)) => "ENABLED".to_owned(),
            (true, _) => "DISABLED".to_owned(),
            _ => String::new(),
        },
    })
}

fn cell(f: Field, l: &Listed, h: &Headed) -> String {
    let s = |o: &Option<String>| o.clone().unwrap_or_default();
    if l.is_delete_marker {
        // Delete markers have no data: S3 leaves their optional fields empty, except the date.
        return match f {
            Field::LastModifiedDate => s(&l.last_modified),
            Field::ObjectOwner => s(&l.owner),
            _ => String::new(),
        };
    }
    match f {
        Field::Size => l.size.map(|n| n.to_string()).unwrap_or_default(),
        Field::LastModifiedDate => s(&l.last_modified),
        Field::StorageClass => s(&l.storage_class),
        Field::ETag => s(&l.etag),
        // A multipart ETag is `<md5 of part md5s>-<part count>`.
        Field::IsMultipartUploaded => l
            .etag
            .as_deref()
            .is_some_and(|e| e.contains('-'))
            .to_string(),
        Field::ReplicationStatus => h.replication_status.clone(),
        Field::EncryptionStatus => h.encryption_status.clone(),
        Field::ObjectLockRetainUntilDate => h.lock_until.clone(),
        Field::ObjectLockMode => h.lock_mode.clone(),
        Field::ObjectLockLegalHoldStatus => h.legal_hold.clone(),
        Field::BucketKeyStatus => h.bucket_key.clone(),
        Field::ChecksumAlgorithm => s(&l.checksum_algorithm),
        Field::ObjectOwner => s(&l.owner),
    }
}

type GzCsv = csv::Writer<GzEncoder<Vec<u8>>>;

fn new_writer() -> GzCsv {
    csv::WriterBuilder::new()
        .has_headers(false)
        .quote_style(csv::QuoteStyle::Always)
        .from_writer(GzEncoder::new(Vec::new(), Compression::default()))
}

/// Data files being written: one in memory at a time (≤ `rows_per_file` rows), uploaded when full.
struct DataFiles<'a> {
    d: &'a Delivery,
    s3: &'a Client,
    current: GzCsv,
    rows_in_current: usize,
    rows: u64,
    files: Vec<ManifestFile>,
}

impl<'a> DataFiles<'a> {
    fn new(d: &'a Delivery, s3: &'a Client) -> Self {
        Self {
            d,
            s3,
            current: new_writer(),
            rows_in_current: 0,
            rows: 0,
            files: Vec::new(),
        }
    }

    async fn write_page(
        &mut self,
        source: &Client,
        listed: Vec<Listed>,
        fields: &[Field],
        head_needed: bool,
    ) -> Result<(), Error> {
        let headed: Vec<Headed> = if head_needed {
            futures::stream::iter(listed.iter())
                .map(|l| head(source, &self.d.source_bucket, l))
                .buffered(HEAD_CONCURRENCY)
                .try_collect()
                .await?
        } else {
            vec![Headed::default(); listed.len()]
        };
        for (l, h) in listed.iter().zip(&headed) {
            let mut rec = vec![self.d.source_bucket.clone(), encode_key(&l.key)];
            if self.d.versions == Versions::All {
                rec.push(l.version_id.clone().unwrap_or_default());
                rec.push(l.is_latest.unwrap_or(false).to_string());
                rec.push(l.is_delete_marker.to_string());
            }
            rec.extend(fields.iter().map(|f| cell(*f, l, h)));
            self.current
                .write_record(&rec)
                .map_err(|e| data_err("<new>", e))?;
            self.rows_in_current += 1;
            self.rows += 1;
            if self.rows_in_current >= self.d.rows_per_file {
                self.flush().await?;
            }
        }
        Ok(())
    }

    /// Compresses and uploads the current data file, starting a new one.
    async fn flush(&mut self) -> Result<(), Error> {
        let w = std::mem::replace(&mut self.current, new_writer());
        self.rows_in_current = 0;
        let gz = w
            .into_inner()
            .map_err(|e| data_err("<new>", e.into_error()))?
            .finish()
            .map_err(|e| data_err("<new>", e))?;
        let key = format!("{}data/{}.csv.gz", self.d.base(), uuid::Uuid::new_v4());
        let md5 = hex::encode(Md5::digest(&gz));
        let size = gz.len() as u64;
        put(
            self.s3,
            &self.d.destination_bucket,
            &key,
            gz,
            "application/gzip",
        )
        .await?;
        tracing::debug!(key = %key, size, "data file written");
        self.files.push(ManifestFile {
            key,
            size,
            md5_checksum: md5,
        });
        Ok(())
    }

    async fn finish(mut self) -> Result<DeliveryReport, Error> {
        // An empty bucket still gets one (empty) data file: readers expect a non-empty `files`.
        if self.rows_in_current > 0 || self.files.is_empty() {
            self.flush().await?;
        }
        let d = self.d;
        let manifest = Manifest {
            source_bucket: d.source_bucket.clone(),
            destination_bucket: format!("arn:aws:s3:::{}", d.destination_bucket),
            version: "2016-11-30".to_owned(),
            creation_timestamp: (d.at.unix_timestamp_nanos() / 1_000_000).to_string(),
            file_format: "CSV".to_owned(),
            file_schema: d.file_schema().join(", "),
            files: self.files,
        };
        let body = serde_json::to_vec(&manifest)
            .map_err(|e| Error::Invalid(format!("manifest does not serialise: {e}")))?;
        let manifest_md5 = hex::encode(Md5::digest(&body));
        let symlink: String = manifest
            .files
            .iter()
            .map(|f| format!("s3://{}/{}\n", d.destination_bucket, f.key))
            .collect();
        let bucket = &d.destination_bucket;
        put(self.s3, bucket, &d.manifest_key(), body, "application/json").await?;
        put(
            self.s3,
            bucket,
            &d.symlink_key(),
            symlink.into_bytes(),
            "text/plain",
        )
        .await?;
        // Last: its presence is what tells readers the delivery is complete.
        put(
            self.s3,
            bucket,
            &d.checksum_key(),
            manifest_md5.clone().into_bytes(),
            "text/plain",
        )
        .await?;
        tracing::info!(manifest = %d.manifest_key(), rows = self.rows,
            files = manifest.files.len(), "inventory delivered");
        Ok(DeliveryReport {
            bucket: bucket.clone(),
            manifest_key: d.manifest_key(),
            checksum_key: d.checksum_key(),
            symlink_key: d.symlink_key(),
            data_files: manifest.files.iter().map(|f| f.key.clone()).collect(),
            rows: self.rows,
            manifest_md5,
            manifest,
        })
    }
}

fn data_err(file: &str, e: impl std::fmt::Display) -> Error {
    Error::DataFile {
        file: file.to_owned(),
        message: e.to_string(),
    }
}

async fn put(
    s3: &Client,
    bucket: &str,
    key: &str,
    body: Vec<u8>,
    content_type: &str,
) -> Result<(), Error> {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .content_type(content_type)
        .body(ByteStream::from(body))
        .send()
        .await
        .map_err(|e| aws("PutObject", e))?;
    Ok(())
}

/// One row of a data file, key decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The `Bucket` column.
    pub bucket: String,
    /// The `Key` column, URL-decoded.
    pub key: String,
    /// Every other column by its `fileSchema` name (`VersionId`, `Size`, …), as written.
    pub fields: BTreeMap<String, String>,
}

impl Row {
    /// A column's value.
    pub fn get(&self, column: &str) -> Option<&str> {
        self.fields.get(column).map(String::as_str)
    }
}

/// `"Bucket, Key, Size"` → `["Bucket", "Key", "Size"]`.
pub fn parse_file_schema(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Reads one gzip CSV data file (no header) whose columns are `schema`, decompressing as it
/// parses (no second copy of the file in memory).
pub fn parse_data_file(gz: &[u8], schema: &[String]) -> Result<Vec<Row>, Error> {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(MultiGzDecoder::new(gz));
    let mut rows = Vec::new();
    for rec in r.records() {
        let rec = rec.map_err(|e| match e.kind() {
            // The reader's only I/O is the decoder's.
            csv::ErrorKind::Io(io) => data_err("<data>", format!("not gzip: {io}")),
            _ => data_err("<data>", e),
        })?;
        if rec.len() != schema.len() {
            return Err(data_err(
                "<data>",
                format!(
                    "{} columns where fileSchema has {}",
                    rec.len(),
                    schema.len()
                ),
            ));
        }
        let mut row = Row {
            bucket: String::new(),
            key: String::new(),
            fields: BTreeMap::new(),
        };
        for (col, v) in schema.iter().zip(rec.iter()) {
            match col.as_str() {
                "Bucket" => row.bucket = v.to_owned(),
                "Key" => row.key = decode_key(v).map_err(|e| data_err("<data>", e))?,
                _ => {
                    row.fields.insert(col.clone(), v.to_owned());
                }
            }
        }
        rows.push(row);
    }
    Ok(rows)
}

/// Reads a delivery back: its manifest and every row of its data files (for tests and tools;
/// all rows in memory; no object larger than [`MAX_READ_BYTES`] is read).
pub async fn read_delivery(
    s3: &Client,
    bucket: &str,
    manifest_key: &str,
) -> Result<(Manifest, Vec<Row>), Error> {
    read_delivery_within(s3, bucket, manifest_key, MAX_READ_BYTES).await
}

/// As [`read_delivery`], reading no object larger than `limit` bytes ([`Error::TooLarge`]).
pub async fn read_delivery_within(
    s3: &Client,
    bucket: &str,
    manifest_key: &str,
    limit: u64,
) -> Result<(Manifest, Vec<Row>), Error> {
    let body = get(s3, bucket, manifest_key, limit).await?;
    let manifest: Manifest = serde_json::from_slice(&body)
        .map_err(|e| data_err(manifest_key, format!("not a manifest.json: {e}")))?;
    let schema = parse_file_schema(&manifest.file_schema);
    let mut rows = Vec::new();
    for f in &manifest.files {
        let gz = get(s3, bucket, &f.key, limit).await?;
        let md5 = hex::encode(Md5::digest(&gz));
        if md5 != f.md5_checksum {
            return Err(data_err(
                &f.key,
                format!("MD5 {md5} differs from the manifest's {}", f.md5_checksum),
            ));
        }
        rows.extend(parse_data_file(&gz, &schema).map_err(|e| match e {
            Error::DataFile { message, .. } => data_err(&f.key, message),
            other => other,
        })?);
    }
    Ok((manifest, rows))
}

/// An object's bytes, refusing more than `limit`.
async fn get(s3: &Client, bucket: &str, key: &str, limit: u64) -> Result<Vec<u8>, Error> {
    let o = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| aws("GetObject", e))?;
    let length = o.content_length();
    let deadline = kit::clients::body_deadline(s3.config().timeout_config());
    kit::body::read_capped(o.body, length, limit, deadline)
        .await
        .map_err(|e| match e {
            kit::body::CappedReadError::TooLarge { limit } => Error::TooLarge {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                limit,
            },
            kit::body::CappedReadError::Stream(e) => Error::Aws(format!(
                "GetObject s3://{bucket}/{key}: reading the body: {e}"
            )),
        })
}

/// Writes `rows` as one gzip CSV data file, exactly as [`deliver`] does (for tests that need a
/// hand-made data file).
pub fn write_data_file(rows: &[Vec<String>]) -> Result<Vec<u8>, Error> {
    let mut w = new_writer();
    for r in rows {
        w.write_record(r).map_err(|e| data_err("<new>", e))?;
    }
    let mut gz = w
        .into_inner()
        .map_err(|e| data_err("<new>", e.into_error()))?;
    gz.flush().map_err(|e| data_err("<new>", e))?;
    gz.finish().map_err(|e| data_err("<new>", e))
}
