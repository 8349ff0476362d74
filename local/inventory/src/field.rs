//! The optional inventory fields and how each is filled.

use std::fmt;
use std::str::FromStr;

/// An optional field of an inventory configuration (`OptionalFields`), as named in `fileSchema`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// Object size in bytes.
    Size,
    /// Last modification time, `2021-03-30T12:34:56.000Z`.
    LastModifiedDate,
    /// Storage class (`STANDARD`, …).
    StorageClass,
    /// Entity tag, without quotes.
    ETag,
    /// `true` when the ETag says the object was uploaded in parts.
    IsMultipartUploaded,
    /// Replication status (HeadObject).
    ReplicationStatus,
    /// `NOT-SSE`, `SSE-S3`, `SSE-KMS`, `DSSE-KMS` (HeadObject).
    EncryptionStatus,
    /// Object Lock retain-until date (HeadObject).
    ObjectLockRetainUntilDate,
    /// Object Lock mode (HeadObject).
    ObjectLockMode,
    /// Legal hold `ON`/`OFF` (HeadObject).
    ObjectLockLegalHoldStatus,
    /// S3 Bucket Key `ENABLED`/`DISABLED` for SSE-KMS objects (HeadObject).
    BucketKeyStatus,
    /// Additional checksum algorithm of the object.
    ChecksumAlgorithm,
    /// Canonical user id of the owner.
    ObjectOwner,
}

impl Field {
    /// Every supported field, in the order S3 lists them in `fileSchema`.
    pub const ALL: [Field; 13] = [
        Field::Size,
        Field::LastModifiedDate,
        Field::StorageClass,
        Field::ETag,
        Field::IsMultipartUploaded,
        Field::ReplicationStatus,
        Field::EncryptionStatus,
        Field::ObjectLockRetainUntilDate,
        Field::ObjectLockMode,
        Field::ObjectLockLegalHoldStatus,
        Field::BucketKeyStatus,
        Field::ChecksumAlgorithm,
        Field::ObjectOwner,
    ];

    /// The column name in `fileSchema`.
    pub fn name(self) -> &'static str {
        match self {
            Field::Size => "Size",
            Field::LastModifiedDate => "LastModifiedDate",
            Field::StorageClass => "StorageClass",
            Field::ETag => "ETag",
            Field::IsMultipartUploaded => "IsMultipartUploaded",
            Field::ReplicationStatus => "ReplicationStatus",
            Field::EncryptionStatus => "EncryptionStatus",
            Field::ObjectLockRetainUntilDate => "ObjectLockRetainUntilDate",
            Field::ObjectLockMode => "ObjectLockMode",
            Field::ObjectLockLegalHoldStatus => "ObjectLockLegalHoldStatus",
            Field::BucketKeyStatus => "BucketKeyStatus",
            Field::ChecksumAlgorithm => "ChecksumAlgorithm",
            Field::ObjectOwner => "ObjectOwner",
        }
    }

    /// True when the listing does not carry the value and a HeadObject per object is needed.
    pub fn needs_head(self) -> bool {
        matches!(
            self,
            Field::ReplicationStatus
                | Field::EncryptionStatus
                | Field::ObjectLockRetainUntilDate
                | Field::ObjectLockMode
                | Field::ObjectLockLegalHoldStatus
                | Field::BucketKeyStatus
        )
    }

    /// Parses a comma-separated list (`Size, ETag`), keeping S3's column order whatever the
    /// order given, without duplicates.
    pub fn parse_list(s: &str) -> Result<Vec<Field>, UnknownField> {
        let mut wanted = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            wanted.push(part.parse::<Field>()?);
        }
        Ok(Self::canonical(&wanted))
    }

    /// `fields` in S3's `fileSchema` order, without duplicates.
    pub fn canonical(fields: &[Field]) -> Vec<Field> {
        Field::ALL
            .into_iter()
            .filter(|f| fields.contains(f))
            .collect()
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A field name this local inventory does not know or cannot fill.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown or unsupported inventory field {0:?}; supported: Size, LastModifiedDate, StorageClass, ETag, \
     IsMultipartUploaded, ReplicationStatus, EncryptionStatus, ObjectLockRetainUntilDate, ObjectLockMode, \
     ObjectLockLegalHoldStatus, BucketKeyStatus, ChecksumAlgorithm, ObjectOwner \
     (IntelligentTieringAccessTier and ObjectAccessControlList cannot be emulated)"
)]
pub struct UnknownField(pub String);

impl FromStr for Field {
    type Err = UnknownField;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Field::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownField(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_come_back_in_s3_order() {
        let f = Field::parse_list("StorageClass, etag,Size,Size").unwrap();
        assert_eq!(f, vec![Field::Size, Field::StorageClass, Field::ETag]);
        assert!(Field::parse_list("Size,Colour").is_err());
        assert!(Field::parse_list("").unwrap().is_empty());
    }
}
