//! Reading the snapshot catalog (`kit::catalog`) from the report bucket: one `ListObjectsV2`
//! (paginated) per source folder, one `GetObject` per entry and per protection record, at most
//! [`CONCURRENT_GETS`] at a time. Nothing else is read: never a snapshot bucket, never a tag.

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_sdk_s3::Client;
use kit::catalog::{self, CATALOG_FORMAT, CatalogEntry, CatalogFile, ProtectionRecord};
use kit::error::Transient;
use kit::{AwsFailure, Day};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::error::CommandError;

/// How many `GetObject`s are in flight at once: enough to read a year of entries of a source in
/// a few seconds, few enough not to be throttled.
pub const CONCURRENT_GETS: usize = 16;

/// The most bytes read of one catalog file. An entry lists at most 100 tables by name, a few tens
/// of KiB; anything much larger is not an entry.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Where the catalog lives: the report bucket and prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The report bucket.
    pub bucket: String,
    /// The report prefix (`reports`; may be empty).
    pub prefix: String,
}

impl Location {
    /// `<prefix>/catalog/` (or `catalog/` for an empty prefix).
    pub fn catalog_prefix(&self) -> String {
        let p = self.prefix.trim_end_matches('/');
        if p.is_empty() {
            "catalog/".to_owned()
        } else {
            format!("{p}/catalog/")
        }
    }

    /// `s3://bucket/<prefix>/catalog/<source>/`.
    pub fn source_url(&self, source: &str) -> String {
        format!(
            "s3://{}/{}",
            self.bucket,
            catalog::source_prefix(&self.prefix, source)
        )
    }
}

/// One snapshot as the catalog records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The entry's key.
    pub key: String,
    /// The entry.
    pub entry: CatalogEntry,
    /// prune-snapshots' record of an extended lock, when there is one (and it is readable).
    pub protection: Option<ProtectionRecord>,
    /// A `.deleted.json` is there: prune-snapshots deleted the snapshot bucket.
    pub deleted: bool,
}

/// A catalog file that could not be used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    /// Its key.
    pub key: String,
    /// Why.
    pub why: String,
}

/// What the catalog holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalog {
    /// Per source, its snapshots, oldest first.
    pub sources: BTreeMap<String, Vec<Snapshot>>,
    /// Files skipped (an entry or a protection record that does not parse).
    pub unreadable: Vec<Unreadable>,
}

/// The sources with a folder under `<prefix>/catalog/`: one listing with delimiter `/`.
pub async fn sources(s3: &Client, at: &Location) -> Result<Vec<String>, CommandError> {
    let root = at.catalog_prefix();
    let mut pages = s3
        .list_objects_v2()
        .bucket(&at.bucket)
        .prefix(&root)
        .delimiter("/")
        .into_paginator()
        .send();
    let mut found = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| CommandError::Aws(kit::classify("ListObjectsV2", e)))?;
        for p in page.common_prefixes() {
            let Some(name) = p
                .prefix()
                .and_then(|p| p.strip_prefix(root.as_str()))
                .and_then(|p| p.strip_suffix('/'))
            else {
                continue;
            };
            // A folder that cannot be a bucket's name is not a source's: someone else's.
            if kit::validate::bucket_name_problem(name).is_none() {
                found.push(name.to_owned());
            }
        }
    }
    found.sort();
    found.dedup();
    Ok(found)
}

/// The keys of one source's catalog, per date.
#[derive(Debug, Default)]
struct Files {
    entry: Option<String>,
    protection: Option<String>,
    deleted: bool,
}

async fn list_source(
    s3: &Client,
    at: &Location,
    source: &str,
) -> Result<BTreeMap<Day, Files>, CommandError> {
    let prefix = catalog::source_prefix(&at.prefix, source);
    let mut pages = s3
        .list_objects_v2()
        .bucket(&at.bucket)
        .prefix(&prefix)
        .into_paginator()
        .send();
    let mut by_date: BTreeMap<Day, Files> = BTreeMap::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| CommandError::Aws(kit::classify("ListObjectsV2", e)))?;
        for o in page.contents() {
            let Some(key) = o.key() else { continue };
            // Anything else in the folder is someone else's and is ignored.
            let Some((date, file)) = catalog::parse_key(&prefix, key) else {
                continue;
            };
            let f = by_date.entry(date).or_default();
            match file {
                CatalogFile::Entry => f.entry = Some(key.to_owned()),
                CatalogFile::Protection => f.protection = Some(key.to_owned()),
                CatalogFile::Deleted => f.deleted = true,
            }
        }
    }
    Ok(by_date)
}

/// What one `GetObject` brought back.
enum Got {
    Bytes(Vec<u8>),
    Unreadable(String),
}

async fn get(s3: &Client, bucket: &str, key: &str) -> Result<Got, CommandError> {
    let got = match s3.get_object().bucket(bucket).key(key).send().await {
        Ok(g) => g,
        Err(e) => {
            return match kit::classify("GetObject", e) {
                // Deleted between the listing and the read: nothing to show.
                AwsFailure::Service(f) if f.is("NoSuchKey") => {
                    Ok(Got::Unreadable("gone since it was listed".to_owned()))
                }
                other => Err(CommandError::Aws(other)),
            };
        }
    };
    let deadline = kit::clients::body_deadline(s3.config().timeout_config());
    match kit::body::read_capped(got.body, got.content_length, MAX_FILE_BYTES, deadline).await {
        Ok(b) => Ok(Got::Bytes(b)),
        Err(kit::body::CappedReadError::TooLarge { limit }) => Ok(Got::Unreadable(format!(
            "longer than {limit} bytes: not a catalog file"
        ))),
        Err(kit::body::CappedReadError::Stream(detail)) => {
            Err(CommandError::Aws(AwsFailure::Transient(Transient {
                operation: "GetObject".to_owned(),
                detail: format!("reading s3://{bucket}/{key}: {detail}"),
            })))
        }
    }
}

/// Parses an entry read from `key` of `source`'s folder for `date`: it must be of this catalog
/// format and of that source and date.
pub fn parse_entry(source: &str, date: Day, bytes: &[u8]) -> Result<CatalogEntry, String> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let entry: CatalogEntry = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let e = kit::InvalidInput::from_serde(e);
        format!("not a catalog entry (at {}: {})", e.path, e.message)
    })?;
    if entry.format != CATALOG_FORMAT {
        return Err(format!(
            "catalog format {} (this lakevault reads format {CATALOG_FORMAT})",
            entry.format
        ));
    }
    if entry.source_bucket != source || entry.backup_date != date {
        return Err(format!(
            "the entry is of {} on {}, not of its key's source and date",
            entry.source_bucket, entry.backup_date
        ));
    }
    Ok(entry)
}

/// Reads the catalog of `only` (one source) or of every source found under the prefix.
pub async fn read(s3: &Client, at: &Location, only: Option<&str>) -> Result<Catalog, CommandError> {
    let names = match only {
        Some(s) => vec![s.to_owned()],
        None => sources(s3, at).await?,
    };
    let mut listed = Vec::new();
    for source in names {
        let files = list_source(s3, at, &source).await?;
        tracing::debug!(source = %source, dates = files.len(), "catalog listed");
        listed.push((source, files));
    }

    // Every GET in one set, bounded by a semaphore; an AWS error ends the command (the set is
    // dropped, which aborts the rest).
    let permits = Arc::new(Semaphore::new(CONCURRENT_GETS));
    let mut set = JoinSet::new();
    for (i, (_, files)) in listed.iter().enumerate() {
        for (date, f) in files {
            for (key, file) in [
                (&f.entry, CatalogFile::Entry),
                (&f.protection, CatalogFile::Protection),
            ] {
                let Some(key) = key.clone() else { continue };
                if file == CatalogFile::Protection && f.entry.is_none() {
                    continue;
                }
                let (s3, bucket, permits, date) =
                    (s3.clone(), at.bucket.clone(), permits.clone(), *date);
                set.spawn(async move {
                    let _permit = permits.acquire_owned().await;
                    let got = get(&s3, &bucket, &key).await;
                    (i, date, file, key, got)
                });
            }
        }
    }
    let mut entries: BTreeMap<(usize, Day), (String, CatalogEntry)> = BTreeMap::new();
    let mut protections: BTreeMap<(usize, Day), ProtectionRecord> = BTreeMap::new();
    let mut unreadable = Vec::new();
    while let Some(done) = set.join_next().await {
        let (i, date, file, key, got) = done.map_err(|e| {
            CommandError::Aws(AwsFailure::Transient(Transient {
                operation: "GetObject".to_owned(),
                detail: format!("a read of the catalog did not finish: {e}"),
            }))
        })?;
        let bytes = match got? {
            Got::Bytes(b) => b,
            Got::Unreadable(why) => {
                unreadable.push(Unreadable { key, why });
                continue;
            }
        };
        let source = &listed[i].0;
        match file {
            CatalogFile::Entry => match parse_entry(source, date, &bytes) {
                Ok(e) => {
                    entries.insert((i, date), (key, e));
                }
                Err(why) => unreadable.push(Unreadable { key, why }),
            },
            CatalogFile::Protection => match serde_json::from_slice::<ProtectionRecord>(&bytes) {
                Ok(p) => {
                    protections.insert((i, date), p);
                }
                Err(e) => unreadable.push(Unreadable {
                    key,
                    why: format!("not a protection record ({e})"),
                }),
            },
            CatalogFile::Deleted => {}
        }
    }
    unreadable.sort_by(|a, b| a.key.cmp(&b.key));

    let mut out = Catalog {
        sources: BTreeMap::new(),
        unreadable,
    };
    for (i, (source, files)) in listed.into_iter().enumerate() {
        let mut snapshots = Vec::new();
        for (date, f) in files {
            let Some((key, entry)) = entries.remove(&(i, date)) else {
                continue;
            };
            snapshots.push(Snapshot {
                key,
                entry,
                protection: protections.remove(&(i, date)),
                deleted: f.deleted,
            });
        }
        out.sources.insert(source, snapshots);
    }
    Ok(out)
}
