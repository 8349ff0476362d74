//! The step binary, as the state machine's local runs invoke it: its answer, and a named
//! errorType for every bad input (never a panic).

use serde_json::json;

use crate::support::*;

const BIN: &str = env!("CARGO_BIN_EXE_plan-restore");

#[tokio::test]
async fn the_binary_plans_a_restore_and_names_its_errors() {
    let stage = Stage::new().await;
    let env = stage.moto.env();
    let (code, out) =
        harness::run_step_binary(BIN, &env, stage.event(json!(8), "events/").to_string()).await;
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out["version"], 8);
    let mut missing_target = stage.event(json!(8), "events/");
    missing_target["target"]["bucket"] = json!("no-such-target");
    put(&stage.s3, "lake-prod-restored", "events/x", b"x".to_vec()).await;
    for (event, want) in [
        (json!({"snapshot_bucket": SNAPSHOT}), "InvalidInput"),
        (stage.event(json!("newest"), "events/"), "InvalidInput"),
        (stage.event(json!(-1), "events/"), "InvalidInput"),
        (stage.event(json!(8), "elsewhere/"), "InvalidInput"),
        (stage.event(json!(99), "events/"), "VersionNotRestorable"),
        (stage.event(json!(8), "events/"), "TargetNotEmpty"),
        (missing_target, "TargetNotFound"),
    ] {
        let (code, err) = harness::run_step_binary(BIN, &env, event.to_string()).await;
        assert_ne!(code, Some(0));
        assert_eq!(err["errorType"], want, "{event}: {err}");
    }
}

#[test]
fn the_binary_lists_its_error_types() {
    let out = std::process::Command::new(BIN)
        .arg("--error-types")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for t in [
        "TableNotFound",
        "VersionNotRestorable",
        "TargetNotEmpty",
        "TargetNotFound",
        "SnapshotNotFound",
    ] {
        assert!(text.lines().any(|l| l == t), "{t} in {text}");
    }
}
