//! The inventory configuration: the daily CSV S3 Inventory onboarding puts on a source bucket,
//! and the summary that compares one configuration with another.

use std::collections::BTreeSet;

use aws_sdk_s3::types::{
    InventoryConfiguration, InventoryDestination, InventoryFormat, InventoryFrequency,
    InventoryIncludedObjectVersions, InventoryOptionalField, InventoryS3BucketDestination,
    InventorySchedule,
};
use serde::Serialize;

use crate::request::InventoryTarget;

/// The inventory's optional fields: what an audit or a restore wants to know about each object
/// besides bucket and key (Batch Operations itself reads only those two).
pub const INVENTORY_FIELDS: &[InventoryOptionalField] = &[
    InventoryOptionalField::Size,
    InventoryOptionalField::LastModifiedDate,
    InventoryOptionalField::ETag,
    InventoryOptionalField::StorageClass,
    InventoryOptionalField::IsMultipartUploaded,
    InventoryOptionalField::EncryptionStatus,
    InventoryOptionalField::ObjectLockRetainUntilDate,
    InventoryOptionalField::ObjectLockMode,
    InventoryOptionalField::ObjectLockLegalHoldStatus,
];

/// The inventory configuration onboarding puts on a source bucket.
pub fn desired_inventory(target: &InventoryTarget, partition: &str) -> InventoryConfiguration {
    let destination = InventoryS3BucketDestination::builder()
        .account_id(&target.account_id)
        .bucket(format!("arn:{partition}:s3:::{}", target.bucket))
        .prefix(&target.prefix)
        .format(InventoryFormat::Csv)
        // No Encryption setting: the inventory bucket encrypts every delivery by default
        // (SSE-S3), and CloudFormation's inventory configuration (infra/source-bucket.yaml) has
        // no such setting, so both ways of onboarding write the same configuration.
        .build();
    InventoryConfiguration::builder()
        .id(&target.configuration_id)
        .is_enabled(true)
        // A snapshot is the bucket as it is now: current versions only.
        .included_object_versions(InventoryIncludedObjectVersions::Current)
        .schedule(
            InventorySchedule::builder()
                .frequency(InventoryFrequency::Daily)
                .build()
                .expect("frequency is set"),
        )
        .destination(
            InventoryDestination::builder()
                .set_s3_bucket_destination(destination.ok())
                .build(),
        )
        .set_optional_fields(Some(INVENTORY_FIELDS.to_vec()))
        .build()
        .expect("id, destination, enabled, versions and schedule are set")
}

/// The parts of an inventory configuration that matter, in a comparable (and printable) form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InventorySummary {
    /// Configuration id.
    pub id: String,
    /// Whether it runs.
    pub enabled: bool,
    /// `Current` or `All`.
    pub versions: String,
    /// `Daily` or `Weekly`.
    pub frequency: String,
    /// `CSV`, `ORC`, `Parquet`.
    pub format: String,
    /// Destination account.
    pub account_id: Option<String>,
    /// Destination bucket ARN.
    pub bucket: String,
    /// Destination prefix.
    pub prefix: Option<String>,
    /// `SSE-S3`, `SSE-KMS <key>` or `none`.
    pub encryption: String,
    /// Prefix or tag filter, if any (debug form).
    pub filter: Option<String>,
    /// Optional fields, sorted.
    pub fields: BTreeSet<String>,
}

impl InventorySummary {
    /// Summarises a configuration as S3 returns it.
    pub fn of(c: &InventoryConfiguration) -> Self {
        let dest = c.destination().and_then(|d| d.s3_bucket_destination());
        let encryption = match dest.and_then(|d| d.encryption()) {
            Some(e) if e.sses3().is_some() => "SSE-S3".to_owned(),
            Some(e) => match e.ssekms() {
                Some(k) => format!("SSE-KMS {}", k.key_id()),
                None => "none".to_owned(),
            },
            None => "none".to_owned(),
        };
        Self {
            id: c.id().to_owned(),
            enabled: c.is_enabled(),
            versions: c.included_object_versions().as_str().to_owned(),
            frequency: c
                .schedule()
                .map(|s| s.frequency().as_str().to_owned())
                .unwrap_or_default(),
            format: dest
                .map(|d| d.format().as_str().to_owned())
                .unwrap_or_default(),
            account_id: dest.and_then(|d| d.account_id()).map(str::to_owned),
            bucket: dest.map(|d| d.bucket().to_owned()).unwrap_or_default(),
            prefix: dest.and_then(|d| d.prefix()).map(str::to_owned),
            encryption,
            filter: c.filter().map(|f| format!("{f:?}")),
            fields: c
                .optional_fields()
                .iter()
                .map(|f| f.as_str().to_owned())
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inventory_content() {
        let target = InventoryTarget {
            account_id: "222222222222".to_owned(),
            bucket: "inv".to_owned(),
            prefix: "inventory".to_owned(),
            configuration_id: "daily".to_owned(),
        };
        let c = desired_inventory(&target, "aws");
        let s = InventorySummary::of(&c);
        assert_eq!(s.id, "daily");
        assert!(s.enabled);
        assert_eq!(s.versions, "Current");
        assert_eq!(s.frequency, "Daily");
        assert_eq!(s.format, "CSV");
        assert_eq!(s.bucket, "arn:aws:s3:::inv");
        assert_eq!(s.account_id.as_deref(), Some("222222222222"));
        assert_eq!(s.prefix.as_deref(), Some("inventory"));
        assert_eq!(s.encryption, "none");
        assert_eq!(s.filter, None);
        assert!(s.fields.contains("Size") && s.fields.contains("ETag"));
        let mut weekly = s.clone();
        weekly.frequency = "Weekly".to_owned();
        assert_ne!(weekly, s);
    }
}
