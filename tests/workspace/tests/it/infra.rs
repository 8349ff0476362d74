//! Checks of the deployment templates in `infra/`.
//!
//! * `cfn-lint` (pinned in constraints.txt, installed in `.venv` with moto's server extra) and
//!   `checkov` (pinned in infra/constraints.txt, `.venv-infra`) accept every template without a
//!   single finding, and really do reject a broken one.
//! * The backup template and `statemachine/{backup,backup-source,restore,prune}.asl.json` agree: each
//!   definition's placeholders are exactly its state machine's `DefinitionSubstitutions`, each
//!   filled with its own function (or, for the parent, the child state machine); every step
//!   package is a function whose code is that step's binary; each function times out before its
//!   Task does; each state machine's role invokes exactly its own functions.
//! * The parent and the child, least privilege: the parent's role starts only the child machine,
//!   follows and stops only its executions, manages only the `.sync` events rule and invokes only
//!   notify; notify may read only the child's execution histories; the backup alarms watch the
//!   parent, never the child.
//! * The large copies (objects over 5 GiB), least privilege: only the batch role and the three
//!   large-copy roles may write snapshot objects or abort uploads there, each large-copy role is
//!   allowed exactly what its step calls, list-large-copies reads only the oversize manifests,
//!   create-bucket may set a snapshot bucket's lifecycle (aborting incomplete uploads), and the
//!   source side (infra/source-bucket.yaml) grants plan-large-copy and copy-parts exactly what
//!   their roles read of a source.
//! * The restore side is least privilege, statically: the restore batch role reads snapshots and
//!   writes only the RestoreTargetBuckets (and its completion reports); no other role may write a
//!   target; plan-restore writes only its plans; verify-restore writes nothing.
//! * Retention, least privilege: the prune role is allowed exactly what prune-snapshots calls
//!   (the catalog; a snapshot bucket's listing, lifecycle and deletion; reading and extending an
//!   object's retention) and never deletes an object, bypasses a retention or changes a bucket's
//!   policy or Object Lock; no other role may delete a snapshot bucket or put its lifecycle but
//!   create-bucket (the lifecycle, at creation); the backup schedule hands create-bucket the prune
//!   role's ARN, and the prune schedule's keep policy comes from the Keep* parameters.
//! * `aws cloudformation package` (what `make package` runs) turns the template into a deployable
//!   one against moto's S3: every local path uploaded and replaced, the result still lint-clean.
//! * The source side agrees with itself: infra/source-bucket.yaml writes the statements and
//!   inventory configuration that `onboard-source` writes (the large-copy and restore-target
//!   grants included).
//! * The schedule's run input and the `RestoreSettings` output, rendered from the template for
//!   sample parameters, are valid JSON in the shape the state machines read.
//!
//! Templates are read through cfn-lint's own YAML loader (which understands `!Ref` and friends)
//! and handed over as JSON, so no YAML parser is needed here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

use crate::statemachine::{BACKUP_SOURCE, source_definition};
use crate::support::{all_states, definition, step_packages};

fn root() -> PathBuf {
    harness::workspace_root()
}

/// `<venv>/bin/<name>`, which `make <target>` installs (`why` says from what).
fn installed(venv: &str, name: &str, target: &str, why: &str) -> PathBuf {
    let path = root().join(venv).join("bin").join(name);
    assert!(
        path.exists(),
        "{} not found: run `make {target}` ({why})",
        path.display()
    );
    path
}

fn venv_bin(name: &str) -> PathBuf {
    installed(
        ".venv",
        name,
        "venv",
        "cfn-lint comes with the pinned requirements",
    )
}

fn infra_venv_bin(name: &str) -> PathBuf {
    installed(".venv-infra", name, "infra-venv", "infra/requirements.txt")
}

/// Every `infra/*.yaml`, sorted.
fn templates() -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(root().join("infra"))
        .expect("infra/ exists")
        .map(|e| e.expect("readable infra/ entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    found.sort();
    found
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A CloudFormation template as JSON (intrinsics in their long form: `{"Ref": ...}`).
fn template(path: &Path) -> Value {
    const TO_JSON: &str = "import json, sys\n\
        from cfnlint.decode import decode\n\
        tpl, errors = decode(sys.argv[1])\n\
        if errors or tpl is None:\n    sys.exit('\\n'.join(str(e) for e in errors))\n\
        json.dump(tpl, sys.stdout)\n";
    let out = run(Command::new(venv_bin("python"))
        .args(["-c", TO_JSON])
        .arg(path));
    assert!(
        out.status.success(),
        "cannot load {}: {}",
        path.display(),
        text(&out)
    );
    serde_json::from_slice(&out.stdout).expect("the loader prints JSON")
}

fn backup_template() -> Value {
    template(&root().join("infra/backup-account.yaml"))
}

/// `statemachine/restore.asl.json`, parsed.
fn restore_definition() -> Value {
    let path = root().join("statemachine/restore.asl.json");
    let raw = std::fs::read_to_string(&path).expect("statemachine/restore.asl.json is readable");
    serde_json::from_str(&raw).expect("the restore definition is JSON")
}

/// `statemachine/prune.asl.json`, parsed.
fn prune_definition() -> Value {
    let path = root().join("statemachine/prune.asl.json");
    let raw = std::fs::read_to_string(&path).expect("statemachine/prune.asl.json is readable");
    serde_json::from_str(&raw).expect("the prune definition is JSON")
}

/// The template's state machines: resource id, definition file under statemachine/, the number
/// of functions it invokes, and its definition.
fn machines() -> Vec<(&'static str, &'static str, usize, Value)> {
    let child = BACKUP_SOURCE
        .strip_prefix("statemachine/")
        .expect("under statemachine/");
    vec![
        ("BackupStateMachine", "backup.asl.json", 1, definition()),
        ("BackupSourceStateMachine", child, 12, source_definition()),
        (
            "RestoreStateMachine",
            "restore.asl.json",
            5,
            restore_definition(),
        ),
        ("PruneStateMachine", "prune.asl.json", 1, prune_definition()),
    ]
}

/// The functions the child state machine invokes: the eight backup steps and the four of the
/// large copies (audit-report runs twice, once before and once after them).
const BACKUP_FUNCTIONS: [&str; 12] = [
    "LocateManifestFunction",
    "CreateBucketFunction",
    "SubmitJobFunction",
    "AwaitJobFunction",
    "AuditReportFunction",
    "ListLargeCopiesFunction",
    "PlanLargeCopyFunction",
    "CopyPartsFunction",
    "CompleteLargeCopyFunction",
    "VerifySnapshotFunction",
    "CatalogSnapshotFunction",
    "NotifyFunction",
];

/// The functions the restore state machine invokes (the contract's), by resource id.
const RESTORE_FUNCTIONS: [&str; 5] = [
    "PlanRestoreFunction",
    "SubmitJobFunction",
    "AwaitJobFunction",
    "VerifyRestoreFunction",
    "NotifyFunction",
];

/// The restore steps (sized as verify-snapshot is: they replay a table's log).
const RESTORE_STEPS: [&str; 2] = ["plan-restore", "verify-restore"];

/// The large-copy functions (objects over 5 GiB, copied in parts), by resource id: the child
/// state machine's Map after the audit, and only the child's (a subset of `BACKUP_FUNCTIONS`).
const LARGE_COPY_FUNCTIONS: [&str; 4] = [
    "ListLargeCopiesFunction",
    "PlanLargeCopyFunction",
    "CopyPartsFunction",
    "CompleteLargeCopyFunction",
];

/// The step each Lambda function of the template runs (`<stack>-<step>`), by resource id.
fn template_functions(tpl: &Value) -> BTreeMap<String, String> {
    tpl["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Lambda::Function")
        .map(|(id, r)| {
            let name = r["Properties"]["FunctionName"]["Fn::Sub"]
                .as_str()
                .and_then(|n| n.strip_prefix("${AWS::StackName}-"))
                .unwrap_or_else(|| panic!("{id}: FunctionName is ${{AWS::StackName}}-<step>"));
            (id.clone(), name.to_owned())
        })
        .collect()
}

/// Every string in a JSON document.
fn strings<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::String(s) => out.push(s),
        Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
        Value::Object(m) => m.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

/// The `${Name}` placeholders of the definition.
fn placeholders(asl: &Value) -> BTreeSet<String> {
    let mut all = Vec::new();
    strings(asl, &mut all);
    let mut found = BTreeSet::new();
    for s in all {
        let mut rest = s;
        while let Some(start) = rest.find("${") {
            let after = &rest[start + 2..];
            let end = after.find('}').expect("a placeholder is closed");
            found.insert(after[..end].to_owned());
            rest = &after[end..];
        }
    }
    found
}

/// `locate-manifest` → `LocateManifest`.
fn pascal(kebab: &str) -> String {
    kebab
        .split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

#[test]
fn both_templates_exist() {
    let names: Vec<String> = templates()
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    assert_eq!(names, ["backup-account.yaml", "source-bucket.yaml"]);
}

#[test]
fn cfn_lint_accepts_every_template() {
    // No finding at all is allowed, warnings and informational ones included: each is either a
    // real problem or deserves an explicit, commented exception in the template.
    let out = run(Command::new(venv_bin("cfn-lint"))
        .args(["--format", "parseable", "--"])
        .args(templates()));
    assert!(
        out.status.success(),
        "cfn-lint found problems ({}):\n{}",
        out.status,
        text(&out)
    );
}

#[test]
fn cfn_lint_rejects_a_broken_template() {
    // Guards the test above against a lint run that checks nothing: a misspelled IAM action and
    // a bad runtime must be reported.
    let dir = std::env::temp_dir().join(format!("lakevault-infra-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let broken = dir.join("broken.yaml");
    std::fs::write(
        &broken,
        r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: { Service: lambda.amazonaws.com }
            Action: sts:AssumeRole
      Policies:
        - PolicyName: p
          PolicyDocument:
            Version: "2012-10-17"
            Statement:
              - Effect: Allow
                Action: s3:CreateJobs
                Resource: "*"
  Function:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: provided.al2099
      Handler: bootstrap
      Role: !GetAtt Role.Arn
      Code: { ZipFile: "x" }
"#,
    )
    .unwrap();
    let out = run(Command::new(venv_bin("cfn-lint"))
        .args(["--format", "parseable", "--"])
        .arg(&broken));
    let _ = std::fs::remove_dir_all(&dir);
    // Exit status: bit 2 errors (the runtime), bit 4 warnings (the IAM action, W3037).
    let code = out.status.code().expect("cfn-lint exits normally");
    let report = text(&out);
    assert!(
        code & 2 != 0 && code & 4 != 0,
        "cfn-lint missed a problem: {report}"
    );
    assert!(
        report.contains("W3037") && report.contains("'createjobs'"),
        "{report}"
    );
    assert!(
        report.contains("E3030") && report.contains("provided.al2099"),
        "{report}"
    );
}

#[test]
fn definition_placeholders_are_exactly_the_substitutions() {
    let tpl = backup_template();
    let found: BTreeSet<&str> = tpl["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::StepFunctions::StateMachine")
        .map(|(id, _)| id.as_str())
        .collect();
    assert_eq!(
        found,
        BTreeSet::from([
            "BackupStateMachine",
            "BackupSourceStateMachine",
            "RestoreStateMachine",
            "PruneStateMachine"
        ])
    );
    // Every definition under statemachine/ is one of them.
    let files: BTreeSet<String> = std::fs::read_dir(root().join("statemachine"))
        .expect("statemachine/ exists")
        .map(|e| e.expect("readable statemachine/ entry").file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".asl.json"))
        .collect();
    let deployed: BTreeSet<String> = machines()
        .iter()
        .map(|(_, file, _, _)| (*file).to_owned())
        .collect();
    assert_eq!(files, deployed, "every statemachine/*.asl.json is deployed");
    for (id, file, count, asl) in machines() {
        let props = &tpl["Resources"][id]["Properties"];
        // The definition stays in statemachine/ (`make package` uploads it), never copied in.
        assert_eq!(
            props["DefinitionS3Location"],
            json!(format!("../statemachine/{file}")),
            "{id}"
        );
        assert!(
            props["Definition"].is_null() && props["DefinitionString"].is_null(),
            "{id}"
        );

        let subs = props["DefinitionSubstitutions"]
            .as_object()
            .unwrap_or_else(|| panic!("{id}: DefinitionSubstitutions"));
        let keys: BTreeSet<String> = subs.keys().cloned().collect();
        let functions = keys.iter().filter(|k| k.ends_with("FunctionArn")).count();
        assert_eq!(
            functions, count,
            "{id}: one placeholder per step function: {keys:?}"
        );
        for (key, value) in subs {
            let resource = key.strip_suffix("Arn").expect("keys end in Arn");
            if key.ends_with("StateMachineArn") {
                // Another state machine of the stack (the parent's child), by its ARN.
                assert_eq!(
                    value,
                    &json!({"Ref": resource}),
                    "{key} must be the ARN of {resource}"
                );
                assert_eq!(
                    tpl["Resources"][resource]["Type"], "AWS::StepFunctions::StateMachine",
                    "{resource} is a state machine"
                );
                continue;
            }
            assert_eq!(
                value,
                &json!({"Fn::GetAtt": [resource, "Arn"]}),
                "{key} must be the ARN of {resource}"
            );
            assert_eq!(
                tpl["Resources"][resource]["Type"], "AWS::Lambda::Function",
                "{resource} is a function"
            );
        }
        match id {
            "BackupStateMachine" => assert_eq!(
                keys,
                BTreeSet::from([
                    "BackupSourceStateMachineArn".to_owned(),
                    "NotifyFunctionArn".to_owned()
                ]),
                "the parent: the child machine and notify"
            ),
            "BackupSourceStateMachine" => {
                let want: BTreeSet<String> =
                    BACKUP_FUNCTIONS.iter().map(|f| format!("{f}Arn")).collect();
                assert_eq!(
                    keys, want,
                    "the child: the seven backup steps and the four large-copy steps"
                );
            }
            _ => {}
        }
        if id == "RestoreStateMachine" {
            let want: BTreeSet<String> = RESTORE_FUNCTIONS
                .iter()
                .map(|f| format!("{f}Arn"))
                .collect();
            assert_eq!(keys, want, "the restore contract's five functions");
        }
        if id == "PruneStateMachine" {
            assert_eq!(
                keys,
                BTreeSet::from(["PruneSnapshotsFunctionArn".to_owned()]),
                "the prune machine: prune-snapshots alone"
            );
        }
        assert_eq!(
            placeholders(&asl),
            keys,
            "statemachine/{file}'s placeholders are {id}'s substitutions"
        );
    }
}

#[test]
fn every_step_package_is_a_function() {
    let tpl = backup_template();
    let steps = step_packages();
    let functions = template_functions(&tpl);
    let deployed: BTreeSet<String> = functions.values().cloned().collect();
    assert_eq!(
        functions.len(),
        deployed.len(),
        "one function per step: {functions:?}"
    );
    // Every step package is a function, and every function a step package.
    let undeployed: Vec<&String> = steps.difference(&deployed).collect();
    assert!(
        undeployed.is_empty(),
        "step packages without a function: {undeployed:?}"
    );
    let without_package: Vec<&String> = deployed.difference(&steps).collect();
    assert!(
        without_package.is_empty(),
        "functions without a step package: {without_package:?}"
    );
    assert_eq!(
        deployed.len(),
        15,
        "the eight backup steps, the two restore steps, the four large-copy steps and \
         prune-snapshots: {deployed:?}"
    );

    // The template side, for every function.
    for (id, step) in &functions {
        assert_eq!(id, &format!("{}Function", pascal(step)));
        let f = &tpl["Resources"][id]["Properties"];
        assert_eq!(f["Runtime"], "provided.al2023", "{id}");
        assert_eq!(f["Handler"], "bootstrap", "{id}");
        assert_eq!(f["Architectures"], json!(["arm64"]), "{id}");
        // The zip `make zips` builds for this step (cargo-lambda names it after the binary,
        // which is the package's own), relative to infra/.
        assert_eq!(
            f["Code"],
            json!(format!("../target/lambda/{step}/bootstrap.zip")),
            "{id}"
        );
        // Its own role, its own log group.
        let role = format!("{}Role", pascal(step));
        assert_eq!(f["Role"], json!({"Fn::GetAtt": [role, "Arn"]}), "{id}");
        assert_eq!(tpl["Resources"][&role]["Type"], "AWS::IAM::Role", "{role}");
        let logs = format!("{}LogGroup", pascal(step));
        assert_eq!(f["LoggingConfig"]["LogGroup"], json!({"Ref": logs}), "{id}");
        assert!(
            tpl["Resources"][&logs]["Properties"]["RetentionInDays"].is_object(),
            "{logs} has a retention"
        );
        assert_eq!(
            tpl["Resources"][&logs]["Properties"]["LogGroupName"],
            json!({"Fn::Sub": format!("/aws/lambda/${{AWS::StackName}}-{step}")}),
            "{logs}"
        );
    }
    // The restore steps: sized as verify-snapshot is (they replay a table's log).
    for step in RESTORE_STEPS {
        let f = &tpl["Resources"][format!("{}Function", pascal(step))]["Properties"];
        assert_eq!(f["MemorySize"], 2048, "{step}");
        assert_eq!(f["Timeout"], 890, "{step}");
    }
    // The large-copy steps: copy-parts runs close to Lambda's limit (its budget, then the parts
    // in flight), complete-large-copy waits for S3 to assemble thousands of parts, plan-large-copy
    // makes a few requests, list-large-copies reads one small CSV.
    for (id, memory, timeout) in [
        ("ListLargeCopiesFunction", 256, 110),
        ("PlanLargeCopyFunction", 256, 110),
        ("CopyPartsFunction", 1024, 890),
        ("CompleteLargeCopyFunction", 256, 890),
        // prune-snapshots works within its budget, then answers where it stopped.
        ("PruneSnapshotsFunction", 512, 890),
    ] {
        let f = &tpl["Resources"][id]["Properties"];
        assert_eq!(f["MemorySize"], memory, "{id}");
        assert_eq!(f["Timeout"], timeout, "{id}");
    }
    // copy-parts' budget plus its operation timeout stays within what the step accepts (870 s)
    // and within the function's timeout; complete-large-copy's operation outlasts a slow
    // CompleteMultipartUpload.
    let env = |id: &str, var: &str| -> u64 {
        tpl["Resources"][id]["Properties"]["Environment"]["Variables"][var]
            .as_str()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{id} sets {var}"))
    };
    let budget = env("CopyPartsFunction", "LAKEVAULT_COPY_BUDGET_SECONDS");
    let operation = env("CopyPartsFunction", "LAKEVAULT_OPERATION_TIMEOUT_SECONDS");
    assert!(budget + operation <= 870, "{budget} + {operation}");
    assert!(env("CopyPartsFunction", "LAKEVAULT_ATTEMPT_TIMEOUT_SECONDS") <= operation);
    assert_eq!(
        env(
            "CompleteLargeCopyFunction",
            "LAKEVAULT_OPERATION_TIMEOUT_SECONDS"
        ),
        300
    );
    // prune-snapshots' budget leaves the requests in flight time to end before the timeout.
    let prune_budget = env("PruneSnapshotsFunction", "LAKEVAULT_PRUNE_BUDGET_SECONDS");
    assert_eq!(prune_budget, 600);
    assert!(
        prune_budget
            < tpl["Resources"]["PruneSnapshotsFunction"]["Properties"]["Timeout"]
                .as_u64()
                .unwrap()
    );

    // The package side, for every step package.
    for step in &steps {
        assert!(
            root().join("steps").join(step).join("src/main.rs").exists(),
            "steps/{step} has a binary"
        );
        let manifest = std::fs::read_to_string(root().join("steps").join(step).join("Cargo.toml"))
            .expect("a step manifest");
        assert!(
            manifest.contains(&format!("name = \"{step}\"")) && !manifest.contains("[[bin]]"),
            "steps/{step}: the binary is named after the package"
        );
        assert!(
            harness::bin(step).exists(),
            "the {step} binary is built (cargo test --workspace builds every step)"
        );
    }
}

#[test]
fn functions_time_out_before_their_tasks() {
    let tpl = backup_template();
    for (id, file, count, asl) in machines() {
        // Every Task state (also inside Map/Parallel), by name.
        let found: BTreeMap<String, Value> = all_states(&asl)
            .into_iter()
            .filter(|(_, s)| s["Type"] == "Task")
            .collect();
        let mut checked = BTreeSet::new();
        for (name, task) in &found {
            let Some(target) = task["Parameters"]["FunctionName"].as_str() else {
                // The parent's child Task: no function (its own timeout outlasts the child's polls).
                assert_eq!(
                    task["Resource"], "arn:aws:states:::states:startExecution.sync:2",
                    "{file} {name}"
                );
                continue;
            };
            let function = target
                .strip_prefix("${")
                .and_then(|t| t.strip_suffix("Arn}"))
                .unwrap_or_else(|| {
                    panic!("{file} {name}: FunctionName {target} is not a placeholder")
                });
            let task_timeout = task["TimeoutSeconds"]
                .as_u64()
                .unwrap_or_else(|| panic!("{file} {name} has no TimeoutSeconds"));
            let timeout = tpl["Resources"][function]["Properties"]["Timeout"]
                .as_u64()
                .unwrap_or_else(|| panic!("{function} has no numeric Timeout"));
            assert!(
                timeout < task_timeout,
                "{function} times out after {timeout} s, its Task {name} ({file}) after {task_timeout} s"
            );
            checked.insert(function.to_owned());
        }
        assert_eq!(checked.len(), count, "{id}: {checked:?}");
    }
}

#[test]
fn state_machine_role_invokes_exactly_the_step_functions() {
    let tpl = backup_template();
    let mut roles = BTreeSet::new();
    for (id, _, _, _) in machines() {
        let props = &tpl["Resources"][id]["Properties"];
        let role = props["RoleArn"]["Fn::GetAtt"][0]
            .as_str()
            .unwrap_or_else(|| panic!("{id}: RoleArn is a role of the template"));
        assert!(roles.insert(role.to_owned()), "{id} has a role of its own");
        let statements =
            &tpl["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"];
        let invoke: Vec<&Value> = statements
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["Action"] == "lambda:InvokeFunction")
            .collect();
        assert_eq!(invoke.len(), 1, "{role}");
        // Every Resource is a function of the stack, by its ARN.
        let mut resources: Vec<String> = invoke[0]["Resource"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["Fn::GetAtt"][0].as_str().unwrap().to_owned())
            .collect();
        resources.sort();
        // Exactly the functions of its own definition's substitutions.
        let mut want: Vec<String> = props["DefinitionSubstitutions"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| k.ends_with("FunctionArn"))
            .map(|(_, v)| v["Fn::GetAtt"][0].as_str().unwrap().to_owned())
            .collect();
        want.sort();
        assert_eq!(resources, want, "{role}");
        // Nothing else that reaches a function or a step's data (the parent's child statements
        // are checked in the_parent_may_start_and_follow_only_the_child).
        let parent_only = ["StartChild", "FollowChild", "SyncEventsRule"];
        for s in statements.as_array().unwrap() {
            let text = s["Action"].to_string();
            let sid = s["Sid"].as_str().unwrap_or_default();
            assert!(
                sid == "InvokeSteps"
                    || sid == "DeliverLogs"
                    || (id == "BackupStateMachine" && parent_only.contains(&sid)),
                "{role}: {s}"
            );
            assert!(
                !text.contains("s3:") && !text.contains("iam:"),
                "{role}: {s}"
            );
        }
    }
    // The child invokes the seven backup steps and the four large-copy steps, the parent notify,
    // the restore machine its five.
    let invoked = |id: &str| -> BTreeSet<String> {
        tpl["Resources"][id]["Properties"]["DefinitionSubstitutions"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| k.ends_with("FunctionArn"))
            .map(|(_, v)| v["Fn::GetAtt"][0].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        invoked("RestoreStateMachine"),
        RESTORE_FUNCTIONS.iter().map(|f| (*f).to_owned()).collect()
    );
    assert_eq!(
        invoked("BackupSourceStateMachine"),
        BACKUP_FUNCTIONS.iter().map(|f| (*f).to_owned()).collect()
    );
    assert_eq!(
        invoked("BackupStateMachine"),
        BTreeSet::from(["NotifyFunction".to_owned()])
    );
    assert_eq!(
        invoked("PruneStateMachine"),
        BTreeSet::from(["PruneSnapshotsFunction".to_owned()])
    );
    // Every function is invoked by some machine; the large-copy steps by the child only.
    let all: BTreeSet<String> = template_functions(&tpl).into_keys().collect();
    let used: BTreeSet<String> = [
        "BackupSourceStateMachine",
        "RestoreStateMachine",
        "PruneStateMachine",
    ]
    .iter()
    .flat_map(|m| invoked(m))
    .collect();
    assert_eq!(all, used, "every function is a machine's step");
    let large: BTreeSet<String> = LARGE_COPY_FUNCTIONS
        .iter()
        .map(|f| (*f).to_owned())
        .collect();
    assert!(
        large.is_subset(&invoked("BackupSourceStateMachine")),
        "the child copies the large objects"
    );
    assert!(
        large.is_disjoint(&invoked("RestoreStateMachine"))
            && large.is_disjoint(&invoked("BackupStateMachine"))
            && large.is_disjoint(&invoked("PruneStateMachine")),
        "only the child invokes the large-copy steps"
    );
}

/// `arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:<child>:*`, as the
/// template spells the child's executions.
const CHILD_EXECUTIONS: &str = "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:${AWS::StackName}-backup-source:*";

#[test]
fn the_parent_may_start_and_follow_only_the_child() {
    let tpl = backup_template();
    let r = &tpl["Resources"];
    // The child: its name is what the parent's and notify's grants are scoped to.
    let child = &r["BackupSourceStateMachine"]["Properties"];
    assert_eq!(
        child["StateMachineName"],
        json!({"Fn::Sub": "${AWS::StackName}-backup-source"})
    );
    assert_eq!(child["StateMachineType"], "STANDARD");
    assert_eq!(
        child["RoleArn"],
        json!({"Fn::GetAtt": ["BackupSourceStateMachineRole", "Arn"]})
    );
    assert_eq!(child["LoggingConfiguration"]["Level"], "ALL");
    assert_eq!(
        r["BackupSourceStateMachineLogGroup"]["Properties"]["LogGroupName"],
        json!({"Fn::Sub": "/aws/vendedlogs/states/${AWS::StackName}-backup-source"})
    );
    assert_eq!(
        tpl["Outputs"]["BackupSourceStateMachineArn"]["Value"],
        json!({"Ref": "BackupSourceStateMachine"})
    );

    // The parent's role, statement by statement.
    let statements =
        r["StateMachineRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
            .as_array()
            .unwrap()
            .clone();
    let by_sid = |sid: &str| -> Value {
        statements
            .iter()
            .find(|s| s["Sid"] == sid)
            .unwrap_or_else(|| panic!("no {sid}"))
            .clone()
    };
    let start = by_sid("StartChild");
    assert_eq!(start["Action"], "states:StartExecution");
    assert_eq!(
        start["Resource"],
        json!({"Ref": "BackupSourceStateMachine"})
    );
    let follow = by_sid("FollowChild");
    assert_eq!(
        follow["Action"],
        json!(["states:DescribeExecution", "states:StopExecution"])
    );
    assert_eq!(follow["Resource"], json!({"Fn::Sub": CHILD_EXECUTIONS}));
    let rule = by_sid("SyncEventsRule");
    assert_eq!(
        rule["Action"],
        json!(["events:PutTargets", "events:PutRule", "events:DescribeRule"])
    );
    assert_eq!(
        rule["Resource"],
        json!({"Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/StepFunctionsGetEventsForStepFunctionsExecutionRule"})
    );
    assert_eq!(
        by_sid("InvokeSteps")["Resource"],
        json!([{"Fn::GetAtt": ["NotifyFunction", "Arn"]}])
    );
    // No other states:/events: grant anywhere in the parent's role, and no wildcard action.
    for s in &statements {
        let actions = s["Action"].to_string();
        assert!(!actions.contains('*'), "{s}");
        if actions.contains("states:") || actions.contains("events:") {
            assert!(
                ["StartChild", "FollowChild", "SyncEventsRule"]
                    .contains(&s["Sid"].as_str().unwrap()),
                "{s}"
            );
        }
    }
    // The child's role starts nothing.
    let child_role = r["BackupSourceStateMachineRole"]["Properties"].to_string();
    assert!(!child_role.contains("states:"), "{child_role}");
    assert!(!child_role.contains("events:"), "{child_role}");

    // notify reads the child's histories, nothing else of Step Functions; no other role may.
    let notify = r["NotifyRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        .as_array()
        .unwrap()
        .clone();
    let history: Vec<&Value> = notify
        .iter()
        .filter(|s| s["Action"].to_string().contains("states:"))
        .collect();
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(history[0]["Action"], "states:GetExecutionHistory");
    assert_eq!(history[0]["Resource"], json!({"Fn::Sub": CHILD_EXECUTIONS}));
    for (id, res) in r.as_object().unwrap() {
        if res["Type"] != "AWS::IAM::Role"
            || [
                "StateMachineRole",
                "NotifyRole",
                "ScheduleRole",
                "PruneScheduleRole",
            ]
            .contains(&id.as_str())
        {
            continue;
        }
        assert!(
            !res["Properties"].to_string().contains("\"states:"),
            "{id} reaches Step Functions"
        );
    }
    // The schedule starts the parent only.
    let schedule =
        r["ScheduleRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"].to_string();
    assert!(schedule.contains("\"BackupStateMachine\""), "{schedule}");
    assert!(!schedule.contains("BackupSourceStateMachine"), "{schedule}");
    assert!(!schedule.contains("PruneStateMachine"), "{schedule}");
    // The prune schedule's own role starts the prune machine, and nothing else.
    let prune = r["PruneScheduleRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(prune.len(), 1, "{prune:?}");
    assert_eq!(prune[0]["Action"], "states:StartExecution");
    assert_eq!(prune[0]["Resource"], json!({"Ref": "PruneStateMachine"}));
}

// ------------------------------------------------------------------ the schedule's run input

/// Just enough of CloudFormation's intrinsic functions to render the schedule input, the ARN
/// lists, property blocks and policies: Ref (AWS::NoValue included: the entry is left out),
/// Fn::GetAtt, Fn::Join, Fn::Split, Fn::Sub, Fn::If, Fn::Not, Fn::Equals, Condition.
struct Render<'a> {
    tpl: &'a Value,
    params: BTreeMap<String, Value>,
}

impl<'a> Render<'a> {
    fn new(tpl: &'a Value, given: &[(&str, &str)]) -> Render<'a> {
        let mut params = BTreeMap::new();
        for (name, p) in tpl["Parameters"].as_object().unwrap() {
            let raw = given
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| (*v).to_owned())
                .or_else(|| {
                    p.get("Default").map(|d| match d {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                });
            let Some(raw) = raw else { continue };
            let value = if p["Type"] == "CommaDelimitedList" {
                json!(raw.split(',').collect::<Vec<_>>())
            } else {
                json!(raw)
            };
            params.insert(name.clone(), value);
        }
        Render { tpl, params }
    }

    fn reference(&self, name: &str) -> Value {
        match name {
            "AWS::AccountId" => json!("222222222222"),
            "AWS::Region" => json!("eu-west-1"),
            "AWS::Partition" => json!("aws"),
            "AWS::StackName" => json!("lakevault"),
            // Left out of the list or object holding it (see `eval`).
            "AWS::NoValue" => Value::Null,
            _ => {
                if let Some(v) = self.params.get(name) {
                    return v.clone();
                }
                let Some(resource) = self.tpl["Resources"].get(name) else {
                    panic!("Ref to unknown {name} (a required parameter without a test value?)");
                };
                // What Ref returns differs by type; a recognisable stand-in is all JSON needs.
                json!(format!(
                    "ref-{}-{}",
                    resource["Type"].as_str().unwrap(),
                    name
                ))
            }
        }
    }

    fn get_att(&self, resource: &str, attr: &str) -> Value {
        assert!(self.tpl["Resources"].get(resource).is_some(), "{resource}");
        json!(format!("arn:aws:test:::{resource}.{attr}"))
    }

    fn condition(&self, name: &str) -> bool {
        let c = &self.tpl["Conditions"][name];
        assert!(!c.is_null(), "unknown condition {name}");
        self.eval(c).as_bool().expect("a condition is a boolean")
    }

    fn eval(&self, v: &Value) -> Value {
        // Templates hold no nulls: a null is an AWS::NoValue, and goes.
        let Value::Object(m) = v else {
            return match v {
                Value::Array(a) => Value::Array(
                    a.iter()
                        .map(|x| self.eval(x))
                        .filter(|x| !x.is_null())
                        .collect(),
                ),
                other => other.clone(),
            };
        };
        let Some((f, arg)) = m.iter().next() else {
            return v.clone();
        };
        let intrinsic = m.len() == 1 && (f == "Ref" || f == "Condition" || f.starts_with("Fn::"));
        if !intrinsic {
            // A plain object (a policy statement, a property block): render its values.
            return Value::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), self.eval(v)))
                    .filter(|(_, v)| !v.is_null())
                    .collect(),
            );
        }
        match f.as_str() {
            "Ref" => self.reference(arg.as_str().unwrap()),
            "Fn::GetAtt" => self.get_att(arg[0].as_str().unwrap(), arg[1].as_str().unwrap()),
            "Fn::Join" => {
                let parts: Vec<String> = self
                    .eval(&arg[1])
                    .as_array()
                    .expect("Fn::Join takes a list")
                    .iter()
                    .map(|p| p.as_str().expect("Fn::Join parts are strings").to_owned())
                    .collect();
                json!(parts.join(arg[0].as_str().unwrap()))
            }
            "Fn::Split" => {
                let whole = self.eval(&arg[1]);
                let whole = whole.as_str().expect("Fn::Split takes a string");
                json!(whole.split(arg[0].as_str().unwrap()).collect::<Vec<_>>())
            }
            "Fn::Sub" => {
                // `!Sub "text"` or `!Sub ["text", {Var: value}]`.
                let (s, vars) = match arg {
                    Value::String(s) => (s.as_str(), serde_json::Map::new()),
                    _ => (
                        arg[0].as_str().expect("Fn::Sub text"),
                        arg[1].as_object().expect("Fn::Sub variables").clone(),
                    ),
                };
                let mut out = String::new();
                let mut rest = s;
                while let Some(start) = rest.find("${") {
                    out.push_str(&rest[..start]);
                    let after = &rest[start + 2..];
                    let end = after.find('}').unwrap();
                    let name = &after[..end];
                    let value = match (vars.get(name), name.split_once('.')) {
                        (Some(v), _) => self.eval(v),
                        (None, Some((r, a))) if !name.starts_with("AWS::") => self.get_att(r, a),
                        _ => self.reference(name),
                    };
                    out.push_str(value.as_str().expect("a scalar in Fn::Sub"));
                    rest = &after[end + 1..];
                }
                out.push_str(rest);
                json!(out)
            }
            "Fn::If" => {
                let branch = if self.condition(arg[0].as_str().unwrap()) {
                    1
                } else {
                    2
                };
                self.eval(&arg[branch])
            }
            "Fn::Not" => json!(!self.eval(&arg[0]).as_bool().unwrap()),
            "Fn::Equals" => json!(self.eval(&arg[0]) == self.eval(&arg[1])),
            "Condition" => json!(self.condition(arg.as_str().unwrap())),
            other => panic!("{other} is not rendered by this test"),
        }
    }
}

fn schedule_input(tpl: &Value, params: &[(&str, &str)]) -> Value {
    let input = &tpl["Resources"]["DailySchedule"]["Properties"]["Target"]["Input"];
    let rendered = Render::new(tpl, params).eval(input);
    let text = rendered.as_str().expect("Input renders to a string");
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// `$.settings.<key>` paths the definition reads.
fn settings_read(asl: &Value) -> BTreeSet<String> {
    let mut all = Vec::new();
    strings(asl, &mut all);
    all.iter()
        .filter_map(|s| s.strip_prefix("$.settings."))
        .map(|rest| rest.split('.').next().unwrap().to_owned())
        .collect()
}

const REQUIRED: &[(&str, &str)] = &[
    ("SourceAccountId", "111111111111"),
    ("SnapshotBucketPrefix", "acme-lakevault"),
];

#[test]
fn schedule_input_is_a_run_input_with_defaults() {
    let tpl = backup_template();
    let mut params = REQUIRED.to_vec();
    params.push(("SourceBuckets", "lake-prod"));
    params.push(("BreakGlassRoleArns", "arn:aws:iam::222222222222:role/bg"));
    let input = schedule_input(&tpl, &params);

    assert_eq!(input["sources"], json!([{"source_bucket": "lake-prod"}]));
    let s = &input["settings"];
    assert_eq!(s["account_id"], "222222222222");
    assert_eq!(s["inventory"]["prefix"], "inventory");
    assert_eq!(s["inventory"]["configuration_id"], "daily");
    assert!(
        s["inventory"]["bucket"]
            .as_str()
            .unwrap()
            .contains("InventoryBucket")
    );
    assert!(
        s["role_arn"]
            .as_str()
            .unwrap()
            .contains("BatchOperationsRole.Arn")
    );
    assert_eq!(s["report"]["prefix"], "reports");
    assert!(
        s["topic_arn"]
            .as_str()
            .unwrap()
            .contains("NotificationTopic")
    );
    assert_eq!(s["bucket_prefix"], "acme-lakevault");
    assert_eq!(s["kms_key_arn"], Value::Null);
    assert_eq!(s["retention"], json!({"mode": "GOVERNANCE", "days": 35}));
    assert_eq!(
        s["break_glass_role_arns"],
        json!(["arn:aws:iam::222222222222:role/bg"])
    );
    assert_eq!(s["priority"], 10);
    assert_eq!(s["storage_class"], "STANDARD");
    assert_eq!(s["poll_seconds"], 60);
    assert_eq!(s["max_polls"], 1440);
    assert_eq!(s["max_concurrency"], 4);
    // create-bucket exempts the prune role in each new bucket's policy.
    assert_eq!(s["prune_role_arn"], "arn:aws:test:::PruneSnapshotsRole.Arn");

    // The schedule sends only settings the state machine reads (a typo would be ignored
    // silently), and every setting the definition reads is either sent or has a default there.
    let asl = definition();
    let sent: BTreeSet<String> = s.as_object().unwrap().keys().cloned().collect();
    // The parent reads some, and hands all of them to each child.
    let mut read = settings_read(&asl);
    read.extend(settings_read(&source_definition()));
    let defaulted: BTreeSet<String> = asl["States"]["InjectDefaults"]["Result"]
        .as_object()
        .expect("InjectDefaults holds the settings' defaults")
        .keys()
        .cloned()
        .collect();
    let unknown: Vec<&String> = sent.difference(&read).collect();
    assert!(unknown.is_empty(), "the definition never reads {unknown:?}");
    let missing: Vec<&String> = read
        .iter()
        .filter(|k| !sent.contains(*k) && !defaulted.contains(*k))
        .collect();
    assert!(missing.is_empty(), "the schedule leaves out {missing:?}");
}

#[test]
fn schedule_input_with_every_option() {
    let tpl = backup_template();
    let kms = "arn:aws:kms:eu-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    let mut params = REQUIRED.to_vec();
    params.extend([
        ("SourceBuckets", "lake-prod,lake.raw,lake_old"),
        (
            "BreakGlassRoleArns",
            "arn:aws:iam::222222222222:role/a,arn:aws:iam::222222222222:role/b",
        ),
        ("RetentionMode", "COMPLIANCE"),
        ("RetentionDays", "3650"),
        ("SnapshotKmsKeyArn", kms),
        ("StorageClass", "GLACIER_IR"),
        ("MaxConcurrency", "8"),
    ]);
    let input = schedule_input(&tpl, &params);
    assert_eq!(
        input["sources"],
        json!([
            {"source_bucket": "lake-prod"},
            {"source_bucket": "lake.raw"},
            {"source_bucket": "lake_old"}
        ])
    );
    let s = &input["settings"];
    assert_eq!(s["kms_key_arn"], kms);
    assert_eq!(s["retention"], json!({"mode": "COMPLIANCE", "days": 3650}));
    assert_eq!(
        s["break_glass_role_arns"],
        json!([
            "arn:aws:iam::222222222222:role/a",
            "arn:aws:iam::222222222222:role/b"
        ])
    );
    assert_eq!(s["storage_class"], "GLACIER_IR");
    assert_eq!(s["max_concurrency"], 8);

    params.retain(|(n, _)| *n != "RetentionMode");
    params.push(("RetentionMode", "NONE"));
    assert_eq!(
        schedule_input(&tpl, &params)["settings"]["retention"],
        Value::Null
    );
}

#[test]
fn source_arn_lists_cover_every_source_bucket() {
    // The Join/Split construction of ARN lists from the SourceBuckets list.
    let tpl = backup_template();
    let mut params = REQUIRED.to_vec();
    params.extend([
        ("SourceBuckets", "lake-prod,lake-raw"),
        ("BreakGlassRoleArns", "arn:aws:iam::222222222222:role/bg"),
    ]);
    let r = Render::new(&tpl, &params);
    let split = |v: &Value| -> Vec<String> {
        // Fn::Split is only used at the top of these lists.
        let arg = &v["Fn::Split"];
        r.eval(&arg[1])
            .as_str()
            .unwrap()
            .split(arg[0].as_str().unwrap())
            .map(str::to_owned)
            .collect()
    };
    let delivery = &tpl["Resources"]["InventoryBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
        [0]["Condition"]["ArnLike"]["aws:SourceArn"];
    assert_eq!(
        split(delivery),
        ["arn:aws:s3:::lake-prod", "arn:aws:s3:::lake-raw"]
    );
    let read = &tpl["Resources"]["BatchOperationsRole"]["Properties"]["Policies"][0]["PolicyDocument"]
        ["Statement"][0];
    assert_eq!(read["Sid"], "ReadSourceObjects");
    assert_eq!(
        split(&read["Resource"]),
        ["arn:aws:s3:::lake-prod/*", "arn:aws:s3:::lake-raw/*"]
    );
}

// ------------------------------------------------------------------------------------ checkov

/// checkov's summary of a scan of `dir` (CloudFormation only, offline).
fn checkov(dir: &Path) -> (Value, String) {
    let out = run(Command::new(infra_venv_bin("checkov"))
        .args([
            "--framework",
            "cloudformation",
            "--skip-download",
            "--compact",
        ])
        .args(["--output", "json", "--directory"])
        .arg(dir));
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("checkov printed no JSON ({e}): {}", text(&out)));
    // One framework: one report object.
    (report, text(&out))
}

#[test]
fn checkov_passes_every_template() {
    // No failed check; every skip is inline in the template with a comment giving the reason.
    let (report, raw) = checkov(&root().join("infra"));
    let summary = &report["summary"];
    assert_eq!(summary["failed"], 0, "checkov failed checks:\n{raw}");
    assert_eq!(summary["parsing_errors"], 0, "{raw}");
    assert!(
        summary["passed"].as_u64().unwrap_or(0) > 100,
        "checkov checked next to nothing: {summary}"
    );
    let skipped = report["results"]["skipped_checks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for check in &skipped {
        let reason = check["check_result"]["suppress_comment"]
            .as_str()
            .unwrap_or("");
        assert!(
            reason.len() > 20,
            "{} on {} is skipped without a reason",
            check["check_id"],
            check["resource"]
        );
    }
}

#[test]
fn checkov_fails_a_broken_template() {
    // Guards the test above against a scan that checks nothing: a public, unencrypted bucket.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("broken.yaml"),
        r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Bucket:
    Type: AWS::S3::Bucket
    Properties:
      PublicAccessBlockConfiguration:
        BlockPublicAcls: false
        BlockPublicPolicy: false
        IgnorePublicAcls: false
        RestrictPublicBuckets: false
"#,
    )
    .unwrap();
    let (report, raw) = checkov(dir.path());
    assert!(
        report["summary"]["failed"].as_u64().unwrap_or(0) >= 3,
        "checkov missed a public bucket: {raw}"
    );
}

// ---------------------------------------------------------------------------------- packaging

/// The steps' stand-in zips for packaging: real zip files (the AWS CLI uploads a zip as is),
/// each with a different `bootstrap`, so a swapped upload would show.
fn stand_in_zips(tree: &Path, steps: &BTreeSet<String>) {
    const ZIP: &str = "import sys, zipfile\n\
        with zipfile.ZipFile(sys.argv[1], 'w') as z:\n    z.writestr('bootstrap', sys.argv[2])\n";
    for step in steps {
        let dir = tree.join("target/lambda").join(step);
        std::fs::create_dir_all(&dir).unwrap();
        let out = run(Command::new(venv_bin("python"))
            .args(["-c", ZIP])
            .arg(dir.join("bootstrap.zip"))
            .arg(format!("stand-in for {step}")));
        assert!(out.status.success(), "{}", text(&out));
    }
}

#[tokio::test]
async fn aws_cloudformation_package_makes_a_deployable_template() {
    let moto = harness::Moto::start();
    let s3 = moto.s3();
    s3.create_bucket().bucket("artifacts").send().await.unwrap();

    // The repository's layout, with stand-ins for the zips `make zips` builds.
    let tree = tempfile::tempdir().unwrap();
    let tree = tree.path();
    std::fs::create_dir_all(tree.join("infra")).unwrap();
    std::fs::create_dir_all(tree.join("statemachine")).unwrap();
    std::fs::copy(
        root().join("infra/backup-account.yaml"),
        tree.join("infra/backup-account.yaml"),
    )
    .unwrap();
    for (_, file, _, _) in machines() {
        std::fs::copy(
            root().join("statemachine").join(file),
            tree.join("statemachine").join(file),
        )
        .unwrap();
    }
    // A zip for every function of the template.
    let steps: BTreeSet<String> = template_functions(&backup_template())
        .into_values()
        .collect();
    stand_in_zips(tree, &steps);

    let packaged = tree.join("dist/backup-account.yaml");
    std::fs::create_dir_all(tree.join("dist")).unwrap();
    let out = run(Command::new(infra_venv_bin("aws"))
        .envs(moto.env())
        // Nothing from the developer's own AWS configuration.
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .args(["cloudformation", "package", "--template-file"])
        .arg(tree.join("infra/backup-account.yaml"))
        .args(["--s3-bucket", "artifacts", "--s3-prefix", "lakevault"])
        .arg("--output-template-file")
        .arg(&packaged));
    assert!(out.status.success(), "package failed: {}", text(&out));

    let tpl = template(&packaged);
    let fetch = |key: String| {
        let s3 = s3.clone();
        async move {
            s3.get_object()
                .bucket("artifacts")
                .key(&key)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{key} was not uploaded: {e}"))
                .body
                .collect()
                .await
                .unwrap()
                .into_bytes()
                .to_vec()
        }
    };
    for step in &steps {
        let code = &tpl["Resources"][format!("{}Function", pascal(step))]["Properties"]["Code"];
        assert_eq!(code["S3Bucket"], "artifacts", "{step}: {code}");
        let key = code["S3Key"].as_str().expect("an S3 key").to_owned();
        assert!(key.starts_with("lakevault/"), "{key}");
        let uploaded = fetch(key).await;
        let zip =
            std::fs::read(tree.join("target/lambda").join(step).join("bootstrap.zip")).unwrap();
        assert!(
            uploaded == zip,
            "{step}'s function points at another step's zip"
        );
    }
    for (id, file, _, _) in machines() {
        let location = &tpl["Resources"][id]["Properties"]["DefinitionS3Location"];
        assert_eq!(location["Bucket"], "artifacts", "{id}");
        let definition = fetch(location["Key"].as_str().unwrap().to_owned()).await;
        assert!(
            definition == std::fs::read(tree.join("statemachine").join(file)).unwrap(),
            "{id} points at another definition than {file}"
        );
    }

    // The deployable template is as clean as the source.
    let lint = run(Command::new(venv_bin("cfn-lint"))
        .args(["--format", "parseable", "--"])
        .arg(&packaged));
    assert!(lint.status.success(), "{}", text(&lint));
}

// -------------------------------------------------------------------------- alarms and outputs

#[test]
fn alarms_reach_the_encrypted_topic() {
    let tpl = backup_template();
    let resources = tpl["Resources"].as_object().unwrap();
    let alarms: Vec<(&String, &Value)> = resources
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::CloudWatch::Alarm")
        .collect();
    assert_eq!(
        alarms.len(),
        3,
        "failed backup runs, no backup run at all, failed prune runs"
    );
    for (id, alarm) in &alarms {
        let p = &alarm["Properties"];
        assert_eq!(
            p["AlarmActions"],
            json!([{"Ref": "NotificationTopic"}]),
            "{id}"
        );
        // The topic policy admits alarms by name: <stack>-*.
        let name = p["AlarmName"]["Fn::Sub"].as_str().unwrap_or("");
        assert!(name.starts_with("${AWS::StackName}-"), "{id}: {name}");
        assert!(
            !p.to_string().contains("BackupSourceStateMachine"),
            "{id}: the child's failures are the parent's"
        );
    }
    // Which machine each alarm watches: every metric's StateMachineArn dimension.
    let watched = |id: &str| -> BTreeSet<String> {
        let p = &resources[id]["Properties"];
        let metrics: Vec<&Value> = match p["Metrics"].as_array() {
            Some(queries) => queries
                .iter()
                .filter(|q| q.get("MetricStat").is_some())
                .map(|q| &q["MetricStat"]["Metric"])
                .collect(),
            None => vec![p],
        };
        metrics
            .iter()
            .flat_map(|m| m["Dimensions"].as_array().unwrap())
            .map(|d| {
                assert_eq!(d["Name"], "StateMachineArn", "{id}");
                d["Value"]["Ref"].as_str().unwrap().to_owned()
            })
            .collect()
    };
    let machine = |name: &str| BTreeSet::from([name.to_owned()]);
    assert_eq!(watched("FailedRunsAlarm"), machine("BackupStateMachine"));
    assert_eq!(watched("NoRunStartedAlarm"), machine("BackupStateMachine"));
    assert_eq!(
        watched("FailedPruneRunsAlarm"),
        machine("PruneStateMachine")
    );

    // The failure alarms, alike: failed, timed out and aborted executions summed over five
    // minutes, one such execution alarms, and no execution is no failure.
    for id in ["FailedRunsAlarm", "FailedPruneRunsAlarm"] {
        let p = &resources[id]["Properties"];
        let metrics = p["Metrics"].as_array().unwrap();
        let names: BTreeSet<&str> = metrics
            .iter()
            .filter_map(|m| m["MetricStat"]["Metric"]["MetricName"].as_str())
            .collect();
        assert_eq!(
            names,
            BTreeSet::from([
                "ExecutionsAborted",
                "ExecutionsFailed",
                "ExecutionsTimedOut"
            ]),
            "{id}"
        );
        for m in metrics.iter().filter(|m| m.get("MetricStat").is_some()) {
            assert_eq!(m["MetricStat"]["Metric"]["Namespace"], "AWS/States", "{id}");
            assert_eq!(m["MetricStat"]["Period"], 300, "{id}");
            assert_eq!(m["MetricStat"]["Stat"], "Sum", "{id}");
        }
        assert_eq!(p["TreatMissingData"], "notBreaching", "{id}");
        assert_eq!(p["Threshold"], 1, "{id}");
        assert_eq!(
            p["ComparisonOperator"], "GreaterThanOrEqualToThreshold",
            "{id}"
        );
    }
    // The prune run sends no notification of its own: its alarm says what to do.
    let description = resources["FailedPruneRunsAlarm"]["Properties"]["AlarmDescription"]
        .as_str()
        .unwrap();
    for words in ["CatalogInvalid", "redrive", "PruneSnapshots"] {
        assert!(description.contains(words), "{description}");
    }
    assert_eq!(
        resources["NoRunStartedAlarm"]["Condition"],
        "ScheduleEnabled"
    );
    assert_eq!(
        resources["NoRunStartedAlarm"]["Properties"]["TreatMissingData"],
        "breaching"
    );

    // CloudWatch may publish to the topic and use its key.
    let allows_cloudwatch = |statements: &Value, action: &str| {
        statements.as_array().unwrap().iter().any(|s| {
            s["Effect"] == "Allow"
                && s["Principal"]["Service"] == "cloudwatch.amazonaws.com"
                && s["Action"].to_string().contains(action)
        })
    };
    assert!(allows_cloudwatch(
        &resources["NotificationTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"],
        "sns:Publish"
    ));
    assert!(allows_cloudwatch(
        &resources["OperationsKey"]["Properties"]["KeyPolicy"]["Statement"],
        "kms:GenerateDataKey"
    ));
}

/// The words of an `onboard-source` command output, rendered, with the flags checked against
/// `onboard-source --help`; `value_of(flag)` is what follows a flag.
fn onboard_command(output: &str) -> Vec<String> {
    let tpl = backup_template();
    let mut params = REQUIRED.to_vec();
    params.extend([
        ("SourceBuckets", "lake-prod"),
        ("BreakGlassRoleArns", "arn:aws:iam::222222222222:role/bg"),
    ]);
    let rendered = Render::new(&tpl, &params).eval(&tpl["Outputs"][output]["Value"]);
    let words: Vec<String> = rendered
        .as_str()
        .unwrap()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    assert_eq!(words[0], "onboard-source", "{output}");
    assert_eq!(
        words.last().unwrap(),
        "--bucket",
        "{output}: the user appends the bucket"
    );
    let help = run(Command::new(harness::bin("onboard-source")).arg("--help"));
    assert!(help.status.success(), "{}", text(&help));
    let help = text(&help);
    for flag in words.iter().filter(|w| w.starts_with("--")) {
        assert!(help.contains(flag.as_str()), "onboard-source has no {flag}");
    }
    words
}

fn value_of<'a>(words: &'a [String], flag: &str) -> &'a str {
    let i = words
        .iter()
        .position(|w| w == flag)
        .unwrap_or_else(|| panic!("no {flag}"));
    &words[i + 1]
}

#[test]
fn onboard_command_output_uses_onboard_source_flags() {
    let words = onboard_command("OnboardSourceCommand");
    assert!(value_of(&words, "--role-arn").contains("BatchOperationsRole.Arn"));
    assert!(value_of(&words, "--inventory-bucket").contains("InventoryBucket"));
    assert_eq!(value_of(&words, "--prefix"), "inventory");
    assert_eq!(value_of(&words, "--id"), "daily");

    let words = onboard_command("OnboardRestoreTargetCommand");
    assert!(value_of(&words, "--restore-role-arn").contains("RestoreBatchRole.Arn"));
    assert!(value_of(&words, "--plan-restore-role-arn").contains("PlanRestoreRole.Arn"));
    assert!(value_of(&words, "--verify-restore-role-arn").contains("VerifyRestoreRole.Arn"));
    assert!(
        !words.iter().any(|w| w == "--role-arn"),
        "a restore target is not made a source"
    );
}

// ------------------------------------------------------------------------------- source side

#[test]
fn source_bucket_template_writes_what_onboard_source_writes() {
    let tpl = template(&root().join("infra/source-bucket.yaml"));
    let role = "arn:aws:iam::222222222222:role/lakevault-BatchOperationsRole-X";
    let params = [
        ("BucketName", "lake-prod"),
        ("BatchOperationsRoleArn", role),
        (
            "InventoryBucketName",
            "222222222222-lakevault-inventory-eu-west-1",
        ),
        ("BackupAccountId", "222222222222"),
    ];
    let r = Render::new(&tpl, &params);

    // The statement, by its stable Sid.
    let statements =
        &tpl["Resources"]["SourceBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"];
    let ours = statements
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == onboard_source::STATEMENT_SID)
        .expect("the lakevault statement");
    let want =
        onboard_source::read_statement(&onboard_source::RoleArn::parse(role).unwrap(), "lake-prod");
    assert_eq!(
        kit::policy::normalise_statement(&r.eval(ours)),
        kit::policy::normalise_statement(&want)
    );

    // The inventory configuration, field by field.
    let inv = r.eval(&tpl["Resources"]["SourceBucket"]["Properties"]["InventoryConfigurations"][0]);
    let want = onboard_source::InventorySummary::of(&onboard_source::desired_inventory(
        &onboard_source::InventoryTarget {
            account_id: "222222222222".to_owned(),
            bucket: "222222222222-lakevault-inventory-eu-west-1".to_owned(),
            prefix: "inventory".to_owned(),
            configuration_id: "daily".to_owned(),
        },
        "aws",
    ));
    assert_eq!(inv["Id"], want.id);
    assert_eq!(inv["Enabled"], want.enabled);
    assert_eq!(inv["IncludedObjectVersions"], want.versions);
    assert_eq!(inv["ScheduleFrequency"], want.frequency);
    let dest = &inv["Destination"];
    assert_eq!(dest["Format"], want.format);
    assert_eq!(dest["BucketArn"], want.bucket);
    assert_eq!(dest["BucketAccountId"].as_str(), want.account_id.as_deref());
    assert_eq!(dest["Prefix"].as_str(), want.prefix.as_deref());
    assert_eq!(
        want.encryption, "none",
        "CloudFormation has no inventory encryption setting"
    );
    assert!(
        inv["Prefix"].is_null() && want.filter.is_none(),
        "the whole bucket"
    );
    let fields: BTreeSet<String> = inv["OptionalFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(fields, want.fields);
}

#[test]
fn source_bucket_template_grants_a_restore_target_as_onboard_source_does() {
    let tpl = template(&root().join("infra/source-bucket.yaml"));
    let statements =
        &tpl["Resources"]["SourceBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"];
    let params = vec![
        ("BucketName", "lake-prod"),
        (
            "BatchOperationsRoleArn",
            "arn:aws:iam::222222222222:role/lakevault-BatchOperationsRole-X",
        ),
        (
            "InventoryBucketName",
            "222222222222-lakevault-inventory-eu-west-1",
        ),
        ("BackupAccountId", "222222222222"),
    ];
    let restore_sids = [
        onboard_source::RESTORE_WRITE_SID,
        onboard_source::RESTORE_LIST_SID,
        onboard_source::RESTORE_READ_SID,
    ];
    let sids = |rendered: &Value| -> Vec<String> {
        rendered
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["Sid"].as_str().unwrap().to_owned())
            .collect()
    };

    // Not a restore target (the parameters' defaults): none of the restore statements.
    let plain = Render::new(&tpl, &params).eval(statements);
    assert_eq!(
        sids(&plain),
        ["DenyInsecureTransport", onboard_source::STATEMENT_SID]
    );

    let (restore, plan, verify) = (
        "arn:aws:iam::222222222222:role/lakevault-RestoreBatchRole-X",
        "arn:aws:iam::222222222222:role/lakevault-PlanRestoreRole-X",
        "arn:aws:iam::222222222222:role/lakevault-VerifyRestoreRole-X",
    );
    for prefix in [None, Some("restored/")] {
        let mut with = params.clone();
        with.extend([
            ("RestoreBatchRoleArn", restore),
            ("PlanRestoreRoleArn", plan),
            ("VerifyRestoreRoleArn", verify),
        ]);
        if let Some(p) = prefix {
            with.push(("RestorePrefix", p));
        }
        let rendered = Render::new(&tpl, &with).eval(statements);
        let grant = onboard_source::RestoreGrant::new(restore, plan, verify, prefix).unwrap();
        let want = onboard_source::restore_statements(&grant, "lake-prod");
        let by_sid = |sid: &str| {
            rendered
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["Sid"] == sid)
                .unwrap_or_else(|| panic!("no {sid}"))
                .clone()
        };
        for (sid, want) in restore_sids.iter().zip(&want) {
            assert_eq!(
                kit::policy::normalise_statement(&by_sid(sid)),
                kit::policy::normalise_statement(want),
                "{sid} with prefix {prefix:?}"
            );
        }
        assert_eq!(sids(&rendered).len(), 5, "{prefix:?}");
    }
}

#[test]
fn inventory_and_report_buckets_are_locked_down() {
    let tpl = backup_template();
    let resources = &tpl["Resources"];
    for bucket in ["InventoryBucket", "ReportBucket"] {
        let p = &resources[bucket]["Properties"];
        assert_eq!(resources[bucket]["DeletionPolicy"], "Retain", "{bucket}");
        assert_eq!(
            p["VersioningConfiguration"]["Status"], "Enabled",
            "{bucket}"
        );
        assert!(p["BucketEncryption"].is_object(), "{bucket}");
        let block = p["PublicAccessBlockConfiguration"].as_object().unwrap();
        assert_eq!(block.len(), 4, "{bucket}");
        assert!(block.values().all(|v| v == true), "{bucket}");
        assert_eq!(
            p["OwnershipControls"]["Rules"][0]["ObjectOwnership"],
            "BucketOwnerEnforced"
        );

        let policy = resources
            .as_object()
            .unwrap()
            .values()
            .find(|r| {
                r["Type"] == "AWS::S3::BucketPolicy"
                    && r["Properties"]["Bucket"] == json!({"Ref": bucket})
            })
            .unwrap_or_else(|| panic!("{bucket} has a policy"));
        let statements = policy["Properties"]["PolicyDocument"]["Statement"]
            .as_array()
            .unwrap();
        let by_sid = |sid: &str| {
            statements
                .iter()
                .find(|s| s["Sid"] == sid)
                .unwrap_or_else(|| panic!("{bucket}: no {sid}"))
        };
        assert_eq!(by_sid("DenyInsecureTransport")["Effect"], "Deny");
        let deletion = by_sid("DenyObjectDeletion");
        assert_eq!(deletion["Effect"], "Deny");
        assert_eq!(deletion["Principal"], "*");
        assert_eq!(
            deletion["Condition"]["ArnNotLike"]["aws:PrincipalArn"],
            json!({"Ref": "BreakGlassRoleArns"})
        );
        for action in ["s3:DeleteObject", "s3:DeleteObjectVersion"] {
            assert!(
                deletion["Action"]
                    .as_array()
                    .unwrap()
                    .contains(&json!(action)),
                "{bucket}: {action}"
            );
        }
    }
}

// ------------------------------------------------------------------------------ restore side

/// Parameters with every restore option (and every KMS option) set.
fn restore_params() -> Vec<(&'static str, &'static str)> {
    let mut params = REQUIRED.to_vec();
    params.extend([
        ("SourceBuckets", "lake-prod,lake-raw"),
        ("BreakGlassRoleArns", "arn:aws:iam::222222222222:role/bg"),
        (
            "RestoreTargetBuckets",
            "lake-prod-restored,lake-dev-restored",
        ),
        (
            "SnapshotKmsKeyArn",
            "arn:aws:kms:eu-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        ),
        (
            "SourceKmsKeyArns",
            "arn:aws:kms:eu-west-1:111111111111:key/aaaaaaaa-12ab-34cd-56ef-1234567890ab",
        ),
        (
            "RestoreTargetKmsKeyArns",
            "arn:aws:kms:eu-west-1:111111111111:key/bbbbbbbb-12ab-34cd-56ef-1234567890ab",
        ),
    ]);
    params
}

const TARGET_OBJECTS: [&str; 2] = [
    "arn:aws:s3:::lake-prod-restored/*",
    "arn:aws:s3:::lake-dev-restored/*",
];
const TARGET_BUCKETS: [&str; 2] = [
    "arn:aws:s3:::lake-prod-restored",
    "arn:aws:s3:::lake-dev-restored",
];
const SNAPSHOT_BUCKETS: &str = "arn:aws:s3:::acme-lakevault-*";
const SNAPSHOT_OBJECTS: &str = "arn:aws:s3:::acme-lakevault-*/*";
/// `${ReportBucket.Arn}/${ReportPrefix}/restore-*` as the renderer spells it.
const RESTORE_RECORDS: &str = "arn:aws:test:::ReportBucket.Arn/reports/restore-*";

/// A string or a list of strings, as a list.
fn list(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .map(|x| x.as_str().expect("a list of strings").to_owned())
            .collect(),
        Value::Null => Vec::new(),
        other => panic!("neither a string nor a list: {other}"),
    }
}

/// The statements of a role's inline policies, rendered for `params`.
fn role_statements(tpl: &Value, params: &[(&str, &str)], role: &str) -> Vec<Value> {
    let r = Render::new(tpl, params);
    let policies = tpl["Resources"][role]["Properties"]["Policies"]
        .as_array()
        .unwrap_or_else(|| panic!("{role} has inline policies"));
    policies
        .iter()
        .flat_map(|p| {
            r.eval(&p["PolicyDocument"]["Statement"])
                .as_array()
                .unwrap()
                .clone()
        })
        .collect()
}

/// Whether `action` can change something (conservative: an S3 action other than Get*/List*,
/// any KMS action but Decrypt, any wildcard).
fn writes(action: &str) -> bool {
    let (service, name) = action.split_once(':').expect("service:action");
    if action.contains('*') {
        return true;
    }
    match service {
        "s3" => !(name.starts_with("Get") || name.starts_with("List")),
        "kms" => name != "Decrypt",
        _ => true,
    }
}

/// A function role's `Logs` statement writes its own log group only; the other statements.
fn without_logs(role: &str, statements: Vec<Value>) -> Vec<Value> {
    let (logs, rest): (Vec<Value>, Vec<Value>) =
        statements.into_iter().partition(|s| s["Sid"] == "Logs");
    assert_eq!(logs.len(), 1, "{role}");
    assert_eq!(
        list(&logs[0]["Action"]),
        ["logs:CreateLogStream", "logs:PutLogEvents"]
    );
    let group = role.strip_suffix("Role").unwrap();
    assert_eq!(
        list(&logs[0]["Resource"]),
        [format!("arn:aws:test:::{group}LogGroup.Arn:*")],
        "{role}"
    );
    rest
}

#[test]
fn restore_batch_role_reads_snapshots_and_writes_only_the_targets() {
    let tpl = backup_template();
    let role = &tpl["Resources"]["RestoreBatchRole"]["Properties"];
    // Trusted by S3 Batch Operations of this account only.
    let trust = &role["AssumeRolePolicyDocument"]["Statement"];
    assert_eq!(trust.as_array().unwrap().len(), 1);
    assert_eq!(
        trust[0]["Principal"],
        json!({"Service": "batchoperations.s3.amazonaws.com"})
    );
    assert_eq!(trust[0]["Action"], "sts:AssumeRole");
    assert_eq!(
        trust[0]["Condition"],
        json!({"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}})
    );

    let statements = role_statements(&tpl, &restore_params(), "RestoreBatchRole");
    let report_objects = format!("{RESTORE_RECORDS}/job-*");
    let manifests = format!("{RESTORE_RECORDS}/manifest.csv");
    let mut written = BTreeSet::new();
    for s in &statements {
        assert_eq!(s["Effect"], "Allow", "{s}");
        let actions = list(&s["Action"]);
        let resources = list(&s["Resource"]);
        for action in &actions {
            let (service, name) = action.split_once(':').unwrap();
            match (service, writes(action)) {
                ("s3", true) => {
                    for r in &resources {
                        assert!(
                            TARGET_OBJECTS.contains(&r.as_str()) || *r == report_objects,
                            "{action} on {r}: the restore role writes the targets and its reports only"
                        );
                        written.insert(r.clone());
                    }
                    assert!(
                        ["PutObject", "PutObjectTagging"].contains(&name),
                        "{action}: no ACLs, no Object Lock, no deletes"
                    );
                }
                ("s3", false) if name.starts_with("Get") && name != "GetBucketLocation" => {
                    for r in &resources {
                        assert!(
                            r == SNAPSHOT_OBJECTS || *r == manifests,
                            "{action} on {r}: reads snapshots and restore manifests only"
                        );
                    }
                }
                ("s3", false) => assert_eq!(
                    action, "s3:GetBucketLocation",
                    "the restore role lists nothing"
                ),
                ("kms", _) => {
                    let want = if name == "Decrypt" {
                        "arn:aws:kms:eu-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab"
                    } else {
                        "arn:aws:kms:eu-west-1:111111111111:key/bbbbbbbb-12ab-34cd-56ef-1234567890ab"
                    };
                    assert_eq!(resources, [want], "{action}");
                }
                _ => panic!("the restore role may not {action}"),
            }
        }
    }
    let mut want: BTreeSet<String> = TARGET_OBJECTS.iter().map(|t| (*t).to_owned()).collect();
    want.insert(report_objects);
    assert_eq!(written, want, "every target, and the completion reports");

    // Reads every snapshot object a copy task reads (as the backup copy reads a source).
    let read = statements
        .iter()
        .find(|s| s["Sid"] == "ReadSnapshotObjects")
        .expect("ReadSnapshotObjects");
    assert_eq!(list(&read["Resource"]), [SNAPSHOT_OBJECTS]);
    let backup_read = role_statements(&tpl, &restore_params(), "BatchOperationsRole")
        .into_iter()
        .find(|s| s["Sid"] == "ReadSourceObjects")
        .unwrap();
    assert_eq!(
        list(&read["Action"]),
        list(&backup_read["Action"]),
        "the same object reads as the backup copy"
    );

    // Without RestoreTargetBuckets: no write grant but the reports.
    let mut params = REQUIRED.to_vec();
    params.extend([
        ("SourceBuckets", "lake-prod"),
        ("BreakGlassRoleArns", "arn:aws:iam::222222222222:role/bg"),
    ]);
    for s in role_statements(&tpl, &params, "RestoreBatchRole") {
        if list(&s["Action"]).iter().any(|a| writes(a)) {
            assert_eq!(s["Sid"], "WriteRestoreReports", "{s}");
        }
    }
}

#[test]
fn no_other_role_may_write_a_restore_target() {
    let tpl = backup_template();
    let params = restore_params();
    let targets: Vec<&str> = TARGET_BUCKETS
        .iter()
        .chain(&TARGET_OBJECTS)
        .copied()
        .collect();
    let mut seen = BTreeSet::new();
    for (id, r) in tpl["Resources"].as_object().unwrap() {
        if r["Type"] != "AWS::IAM::Role" {
            continue;
        }
        for s in role_statements(&tpl, &params, id) {
            let resources = list(&s["Resource"]);
            if !resources.iter().any(|r| targets.contains(&r.as_str())) {
                continue;
            }
            seen.insert(id.clone());
            let actions = list(&s["Action"]);
            match id.as_str() {
                "RestoreBatchRole" => {
                    assert_eq!(actions, ["s3:PutObject", "s3:PutObjectTagging"]);
                    assert_eq!(resources, TARGET_OBJECTS);
                }
                "PlanRestoreRole" => {
                    assert_eq!(
                        actions,
                        ["s3:ListBucket"],
                        "plan-restore only lists a target"
                    );
                    assert_eq!(resources, TARGET_BUCKETS);
                }
                "VerifyRestoreRole" => {
                    assert!(
                        actions == ["s3:ListBucket"] || actions == ["s3:GetObject"],
                        "verify-restore lists and reads a target: {actions:?}"
                    );
                }
                other => panic!("{other} reaches a restore target: {s}"),
            }
        }
    }
    assert_eq!(
        seen,
        BTreeSet::from([
            "PlanRestoreRole".to_owned(),
            "RestoreBatchRole".to_owned(),
            "VerifyRestoreRole".to_owned(),
        ])
    );
}

#[test]
fn plan_restore_cannot_write_to_the_targets() {
    let tpl = backup_template();
    let statements = without_logs(
        "PlanRestoreRole",
        role_statements(&tpl, &restore_params(), "PlanRestoreRole"),
    );
    let mut listed = BTreeSet::new();
    for s in &statements {
        assert_eq!(s["Effect"], "Allow", "{s}");
        let resources = list(&s["Resource"]);
        for action in list(&s["Action"]) {
            if writes(&action) {
                assert_eq!(action, "s3:PutObject", "plan-restore writes objects only");
                assert_eq!(
                    resources,
                    [RESTORE_RECORDS],
                    "plan-restore writes its plans and manifests only"
                );
            } else if action == "s3:ListBucket" {
                listed.extend(resources.iter().cloned());
            } else if action == "kms:Decrypt" {
                assert_eq!(
                    resources,
                    ["arn:aws:kms:eu-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab"],
                    "the snapshot key only"
                );
            } else {
                for r in &resources {
                    assert!(
                        [SNAPSHOT_BUCKETS, SNAPSHOT_OBJECTS, RESTORE_RECORDS].contains(&r.as_str()),
                        "plan-restore {action} on {r}"
                    );
                }
            }
        }
    }
    let mut want: BTreeSet<String> = TARGET_BUCKETS.iter().map(|t| (*t).to_owned()).collect();
    want.insert(SNAPSHOT_BUCKETS.to_owned());
    want.insert("arn:aws:test:::ReportBucket.Arn".to_owned());
    assert_eq!(
        listed, want,
        "lists the snapshots, the targets and the report bucket"
    );
}

#[test]
fn verify_restore_cannot_write_anywhere() {
    let tpl = backup_template();
    let statements = without_logs(
        "VerifyRestoreRole",
        role_statements(&tpl, &restore_params(), "VerifyRestoreRole"),
    );
    let mut reach = BTreeSet::new();
    for s in &statements {
        assert_eq!(s["Effect"], "Allow", "{s}");
        for action in list(&s["Action"]) {
            assert!(!writes(&action), "verify-restore may {action}: {s}");
        }
        reach.extend(list(&s["Resource"]));
    }
    let mut want: BTreeSet<String> = TARGET_BUCKETS
        .iter()
        .chain(&TARGET_OBJECTS)
        .map(|t| (*t).to_owned())
        .collect();
    want.insert("arn:aws:test:::ReportBucket.Arn".to_owned());
    want.insert(RESTORE_RECORDS.to_owned());
    want.insert(
        "arn:aws:kms:eu-west-1:111111111111:key/bbbbbbbb-12ab-34cd-56ef-1234567890ab".to_owned(),
    );
    assert_eq!(
        reach, want,
        "the targets, the restore plans, the targets' key: nothing of the snapshots"
    );
}

#[test]
fn submit_job_passes_both_batch_roles_to_batch_operations_only() {
    let tpl = backup_template();
    let pass: Vec<Value> = role_statements(&tpl, &restore_params(), "SubmitJobRole")
        .into_iter()
        .filter(|s| list(&s["Action"]).iter().any(|a| a.starts_with("iam:")))
        .collect();
    assert_eq!(pass.len(), 1);
    assert_eq!(list(&pass[0]["Action"]), ["iam:PassRole"]);
    assert_eq!(
        list(&pass[0]["Resource"]),
        [
            "arn:aws:test:::BatchOperationsRole.Arn",
            "arn:aws:test:::RestoreBatchRole.Arn"
        ]
    );
    assert_eq!(
        pass[0]["Condition"],
        json!({"StringEquals": {"iam:PassedToService": "batchoperations.s3.amazonaws.com"}})
    );
    // No other role may pass a role.
    for (id, r) in tpl["Resources"].as_object().unwrap() {
        if r["Type"] == "AWS::IAM::Role" && id != "SubmitJobRole" {
            for s in role_statements(&tpl, &restore_params(), id) {
                assert!(!s["Action"].to_string().contains("iam:"), "{id}: {s}");
            }
        }
    }
}

#[test]
fn restore_state_machine_logs_and_outputs() {
    let tpl = backup_template();
    let r = &tpl["Resources"];
    let machine = &r["RestoreStateMachine"]["Properties"];
    assert_eq!(
        machine["StateMachineName"],
        json!({"Fn::Sub": "${AWS::StackName}-restore"})
    );
    assert_eq!(machine["StateMachineType"], "STANDARD");
    assert_eq!(
        machine["RoleArn"],
        json!({"Fn::GetAtt": ["RestoreStateMachineRole", "Arn"]})
    );
    assert_eq!(machine["LoggingConfiguration"]["Level"], "ALL");
    assert_eq!(
        r["RestoreStateMachineLogGroup"]["Properties"]["LogGroupName"],
        json!({"Fn::Sub": "/aws/vendedlogs/states/${AWS::StackName}-restore"})
    );
    let outputs = &tpl["Outputs"];
    assert_eq!(
        outputs["RestoreStateMachineArn"]["Value"],
        json!({"Ref": "RestoreStateMachine"})
    );
    assert_eq!(
        outputs["RestoreBatchRoleArn"]["Value"],
        json!({"Fn::GetAtt": ["RestoreBatchRole", "Arn"]})
    );
}

#[test]
fn restore_settings_output_is_what_the_restore_definition_reads() {
    let tpl = backup_template();
    let rendered =
        Render::new(&tpl, &restore_params()).eval(&tpl["Outputs"]["RestoreSettings"]["Value"]);
    let text = rendered.as_str().expect("a string");
    let settings: Value =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    assert_eq!(
        settings,
        json!({
            "account_id": "222222222222",
            "role_arn": "arn:aws:test:::RestoreBatchRole.Arn",
            "report": {"bucket": "ref-AWS::S3::Bucket-ReportBucket", "prefix": "reports"},
            "topic_arn": "ref-AWS::SNS::Topic-NotificationTopic",
            "priority": 10,
            "poll_seconds": 60,
            "max_polls": 1440,
        })
    );
    let asl = restore_definition();
    // Only settings the restore definition reads, and every one it reads is given or defaulted.
    let sent: BTreeSet<String> = settings.as_object().unwrap().keys().cloned().collect();
    let read = settings_read(&asl);
    let unknown: Vec<&String> = sent.difference(&read).collect();
    assert!(
        unknown.is_empty(),
        "restore.asl.json never reads {unknown:?}"
    );
    // Every word of the defaults (the contract's InjectDefaults holds the restore's and the
    // settings' defaults; a settings key is defaulted if it appears there at all).
    let defaulted: BTreeSet<String> = asl["States"]["InjectDefaults"]["Result"]
        .to_string()
        .split('"')
        .map(str::to_owned)
        .collect();
    let missing: Vec<&String> = read
        .iter()
        .filter(|k| !sent.contains(*k) && !defaulted.contains(*k))
        .collect();
    assert!(missing.is_empty(), "RestoreSettings leaves out {missing:?}");
}

// --------------------------------------------------------------------------- large-copy side

/// The source objects of `restore_params()`, as the batch role's read renders them.
const SOURCE_OBJECTS: [&str; 2] = ["arn:aws:s3:::lake-prod/*", "arn:aws:s3:::lake-raw/*"];
/// `SnapshotKmsKeyArn` and `SourceKmsKeyArns` of `restore_params()`.
const SNAPSHOT_KEY: &str =
    "arn:aws:kms:eu-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const SOURCE_KEY: &str =
    "arn:aws:kms:eu-west-1:111111111111:key/aaaaaaaa-12ab-34cd-56ef-1234567890ab";

/// The roles of the large-copy steps, by resource id.
const LARGE_COPY_ROLES: [&str; 3] = [
    "PlanLargeCopyRole",
    "CopyPartsRole",
    "CompleteLargeCopyRole",
];

/// Whether `resource` covers the snapshot objects (their pattern, or any wildcard over S3).
fn covers_snapshot_objects(resource: &str) -> bool {
    resource == SNAPSHOT_OBJECTS || resource == "*" || resource.starts_with("arn:aws:s3:::*")
}

/// Whether `action` allows writing an object or ending an upload: s3:PutObject authorises
/// PutObject, CopyObject, CreateMultipartUpload, UploadPart(Copy) and CompleteMultipartUpload.
fn multipart_write(action: &str) -> bool {
    ["s3:PutObject", "s3:AbortMultipartUpload"].contains(&action)
        || action == "*"
        || (action.starts_with("s3:") && action.contains('*'))
}

/// Every (action, resource) a role's statements allow, rendered for `params`, its own logs
/// statement checked and left out.
fn grants(tpl: &Value, params: &[(&str, &str)], role: &str) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for s in without_logs(role, role_statements(tpl, params, role)) {
        assert_eq!(s["Effect"], "Allow", "{role}: {s}");
        assert!(s["Condition"].is_null(), "{role}: {s}");
        for action in list(&s["Action"]) {
            for resource in list(&s["Resource"]) {
                out.insert((action.clone(), resource));
            }
        }
    }
    out
}

fn pairs(actions: &[&str], resources: &[&str]) -> BTreeSet<(String, String)> {
    actions
        .iter()
        .flat_map(|a| resources.iter().map(|r| ((*a).to_owned(), (*r).to_owned())))
        .collect()
}

#[test]
fn only_the_copy_roles_write_snapshot_objects() {
    // Besides the Batch Operations role (it writes the copies), only the three large-copy roles
    // may write a snapshot object (s3:PutObject) or abort an upload there; no role may with a
    // wildcard. Only plan-large-copy and complete-large-copy list uploads.
    let tpl = backup_template();
    let params = restore_params();
    let mut writers = BTreeMap::new();
    let mut listers = BTreeSet::new();
    for (id, r) in tpl["Resources"].as_object().unwrap() {
        if r["Type"] != "AWS::IAM::Role" {
            continue;
        }
        for s in role_statements(&tpl, &params, id) {
            let resources = list(&s["Resource"]);
            for action in list(&s["Action"]) {
                if action == "s3:ListBucketMultipartUploads" {
                    assert_eq!(resources, [SNAPSHOT_BUCKETS], "{id}");
                    listers.insert(id.clone());
                }
                if !multipart_write(&action) {
                    continue;
                }
                for resource in resources.iter().filter(|r| covers_snapshot_objects(r)) {
                    assert_eq!(resource, SNAPSHOT_OBJECTS, "{id} {action}: no wildcard");
                    assert!(!action.contains('*'), "{id}: {action}");
                    writers
                        .entry(id.clone())
                        .or_insert_with(BTreeSet::new)
                        .insert(action.clone());
                }
            }
        }
    }
    let put = || BTreeSet::from(["s3:PutObject".to_owned()]);
    let put_abort = || {
        BTreeSet::from([
            "s3:AbortMultipartUpload".to_owned(),
            "s3:PutObject".to_owned(),
        ])
    };
    assert_eq!(
        writers,
        BTreeMap::from([
            ("BatchOperationsRole".to_owned(), put()),
            ("CompleteLargeCopyRole".to_owned(), put_abort()),
            ("CopyPartsRole".to_owned(), put()),
            ("PlanLargeCopyRole".to_owned(), put_abort()),
        ]),
        "who may write snapshot objects or abort uploads there"
    );
    assert_eq!(
        listers,
        BTreeSet::from([
            "CompleteLargeCopyRole".to_owned(),
            "PlanLargeCopyRole".to_owned()
        ])
    );
    // list-large-copies, the fourth function of the Map, changes nothing anywhere.
    for s in role_statements(&tpl, &params, "ListLargeCopiesRole") {
        if s["Sid"] == "Logs" {
            continue;
        }
        for action in list(&s["Action"]) {
            assert!(!writes(&action), "list-large-copies may {action}");
        }
    }
    // The large-copy functions have their own roles, which nothing else uses or passes.
    for role in LARGE_COPY_ROLES.iter().chain(&["ListLargeCopiesRole"]) {
        let users: Vec<&String> = tpl["Resources"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(_, r)| r["Properties"].to_string().contains(&format!("\"{role}\"")))
            .map(|(id, _)| id)
            .collect();
        assert_eq!(users.len(), 1, "{role} is used by {users:?}");
    }
}

#[test]
fn each_large_copy_role_grants_exactly_what_its_step_calls() {
    let tpl = backup_template();
    let params = restore_params();
    let snapshot_objects = [SNAPSHOT_OBJECTS];
    let snapshot_buckets = [SNAPSHOT_BUCKETS];
    let multipart_kms = pairs(&["kms:Decrypt", "kms:GenerateDataKey"], &[SNAPSHOT_KEY]);

    // plan-large-copy: HeadObject and GetObjectTagging of the source (a version too);
    // ListMultipartUploads, HeadObject of the copy, ListParts, CreateMultipartUpload (with tags
    // and an Object Lock retention, no legal hold) and AbortMultipartUpload on the snapshot.
    let mut plan = pairs(
        &[
            "s3:GetObject",
            "s3:GetObjectTagging",
            "s3:GetObjectVersion",
            "s3:GetObjectVersionTagging",
        ],
        &SOURCE_OBJECTS,
    );
    plan.extend(pairs(
        &["s3:ListBucket", "s3:ListBucketMultipartUploads"],
        &snapshot_buckets,
    ));
    plan.extend(pairs(
        &[
            "s3:GetObject",
            "s3:ListMultipartUploadParts",
            "s3:PutObject",
            "s3:PutObjectRetention",
            "s3:PutObjectTagging",
            "s3:AbortMultipartUpload",
        ],
        &snapshot_objects,
    ));
    plan.extend(multipart_kms.clone());
    assert_eq!(
        grants(&tpl, &params, "PlanLargeCopyRole"),
        plan,
        "plan-large-copy"
    );

    // copy-parts: HeadObject of the source and UploadPartCopy from it; ListParts and
    // UploadPartCopy on the snapshot. IAM authorises CompleteMultipartUpload with s3:PutObject
    // as it does UploadPartCopy, so what keeps copy-parts from ending a copy is what it lacks:
    // no abort, no listing of uploads, no reading of copies, no tagging, no retention.
    let mut copy = pairs(&["s3:GetObject", "s3:GetObjectVersion"], &SOURCE_OBJECTS);
    copy.extend(pairs(
        &["s3:ListMultipartUploadParts", "s3:PutObject"],
        &snapshot_objects,
    ));
    copy.extend(pairs(&["kms:Decrypt"], &[SOURCE_KEY]));
    copy.extend(multipart_kms.clone());
    let copy_parts = grants(&tpl, &params, "CopyPartsRole");
    assert_eq!(copy_parts, copy, "copy-parts");
    for (action, _) in &copy_parts {
        assert!(
            ![
                "s3:AbortMultipartUpload",
                "s3:ListBucketMultipartUploads",
                "s3:PutObjectRetention",
                "s3:PutObjectLegalHold",
                "s3:PutObjectTagging",
            ]
            .contains(&action.as_str()),
            "copy-parts may {action}"
        );
    }

    // complete-large-copy: nothing of the source; ListParts, CompleteMultipartUpload, HeadObject
    // of the new version, and the abort (ListMultipartUploads when the plan never answered).
    let mut complete = pairs(
        &["s3:ListBucket", "s3:ListBucketMultipartUploads"],
        &snapshot_buckets,
    );
    complete.extend(pairs(
        &[
            "s3:GetObject",
            "s3:GetObjectVersion",
            "s3:ListMultipartUploadParts",
            "s3:PutObject",
            "s3:AbortMultipartUpload",
        ],
        &snapshot_objects,
    ));
    complete.extend(multipart_kms);
    assert_eq!(
        grants(&tpl, &params, "CompleteLargeCopyRole"),
        complete,
        "complete-large-copy"
    );

    // The source read is the batch role's (same Resource construct, a subset of its actions).
    let batch_read = role_statements(&tpl, &params, "BatchOperationsRole")
        .into_iter()
        .find(|s| s["Sid"] == "ReadSourceObjects")
        .unwrap();
    for role in ["PlanLargeCopyRole", "CopyPartsRole"] {
        let read = role_statements(&tpl, &params, role)
            .into_iter()
            .find(|s| s["Sid"] == "ReadSourceObjects")
            .unwrap_or_else(|| panic!("{role} reads the sources"));
        assert_eq!(read["Resource"], batch_read["Resource"], "{role}");
        let batch_actions = list(&batch_read["Action"]);
        for action in list(&read["Action"]) {
            assert!(batch_actions.contains(&action), "{role}: {action}");
        }
        assert_eq!(
            tpl["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["Sid"] == "ReadSourceObjects")
                .map(|s| &s["Resource"]),
            Some(
                &tpl["Resources"]["BatchOperationsRole"]["Properties"]["Policies"][0]["PolicyDocument"]
                    ["Statement"][0]["Resource"]
            ),
            "{role}: the batch role's Join/Split of SourceBuckets"
        );
    }

    // Without KMS keys: no KMS grant at all.
    let mut plain = REQUIRED.to_vec();
    plain.extend([
        ("SourceBuckets", "lake-prod,lake-raw"),
        ("BreakGlassRoleArns", "arn:aws:iam::222222222222:role/bg"),
    ]);
    for role in LARGE_COPY_ROLES {
        let g = grants(&tpl, &plain, role);
        assert!(
            g.iter().all(|(a, _)| !a.starts_with("kms:")),
            "{role}: {g:?}"
        );
    }
}

/// Whether an IAM resource pattern (`*` any run of characters, `?` one) matches `arn`.
fn iam_matches(pattern: &str, arn: &str) -> bool {
    fn go(p: &[u8], s: &[u8]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some((b'*', rest)) => (0..=s.len()).any(|i| go(rest, &s[i..])),
            Some((b'?', rest)) => !s.is_empty() && go(rest, &s[1..]),
            Some((c, rest)) => s.first() == Some(c) && go(rest, &s[1..]),
        }
    }
    go(pattern.as_bytes(), arn.as_bytes())
}

#[test]
fn list_large_copies_reads_only_the_oversize_manifests() {
    let tpl = backup_template();
    let mut plain = REQUIRED.to_vec();
    plain.extend([
        ("SourceBuckets", "lake-prod,lake-raw"),
        ("BreakGlassRoleArns", "arn:aws:iam::222222222222:role/bg"),
    ]);
    // `${ReportBucket.Arn}/${ReportPrefix}/*/<audit-report's oversize manifest>`, rendered.
    let manifests = format!(
        "arn:aws:test:::ReportBucket.Arn/reports/*/{}",
        audit_report::OVERSIZE_NAME
    );
    // With every option (KMS keys, restore targets) or none: one read, of the manifests only
    // (the report bucket is SSE-S3: no KMS; no version, no listing, no write).
    for params in [restore_params(), plain] {
        assert_eq!(
            grants(&tpl, &params, "ListLargeCopiesRole"),
            pairs(&["s3:GetObject"], &[manifests.as_str()])
        );
    }
    // The manifest where audit-report writes it for a job of the schedule's report prefix, and
    // nothing else there: not the completion report, its result files, the audit record, a plan.
    let object = |key: String| format!("arn:aws:test:::ReportBucket.Arn/{key}");
    let base = audit_report::report_base("reports", "8f3c0a2e-1b7d-4c55-9e0f-2a6b7c8d9e10");
    assert!(iam_matches(
        &manifests,
        &object(format!("{base}/{}", audit_report::OVERSIZE_NAME))
    ));
    for other in [
        format!("{base}/manifest.json"),
        format!("{base}/results/0.csv"),
        format!("{base}/{}", audit_report::RECORD_NAME),
        "reports/restore-1/plan.json".to_owned(),
        format!("elsewhere/job-1/{}", audit_report::OVERSIZE_NAME),
    ] {
        assert!(!iam_matches(&manifests, &object(other.clone())), "{other}");
    }
    // The schedule hands the child exactly that report prefix.
    let input = schedule_input(&tpl, &restore_params());
    assert_eq!(input["settings"]["report"]["prefix"], "reports");
}

#[test]
fn create_bucket_may_set_a_snapshot_buckets_lifecycle() {
    // create-bucket adds the AbortIncompleteMultipartUpload rule to each snapshot bucket (a failed
    // large copy's parts are not kept for ever): it reads and puts the lifecycle configuration of
    // snapshot buckets, and of nothing else.
    let tpl = backup_template();
    let params = restore_params();
    let lifecycle = [
        "s3:GetLifecycleConfiguration",
        "s3:PutLifecycleConfiguration",
    ];
    let g = grants(&tpl, &params, "CreateBucketRole");
    for action in lifecycle {
        let on: Vec<&String> = g
            .iter()
            .filter(|(a, _)| a == action)
            .map(|(_, r)| r)
            .collect();
        assert_eq!(on, [SNAPSHOT_BUCKETS], "create-bucket {action}");
    }
    assert!(
        !g.iter().any(|(a, _)| a == "s3:DeleteBucket"),
        "create-bucket may delete a bucket"
    );
    // No other role may change a lifecycle or delete a bucket (the stack's own buckets get their
    // lifecycle from the stack) but the prune role: a finished snapshot bucket's expiration, and
    // its deletion once S3 has emptied it. No role may use an S3 wildcard action.
    let mut reach = BTreeMap::new();
    for (id, r) in tpl["Resources"].as_object().unwrap() {
        if r["Type"] != "AWS::IAM::Role" {
            continue;
        }
        for s in role_statements(&tpl, &params, id) {
            for action in list(&s["Action"]) {
                let s3_wildcard = action.starts_with("s3:") && action.contains('*');
                assert!(!s3_wildcard, "{id} may {action}");
                if action == "s3:PutLifecycleConfiguration" || action == "s3:DeleteBucket" {
                    assert_eq!(list(&s["Resource"]), [SNAPSHOT_BUCKETS], "{id} {action}");
                    reach
                        .entry(id.clone())
                        .or_insert_with(BTreeSet::new)
                        .insert(action);
                }
            }
        }
    }
    assert_eq!(
        reach,
        BTreeMap::from([
            (
                "CreateBucketRole".to_owned(),
                BTreeSet::from(["s3:PutLifecycleConfiguration".to_owned()])
            ),
            (
                "PruneSnapshotsRole".to_owned(),
                BTreeSet::from([
                    "s3:DeleteBucket".to_owned(),
                    "s3:PutLifecycleConfiguration".to_owned()
                ])
            ),
        ]),
        "who may put a snapshot bucket's lifecycle or delete it"
    );
}

// ---------------------------------------------------------------------------- retention side

/// `${ReportBucket.Arn}/${ReportPrefix}/catalog/*` as the renderer spells it.
const CATALOG_OBJECTS: &str = "arn:aws:test:::ReportBucket.Arn/reports/catalog/*";

/// What the prune role must never be allowed: deleting objects (only S3's lifecycle expiration
/// removes a snapshot's objects, once Object Lock lets it), shortening or bypassing a retention,
/// changing a bucket's policy or Object Lock configuration.
const PRUNE_FORBIDDEN: [&str; 6] = [
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:BypassGovernanceRetention",
    "s3:PutBucketPolicy",
    "s3:DeleteBucketPolicy",
    "s3:PutBucketObjectLockConfiguration",
];

#[test]
fn the_prune_role_can_only_expire_and_extend() {
    let tpl = backup_template();
    // Trusted by Lambda of this account only, as every function role.
    let trust = &tpl["Resources"]["PruneSnapshotsRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"];
    assert_eq!(trust.as_array().unwrap().len(), 1);
    assert_eq!(
        trust[0]["Principal"],
        json!({"Service": "lambda.amazonaws.com"})
    );
    assert_eq!(
        trust[0]["Condition"],
        json!({"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}})
    );

    // Exactly what prune-snapshots calls: the catalog (list, read entries, write protection
    // records); a snapshot bucket's listing (objects and versions: is it empty?), Object Lock
    // default, lifecycle (read, put the expiration) and deletion; each version's HEAD and
    // retention (read, extend). With every option (KMS keys, restore targets) or none: the
    // snapshot objects are never read, so no KMS grant.
    let mut want = pairs(&["s3:ListBucket"], &["arn:aws:test:::ReportBucket.Arn"]);
    want.extend(pairs(&["s3:GetObject", "s3:PutObject"], &[CATALOG_OBJECTS]));
    want.extend(pairs(
        &[
            "s3:ListBucket",
            "s3:ListBucketVersions",
            "s3:GetBucketObjectLockConfiguration",
            "s3:GetLifecycleConfiguration",
            "s3:PutLifecycleConfiguration",
            "s3:DeleteBucket",
        ],
        &[SNAPSHOT_BUCKETS],
    ));
    want.extend(pairs(
        &[
            "s3:GetObject",
            "s3:GetObjectVersion",
            "s3:GetObjectRetention",
            "s3:PutObjectRetention",
        ],
        &[SNAPSHOT_OBJECTS],
    ));
    let mut plain = REQUIRED.to_vec();
    plain.extend([
        ("SourceBuckets", "lake-prod,lake-raw"),
        ("BreakGlassRoleArns", "arn:aws:iam::222222222222:role/bg"),
    ]);
    for params in [restore_params(), plain] {
        let g = grants(&tpl, &params, "PruneSnapshotsRole");
        assert_eq!(g, want, "prune-snapshots");
        for (action, resource) in &g {
            assert!(
                !PRUNE_FORBIDDEN.contains(&action.as_str()) && !action.contains('*'),
                "prune-snapshots may {action} on {resource}"
            );
        }
    }
    // The catalog entries only: not the reports, the audit records or the restore plans.
    let object = |key: &str| format!("arn:aws:test:::ReportBucket.Arn/{key}");
    assert!(iam_matches(
        CATALOG_OBJECTS,
        &object("reports/catalog/lake-prod/2021-03-31.json")
    ));
    for other in [
        "reports/job-1/lakevault-audit.json",
        "reports/restore-1/plan.json",
        "elsewhere/catalog/lake-prod/2021-03-31.json",
    ] {
        assert!(!iam_matches(CATALOG_OBJECTS, &object(other)), "{other}");
    }

    // No role of the stack may delete a snapshot object or bypass a retention: the break-glass
    // roles (not the stack's) are the only principals that may.
    for (id, r) in tpl["Resources"].as_object().unwrap() {
        if r["Type"] != "AWS::IAM::Role" {
            continue;
        }
        for s in role_statements(&tpl, &restore_params(), id) {
            for action in list(&s["Action"]) {
                assert!(
                    ![
                        "s3:DeleteObject",
                        "s3:DeleteObjectVersion",
                        "s3:BypassGovernanceRetention"
                    ]
                    .contains(&action.as_str()),
                    "{id} may {action}"
                );
            }
        }
    }
    // The role is prune-snapshots' alone; the backup schedule names it (prune_role_arn) and an
    // output shows it.
    let users: BTreeSet<&String> = tpl["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r.to_string().contains("PruneSnapshotsRole"))
        .map(|(id, _)| id)
        .collect();
    assert_eq!(
        users,
        BTreeSet::from([
            &"DailySchedule".to_owned(),
            &"PruneSnapshotsFunction".to_owned()
        ])
    );
    assert_eq!(
        tpl["Outputs"]["PruneSnapshotsRoleArn"]["Value"],
        json!({"Fn::GetAtt": ["PruneSnapshotsRole", "Arn"]})
    );
}

fn prune_schedule_input(tpl: &Value, params: &[(&str, &str)]) -> Value {
    let input = &tpl["Resources"]["PruneSchedule"]["Properties"]["Target"]["Input"];
    let rendered = Render::new(tpl, params).eval(input);
    let text = rendered.as_str().expect("Input renders to a string");
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[test]
fn the_prune_schedule_starts_the_prune_machine_with_the_keep_parameters() {
    let tpl = backup_template();
    let r = &tpl["Resources"];
    let schedule = &r["PruneSchedule"]["Properties"];
    let daily = &r["DailySchedule"]["Properties"];
    assert_eq!(
        schedule["ScheduleExpression"],
        json!({"Ref": "PruneScheduleExpression"})
    );
    // The backup schedule's time zone and state: DISABLED stops both.
    assert_eq!(
        schedule["ScheduleExpressionTimezone"],
        daily["ScheduleExpressionTimezone"]
    );
    assert_eq!(schedule["State"], daily["State"]);
    assert_eq!(
        schedule["Target"]["Arn"],
        json!({"Ref": "PruneStateMachine"})
    );
    assert_eq!(
        schedule["Target"]["RoleArn"],
        json!({"Fn::GetAtt": ["PruneScheduleRole", "Arn"]})
    );
    // After the backups (cron(0 6 ...)), by default.
    assert_eq!(
        tpl["Parameters"]["PruneScheduleExpression"]["Default"],
        "cron(0 12 * * ? *)"
    );

    // The keep parameters: restic's defaults of a typical policy, 0 turns a rule off.
    for (name, default) in [
        ("KeepDaily", 7),
        ("KeepWeekly", 5),
        ("KeepMonthly", 12),
        ("KeepYearly", 3),
    ] {
        let p = &tpl["Parameters"][name];
        assert_eq!(p["Type"], "Number", "{name}");
        assert_eq!(
            p["Default"].to_string().trim_matches('"'),
            default.to_string(),
            "{name}"
        );
        assert_eq!(p["MinValue"].to_string().trim_matches('"'), "0", "{name}");
        // kit::retention::MAX_KEEP, which prune-snapshots refuses to exceed.
        assert_eq!(
            p["MaxValue"].to_string().trim_matches('"'),
            "10000",
            "{name}"
        );
    }

    let mut params = REQUIRED.to_vec();
    params.extend([
        ("SourceBuckets", "lake-prod"),
        ("BreakGlassRoleArns", "arn:aws:iam::222222222222:role/bg"),
    ]);
    let input = prune_schedule_input(&tpl, &params);
    assert_eq!(
        input,
        json!({
            "report": {"bucket": "ref-AWS::S3::Bucket-ReportBucket", "prefix": "reports"},
            "keep": {"keep_daily": 7, "keep_weekly": 5, "keep_monthly": 12, "keep_yearly": 3},
            "dry_run": false,
        })
    );
    // Each keep field is its own parameter.
    params.extend([
        ("KeepDaily", "14"),
        ("KeepWeekly", "0"),
        ("KeepMonthly", "24"),
        ("KeepYearly", "10"),
        ("ReportPrefix", "lakevault/reports"),
    ]);
    let input = prune_schedule_input(&tpl, &params);
    assert_eq!(
        input["keep"],
        json!({"keep_daily": 14, "keep_weekly": 0, "keep_monthly": 24, "keep_yearly": 10})
    );
    assert_eq!(input["report"]["prefix"], "lakevault/reports");

    // What the prune definition reads of its input: every field it reads is sent or defaulted,
    // and it reads every field sent.
    let asl = prune_definition();
    let mut all = Vec::new();
    strings(&asl, &mut all);
    let read: BTreeSet<String> = all
        .iter()
        .filter_map(|s| s.strip_prefix("$."))
        .map(|rest| rest.split('.').next().unwrap().to_owned())
        .collect();
    let defaulted: BTreeSet<String> = asl["States"]["InjectDefaults"]["Result"]
        .as_object()
        .expect("InjectDefaults holds the prune input's defaults")
        .keys()
        .cloned()
        .collect();
    let sent: BTreeSet<String> = input.as_object().unwrap().keys().cloned().collect();
    let unknown: Vec<&String> = sent.difference(&read).collect();
    assert!(unknown.is_empty(), "prune.asl.json never reads {unknown:?}");
    for field in ["report", "keep"] {
        assert!(
            read.contains(field) && !defaulted.contains(field),
            "{field} is required"
        );
    }
    let missing: Vec<&String> = defaulted
        .iter()
        .filter(|k| !sent.contains(*k) && !read.contains(*k))
        .collect();
    assert!(missing.is_empty(), "defaults never read: {missing:?}");
    // Every source of the catalog: no "sources" sent, the definition's default is null (all).
    assert_eq!(
        asl["States"]["InjectDefaults"]["Result"]["sources"],
        Value::Null
    );
}

#[test]
fn prune_state_machine_logs_and_outputs() {
    let tpl = backup_template();
    let r = &tpl["Resources"];
    let machine = &r["PruneStateMachine"]["Properties"];
    assert_eq!(
        machine["StateMachineName"],
        json!({"Fn::Sub": "${AWS::StackName}-prune"})
    );
    assert_eq!(machine["StateMachineType"], "STANDARD");
    assert_eq!(
        machine["RoleArn"],
        json!({"Fn::GetAtt": ["PruneStateMachineRole", "Arn"]})
    );
    assert_eq!(machine["LoggingConfiguration"]["Level"], "ALL");
    assert_eq!(
        machine["LoggingConfiguration"]["Destinations"][0]["CloudWatchLogsLogGroup"]["LogGroupArn"],
        json!({"Fn::GetAtt": ["PruneStateMachineLogGroup", "Arn"]})
    );
    assert_eq!(
        r["PruneStateMachineLogGroup"]["Properties"]["LogGroupName"],
        json!({"Fn::Sub": "/aws/vendedlogs/states/${AWS::StackName}-prune"})
    );
    assert_eq!(
        tpl["Outputs"]["PruneStateMachineArn"]["Value"],
        json!({"Ref": "PruneStateMachine"})
    );
}

#[test]
fn source_bucket_template_grants_the_large_copy_roles_what_they_read() {
    let tpl = template(&root().join("infra/source-bucket.yaml"));
    let backup = backup_template();
    let statements =
        &tpl["Resources"]["SourceBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"];
    let mut params = vec![
        ("BucketName", "lake-prod"),
        (
            "BatchOperationsRoleArn",
            "arn:aws:iam::222222222222:role/lakevault-BatchOperationsRole-X",
        ),
        (
            "InventoryBucketName",
            "222222222222-lakevault-inventory-eu-west-1",
        ),
        ("BackupAccountId", "222222222222"),
    ];
    let sids = |rendered: &Value| -> Vec<String> {
        rendered
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["Sid"].as_str().unwrap().to_owned())
            .collect()
    };
    // The defaults: no large-copy grant (a bucket without objects over 5 GiB needs none).
    let plain = Render::new(&tpl, &params).eval(statements);
    assert!(
        !sids(&plain)
            .iter()
            .any(|s| s.starts_with("LakevaultLargeCopy")),
        "{plain}"
    );

    let (plan, copy) = (
        "arn:aws:iam::222222222222:role/lakevault-PlanLargeCopyRole-X",
        "arn:aws:iam::222222222222:role/lakevault-CopyPartsRole-X",
    );
    params.extend([("PlanLargeCopyRoleArn", plan), ("CopyPartsRoleArn", copy)]);
    let rendered = Render::new(&tpl, &params).eval(statements);
    assert_eq!(
        sids(&rendered),
        [
            "DenyInsecureTransport",
            onboard_source::STATEMENT_SID,
            onboard_source::LARGE_COPY_PLAN_SID,
            onboard_source::LARGE_COPY_PARTS_SID
        ]
    );
    let by_sid = |sid: &str| {
        rendered
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Sid"] == sid)
            .unwrap_or_else(|| panic!("no {sid}"))
            .clone()
    };
    // The source side of each role's own ReadSourceObjects: the same actions, on this bucket's
    // objects, for that role alone (a cross-account read needs both sides to agree).
    let backup_params = {
        let mut p = REQUIRED.to_vec();
        p.extend([
            ("SourceBuckets", "lake-prod"),
            ("BreakGlassRoleArns", "arn:aws:iam::222222222222:role/bg"),
        ]);
        p
    };
    let reads = |role: &str| -> BTreeSet<String> {
        role_statements(&backup, &backup_params, role)
            .into_iter()
            .filter(|s| s["Sid"] == "ReadSourceObjects")
            .flat_map(|s| list(&s["Action"]))
            .collect()
    };
    // And exactly what onboard-source writes for --plan-large-copy-role-arn and
    // --copy-parts-role-arn, so a bucket can move from one way to the other without a change.
    let grant = onboard_source::LargeCopyGrant::new(plan, copy).unwrap();
    let written = onboard_source::large_copy_statements(&grant, "lake-prod");
    for want in &written {
        let sid = want["Sid"].as_str().unwrap();
        assert_eq!(
            kit::policy::normalise_statement(&by_sid(sid)),
            kit::policy::normalise_statement(want),
            "{sid}: infra/source-bucket.yaml and onboard-source agree"
        );
    }
    assert_eq!(written.len(), 2);
    for (sid, principal, role) in [
        (
            onboard_source::LARGE_COPY_PLAN_SID,
            plan,
            "PlanLargeCopyRole",
        ),
        (onboard_source::LARGE_COPY_PARTS_SID, copy, "CopyPartsRole"),
    ] {
        let s = by_sid(sid);
        assert_eq!(s["Effect"], "Allow", "{sid}");
        assert_eq!(s["Principal"], json!({"AWS": principal}), "{sid}");
        assert_eq!(s["Resource"], "arn:aws:s3:::lake-prod/*", "{sid}");
        assert!(s["Condition"].is_null(), "{sid}");
        let actions: BTreeSet<String> = list(&s["Action"]).into_iter().collect();
        assert_eq!(actions, reads(role), "{sid} grants what {role} reads");
        // The stack names the role in an output of the parameter's name.
        assert_eq!(
            backup["Outputs"][format!("{role}Arn")]["Value"],
            json!({"Fn::GetAtt": [role, "Arn"]}),
            "{role}"
        );
        assert!(
            !tpl["Parameters"][format!("{role}Arn")].is_null(),
            "source-bucket.yaml takes {role}Arn"
        );
    }
    assert_eq!(
        reads("PlanLargeCopyRole"),
        BTreeSet::from(
            [
                "s3:GetObject",
                "s3:GetObjectTagging",
                "s3:GetObjectVersion",
                "s3:GetObjectVersionTagging"
            ]
            .map(str::to_owned)
        )
    );
    assert_eq!(
        reads("CopyPartsRole"),
        BTreeSet::from(["s3:GetObject", "s3:GetObjectVersion"].map(str::to_owned))
    );
    // complete-large-copy reads nothing of a source: no grant, no statement for it.
    assert!(reads("CompleteLargeCopyRole").is_empty());
    assert!(
        !grants(&backup, &backup_params, "CompleteLargeCopyRole")
            .iter()
            .any(|(_, r)| r.starts_with("arn:aws:s3:::lake-prod")),
        "complete-large-copy reads a source"
    );
    // With a restore target too, all of them side by side.
    params.extend([
        (
            "RestoreBatchRoleArn",
            "arn:aws:iam::222222222222:role/lakevault-RestoreBatchRole-X",
        ),
        (
            "PlanRestoreRoleArn",
            "arn:aws:iam::222222222222:role/lakevault-PlanRestoreRole-X",
        ),
        (
            "VerifyRestoreRoleArn",
            "arn:aws:iam::222222222222:role/lakevault-VerifyRestoreRole-X",
        ),
    ]);
    assert_eq!(sids(&Render::new(&tpl, &params).eval(statements)).len(), 7);
}
