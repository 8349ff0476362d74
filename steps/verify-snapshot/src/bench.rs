//! Entry points for the benchmark (`benches/verify.rs`, `make bench`); not part of the step's
//! contract. They run the step's own code — the kernel read of one version and the file check —
//! over a local table (`file://` store) instead of S3.

use std::collections::HashSet;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

use delta_kernel::Snapshot;
use delta_kernel::object_store::local::LocalFileSystem;
use delta_kernel_default_engine::DefaultEngineBuilder;
use delta_kernel_default_engine::executor::tokio::TokioMultiThreadExecutor;
use url::Url;

use crate::files::Sizes;
use crate::kernel;
use crate::store::WithoutHint;

/// What verifying a local version found.
#[derive(Debug)]
pub struct LocalVersion {
    /// Live files of the version.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Files not found with their size.
    pub missing: u64,
}

fn dir_url(dir: &Path) -> Result<Url, String> {
    Url::from_directory_path(dir).map_err(|()| format!("{} is not an absolute path", dir.display()))
}

/// Requests the kernel has sent through the step's stores so far in this process (a listing
/// counts once, whatever its pages).
pub fn kernel_requests() -> u64 {
    crate::store::REQUESTS.load(std::sync::atomic::Ordering::Relaxed)
}

/// The relative path (URI-encoded, as in `add.path`) of the benchmark table's file `i`.
pub fn file_path(i: u64) -> String {
    let day = i % 365;
    format!(
        "date%3D2024-{:02}-{:02}/part-{:05}-{:08x}-4e79-81be-{:012x}.c000.snappy.parquet",
        day / 28 + 1,
        day % 28 + 1,
        i % 100_000,
        i,
        i * 7919
    )
}

/// Writes a table of `files` add actions (file `i` of `size(i)` bytes, named [`file_path`]) at
/// version 0 and its checkpoint, then removes the commit: the version is read from the
/// checkpoint alone, as after log cleanup. No data file is written.
pub fn write_table(dir: &Path, files: u64, size: fn(u64) -> u64) -> Result<(), String> {
    let log = dir.join("_delta_log");
    std::fs::create_dir_all(&log).map_err(|e| e.to_string())?;
    let commit = log.join(format!("{:020}.json", 0));
    {
        let f = std::fs::File::create(&commit).map_err(|e| e.to_string())?;
        let mut w = BufWriter::with_capacity(1 << 20, f);
        let schema = r#"{"type":"struct","fields":[{"name":"id","type":"long","nullable":true,"metadata":{}},{"name":"date","type":"string","nullable":true,"metadata":{}}]}"#;
        let mut out = format!(
            "{{\"commitInfo\":{{\"timestamp\":1617184800000,\"operation\":\"WRITE\"}}}}\n\
             {{\"protocol\":{{\"minReaderVersion\":1,\"minWriterVersion\":2}}}}\n\
             {{\"metaData\":{{\"id\":\"bench\",\"format\":{{\"provider\":\"parquet\",\"options\":{{}}}},\
             \"schemaString\":{},\"partitionColumns\":[\"date\"],\"configuration\":{{}},\"createdTime\":1617184800000}}}}\n",
            serde_json::Value::String(schema.to_owned())
        );
        w.write_all(out.as_bytes()).map_err(|e| e.to_string())?;
        for i in 0..files {
            out.clear();
            let day = i % 365;
            // Realistic keys: a partition directory, a Spark-style name with a UUID-like part.
            out.push_str(&format!(
                "{{\"add\":{{\"path\":\"{}\",\"partitionValues\":{{\"date\":\"2024-{:02}-{:02}\"}},\
                 \"size\":{},\"modificationTime\":1617184800000,\"dataChange\":true}}}}\n",
                file_path(i),
                day / 28 + 1,
                day % 28 + 1,
                size(i)
            ));
            w.write_all(out.as_bytes()).map_err(|e| e.to_string())?;
        }
        w.flush().map_err(|e| e.to_string())?;
    }
    let executor =
        TokioMultiThreadExecutor::new_owned_runtime(Some(2), None).map_err(|e| e.to_string())?;
    let engine = DefaultEngineBuilder::new(Arc::new(LocalFileSystem::new()))
        .with_task_executor(Arc::new(executor))
        .build();
    let snapshot = Snapshot::builder_for(dir_url(dir)?.as_str())
        .build(&engine)
        .map_err(|e| e.to_string())?;
    snapshot
        .checkpoint(&engine, None)
        .map_err(|e| e.to_string())?;
    std::fs::remove_file(&commit).map_err(|e| e.to_string())?;
    Ok(())
}

/// Reads version `version` of the local table at `dir` with the kernel, then checks its files as
/// against an S3 listing of a complete snapshot (answered from memory: every key with its size).
pub fn verify_local_version(dir: &Path, version: u64) -> Result<LocalVersion, String> {
    let store = WithoutHint::new(Arc::new(LocalFileSystem::new()));
    let engine = DefaultEngineBuilder::new(Arc::new(store)).build();
    let v = kernel::read_version(&engine, &dir_url(dir)?, "", version)?;
    let mut sizes = Sizes::default();
    let mut asked: HashSet<&str> = v.files.keys().map(String::as_str).collect();
    sizes.absorb(
        v.files
            .iter()
            .map(|(k, s)| (k.as_str(), i64::try_from(*s).ok())),
        &mut asked,
    );
    sizes.not_found(asked);
    let missing = sizes.missing(version, &v.files, &v.deletion_vectors);
    Ok(LocalVersion {
        files: v.files.len() as u64,
        bytes: v.files.values().sum(),
        missing: missing.count,
    })
}
