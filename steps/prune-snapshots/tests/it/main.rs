//! prune-snapshots' integration tests, against moto: one binary (the SDK is linked once).
//!
//! moto stores lifecycle configurations but never runs them, so what S3 would later expire stays:
//! the tests check the rules prune puts, and that prune itself deletes nothing but empty buckets.

mod prune;

use aws_sdk_s3::Client;
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, DefaultRetention,
    ExpirationStatus, LifecycleRule, LifecycleRuleFilter, ObjectLockConfiguration,
    ObjectLockEnabled, ObjectLockRetentionMode, ObjectLockRule,
};
use kit::Day;
use kit::catalog::{CATALOG_FORMAT, CatalogEntry, CatalogFile};
use kit::record::{ObjectRef, Verdict};
use prune_snapshots::plan::{Secs, rfc3339};

pub(crate) const PREFIX: &str = "reports";

/// The snapshot bucket create-bucket names for `source` on `date`.
pub(crate) fn bucket_of(source: &str, date: Day) -> String {
    format!("{source}-{}", date.dd_mmm_yyyy())
}

/// How a test snapshot bucket is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// No Object Lock, no object.
    Empty,
    /// No Object Lock, one object.
    Unlocked,
    /// Object Lock with a default retention of 1 day (GOVERNANCE) and one object.
    Locked,
}

/// The report bucket.
pub(crate) async fn report_bucket(s3: &Client) -> String {
    let b = "lake-reports".to_owned();
    s3.create_bucket()
        .bucket(&b)
        .send()
        .await
        .expect("CreateBucket");
    b
}

/// create-bucket's abort rule.
pub(crate) fn abort_rule() -> LifecycleRule {
    LifecycleRule::builder()
        .id("lakevault-abort-incomplete-uploads")
        .filter(LifecycleRuleFilter::builder().prefix("").build())
        .status(ExpirationStatus::Enabled)
        .abort_incomplete_multipart_upload(
            AbortIncompleteMultipartUpload::builder()
                .days_after_initiation(7)
                .build(),
        )
        .build()
        .unwrap()
}

/// A snapshot bucket as create-bucket leaves it (the abort rule), with `kind`'s lock and object.
/// Answers the object's retain-until date when locked.
pub(crate) async fn snapshot_bucket(s3: &Client, name: &str, kind: Kind) -> Option<Secs> {
    let locked = kind == Kind::Locked;
    s3.create_bucket()
        .bucket(name)
        .object_lock_enabled_for_bucket(locked)
        .send()
        .await
        .expect("CreateBucket");
    s3.put_bucket_lifecycle_configuration()
        .bucket(name)
        .lifecycle_configuration(
            BucketLifecycleConfiguration::builder()
                .rules(abort_rule())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("PutBucketLifecycleConfiguration");
    if locked {
        s3.put_object_lock_configuration()
            .bucket(name)
            .object_lock_configuration(
                ObjectLockConfiguration::builder()
                    .object_lock_enabled(ObjectLockEnabled::Enabled)
                    .rule(
                        ObjectLockRule::builder()
                            .default_retention(
                                DefaultRetention::builder()
                                    .mode(ObjectLockRetentionMode::Governance)
                                    .days(1)
                                    .build(),
                            )
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .expect("PutObjectLockConfiguration");
    }
    if kind == Kind::Empty {
        return None;
    }
    harness::put_object(s3, name, "tables/events/part-0.parquet", b"data").await;
    if !locked {
        return None;
    }
    let h = s3
        .head_object()
        .bucket(name)
        .key("tables/events/part-0.parquet")
        .send()
        .await
        .expect("HeadObject");
    h.object_lock_retain_until_date().map(|d| d.secs())
}

/// Writes the catalog entry catalog-snapshot would write.
pub(crate) async fn put_entry(
    s3: &Client,
    reports: &str,
    source: &str,
    date: Day,
    good: bool,
    lock: Option<Option<Secs>>,
) {
    let e = CatalogEntry {
        format: CATALOG_FORMAT,
        source_bucket: source.into(),
        backup_date: date,
        snapshot_bucket: bucket_of(source, date),
        job_id: format!("job-{date}"),
        verdict: if good {
            Verdict::Complete
        } else {
            Verdict::Incomplete
        },
        verification: None,
        good,
        objects: 1,
        bytes: 4,
        large_copies: 0,
        storage_class: "STANDARD".into(),
        lock_mode: lock.map(|_| "GOVERNANCE".into()),
        retain_until: lock.flatten().map(rfc3339),
        audit_record: ObjectRef {
            bucket: reports.into(),
            key: format!("{PREFIX}/job-{date}/lakevault-audit.json"),
        },
    };
    let key = kit::catalog::key(PREFIX, source, date, CatalogFile::Entry);
    harness::put_object(s3, reports, &key, serde_json::to_vec_pretty(&e).unwrap()).await;
}

/// Every key and ETag in the report bucket.
pub(crate) async fn report_state(s3: &Client, reports: &str) -> Vec<(String, String)> {
    let mut pages = s3.list_objects_v2().bucket(reports).into_paginator().send();
    let mut out = Vec::new();
    while let Some(p) = pages.next().await {
        for o in p.unwrap().contents() {
            out.push((
                o.key().unwrap_or_default().to_owned(),
                o.e_tag().unwrap_or_default().to_owned(),
            ));
        }
    }
    out
}

/// The ids of a bucket's lifecycle rules, sorted; `None` when the bucket is gone.
pub(crate) async fn rule_ids(s3: &Client, bucket: &str) -> Option<Vec<String>> {
    match s3
        .get_bucket_lifecycle_configuration()
        .bucket(bucket)
        .send()
        .await
    {
        Ok(o) => {
            let mut ids: Vec<String> = o
                .rules()
                .iter()
                .map(|r| r.id().unwrap_or_default().to_owned())
                .collect();
            ids.sort();
            Some(ids)
        }
        Err(e) => {
            let code = e.as_service_error().and_then(|s| {
                aws_smithy_types::error::metadata::ProvideErrorMetadata::code(s).map(str::to_owned)
            });
            match code.as_deref() {
                Some("NoSuchLifecycleConfiguration") => Some(vec![]),
                Some("NoSuchBucket") => None,
                other => panic!("GetBucketLifecycleConfiguration of {bucket}: {other:?}"),
            }
        }
    }
}

/// The system clock, Unix seconds.
pub(crate) fn real_now() -> Secs {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The day `secs` falls on (UTC).
pub(crate) fn day_of(secs: Secs) -> Day {
    rfc3339(secs)[..10].parse().unwrap()
}
