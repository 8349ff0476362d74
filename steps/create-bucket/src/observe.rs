//! Observe: the existing bucket, read — who owns it and where, whether it is this backup's, and
//! every managed setting as S3 reports it, compared with the plan.

use std::collections::BTreeMap;

use aws_sdk_s3::Client;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::types::{
    LifecycleRule, ObjectLockEnabled, ServerSideEncryption, TransitionDefaultMinimumObjectSize,
};
use serde_json::Value;

use crate::contract::{
    ALL_SETTINGS, BlockPublicAccess, Conflict, CreateBucketError, Encryption, Setting, Settings,
    TAG_DATE, TAG_SOURCE,
};
use crate::plan::Plan;
use crate::policy;
use crate::sdk::{absent_if, call};

/// Object Lock as read from S3 (the default retention may be in days or years).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObservedLock {
    /// `ObjectLockEnabled` is `Enabled`.
    pub enabled: bool,
    /// Default retention mode.
    pub mode: Option<String>,
    /// Default retention in days.
    pub days: Option<i32>,
    /// Default retention in years.
    pub years: Option<i32>,
}

/// The bucket's lifecycle configuration as read from S3, kept whole: adding lakevault's rule
/// rewrites the configuration, and every rule (and setting) others put there must survive it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObservedLifecycle {
    /// Every rule, as S3 returned it.
    pub rules: Vec<LifecycleRule>,
    /// The configuration's minimum object size for transitions, if S3 reported one.
    pub transition_default_minimum_object_size: Option<TransitionDefaultMinimumObjectSize>,
}

impl ObservedLifecycle {
    /// Whether a rule of id `id` is in place (whatever it says: it is left as it is).
    pub fn has_rule(&self, id: &str) -> bool {
        self.rules.iter().any(|r| r.id() == Some(id))
    }
}

/// The bucket's settings as read from S3; `None` where a setting is not configured.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// Block Public Access.
    pub public_access_block: Option<BlockPublicAccess>,
    /// Object ownership.
    pub object_ownership: Option<String>,
    /// Default encryption (SSE-S3 normalised to no key, no bucket key).
    pub encryption: Option<Encryption>,
    /// Versioning status.
    pub versioning: Option<String>,
    /// Object Lock configuration.
    pub object_lock: Option<ObservedLock>,
    /// The lifecycle configuration.
    pub lifecycle: Option<ObservedLifecycle>,
    /// All tags.
    pub tags: BTreeMap<String, String>,
    /// The policy, parsed (`Value::Null` if it is not JSON).
    pub policy: Option<Value>,
}

impl Observed {
    /// Whether `setting` already has its desired value.
    pub fn matches(&self, setting: Setting, want: &Settings) -> bool {
        match setting {
            Setting::Tags => want.tags.iter().all(|(k, v)| self.tags.get(k) == Some(v)),
            Setting::PublicAccessBlock => {
                self.public_access_block.as_ref() == Some(&want.block_public_access)
            }
            Setting::ObjectOwnership => {
                self.object_ownership.as_deref() == Some(want.object_ownership.as_str())
            }
            Setting::Encryption => self.encryption.as_ref() == Some(&want.encryption),
            Setting::Versioning => self.versioning.as_deref() == Some(want.versioning.as_str()),
            Setting::ObjectLock => {
                let Some(ObservedLock {
                    enabled,
                    mode,
                    days,
                    years,
                }) = &self.object_lock
                else {
                    return false;
                };
                // moto reports an unset field as 0.
                let years = years.filter(|y| *y != 0);
                let days = days.filter(|d| *d != 0);
                *enabled
                    && match want.object_lock.default_retention {
                        None => mode.is_none() && days.is_none() && years.is_none(),
                        Some(r) => {
                            mode.as_deref() == Some(r.mode.as_s3().as_str())
                                && days.and_then(|d| u32::try_from(d).ok()) == Some(r.days)
                                && years.is_none()
                        }
                    }
            }
            Setting::Lifecycle => self
                .lifecycle
                .as_ref()
                .is_some_and(|l| l.has_rule(&want.abort_incomplete_uploads.rule_id)),
            Setting::Policy => self
                .policy
                .as_ref()
                .is_some_and(|p| policy::normalise(p) == policy::normalise(&want.policy)),
        }
    }

    /// The settings that differ from `want`, in the order they are applied.
    pub fn differences(&self, want: &Settings) -> Vec<Setting> {
        ALL_SETTINGS
            .into_iter()
            .filter(|s| !self.matches(*s, want))
            .collect()
    }
}

/// `Some(region)` when the caller's account owns `bucket`. ListBuckets lists only the
/// caller's own buckets, unlike HeadBucket, which also answers for another account's bucket
/// that grants access. `home` is the step's own client (ListBuckets is not regional), `s3` the
/// client of the bucket's region.
pub(crate) async fn owned_bucket_region(
    home: &Client,
    s3: &Client,
    bucket: &str,
) -> Result<Option<String>, CreateBucketError> {
    let mut pages = home.list_buckets().prefix(bucket).into_paginator().send();
    let mut found = None;
    while let Some(page) = pages.next().await {
        let page = call("ListBuckets", page)?;
        if let Some(b) = page.buckets().iter().find(|b| b.name() == Some(bucket)) {
            found = Some(b.bucket_region().map(str::to_owned));
            break;
        }
    }
    match found {
        None => Ok(None),
        Some(Some(region)) => Ok(Some(region)),
        // Endpoints that do not report BucketRegion in ListBuckets do in HeadBucket.
        Some(None) => {
            let head = call("HeadBucket", s3.head_bucket().bucket(bucket).send().await)?;
            Ok(Some(
                head.bucket_region()
                    .map(str::to_owned)
                    .unwrap_or_else(|| "us-east-1".to_owned()),
            ))
        }
    }
}

/// Refuses a pre-existing bucket that is not this backup's, before anything is changed.
pub(crate) async fn check_claim(
    s3: &Client,
    plan: &Plan,
    seen: &Observed,
) -> Result<(), CreateBucketError> {
    let conflict = |reason: Conflict| CreateBucketError::BucketConflict {
        bucket: plan.bucket.clone(),
        reason,
    };
    let date = plan.backup_date.to_string();
    match (seen.tags.get(TAG_SOURCE), seen.tags.get(TAG_DATE)) {
        (Some(s), Some(d)) if *s == plan.source_bucket && *d == date => Ok(()),
        (None, None) => {
            // Untagged: an earlier attempt that died right after CreateBucket — or a bucket
            // someone made by hand. Adopt it only while it holds nothing.
            let listing = call(
                "ListObjectVersions",
                s3.list_object_versions()
                    .bucket(&plan.bucket)
                    .max_keys(1)
                    .send()
                    .await,
            )?;
            if listing.versions().is_empty() && listing.delete_markers().is_empty() {
                Ok(())
            } else {
                Err(conflict(Conflict::NotEmpty))
            }
        }
        (s, d) => Err(conflict(Conflict::OtherBackup {
            source: s.cloned(),
            date: d.cloned(),
            requested_source: plan.source_bucket.clone(),
            requested_date: date,
        })),
    }
}

/// Reads every managed setting of `bucket`.
pub(crate) async fn observe(s3: &Client, bucket: &str) -> Result<Observed, CreateBucketError> {
    // Eight reads at once make a ~40 KB future: on the heap, not on the caller's stack.
    let (pab, own, enc, ver, lock, life, tags, pol) = Box::pin(async {
        tokio::join!(
            s3.get_public_access_block().bucket(bucket).send(),
            s3.get_bucket_ownership_controls().bucket(bucket).send(),
            s3.get_bucket_encryption().bucket(bucket).send(),
            versioning_status(s3, bucket),
            s3.get_object_lock_configuration().bucket(bucket).send(),
            s3.get_bucket_lifecycle_configuration()
                .bucket(bucket)
                .send(),
            s3.get_bucket_tagging().bucket(bucket).send(),
            s3.get_bucket_policy().bucket(bucket).send(),
        )
    })
    .await;
    let pab = absent_if(
        "GetPublicAccessBlock",
        pab,
        "NoSuchPublicAccessBlockConfiguration",
    )?;
    let own = absent_if(
        "GetBucketOwnershipControls",
        own,
        "OwnershipControlsNotFoundError",
    )?;
    let enc = absent_if(
        "GetBucketEncryption",
        enc,
        "ServerSideEncryptionConfigurationNotFoundError",
    )?;
    let ver = ver?;
    let lock = absent_if(
        "GetObjectLockConfiguration",
        lock,
        "ObjectLockConfigurationNotFoundError",
    )?;
    let life = absent_if(
        "GetBucketLifecycleConfiguration",
        life,
        "NoSuchLifecycleConfiguration",
    )?;
    let tags = absent_if("GetBucketTagging", tags, "NoSuchTagSet")?;
    let pol = absent_if("GetBucketPolicy", pol, "NoSuchBucketPolicy")?;

    Ok(Observed {
        public_access_block: pab
            .as_ref()
            .and_then(|o| o.public_access_block_configuration())
            .map(|c| BlockPublicAccess {
                block_public_acls: c.block_public_acls().unwrap_or(false),
                ignore_public_acls: c.ignore_public_acls().unwrap_or(false),
                block_public_policy: c.block_public_policy().unwrap_or(false),
                restrict_public_buckets: c.restrict_public_buckets().unwrap_or(false),
            }),
        object_ownership: own
            .as_ref()
            .and_then(|o| o.ownership_controls())
            .and_then(|c| c.rules().first())
            .map(|r| r.object_ownership().as_str().to_owned()),
        encryption: enc
            .as_ref()
            .and_then(|o| o.server_side_encryption_configuration())
            .and_then(|c| c.rules().first())
            .and_then(|r| {
                let d = r.apply_server_side_encryption_by_default()?;
                let alg = d.sse_algorithm().as_str().to_owned();
                // A bucket key means nothing for SSE-S3; compare only what matters.
                Some(if d.sse_algorithm() == &ServerSideEncryption::Aes256 {
                    Encryption {
                        sse_algorithm: alg,
                        kms_key_arn: None,
                        bucket_key_enabled: false,
                    }
                } else {
                    Encryption {
                        sse_algorithm: alg,
                        kms_key_arn: d.kms_master_key_id().map(str::to_owned),
                        bucket_key_enabled: r.bucket_key_enabled().unwrap_or(false),
                    }
                })
            }),
        versioning: ver,
        object_lock: lock
            .as_ref()
            .and_then(|o| o.object_lock_configuration())
            .map(|c| {
                let enabled = c.object_lock_enabled() == Some(&ObjectLockEnabled::Enabled);
                let d = c.rule().and_then(|r| r.default_retention());
                ObservedLock {
                    enabled,
                    mode: d.and_then(|d| d.mode()).map(|m| m.as_str().to_owned()),
                    days: d.and_then(|d| d.days()),
                    years: d.and_then(|d| d.years()),
                }
            }),
        lifecycle: life.map(|l| ObservedLifecycle {
            rules: l.rules().to_vec(),
            transition_default_minimum_object_size: l
                .transition_default_minimum_object_size()
                .cloned(),
        }),
        tags: tags
            .as_ref()
            .map(|t| {
                t.tag_set()
                    .iter()
                    .map(|t| (t.key().to_owned(), t.value().to_owned()))
                    .collect()
            })
            .unwrap_or_default(),
        policy: pol
            .as_ref()
            .and_then(|p| p.policy())
            .map(|p| serde_json::from_str(p).unwrap_or(Value::Null)),
    })
}

/// The versioning status of `bucket`: `Enabled`, `Suspended`, or `None` when never enabled.
pub async fn versioning_status(
    s3: &Client,
    bucket: &str,
) -> Result<Option<String>, CreateBucketError> {
    match s3.get_bucket_versioning().bucket(bucket).send().await {
        Ok(v) => Ok(v.status().map(|s| s.as_str().to_owned())),
        // A successful answer the SDK could not parse: on AWS this does not happen, and is an
        // error like any other; only the emulator's known shape is read.
        Err(SdkError::ServiceError(se)) if se.raw().status().is_success() => {
            match versioning_status_from_unparsed_body(se.raw().body().bytes()) {
                Some(status) => {
                    tracing::debug!(bucket, "GetBucketVersioning read from moto's unparsed body");
                    Ok(status)
                }
                None => {
                    Err(kit::classify("GetBucketVersioning", SdkError::ServiceError(se)).into())
                }
            }
        }
        Err(e) => Err(kit::classify("GetBucketVersioning", e).into()),
    }
}

/// The root element of moto's GetBucketVersioning answer.
const MOTO_VERSIONING_ROOT: &str = "GetBucketVersioningResponse";

/// **Emulator workaround (moto 5.2), never AWS's path.** moto names the root element of its
/// GetBucketVersioning answer `GetBucketVersioningResponse` instead of `VersioningConfiguration`,
/// so the SDK refuses a body whose content is right. Called only when the SDK failed to parse a
/// successful response; reads `<Status>` only from a body whose root element is moto's.
///
/// `Some(status)` (`status` as [`versioning_status`] returns it) for moto's shape; `None` for any
/// other body, which the caller reports as the SDK's failure. Remove once the local stack's moto
/// answers with S3's root element.
fn versioning_status_from_unparsed_body(body: Option<&[u8]>) -> Option<Option<String>> {
    let xml = std::str::from_utf8(body?).ok()?.trim_start();
    // An optional XML declaration, then the root element.
    let root = match xml.strip_prefix("<?xml") {
        Some(rest) => rest.split_once("?>")?.1.trim_start(),
        None => xml,
    };
    let name = root.strip_prefix('<')?.strip_prefix(MOTO_VERSIONING_ROOT)?;
    if !name.starts_with([' ', '>', '/']) {
        return None;
    }
    Some(xml_text(root, "Status"))
}

/// The text of the first `<name>…</name>` element, if any.
fn xml_text(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let len = xml[start..].find(&format!("</{name}>"))?;
    Some(xml[start..start + len].trim().to_owned()).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::{Retention, RetentionMode};
    use crate::plan::plan;
    use crate::plan::tests::input;

    #[test]
    fn xml_text_reads_one_element() {
        let x = r#"<?xml version="1.0"?><GetBucketVersioningResponse xmlns="x"><Status>Enabled</Status></GetBucketVersioningResponse>"#;
        assert_eq!(xml_text(x, "Status").as_deref(), Some("Enabled"));
        assert_eq!(
            xml_text(r#"<GetBucketVersioningResponse xmlns="x"/>"#, "Status"),
            None
        );
    }

    #[test]
    fn the_versioning_workaround_reads_only_motos_root_element() {
        let read = |x: &str| versioning_status_from_unparsed_body(Some(x.as_bytes()));
        let moto = r#"<?xml version="1.0" encoding="UTF-8"?>
<GetBucketVersioningResponse xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>Enabled</Status></GetBucketVersioningResponse>"#;
        assert_eq!(read(moto), Some(Some("Enabled".to_owned())));
        assert_eq!(read("<GetBucketVersioningResponse/>"), Some(None));
        // Anything else stays the SDK's failure: S3's own root, other roots, no XML at all.
        for other in [
            r#"<?xml version="1.0"?><VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>"#,
            "<GetBucketVersioningResponseX><Status>Enabled</Status></GetBucketVersioningResponseX>",
            "<Error><Status>Enabled</Status></Error>",
            "Status: Enabled",
            "",
        ] {
            assert_eq!(read(other), None, "{other}");
        }
        assert_eq!(versioning_status_from_unparsed_body(None), None);
        assert_eq!(versioning_status_from_unparsed_body(Some(b"\xff<")), None);
    }

    #[test]
    fn observed_object_lock_comparison() {
        let p = plan(&input(), Some("us-east-1")).unwrap();
        let mut o = Observed {
            object_lock: Some(ObservedLock {
                enabled: true,
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(o.matches(Setting::ObjectLock, &p.settings));
        o.object_lock = Some(ObservedLock {
            enabled: true,
            mode: Some("GOVERNANCE".into()),
            days: Some(30),
            years: Some(0),
        });
        assert!(!o.matches(Setting::ObjectLock, &p.settings));
        let mut i = input();
        i.retention = Some(Retention {
            mode: RetentionMode::Governance,
            days: 30,
        });
        let p = plan(&i, Some("us-east-1")).unwrap();
        assert!(o.matches(Setting::ObjectLock, &p.settings));
        o.object_lock = Some(ObservedLock {
            enabled: false,
            mode: Some("GOVERNANCE".into()),
            days: Some(30),
            years: None,
        });
        assert!(!o.matches(Setting::ObjectLock, &p.settings));
    }
}
