//! Reading one version of a table with Delta's reference reader (`delta_kernel` and its default
//! engine): the live files the version references and its protocol. The kernel never checks that
//! the files exist (that is [`crate::files`]' job); it does reject logs it cannot replay (a gap,
//! a missing checkpoint part or sidecar, an unsupported reader feature), and its error is quoted
//! as the table's finding. Its API is synchronous: callers run it on a blocking thread.

use std::collections::BTreeMap;
use std::sync::Arc;

use delta_kernel::Snapshot;
use delta_kernel::object_store::aws::AmazonS3Builder;
use delta_kernel::object_store::{ClientOptions, RetryConfig};
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
    /// Live files carrying a deletion vector.
    pub(crate) with_deletion_vectors: u64,
    /// The protocol at this version.
    pub(crate) protocol: Protocol,
}

struct Visit {
    root: String,
    files: BTreeMap<String, u64>,
    outside: Vec<String>,
    dvs: u64,
    bad_size: Vec<String>,
}

fn on_file(v: &mut Visit, f: delta_kernel::scan::state::ScanFile) {
    if f.dv_info.has_vector() {
        v.dvs += 1;
    }
    // An absolute URI (a shallow clone's add) points at another table: it is not in this
    // snapshot whatever its bucket, and a restore cannot use it.
    if Url::parse(&f.path).is_ok() {
        v.outside.push(f.path);
        return;
    }
    // add.path is URI-encoded; the object key is the decoded path, decoded exactly once.
    let decoded = percent_decode_str(&f.path).decode_utf8_lossy();
    let key = format!("{}{}", v.root, decoded);
    match u64::try_from(f.size) {
        Ok(size) => {
            v.files.insert(key, size);
        }
        Err(_) => v.bad_size.push(key),
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
    let scan = snapshot.scan_builder().build().map_err(|e| e.to_string())?;
    let mut visit = Visit {
        root: root.to_owned(),
        files: BTreeMap::new(),
        outside: Vec::new(),
        dvs: 0,
        bad_size: Vec::new(),
    };
    for meta in scan.scan_metadata(engine).map_err(|e| e.to_string())? {
        let meta = meta.map_err(|e| e.to_string())?;
        visit = meta
            .visit_scan_files(visit, on_file)
            .map_err(|e| e.to_string())?;
    }
    if let Some(k) = visit.bad_size.first() {
        return Err(format!(
            "{} add action(s) record a negative size (first: {k})",
            visit.bad_size.len()
        ));
    }
    Ok(VersionFiles {
        files: visit.files,
        outside: visit.outside,
        with_deletion_vectors: visit.dvs,
        protocol,
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
