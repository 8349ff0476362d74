//! One task: HeadObject (for the size limit), then CopyObject with the job's options.

use std::collections::HashMap;

use aws_sdk_s3::types::{
    ChecksumAlgorithm, MetadataDirective, ObjectLockLegalHoldStatus, ObjectLockMode,
    ServerSideEncryption, StorageClass, TaggingDirective,
};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::manifest::Task;
use super::s3::S3Failure;
use crate::spec::CopySpec;

/// Characters kept as is in an `x-amz-copy-source` key (`/` separates, the rest is encoded).
const COPY_SOURCE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// How a task ended: a row of the completion report.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    pub(crate) task: Task,
    pub(crate) succeeded: bool,
    pub(crate) http_status: u16,
    pub(crate) error_code: String,
    pub(crate) message: String,
}

impl Outcome {
    fn failed(task: Task, f: S3Failure) -> Outcome {
        Outcome {
            task,
            succeeded: false,
            http_status: f.status,
            error_code: f.code,
            message: f.message,
        }
    }
}

/// The destination key: the prefix as a folder, then the source key.
pub(crate) fn target_key(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else if prefix.ends_with('/') {
        format!("{prefix}{key}")
    } else {
        format!("{prefix}/{key}")
    }
}

/// Copies one object; every failure is the task's, reported in its row.
pub(crate) async fn copy_one(
    s3: &aws_sdk_s3::Client,
    c: &CopySpec,
    max_bytes: i64,
    task: Task,
) -> Outcome {
    let head = s3
        .head_object()
        .bucket(&task.bucket)
        .key(&task.key)
        .set_version_id(task.version_id.clone())
        .send()
        .await;
    let size = match head {
        Ok(h) => h.content_length().unwrap_or(0),
        Err(e) => {
            let mut f = S3Failure::of(&e);
            if f.status == 404 {
                // HEAD has no body; the copy itself would answer NoSuchKey, as AWS reports it.
                f.code = "NoSuchKey".to_owned();
                f.message = "The specified key does not exist.".to_owned();
            }
            return Outcome::failed(task, f);
        }
    };
    if size > max_bytes {
        let f = S3Failure {
            status: 400,
            code: "InvalidRequest".to_owned(),
            message: format!(
                "The specified copy source is larger than the maximum allowable size for a copy source: {max_bytes}"
            ),
        };
        return Outcome::failed(task, f);
    }
    let mut source = format!(
        "{}/{}",
        task.bucket,
        utf8_percent_encode(&task.key, COPY_SOURCE)
    );
    if let Some(v) = &task.version_id {
        source.push_str("?versionId=");
        source.push_str(&utf8_percent_encode(v, NON_ALPHANUMERIC).to_string());
    }
    let mut req = s3
        .copy_object()
        .copy_source(source)
        .bucket(&c.target_bucket)
        .key(target_key(&c.key_prefix, &task.key))
        .set_storage_class(c.storage_class.as_deref().map(StorageClass::from))
        .set_object_lock_mode(c.lock_mode.as_deref().map(ObjectLockMode::from))
        .set_object_lock_retain_until_date(c.retain_until)
        .set_object_lock_legal_hold_status(
            c.legal_hold.as_deref().map(ObjectLockLegalHoldStatus::from),
        )
        // AWS gives every copy a checksum (CRC64NVME by default) and needs one anyway to write
        // into a bucket whose default retention locks new objects; moto refuses such a copy
        // without a checksum header. Use the job's algorithm, else CRC32.
        .checksum_algorithm(
            c.checksum
                .as_deref()
                .map(ChecksumAlgorithm::from)
                .unwrap_or(ChecksumAlgorithm::Crc32),
        )
        .set_bucket_key_enabled(c.bucket_key);
    if let Some(k) = &c.kms_key {
        req = req
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .ssekms_key_id(k);
    }
    if c.replace_metadata {
        let m = &c.metadata;
        let user: Option<HashMap<String, String>> = m.user_metadata.as_ref().map(|u| {
            u.entry
                .iter()
                .map(|e| (e.key.clone(), e.value.clone()))
                .collect()
        });
        req = req
            .metadata_directive(MetadataDirective::Replace)
            .set_metadata(user)
            .set_content_type(m.content_type.clone())
            .set_cache_control(m.cache_control.clone())
            .set_content_disposition(m.content_disposition.clone())
            .set_content_encoding(m.content_encoding.clone())
            .set_content_language(m.content_language.clone());
    }
    if let Some(tags) = &c.tagging {
        let enc = |s: &str| utf8_percent_encode(s, NON_ALPHANUMERIC).to_string();
        let tagging: Vec<String> = tags
            .iter()
            .map(|t| format!("{}={}", enc(&t.key), enc(&t.value)))
            .collect();
        req = req
            .tagging_directive(TaggingDirective::Replace)
            .tagging(tagging.join("&"));
    }
    // moto refuses a copy into a bucket with a default retention unless the request carries
    // `x-amz-sdk-checksum-algorithm` (what the SDK sends for uploads with a body); AWS does not
    // ask this of CopyObject. Harmless on AWS, needed on moto.
    let algorithm = c.checksum.clone().unwrap_or_else(|| "CRC32".to_owned());
    let sent = req
        .customize()
        .mutate_request(move |r| {
            r.headers_mut()
                .insert("x-amz-sdk-checksum-algorithm", algorithm.clone());
        })
        .send()
        .await;
    match sent {
        Ok(_) => Outcome {
            task,
            succeeded: true,
            http_status: 200,
            error_code: String::new(),
            message: "Successful".to_owned(),
        },
        Err(e) => {
            let f = S3Failure::of(&e);
            tracing::debug!(bucket = %task.bucket, key = %task.key, code = %f.code, "copy failed");
            Outcome::failed(task, f)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::target_key;

    #[test]
    fn the_prefix_is_a_folder_of_the_target_key() {
        assert_eq!(target_key("", "k"), "k");
        assert_eq!(target_key("p", "k"), "p/k");
        assert_eq!(target_key("p/", "k"), "p/k");
    }
}
