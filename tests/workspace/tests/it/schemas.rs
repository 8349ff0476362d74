//! `schemas/<step>.{input,output}.json` are generated from the step types and committed.
//! This test fails when they are stale; `make schemas` (LAKEVAULT_UPDATE_SCHEMAS=1) rewrites them.
//! A step package not registered yet (`registry_is_complete` says so) has its schemas from its
//! binary's `--schema input|output` when it is built, the same JSON from the same types.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn schemas_dir() -> PathBuf {
    harness::workspace_root().join("schemas")
}

fn render(v: &serde_json::Value) -> String {
    let mut s = serde_json::to_string_pretty(v).expect("schema serialises");
    s.push('\n');
    s
}

/// `<step> --schema <kind>` of a built step binary, parsed.
fn binary_schema(step: &str, kind: &str) -> Value {
    let bin = harness::bin(step);
    let out = Command::new(&bin)
        .args(["--schema", kind])
        .output()
        .unwrap_or_else(|e| panic!("{} --schema {kind}: {e}", bin.display()));
    assert!(
        out.status.success(),
        "{} --schema {kind} failed",
        bin.display()
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{} --schema {kind} is not JSON: {e}", bin.display()))
}

/// Every step's (name, input schema, output schema): the registry's, then the unregistered step
/// packages' that are built; the names of the packages neither registered nor built.
fn all_schemas() -> (Vec<(String, Value, Value)>, Vec<String>) {
    let mut out: Vec<(String, Value, Value)> = workspace_tests::steps()
        .into_iter()
        .map(|s| (s.name.to_owned(), s.input_schema, s.output_schema))
        .collect();
    let mut unbuilt = Vec::new();
    for name in crate::support::step_packages() {
        if out.iter().any(|(n, _, _)| *n == name) {
            continue;
        }
        if harness::bin(&name).exists() {
            eprintln!("{name} is not registered: its schemas come from its binary");
            let (input, output) = (
                binary_schema(&name, "input"),
                binary_schema(&name, "output"),
            );
            out.push((name, input, output));
        } else {
            eprintln!("{name} is neither registered nor built: its schemas are not checked");
            unbuilt.push(name);
        }
    }
    (out, unbuilt)
}

#[test]
fn committed_schemas_are_current() {
    let update = std::env::var_os("LAKEVAULT_UPDATE_SCHEMAS").is_some();
    let mut stale = Vec::new();
    let mut expected_files = Vec::new();
    let (steps, unbuilt) = all_schemas();
    for name in unbuilt {
        expected_files.extend([format!("{name}.input.json"), format!("{name}.output.json")]);
    }
    for (name, input_schema, output_schema) in &steps {
        for (kind, schema) in [("input", input_schema), ("output", output_schema)] {
            let file = format!("{name}.{kind}.json");
            expected_files.push(file.clone());
            let path = schemas_dir().join(&file);
            let want = render(schema);
            let have = std::fs::read_to_string(&path).unwrap_or_default();
            if have != want {
                if update {
                    std::fs::create_dir_all(schemas_dir()).unwrap();
                    std::fs::write(&path, want).unwrap();
                } else {
                    stale.push(file);
                }
            }
        }
    }
    assert!(
        stale.is_empty(),
        "stale or missing schemas: {stale:?}; run `make schemas` and commit schemas/"
    );
    // No schema of a step that no longer exists.
    let mut orphans = Vec::new();
    for entry in std::fs::read_dir(schemas_dir())
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".json") && !expected_files.contains(&name) {
            orphans.push(name);
        }
    }
    assert!(
        orphans.is_empty(),
        "schemas of no registered step: {orphans:?}"
    );
}

#[test]
fn registry_is_complete() {
    let registered: Vec<&str> = workspace_tests::steps().iter().map(|s| s.name).collect();
    for name in crate::support::step_packages() {
        assert!(
            registered.contains(&name.as_str()),
            "steps/{name} is not registered in tests/workspace/src/lib.rs"
        );
    }
}
