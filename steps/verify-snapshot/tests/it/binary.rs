//! The step binary.

use std::process::Command;

#[test]
fn the_binary_lists_its_error_types() {
    let out = Command::new(harness::bin("verify-snapshot"))
        .arg("--error-types")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for t in [
        "InvalidInput",
        "SnapshotNotFound",
        "StoreError",
        "Transient",
        "AccessDenied",
    ] {
        assert!(text.contains(t), "{text}");
    }
}
