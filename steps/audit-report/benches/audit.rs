//! The audit core's benchmark: rows per second and peak RSS, against a plain Python `csv` loop.
//!
//! `cargo bench -p audit-report` generates synthetic completion-report result files (1M and
//! 10M rows by default; `LAKEVAULT_BENCH_ROWS=1000000,5000000` to choose) with realistic Delta
//! keys and ~1 % failures of every class, then audits each one in a fresh process (so the peak
//! RSS, read from `VmHWM`, is per size) and runs `bench/python_audit.py` over the same file.
//! Not a timed test: it prints figures, it asserts nothing about speed.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use audit_report::core::Tally;
use md5::{Digest, Md5};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        let path = PathBuf::from(&args[i + 1]);
        child(&path, &args[i + 2]);
        return;
    }
    let sizes: Vec<u64> = std::env::var("LAKEVAULT_BENCH_ROWS")
        .unwrap_or_else(|_| "1000000,10000000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/python_audit.py");

    println!(
        "{:>11} {:>9} {:>8} {:>12} {:>9} {:>12} {:>13} {:>9} {:>12}",
        "rows",
        "file MiB",
        "rust s",
        "rust rows/s",
        "rust MB/s",
        "rust RSS MiB",
        "python rows/s",
        "python s",
        "py RSS MiB"
    );
    for rows in sizes {
        let path = dir.path().join(format!("report-{rows}.csv"));
        let (bytes, md5) = generate(&path, rows).expect("generate a report");
        let rust = run_json(
            Command::new(std::env::current_exe().expect("own path"))
                .arg("--child")
                .arg(&path)
                .arg(&md5),
        );
        let py = run_json(Command::new("python3").arg(&python).arg(&path).arg(&md5));
        assert_eq!(rust["rows"], rows, "{rust}");
        assert_eq!(py["rows"], rows, "{py}");
        assert_eq!(
            rust["failed"], py["failed"],
            "Rust and Python disagree: {rust} {py}"
        );
        let secs = rust["seconds"].as_f64().unwrap_or(f64::NAN);
        let py_secs = py["seconds"].as_f64().unwrap_or(f64::NAN);
        println!(
            "{:>11} {:>9.0} {:>8.2} {:>12.0} {:>9.0} {:>12.1} {:>13.0} {:>9.2} {:>12.1}",
            rows,
            bytes as f64 / 1048576.0,
            secs,
            rows as f64 / secs,
            bytes as f64 / secs / 1e6,
            rust["peak_rss_kib"].as_f64().unwrap_or(f64::NAN) / 1024.0,
            rows as f64 / py_secs,
            py_secs,
            py["peak_rss_kib"].as_f64().unwrap_or(f64::NAN) / 1024.0,
        );
        println!("    failures by class: {}", rust["classes"]);
        let _ = std::fs::remove_file(&path);
    }
}

fn run_json(cmd: &mut Command) -> serde_json::Value {
    let out = cmd.output().expect("run a benchmark process");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("a JSON line")
}

/// One size, in a fresh process: audit the file (MD5 included) and report time and peak RSS.
fn child(path: &Path, md5: &str) {
    let file = File::open(path).expect("the report file");
    let start = Instant::now();
    let mut tally = Tally::default();
    // The oversize list goes to a sink here: the step writes it to a temporary file.
    let stats = tally
        .read_result_file(file, md5, &mut io::sink())
        .expect("the audit succeeds");
    let seconds = start.elapsed().as_secs_f64();
    let classes: serde_json::Map<String, serde_json::Value> = audit_report::FailureClass::ALL
        .iter()
        .map(|c| (c.as_str().to_owned(), tally.failures.get(*c).count.into()))
        .collect();
    println!(
        "{}",
        serde_json::json!({
            "rows": stats.rows,
            "failed": tally.failed,
            "bytes": stats.bytes,
            "seconds": seconds,
            "peak_rss_kib": peak_rss_kib(),
            "classes": classes,
        })
    );
}

/// `VmHWM`: the process's peak resident set, in KiB.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// A deterministic generator (SplitMix64): same file for the same size, no extra dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Writes `rows` result rows as S3 Batch Operations does (URL-encoded keys, quoted messages with
/// commas), ~1 % failed across the five classes and both column orders; returns size and MD5.
fn generate(path: &Path, rows: u64) -> io::Result<(u64, String)> {
    struct HashingWriter<W> {
        inner: W,
        md5: Md5,
        bytes: u64,
    }
    impl<W: Write> Write for HashingWriter<W> {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let n = self.inner.write(buf)?;
            self.md5.update(&buf[..n]);
            self.bytes += n as u64;
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            self.inner.flush()
        }
    }
    const TABLES: [&str; 6] = [
        "events", "orders", "users", "clicks", "sessions", "payments",
    ];
    let mut w = HashingWriter {
        inner: BufWriter::with_capacity(1 << 20, File::create(path)?),
        md5: Md5::new(),
        bytes: 0,
    };
    let mut rng = Rng(rows);
    for i in 0..rows {
        let r = rng.next();
        let table = TABLES[(r % 6) as usize];
        let day = 1 + (r >> 8) % 28;
        let month = 1 + (r >> 16) % 12;
        let part = (r >> 24) % 2000;
        let (a, b) = (rng.next(), rng.next());
        write!(
            w,
            "lake-prod,tables/{table}/date%3D2024-{month:02}-{day:02}/part-{part:05}-{:08x}-{:04x}-{:04x}-{:04x}-{:012x}.c000.snappy.parquet,,",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xffff,
            b >> 48,
            b & 0xffff_ffff_ffff
        )?;
        // ~1 % failures: every 100th row, cycling through the classes.
        let tail: &[u8] = if i % 100 != 99 {
            b"succeeded,200,,Successful\n"
        } else {
            match (i / 100) % 6 {
                0 => b"failed,400,InvalidRequest,\"The specified copy source is larger than the maximum allowable size for a copy source: 5368709120\"\n",
                1 => b"failed,NoSuchKey,404,\"The specified key does not exist.\"\n",
                2 => b"failed,403,AccessDenied,Access Denied\n",
                3 => b"failed,SlowDown,503,\"Please reduce your request rate.\"\n",
                4 => b"failed,500,InternalError,\"We encountered an internal error, please try again.\"\n",
                _ => b"failed,InvalidObjectState,400,\"The operation is not valid for the object's storage class\"\n",
            }
        };
        w.write_all(tail)?;
    }
    w.flush()?;
    Ok((w.bytes, hex::encode(w.md5.finalize())))
}
