#![doc = include_str!("../README.md")]

pub mod manifest;

use kit::record::OversizeManifest;
use std::time::SystemTime;

use aws_sdk_s3::primitives::DateTime;
use kit::validate;
use kit::{AccessDenied, AwsFailure, InvalidInput, ServiceFailure, Step, Transient};
use plan_large_copy::layout;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use crate::manifest::{KeyProblem, LineProblem, ManifestProblem};

/// The snapshot's identity and the audit's oversize manifest (other fields, such as the rest of
/// the audit record, are ignored).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct Input {
    /// The bucket being backed up: every manifest line must name it.
    pub source_bucket: String,
    /// The dated snapshot bucket the copies go into.
    pub snapshot_bucket: String,
    /// The audit record's `oversize_manifest`; null or absent when nothing is over 5 GiB.
    #[serde(default)]
    pub oversize_manifest: Option<OversizeManifest>,
    /// Storage class of the copies (plan-large-copy's; default STANDARD there).
    #[serde(default)]
    pub storage_class: Option<String>,
    /// Object Lock retain-until date of the copies (RFC 3339, in the future), when the snapshot
    /// bucket has Object Lock.
    #[serde(default)]
    pub retain_until: Option<String>,
    /// Object Lock mode with `retain_until`: GOVERNANCE (plan-large-copy's default) or COMPLIANCE.
    #[serde(default)]
    pub object_lock_mode: Option<String>,
    /// The snapshot's KMS key (plan-large-copy's; without it the bucket's default encryption).
    #[serde(default)]
    pub kms_key_arn: Option<String>,
}

/// One Map item: exactly plan-large-copy's input (the Map passes it unchanged).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Item {
    /// The source bucket.
    pub source_bucket: String,
    /// The object's key, decoded (as S3 names it).
    pub key: String,
    /// The snapshot bucket.
    pub snapshot_bucket: String,
    /// The copy's storage class; absent: plan-large-copy's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
    /// The copy's Object Lock retain-until date; absent: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retain_until: Option<String>,
    /// The copy's Object Lock mode; absent: plan-large-copy's default with `retain_until`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_lock_mode: Option<String>,
    /// The snapshot's KMS key; absent: the snapshot bucket's default encryption.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_arn: Option<String>,
}

/// The Map's items, bounded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Output {
    /// One plan-large-copy input per distinct key, in manifest order.
    pub items: Vec<Item>,
    /// Items listed.
    pub count: u64,
    /// Lines in the manifest (`oversize_manifest.objects`; duplicates included), 0 without one.
    pub objects: u64,
    /// True when some keys are not listed: the items would exceed the limits.
    pub truncated: bool,
    /// Distinct keys not listed (0 unless `truncated`). The snapshot stays incomplete.
    pub not_listed: u64,
}

/// list-large-copies' errorTypes.
#[derive(Debug, thiserror::Error, kit::strum::IntoStaticStr, kit::strum::VariantNames)]
#[strum(crate = "kit::strum")]
pub enum ListLargeCopiesError {
    /// The event breaks the contract; the message names the field.
    #[error(transparent)]
    InvalidInput(#[from] InvalidInput),
    /// Throttling, a 5xx, a dropped connection, a body that stalls. Retry.
    #[error(transparent)]
    Transient(#[from] Transient),
    /// The role may not read the manifest.
    #[error(transparent)]
    AccessDenied(#[from] AccessDenied),
    /// S3 answered something this step does not expect.
    #[error("{0}")]
    ServiceError(ServiceFailure),
    /// The manifest is not the one the audit recorded, is missing, too large, or a line of it
    /// is not a `Bucket,Key` line of the source bucket. Never retried: re-run the audit.
    #[error("{url}: {problem}")]
    ManifestInvalid {
        /// The manifest, as an `s3://` URL.
        url: String,
        /// What is wrong with it.
        problem: ManifestProblem,
    },
}

kit::step_error!(ListLargeCopiesError, service => ServiceError);

/// The largest manifest read: a line per object over 5 GiB, so tens of thousands of lines of
/// long keys, and still small for the function's memory.
pub const MAX_MANIFEST_BYTES: u64 = 16 << 20;
/// The most items listed: a Map of more is a backup that needs a Batch Operations job of its
/// own, not an inline Map.
pub const MAX_ITEMS: usize = 400;
/// The most bytes the serialized `items` may take: a quarter of Step Functions' 256 KiB state
/// limit, because the Map's results (an item's names and its outcome, about as large as the item)
/// join the items in the state, beside what the execution carries (the audit record).
pub const MAX_ITEMS_BYTES: usize = 64 * 1024;

/// How much this step reads and lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest manifest read, in bytes.
    pub manifest_bytes: u64,
    /// The most items listed.
    pub items: usize,
    /// The most bytes of the serialized `items` array.
    pub items_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            manifest_bytes: MAX_MANIFEST_BYTES,
            items: MAX_ITEMS,
            items_bytes: MAX_ITEMS_BYTES,
        }
    }
}

/// The step: an S3 client and its limits, built once.
#[derive(Debug, Clone)]
pub struct ListLargeCopies {
    s3: aws_sdk_s3::Client,
    limits: Limits,
}

impl ListLargeCopies {
    /// From the environment (region, endpoints, kit's timeouts).
    pub async fn from_env() -> Result<Self, kit::clients::ConfigError> {
        let conf = kit::clients::load_sdk_config().await?;
        Ok(Self::new(kit::clients::s3(&conf)))
    }

    /// With a given client and the default limits.
    pub fn new(s3: aws_sdk_s3::Client) -> Self {
        Self::with_limits(s3, Limits::default())
    }

    /// With a given client and limits (tests).
    pub fn with_limits(s3: aws_sdk_s3::Client, limits: Limits) -> Self {
        Self { s3, limits }
    }
}

/// Checks the event before any request (pure: `now` decides whether `retain_until` is in the
/// future; `region` is the step's, which a KMS key must be in). The snapshot's settings are
/// checked by plan-large-copy's own rules, on an item with a placeholder key, so a bad one fails
/// here once rather than in every Map item (their paths are the same: `$.storage_class`…).
pub fn check_input(input: &Input, now: DateTime, region: Option<&str>) -> Result<(), InvalidInput> {
    let probe = plan_large_copy::Input {
        source_bucket: input.source_bucket.clone(),
        key: "probe".to_owned(),
        version_id: None,
        snapshot_bucket: input.snapshot_bucket.clone(),
        storage_class: input.storage_class.clone(),
        retain_until: input.retain_until.clone(),
        object_lock_mode: input.object_lock_mode.clone(),
        kms_key_arn: input.kms_key_arn.clone(),
    };
    plan_large_copy::check_input(&probe, now, region)?;
    if let Some(m) = &input.oversize_manifest {
        validate::check_bucket("$.oversize_manifest.bucket", &m.bucket)?;
        layout::check_key("$.oversize_manifest.key", &m.key)?;
        layout::check_etag("$.oversize_manifest.etag", &m.etag)?;
    }
    Ok(())
}

/// The items for `keys`, in order, until the next one would pass `limits`: (items, keys left).
pub fn bounded_items(input: &Input, keys: Vec<String>, limits: &Limits) -> (Vec<Item>, u64) {
    let total = keys.len();
    let mut items = Vec::new();
    // `[` and `]`, then each item and a comma between two.
    let mut bytes = 2usize;
    for key in keys {
        let item = Item {
            source_bucket: input.source_bucket.clone(),
            key,
            snapshot_bucket: input.snapshot_bucket.clone(),
            storage_class: input.storage_class.clone(),
            retain_until: input.retain_until.clone(),
            object_lock_mode: input.object_lock_mode.clone(),
            kms_key_arn: input.kms_key_arn.clone(),
        };
        // serde_json's own length: what the output will hold (escapes included).
        let len = serde_json::to_vec(&item).map_or(usize::MAX, |v| v.len());
        let next = bytes
            .saturating_add(len)
            .saturating_add(usize::from(!items.is_empty()));
        if items.len() >= limits.items || next > limits.items_bytes {
            break;
        }
        bytes = next;
        items.push(item);
    }
    let left = (total - items.len()) as u64;
    (items, left)
}

impl ListLargeCopies {
    /// The manifest's bytes, if it is still the one the audit wrote.
    async fn read(&self, m: &OversizeManifest, url: &str) -> Result<Vec<u8>, ListLargeCopiesError> {
        let invalid = |problem| ListLargeCopiesError::ManifestInvalid {
            url: url.to_owned(),
            problem,
        };
        let expected = layout::unquoted(&m.etag).to_owned();
        let changed = |found: Option<&str>| {
            invalid(ManifestProblem::Changed {
                expected: expected.clone(),
                found: found.map(|f| layout::unquoted(f).chars().take(64).collect()),
            })
        };
        let out = self
            .s3
            .get_object()
            .bucket(&m.bucket)
            .key(&m.key)
            .if_match(layout::quoted(&m.etag))
            .send()
            .await
            .map_err(|e| match kit::classify("GetObject", e) {
                AwsFailure::Service(s) if s.status == Some(412) || s.is("PreconditionFailed") => {
                    changed(None)
                }
                AwsFailure::Service(s)
                    if s.is("NoSuchKey")
                        || s.is("NoSuchBucket")
                        || (s.status == Some(404) && s.code.is_none()) =>
                {
                    invalid(ManifestProblem::Missing)
                }
                other => other.into(),
            })?;
        // S3 enforces If-Match; the answer's ETag is checked too, so an endpoint that ignores
        // the header cannot hand over another manifest.
        match out.e_tag() {
            Some(found) if layout::unquoted(found) == expected => {}
            found => return Err(changed(found)),
        }
        let deadline = kit::clients::body_deadline(self.s3.config().timeout_config());
        kit::body::read_capped(
            out.body,
            out.content_length,
            self.limits.manifest_bytes,
            deadline,
        )
        .await
        .map_err(|e| match e {
            kit::body::CappedReadError::TooLarge { limit } => {
                invalid(ManifestProblem::TooLarge { limit })
            }
            kit::body::CappedReadError::Stream(detail) => {
                ListLargeCopiesError::Transient(Transient {
                    operation: "GetObject".to_owned(),
                    detail: format!("reading {url}: {detail}"),
                })
            }
        })
    }
}

impl Step for ListLargeCopies {
    const NAME: &'static str = "list-large-copies";
    type Input = Input;
    type Output = Output;
    type Error = ListLargeCopiesError;

    async fn handle(&self, input: Input) -> Result<Output, ListLargeCopiesError> {
        let region = self.s3.config().region().map(|r| r.as_ref().to_owned());
        check_input(&input, DateTime::from(SystemTime::now()), region.as_deref())?;
        let empty = Output {
            items: Vec::new(),
            count: 0,
            objects: 0,
            truncated: false,
            not_listed: 0,
        };
        let Some(m) = input.oversize_manifest.as_ref().filter(|m| m.objects > 0) else {
            tracing::info!(source_bucket = %input.source_bucket, "no oversize manifest: nothing to list");
            return Ok(empty);
        };
        let url = format!("s3://{}/{}", m.bucket, m.key);
        let body = self.read(m, &url).await?;
        let invalid = |problem| ListLargeCopiesError::ManifestInvalid {
            url: url.clone(),
            problem,
        };
        let parsed = manifest::parse(&body, &input.source_bucket).map_err(invalid)?;
        if parsed.lines != m.objects {
            return Err(invalid(ManifestProblem::Count {
                lines: parsed.lines,
                objects: m.objects,
            }));
        }
        let distinct = parsed.keys.len();
        let (items, not_listed) = bounded_items(&input, parsed.keys, &self.limits);
        let out = Output {
            count: items.len() as u64,
            items,
            objects: parsed.lines,
            truncated: not_listed > 0,
            not_listed,
        };
        if out.truncated {
            tracing::warn!(manifest = %url, objects = out.objects, listed = out.count, not_listed,
                "too many oversize objects for one Map: the rest are not copied and the snapshot stays incomplete");
        }
        tracing::info!(manifest = %url, bytes = body.len(), objects = out.objects, distinct,
            listed = out.count, not_listed, "oversize manifest listed");
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> Input {
        Input {
            source_bucket: "lake-prod".into(),
            snapshot_bucket: "lake-prod-31-mar-2021".into(),
            oversize_manifest: Some(OversizeManifest {
                bucket: "lake-reports".into(),
                key: "batch-reports/job-1/lakevault-oversize.csv".into(),
                arn: "arn:aws:s3:::lake-reports/batch-reports/job-1/lakevault-oversize.csv".into(),
                etag: "d41d8cd98f00b204e9800998ecf8427e".into(),
                objects: 1,
            }),
            storage_class: Some("GLACIER_IR".into()),
            retain_until: None,
            object_lock_mode: None,
            kms_key_arn: None,
        }
    }

    /// 2021-03-31T00:00:00Z.
    fn now() -> DateTime {
        DateTime::from_secs(1_617_148_800)
    }

    fn check(i: &Input) -> Result<(), InvalidInput> {
        check_input(i, now(), Some("eu-west-1"))
    }

    #[test]
    fn the_event_is_checked() {
        assert!(check(&input()).is_ok());
        let mut i = input();
        i.storage_class = Some("COLD".into());
        assert_eq!(check(&i).unwrap_err().path, "$.storage_class");
        let mut i = input();
        i.kms_key_arn = Some("alias/snapshots".into());
        assert_eq!(check(&i).unwrap_err().path, "$.kms_key_arn");
        let mut i = input();
        if let Some(m) = i.oversize_manifest.as_mut() {
            m.etag = "not-an-etag".into();
        }
        assert_eq!(check(&i).unwrap_err().path, "$.oversize_manifest.etag");
        let mut i = input();
        i.kms_key_arn = Some(
            "arn:aws:kms:us-east-1:210987654321:key/1234abcd-12ab-34cd-56ef-1234567890ab".into(),
        );
        assert_eq!(
            check(&i).unwrap_err().path,
            "$.kms_key_arn",
            "another region"
        );
        let mut i = input();
        i.retain_until = Some("2021-03-01T00:00:00Z".into());
        assert_eq!(check(&i).unwrap_err().path, "$.retain_until", "in the past");
        let mut i = input();
        i.object_lock_mode = Some("COMPLIANCE".into());
        assert_eq!(
            check(&i).unwrap_err().path,
            "$.object_lock_mode",
            "without a date"
        );
        i.retain_until = Some("2021-05-05T00:00:00Z".into());
        assert!(check(&i).is_ok());
        let mut i = input();
        i.snapshot_bucket = "s3://x".into();
        assert_eq!(check(&i).unwrap_err().path, "$.snapshot_bucket");
    }

    #[test]
    fn items_are_plan_large_copy_inputs_without_nulls() {
        let (items, left) = bounded_items(&input(), vec!["a b".into()], &Limits::default());
        assert_eq!(left, 0);
        let v = serde_json::to_value(&items[0]).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"source_bucket": "lake-prod", "key": "a b",
                "snapshot_bucket": "lake-prod-31-mar-2021", "storage_class": "GLACIER_IR"})
        );
        let plan: plan_large_copy::Input = serde_json::from_value(v).unwrap();
        assert_eq!(plan.key, "a b");
        assert_eq!(plan.storage_class.as_deref(), Some("GLACIER_IR"));
        assert_eq!(plan.kms_key_arn, None);

        // The snapshot's settings, given, reach every item.
        let mut i = input();
        i.retain_until = Some("2021-05-05T00:00:00Z".into());
        i.object_lock_mode = Some("COMPLIANCE".into());
        i.kms_key_arn = Some(
            "arn:aws:kms:eu-west-1:210987654321:key/1234abcd-12ab-34cd-56ef-1234567890ab".into(),
        );
        let (items, _) = bounded_items(&i, vec!["k".into()], &Limits::default());
        let plan: plan_large_copy::Input =
            serde_json::from_value(serde_json::to_value(&items[0]).unwrap()).unwrap();
        let checked = plan_large_copy::check_input(&plan, now(), Some("eu-west-1")).unwrap();
        assert_eq!(checked.kms_key_arn, i.kms_key_arn);
        assert!(checked.lock.is_some());
        assert_eq!(plan.object_lock_mode.as_deref(), Some("COMPLIANCE"));
    }

    #[test]
    fn items_stop_at_either_limit() {
        let keys = |n: usize, len: usize| -> Vec<String> {
            (0..n).map(|i| format!("{i:0>len$}")).collect()
        };
        let limits = Limits {
            items: 3,
            ..Limits::default()
        };
        let (items, left) = bounded_items(&input(), keys(5, 4), &limits);
        assert_eq!((items.len(), left), (3, 2));
        // Exactly as many bytes as two items take: two, then no more.
        let (two, _) = bounded_items(&input(), keys(2, 10), &Limits::default());
        let exact = serde_json::to_vec(&two).unwrap().len();
        let limits = Limits {
            items_bytes: exact,
            ..Limits::default()
        };
        let (items, left) = bounded_items(&input(), keys(4, 10), &limits);
        assert_eq!((items.len(), left), (2, 2));
        assert!(serde_json::to_vec(&items).unwrap().len() <= exact);
        let limits = Limits {
            items_bytes: exact - 1,
            ..Limits::default()
        };
        assert_eq!(bounded_items(&input(), keys(4, 10), &limits).0.len(), 1);
    }
}
