//! Reading one version of a table with Delta's reference reader (`delta_kernel` and its default
//! engine): the live files the version references and its protocol. The kernel never checks that
//! the files exist (that is [`crate::files`]' job); it does reject logs it cannot replay (a gap,
//! a missing checkpoint part or sidecar, an unsupported reader feature), and its error is quoted
//! as the table's finding. Its API is synchronous: callers run it on a blocking thread.

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use delta_kernel::Snapshot;
use delta_kernel::actions::deletion_vector::{DeletionVectorDescriptor, DeletionVectorStorageType};
use delta_kernel::engine_data::{FilteredRowVisitor, GetData, RowIndexIterator, TypedGetData as _};
use delta_kernel::expressions::ColumnName;
use delta_kernel::object_store::aws::AmazonS3Builder;
use delta_kernel::object_store::{ClientOptions, RetryConfig};
use delta_kernel::schema::DataType;
use delta_kernel_default_engine::DefaultEngine;
use delta_kernel_default_engine::executor::tokio::TokioBackgroundExecutor;
use percent_encoding::percent_decode_str;
use url::Url;

use crate::report::Protocol;

/// The engine for one snapshot bucket.
pub(crate) type Engine = DefaultEngine<TokioBackgroundExecutor>;

/// Where and how the engine's S3 store connects: the same endpoint the SDK uses.
#[derive(Debug, Clone)]
pub(crate) struct StoreSettings {
    /// The endpoint override (`None`: AWS).
    pub(crate) endpoint: Option<String>,
    /// The region.
    pub(crate) region: String,
    /// Access key id.
    pub(crate) access_key_id: String,
    /// Secret access key.
    pub(crate) secret_access_key: String,
    /// Session token, for temporary credentials (Lambda's).
    pub(crate) session_token: Option<String>,
    /// The SDK's timeouts, applied to the store too: a peer that never answers ends in bounded
    /// time, as it does for the SDK clients.
    pub(crate) timeouts: kit::clients::Timeouts,
}

/// Whether `endpoint` is a loopback URL: the only place plain HTTP is allowed.
pub(crate) fn is_loopback(endpoint: &str) -> bool {
    Url::parse(endpoint).is_ok_and(|u| match u.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    })
}

/// An engine reading `bucket` through the object store (path-style, the default).
pub(crate) fn engine(bucket: &str, s: &StoreSettings) -> Result<Engine, String> {
    let mut b = AmazonS3Builder::new()
        .with_bucket_name(bucket)
        .with_region(&s.region)
        .with_access_key_id(&s.access_key_id)
        .with_secret_access_key(&s.secret_access_key);
    if let Some(t) = &s.session_token {
        b = b.with_token(t);
    }
    b = b
        .with_client_options(
            ClientOptions::new()
                .with_connect_timeout(s.timeouts.connect)
                .with_timeout(s.timeouts.attempt),
        )
        .with_retry(RetryConfig {
            max_retries: 3,
            retry_timeout: s.timeouts.operation,
            ..RetryConfig::default()
        });
    if let Some(e) = &s.endpoint {
        b = b.with_endpoint(e).with_allow_http(is_loopback(e));
    }
    let store = b.build().map_err(|e| e.to_string())?;
    let store = crate::store::WithoutHint::new(Arc::new(store));
    Ok(delta_kernel_default_engine::DefaultEngineBuilder::new(Arc::new(store)).build())
}

/// The table URL the kernel is given: `s3://<bucket>/<root>`.
pub(crate) fn table_url(bucket: &str, root: &str) -> Result<Url, String> {
    Url::parse(&format!("s3://{bucket}/{root}")).map_err(|e| e.to_string())
}

/// One version as the kernel reads it.
#[derive(Debug)]
pub(crate) struct VersionFiles {
    /// Object key (table root + the decoded relative path) → size the log records.
    pub(crate) files: BTreeMap<String, u64>,
    /// Paths that do not resolve inside the table (absolute URIs: shallow clones).
    pub(crate) outside: Vec<String>,
    /// Deletion-vector files (object key → the least size the descriptors need).
    pub(crate) deletion_vectors: BTreeMap<String, u64>,
    /// Live files carrying a deletion vector (inline ones included).
    pub(crate) with_deletion_vectors: u64,
    /// The protocol at this version.
    pub(crate) protocol: Protocol,
    /// The log objects the kernel replayed for this version (object key → size as listed):
    /// the checkpoint's parts, the commits after it up to the version, and the version's own
    /// commit. Compaction files are left out (the commits they summarise are all listed too).
    pub(crate) log: BTreeMap<String, u64>,
    /// The checkpoint the replay started from (`None`: from commit 0).
    pub(crate) checkpoint_version: Option<u64>,
}

struct Visit {
    table: Url,
    root: String,
    bucket_prefix: String,
    files: BTreeMap<String, u64>,
    deletion_vectors: BTreeMap<String, u64>,
    outside: Vec<String>,
    dvs: u64,
    bad: Vec<String>,
}

/// The scan rows' columns read here: the file, and its deletion vector's descriptor.
static COLUMNS: LazyLock<Vec<ColumnName>> = LazyLock::new(|| {
    vec![
        ColumnName::new(["path"]),
        ColumnName::new(["size"]),
        ColumnName::new(["deletionVector", "storageType"]),
        ColumnName::new(["deletionVector", "pathOrInlineDv"]),
        ColumnName::new(["deletionVector", "offset"]),
        ColumnName::new(["deletionVector", "sizeInBytes"]),
        ColumnName::new(["deletionVector", "cardinality"]),
    ]
});
static TYPES: LazyLock<Vec<DataType>> = LazyLock::new(|| {
    vec![
        DataType::STRING,
        DataType::LONG,
        DataType::STRING,
        DataType::STRING,
        DataType::INTEGER,
        DataType::INTEGER,
        DataType::LONG,
    ]
});

impl Visit {
    /// The object key of a URL inside this snapshot bucket, `None` for anything else.
    fn key_of(&self, u: &Url) -> Option<String> {
        let s = u.as_str().strip_prefix(&self.bucket_prefix)?;
        Some(percent_decode_str(s).decode_utf8_lossy().into_owned())
    }

    fn on_file(&mut self, path: String, size: i64) {
        // An absolute URI (a shallow clone's add) points at another table: it is not in this
        // snapshot whatever its bucket, and a restore cannot use it.
        if Url::parse(&path).is_ok() {
            self.outside.push(path);
            return;
        }
        // add.path is URI-encoded; the object key is the decoded path, decoded exactly once.
        let decoded = percent_decode_str(&path).decode_utf8_lossy();
        let key = format!("{}{}", self.root, decoded);
        match u64::try_from(size) {
            Ok(size) => {
                self.files.insert(key, size);
            }
            Err(_) => self.bad.push(format!("{key} records a negative size")),
        }
    }

    fn on_deletion_vector(&mut self, dv: DeletionVectorDescriptor, file: &str) {
        self.dvs += 1;
        let absolute = matches!(
            dv.storage_type,
            DeletionVectorStorageType::PersistedAbsolute
        );
        match dv.absolute_path(&self.table) {
            // Inline: the vector is in the log itself.
            Ok(None) => {}
            Ok(Some(url)) => match self.key_of(&url) {
                Some(key) if !absolute => {
                    // The file holds, at `offset`, the vector's 4-byte size, its bytes and a
                    // 4-byte checksum (PROTOCOL.md, "Deletion Vector Format"): it is at least
                    // that long.
                    let offset = u64::try_from(dv.offset.unwrap_or(1)).unwrap_or(0);
                    let len = u64::try_from(dv.size_in_bytes).unwrap_or(0);
                    let end = offset + 4 + len + 4;
                    let e = self.deletion_vectors.entry(key).or_insert(0);
                    *e = (*e).max(end);
                }
                // A `p`-type path (absolute) or a `u` one resolving elsewhere.
                _ => self
                    .outside
                    .push(format!("{url} (deletion vector of {file})")),
            },
            Err(e) => self.bad.push(format!("deletion vector of {file}: {e}")),
        }
    }
}

impl FilteredRowVisitor for Visit {
    fn selected_column_names_and_types(&self) -> (&'static [ColumnName], &'static [DataType]) {
        (COLUMNS.as_slice(), TYPES.as_slice())
    }

    fn visit_filtered<'a>(
        &mut self,
        getters: &[&'a dyn GetData<'a>],
        rows: RowIndexIterator<'_>,
    ) -> delta_kernel::KernelResult<()> {
        for row in rows {
            let Some(path): Option<String> = getters[0].get_opt(row, "path")? else {
                continue;
            };
            let size: i64 = getters[1].get(row, "size")?;
            let storage: Option<String> = getters[2].get_opt(row, "deletionVector.storageType")?;
            if let Some(storage) = storage {
                let dv = DeletionVectorDescriptor {
                    storage_type: storage.parse()?,
                    path_or_inline_dv: getters[3].get(row, "deletionVector.pathOrInlineDv")?,
                    offset: getters[4].get_opt(row, "deletionVector.offset")?,
                    size_in_bytes: getters[5].get(row, "deletionVector.sizeInBytes")?,
                    cardinality: getters[6].get(row, "deletionVector.cardinality")?,
                };
                self.on_deletion_vector(dv, &path);
            }
            self.on_file(path, size);
        }
        Ok(())
    }
}

/// Reads version `version` of the table at `url` (blocking).
pub(crate) fn read_version(
    engine: &Engine,
    url: &Url,
    root: &str,
    version: u64,
) -> Result<VersionFiles, String> {
    let snapshot = Snapshot::builder_for(url.as_str())
        .at_version(version)
        .build(engine)
        .map_err(|e| e.to_string())?;
    let p = snapshot.table_configuration().protocol();
    let protocol = Protocol {
        min_reader_version: p.min_reader_version(),
        min_writer_version: p.min_writer_version(),
        reader_features: p
            .reader_features()
            .unwrap_or_default()
            .iter()
            .map(|f| f.as_ref().to_owned())
            .collect(),
    };
    let scan = Arc::clone(&snapshot)
        .scan_builder()
        .build()
        .map_err(|e| e.to_string())?;
    let bucket_prefix = format!("{}://{}/", url.scheme(), url.host_str().unwrap_or_default());
    let mut visit = Visit {
        table: url.clone(),
        root: root.to_owned(),
        bucket_prefix,
        files: BTreeMap::new(),
        deletion_vectors: BTreeMap::new(),
        outside: Vec::new(),
        dvs: 0,
        bad: Vec::new(),
    };
    for meta in scan.scan_metadata(engine).map_err(|e| e.to_string())? {
        let meta = meta.map_err(|e| e.to_string())?;
        visit
            .visit_rows_of(&meta.scan_files)
            .map_err(|e| e.to_string())?;
    }
    // The log segment is the kernel's own choice of files for this version: what a restore of
    // exactly this version must copy.
    let segment = snapshot.log_segment();
    let mut log = BTreeMap::new();
    let listed = &segment.listed;
    for p in listed
        .checkpoint_parts
        .iter()
        .chain(listed.ascending_commit_files.iter())
        .chain(listed.latest_commit_file.iter())
    {
        if p.version > version {
            continue;
        }
        match visit.key_of(&p.location.location) {
            Some(key) => {
                log.insert(key, p.location.size);
            }
            None => visit.bad.push(format!(
                "log file {} is outside the table",
                p.location.location
            )),
        }
    }
    let checkpoint_version = segment.checkpoint_version;
    if let Some(first) = visit.bad.first() {
        return Err(format!(
            "{} action(s) cannot be checked (first: {first})",
            visit.bad.len()
        ));
    }
    Ok(VersionFiles {
        files: visit.files,
        deletion_vectors: visit.deletion_vectors,
        outside: visit.outside,
        with_deletion_vectors: visit.dvs,
        protocol,
        log,
        checkpoint_version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_endpoints_count_as_loopback() {
        assert!(is_loopback("http://127.0.0.1:5000"));
        assert!(is_loopback("http://localhost:5000"));
        assert!(is_loopback("http://[::1]:5000"));
        assert!(!is_loopback("http://10.0.0.1:5000"));
        assert!(!is_loopback("https://s3.eu-west-1.amazonaws.com"));
        assert!(!is_loopback("not a url"));
    }
}
