//! The parts of a `CreateJobRequest` the service reads, as `aws-sdk-s3control` serialises them
//! (element names from the SDK's `protocol_serde`; lists are `<member>` items, maps `<entry>`).
//! Everything is optional here: validation happens in [`crate::spec`] and [`crate::api`] with
//! AWS-like messages.

use serde::Deserialize;

/// `<X><member>..</member>..</X>`.
#[derive(Debug, Clone, Deserialize, Default)]
pub(crate) struct Members<T> {
    /// The items.
    #[serde(default)]
    pub(crate) member: Vec<T>,
}

/// `<CreateJobRequest>`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CreateJobRequest {
    pub(crate) client_request_token: Option<String>,
    pub(crate) confirmation_required: Option<bool>,
    pub(crate) description: Option<String>,
    pub(crate) manifest: Option<Manifest>,
    pub(crate) manifest_generator: Option<IgnoredElement>,
    pub(crate) operation: Option<Operation>,
    pub(crate) priority: Option<i64>,
    pub(crate) report: Option<Report>,
    pub(crate) role_arn: Option<String>,
    pub(crate) tags: Option<Members<Tag>>,
}

/// An element whose content is not interpreted.
#[derive(Debug, Clone, Deserialize, Default)]
pub(crate) struct IgnoredElement {}

/// `<Manifest>`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Manifest {
    pub(crate) spec: Option<ManifestSpec>,
    pub(crate) location: Option<ManifestLocation>,
}

/// `<Spec>`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ManifestSpec {
    pub(crate) format: Option<String>,
    pub(crate) fields: Option<Members<String>>,
}

/// `<Location>`.
#[derive(Debug, Clone, Deserialize, Default)]
pub(crate) struct ManifestLocation {
    #[serde(rename = "ObjectArn")]
    pub(crate) object_arn: Option<String>,
    #[serde(rename = "ObjectVersionId")]
    pub(crate) object_version_id: Option<String>,
    #[serde(rename = "ETag")]
    pub(crate) etag: Option<String>,
}

/// `<Operation>`: only `S3PutObjectCopy` is implemented; the others are recognised to be refused.
#[derive(Debug, Clone, Deserialize, Default)]
pub(crate) struct Operation {
    #[serde(rename = "S3PutObjectCopy")]
    pub(crate) copy: Option<CopyOperation>,
    #[serde(rename = "LambdaInvoke")]
    pub(crate) lambda_invoke: Option<IgnoredElement>,
    #[serde(rename = "S3PutObjectAcl")]
    pub(crate) put_acl: Option<IgnoredElement>,
    #[serde(rename = "S3PutObjectTagging")]
    pub(crate) put_tagging: Option<IgnoredElement>,
    #[serde(rename = "S3DeleteObjectTagging")]
    pub(crate) delete_tagging: Option<IgnoredElement>,
    #[serde(rename = "S3InitiateRestoreObject")]
    pub(crate) restore: Option<IgnoredElement>,
    #[serde(rename = "S3PutObjectLegalHold")]
    pub(crate) legal_hold: Option<IgnoredElement>,
    #[serde(rename = "S3PutObjectRetention")]
    pub(crate) retention: Option<IgnoredElement>,
    #[serde(rename = "S3ReplicateObject")]
    pub(crate) replicate: Option<IgnoredElement>,
}

/// `<S3PutObjectCopy>`.
#[derive(Debug, Clone, Deserialize, Default)]
pub(crate) struct CopyOperation {
    #[serde(rename = "TargetResource")]
    pub(crate) target_resource: Option<String>,
    #[serde(rename = "TargetKeyPrefix")]
    pub(crate) target_key_prefix: Option<String>,
    #[serde(rename = "StorageClass")]
    pub(crate) storage_class: Option<String>,
    #[serde(rename = "MetadataDirective")]
    pub(crate) metadata_directive: Option<String>,
    #[serde(rename = "NewObjectMetadata")]
    pub(crate) new_object_metadata: Option<ObjectMetadata>,
    #[serde(rename = "NewObjectTagging")]
    pub(crate) new_object_tagging: Option<Members<Tag>>,
    #[serde(rename = "ObjectLockMode")]
    pub(crate) object_lock_mode: Option<String>,
    #[serde(rename = "ObjectLockRetainUntilDate")]
    pub(crate) object_lock_retain_until_date: Option<String>,
    #[serde(rename = "ObjectLockLegalHoldStatus")]
    pub(crate) object_lock_legal_hold_status: Option<String>,
    #[serde(rename = "SSEAwsKmsKeyId")]
    pub(crate) sse_aws_kms_key_id: Option<String>,
    #[serde(rename = "BucketKeyEnabled")]
    pub(crate) bucket_key_enabled: Option<bool>,
    #[serde(rename = "ChecksumAlgorithm")]
    pub(crate) checksum_algorithm: Option<String>,
}

/// `<NewObjectMetadata>`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ObjectMetadata {
    pub(crate) cache_control: Option<String>,
    pub(crate) content_disposition: Option<String>,
    pub(crate) content_encoding: Option<String>,
    pub(crate) content_language: Option<String>,
    pub(crate) content_type: Option<String>,
    pub(crate) user_metadata: Option<Entries>,
}

/// `<UserMetadata><entry><key/><value/></entry>..</UserMetadata>`.
#[derive(Debug, Clone, Deserialize, Default)]
pub(crate) struct Entries {
    /// The pairs.
    #[serde(default)]
    pub(crate) entry: Vec<Entry>,
}

/// One map entry.
#[derive(Debug, Clone, Deserialize, Default)]
pub(crate) struct Entry {
    pub(crate) key: String,
    #[serde(default)]
    pub(crate) value: String,
}

/// `<Report>`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Report {
    pub(crate) bucket: Option<String>,
    pub(crate) format: Option<String>,
    pub(crate) enabled: Option<bool>,
    pub(crate) prefix: Option<String>,
    pub(crate) report_scope: Option<String>,
}

/// An S3 tag (`<Key>`, `<Value>`).
#[derive(Debug, Clone, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Tag {
    pub(crate) key: String,
    #[serde(default)]
    pub(crate) value: String,
}

/// `<PutJobTaggingRequest>`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct PutJobTaggingRequest {
    pub(crate) tags: Option<Members<Tag>>,
}
