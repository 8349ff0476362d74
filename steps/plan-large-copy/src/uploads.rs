//! The multipart-upload requests the three large-copy steps share: an upload's parts
//! (ListParts, every page), the uploads of one key (ListMultipartUploads, every page), and an
//! idempotent abort. Each answers in [`kit::AwsFailure`] terms; a vanished upload is an answer
//! (`None`, `false`), not an error.

use std::collections::BTreeMap;

use aws_sdk_s3::primitives::DateTime;
use kit::{AwsFailure, ServiceFailure, classify};

/// One uploaded part, as ListParts reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedPart {
    /// Its number (1 to 10,000).
    pub number: u64,
    /// Its size in bytes.
    pub size: u64,
    /// Its ETag, as S3 gave it (quoted).
    pub etag: String,
    /// When it was uploaded.
    pub last_modified: Option<DateTime>,
    /// Its CRC64NVME, when the upload has that algorithm and S3 reports it.
    pub checksum_crc64_nvme: Option<String>,
}

/// One upload in progress, as ListMultipartUploads reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedUpload {
    /// Its id.
    pub upload_id: String,
    /// When it was started.
    pub initiated: Option<DateTime>,
    /// Its storage class (`STANDARD` when S3 names none).
    pub storage_class: String,
    /// Its checksum algorithm (`CRC64NVME`), if any.
    pub checksum_algorithm: Option<String>,
}

/// True when a service failure says the upload does not exist (completed or aborted).
pub fn is_no_such_upload(f: &AwsFailure) -> bool {
    matches!(f, AwsFailure::Service(s) if s.is("NoSuchUpload"))
}

/// The most pages a listing reads before it calls the service's answers a loop.
const MAX_PAGES: usize = 10_002;

/// Every part of `upload_id` by number (all pages, `page_size` parts a page, 1 to 1,000), or
/// `None` when the upload does not exist.
pub async fn list_parts(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    upload_id: &str,
    page_size: i32,
) -> Result<Option<BTreeMap<u64, ListedPart>>, AwsFailure> {
    let mut parts = BTreeMap::new();
    let mut marker: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let page = s3
            .list_parts()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .max_parts(page_size)
            .set_part_number_marker(marker.clone())
            .send()
            .await
            .map_err(|e| classify("ListParts", e));
        let page = match page {
            Ok(p) => p,
            Err(f) if is_no_such_upload(&f) => return Ok(None),
            Err(f) => return Err(f),
        };
        for p in page.parts() {
            let (Some(number), Some(size)) = (p.part_number(), p.size()) else {
                continue;
            };
            let (Ok(number), Ok(size)) = (u64::try_from(number), u64::try_from(size)) else {
                continue;
            };
            parts.insert(
                number,
                ListedPart {
                    number,
                    size,
                    etag: p.e_tag().unwrap_or_default().to_owned(),
                    last_modified: p.last_modified().copied(),
                    checksum_crc64_nvme: p.checksum_crc64_nvme().map(str::to_owned),
                },
            );
        }
        let next = page.next_part_number_marker().map(str::to_owned);
        if page.is_truncated() != Some(true) || next.is_none() || next == marker {
            return Ok(Some(parts));
        }
        marker = next;
    }
    Err(listing_loops("ListParts"))
}

/// Every upload in progress of exactly `key` in `bucket` (all pages; a longer key with `key`
/// as its prefix is not one of them).
pub async fn uploads_of(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Result<Vec<ListedUpload>, AwsFailure> {
    let mut out = Vec::new();
    let mut markers: (Option<String>, Option<String>) = (None, None);
    for _ in 0..MAX_PAGES {
        let page = s3
            .list_multipart_uploads()
            .bucket(bucket)
            .prefix(key)
            .set_key_marker(markers.0.clone())
            .set_upload_id_marker(markers.1.clone())
            .send()
            .await
            .map_err(|e| classify("ListMultipartUploads", e))?;
        for u in page.uploads() {
            if u.key() != Some(key) {
                continue;
            }
            let Some(id) = u.upload_id() else { continue };
            out.push(ListedUpload {
                upload_id: id.to_owned(),
                initiated: u.initiated().copied(),
                storage_class: u
                    .storage_class()
                    .map_or("STANDARD", |c| c.as_str())
                    .to_owned(),
                checksum_algorithm: u.checksum_algorithm().map(|a| a.as_str().to_owned()),
            });
        }
        let next = (
            page.next_key_marker().map(str::to_owned),
            page.next_upload_id_marker().map(str::to_owned),
        );
        if page.is_truncated() != Some(true) || next.0.is_none() || next == markers {
            return Ok(out);
        }
        markers = next;
    }
    Err(listing_loops("ListMultipartUploads"))
}

/// Aborts `upload_id` until ListParts no longer finds it (S3 may need a second abort for parts
/// that were still arriving). True when it existed; a missing upload is not an error.
pub async fn abort_upload(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    upload_id: &str,
) -> Result<bool, AwsFailure> {
    let mut existed = false;
    for _ in 0..3 {
        let r = s3
            .abort_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await
            .map_err(|e| classify("AbortMultipartUpload", e));
        match r {
            Ok(_) => existed = true,
            Err(f) if is_no_such_upload(&f) => return Ok(existed),
            Err(f) => return Err(f),
        }
        if list_parts(s3, bucket, key, upload_id, 1).await?.is_none() {
            return Ok(existed);
        }
    }
    Ok(existed)
}

fn listing_loops(operation: &str) -> AwsFailure {
    AwsFailure::Service(ServiceFailure {
        operation: operation.to_owned(),
        code: None,
        status: None,
        message: format!("{MAX_PAGES} pages and still truncated: the listing does not end"),
    })
}
