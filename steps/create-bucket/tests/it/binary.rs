//! The binary: one JSON answer on stdout, exit status by outcome.

use harness::Moto;
use serde_json::{Value, json};

use crate::support::{assert_locked_down, event};

#[tokio::test]
async fn the_binary_prints_one_json_answer_and_exits_by_outcome() {
    let moto = Moto::start();
    let env = moto.env();
    let run_bin = |ev: &Value| {
        harness::run_step_binary(env!("CARGO_BIN_EXE_create-bucket"), &env, ev.to_string())
    };
    let ev = event(
        json!({"retention": {"mode": "GOVERNANCE", "days": 1}, "extra_field_from_the_state_machine": 1}),
    );
    let (code, out) = run_bin(&ev).await;
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out["bucket"], "lake-prod-31-mar-2021");
    assert_eq!(out["created"], true);
    let (code, out) = run_bin(&ev).await;
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

    let (code, out) = run_bin(&event(json!({"backup_date": "yesterday"}))).await;
    assert_eq!(code, Some(1));
    assert_eq!(out["errorType"], "InvalidInput");
}
