//! copy-parts' request issue rate against a local endpoint: how many UploadPartCopy requests per
//! second the step (the SDK, signing, its scheduling) keeps in flight at 16 and 64 parallel, and
//! what resuming costs (listing and planning a 10,000-part upload). A benchmark, not a timed
//! test: `cargo bench -p copy-parts` (the bench profile: release, fat LTO) prints a table.
//!
//! The endpoint is a loopback HTTP server answering only what copy-parts asks — HeadObject of
//! the source, ListParts (pages of 1,000, from the parts it was sent), UploadPartCopy (after an
//! optional delay: S3's copy time of a part) — so what is measured is the step, not an
//! emulator. `LAKEVAULT_BENCH_PARTS` (default 10000) sets the part count,
//! `LAKEVAULT_BENCH_DELAYS_MS` (default `0,25`) the answer delays tried.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use copy_parts::{CopyParts, Settings};
use kit::Step;

const PART: u64 = 5 << 20;
const ETAG: &str = "d41d8cd98f00b204e9800998ecf8427e-4";

/// The endpoint's state: the parts it was sent (number → length), and its answer delay.
struct Endpoint {
    size: u64,
    delay: Duration,
    parts: Mutex<BTreeMap<u64, u64>>,
    copies: AtomicU64,
}

fn query(uri: &Uri, name: &str) -> Option<String> {
    uri.query()?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == name).then(|| v.to_owned())
    })
}

fn xml(body: String) -> Response {
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/xml")
        .body(Body::from(body))
        .unwrap_or_default()
}

async fn answer(
    State(e): State<Arc<Endpoint>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if method == Method::HEAD {
        return Response::builder()
            .status(StatusCode::OK)
            .header("etag", format!("\"{ETAG}\""))
            .header("content-length", e.size.to_string())
            .header("last-modified", "Wed, 31 Mar 2021 00:00:00 GMT")
            .body(Body::empty())
            .unwrap_or_default();
    }
    if method == Method::PUT && query(&uri, "partNumber").is_some() {
        tokio::time::sleep(e.delay).await;
        let n: u64 = query(&uri, "partNumber")
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let len = headers
            .get("x-amz-copy-source-range")
            .and_then(|v| v.to_str().ok())
            .and_then(|r| r.strip_prefix("bytes="))
            .and_then(|r| r.split_once('-'))
            .and_then(|(a, b)| Some(b.parse::<u64>().ok()? - a.parse::<u64>().ok()? + 1))
            .unwrap_or(0);
        e.parts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(n, len);
        e.copies.fetch_add(1, Ordering::Relaxed);
        return xml(format!(
            "<CopyPartResult><ETag>\"{n:032x}\"</ETag><LastModified>2021-03-31T00:00:01.000Z</LastModified></CopyPartResult>"
        ));
    }
    if method == Method::GET && query(&uri, "uploadId").is_some() {
        let marker: u64 = query(&uri, "part-number-marker")
            .and_then(|m| m.parse().ok())
            .unwrap_or(0);
        let max: usize = query(&uri, "max-parts")
            .and_then(|m| m.parse().ok())
            .unwrap_or(1000);
        let parts = e.parts.lock().unwrap_or_else(|p| p.into_inner());
        let page: Vec<(u64, u64)> = parts
            .range(marker + 1..)
            .take(max)
            .map(|(n, l)| (*n, *l))
            .collect();
        let truncated = page
            .last()
            .is_some_and(|(n, _)| parts.range(n + 1..).next().is_some());
        let next = page.last().map_or(0, |(n, _)| *n);
        let mut body = format!(
            "<ListPartsResult><Bucket>snap</Bucket><Key>k</Key><UploadId>u</UploadId>\
             <PartNumberMarker>{marker}</PartNumberMarker><NextPartNumberMarker>{next}</NextPartNumberMarker>\
             <MaxParts>{max}</MaxParts><IsTruncated>{truncated}</IsTruncated>"
        );
        for (n, l) in page {
            body.push_str(&format!(
                "<Part><PartNumber>{n}</PartNumber><LastModified>2021-03-31T00:00:01.000Z</LastModified>\
                 <ETag>\"{n:032x}\"</ETag><Size>{l}</Size></Part>"
            ));
        }
        body.push_str("</ListPartsResult>");
        return xml(body);
    }
    Response::builder()
        .status(StatusCode::NOT_IMPLEMENTED)
        .body(Body::empty())
        .unwrap_or_default()
}

async fn endpoint(parts: u64, delay: Duration) -> (String, Arc<Endpoint>) {
    let e = Arc::new(Endpoint {
        size: parts * PART,
        delay,
        parts: Mutex::new(BTreeMap::new()),
        copies: AtomicU64::new(0),
    });
    let app = Router::new().fallback(answer).with_state(Arc::clone(&e));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let url = format!("http://{}", listener.local_addr().expect("an address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, e)
}

fn plan(parts: u64) -> serde_json::Value {
    serde_json::json!({"source_bucket": "lake-prod", "key": "events/big.parquet",
        "snapshot_bucket": "lake-prod-31-mar-2021", "upload_id": "u", "already_copied": false,
        "size": parts * PART, "part_size": PART, "parts": parts, "source_etag": ETAG})
}

fn env_list(name: &str, default: &str) -> Vec<u64> {
    std::env::var(name)
        .unwrap_or_else(|_| default.to_owned())
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .collect()
}

#[tokio::main]
async fn main() {
    let parts = env_list("LAKEVAULT_BENCH_PARTS", "10000")
        .first()
        .copied()
        .unwrap_or(10_000);
    let delays = env_list("LAKEVAULT_BENCH_DELAYS_MS", "0,25");
    println!("copy-parts against a loopback endpoint, {parts} parts of 5 MiB\n");
    println!(
        "| parallel | answer delay | UploadPartCopy/s | ideal (parallel / delay) | resume: list + plan {parts} parts |"
    );
    println!("| --- | --- | --- | --- | --- |");
    for delay_ms in delays {
        for parallelism in [16usize, 64] {
            let delay = Duration::from_millis(delay_ms);
            let (url, e) = endpoint(parts, delay).await;
            let s3 = kit::clients::s3(&moto_launcher::sdk_config_for(&url));
            let step = CopyParts::new(
                s3,
                Settings {
                    parallelism,
                    budget: Duration::from_secs(900),
                    list_page_size: 1000,
                },
            );
            let input: copy_parts::Input = serde_json::from_value(plan(parts)).expect("a plan");
            let t0 = Instant::now();
            let out = step.handle(input.clone()).await.expect("copied");
            let copy = t0.elapsed();
            assert!(out.done && e.copies.load(Ordering::Relaxed) == parts);
            let t1 = Instant::now();
            let again = step.handle(input).await.expect("listed");
            let resume = t1.elapsed();
            assert!(again.done && again.copied_now == 0);
            let rate = parts as f64 / copy.as_secs_f64();
            let ideal = if delay_ms == 0 {
                "-".to_owned()
            } else {
                format!("{:.0}", parallelism as f64 * 1000.0 / delay_ms as f64)
            };
            println!(
                "| {parallelism} | {delay_ms} ms | {rate:.0} | {ideal} | {:.0} ms |",
                resume.as_secs_f64() * 1000.0
            );
        }
    }
}
