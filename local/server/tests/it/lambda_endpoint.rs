//! The local Lambda endpoint, driven by the real `aws-sdk-lambda` client.
//!
//! The functions here are stand-in executables with a step's name that follow the step contract
//! (event on stdin, JSON on stdout, error JSON and exit 1 on failure), so the endpoint's protocol is
//! tested on its own; the end-to-end tests run it with the real steps.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use aws_sdk_lambda::operation::invoke::InvokeOutput;
use aws_sdk_lambda::primitives::Blob;
use lakevault_local::lambda::{Fault, LambdaConfig, LambdaService, UnknownFunction, router};
use serde_json::{Value, json};

fn write_fn(dir: &Path, name: &str, script: &str) {
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{script}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

async fn start(dir: &Path, timeout: Duration) -> (String, std::sync::Arc<LambdaService>) {
    start_with(LambdaConfig::new(
        dir.to_path_buf(),
        vec![("GREETING".into(), "hello".into())],
        timeout,
    ))
    .await
}

async fn start_with(config: LambdaConfig) -> (String, std::sync::Arc<LambdaService>) {
    let svc = LambdaService::new(config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = router(svc.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, svc)
}

fn client(url: &str) -> aws_sdk_lambda::Client {
    let conf = aws_sdk_lambda::Config::builder()
        .behavior_version(kit::clients::behavior_version())
        .region(aws_sdk_lambda::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_lambda::config::Credentials::new(
            "t", "t", None, None, "t",
        ))
        .endpoint_url(url)
        .build();
    aws_sdk_lambda::Client::from_conf(conf)
}

/// Invokes `function` with `payload` (`None`: none sent); the answer, which may be a function
/// error.
async fn invoke(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    payload: Option<Vec<u8>>,
) -> InvokeOutput {
    lambda
        .invoke()
        .function_name(function)
        .set_payload(payload.map(Blob::new))
        .send()
        .await
        .unwrap()
}

fn payload(out: &InvokeOutput) -> Value {
    serde_json::from_slice(out.payload().unwrap().as_ref()).unwrap()
}

#[tokio::test]
async fn invocations_answer_like_lambda_by_name_or_arn_with_errors_and_injected_faults() {
    let dir = tempfile::tempdir().unwrap();
    // Echoes the event back with an env var, or fails like a step does when asked to.
    write_fn(
        dir.path(),
        "notify",
        r#"ev=$(cat)
case "$ev" in
  *fail*) echo '{"errorType":"InvalidInput","errorMessage":"invalid input at $.x: nope"}'; exit 1;;
  *) printf '{"greeting":"%s","event":%s}\n' "$GREETING" "$ev";;
esac"#,
    );
    let (url, svc) = start(dir.path(), Duration::from_secs(30)).await;
    let lambda = client(&url);

    // By name.
    let out = invoke(&lambda, "notify", Some(br#"{"a":1}"#.to_vec())).await;
    assert_eq!(out.status_code(), 200);
    assert_eq!(out.function_error(), None);
    assert_eq!(out.executed_version(), Some("$LATEST"));
    assert_eq!(
        payload(&out),
        json!({"greeting": "hello", "event": {"a": 1}})
    );

    // By ARN, as Step Functions sends it; a function error is HTTP 200 + X-Amz-Function-Error.
    let out = invoke(
        &lambda,
        "arn:aws:lambda:us-east-1:123456789012:function:notify",
        Some(br#"{"fail":true}"#.to_vec()),
    )
    .await;
    assert_eq!(out.status_code(), 200);
    assert_eq!(out.function_error(), Some("Unhandled"));
    assert_eq!(payload(&out)["errorType"], "InvalidInput");

    // Injected faults run first, then the function runs for real again.
    let http = reqwest_like_post(
        &url,
        "/_lakevault/faults",
        r#"{"function":"notify","error_type":"Transient","count":2}"#,
    )
    .await;
    assert_eq!(http, 204);
    for _ in 0..2 {
        let out = invoke(&lambda, "notify", Some(b"{}".to_vec())).await;
        assert_eq!(out.function_error(), Some("Unhandled"));
        assert_eq!(payload(&out)["errorType"], "Transient");
    }
    let out = invoke(&lambda, "notify", Some(b"{}".to_vec())).await;
    assert_eq!(out.function_error(), None);

    let log = svc.invocations();
    assert_eq!(log.len(), 5);
    assert_eq!(log.iter().filter(|i| i.injected).count(), 2);
    assert_eq!(log[1].payload, json!({"fail": true}));

    // Numbered from 1; `?after=N` lists only the later ones (how `lakevault restore --local`
    // follows a run).
    assert_eq!(
        log.iter().map(|i| i.seq).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5]
    );
    let later: Vec<Value> = reqwest::get(format!("{url}/_lakevault/invocations?after=3"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        later.iter().map(|i| i["seq"].clone()).collect::<Vec<_>>(),
        vec![json!(4), json!(5)]
    );
    let all: Vec<Value> = reqwest::get(format!("{url}/_lakevault/invocations"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(all.len(), 5);
}

#[tokio::test]
async fn an_unknown_function_is_resource_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _svc) = start(dir.path(), Duration::from_secs(30)).await;
    let err = client(&url)
        .invoke()
        .function_name("no-such-step")
        .send()
        .await
        .unwrap_err();
    let se = err.into_service_error();
    assert!(se.is_resource_not_found_exception(), "{se:?}");
}

#[tokio::test]
async fn timeouts_and_crashes_are_function_errors_without_and_with_an_error_type() {
    let dir = tempfile::tempdir().unwrap();
    write_fn(dir.path(), "await-job", "sleep 5");
    write_fn(dir.path(), "audit-report", "kill -9 $$");
    let (url, _svc) = start(dir.path(), Duration::from_millis(500)).await;
    let lambda = client(&url);
    let out = invoke(&lambda, "await-job", None).await;
    assert_eq!(out.function_error(), Some("Unhandled"));
    let body = payload(&out);
    // Like Lambda: no errorType, so Step Functions reports Lambda.Unknown.
    assert!(body.get("errorType").is_none());
    assert!(body["errorMessage"].as_str().unwrap().contains("timed out"));

    let out = invoke(&lambda, "audit-report", None).await;
    assert_eq!(out.function_error(), Some("Unhandled"));
    assert_eq!(payload(&out)["errorType"], "Runtime.ExitError");
}

#[tokio::test]
async fn a_step_that_never_reads_its_event_times_out() {
    let dir = tempfile::tempdir().unwrap();
    write_fn(dir.path(), "notify", "sleep 5");
    let (url, _svc) = start(dir.path(), Duration::from_millis(500)).await;
    // Far more than a pipe holds: the write itself blocks until the step reads, which it never
    // does, so only the time limit around the write ends the invocation.
    let event = serde_json::to_vec(&json!({"padding": "x".repeat(1 << 20)})).unwrap();
    let t0 = std::time::Instant::now();
    let out = invoke(&client(&url), "notify", Some(event)).await;
    assert_eq!(out.function_error(), Some("Unhandled"));
    let body = payload(&out);
    assert!(body.get("errorType").is_none(), "{body}");
    assert!(body["errorMessage"].as_str().unwrap().contains("timed out"));
    assert!(t0.elapsed() < Duration::from_secs(4), "{:?}", t0.elapsed());
}

#[tokio::test]
async fn the_invocation_log_keeps_only_the_latest_entries() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = LambdaConfig::new(
        dir.path().to_path_buf(),
        Vec::new(),
        Duration::from_secs(30),
    );
    config.invocation_log_limit = 3;
    let (url, svc) = start_with(config).await;
    // Injected faults do not run anything: five cheap invocations.
    svc.add_fault(Fault {
        function: "notify".into(),
        error_type: "Transient".into(),
        error_message: "injected".into(),
        count: 5,
    })
    .unwrap();
    let lambda = client(&url);
    for n in 0..5 {
        invoke(
            &lambda,
            "notify",
            Some(format!("{{\"n\":{n}}}").into_bytes()),
        )
        .await;
    }
    let log = svc.invocations();
    let kept: Vec<Value> = log.iter().map(|i| i.payload["n"].clone()).collect();
    assert_eq!(kept, [json!(2), json!(3), json!(4)]);
    // A fault for a function the endpoint does not serve is refused by name.
    let err = svc
        .add_fault(Fault {
            function: "no-such-step".into(),
            error_type: "Transient".into(),
            error_message: String::new(),
            count: 1,
        })
        .unwrap_err();
    assert_eq!(err, UnknownFunction("no-such-step".into()));
}

/// A minimal HTTP POST (the fault endpoint is ours, not an AWS API).
async fn reqwest_like_post(url: &str, path: &str, body: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = url.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf);
    text[9..12].parse().unwrap()
}
