//! The servers' behaviour on the wire, seen from a raw TCP client.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::wire::{self, Head};
use crate::{Fault, FaultEndpoint, Outcome, Proxy, Rule};

const GET: &[u8] = b"GET /bucket/key HTTP/1.1\r\nHost: x\r\n\r\n";

async fn connect(url: &str) -> BufReader<TcpStream> {
    BufReader::new(
        TcpStream::connect(url.trim_start_matches("http://"))
            .await
            .unwrap(),
    )
}

/// Sends `raw` and reads one response: its head and as much body as arrives before the
/// connection ends or `patience` has passed.
async fn exchange(
    c: &mut BufReader<TcpStream>,
    raw: &[u8],
    patience: Duration,
) -> Option<(Head, Vec<u8>, bool)> {
    c.get_mut().write_all(raw).await.unwrap();
    let deadline = tokio::time::Instant::now() + patience;
    let head = tokio::time::timeout_at(deadline, wire::read_head(c))
        .await
        .ok()?
        .unwrap()?;
    let announced = head
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = Vec::new();
    let mut buf = [0u8; 4096];
    let mut closed = false;
    while body.len() < announced {
        match tokio::time::timeout_at(deadline, c.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            Ok(Ok(n)) => body.extend_from_slice(&buf[..n]),
            Err(_) => break,
        }
    }
    Some((head, body, closed))
}

/// An upstream that answers each request (one per connection) with a chunked body naming it.
async fn upstream() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut s = BufReader::new(s);
                let Ok(Some(head)) = wire::read_head(&mut s).await else {
                    return;
                };
                let framing = wire::request_framing(&head).unwrap();
                let body = wire::read_body(&mut s, framing).await.unwrap();
                let text = format!("{} +{}", head.start, body.len());
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{text}\r\n0\r\n\r\n",
                    text.len()
                );
                let _ = s.get_mut().write_all(answer.as_bytes()).await;
            });
        }
    });
    url
}

const SHORT: Duration = Duration::from_millis(300);
const LONG: Duration = Duration::from_secs(5);

#[tokio::test]
async fn a_black_hole_reads_the_request_and_never_answers() {
    let e = FaultEndpoint::black_hole().await.unwrap();
    let mut c = connect(e.url()).await;
    assert!(exchange(&mut c, GET, SHORT).await.is_none());
    assert_eq!(e.exchanges().len(), 1, "the request was read");
    assert_eq!(e.exchanges()[0].request, "GET /bucket/key");
}

#[tokio::test]
async fn slow_down_answers_every_request_503_on_a_kept_connection() {
    let e = FaultEndpoint::slow_down().await.unwrap();
    let mut c = connect(e.url()).await;
    for _ in 0..2 {
        let (head, body, closed) = exchange(&mut c, GET, LONG).await.unwrap();
        assert_eq!(head.status().unwrap(), 503);
        assert!(!closed);
        let body = String::from_utf8(body).unwrap();
        assert!(body.contains("<Error><Code>SlowDown</Code>"), "{body}");
    }
}

#[tokio::test]
async fn a_cut_body_announces_everything_and_closes_half_way() {
    let e = FaultEndpoint::cut_body().await.unwrap();
    let mut c = connect(e.url()).await;
    let (head, body, closed) = exchange(&mut c, GET, LONG).await.unwrap();
    assert_eq!(head.status().unwrap(), 200);
    assert_eq!(head.header("content-length"), Some("16384"));
    assert_eq!(body.len(), 8192);
    assert!(closed);
}

#[tokio::test]
async fn a_stalled_body_stops_half_way_and_keeps_the_connection() {
    let e = FaultEndpoint::stalled_body().await.unwrap();
    let mut c = connect(e.url()).await;
    let (_, body, closed) = exchange(&mut c, GET, SHORT).await.unwrap();
    assert_eq!(body.len(), 8192);
    assert!(!closed, "the connection stays open, silent");
}

#[tokio::test]
async fn a_proxy_forwards_and_faults_from_the_nth_matching_request_on() {
    let up = upstream().await;
    let rule = Rule::from_nth_matching(Fault::CutBody, 2, |r| r.has_query_key("policy"));
    let p = Proxy::start(&up, rule).await.unwrap();
    let mut c = connect(p.url()).await;
    let put = b"PUT /b?policy HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n{\"\"}";
    // Forwarded (the first matching one), re-framed with a length, on a kept connection.
    let (head, body, closed) = exchange(&mut c, put, LONG).await.unwrap();
    assert_eq!(
        String::from_utf8(body).unwrap(),
        "PUT /b?policy HTTP/1.1 +4"
    );
    assert_eq!(head.header("transfer-encoding"), None);
    assert!(!closed);
    let (_, body, _) = exchange(&mut c, GET, LONG).await.unwrap();
    assert_eq!(
        String::from_utf8(body).unwrap(),
        "GET /bucket/key HTTP/1.1 +0"
    );
    // The second matching request is cut: half of the upstream's own answer.
    let (head, body, closed) = exchange(&mut c, b"GET /b?policy HTTP/1.1\r\n\r\n", LONG)
        .await
        .unwrap();
    let whole = "GET /b?policy HTTP/1.1 +0";
    assert_eq!(head.header("content-length"), Some("25"));
    assert_eq!(String::from_utf8(body).unwrap(), whole[..whole.len() / 2]);
    assert!(closed);
    let outcomes: Vec<Outcome> = p.exchanges().into_iter().map(|e| e.outcome).collect();
    assert_eq!(
        outcomes,
        [
            Outcome::Forwarded(200),
            Outcome::Forwarded(200),
            Outcome::Faulted(Fault::CutBody)
        ]
    );
    assert_eq!(p.faulted().len(), 1);
}

#[tokio::test]
async fn a_killed_proxy_forwards_the_first_requests_then_drops_every_connection() {
    let up = upstream().await;
    let p = Proxy::killed_after(&up, 1).await.unwrap();
    let mut c = connect(p.url()).await;
    assert!(exchange(&mut c, GET, LONG).await.is_some());
    for _ in 0..2 {
        let mut c = connect(p.url()).await;
        c.get_mut().write_all(GET).await.unwrap();
        let mut rest = Vec::new();
        let n = tokio::time::timeout(LONG, c.read_to_end(&mut rest))
            .await
            .unwrap()
            .unwrap_or(0);
        assert_eq!(n, 0, "closed without a byte");
    }
    assert_eq!(p.faulted().len(), 2);
}

#[tokio::test]
async fn a_proxy_without_its_upstream_closes_the_connection() {
    // A port nothing listens on: bound, then released.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let p = Proxy::start(
        &format!("http://127.0.0.1:{port}"),
        Rule::matching(Fault::SlowDown, |_| false),
    )
    .await
    .unwrap();
    let mut c = connect(p.url()).await;
    c.get_mut().write_all(GET).await.unwrap();
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(LONG, c.read_to_end(&mut rest)).await;
    assert!(rest.is_empty());
    assert!(matches!(
        p.exchanges()[0].outcome,
        Outcome::UpstreamFailed(_)
    ));
    assert!(
        Proxy::start("http://127.0.0.1:1/path", Rule::after(0, Fault::Drop))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_trickled_body_arrives_a_few_bytes_a_second() {
    let e = FaultEndpoint::trickled_body().await.unwrap();
    let mut c = connect(e.url()).await;
    let started = std::time::Instant::now();
    let (head, body, closed) = exchange(&mut c, GET, Duration::from_millis(600))
        .await
        .unwrap();
    assert_eq!(head.header("content-length"), Some("16384"));
    let rate = body.len() as f64 / started.elapsed().as_secs_f64();
    assert!(
        (1..=8).contains(&body.len()),
        "{} bytes, {rate:.1}/s",
        body.len()
    );
    assert!(!closed);
}
