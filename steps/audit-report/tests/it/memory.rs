//! Memory does not grow with the longest report row: a report with a 50 MB line is audited by
//! the step binary under a peak-RSS bound, measured by this test from the child's own rusage.

use aws_sdk_s3::primitives::ByteStream;
use harness::Moto;
use md5::{Digest, Md5};
use serde_json::{Value, json};

const JOB: &str = "0d6a4f5e-1b2c-4d3e-8f9a-0b1c2d3e4f5a";
/// The line the issue measured: 50 MB, which used to cost ≈ 7× its size in RSS.
const LINE_BYTES: usize = 50 * 1024 * 1024;
/// The bound: the binary's baseline (runtime, SDK, buffers) plus the 1 MiB row cap, with a wide
/// margin — far below the ≈ 350 MB an uncapped reader needs for this line.
const PEAK_RSS_BOUND_KIB: i64 = 96 * 1024;

/// Runs the step binary on `event` and returns its output and its peak RSS in KiB.
// The child is reaped by wait4 (which std's Child::wait cannot do: it gives no rusage).
#[allow(clippy::zombie_processes)]
fn run_measured(env: Vec<(String, String)>, event: &Value) -> (Value, i64) {
    let mut child =
        harness::spawn_step_binary(env!("CARGO_BIN_EXE_audit-report"), &env, event.to_string());
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut out).unwrap();
        out
    });
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own unwaited child; wait4 writes only into the two locals passed.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4 failed");
    let out = reader.join().unwrap();
    // ru_maxrss is in KiB on Linux.
    (serde_json::from_slice(&out).unwrap(), usage.ru_maxrss)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_50_mb_row_is_counted_unparsed_under_a_peak_rss_bound() {
    let moto = Moto::start();
    let s3 = moto.s3();
    let bucket = harness::unique_bucket("reports");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();

    let mut csv = Vec::with_capacity(LINE_BYTES + 256);
    csv.extend_from_slice(b"lake-prod,");
    csv.resize(csv.len() + LINE_BYTES, b'x');
    csv.extend_from_slice(b",,succeeded,200,,Successful\n");
    csv.extend_from_slice(b"lake-prod,tables/a.parquet,,succeeded,200,,Successful\n");
    csv.extend_from_slice(b"lake-prod,tables/gone.parquet,,failed,404,NoSuchKey,Not found\n");
    let base = format!("batch-reports/job-{JOB}");
    let key = format!("{base}/results/{:040x}.csv", 1);
    let md5 = hex::encode(Md5::digest(&csv));
    s3.put_object()
        .bucket(&bucket)
        .key(&key)
        .body(ByteStream::from(csv))
        .send()
        .await
        .unwrap();
    let manifest = json!({
        "Format": "Report_CSV_20180820",
        "ReportCreationDate": "2021-04-02T06:12:44.123Z",
        "Results": [{"TaskExecutionStatus": "succeeded", "Bucket": &bucket, "MD5Checksum": md5, "Key": key}],
        "ReportSchema": "Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage",
    });
    s3.put_object()
        .bucket(&bucket)
        .key(format!("{base}/manifest.json"))
        .body(ByteStream::from(manifest.to_string().into_bytes()))
        .send()
        .await
        .unwrap();

    let event = json!({
        "source_bucket": "lake-prod",
        "backup_date": "2021-03-31",
        "snapshot_bucket": "lake-prod-31-mar-2021",
        "job_id": JOB,
        "report": {"bucket": &bucket, "prefix": "batch-reports"},
    });
    let env = moto.env();
    let (out, peak_kib) = tokio::task::spawn_blocking(move || run_measured(env, &event))
        .await
        .unwrap();
    println!(
        "peak RSS of audit-report over a 50 MB row: {} MiB",
        peak_kib / 1024
    );
    assert_eq!(out["tasks"]["total"], 3, "{out}");
    assert_eq!(out["tasks"]["succeeded"], 1, "{out}");
    assert_eq!(out["tasks"]["failed"], 1, "{out}");
    assert_eq!(out["tasks"]["unparsed"], 1, "{out}");
    assert_eq!(out["verdict"], "incomplete", "{out}");
    assert!(
        peak_kib < PEAK_RSS_BOUND_KIB,
        "peak RSS {peak_kib} KiB over the bound {PEAK_RSS_BOUND_KIB} KiB"
    );
}
