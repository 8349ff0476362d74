//! `schemas/<step>.{input,output}.json` are generated from the step types and committed.
//! This test fails when they are stale; `make schemas` (LAKEVAULT_UPDATE_SCHEMAS=1) rewrites them.

use std::path::PathBuf;

fn schemas_dir() -> PathBuf {
    harness::workspace_root().join("schemas")
}

fn render(v: &serde_json::Value) -> String {
    let mut s = serde_json::to_string_pretty(v).expect("schema serialises");
    s.push('\n');
    s
}

#[test]
fn committed_schemas_are_current() {
    let update = std::env::var_os("LAKEVAULT_UPDATE_SCHEMAS").is_some();
    let mut stale = Vec::new();
    let mut expected_files = Vec::new();
    for step in workspace_tests::steps() {
        for (kind, schema) in [
            ("input", &step.input_schema),
            ("output", &step.output_schema),
        ] {
            let file = format!("{}.{kind}.json", step.name);
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
