//! The step binaries in Lambda mode, as AWS runs them: each one serves invocations through a
//! Lambda Runtime API, here the emulator of cargo-lambda (`cargo lambda watch --only-lambda-apis`,
//! pinned in infra/requirements.txt), and is invoked through the Lambda Invoke API. Everything else
//! in the suite runs the binaries in local mode (one event on stdin); this is the mode the
//! deployed zips run in, where a failure must reach Step Functions as `errorType`.

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_lambda::config::retry::RetryConfig;
use aws_sdk_lambda::error::SdkError;
use aws_sdk_lambda::primitives::Blob;
use harness::Moto;
use serde_json::{Value, json};

/// A process killed on drop.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// cargo-lambda's Runtime API and Invoke API on a free port.
struct RuntimeApi {
    _process: Running,
    port: u16,
}

impl RuntimeApi {
    fn start() -> RuntimeApi {
        let root = harness::workspace_root();
        let bin = root.join(".venv-infra/bin");
        assert!(
            bin.join("cargo-lambda").exists(),
            "cargo-lambda not found: run `make infra-venv` (infra/requirements.txt)"
        );
        let port = harness::free_port();
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut cmd = Command::new(bin.join("cargo-lambda"));
        cmd.args([
            "lambda",
            "watch",
            "--only-lambda-apis",
            "-A",
            "127.0.0.1",
            "-P",
        ])
        .arg(port.to_string())
        .current_dir(&root)
        .env("PATH", path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        harness::die_with_parent(&mut cmd);
        let process = Running(cmd.spawn().expect("cargo lambda watch starts"));
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "the Lambda Runtime API did not come up"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        RuntimeApi {
            _process: process,
            port,
        }
    }

    /// Starts `step` in Lambda mode against this Runtime API (and AWS = moto).
    fn serve(&self, step: &str, moto: &Moto) -> Running {
        let mut cmd = Command::new(harness::bin(step));
        cmd.envs(moto.env())
            .env(
                "AWS_LAMBDA_RUNTIME_API",
                format!("http://127.0.0.1:{}/.rt", self.port),
            )
            .env("AWS_LAMBDA_FUNCTION_NAME", "_")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        harness::die_with_parent(&mut cmd);
        Running(cmd.spawn().unwrap_or_else(|e| panic!("{step} starts: {e}")))
    }

    /// Invokes the function; (HTTP status, payload). A function error's payload is the
    /// `{"errorType", "errorMessage"}` the runtime reported.
    async fn invoke(&self, moto: &Moto, event: &Value) -> (u16, Value) {
        let conf = aws_sdk_lambda::config::Builder::from(&moto.sdk_config())
            .endpoint_url(format!("http://127.0.0.1:{}", self.port))
            // One invocation per call: the SDK would retry a function error's HTTP 500.
            .retry_config(RetryConfig::disabled())
            .build();
        let client = aws_sdk_lambda::Client::from_conf(conf);
        let sent = client
            .invoke()
            .function_name("_")
            .payload(Blob::new(event.to_string()))
            .send()
            .await;
        let (status, body) = match sent {
            Ok(out) => (
                out.status_code() as u16,
                out.payload.map(|b| b.into_inner()).unwrap_or_default(),
            ),
            Err(SdkError::ServiceError(se)) => (
                se.raw().status().as_u16(),
                se.raw().body().bytes().unwrap_or_default().to_vec(),
            ),
            Err(other) => panic!("invoke failed: {other:?}"),
        };
        let payload = serde_json::from_slice(&body).unwrap_or_else(|e| {
            panic!(
                "payload is not JSON ({e}): {}",
                String::from_utf8_lossy(&body)
            )
        });
        (status, payload)
    }
}

#[tokio::test]
async fn every_step_reports_its_error_type_in_lambda_mode() {
    let moto = Moto::start();
    let api = RuntimeApi::start();
    let steps = workspace_tests::steps();
    // Every step package, in Lambda mode (the registry is checked complete in schemas.rs).
    assert_eq!(steps.len(), crate::support::step_packages().len());
    for step in steps {
        let _function = api.serve(step.name, &moto);
        // Not an object: every step's input is one.
        let (status, payload) = api.invoke(&moto, &json!(["not", "an", "event"])).await;
        assert_ne!(status, 200, "{}: {payload}", step.name);
        assert_eq!(
            payload["errorType"], "InvalidInput",
            "{}: {payload}",
            step.name
        );
        assert!(
            payload["errorMessage"]
                .as_str()
                .is_some_and(|m| m.contains("invalid input at $")),
            "{}: {payload}",
            step.name
        );
    }
}

#[tokio::test]
async fn notify_publishes_and_fails_by_name_in_lambda_mode() {
    let moto = Moto::start();
    let sns = kit::clients::sns(&moto.sdk_config());
    let topic = sns
        .create_topic()
        .name("lakevault-notifications")
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let api = RuntimeApi::start();
    let _function = api.serve("notify", &moto);
    let event = |topic: &str| {
        json!({
            "topic_arn": topic, "source_bucket": "lake-prod", "backup_date": "2026-11-20",
            "failure": {"state": "LocateManifest", "Error": "ManifestNotReady",
                        "Cause": "{\"errorType\":\"ManifestNotReady\",\"errorMessage\":\"no delivery yet\"}"}
        })
    };

    // The same process serves several invocations (clients built once, at cold start).
    let (status, out) = api.invoke(&moto, &event(&topic)).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["outcome"], "failed");
    assert_eq!(
        out["subject"],
        "lakevault: lake-prod 2026-11-20 FAILED at LocateManifest: ManifestNotReady"
    );
    assert!(out["message_id"].is_string(), "{out}");

    let missing = topic.replace("lakevault-notifications", "no-such-topic");
    let (status, out) = api.invoke(&moto, &event(&missing)).await;
    assert_ne!(status, 200);
    assert_eq!(out["errorType"], "TopicNotFound", "{out}");
}
