#![doc = include_str!("../README.md")]

use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::types::{ChecksumMode, ChecksumType, CompletedMultipartUpload, CompletedPart};
use kit::validate;
use kit::{AccessDenied, AwsFailure, InvalidInput, ServiceFailure, Step, Transient};
use plan_large_copy::SourceChecksum;
use plan_large_copy::layout::{self, StartError};
use plan_large_copy::uploads;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// plan-large-copy's output (pass it unchanged; copy-parts' `cursor` may ride along), or with
/// `abort` the failure path's request to drop the upload.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct Input {
    /// The source bucket.
    pub source_bucket: String,
    /// The object's key, in both buckets.
    pub key: String,
    /// The source version copied (null: the current one).
    #[serde(default)]
    pub version_id: Option<String>,
    /// The snapshot bucket.
    pub snapshot_bucket: String,
    /// The multipart upload; null when already copied (or, with `abort`, when the plan never
    /// answered: then every upload of the key is aborted).
    #[serde(default)]
    pub upload_id: Option<String>,
    /// True when the snapshot held the copy already at planning time.
    #[serde(default)]
    pub already_copied: bool,
    /// The source's size in bytes (required unless `abort`).
    #[serde(default)]
    pub size: Option<u64>,
    /// Bytes per part (required unless `abort`).
    #[serde(default)]
    pub part_size: Option<u64>,
    /// Number of parts (required unless `abort`).
    #[serde(default)]
    pub parts: Option<u64>,
    /// The source's ETag (required unless `abort`).
    #[serde(default)]
    pub source_etag: Option<String>,
    /// The source's checksum, as planned.
    #[serde(default)]
    pub source_checksum: Option<SourceChecksum>,
    /// The copy's checksum algorithm, as planned (`CRC64NVME` or null).
    #[serde(default)]
    pub checksum_algorithm: Option<String>,
    /// True: abort the upload instead (the state machine's failure path). Idempotent.
    #[serde(default)]
    pub abort: bool,
}

/// What happened to the large copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The copy is in the snapshot, with the source's size (and checksum where compared).
    Copied,
    /// The upload is gone (aborted now or before); nothing was copied.
    Aborted,
}

/// How the copy's checksum compared with the source's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChecksumCheck {
    /// Both have a full-object CRC64NVME and they are equal (S3 also checked it when the
    /// upload completed).
    Equal,
    /// The source has a CRC64NVME but S3 reports none for the copy (moto).
    NotReported,
    /// The source's checksum is of another algorithm (or composite): the sizes were compared.
    NotComparable,
    /// The source has no checksum: the sizes were compared.
    None,
}

/// The outcome, for the audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Output {
    /// `copied` or `aborted`.
    pub outcome: Outcome,
    /// The source bucket.
    pub source_bucket: String,
    /// The key.
    pub key: String,
    /// The source version copied (null: the current one).
    pub version_id: Option<String>,
    /// The snapshot bucket.
    pub snapshot_bucket: String,
    /// Bytes copied (the source's size); 0 when aborted.
    pub size: u64,
    /// Parts the copy was assembled from; 0 when aborted.
    pub parts: u64,
    /// The copy's ETag (a multipart ETag, `<md5 of the parts' md5s>-<parts>`); null when aborted.
    pub copy_etag: Option<String>,
    /// The copy's version id in the snapshot bucket; null when aborted or unversioned.
    pub copy_version_id: Option<String>,
    /// How the checksums compared; null when aborted.
    pub checksum_check: Option<ChecksumCheck>,
    /// Uploads aborted by this invocation (`abort` only; 0 when they were gone already).
    pub aborted_uploads: u32,
}

/// complete-large-copy's errorTypes.
#[derive(Debug, thiserror::Error, kit::strum::IntoStaticStr, kit::strum::VariantNames)]
#[strum(crate = "kit::strum")]
pub enum CompleteLargeCopyError {
    /// The event breaks the contract; the message names the field.
    #[error(transparent)]
    InvalidInput(#[from] InvalidInput),
    /// Throttling, a 5xx, a dropped connection. Retry.
    #[error(transparent)]
    Transient(#[from] Transient),
    /// The role may not list, complete or abort uploads or read the copy.
    #[error(transparent)]
    AccessDenied(#[from] AccessDenied),
    /// S3 answered something this step does not expect.
    #[error("{0}")]
    ServiceError(ServiceFailure),
    /// Not every planned part is uploaded: copy-parts has not answered `done` yet.
    #[error(
        "upload {upload_id} of s3://{bucket}/{key} lacks {missing} of {parts} parts (first: {first:?}); run copy-parts until done"
    )]
    PartsMissing {
        /// The snapshot bucket.
        bucket: String,
        /// The key.
        key: String,
        /// The upload id.
        upload_id: String,
        /// How many parts are missing (or have another size than planned).
        missing: u64,
        /// Parts planned.
        parts: u64,
        /// The first missing part numbers (up to 10).
        first: Vec<u64>,
    },
    /// The copy is not the source: another size or checksum, or S3 refused to assemble the
    /// parts. It is not counted as copied (the snapshot bucket's lock keeps the object).
    #[error("the copy s3://{bucket}/{key} is not the source: {detail}")]
    CopyMismatch {
        /// The snapshot bucket.
        bucket: String,
        /// The key.
        key: String,
        /// What differs.
        detail: String,
    },
    /// The upload is gone and the snapshot holds no copy of this source: plan again.
    #[error(
        "upload {upload_id} of s3://{bucket}/{key} does not exist and no copy of the planned source is there; plan the copy again"
    )]
    UploadNotFound {
        /// The snapshot bucket.
        bucket: String,
        /// The key.
        key: String,
        /// The upload id (empty when the plan had none).
        upload_id: String,
    },
}

kit::step_error!(CompleteLargeCopyError, service => ServiceError);

/// The step: an S3 client, built once.
#[derive(Debug, Clone)]
pub struct CompleteLargeCopy {
    s3: aws_sdk_s3::Client,
    list_page_size: i32,
}

impl CompleteLargeCopy {
    /// From the environment (region, endpoints, kit's timeouts).
    pub async fn from_env() -> Result<Self, StartError> {
        let conf = kit::clients::load_sdk_config().await?;
        Ok(Self::new(kit::clients::s3(&conf)))
    }

    /// With a given client (tests).
    pub fn new(s3: aws_sdk_s3::Client) -> Self {
        Self {
            s3,
            list_page_size: 1000,
        }
    }

    /// With ListParts pages of `n` parts (tests of the pagination).
    pub fn with_list_page_size(mut self, n: i32) -> Self {
        self.list_page_size = n.clamp(1, 1000);
        self
    }
}

/// The plan's fields, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// The source's size.
    pub size: u64,
    /// Bytes per part.
    pub part_size: u64,
    /// Number of parts.
    pub parts: u64,
    /// The source's ETag, unquoted.
    pub source_etag: String,
    /// The source's full-object CRC64NVME, when it has one.
    pub source_crc64_nvme: Option<String>,
    /// Whether the source has any checksum.
    pub source_has_checksum: bool,
    /// Whether the upload was created with CRC64NVME (full object).
    pub checksum_planned: bool,
}

fn required<T: Clone>(v: &Option<T>, path: &str) -> Result<T, InvalidInput> {
    v.clone().ok_or_else(|| {
        InvalidInput::new(
            path,
            "is missing; pass plan-large-copy's output unchanged (only an abort goes without it)",
        )
    })
}

/// Checks the input before any request: the names always, the plan's fields unless `abort`.
pub fn check_input(input: &Input) -> Result<Option<Planned>, InvalidInput> {
    validate::check_source_bucket("$.source_bucket", &input.source_bucket)?;
    layout::check_key("$.key", &input.key)?;
    if let Some(v) = &input.version_id {
        layout::check_version_id("$.version_id", v)?;
    }
    validate::check_bucket("$.snapshot_bucket", &input.snapshot_bucket)?;
    if let Some(id) = &input.upload_id {
        layout::check_upload_id("$.upload_id", id)?;
    }
    if input.abort {
        return Ok(None);
    }
    match (&input.upload_id, input.already_copied) {
        (None, false) => {
            return Err(InvalidInput::new(
                "$.upload_id",
                "is missing; plan-large-copy gives one unless already_copied is true",
            ));
        }
        (Some(_), true) => {
            return Err(InvalidInput::new(
                "$.upload_id",
                "is given with already_copied true; pass plan-large-copy's output unchanged",
            ));
        }
        _ => {}
    }
    let size = required(&input.size, "$.size")?;
    let part_size = required(&input.part_size, "$.part_size")?;
    let parts = required(&input.parts, "$.parts")?;
    let etag = required(&input.source_etag, "$.source_etag")?;
    layout::check_etag("$.source_etag", &etag)?;
    layout::check_layout("$", size, part_size, parts)?;
    let checksum_planned = match input.checksum_algorithm.as_deref() {
        None => false,
        Some(layout::CHECKSUM_ALGORITHM) => true,
        Some(other) => {
            return Err(InvalidInput::new(
                "$.checksum_algorithm",
                format!(
                    "{} is not what plan-large-copy plans ({} or null)",
                    validate::quote(other),
                    layout::CHECKSUM_ALGORITHM
                ),
            ));
        }
    };
    Ok(Some(Planned {
        size,
        part_size,
        parts,
        source_etag: layout::unquoted(&etag).to_owned(),
        source_crc64_nvme: input
            .source_checksum
            .as_ref()
            .and_then(|c| c.crc64_nvme())
            .map(str::to_owned),
        source_has_checksum: input.source_checksum.is_some(),
        checksum_planned,
    }))
}

impl CompleteLargeCopyError {
    fn mismatch(input: &Input, detail: impl Into<String>) -> Self {
        Self::CopyMismatch {
            bucket: input.snapshot_bucket.clone(),
            key: input.key.clone(),
            detail: detail.into(),
        }
    }

    fn gone(input: &Input) -> Self {
        Self::UploadNotFound {
            bucket: input.snapshot_bucket.clone(),
            key: input.key.clone(),
            upload_id: input.upload_id.clone().unwrap_or_default(),
        }
    }
}

/// Compares a copy (its HeadObject with checksums) with the plan: size, the marker, and the
/// full-object CRC64NVME where both have one.
pub fn compare(
    input: &Input,
    planned: &Planned,
    head: &HeadObjectOutput,
) -> Result<ChecksumCheck, CompleteLargeCopyError> {
    let size = head.content_length().and_then(|n| u64::try_from(n).ok());
    if size != Some(planned.size) {
        return Err(CompleteLargeCopyError::mismatch(
            input,
            format!("{size:?} bytes, the source has {}", planned.size),
        ));
    }
    let copy_crc = head.checksum_crc64_nvme().filter(|v| !v.is_empty());
    Ok(match (&planned.source_crc64_nvme, copy_crc) {
        (Some(want), Some(have)) if want == have => ChecksumCheck::Equal,
        (Some(want), Some(have)) => {
            return Err(CompleteLargeCopyError::mismatch(
                input,
                format!("CRC64NVME {have}, the source's is {want}"),
            ));
        }
        (Some(_), None) => ChecksumCheck::NotReported,
        (None, _) if planned.source_has_checksum => ChecksumCheck::NotComparable,
        (None, _) => ChecksumCheck::None,
    })
}

impl CompleteLargeCopy {
    fn output(
        &self,
        input: &Input,
        planned: &Planned,
        head: &HeadObjectOutput,
        check: ChecksumCheck,
    ) -> Output {
        Output {
            outcome: Outcome::Copied,
            source_bucket: input.source_bucket.clone(),
            key: input.key.clone(),
            version_id: input.version_id.clone(),
            snapshot_bucket: input.snapshot_bucket.clone(),
            size: planned.size,
            parts: planned.parts,
            copy_etag: head.e_tag().map(|e| layout::unquoted(e).to_owned()),
            copy_version_id: head.version_id().map(str::to_owned),
            checksum_check: Some(check),
            aborted_uploads: 0,
        }
    }

    async fn head_copy(
        &self,
        input: &Input,
        version_id: Option<&str>,
    ) -> Result<Option<HeadObjectOutput>, CompleteLargeCopyError> {
        let r = self
            .s3
            .head_object()
            .bucket(&input.snapshot_bucket)
            .key(&input.key)
            .set_version_id(version_id.map(str::to_owned))
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .map_err(|e| kit::classify("HeadObject", e));
        match r {
            Ok(h) if h.delete_marker() != Some(true) => Ok(Some(h)),
            Ok(_) => Ok(None),
            Err(AwsFailure::Service(s)) if matches!(s.status, Some(404 | 405)) => Ok(None),
            Err(f) => Err(f.into()),
        }
    }

    /// The upload is gone (completed before, or already copied at planning): the copy must be
    /// there, this source's (the marker), with its size.
    async fn already_there(
        &self,
        input: &Input,
        planned: &Planned,
    ) -> Result<Output, CompleteLargeCopyError> {
        let Some(head) = self.head_copy(input, None).await? else {
            return Err(CompleteLargeCopyError::gone(input));
        };
        let marker = head
            .metadata()
            .and_then(|m| m.get(layout::SOURCE_ETAG_METADATA))
            .map(|e| layout::unquoted(e));
        if marker != Some(planned.source_etag.as_str()) {
            return Err(CompleteLargeCopyError::gone(input));
        }
        let check = compare(input, planned, &head)?;
        Ok(self.output(input, planned, &head, check))
    }

    async fn abort(&self, input: &Input) -> Result<Output, CompleteLargeCopyError> {
        let ids: Vec<String> = match &input.upload_id {
            Some(id) => vec![id.clone()],
            None => uploads::uploads_of(&self.s3, &input.snapshot_bucket, &input.key)
                .await?
                .into_iter()
                .map(|u| u.upload_id)
                .collect(),
        };
        let mut aborted = 0;
        for id in &ids {
            if uploads::abort_upload(&self.s3, &input.snapshot_bucket, &input.key, id).await? {
                aborted += 1;
            }
        }
        tracing::info!(key = %input.key, aborted, "large copy aborted");
        Ok(Output {
            outcome: Outcome::Aborted,
            source_bucket: input.source_bucket.clone(),
            key: input.key.clone(),
            version_id: input.version_id.clone(),
            snapshot_bucket: input.snapshot_bucket.clone(),
            size: 0,
            parts: 0,
            copy_etag: None,
            copy_version_id: None,
            checksum_check: None,
            aborted_uploads: aborted,
        })
    }
}

impl Step for CompleteLargeCopy {
    const NAME: &'static str = "complete-large-copy";
    type Input = Input;
    type Output = Output;
    type Error = CompleteLargeCopyError;

    async fn handle(&self, input: Input) -> Result<Output, CompleteLargeCopyError> {
        let Some(planned) = check_input(&input)? else {
            return self.abort(&input).await;
        };
        let Some(upload_id) = input.upload_id.clone() else {
            return self.already_there(&input, &planned).await;
        };
        let listed = uploads::list_parts(
            &self.s3,
            &input.snapshot_bucket,
            &input.key,
            &upload_id,
            self.list_page_size,
        )
        .await?;
        let Some(listed) = listed else {
            // Completed by an earlier attempt whose answer was lost, or aborted.
            return self.already_there(&input, &planned).await;
        };
        let mut completed = Vec::new();
        let mut missing = Vec::new();
        for n in 1..=planned.parts {
            let len = layout::part_len(planned.size, planned.part_size, n);
            match listed.get(&n) {
                Some(p) if p.size == len => completed.push(
                    CompletedPart::builder()
                        .part_number(i32::try_from(n).unwrap_or(i32::MAX))
                        .e_tag(&p.etag)
                        .set_checksum_crc64_nvme(p.checksum_crc64_nvme.clone())
                        .build(),
                ),
                _ => missing.push(n),
            }
        }
        if !missing.is_empty() {
            return Err(CompleteLargeCopyError::PartsMissing {
                bucket: input.snapshot_bucket.clone(),
                key: input.key.clone(),
                upload_id,
                missing: missing.len() as u64,
                parts: planned.parts,
                first: missing.into_iter().take(10).collect(),
            });
        }
        let mut req = self
            .s3
            .complete_multipart_upload()
            .bucket(&input.snapshot_bucket)
            .key(&input.key)
            .upload_id(&upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(completed))
                    .build(),
            )
            .mpu_object_size(i64::try_from(planned.size).unwrap_or(i64::MAX));
        if planned.checksum_planned {
            req = req.checksum_type(ChecksumType::FullObject);
            if let Some(crc) = &planned.source_crc64_nvme {
                req = req.checksum_crc64_nvme(crc);
            }
        }
        let done = match req
            .send()
            .await
            .map_err(|e| kit::classify("CompleteMultipartUpload", e))
        {
            Ok(d) => d,
            Err(f) if uploads::is_no_such_upload(&f) => {
                return self.already_there(&input, &planned).await;
            }
            Err(AwsFailure::Service(s))
                if [
                    "InvalidPart",
                    "InvalidPartOrder",
                    "BadDigest",
                    "InvalidDigest",
                    "InvalidRequest",
                ]
                .iter()
                .any(|c| s.is(c)) =>
            {
                return Err(CompleteLargeCopyError::mismatch(
                    &input,
                    format!("S3 refused to assemble the parts: {s}"),
                ));
            }
            Err(f) => return Err(f.into()),
        };
        let Some(head) = self.head_copy(&input, done.version_id()).await? else {
            return Err(CompleteLargeCopyError::mismatch(
                &input,
                "the upload completed but the copy is not there",
            ));
        };
        let check = compare(&input, &planned, &head)?;
        let out = self.output(&input, &planned, &head, check);
        tracing::info!(
            key = %input.key,
            %upload_id,
            size = out.size,
            parts = out.parts,
            checksum_check = ?check,
            "large copy completed"
        );
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> Input {
        Input {
            source_bucket: "lake-prod".into(),
            key: "events/big.parquet".into(),
            version_id: None,
            snapshot_bucket: "lake-prod-31-mar-2021".into(),
            upload_id: Some("2~abc".into()),
            already_copied: false,
            size: Some(26 << 20),
            part_size: Some(5 << 20),
            parts: Some(6),
            source_etag: Some("d41d8cd98f00b204e9800998ecf8427e".into()),
            source_checksum: Some(SourceChecksum {
                algorithm: "CRC64NVME".into(),
                checksum_type: Some("FULL_OBJECT".into()),
                value: "AAAAAAAAAAA=".into(),
            }),
            checksum_algorithm: Some("CRC64NVME".into()),
            abort: false,
        }
    }

    #[test]
    fn the_plan_is_required_unless_aborting() {
        let p = check_input(&input()).unwrap().unwrap();
        assert_eq!(p.source_crc64_nvme.as_deref(), Some("AAAAAAAAAAA="));
        let mut i = input();
        i.size = None;
        assert_eq!(check_input(&i).unwrap_err().path, "$.size");
        i.abort = true;
        i.upload_id = None;
        assert_eq!(check_input(&i).unwrap(), None);
        let mut i = input();
        i.checksum_algorithm = Some("SHA256".into());
        assert_eq!(check_input(&i).unwrap_err().path, "$.checksum_algorithm");
    }

    #[test]
    fn a_copy_compares_by_size_and_crc64nvme() {
        let i = input();
        let p = check_input(&i).unwrap().unwrap();
        let head = |len: i64, crc: Option<&str>| {
            HeadObjectOutput::builder()
                .content_length(len)
                .set_checksum_crc64_nvme(crc.map(str::to_owned))
                .build()
        };
        let size = 26 << 20;
        assert_eq!(
            compare(&i, &p, &head(size, Some("AAAAAAAAAAA="))).unwrap(),
            ChecksumCheck::Equal
        );
        assert_eq!(
            compare(&i, &p, &head(size, None)).unwrap(),
            ChecksumCheck::NotReported
        );
        assert!(matches!(
            compare(&i, &p, &head(size, Some("AAAAAAAAAAE="))),
            Err(CompleteLargeCopyError::CopyMismatch { .. })
        ));
        assert!(matches!(
            compare(&i, &p, &head(size - 1, Some("AAAAAAAAAAA="))),
            Err(CompleteLargeCopyError::CopyMismatch { .. })
        ));
        let mut other = i.clone();
        other.source_checksum = Some(SourceChecksum {
            algorithm: "CRC32".into(),
            checksum_type: None,
            value: "AAAAAA==".into(),
        });
        let p = check_input(&other).unwrap().unwrap();
        assert_eq!(
            compare(&other, &p, &head(size, Some("x"))).unwrap(),
            ChecksumCheck::NotComparable
        );
    }
}
