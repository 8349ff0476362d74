//! The parts of a `CreateJobRequest` the service reads, as `aws-sdk-s3control` serialises them
//! (element names from the SDK's `protocol_serde`; lists are `<member>` items, maps `<entry>`).
//! Everything is optional here: validation happens in [`crate::api`] with AWS-like messages.

use serde::Deserialize;

/// `<X><member>..</member>..</X>`.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct Members<T> {
    /// The items.
    #[serde(default)]
    pub member: Vec<T>,
}

/// `<CreateJobRequest>`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct CreateJobRequest {
    pub client_request_token: Option<String>,
    pub confirmation_required: Option<bool>,
    pub description: Option<String>,
    pub manifest: Option<Manifest>,
    pub manifest_generator: Option<IgnoredElement>,
    pub operation: Option<Operation>,
    pub priority: Option<i64>,
    pub report: Option<Report>,
    pub role_arn: Option<String>,
    pub tags: Option<Members<Tag>>,
}

/// An element whose content is not interpreted.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct IgnoredElement {}

/// `<Manifest>`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct Manifest {
    pub spec: Option<ManifestSpec>,
    pub location: Option<ManifestLocation>,
}

/// `<Spec>`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct ManifestSpec {
    pub format: Option<String>,
    pub fields: Option<Members<String>>,
}

/// `<Location>`.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct ManifestLocation {
    #[serde(rename = "ObjectArn")]
    pub object_arn: Option<String>,
    #[serde(rename = "ObjectVersionId")]
    pub object_version_id: Option<String>,
    #[serde(rename = "ETag")]
    pub etag: Option<String>,
}

/// `<Operation>`: only `S3PutObjectCopy` is implemented; the others are recognised to be refused.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct Operation {
    #[serde(rename = "S3PutObjectCopy")]
    pub copy: Option<CopyOperation>,
    #[serde(rename = "LambdaInvoke")]
    pub lambda_invoke: Option<IgnoredElement>,
    #[serde(rename = "S3PutObjectAcl")]
    pub put_acl: Option<IgnoredElement>,
    #[serde(rename = "S3PutObjectTagging")]
    pub put_tagging: Option<IgnoredElement>,
    #[serde(rename = "S3DeleteObjectTagging")]
    pub delete_tagging: Option<IgnoredElement>,
    #[serde(rename = "S3InitiateRestoreObject")]
    pub restore: Option<IgnoredElement>,
    #[serde(rename = "S3PutObjectLegalHold")]
    pub legal_hold: Option<IgnoredElement>,
    #[serde(rename = "S3PutObjectRetention")]
    pub retention: Option<IgnoredElement>,
    #[serde(rename = "S3ReplicateObject")]
    pub replicate: Option<IgnoredElement>,
}

/// `<S3PutObjectCopy>`.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct CopyOperation {
    #[serde(rename = "TargetResource")]
    pub target_resource: Option<String>,
    #[serde(rename = "TargetKeyPrefix")]
    pub target_key_prefix: Option<String>,
    #[serde(rename = "StorageClass")]
    pub storage_class: Option<String>,
    #[serde(rename = "MetadataDirective")]
    pub metadata_directive: Option<String>,
    #[serde(rename = "NewObjectMetadata")]
    pub new_object_metadata: Option<ObjectMetadata>,
    #[serde(rename = "NewObjectTagging")]
    pub new_object_tagging: Option<Members<Tag>>,
    #[serde(rename = "ObjectLockMode")]
    pub object_lock_mode: Option<String>,
    #[serde(rename = "ObjectLockRetainUntilDate")]
    pub object_lock_retain_until_date: Option<String>,
    #[serde(rename = "ObjectLockLegalHoldStatus")]
    pub object_lock_legal_hold_status: Option<String>,
    #[serde(rename = "SSEAwsKmsKeyId")]
    pub sse_aws_kms_key_id: Option<String>,
    #[serde(rename = "BucketKeyEnabled")]
    pub bucket_key_enabled: Option<bool>,
    #[serde(rename = "ChecksumAlgorithm")]
    pub checksum_algorithm: Option<String>,
}

/// `<NewObjectMetadata>`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct ObjectMetadata {
    pub cache_control: Option<String>,
    pub content_disposition: Option<String>,
    pub content_encoding: Option<String>,
    pub content_language: Option<String>,
    pub content_type: Option<String>,
    pub user_metadata: Option<Entries>,
    #[serde(rename = "SSEAlgorithm")]
    pub sse_algorithm: Option<String>,
}

/// `<UserMetadata><entry><key/><value/></entry>..</UserMetadata>`.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct Entries {
    /// The pairs.
    #[serde(default)]
    pub entry: Vec<Entry>,
}

/// One map entry.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct Entry {
    pub key: String,
    #[serde(default)]
    pub value: String,
}

/// `<Report>`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct Report {
    pub bucket: Option<String>,
    pub format: Option<String>,
    pub enabled: Option<bool>,
    pub prefix: Option<String>,
    pub report_scope: Option<String>,
}

/// An S3 tag (`<Key>`, `<Value>`).
#[derive(Debug, Clone, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub key: String,
    #[serde(default)]
    pub value: String,
}

/// `<PutJobTaggingRequest>`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct PutJobTaggingRequest {
    pub tags: Option<Members<Tag>>,
}
