//! Reading the snapshot catalog ([`crate::catalog`]) from the report bucket, once for
//! prune-snapshots and `lakevault snapshots` / `lakevault forget`: one `ListObjectsV2` with
//! delimiter `/` for the sources, one `ListObjectsV2` (paginated) per source folder, then one
//! `GetObject` per entry and per protection record, at most [`CONCURRENT_GETS`] at a time over
//! every source read together, each under [`MAX_FILE_BYTES`]. Nothing else is read: never a
//! snapshot bucket, never a `.deleted.json`'s body (its presence is the fact).
//!
//! What the catalog holds comes back as plain data; what to make of an unreadable file is the
//! caller's: prune-snapshots leaves a source with a bad entry alone, lakevault prints a warning.

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_sdk_s3::Client;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::catalog::{self, CATALOG_FORMAT, CatalogEntry, CatalogFile, ProtectionRecord};
use crate::error::{AwsFailure, Transient};
use crate::{Day, validate};

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

    /// `<prefix>/catalog/<source>/`: the folder of one source.
    pub fn source_prefix(&self, source: &str) -> String {
        catalog::source_prefix(&self.prefix, source)
    }

    /// `s3://bucket/<prefix>/catalog/<source>/`.
    pub fn source_url(&self, source: &str) -> String {
        format!("s3://{}/{}", self.bucket, self.source_prefix(source))
    }
}

/// What to do with the entry of a snapshot whose bucket is gone (a `.deleted.json` is there).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeletedSnapshots {
    /// Not read (nor its protection record): prune-snapshots acts on live snapshots only, and a
    /// year of deleted ones would be hundreds of `GetObject`s per run. The date is still in
    /// [`SourceCatalog::deleted`].
    Skip,
    /// Read like any other, and returned with [`Snapshot::deleted`] set (`lakevault snapshots`
    /// lists them).
    Read,
}

/// One snapshot as the catalog records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The entry's key.
    pub key: String,
    /// The entry: parsed and checked by [`parse_entry`] (of its key's source and date).
    pub entry: CatalogEntry,
    /// prune-snapshots' record of an extended lock, when there is one and it parses. It is not
    /// checked against the entry: a record of another bucket (`snapshot_bucket`) is the caller's
    /// to ignore.
    pub protection: Option<ProtectionRecord>,
    /// A `.deleted.json` is there: prune-snapshots deleted the snapshot bucket.
    pub deleted: bool,
}

impl Snapshot {
    /// When its protection lapses: the later of the entry's `retain_until` and its protection
    /// record's (prune only ever extends; a record of another bucket is ignored). `None`: no
    /// lock, or a locked empty bucket.
    pub fn protected_until(&self) -> Option<crate::unix_time::Secs> {
        use crate::unix_time::parse_rfc3339;
        let entry = self.entry.retain_until.as_deref().and_then(parse_rfc3339);
        let extended = self
            .protection
            .as_ref()
            .filter(|p| p.snapshot_bucket == self.entry.snapshot_bucket)
            .and_then(|p| parse_rfc3339(&p.retain_until));
        entry.max(extended)
    }
}

/// Why a catalog file could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Why {
    /// Listed, then deleted before it was read (`NoSuchKey`).
    #[error("gone since it was listed")]
    Gone,
    /// Longer than [`MAX_FILE_BYTES`]: no catalog file is that long; nothing of it was kept.
    #[error("longer than {limit} bytes: not a catalog file")]
    TooLarge {
        /// The cap, in bytes.
        limit: u64,
    },
    /// It does not parse, or it is an entry [`parse_entry`] refuses; the text says why.
    #[error("{0}")]
    Invalid(String),
}

/// A catalog file that could not be used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    /// Its key.
    pub key: String,
    /// The date its key names.
    pub date: Day,
    /// What its key names: an entry or a protection record.
    pub file: CatalogFile,
    /// Why.
    pub why: Why,
}

/// One source's catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceCatalog {
    /// The source bucket.
    pub source: String,
    /// Its snapshots with an entry that parses, oldest first (one per date); with
    /// [`DeletedSnapshots::Skip`] only those without a `.deleted.json`.
    pub snapshots: Vec<Snapshot>,
    /// Every date with a `.deleted.json` (its snapshot bucket is gone), oldest first.
    pub deleted: Vec<Day>,
    /// Files that could not be used, in key order.
    pub unreadable: Vec<Unreadable>,
}

/// The sources with a folder under `<prefix>/catalog/`, in name order: one listing with
/// delimiter `/`.
pub async fn sources(s3: &Client, at: &Location) -> Result<Vec<String>, AwsFailure> {
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
        let page = page.map_err(|e| crate::classify("ListObjectsV2", e))?;
        found.extend(
            page.common_prefixes()
                .iter()
                .filter_map(|cp| source_of(&root, cp.prefix()?)),
        );
    }
    found.sort();
    found.dedup();
    Ok(found)
}

/// The source a common prefix under `root` names, if it can be one: a folder whose name cannot be
/// a bucket's is someone else's.
fn source_of(root: &str, common_prefix: &str) -> Option<String> {
    let name = common_prefix.strip_prefix(root)?.strip_suffix('/')?;
    validate::bucket_name_problem(name)
        .is_none()
        .then(|| name.to_owned())
}

/// Parses an entry read from `source`'s folder for `date`. It must be of this catalog format, of
/// that source and date, and name a snapshot bucket of that date (every name create-bucket makes
/// ends in `-dd-mmm-yyyy`): an entry pointing at another date's bucket would have prune act on
/// the wrong snapshot.
pub fn parse_entry(source: &str, date: Day, bytes: &[u8]) -> Result<CatalogEntry, String> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let entry: CatalogEntry = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let e = crate::InvalidInput::from_serde(e);
        format!("not a catalog entry (at {}: {})", e.path, e.message)
    })?;
    if entry.format != CATALOG_FORMAT {
        return Err(format!(
            "catalog format {} (this version reads format {CATALOG_FORMAT})",
            entry.format
        ));
    }
    if entry.source_bucket != source || entry.backup_date != date {
        return Err(format!(
            "the entry is of {} on {}, not of its key's source and date",
            validate::quote(&entry.source_bucket),
            entry.backup_date
        ));
    }
    if let Some(why) = validate::bucket_name_problem(&entry.snapshot_bucket) {
        return Err(format!(
            "snapshot_bucket {} is not a bucket name: {why}",
            validate::quote(&entry.snapshot_bucket)
        ));
    }
    let suffix = format!("-{}", date.dd_mmm_yyyy());
    if !entry.snapshot_bucket.ends_with(&suffix) {
        return Err(format!(
            "snapshot_bucket {} is not a snapshot of {date} (no {suffix} at its end)",
            validate::quote(&entry.snapshot_bucket)
        ));
    }
    Ok(entry)
}

/// Reads one source's catalog folder.
pub async fn read_source(
    s3: &Client,
    at: &Location,
    source: &str,
    deleted: DeletedSnapshots,
) -> Result<SourceCatalog, AwsFailure> {
    let mut read = Box::pin(read(s3, at, &[source.to_owned()], deleted)).await?;
    // `read` answers one catalog per source asked for.
    Ok(read.pop().unwrap_or_else(|| SourceCatalog {
        source: source.to_owned(),
        snapshots: Vec::new(),
        deleted: Vec::new(),
        unreadable: Vec::new(),
    }))
}

/// Reads the catalog folders of `sources` (each once, in name order), their `GetObject`s sharing
/// one bound of [`CONCURRENT_GETS`]. A source without a folder has an empty catalog. The first
/// AWS error ends the read (the reads still in flight are aborted).
pub async fn read(
    s3: &Client,
    at: &Location,
    sources: &[String],
    deleted: DeletedSnapshots,
) -> Result<Vec<SourceCatalog>, AwsFailure> {
    let mut names = sources.to_vec();
    names.sort();
    names.dedup();
    let mut listed = Vec::with_capacity(names.len());
    for source in names {
        let files = list_source(s3, at, &source).await?;
        tracing::debug!(source = %source, dates = files.len(), "catalog listed");
        listed.push((source, files));
    }

    let permits = Arc::new(Semaphore::new(CONCURRENT_GETS));
    let mut set = JoinSet::new();
    for (i, (_, files)) in listed.iter().enumerate() {
        for (date, file, key) in wanted(files, deleted) {
            let (s3, bucket, permits) = (s3.clone(), at.bucket.clone(), permits.clone());
            set.spawn(async move {
                // The semaphore is never closed; without a permit the read would only be unbounded.
                let _permit = permits.acquire_owned().await;
                let got = get(&s3, &bucket, &key).await;
                (i, Fetched { date, file, key }, got)
            });
        }
    }
    let mut got: Vec<Vec<(Fetched, Got)>> = listed.iter().map(|_| Vec::new()).collect();
    while let Some(done) = set.join_next().await {
        let (i, fetched, g) = match done {
            Ok(d) => d,
            // A panic in a read is a bug: it goes on as the panic it is, not as a retryable error.
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => {
                return Err(AwsFailure::Transient(Transient {
                    operation: "GetObject".to_owned(),
                    detail: format!("a read of the catalog did not finish: {e}"),
                }));
            }
        };
        if let Some(slot) = got.get_mut(i) {
            slot.push((fetched, g?));
        }
    }
    Ok(listed
        .into_iter()
        .zip(got)
        .map(|((source, files), got)| assemble(source, &files, got))
        .collect())
}

/// The keys of one source's catalog on one date.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Files {
    entry: Option<String>,
    protection: Option<String>,
    deleted: bool,
}

/// Sorts the keys of a source's folder by date and file; anything else in the folder is someone
/// else's and is ignored.
fn group<'a>(folder: &str, keys: impl IntoIterator<Item = &'a str>) -> BTreeMap<Day, Files> {
    let mut by_date: BTreeMap<Day, Files> = BTreeMap::new();
    for key in keys {
        let Some((date, file)) = catalog::parse_key(folder, key) else {
            continue;
        };
        let f = by_date.entry(date).or_default();
        match file {
            CatalogFile::Entry => f.entry = Some(key.to_owned()),
            CatalogFile::Protection => f.protection = Some(key.to_owned()),
            CatalogFile::Deleted => f.deleted = true,
        }
    }
    by_date
}

async fn list_source(
    s3: &Client,
    at: &Location,
    source: &str,
) -> Result<BTreeMap<Day, Files>, AwsFailure> {
    let folder = at.source_prefix(source);
    let mut pages = s3
        .list_objects_v2()
        .bucket(&at.bucket)
        .prefix(&folder)
        .into_paginator()
        .send();
    let mut keys = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| crate::classify("ListObjectsV2", e))?;
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key())
                .map(str::to_owned),
        );
    }
    Ok(group(&folder, keys.iter().map(String::as_str)))
}

/// The files to read: each date's entry, and its protection record when there is an entry (a
/// record without one protects nothing the catalog knows of).
fn wanted(
    files: &BTreeMap<Day, Files>,
    deleted: DeletedSnapshots,
) -> Vec<(Day, CatalogFile, String)> {
    let mut out = Vec::new();
    for (date, f) in files {
        let Some(entry) = &f.entry else { continue };
        if f.deleted && deleted == DeletedSnapshots::Skip {
            continue;
        }
        out.push((*date, CatalogFile::Entry, entry.clone()));
        if let Some(p) = &f.protection {
            out.push((*date, CatalogFile::Protection, p.clone()));
        }
    }
    out
}

/// Which file one `GetObject` was for.
#[derive(Debug)]
struct Fetched {
    date: Day,
    file: CatalogFile,
    key: String,
}

/// What one `GetObject` brought back.
#[derive(Debug)]
enum Got {
    Bytes(Vec<u8>),
    Unusable(Why),
}

async fn get(s3: &Client, bucket: &str, key: &str) -> Result<Got, AwsFailure> {
    let got = match s3.get_object().bucket(bucket).key(key).send().await {
        Ok(g) => g,
        Err(e) => {
            return match crate::classify("GetObject", e) {
                AwsFailure::Service(f) if f.is("NoSuchKey") => Ok(Got::Unusable(Why::Gone)),
                other => Err(other),
            };
        }
    };
    let deadline = crate::clients::body_deadline(s3.config().timeout_config());
    match crate::body::read_capped(got.body, got.content_length, MAX_FILE_BYTES, deadline).await {
        Ok(b) => Ok(Got::Bytes(b)),
        Err(crate::body::CappedReadError::TooLarge { limit }) => {
            Ok(Got::Unusable(Why::TooLarge { limit }))
        }
        Err(crate::body::CappedReadError::Stream(detail)) => {
            Err(AwsFailure::Transient(Transient {
                operation: "GetObject".to_owned(),
                detail: format!("reading s3://{bucket}/{key}: {detail}"),
            }))
        }
    }
}

/// One source's catalog from its listing and what its reads brought back (in any order).
fn assemble(
    source: String,
    files: &BTreeMap<Day, Files>,
    got: Vec<(Fetched, Got)>,
) -> SourceCatalog {
    let mut entries: BTreeMap<Day, (String, CatalogEntry)> = BTreeMap::new();
    let mut protections: BTreeMap<Day, ProtectionRecord> = BTreeMap::new();
    let mut unreadable = Vec::new();
    for (Fetched { date, file, key }, g) in got {
        let bytes = match g {
            Got::Bytes(b) => b,
            Got::Unusable(why) => {
                unreadable.push(Unreadable {
                    key,
                    date,
                    file,
                    why,
                });
                continue;
            }
        };
        match file {
            CatalogFile::Entry => match parse_entry(&source, date, &bytes) {
                Ok(e) => {
                    entries.insert(date, (key, e));
                }
                Err(why) => unreadable.push(Unreadable {
                    key,
                    date,
                    file,
                    why: Why::Invalid(why),
                }),
            },
            CatalogFile::Protection => match serde_json::from_slice::<ProtectionRecord>(&bytes) {
                Ok(p) => {
                    protections.insert(date, p);
                }
                Err(e) => unreadable.push(Unreadable {
                    key,
                    date,
                    file,
                    why: Why::Invalid(format!("not a protection record ({e})")),
                }),
            },
            // Never read: `wanted` asks for entries and protection records only.
            CatalogFile::Deleted => {}
        }
    }
    unreadable.sort_by(|a, b| a.key.cmp(&b.key));
    let snapshots = entries
        .into_iter()
        .map(|(date, (key, entry))| Snapshot {
            key,
            entry,
            protection: protections.remove(&date),
            deleted: files.get(&date).is_some_and(|f| f.deleted),
        })
        .collect();
    let deleted = files
        .iter()
        .filter(|(_, f)| f.deleted)
        .map(|(d, _)| *d)
        .collect();
    SourceCatalog {
        source,
        snapshots,
        deleted,
        unreadable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{ObjectRef, Verdict};

    fn day(s: &str) -> Day {
        s.parse().unwrap()
    }

    fn entry(source: &str, date: &str) -> CatalogEntry {
        let d = day(date);
        CatalogEntry {
            format: CATALOG_FORMAT,
            source_bucket: source.into(),
            backup_date: d,
            snapshot_bucket: format!("{source}-{}", d.dd_mmm_yyyy()),
            job_id: "job".into(),
            verdict: Verdict::Complete,
            verification: None,
            good: true,
            objects: 1,
            bytes: 1,
            large_copies: 0,
            storage_class: "STANDARD".into(),
            lock_mode: None,
            retain_until: None,
            audit_record: ObjectRef {
                bucket: "r".into(),
                key: "k".into(),
            },
        }
    }

    fn bytes(e: &CatalogEntry) -> Vec<u8> {
        serde_json::to_vec(e).unwrap()
    }

    fn protection(bucket: &str) -> ProtectionRecord {
        ProtectionRecord {
            snapshot_bucket: bucket.into(),
            retain_until: "2021-05-01T00:00:00Z".into(),
            keep_class: "weekly".into(),
            object_versions: 3,
        }
    }

    #[test]
    fn an_entry_of_its_source_date_and_bucket_parses() {
        let e = entry("lake-prod", "2021-03-31");
        assert_eq!(e.snapshot_bucket, "lake-prod-31-mar-2021");
        assert_eq!(
            parse_entry("lake-prod", day("2021-03-31"), &bytes(&e)),
            Ok(e)
        );
    }

    #[test]
    fn an_entry_that_does_not_parse_names_the_field() {
        let why = parse_entry("lake", day("2021-03-31"), b"{\"format\": \"one\"}").unwrap_err();
        assert!(
            why.starts_with("not a catalog entry (at $.format: "),
            "{why}"
        );
        let why = parse_entry("lake", day("2021-03-31"), b"[1, 2]").unwrap_err();
        assert!(why.starts_with("not a catalog entry"), "{why}");
        let why = parse_entry("lake", day("2021-03-31"), b"\xff").unwrap_err();
        assert!(why.starts_with("not a catalog entry"), "{why}");
    }

    #[test]
    fn an_entry_of_another_format_is_refused() {
        let mut e = entry("lake", "2021-03-31");
        e.format = CATALOG_FORMAT + 1;
        let why = parse_entry("lake", day("2021-03-31"), &bytes(&e)).unwrap_err();
        assert_eq!(
            why,
            format!(
                "catalog format {} (this version reads format {CATALOG_FORMAT})",
                CATALOG_FORMAT + 1
            )
        );
    }

    #[test]
    fn an_entry_of_another_source_or_date_than_its_key_is_refused() {
        let e = entry("lake", "2021-03-31");
        let why = parse_entry("other", day("2021-03-31"), &bytes(&e)).unwrap_err();
        assert_eq!(
            why,
            "the entry is of \"lake\" on 2021-03-31, not of its key's source and date"
        );
        let why = parse_entry("lake", day("2021-03-30"), &bytes(&e)).unwrap_err();
        assert!(why.contains("not of its key's source and date"), "{why}");
        // A source name of a megabyte is quoted short.
        let mut long = entry("lake", "2021-03-31");
        long.source_bucket = "x".repeat(1_000_000);
        let why = parse_entry("lake", day("2021-03-31"), &bytes(&long)).unwrap_err();
        assert!(why.len() < 300, "{}", why.len());
    }

    #[test]
    fn an_entry_naming_another_dates_bucket_or_no_bucket_is_refused() {
        let mut e = entry("lake", "2021-03-31");
        e.snapshot_bucket = "lake-30-mar-2021".into();
        let why = parse_entry("lake", day("2021-03-31"), &bytes(&e)).unwrap_err();
        assert_eq!(
            why,
            "snapshot_bucket \"lake-30-mar-2021\" is not a snapshot of 2021-03-31 \
             (no -31-mar-2021 at its end)"
        );
        e.snapshot_bucket = "Lake_31-mar-2021".into();
        let why = parse_entry("lake", day("2021-03-31"), &bytes(&e)).unwrap_err();
        assert!(
            why.starts_with("snapshot_bucket \"Lake_31-mar-2021\" is not a bucket name: "),
            "{why}"
        );
    }

    #[test]
    fn the_locations_folders() {
        let at = Location {
            bucket: "reports".into(),
            prefix: "batch/".into(),
        };
        assert_eq!(at.catalog_prefix(), "batch/catalog/");
        assert_eq!(at.source_prefix("lake"), "batch/catalog/lake/");
        assert_eq!(at.source_url("lake"), "s3://reports/batch/catalog/lake/");
        let bare = Location {
            bucket: "reports".into(),
            prefix: String::new(),
        };
        assert_eq!(bare.catalog_prefix(), "catalog/");
        assert_eq!(bare.source_url("lake"), "s3://reports/catalog/lake/");
    }

    #[test]
    fn only_folders_named_like_buckets_are_sources() {
        let root = "r/catalog/";
        assert_eq!(
            source_of(root, "r/catalog/lake-prod/"),
            Some("lake-prod".into())
        );
        assert_eq!(source_of(root, "r/catalog/Not_A_Bucket/"), None);
        assert_eq!(source_of(root, "r/catalog/x/"), None, "too short a name");
        assert_eq!(source_of(root, "elsewhere/lake/"), None);
        assert_eq!(source_of(root, "r/catalog/lake"), None);
    }

    #[test]
    fn keys_are_grouped_by_date_and_foreign_ones_ignored() {
        let folder = "r/catalog/lake/";
        let files = group(
            folder,
            [
                "r/catalog/lake/2021-03-30.json",
                "r/catalog/lake/2021-03-30.protection.json",
                "r/catalog/lake/2021-03-31.json",
                "r/catalog/lake/2021-03-31.deleted.json",
                "r/catalog/lake/2021-04-01.protection.json",
                "r/catalog/lake/notes.txt",
                "r/catalog/lake/2021-13-01.json",
            ],
        );
        assert_eq!(files.len(), 3);
        assert_eq!(
            files[&day("2021-03-30")],
            Files {
                entry: Some("r/catalog/lake/2021-03-30.json".into()),
                protection: Some("r/catalog/lake/2021-03-30.protection.json".into()),
                deleted: false,
            }
        );
        assert!(files[&day("2021-03-31")].deleted);
        assert_eq!(files[&day("2021-04-01")].entry, None);

        let keys = |d| {
            wanted(&files, d)
                .into_iter()
                .map(|(_, _, k)| k)
                .collect::<Vec<_>>()
        };
        // A protection record without an entry is never read; a deleted snapshot only when asked.
        assert_eq!(
            keys(DeletedSnapshots::Skip),
            [
                "r/catalog/lake/2021-03-30.json",
                "r/catalog/lake/2021-03-30.protection.json"
            ]
        );
        assert_eq!(
            keys(DeletedSnapshots::Read),
            [
                "r/catalog/lake/2021-03-30.json",
                "r/catalog/lake/2021-03-30.protection.json",
                "r/catalog/lake/2021-03-31.json"
            ]
        );
    }

    fn fetched(date: &str, file: CatalogFile) -> Fetched {
        let d = day(date);
        Fetched {
            date: d,
            file,
            key: catalog::key("r", "lake", d, file),
        }
    }

    #[test]
    fn reads_are_assembled_per_date_with_what_could_not_be_used() {
        let folder = "r/catalog/lake/";
        let listed: Vec<String> = [
            ("2021-03-28", CatalogFile::Entry),
            ("2021-03-29", CatalogFile::Entry),
            ("2021-03-29", CatalogFile::Protection),
            ("2021-03-30", CatalogFile::Entry),
            ("2021-03-30", CatalogFile::Protection),
            ("2021-03-31", CatalogFile::Entry),
            ("2021-03-31", CatalogFile::Deleted),
            ("2021-04-01", CatalogFile::Entry),
            ("2021-04-02", CatalogFile::Entry),
        ]
        .into_iter()
        .map(|(d, f)| catalog::key("r", "lake", day(d), f))
        .collect();
        let files = group(folder, listed.iter().map(String::as_str));
        let mut wrong_source = entry("other", "2021-04-01");
        wrong_source.snapshot_bucket = "lake-01-apr-2021".into();
        // In any order, as the reads finish.
        let got = vec![
            (
                fetched("2021-04-02", CatalogFile::Entry),
                Got::Unusable(Why::Gone),
            ),
            (
                fetched("2021-03-30", CatalogFile::Protection),
                Got::Bytes(b"{}".to_vec()),
            ),
            (
                fetched("2021-03-29", CatalogFile::Protection),
                Got::Bytes(serde_json::to_vec(&protection("elsewhere")).unwrap()),
            ),
            (
                fetched("2021-03-31", CatalogFile::Entry),
                Got::Bytes(bytes(&entry("lake", "2021-03-31"))),
            ),
            (
                fetched("2021-03-28", CatalogFile::Entry),
                Got::Unusable(Why::TooLarge {
                    limit: MAX_FILE_BYTES,
                }),
            ),
            (
                fetched("2021-04-01", CatalogFile::Entry),
                Got::Bytes(bytes(&wrong_source)),
            ),
            (
                fetched("2021-03-30", CatalogFile::Entry),
                Got::Bytes(bytes(&entry("lake", "2021-03-30"))),
            ),
            (
                fetched("2021-03-29", CatalogFile::Entry),
                Got::Bytes(bytes(&entry("lake", "2021-03-29"))),
            ),
        ];
        let c = assemble("lake".into(), &files, got);
        assert_eq!(c.source, "lake");
        let dates: Vec<(Day, bool)> = c
            .snapshots
            .iter()
            .map(|s| (s.entry.backup_date, s.deleted))
            .collect();
        assert_eq!(
            dates,
            [
                (day("2021-03-29"), false),
                (day("2021-03-30"), false),
                (day("2021-03-31"), true)
            ]
        );
        assert_eq!(c.snapshots[0].key, "r/catalog/lake/2021-03-29.json");
        // A record of another bucket is returned as it is: the caller decides.
        assert_eq!(c.snapshots[0].protection, Some(protection("elsewhere")));
        assert_eq!(c.snapshots[1].protection, None);
        assert_eq!(c.deleted, [day("2021-03-31")]);
        let bad: Vec<(&str, CatalogFile, String)> = c
            .unreadable
            .iter()
            .map(|u| (u.key.as_str(), u.file, u.why.to_string()))
            .collect();
        assert_eq!(bad.len(), 4, "{bad:?}");
        assert_eq!(
            bad[0],
            (
                "r/catalog/lake/2021-03-28.json",
                CatalogFile::Entry,
                "longer than 1048576 bytes: not a catalog file".to_owned()
            )
        );
        assert_eq!(bad[1].0, "r/catalog/lake/2021-03-30.protection.json");
        assert!(
            bad[1].2.starts_with("not a protection record ("),
            "{}",
            bad[1].2
        );
        assert_eq!(bad[2].0, "r/catalog/lake/2021-04-01.json");
        assert!(
            bad[2].2.contains("not of its key's source and date"),
            "{}",
            bad[2].2
        );
        assert_eq!(
            bad[3],
            (
                "r/catalog/lake/2021-04-02.json",
                CatalogFile::Entry,
                "gone since it was listed".to_owned()
            )
        );
        assert_eq!(c.unreadable[3].date, day("2021-04-02"));
    }
}
