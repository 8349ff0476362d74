//! The binary: one JSON answer on stdout, exit status by outcome.

use std::io::Write;
use std::process::{Command, Stdio};

use harness::Moto;
use serde_json::{Value, json};

use crate::support::{assert_locked_down, event};

#[tokio::test]
async fn the_binary_prints_one_json_answer_and_exits_by_outcome() {
    let moto = Moto::start();
    let run_bin = |ev: &Value| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_create-bucket"))
            .envs(moto.env())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(ev.to_string().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        (out.status.code(), v)
    };
    let ev = event(
        json!({"retention": {"mode": "GOVERNANCE", "days": 1}, "extra_field_from_the_state_machine": 1}),
    );
    let (code, out) = run_bin(&ev);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out["bucket"], "lake-prod-31-mar-2021");
    assert_eq!(out["created"], true);
    let (code, out) = run_bin(&ev);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out["created"], false);
    assert_eq!(out["changed"], json!([]));
    assert_locked_down(
        &moto.s3(),
        "lake-prod-31-mar-2021",
        None,
        Some(("GOVERNANCE", 1)),
    )
    .await;

    let (code, out) = run_bin(&event(json!({"backup_date": "yesterday"})));
    assert_eq!(code, Some(1));
    assert_eq!(out["errorType"], "InvalidInput");
}
