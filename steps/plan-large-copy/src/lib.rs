#![doc = include_str!("../README.md")]

pub mod layout;
pub mod uploads;

use std::collections::HashMap;
use std::time::SystemTime;

use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::primitives::{DateTime, DateTimeFormat};
use aws_sdk_s3::types::{
    ArchiveStatus, ChecksumAlgorithm, ChecksumMode, ChecksumType, ObjectLockMode,
    ServerSideEncryption, StorageClass,
};
use kit::validate::{self, ArnKind};
use kit::{AccessDenied, AwsFailure, InvalidInput, ServiceFailure, Step, Transient};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::layout::{SettingError, StartError};
use crate::uploads::ListedUpload;

/// One object to copy in parts, and how its copy must be stored.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct Input {
    /// The bucket being backed up.
    pub source_bucket: String,
    /// The object's key (decoded: as S3 names it, not URL-encoded).
    pub key: String,
    /// The version to copy; the current one when absent.
    #[serde(default)]
    pub version_id: Option<String>,
    /// The dated snapshot bucket the copy goes into (same key).
    pub snapshot_bucket: String,
    /// Storage class of the copy: STANDARD (default), STANDARD_IA, ONEZONE_IA,
    /// INTELLIGENT_TIERING, GLACIER_IR, GLACIER or DEEP_ARCHIVE.
    #[serde(default)]
    pub storage_class: Option<String>,
    /// Object Lock retain-until date of the copy (RFC 3339, in the future), when the snapshot
    /// bucket has Object Lock.
    #[serde(default)]
    pub retain_until: Option<String>,
    /// Object Lock mode with `retain_until`: GOVERNANCE (default) or COMPLIANCE.
    #[serde(default)]
    pub object_lock_mode: Option<String>,
    /// The snapshot's KMS key: the copy is encrypted SSE-KMS with it (bucket key on); without
    /// it the snapshot bucket's default encryption applies.
    #[serde(default)]
    pub kms_key_arn: Option<String>,
}

/// The checksum S3 keeps for the source object (HeadObject with `ChecksumMode: ENABLED`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SourceChecksum {
    /// CRC64NVME, CRC32, CRC32C, SHA1, SHA256, …
    pub algorithm: String,
    /// FULL_OBJECT or COMPOSITE, as S3 says (absent when it does not).
    #[serde(rename = "type", default)]
    pub checksum_type: Option<String>,
    /// The value, base64 (a composite one ends in `-<parts>`).
    pub value: String,
}

impl SourceChecksum {
    /// The source's full-object CRC64NVME, the one value a copy's checksum is compared with.
    pub fn crc64_nvme(&self) -> Option<&str> {
        (self.algorithm == layout::CHECKSUM_ALGORITHM && !self.value.contains('-'))
            .then_some(self.value.as_str())
    }
}

/// The planned copy: what copy-parts and complete-large-copy take (pass it on unchanged).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Output {
    /// The source bucket.
    pub source_bucket: String,
    /// The object's key, in both buckets.
    pub key: String,
    /// The source version copied (the input's; null: the current one).
    pub version_id: Option<String>,
    /// The snapshot bucket.
    pub snapshot_bucket: String,
    /// The multipart upload on the snapshot bucket; null when the copy already exists.
    pub upload_id: Option<String>,
    /// True when this invocation started the upload (false: an earlier attempt's was found).
    pub created: bool,
    /// True when the snapshot already holds this copy (same source ETag and size): nothing
    /// to copy, copy-parts answers done and complete-large-copy checks it.
    pub already_copied: bool,
    /// The source's size in bytes.
    pub size: u64,
    /// Bytes per part (the last part may be smaller).
    pub part_size: u64,
    /// Number of parts (≤ 10,000).
    pub parts: u64,
    /// The source's ETag, unquoted: every part is copied only if the source still has it.
    pub source_etag: String,
    /// The source's checksum, when S3 has one.
    pub source_checksum: Option<SourceChecksum>,
    /// The copy's checksum algorithm (`CRC64NVME`, full object) when the source has a
    /// checksum; null otherwise.
    pub checksum_algorithm: Option<String>,
    /// Uploads of this key found unusable (older parts than the source, other settings,
    /// duplicates, or any when the copy exists) and aborted.
    pub aborted_uploads: u32,
}

/// plan-large-copy's errorTypes.
#[derive(Debug, thiserror::Error, kit::strum::IntoStaticStr, kit::strum::VariantNames)]
#[strum(crate = "kit::strum")]
pub enum PlanLargeCopyError {
    /// The event breaks the contract; the message names the field.
    #[error(transparent)]
    InvalidInput(#[from] InvalidInput),
    /// Throttling, a 5xx, a dropped connection. Retry.
    #[error(transparent)]
    Transient(#[from] Transient),
    /// The role may not read the source or start uploads on the snapshot bucket.
    #[error(transparent)]
    AccessDenied(#[from] AccessDenied),
    /// S3 answered something this step does not expect.
    #[error("{0}")]
    ServiceError(ServiceFailure),
    /// The source object (or its version, or its bucket) does not exist: deleted since the
    /// inventory listed it.
    #[error("s3://{bucket}/{key}{} does not exist (deleted since the inventory listed it?)", .version_id.as_ref().map(|v| format!(" version {v}")).unwrap_or_default())]
    SourceNotFound {
        /// The source bucket.
        bucket: String,
        /// The key.
        key: String,
        /// The version asked for.
        version_id: Option<String>,
    },
    /// The source cannot be copied in parts: archived and not restored, empty, or too large
    /// for 10,000 parts of 5 GiB.
    #[error("s3://{bucket}/{key} cannot be copied in parts: {reason}")]
    SourceNotCopyable {
        /// The source bucket.
        bucket: String,
        /// The key.
        key: String,
        /// Why.
        reason: String,
    },
}

kit::step_error!(PlanLargeCopyError, service => ServiceError);

/// Settings read once at cold start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// The smallest part size tried (`LAKEVAULT_MIN_PART_BYTES`, default 64 MiB).
    pub min_part_bytes: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            min_part_bytes: layout::PART_SIZES[0],
        }
    }
}

impl Settings {
    /// From the environment.
    pub fn from_env() -> Result<Self, SettingError> {
        Self::from_lookup(|v| std::env::var(v).ok())
    }

    /// From `lookup` (the environment, or a test's map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingError> {
        Ok(Self {
            min_part_bytes: layout::integer_setting(
                &lookup,
                layout::MIN_PART_ENV,
                1..=layout::MAX_PART_BYTES,
                layout::PART_SIZES[0],
                "a part size in bytes from 1 to 5368709120",
            )?,
        })
    }
}

/// The step: an S3 client and its settings, built once.
#[derive(Debug, Clone)]
pub struct PlanLargeCopy {
    s3: aws_sdk_s3::Client,
    settings: Settings,
}

impl PlanLargeCopy {
    /// From the environment (region, endpoints, kit's timeouts, `LAKEVAULT_MIN_PART_BYTES`).
    pub async fn from_env() -> Result<Self, StartError> {
        let settings = Settings::from_env()?;
        let conf = kit::clients::load_sdk_config().await?;
        Ok(Self::new(kit::clients::s3(&conf), settings))
    }

    /// With a given client and settings (tests).
    pub fn new(s3: aws_sdk_s3::Client, settings: Settings) -> Self {
        Self { s3, settings }
    }
}

/// Storage classes a copy may land in.
pub const STORAGE_CLASSES: &[&str] = &[
    "STANDARD",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER_IR",
    "GLACIER",
    "DEEP_ARCHIVE",
];

/// What the input asks for, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    /// The copy's storage class.
    pub storage_class: String,
    /// Object Lock mode and retain-until date.
    pub lock: Option<(String, DateTime)>,
    /// The KMS key.
    pub kms_key_arn: Option<String>,
}

/// Checks the input before any request (pure: `now` decides whether `retain_until` is in the
/// future; `region` is the step's, which a KMS key must be in).
pub fn check_input(
    input: &Input,
    now: DateTime,
    region: Option<&str>,
) -> Result<Checked, InvalidInput> {
    validate::check_source_bucket("$.source_bucket", &input.source_bucket)?;
    layout::check_key("$.key", &input.key)?;
    if let Some(v) = &input.version_id {
        layout::check_version_id("$.version_id", v)?;
    }
    validate::check_bucket("$.snapshot_bucket", &input.snapshot_bucket)?;
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
    let lock = validate::check_object_lock(
        input.retain_until.as_deref(),
        input.object_lock_mode.as_deref(),
        now,
        "the copy stays locked",
    )?;
    if let Some(arn) = &input.kms_key_arn {
        let key = validate::check_arn("$.kms_key_arn", arn, ArnKind::KmsKey)?;
        validate::check_partition_matches("$.kms_key_arn", "the KMS key", key.partition, region)?;
        if let Some(region) = region.filter(|r| validate::is_region(r))
            && key.region != region
        {
            return Err(InvalidInput::new(
                "$.kms_key_arn",
                format!(
                    "the key is in {}, the snapshot bucket in {region}: S3 encrypts with a key of \
                     the bucket's region",
                    key.region
                ),
            ));
        }
    }
    Ok(Checked {
        storage_class,
        lock,
        kms_key_arn: input.kms_key_arn.clone(),
    })
}

/// The checksum S3 reports for an object (the first algorithm it names).
pub fn checksum_of(head: &HeadObjectOutput) -> Option<SourceChecksum> {
    let candidates = [
        ("CRC64NVME", head.checksum_crc64_nvme()),
        ("CRC32", head.checksum_crc32()),
        ("CRC32C", head.checksum_crc32_c()),
        ("SHA1", head.checksum_sha1()),
        ("SHA256", head.checksum_sha256()),
        ("SHA512", head.checksum_sha512()),
        ("MD5", head.checksum_md5()),
        ("XXHASH64", head.checksum_xxhash64()),
        ("XXHASH3", head.checksum_xxhash3()),
        ("XXHASH128", head.checksum_xxhash128()),
    ];
    candidates
        .into_iter()
        .find_map(|(alg, v)| v.filter(|v| !v.is_empty()).map(|v| (alg, v)))
        .map(|(algorithm, value)| SourceChecksum {
            algorithm: algorithm.to_owned(),
            checksum_type: head.checksum_type().map(|t| t.as_str().to_owned()),
            value: value.to_owned(),
        })
}

/// Tags as the `x-amz-tagging` header carries them: `k1=v1&k2=v2`, both sides URL-encoded.
pub fn tagging_header(tags: &[(String, String)]) -> String {
    const TAG: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    tags.iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                utf8_percent_encode(k, TAG),
                utf8_percent_encode(v, TAG)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Why an object in this storage state cannot be read (copied) now, if it cannot.
fn archived(head: &HeadObjectOutput) -> Option<String> {
    let restored = head
        .restore()
        .is_some_and(|r| r.contains("ongoing-request=\"false\""));
    if let Some(status) = head.archive_status()
        && matches!(
            status,
            ArchiveStatus::ArchiveAccess | ArchiveStatus::DeepArchiveAccess
        )
        && !restored
    {
        return Some(format!(
            "it is in the Intelligent-Tiering {} tier and not restored",
            status.as_str()
        ));
    }
    match head.storage_class() {
        Some(c @ (StorageClass::Glacier | StorageClass::DeepArchive)) if !restored => {
            Some(format!(
                "it is in {} and not restored (restore it first, or copy a restored copy)",
                c.as_str()
            ))
        }
        _ => None,
    }
}

impl PlanLargeCopyError {
    fn not_found(input: &Input) -> Self {
        Self::SourceNotFound {
            bucket: input.source_bucket.clone(),
            key: input.key.clone(),
            version_id: input.version_id.clone(),
        }
    }

    fn not_copyable(input: &Input, reason: impl Into<String>) -> Self {
        Self::SourceNotCopyable {
            bucket: input.source_bucket.clone(),
            key: input.key.clone(),
            reason: reason.into(),
        }
    }

    fn answered_without(operation: &str, what: &str) -> Self {
        Self::ServiceError(ServiceFailure {
            operation: operation.to_owned(),
            code: None,
            status: Some(200),
            message: format!("{operation} answered without {what}"),
        })
    }
}

/// Everything read of the source.
struct Source {
    head: HeadObjectOutput,
    size: u64,
    etag: String,
    last_modified: Option<DateTime>,
    checksum: Option<SourceChecksum>,
}

impl PlanLargeCopy {
    async fn head_source(&self, input: &Input) -> Result<Source, PlanLargeCopyError> {
        let head = self
            .s3
            .head_object()
            .bucket(&input.source_bucket)
            .key(&input.key)
            .set_version_id(input.version_id.clone())
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .map_err(|e| match kit::classify("HeadObject", e) {
                // HEAD answers carry no error document: 404 is a missing key, version or
                // bucket; 405 a delete marker named by its version.
                AwsFailure::Service(s) if matches!(s.status, Some(404 | 405)) => {
                    PlanLargeCopyError::not_found(input)
                }
                other => other.into(),
            })?;
        if head.delete_marker() == Some(true) {
            return Err(PlanLargeCopyError::not_found(input));
        }
        let size = head
            .content_length()
            .and_then(|n| u64::try_from(n).ok())
            .ok_or_else(|| PlanLargeCopyError::answered_without("HeadObject", "a size"))?;
        let etag = head
            .e_tag()
            .map(|e| layout::unquoted(e).to_owned())
            .filter(|e| !e.is_empty())
            .ok_or_else(|| PlanLargeCopyError::answered_without("HeadObject", "an ETag"))?;
        let checksum = checksum_of(&head);
        Ok(Source {
            last_modified: head.last_modified().copied(),
            head,
            size,
            etag,
            checksum,
        })
    }

    async fn source_tags(
        &self,
        input: &Input,
    ) -> Result<Vec<(String, String)>, PlanLargeCopyError> {
        let out = self
            .s3
            .get_object_tagging()
            .bucket(&input.source_bucket)
            .key(&input.key)
            .set_version_id(input.version_id.clone())
            .send()
            .await
            .map_err(|e| match kit::classify("GetObjectTagging", e) {
                AwsFailure::Service(s) if s.status == Some(404) => {
                    PlanLargeCopyError::not_found(input)
                }
                other => other.into(),
            })?;
        Ok(out
            .tag_set()
            .iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect())
    }

    /// True when the snapshot already holds this source's copy: the marker and the size.
    async fn copied_already(
        &self,
        input: &Input,
        src: &Source,
    ) -> Result<bool, PlanLargeCopyError> {
        let head = self
            .s3
            .head_object()
            .bucket(&input.snapshot_bucket)
            .key(&input.key)
            .send()
            .await
            .map_err(|e| kit::classify("HeadObject", e));
        let head = match head {
            Ok(h) => h,
            Err(AwsFailure::Service(s)) if matches!(s.status, Some(404 | 405)) => return Ok(false),
            Err(f) => return Err(f.into()),
        };
        let marker = head
            .metadata()
            .and_then(|m| m.get(layout::SOURCE_ETAG_METADATA))
            .map(|e| layout::unquoted(e));
        Ok(marker == Some(src.etag.as_str())
            && head.content_length().and_then(|n| u64::try_from(n).ok()) == Some(src.size))
    }

    /// Whether `upload` can carry on this plan's copy: this plan's settings, every part it holds
    /// one of this plan's parts (number and length), and uploaded after the source's last
    /// change (in a later second), so copied from the source as it is now.
    async fn usable(
        &self,
        input: &Input,
        upload: &ListedUpload,
        checked: &Checked,
        checksum: Option<&str>,
        src: &Source,
        part_size: u64,
    ) -> Result<bool, PlanLargeCopyError> {
        if upload.storage_class != checked.storage_class
            || upload.checksum_algorithm.as_deref() != checksum
        {
            return Ok(false);
        }
        let parts = uploads::list_parts(
            &self.s3,
            &input.snapshot_bucket,
            &input.key,
            &upload.upload_id,
            1000,
        )
        .await?;
        let Some(parts) = parts else {
            return Ok(false);
        };
        let changed = src.last_modified.map(|t| t.secs());
        let count = layout::part_count(src.size, part_size);
        Ok(parts.values().all(|p| {
            let fits =
                p.number <= count && p.size == layout::part_len(src.size, part_size, p.number);
            let fresh = match (p.last_modified, changed) {
                (Some(part), Some(changed)) => part.secs() > changed,
                _ => false,
            };
            fits && fresh
        }))
    }

    async fn create_upload(
        &self,
        input: &Input,
        checked: &Checked,
        src: &Source,
        tags: &[(String, String)],
    ) -> Result<String, PlanLargeCopyError> {
        let h = &src.head;
        let mut metadata: HashMap<String, String> = h.metadata().cloned().unwrap_or_default();
        metadata.insert(layout::SOURCE_ETAG_METADATA.to_owned(), src.etag.clone());
        let expires = h
            .expires_string()
            .and_then(|s| DateTime::from_str(s, DateTimeFormat::HttpDate).ok());
        let mut req = self
            .s3
            .create_multipart_upload()
            .bucket(&input.snapshot_bucket)
            .key(&input.key)
            .storage_class(StorageClass::from(checked.storage_class.as_str()))
            .set_metadata(Some(metadata))
            .set_content_type(h.content_type().map(str::to_owned))
            .set_content_encoding(h.content_encoding().map(str::to_owned))
            .set_content_disposition(h.content_disposition().map(str::to_owned))
            .set_content_language(h.content_language().map(str::to_owned))
            .set_cache_control(h.cache_control().map(str::to_owned))
            .set_website_redirect_location(h.website_redirect_location().map(str::to_owned))
            .set_expires(expires);
        if !tags.is_empty() {
            req = req.tagging(tagging_header(tags));
        }
        if let Some(key) = &checked.kms_key_arn {
            req = req
                .server_side_encryption(ServerSideEncryption::AwsKms)
                .ssekms_key_id(key)
                .bucket_key_enabled(true);
        }
        if let Some((mode, until)) = &checked.lock {
            req = req
                .object_lock_mode(ObjectLockMode::from(mode.as_str()))
                .object_lock_retain_until_date(*until);
        }
        if src.checksum.is_some() {
            req = req
                .checksum_algorithm(ChecksumAlgorithm::Crc64Nvme)
                .checksum_type(ChecksumType::FullObject);
        }
        let out = req
            .send()
            .await
            .map_err(|e| PlanLargeCopyError::from(kit::classify("CreateMultipartUpload", e)))?;
        out.upload_id.filter(|id| !id.is_empty()).ok_or_else(|| {
            PlanLargeCopyError::answered_without("CreateMultipartUpload", "an upload id")
        })
    }

    async fn abort_all(&self, input: &Input, ids: &[String]) -> Result<u32, PlanLargeCopyError> {
        let mut n = 0;
        for id in ids {
            if uploads::abort_upload(&self.s3, &input.snapshot_bucket, &input.key, id).await? {
                n += 1;
            }
        }
        Ok(n)
    }
}

impl Step for PlanLargeCopy {
    const NAME: &'static str = "plan-large-copy";
    type Input = Input;
    type Output = Output;
    type Error = PlanLargeCopyError;

    async fn handle(&self, input: Input) -> Result<Output, PlanLargeCopyError> {
        let region = self.s3.config().region().map(|r| r.as_ref().to_owned());
        let checked = check_input(&input, DateTime::from(SystemTime::now()), region.as_deref())?;
        let src = self.head_source(&input).await?;
        if let Some(why) = archived(&src.head) {
            return Err(PlanLargeCopyError::not_copyable(&input, why));
        }
        if src.size == 0 {
            return Err(PlanLargeCopyError::not_copyable(
                &input,
                "it is empty (Batch Operations copies it)",
            ));
        }
        let part_size = layout::choose_part_size(src.size, self.settings.min_part_bytes)
            .ok_or_else(|| {
                PlanLargeCopyError::not_copyable(
                    &input,
                    format!(
                        "{} bytes need more than {} parts of 5 GiB",
                        src.size,
                        layout::MAX_PARTS
                    ),
                )
            })?;
        let parts = layout::part_count(src.size, part_size);
        let checksum = src.checksum.as_ref().map(|_| layout::CHECKSUM_ALGORITHM);
        let existing = uploads::uploads_of(&self.s3, &input.snapshot_bucket, &input.key).await?;
        let output = |upload_id: Option<String>, created: bool, aborted: u32| Output {
            source_bucket: input.source_bucket.clone(),
            key: input.key.clone(),
            version_id: input.version_id.clone(),
            snapshot_bucket: input.snapshot_bucket.clone(),
            already_copied: upload_id.is_none(),
            upload_id,
            created,
            size: src.size,
            part_size,
            parts,
            source_etag: src.etag.clone(),
            source_checksum: src.checksum.clone(),
            checksum_algorithm: checksum.map(str::to_owned),
            aborted_uploads: aborted,
        };
        if self.copied_already(&input, &src).await? {
            let ids: Vec<String> = existing.iter().map(|u| u.upload_id.clone()).collect();
            let aborted = self.abort_all(&input, &ids).await?;
            tracing::info!(key = %input.key, aborted, "the snapshot holds this copy already");
            return Ok(output(None, false, aborted));
        }
        // The earliest usable upload carries on; every other one of this key is aborted.
        let mut sorted = existing;
        sorted.sort_by(|a, b| {
            let at = |u: &ListedUpload| u.initiated.map(|t| (t.secs(), t.subsec_nanos()));
            at(a)
                .cmp(&at(b))
                .then_with(|| a.upload_id.cmp(&b.upload_id))
        });
        let mut reused = None;
        let mut others = Vec::new();
        for u in &sorted {
            if reused.is_none()
                && self
                    .usable(&input, u, &checked, checksum, &src, part_size)
                    .await?
            {
                reused = Some(u.upload_id.clone());
            } else {
                others.push(u.upload_id.clone());
            }
        }
        let aborted = self.abort_all(&input, &others).await?;
        if let Some(id) = reused {
            tracing::info!(key = %input.key, upload_id = %id, aborted, "an earlier upload carries on");
            return Ok(output(Some(id), false, aborted));
        }
        let tags = self.source_tags(&input).await?;
        let id = self.create_upload(&input, &checked, &src, &tags).await?;
        tracing::info!(
            key = %input.key,
            upload_id = %id,
            size = src.size,
            part_size,
            parts,
            checksum = checksum.unwrap_or("none"),
            aborted,
            "upload started"
        );
        Ok(output(Some(id), true, aborted))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> Input {
        Input {
            source_bucket: "lake-prod".into(),
            key: "events/part-0.parquet".into(),
            version_id: None,
            snapshot_bucket: "lake-prod-31-mar-2021".into(),
            storage_class: None,
            retain_until: Some("2099-12-31T00:00:00Z".into()),
            object_lock_mode: None,
            kms_key_arn: Some("arn:aws:kms:us-east-1:210987654321:key/1234abcd-12ab".into()),
        }
    }

    #[test]
    fn the_input_is_checked_before_any_request() {
        let now = DateTime::from_secs(1_617_000_000);
        let c = check_input(&input(), now, Some("us-east-1")).unwrap();
        assert_eq!(c.storage_class, "STANDARD");
        assert_eq!(c.lock.as_ref().map(|l| l.0.as_str()), Some("GOVERNANCE"));
        let e = check_input(&input(), now, Some("eu-west-1")).unwrap_err();
        assert_eq!(e.path, "$.kms_key_arn");
        let mut i = input();
        i.retain_until = Some("2020-01-01T00:00:00Z".into());
        assert_eq!(
            check_input(&i, now, None).unwrap_err().path,
            "$.retain_until"
        );
        let mut i = input();
        i.retain_until = None;
        i.object_lock_mode = Some("GOVERNANCE".into());
        assert_eq!(
            check_input(&i, now, None).unwrap_err().path,
            "$.object_lock_mode"
        );
    }

    #[test]
    fn tags_are_url_encoded_for_the_header() {
        let tags = vec![
            ("team".to_owned(), "data eng".to_owned()),
            ("a+b=c".to_owned(), "é/&".to_owned()),
        ];
        assert_eq!(
            tagging_header(&tags),
            "team=data%20eng&a%2Bb%3Dc=%C3%A9%2F%26"
        );
    }

    #[test]
    fn only_a_full_object_crc64nvme_is_compared() {
        let c = |alg: &str, v: &str| SourceChecksum {
            algorithm: alg.into(),
            checksum_type: None,
            value: v.into(),
        };
        assert_eq!(
            c("CRC64NVME", "AAAAAAAAAAA=").crc64_nvme(),
            Some("AAAAAAAAAAA=")
        );
        assert_eq!(c("CRC32", "AAAAAA==").crc64_nvme(), None);
        assert_eq!(c("CRC64NVME", "AAAAAAAAAAA=-3").crc64_nvme(), None);
    }
}
