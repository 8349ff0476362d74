//! The audit core's benchmark: the Rust core side by side with Python `csv` and DuckDB, on the same file
//! in the same run, so the figures worth quoting are ratios (absolute ones move with the machine).
//!
//! `make bench` (which creates `.venv-bench` with the pinned DuckDB first) runs `cargo bench -p
//! audit-report`. It generates synthetic completion-report result files (1M and 10M rows by default;
//! `LAKEVAULT_BENCH_ROWS=100000` to choose) with realistic Delta keys and ~1 % failures of every class,
//! then, for `LAKEVAULT_BENCH_ROUNDS` rounds (3 by default, the order rotating each round), audits each
//! file with every engine in a fresh process (so peak RSS is that engine's, at that size):
//!
//! - the Rust core (`Tally::read_result_file`, one thread, MD5 included: it hashes what it parses);
//! - `bench/python_audit.py`: a plain Python `csv` loop with `hashlib.md5`, the same classification;
//! - `bench/duckdb_audit.py` with `threads=1` and `threads=2`, each without and with an MD5 pass
//!   (`hashlib.md5` over the file, then DuckDB's query, in one timing).
//!
//! Every engine's succeeded/failed/unparsed and per-class counts must equal the Rust core's on the same
//! file, and the peers' code lists (`bench/audit_rule.py`) must classify as the Rust `classify` does:
//! otherwise the benchmark exits non-zero. It asserts nothing about speed.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Instant, SystemTime};

use audit_report::FailureClass;
use audit_report::core::{Tally, classify};
use md5::{Digest, Md5};
use serde_json::Value;

/// Why the benchmark stops without a result.
#[derive(Debug, thiserror::Error)]
enum BenchError {
    /// No Python with DuckDB to run the peers with.
    #[error(
        "no bench Python at {0}: run `make bench` (it creates .venv-bench with the pinned DuckDB), \
         or set LAKEVAULT_BENCH_PYTHON"
    )]
    NoPython(PathBuf),
    /// A benchmark process could not run, failed, or printed no JSON line.
    #[error("{command} failed: {detail}")]
    Process {
        /// The command line.
        command: String,
        /// Its stderr or the reason.
        detail: String,
    },
    /// An engine counted differently from the Rust core on the same file.
    #[error(
        "{engine} disagrees with the Rust core on {rows} rows:\n  rust: {rust}\n  {engine}: {peer}"
    )]
    Disagree {
        /// The peer.
        engine: String,
        /// The file's size in rows.
        rows: u64,
        /// The Rust core's counts.
        rust: Box<Value>,
        /// The peer's counts.
        peer: Box<Value>,
    },
    /// An engine read another number of rows than the generator wrote.
    #[error("{engine} read {counted} rows of the {rows} generated")]
    RowCount {
        /// The engine.
        engine: String,
        /// Rows written.
        rows: u64,
        /// Rows it read.
        counted: Box<Value>,
    },
    /// The peers' rule names a code that the Rust `classify` puts in another class.
    #[error(
        "bench/audit_rule.py lists {code:?} as {listed}, the Rust core classifies it as {rust}"
    )]
    Rule {
        /// The error code.
        code: String,
        /// The class the Python list puts it in.
        listed: String,
        /// The class `classify` gives.
        rust: &'static str,
    },
    /// Writing the generated report failed.
    #[error("generating the report failed: {0}")]
    Io(#[from] io::Error),
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        child(Path::new(&args[i + 1]), &args[i + 2]);
        return ExitCode::SUCCESS;
    }
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// One engine the benchmark times.
struct Engine {
    /// Column heading.
    label: &'static str,
    /// Program and the arguments before the file and its MD5 (`None`: this binary's `--child`).
    program: Option<Vec<OsString>>,
    /// Arguments after the file and its MD5.
    tail: &'static [&'static str],
}

/// One engine's figures over one file in one round.
struct Run {
    seconds: f64,
    peak_rss_kib: f64,
}

/// All engines' runs over one file.
struct SizeResult {
    rows: u64,
    bytes: u64,
    /// `runs[engine][round]`.
    runs: Vec<Vec<Run>>,
    counts: Value,
}

fn env_list(name: &str, default: &str) -> Vec<u64> {
    std::env::var(name)
        .unwrap_or_else(|_| default.into())
        .split(',')
        .filter_map(|s| s.trim().replace('_', "").parse().ok())
        .collect()
}

fn run() -> Result<(), BenchError> {
    let sizes = env_list("LAKEVAULT_BENCH_ROWS", "1000000,10000000");
    let rounds = env_list("LAKEVAULT_BENCH_ROUNDS", "3")
        .first()
        .copied()
        .unwrap_or(3)
        .max(1) as usize;
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = std::env::var_os("LAKEVAULT_BENCH_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| here.join("../../.venv-bench/bin/python"));
    if !python.exists() {
        return Err(BenchError::NoPython(python));
    }
    let script = |name: &str| here.join("bench").join(name).into_os_string();
    check_rule(&python, &script("audit_rule.py"))?;

    let me = std::env::current_exe()?.into_os_string();
    let py = |name: &str| Some(vec![python.clone().into_os_string(), script(name)]);
    let engines = [
        Engine {
            label: "Rust core (MD5 in the pass)",
            program: None,
            tail: &[],
        },
        Engine {
            label: "Python csv + MD5",
            program: py("python_audit.py"),
            tail: &[],
        },
        Engine {
            label: "DuckDB threads=1",
            program: py("duckdb_audit.py"),
            tail: &["--threads", "1"],
        },
        Engine {
            label: "DuckDB threads=1 + MD5",
            program: py("duckdb_audit.py"),
            tail: &["--threads", "1", "--md5"],
        },
        Engine {
            label: "DuckDB threads=2",
            program: py("duckdb_audit.py"),
            tail: &["--threads", "2"],
        },
        Engine {
            label: "DuckDB threads=2 + MD5",
            program: py("duckdb_audit.py"),
            tail: &["--threads", "2", "--md5"],
        },
    ];

    let dir = tempfile::tempdir()?;
    let mut versions = Vec::<String>::new();
    let mut results = Vec::new();
    for &rows in &sizes {
        let path = dir.path().join(format!("report-{rows}.csv"));
        let (bytes, md5) = generate(&path, rows)?;
        let mut runs: Vec<Vec<Run>> = engines.iter().map(|_| Vec::new()).collect();
        let mut rust_counts: Option<Value> = None;
        for round in 0..rounds {
            // Rotate the order so that no engine always runs first or last; round 1 starts with Rust.
            for k in 0..engines.len() {
                let e = (round + k) % engines.len();
                let engine = &engines[e];
                let mut cmd = match &engine.program {
                    None => {
                        let mut c = Command::new(&me);
                        c.arg("--child");
                        c
                    }
                    Some(argv) => {
                        let mut c = Command::new(&argv[0]);
                        c.args(&argv[1..]);
                        c
                    }
                };
                cmd.arg(&path).arg(&md5).args(engine.tail);
                let out = run_json(&mut cmd)?;
                if let Some(v) = out["version"].as_str()
                    && !versions.iter().any(|x| x == v)
                {
                    versions.push(v.to_owned());
                }
                let counts = counts_of(&out);
                if counts["rows"] != rows {
                    return Err(BenchError::RowCount {
                        engine: engine.label.into(),
                        rows,
                        counted: Box::new(counts["rows"].clone()),
                    });
                }
                // Round 1 starts with the Rust core, so every other run is checked against it.
                match &rust_counts {
                    None => rust_counts = Some(counts),
                    Some(want) if *want != counts => {
                        return Err(BenchError::Disagree {
                            engine: engine.label.into(),
                            rows,
                            rust: Box::new(want.clone()),
                            peer: Box::new(counts),
                        });
                    }
                    Some(_) => {}
                }
                let seconds = out["seconds"].as_f64().unwrap_or(f64::NAN);
                eprintln!(
                    "  {rows} rows, round {}/{rounds}: {:<28} {seconds:>7.2} s",
                    round + 1,
                    engine.label
                );
                runs[e].push(Run {
                    seconds,
                    peak_rss_kib: out["peak_rss_kib"].as_f64().unwrap_or(f64::NAN),
                });
            }
        }
        let _ = std::fs::remove_file(&path);
        results.push(SizeResult {
            rows,
            bytes,
            runs,
            counts: rust_counts.unwrap_or(Value::Null),
        });
    }
    print_tables(&engines, &results, rounds, &versions);
    Ok(())
}

/// The fields every engine must agree on.
fn counts_of(out: &Value) -> Value {
    serde_json::json!({
        "rows": out["rows"],
        "succeeded": out["succeeded"],
        "failed": out["failed"],
        "unparsed": out["unparsed"],
        "classes": out["classes"],
    })
}

/// The peers' code lists must classify, code alone, as the Rust core does.
fn check_rule(python: &Path, rule: &OsString) -> Result<(), BenchError> {
    let lists = run_json(Command::new(python).arg(rule))?;
    let Some(lists) = lists.as_object() else {
        return Err(BenchError::Process {
            command: format!("{} {}", python.display(), rule.to_string_lossy()),
            detail: format!("not an object of code lists: {lists}"),
        });
    };
    for (class, codes) in lists {
        for code in codes.as_array().into_iter().flatten() {
            let code = code.as_str().unwrap_or_default();
            let rust = classify(Some(code), None, b"").as_str();
            if rust != class {
                return Err(BenchError::Rule {
                    code: code.to_owned(),
                    listed: class.clone(),
                    rust,
                });
            }
        }
    }
    Ok(())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| x.is_finite());
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn millions(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.2} M", x / 1e6)
    } else {
        format!("{:.0} k", x / 1e3)
    }
}

/// Markdown tables on stdout: ratios first, then this run's absolute figures.
fn print_tables(engines: &[Engine], results: &[SizeResult], rounds: usize, versions: &[String]) {
    println!();
    println!(
        "Ratios: peer time ÷ Rust core time on the same file, each round's pair side by side; median of \
         {rounds} round(s), [min–max]. Above 1: the Rust core is faster."
    );
    println!();
    print!("| rows |");
    for e in &engines[1..] {
        print!(" {} |", e.label);
    }
    println!();
    print!("| ---: |");
    for _ in &engines[1..] {
        print!(" ---: |");
    }
    println!();
    for r in results {
        print!("| {} |", thousands(r.rows));
        for peer in &r.runs[1..] {
            let ratios: Vec<f64> = peer
                .iter()
                .zip(&r.runs[0])
                .map(|(p, rust)| p.seconds / rust.seconds)
                .collect();
            let lo = ratios.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            if rounds > 1 {
                print!(" {:.2}× [{lo:.2}–{hi:.2}] |", median(ratios));
            } else {
                print!(" {:.2}× |", median(ratios));
            }
        }
        println!();
    }
    println!();
    println!("This run on this machine ({}):", machine(versions));
    println!();
    println!("| rows | file | engine | seconds | rows/s | MB/s | peak RSS |");
    println!("| ---: | ---: | --- | ---: | ---: | ---: | ---: |");
    for r in results {
        for (e, runs) in engines.iter().zip(&r.runs) {
            let secs = median(runs.iter().map(|x| x.seconds).collect());
            let rss = runs.iter().map(|x| x.peak_rss_kib).fold(f64::NAN, f64::max);
            println!(
                "| {} | {:.0} MiB | {} | {secs:.2} | {} | {:.0} | {:.1} MiB |",
                thousands(r.rows),
                r.bytes as f64 / 1048576.0,
                e.label,
                millions(r.rows as f64 / secs),
                r.bytes as f64 / secs / 1e6,
                rss / 1024.0
            );
        }
    }
    println!();
    println!(
        "Seconds: median of the rounds; peak RSS: the largest of the rounds (VmHWM / ru_maxrss)."
    );
    for r in results {
        println!(
            "Counts on {} rows (every engine agrees): {}",
            thousands(r.rows),
            r.counts
        );
    }
}

/// Date, CPU, cores, load and versions, for the absolute figures' heading.
fn machine(versions: &[String]) -> String {
    let days = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() / 86_400)
        .unwrap_or(0);
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    format!(
        "{}, {cpu}, {cores} cores, load average {load} at the end, {}",
        civil_date(days),
        versions.join(", ")
    )
}

/// Days since 1970-01-01 as `YYYY-MM-DD` (proleptic Gregorian; Howard Hinnant's `civil_from_days`).
fn civil_date(days: u64) -> String {
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

fn run_json(cmd: &mut Command) -> Result<Value, BenchError> {
    let command = format!("{cmd:?}");
    let out = cmd.output().map_err(|e| BenchError::Process {
        command: command.clone(),
        detail: e.to_string(),
    })?;
    if !out.status.success() {
        return Err(BenchError::Process {
            command,
            detail: format!("{}: {}", out.status, String::from_utf8_lossy(&out.stderr)),
        });
    }
    serde_json::from_slice(&out.stdout).map_err(|e| BenchError::Process {
        command,
        detail: format!(
            "no JSON line ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        ),
    })
}

/// One file, in a fresh process: audit it (MD5 included) and report counts, time and peak RSS.
fn child(path: &Path, md5: &str) {
    let file = File::open(path).expect("the report file");
    let start = Instant::now();
    let mut tally = Tally::default();
    // The oversize list goes to a sink here: the step writes it to a temporary file.
    let stats = tally
        .read_result_file(file, md5, &mut io::sink())
        .expect("the audit succeeds");
    let seconds = start.elapsed().as_secs_f64();
    let classes: serde_json::Map<String, Value> = FailureClass::ALL
        .iter()
        .map(|c| (c.as_str().to_owned(), tally.failures.get(*c).count.into()))
        .collect();
    println!(
        "{}",
        serde_json::json!({
            "rows": stats.rows,
            "succeeded": tally.succeeded,
            "failed": tally.failed,
            "unparsed": tally.unparsed,
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

/// The failed rows, cycled through: every class, both column orders, a code that a 404 does not make
/// `source_missing`, a short row (status only, no message) and a code-only transient one.
const FAILURES: [&[u8]; 9] = [
    b"failed,400,InvalidRequest,\"The specified copy source is larger than the maximum allowable size for a copy source: 5368709120\"\n",
    b"failed,NoSuchKey,404,\"The specified key does not exist.\"\n",
    b"failed,403,AccessDenied,Access Denied\n",
    b"failed,SlowDown,503,\"Please reduce your request rate.\"\n",
    b"failed,500,InternalError,\"We encountered an internal error, please try again.\"\n",
    b"failed,InvalidObjectState,400,\"The operation is not valid for the object's storage class\"\n",
    b"failed,NoSuchBucket,404,\"The specified bucket does not exist\"\n",
    b"failed,503\n",
    b"failed,Throttling,400,Rate exceeded\n",
];

/// Writes `rows` result rows as S3 Batch Operations does (URL-encoded keys, quoted messages with
/// commas), ~1 % failed (see [`FAILURES`]); returns size and MD5.
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
        // ~1 % failures: every 100th row, cycling through the variants.
        let tail: &[u8] = if i % 100 != 99 {
            b"succeeded,200,,Successful\n"
        } else {
            FAILURES[((i / 100) % FAILURES.len() as u64) as usize]
        };
        w.write_all(tail)?;
    }
    w.flush()?;
    Ok((w.bytes, hex::encode(w.md5.finalize())))
}
