//! The step binary (local mode: one event on stdin, the output or the error JSON on stdout), as
//! the local Lambda endpoint runs it; every errorType fed its bad input.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::support::{Stage, Upload, events, fixture, upload};

const BIN: &str = env!("CARGO_BIN_EXE_verify-snapshot");

fn run_bin(env: &[(String, String)], event: &Value) -> (Option<i32>, Value) {
    let mut child = Command::new(BIN)
        .envs(env.iter().cloned())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(event.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let v = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    (out.status.code(), v)
}

#[test]
fn the_binary_lists_its_error_types() {
    let out = Command::new(BIN).arg("--error-types").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for t in [
        "InvalidInput",
        "SnapshotNotFound",
        "StoreError",
        "Transient",
        "AccessDenied",
        "ServiceError",
        "ConfigurationError",
        "InternalError",
    ] {
        assert!(text.contains(t), "{text}");
    }
}

#[tokio::test]
async fn the_binary_verifies_three_tables_and_says_which_restore() {
    let st = Stage::new().await;
    upload(
        &st.s3,
        &st.snapshot,
        "events/",
        &events(),
        &Upload::default(),
    )
    .await;
    upload(
        &st.s3,
        &st.snapshot,
        "a/b/encoded/",
        &fixture("encoded"),
        &Upload::default(),
    )
    .await;
    upload(
        &st.s3,
        &st.snapshot,
        "vacuumed/",
        &fixture("vacuumed"),
        &Upload::default(),
    )
    .await;
    let (code, out) = run_bin(&st.moto.env(), &st.event());
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out["verdict"], "degraded", "{out}");
    assert_eq!(
        out["tables"],
        json!({"total": 3, "restorable": 2, "degraded": 1, "unrestorable": 0})
    );
    assert_eq!(
        out["summary"],
        "2 of 3 Delta tables restorable as of 2021-03-31, 1 only at another version"
    );
    // The output conforms to the committed schema's shape: no per-table detail in it.
    assert!(out.get("table_reports").is_none());
}

#[tokio::test]
async fn bad_input_missing_buckets_and_endpoints_have_their_error_types() {
    let st = Stage::new().await;
    let env = st.moto.env();

    let mut bad = st.event();
    bad["snapshot_bucket"] = json!("Not_A_Bucket");
    let (code, out) = run_bin(&env, &bad);
    assert_eq!(
        (code, out["errorType"].as_str()),
        (Some(1), Some("InvalidInput"))
    );
    assert!(
        out["errorMessage"]
            .as_str()
            .unwrap()
            .contains("$.snapshot_bucket")
    );

    let mut bad = st.event();
    bad["report"]["bucket"] = json!("arn:aws:sns:us-east-1:123456789012:reports");
    let (code, out) = run_bin(&env, &bad);
    assert_eq!(
        (code, out["errorType"].as_str()),
        (Some(1), Some("InvalidInput"))
    );
    assert!(
        out["errorMessage"]
            .as_str()
            .unwrap()
            .contains("$.report.bucket")
    );

    let mut gone = st.event();
    gone["snapshot_bucket"] = json!("lake-prod-01-jan-2001");
    let (code, out) = run_bin(&env, &gone);
    assert_eq!(
        (code, out["errorType"].as_str()),
        (Some(1), Some("SnapshotNotFound"))
    );

    // Plain HTTP to anything but this machine is refused before any request.
    let mut remote: Vec<(String, String)> = env.clone();
    remote.push((
        "AWS_ENDPOINT_URL_S3".into(),
        "http://10.255.255.1:9000".into(),
    ));
    let (code, out) = run_bin(&remote, &st.event());
    assert_eq!(
        (code, out["errorType"].as_str()),
        (Some(2), Some("ConfigurationError")),
        "{out}"
    );
}

#[tokio::test]
async fn no_credentials_for_the_delta_reader_is_store_error() {
    // Discovery works unsigned against moto; the reader's store then has no credentials.
    let st = Stage::new().await;
    upload(
        &st.s3,
        &st.snapshot,
        "events/",
        &events(),
        &Upload::default(),
    )
    .await;
    let conf = aws_config::SdkConfig::builder()
        .behavior_version(kit::clients::behavior_version())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(&st.moto.endpoint)
        .build();
    let step = verify_snapshot::VerifySnapshot::new(&conf);
    let input = serde_json::from_value(st.event()).unwrap();
    let e = kit::Step::handle(&step, input).await.unwrap_err();
    assert_eq!(kit::StepError::error_type(&e), "StoreError", "{e}");
}

#[tokio::test]
async fn a_refused_connection_is_transient_and_a_denied_read_is_access_denied() {
    let st = Stage::new().await;
    let mut closed: Vec<(String, String)> = st.moto.env();
    let port = harness::free_port();
    closed.retain(|(k, _)| !k.starts_with("AWS_ENDPOINT_URL"));
    closed.push((
        "AWS_ENDPOINT_URL".into(),
        format!("http://127.0.0.1:{port}"),
    ));
    let (code, out) = run_bin(&closed, &st.event());
    assert_eq!(
        (code, out["errorType"].as_str()),
        (Some(1), Some("Transient")),
        "{out}"
    );

    // Stock moto evaluates bucket policies, object-level actions only: deny reading the log.
    upload(
        &st.s3,
        &st.snapshot,
        "events/",
        &events(),
        &Upload::default(),
    )
    .await;
    let policy = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
        "Resource": format!("arn:aws:s3:::{}/*", st.snapshot)}]});
    st.s3
        .put_bucket_policy()
        .bucket(&st.snapshot)
        .policy(policy.to_string())
        .send()
        .await
        .unwrap();
    let (code, out) = run_bin(&st.moto.env(), &st.event());
    assert_eq!(
        (code, out["errorType"].as_str()),
        (Some(1), Some("AccessDenied")),
        "{out}"
    );
}
