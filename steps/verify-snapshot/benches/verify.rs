//! verify-snapshot's benchmark (`make bench`, or `cargo bench -p verify-snapshot`): not a timed
//! test, it prints what it measures.
//!
//! 1. **One version of 1,000,000 files from a local checkpoint** (`file://` store): the step's own
//!    code — the kernel reads the checkpoint (`Snapshot::builder_for(..).at_version(0)`, the scan,
//!    the visitor that decodes every `add.path` into a key) and the file check against a listing of
//!    a complete snapshot (answered from memory). It runs in a fresh process pinned to one core
//!    (`taskset -c 0` where there is one), whose peak RSS (`VmHWM`) is reported. Goal: ≤ 10 s and
//!    ≤ 512 MiB. `LAKEVAULT_VERIFY_BENCH_FILES=100000` for another size; the table is written once
//!    into the target directory and reused.
//! 2. **The S3 path for 10,000 files**, against moto: the whole step over a snapshot holding one
//!    such table (its checkpoint and 10,000 small data objects), with the requests it sends
//!    counted: the SDK's (every attempt) and the kernel's store's (a listing counts once).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use aws_sdk_s3::primitives::ByteStream;
use futures::StreamExt;
use kit::Step;
use verify_snapshot::bench;

const MEASURE: &str = "--measure";

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

/// The child: verify version 0 of the table at `dir`, print one JSON line.
fn measure(dir: &Path) -> ExitCode {
    let t = Instant::now();
    match bench::verify_local_version(dir, 0) {
        Ok(v) => {
            let secs = t.elapsed().as_secs_f64();
            println!(
                "{}",
                serde_json::json!({"files": v.files, "bytes": v.bytes, "missing": v.missing,
                                   "secs": secs, "peak_rss_kib": peak_rss_kib()})
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("verify failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn table_dir(files: u64) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("verify-bench/files-{files}"))
}

fn local(files: u64) -> Result<serde_json::Value, String> {
    let dir = table_dir(files);
    let done = dir.join(".written");
    if !done.exists() {
        let _ = std::fs::remove_dir_all(&dir);
        let t = Instant::now();
        bench::write_table(&dir, files, |i| 1000 + i % 50_000)?;
        std::fs::write(&done, b"").map_err(|e| e.to_string())?;
        eprintln!(
            "wrote a table of {files} files with its checkpoint in {:.1} s: {}",
            t.elapsed().as_secs_f64(),
            dir.display()
        );
    }
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let pinned = Command::new("taskset")
        .arg("-c")
        .arg("0")
        .arg("true")
        .status()
        .is_ok_and(|s| s.success());
    let mut cmd = if pinned {
        let mut c = Command::new("taskset");
        c.arg("-c").arg("0").arg(&exe);
        c
    } else {
        Command::new(&exe)
    };
    let out = cmd
        .arg(MEASURE)
        .arg(&dir)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("the measuring process failed ({})", out.status));
    }
    let mut v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("{e}: {}", String::from_utf8_lossy(&out.stdout)))?;
    v["one_core"] = serde_json::Value::Bool(pinned);
    Ok(v)
}

fn s3_size(i: u64) -> u64 {
    1 + i % 100
}

/// Writes the S3 case's table locally (outside any async runtime: the kernel's checkpoint writer
/// owns one).
fn s3_table(files: u64) -> Result<PathBuf, String> {
    let dir = table_dir(files).with_file_name(format!("s3-files-{files}"));
    let done = dir.join(".written");
    if !done.exists() {
        let _ = std::fs::remove_dir_all(&dir);
        bench::write_table(&dir, files, s3_size)?;
        std::fs::write(&done, b"").map_err(|e| e.to_string())?;
    }
    Ok(dir)
}

async fn s3_path(dir: PathBuf, files: u64) -> Result<serde_json::Value, String> {
    let size = s3_size;
    let moto = harness::Moto::start();
    let s3 = moto.s3();
    let (bucket, reports) = ("bench-snapshot", "bench-reports");
    for b in [bucket, reports] {
        s3.create_bucket()
            .bucket(b)
            .send()
            .await
            .map_err(|e| e.to_string())?;
    }
    // The log as written, and every data file with the size its add records.
    let mut objects: Vec<(String, Vec<u8>)> = Vec::new();
    for e in std::fs::read_dir(dir.join("_delta_log")).map_err(|e| e.to_string())? {
        let p = e.map_err(|e| e.to_string())?.path();
        if p.is_file() {
            let name = p
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            objects.push((
                format!("t/_delta_log/{name}"),
                std::fs::read(&p).map_err(|e| e.to_string())?,
            ));
        }
    }
    for i in 0..files {
        let key = percent_encoding::percent_decode_str(&bench::file_path(i))
            .decode_utf8_lossy()
            .into_owned();
        objects.push((format!("t/{key}"), vec![b'p'; size(i) as usize]));
    }
    let t = Instant::now();
    let uploads = futures::stream::iter(objects)
        .map(|(k, body)| {
            let s3 = s3.clone();
            async move {
                s3.put_object()
                    .bucket(bucket)
                    .key(k)
                    .body(ByteStream::from(body))
                    .send()
                    .await
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    if let Some(Err(e)) = uploads.into_iter().find(|r| r.is_err()) {
        return Err(e.to_string());
    }
    eprintln!(
        "uploaded the {files}-file table to moto in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let (counting, counter) = harness::counting_s3(&moto);
    let step = verify_snapshot::VerifySnapshot::new(&moto.sdk_config()).with_s3(counting);
    let event = serde_json::json!({
        "source_bucket": "lake-prod", "backup_date": "2021-03-31", "snapshot_bucket": bucket,
        "job_id": "bench", "report": {"bucket": reports, "prefix": "r"}});
    let input = serde_json::from_value(event).map_err(|e| e.to_string())?;
    let kernel_before = bench::kernel_requests();
    let t = Instant::now();
    let out = step.handle(input).await.map_err(|e| e.to_string())?;
    Ok(serde_json::json!({
        "files": files, "secs": t.elapsed().as_secs_f64(), "verdict": out.verdict.as_str(),
        "sdk_requests": counter.count(), "kernel_requests": bench::kernel_requests() - kernel_before,
    }))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == MEASURE) {
        return measure(Path::new(&args[i + 1]));
    }
    // `cargo bench` passes `--bench`; nothing else is expected.
    let files: u64 = std::env::var("LAKEVAULT_VERIFY_BENCH_FILES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let mut stdout = std::io::stdout();
    match local(files) {
        Ok(v) => {
            let _ = writeln!(
                stdout,
                "local checkpoint, {} files: {:.2} s, peak RSS {:.1} MiB, {} missing (one core: {}) — goal ≤ 10 s, ≤ 512 MiB",
                v["files"],
                v["secs"].as_f64().unwrap_or(0.0),
                v["peak_rss_kib"].as_f64().unwrap_or(0.0) / 1024.0,
                v["missing"],
                v["one_core"]
            );
        }
        Err(e) => {
            eprintln!("local benchmark failed: {e}");
            return ExitCode::FAILURE;
        }
    }
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let dir = match s3_table(10_000) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("S3 benchmark failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(s3_path(dir, 10_000)) {
        Ok(v) => {
            let _ = writeln!(
                stdout,
                "S3 path (moto), {} files: verdict {}, {} SDK requests + {} kernel store requests, {:.2} s",
                v["files"],
                v["verdict"],
                v["sdk_requests"],
                v["kernel_requests"],
                v["secs"].as_f64().unwrap_or(0.0)
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("S3 benchmark failed: {e}");
            ExitCode::FAILURE
        }
    }
}
