//! Reading the snapshot catalog from the report bucket, through `kit::catalog_read` (the reader
//! prune-snapshots uses too): one `ListObjectsV2` (paginated) per source folder, one `GetObject`
//! per entry and per protection record, at most [`CONCURRENT_GETS`] at a time. Nothing else is
//! read: never a snapshot bucket, never a tag.

use std::collections::BTreeMap;

use aws_sdk_s3::Client;
use kit::catalog_read::{self, DeletedSnapshots};

pub use kit::catalog_read::{CONCURRENT_GETS, Location, MAX_FILE_BYTES, Snapshot, parse_entry};

use crate::error::CommandError;

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
    /// Files skipped (an entry or a protection record that does not parse), in key order.
    pub unreadable: Vec<Unreadable>,
}

/// The sources with a folder under `<prefix>/catalog/`: one listing with delimiter `/`.
pub async fn sources(s3: &Client, at: &Location) -> Result<Vec<String>, CommandError> {
    catalog_read::sources(s3, at)
        .await
        .map_err(CommandError::Aws)
}

/// Reads the catalog of `only` (one source) or of every source found under the prefix. The
/// snapshots prune-snapshots deleted are read too: the listing shows them as `deleted`.
pub async fn read(s3: &Client, at: &Location, only: Option<&str>) -> Result<Catalog, CommandError> {
    let names = match only {
        Some(s) => vec![s.to_owned()],
        None => sources(s3, at).await?,
    };
    let read = catalog_read::read(s3, at, &names, DeletedSnapshots::Read)
        .await
        .map_err(CommandError::Aws)?;
    let mut catalog = Catalog::default();
    for c in read {
        catalog
            .unreadable
            .extend(c.unreadable.into_iter().map(|u| Unreadable {
                key: u.key,
                why: u.why.to_string(),
            }));
        catalog.sources.insert(c.source, c.snapshots);
    }
    catalog.unreadable.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(catalog)
}
