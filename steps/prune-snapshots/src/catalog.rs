//! Reading one source's catalog (`kit::catalog`): one `ListObjectsV2` (paginated) of its folder,
//! one `GetObject` per entry and per protection record, [`CONCURRENT_GETS`] at a time. A
//! `.deleted.json` is only noted (its snapshot is gone; its entry is not read).

use std::collections::BTreeMap;

use aws_sdk_s3::Client;
use futures::stream::{self, StreamExt, TryStreamExt};
use kit::catalog::{self, CATALOG_FORMAT, CatalogEntry, CatalogFile, ProtectionRecord};
use kit::{AwsFailure, Day, Transient};

/// `GetObject`s in flight at once.
pub const CONCURRENT_GETS: usize = 16;

/// The most bytes read of one catalog file: an entry lists at most 100 tables by name, a few
/// tens of KiB; anything much larger is not an entry.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// One snapshot as the catalog records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The entry's key.
    pub key: String,
    /// The entry.
    pub entry: CatalogEntry,
    /// prune-snapshots' record of an extended lock, when there is one of this snapshot bucket
    /// (a record of another bucket, or one that does not parse, is ignored: at worst the lock is
    /// checked and the record written again).
    pub protection: Option<ProtectionRecord>,
}

/// One source's catalog.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceCatalog {
    /// The snapshots without a `.deleted.json`, oldest first.
    pub snapshots: Vec<Snapshot>,
    /// Dates with a `.deleted.json` (and an entry): their buckets are gone.
    pub deleted: Vec<Day>,
    /// Entries that cannot be trusted, as `key: why` (the source is then left alone).
    pub invalid: Vec<String>,
}

/// The sources with a folder under `<prefix>/catalog/`: one listing with delimiter `/`.
pub async fn sources(s3: &Client, bucket: &str, prefix: &str) -> Result<Vec<String>, AwsFailure> {
    let p = prefix.trim_end_matches('/');
    let root = if p.is_empty() {
        "catalog/".to_owned()
    } else {
        format!("{p}/catalog/")
    };
    let mut pages = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(&root)
        .delimiter("/")
        .into_paginator()
        .send();
    let mut found = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| kit::classify("ListObjectsV2", e))?;
        for cp in page.common_prefixes() {
            let Some(name) = cp
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

#[derive(Debug, Default)]
struct Files {
    entry: Option<String>,
    protection: Option<String>,
    deleted: bool,
}

/// What one `GetObject` brought back.
enum Got {
    Bytes(Vec<u8>),
    /// Deleted since it was listed.
    Gone,
    TooLarge(u64),
}

async fn get(s3: &Client, bucket: &str, key: &str) -> Result<Got, AwsFailure> {
    let got = match s3.get_object().bucket(bucket).key(key).send().await {
        Ok(g) => g,
        Err(e) => {
            return match kit::classify("GetObject", e) {
                AwsFailure::Service(f) if f.is("NoSuchKey") => Ok(Got::Gone),
                other => Err(other),
            };
        }
    };
    let deadline = kit::clients::body_deadline(s3.config().timeout_config());
    match kit::body::read_capped(got.body, got.content_length, MAX_FILE_BYTES, deadline).await {
        Ok(b) => Ok(Got::Bytes(b)),
        Err(kit::body::CappedReadError::TooLarge { limit }) => Ok(Got::TooLarge(limit)),
        Err(kit::body::CappedReadError::Stream(detail)) => Err(AwsFailure::Transient(Transient {
            operation: "GetObject".to_owned(),
            detail: format!("reading s3://{bucket}/{key}: {detail}"),
        })),
    }
}

/// Parses an entry read from `source`'s folder for `date`. It must be of this catalog format, of
/// that source and date, and name a snapshot bucket of that date (every name create-bucket makes
/// ends in `-dd-mmm-yyyy`): an entry pointing at another date's bucket would have prune act on
/// the wrong snapshot.
pub fn parse_entry(source: &str, date: Day, bytes: &[u8]) -> Result<CatalogEntry, String> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let entry: CatalogEntry = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let e = kit::InvalidInput::from_serde(e);
        format!("not a catalog entry (at {}: {})", e.path, e.message)
    })?;
    if entry.format != CATALOG_FORMAT {
        return Err(format!(
            "catalog format {} (this step reads format {CATALOG_FORMAT})",
            entry.format
        ));
    }
    if entry.source_bucket != source || entry.backup_date != date {
        return Err(format!(
            "the entry is of {} on {}, not of its key's source and date",
            entry.source_bucket, entry.backup_date
        ));
    }
    if let Some(why) = kit::validate::bucket_name_problem(&entry.snapshot_bucket) {
        return Err(format!(
            "snapshot_bucket {} is not a bucket name: {why}",
            kit::validate::quote(&entry.snapshot_bucket)
        ));
    }
    let suffix = format!("-{}", date.dd_mmm_yyyy());
    if !entry.snapshot_bucket.ends_with(&suffix) {
        return Err(format!(
            "snapshot_bucket {} is not a snapshot of {date} (no {suffix} at its end)",
            kit::validate::quote(&entry.snapshot_bucket)
        ));
    }
    Ok(entry)
}

/// Reads `source`'s catalog folder.
pub async fn read_source(
    s3: &Client,
    bucket: &str,
    prefix: &str,
    source: &str,
) -> Result<SourceCatalog, AwsFailure> {
    let folder = catalog::source_prefix(prefix, source);
    let mut pages = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(&folder)
        .into_paginator()
        .send();
    let mut by_date: BTreeMap<Day, Files> = BTreeMap::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| kit::classify("ListObjectsV2", e))?;
        for o in page.contents() {
            let Some(key) = o.key() else { continue };
            // Anything else in the folder is someone else's and is ignored.
            let Some((date, file)) = catalog::parse_key(&folder, key) else {
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

    let mut out = SourceCatalog::default();
    let mut wanted = Vec::new();
    for (date, f) in &by_date {
        let Some(entry_key) = &f.entry else { continue };
        if f.deleted {
            out.deleted.push(*date);
            continue;
        }
        wanted.push((*date, CatalogFile::Entry, entry_key.clone()));
        if let Some(p) = &f.protection {
            wanted.push((*date, CatalogFile::Protection, p.clone()));
        }
    }
    let got: Vec<(Day, CatalogFile, String, Got)> = stream::iter(wanted)
        .map(|(date, file, key)| async move {
            let g = get(s3, bucket, &key).await?;
            Ok::<_, AwsFailure>((date, file, key, g))
        })
        .buffer_unordered(CONCURRENT_GETS)
        .try_collect()
        .await?;

    let mut entries: BTreeMap<Day, (String, CatalogEntry)> = BTreeMap::new();
    let mut protections: BTreeMap<Day, ProtectionRecord> = BTreeMap::new();
    for (date, file, key, g) in got {
        let bytes = match g {
            Got::Bytes(b) => b,
            Got::Gone => continue,
            Got::TooLarge(limit) => {
                if file == CatalogFile::Entry {
                    out.invalid.push(format!(
                        "{key}: longer than {limit} bytes: not a catalog entry"
                    ));
                }
                continue;
            }
        };
        match file {
            CatalogFile::Entry => match parse_entry(source, date, &bytes) {
                Ok(e) => {
                    entries.insert(date, (key, e));
                }
                Err(why) => out.invalid.push(format!("{key}: {why}")),
            },
            CatalogFile::Protection => match serde_json::from_slice::<ProtectionRecord>(&bytes) {
                Ok(p) => {
                    protections.insert(date, p);
                }
                Err(e) => {
                    tracing::warn!(key = %key, error = %e, "protection record ignored: it does not parse");
                }
            },
            CatalogFile::Deleted => {}
        }
    }
    out.invalid.sort();
    for (date, (key, entry)) in entries {
        let protection = protections
            .remove(&date)
            .filter(|p| p.snapshot_bucket == entry.snapshot_bucket);
        out.snapshots.push(Snapshot {
            key,
            entry,
            protection,
        });
    }
    Ok(out)
}
