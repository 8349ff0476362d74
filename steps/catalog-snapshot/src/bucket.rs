//! What the snapshot bucket holds and how it is locked: one listing and the Object Lock
//! configuration, reduced to the facts the catalog keeps.

use aws_sdk_s3::Client;
use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use kit::AwsFailure;

use crate::CatalogSnapshotError;

/// The bucket's default retention period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// `Days` of the default retention.
    Days(u32),
    /// `Years` of the default retention.
    Years(u32),
}

impl Period {
    /// The period in seconds. A year counts 365 days: never later than a calendar year, so the
    /// date derived from it is one the objects are locked until at least (a leap day only makes
    /// S3's own date later).
    pub fn seconds(self) -> i64 {
        match self {
            Period::Days(d) => i64::from(d) * 86_400,
            Period::Years(y) => i64::from(y) * 365 * 86_400,
        }
    }
}

/// The bucket's default retention: the rule S3 applies to every new object version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultRetention {
    /// `GOVERNANCE` or `COMPLIANCE`.
    pub mode: String,
    /// How long each version is locked from its creation.
    pub period: Period,
}

/// The current object versions of the bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Contents {
    /// Objects listed.
    pub objects: u64,
    /// Their bytes.
    pub bytes: u64,
    /// The oldest LastModified, in whole seconds; none in an empty bucket.
    pub oldest_secs: Option<i64>,
    /// The newest LastModified, in whole seconds (logged: when the last lock lapses).
    pub newest_secs: Option<i64>,
    /// ListObjectsV2 pages read.
    pub pages: u64,
}

fn not_found(bucket: &str) -> impl Fn(AwsFailure) -> CatalogSnapshotError + '_ {
    move |f| match f {
        AwsFailure::Service(s) if s.is("NoSuchBucket") => CatalogSnapshotError::SnapshotNotFound {
            bucket: bucket.to_owned(),
        },
        other => other.into(),
    }
}

/// The bucket's default retention, `None` when it has no Object Lock configuration or no
/// default rule (or a rule without a period, which S3 does not accept but an emulator might).
pub async fn default_retention(
    s3: &Client,
    bucket: &str,
) -> Result<Option<DefaultRetention>, CatalogSnapshotError> {
    let out = match s3
        .get_object_lock_configuration()
        .bucket(bucket)
        .send()
        .await
    {
        Ok(out) => out,
        Err(e) => {
            return match kit::classify("GetObjectLockConfiguration", e) {
                AwsFailure::Service(s) if s.is("ObjectLockConfigurationNotFoundError") => Ok(None),
                other => Err(not_found(bucket)(other)),
            };
        }
    };
    let Some(d) = out
        .object_lock_configuration()
        .and_then(|c| c.rule())
        .and_then(|r| r.default_retention())
    else {
        return Ok(None);
    };
    let Some(mode) = d.mode() else {
        return Ok(None);
    };
    // S3 takes exactly one of Days and Years, each at least 1.
    let positive = |n: Option<i32>| n.and_then(|n| u32::try_from(n).ok()).filter(|n| *n > 0);
    let period = match (positive(d.days()), positive(d.years())) {
        (Some(days), _) => Period::Days(days),
        (None, Some(years)) => Period::Years(years),
        (None, None) => return Ok(None),
    };
    Ok(Some(DefaultRetention {
        mode: mode.as_str().to_owned(),
        period,
    }))
}

/// Lists every current object version of `bucket` (1,000 a page).
pub async fn contents(s3: &Client, bucket: &str) -> Result<Contents, CatalogSnapshotError> {
    let mut c = Contents::default();
    let mut pages = s3.list_objects_v2().bucket(bucket).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| not_found(bucket)(kit::classify("ListObjectsV2", e)))?;
        c.pages += 1;
        for o in page.contents() {
            c.objects += 1;
            c.bytes += o.size().and_then(|s| u64::try_from(s).ok()).unwrap_or(0);
            if let Some(t) = o.last_modified() {
                // Whole seconds, rounded down: the retain-until date derived from the oldest
                // one is then never later than S3's own.
                let s = t.secs();
                c.oldest_secs = Some(c.oldest_secs.map_or(s, |o| o.min(s)));
                c.newest_secs = Some(c.newest_secs.map_or(s, |n| n.max(s)));
            }
        }
    }
    Ok(c)
}

/// `secs` plus `period` as RFC 3339 in UTC, whole seconds (`2021-04-30T12:00:00Z`); `None` past
/// the calendar's range.
pub fn plus_period(secs: i64, period: Period) -> Option<String> {
    let t = secs.checked_add(period.seconds())?;
    DateTime::from_secs(t).fmt(Format::DateTime).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_period_is_added_in_whole_days() {
        // 2021-03-31T12:00:00Z
        let t = 1_617_192_000;
        assert_eq!(
            plus_period(t, Period::Days(30)).as_deref(),
            Some("2021-04-30T12:00:00Z")
        );
        assert_eq!(
            plus_period(t, Period::Years(1)).as_deref(),
            Some("2022-03-31T12:00:00Z")
        );
        // Across a leap day a year of 365 days ends a day before the calendar's.
        assert_eq!(
            plus_period(1_577_836_800, Period::Years(1)).as_deref(),
            Some("2020-12-31T00:00:00Z"),
            "from 2020-01-01T00:00:00Z"
        );
        assert_eq!(plus_period(i64::MAX, Period::Days(1)), None);
    }
}
