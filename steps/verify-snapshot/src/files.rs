//! Whether the files a version references are in the snapshot with the sizes the log records.
//! Sizes already learnt are kept (per table) so that walking back one version only asks about
//! the files that version adds; a handful of unknown keys are asked with HeadObject, more with one
//! listing of the table's prefix (streamed, keeping only the keys asked about).

use std::collections::{BTreeMap, HashMap, HashSet};

use futures::{StreamExt, TryStreamExt};
use kit::AwsFailure;

use crate::VerifyError;
use crate::report::{FileKind, Missing, MissingFile};

/// Up to this many unknown keys are asked one by one (HeadObject); more cost one listing of the
/// table (⌈objects / 1000⌉ requests) instead.
pub const HEAD_LIMIT: usize = 50;
/// HeadObject requests in flight at once.
const HEAD_CONCURRENCY: usize = 16;
/// Missing files named in the record.
pub const MISSING_SAMPLES: usize = 10;

/// The sizes found so far for one table: key → size (`None`: not there).
#[derive(Debug, Default)]
pub(crate) struct Sizes {
    known: HashMap<String, Option<u64>>,
    /// Requests sent (HeadObject and ListObjectsV2).
    pub(crate) requests: u64,
}

impl Sizes {
    /// Learns the sizes of every key of `wanted` not yet known.
    pub(crate) async fn learn(
        &mut self,
        s3: &aws_sdk_s3::Client,
        bucket: &str,
        root: &str,
        wanted: &BTreeMap<String, u64>,
    ) -> Result<(), VerifyError> {
        let unknown = wanted
            .keys()
            .filter(|k| !self.known.contains_key(*k))
            .count();
        if unknown == 0 {
            return Ok(());
        }
        if unknown <= HEAD_LIMIT {
            let keys: Vec<String> = wanted
                .keys()
                .filter(|k| !self.known.contains_key(*k))
                .cloned()
                .collect();
            let found: Vec<(String, Option<u64>)> = futures::stream::iter(keys)
                .map(|k: String| async move { head(s3, bucket, k).await })
                .buffer_unordered(HEAD_CONCURRENCY)
                .try_collect()
                .await?;
            self.requests += found.len() as u64;
            self.known.extend(found);
            return Ok(());
        }
        // Borrowed from `wanted`: a version of a million files is not copied once more to ask.
        let mut asked: HashSet<&str> = wanted
            .keys()
            .filter(|k| !self.known.contains_key(*k))
            .map(String::as_str)
            .collect();
        let mut pages = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(root)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            self.requests += 1;
            let page = page.map_err(|e| VerifyError::from(kit::classify("ListObjectsV2", e)))?;
            self.absorb(
                page.contents()
                    .iter()
                    .filter_map(|o| Some((o.key()?, o.size()))),
                &mut asked,
            );
        }
        self.not_found(asked);
        Ok(())
    }

    /// The size found for `key` (`None`: not there, or not asked about yet).
    pub(crate) fn size_of(&self, key: &str) -> Option<u64> {
        self.known.get(key).copied().flatten()
    }

    /// Takes the sizes of the listed objects that were asked about.
    pub(crate) fn absorb<'a>(
        &mut self,
        objects: impl Iterator<Item = (&'a str, Option<i64>)>,
        asked: &mut HashSet<&str>,
    ) {
        for (k, size) in objects {
            if asked.remove(k) {
                let size = size.and_then(|s| u64::try_from(s).ok()).unwrap_or(0);
                self.known.insert(k.to_owned(), Some(size));
            }
        }
    }

    /// Records every key still asked about as not there (the listing is complete).
    pub(crate) fn not_found(&mut self, asked: HashSet<&str>) {
        for k in asked {
            self.known.insert(k.to_owned(), None);
        }
    }

    /// The files of `data` that are absent or of another size, and the deletion-vector files of
    /// `dvs` that are absent or shorter than their descriptors need (call [`Sizes::learn`] on
    /// both first).
    pub(crate) fn missing(
        &self,
        version: u64,
        data: &BTreeMap<String, u64>,
        dvs: &BTreeMap<String, u64>,
    ) -> Missing {
        let mut m = Missing {
            version: Some(version),
            ..Missing::default()
        };
        let data = data.iter().map(|(k, s)| (k, *s, FileKind::Data));
        let dvs = dvs.iter().map(|(k, s)| (k, *s, FileKind::DeletionVector));
        let mut bad: Vec<MissingFile> = Vec::new();
        for (k, expected, kind) in data.chain(dvs) {
            let found = self.known.get(k).copied().flatten();
            let ok = match kind {
                FileKind::Data => found == Some(expected),
                FileKind::DeletionVector => found.is_some_and(|f| f >= expected),
            };
            if !ok {
                m.count += 1;
                bad.push(MissingFile {
                    key: k.clone(),
                    kind,
                    expected_size: expected,
                    found_size: found,
                });
            }
        }
        bad.sort_by(|a, b| a.key.cmp(&b.key));
        bad.truncate(MISSING_SAMPLES);
        m.samples = bad;
        m
    }
}

async fn head(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: String,
) -> Result<(String, Option<u64>), VerifyError> {
    match s3.head_object().bucket(bucket).key(&key).send().await {
        Ok(o) => Ok((
            key,
            Some(
                o.content_length()
                    .and_then(|s| u64::try_from(s).ok())
                    .unwrap_or(0),
            ),
        )),
        Err(e) => match kit::classify("HeadObject", e) {
            // HeadObject has no body: a missing key is a bare 404.
            AwsFailure::Service(s)
                if s.is("NotFound") || s.is("NoSuchKey") || s.status == Some(404) =>
            {
                Ok((key, None))
            }
            other => Err(other.into()),
        },
    }
}
