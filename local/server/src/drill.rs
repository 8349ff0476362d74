//! The pieces of the restore drill, shared by `lakevault-local restore-demo` and the end-to-end
//! test of the restore (`tests/workspace/tests/it/restore.rs`): put the demo's Delta table in a
//! bucket (optionally without some of its files), read a version of a table with an independent
//! reader (`local/fixtures/delta_digest.py`, the `deltalake` package), delete a table, run the
//! real `lakevault restore` binary, count the Batch Operations jobs.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Why a drill step could not be done.
#[derive(Debug, thiserror::Error)]
pub enum DrillError {
    /// A local file could not be read, or a program not started.
    #[error("{0}")]
    Local(String),
    /// An S3 or S3 Control call failed.
    #[error("{0}")]
    Aws(String),
    /// The independent reader could not read the table.
    #[error("delta_digest.py could not read {uri}: {message}")]
    Reader {
        /// The table.
        uri: String,
        /// What it said.
        message: String,
    },
}

fn aws<E: std::error::Error + 'static>(what: &str) -> impl FnOnce(E) -> DrillError + '_ {
    move |e| DrillError::Aws(format!("{what}: {}", kit::error::source_chain(&e)))
}

/// Every file under `dir`, by its `/`-separated path relative to it, sorted.
pub fn files_under(dir: &Path) -> Result<Vec<String>, DrillError> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(base, &p, out)?;
            } else if let Ok(rel) = p.strip_prefix(base) {
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out).map_err(|e| DrillError::Local(format!("{}: {e}", dir.display())))?;
    Ok(out)
}

/// Uploads every file under `dir` into `bucket` (keys = paths relative to `dir`), except those
/// `skip` names; returns how many were uploaded.
pub async fn upload_dir(
    s3: &aws_sdk_s3::Client,
    dir: &Path,
    bucket: &str,
    skip: &[String],
) -> Result<usize, DrillError> {
    let mut n = 0;
    for key in files_under(dir)? {
        if skip.contains(&key) {
            continue;
        }
        let body = aws_sdk_s3::primitives::ByteStream::from_path(dir.join(&key))
            .await
            .map_err(aws("read fixture"))?;
        s3.put_object()
            .bucket(bucket)
            .key(&key)
            .body(body)
            .send()
            .await
            .map_err(aws("PutObject"))?;
        n += 1;
    }
    Ok(n)
}

/// The data files version `version`'s commit adds (`add.path`, URI-decoded), as keys under
/// `table` (e.g. `events/`): read from the fixture's log.
pub fn files_added_by(
    fixture: &Path,
    table: &str,
    version: u64,
) -> Result<Vec<String>, DrillError> {
    let commit = fixture.join(format!("{table}_delta_log/{version:020}.json"));
    let text = std::fs::read_to_string(&commit)
        .map_err(|e| DrillError::Local(format!("{}: {e}", commit.display())))?;
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let action: Value = serde_json::from_str(line)
            .map_err(|e| DrillError::Local(format!("{}: {e}", commit.display())))?;
        if let Some(path) = action["add"]["path"].as_str() {
            let decoded = percent_decode(path);
            out.push(format!("{table}{decoded}"));
        }
    }
    Ok(out)
}

fn percent_decode(s: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every key under `prefix` in `bucket`, sorted.
pub async fn keys(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<String>, DrillError> {
    let mut pages = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        out.extend(
            page.map_err(aws("ListObjectsV2"))?
                .contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
    }
    out.sort();
    Ok(out)
}

/// Deletes every object under `prefix` in `bucket` (the table is lost); returns how many.
pub async fn delete_prefix(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> Result<usize, DrillError> {
    let all = keys(s3, bucket, prefix).await?;
    for key in &all {
        s3.delete_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(aws("DeleteObject"))?;
    }
    Ok(all.len())
}

/// What the independent reader says of one version of a table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Digest {
    /// The version read.
    pub version: u64,
    /// Its rows.
    pub rows: u64,
    /// SHA-256 of its sorted rows.
    pub sha256: String,
    /// Its columns, sorted.
    #[serde(default)]
    pub columns: Vec<String>,
}

/// Reads `uri` at `version` (latest when `None`) with `local/fixtures/delta_digest.py` under
/// `python` (the venv's, which has the pinned `deltalake`), against the S3 endpoint `endpoint`
/// with the environment `env` (credentials, region).
pub async fn digest(
    python: &Path,
    root: &Path,
    uri: &str,
    version: Option<u64>,
    endpoint: &str,
    env: &[(String, String)],
) -> Result<Digest, DrillError> {
    let script = root.join("local/fixtures/delta_digest.py");
    let mut cmd = tokio::process::Command::new(python);
    cmd.arg(&script).arg(uri).args(["--endpoint", endpoint]);
    if let Some(v) = version {
        cmd.args(["--version", &v.to_string()]);
    }
    let out = cmd
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| {
            DrillError::Local(format!(
                "could not run {} {}: {e} (make venv installs deltalake)",
                python.display(),
                script.display()
            ))
        })?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let parsed: Option<Value> = stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok());
    match parsed {
        Some(v) if out.status.success() => {
            serde_json::from_value(v).map_err(|e| DrillError::Reader {
                uri: uri.to_owned(),
                message: e.to_string(),
            })
        }
        Some(v) => Err(DrillError::Reader {
            uri: uri.to_owned(),
            message: format!(
                "{} (exit {}; stderr: {})",
                v["error"].as_str().unwrap_or(&v.to_string()),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        }),
        None => Err(DrillError::Reader {
            uri: uri.to_owned(),
            message: format!(
                "no JSON answer (exit {}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        }),
    }
}

/// What one run of the `lakevault` command did.
#[derive(Debug, Clone)]
pub struct CommandRun {
    /// Its exit status (`None`: killed by a signal).
    pub code: Option<i32>,
    /// Its stdout.
    pub stdout: String,
    /// Its stderr (the progress lines).
    pub stderr: String,
}

impl CommandRun {
    /// stdout parsed as JSON (a `--json` run), or `Null`.
    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or(Value::Null)
    }
}

/// Runs `<bin_dir>/lakevault <args>` with `env`, from `root`.
pub async fn lakevault(
    bin_dir: &Path,
    root: &Path,
    args: &[String],
    env: &[(String, String)],
) -> Result<CommandRun, DrillError> {
    let bin = bin_dir.join("lakevault");
    let out = tokio::process::Command::new(&bin)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(root)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| {
            DrillError::Local(format!(
                "could not run {}: {e} (build it first: cargo build -p lakevault)",
                bin.display()
            ))
        })?;
    Ok(CommandRun {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// The Batch Operations jobs of `account` on the local stack at `stack_url`.
pub async fn job_count(
    sdk: &aws_config::SdkConfig,
    stack_url: &str,
    account: &str,
) -> Result<usize, DrillError> {
    let mut conf = sdk.to_builder();
    conf.set_endpoint_url(Some(stack_url.to_owned()));
    let s3control = kit::clients::s3control(&conf.build());
    let listed = s3control
        .list_jobs()
        .account_id(account)
        .send()
        .await
        .map_err(aws("ListJobs"))?;
    Ok(listed.jobs().len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_paths_are_decoded_once() {
        assert_eq!(
            percent_decode("date=2021-03-25/part%2000.parquet"),
            "date=2021-03-25/part 00.parquet"
        );
        assert_eq!(percent_decode("a%2520b/x"), "a%20b/x");
        assert_eq!(percent_decode("trailing%2"), "trailing%2");
    }
}
