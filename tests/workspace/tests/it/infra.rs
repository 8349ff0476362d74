//! Checks of the deployment templates in `infra/`.
//!
//! * `cfn-lint` (pinned in constraints.txt, installed in `.venv` with moto's server extra) and
//!   `checkov` (pinned in infra/constraints.txt, `.venv-infra`) accept every template without a
//!   single finding, and really do reject a broken one.
//! * The backup template and `statemachine/backup.asl.json` agree: the definition's placeholders
//!   are exactly the template's `DefinitionSubstitutions`, each filled with its own function; every
//!   step package is a function whose code is that step's binary; each function times out before
//!   its Task does.
//! * `aws cloudformation package` (what `make package` runs) turns the template into a deployable
//!   one against moto's S3: every local path uploaded and replaced, the result still lint-clean.
//! * The source side agrees with itself: infra/source-bucket.yaml writes the statement and
//!   inventory configuration that `onboard-source` writes.
//! * The schedule's run input, rendered from the template for sample parameters, is valid JSON in
//!   the shape the state machine reads.
//!
//! Templates are read through cfn-lint's own YAML loader (which understands `!Ref` and friends)
//! and handed over as JSON, so no YAML parser is needed here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

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
    let machines: Vec<&Value> = tpl["Resources"]
        .as_object()
        .unwrap()
        .values()
        .filter(|r| r["Type"] == "AWS::StepFunctions::StateMachine")
        .collect();
    assert_eq!(machines.len(), 1, "one state machine");
    let props = &machines[0]["Properties"];
    // The definition stays in statemachine/ (`make package` uploads it), never copied in.
    assert_eq!(
        props["DefinitionS3Location"],
        "../statemachine/backup.asl.json"
    );
    assert!(root().join("statemachine/backup.asl.json").exists());
    assert!(props["Definition"].is_null() && props["DefinitionString"].is_null());

    let subs = props["DefinitionSubstitutions"]
        .as_object()
        .expect("DefinitionSubstitutions");
    let keys: BTreeSet<String> = subs.keys().cloned().collect();
    assert_eq!(placeholders(&definition()), keys);
    assert_eq!(keys.len(), 7, "one placeholder per step function: {keys:?}");
    for (key, value) in subs {
        let function = key.strip_suffix("Arn").expect("keys end in Arn");
        assert_eq!(
            value,
            &json!({"Fn::GetAtt": [function, "Arn"]}),
            "{key} must be the ARN of {function}"
        );
        assert_eq!(
            tpl["Resources"][function]["Type"], "AWS::Lambda::Function",
            "{function} is a function"
        );
    }
}

#[test]
fn every_step_package_is_a_function() {
    let tpl = backup_template();
    let steps = step_packages();
    assert_eq!(steps.len(), 7, "the seven workflow steps: {steps:?}");
    for step in &steps {
        let id = format!("{}Function", pascal(step));
        let f = &tpl["Resources"][&id]["Properties"];
        assert!(f.is_object(), "no {id} for steps/{step}");
        assert_eq!(
            f["FunctionName"],
            json!({"Fn::Sub": format!("${{AWS::StackName}}-{step}")})
        );
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
        // Its own role, its own log group.
        let role = format!("{}Role", pascal(step));
        assert_eq!(f["Role"], json!({"Fn::GetAtt": [role, "Arn"]}), "{id}");
        let logs = format!("{}LogGroup", pascal(step));
        assert_eq!(f["LoggingConfig"]["LogGroup"], json!({"Ref": logs}), "{id}");
        assert!(
            tpl["Resources"][&logs]["Properties"]["RetentionInDays"].is_object(),
            "{logs} has a retention"
        );
    }
}

#[test]
fn functions_time_out_before_their_tasks() {
    let tpl = backup_template();
    // Every Task state (also inside Map/Parallel), by name.
    let found: BTreeMap<String, Value> = all_states(&definition())
        .into_iter()
        .filter(|(_, s)| s["Type"] == "Task")
        .collect();
    let mut checked = BTreeSet::new();
    for (name, task) in &found {
        let Some(target) = task["Parameters"]["FunctionName"].as_str() else {
            continue;
        };
        let function = target
            .strip_prefix("${")
            .and_then(|t| t.strip_suffix("Arn}"))
            .unwrap_or_else(|| panic!("{name}: FunctionName {target} is not a placeholder"));
        let task_timeout = task["TimeoutSeconds"]
            .as_u64()
            .unwrap_or_else(|| panic!("{name} has no TimeoutSeconds"));
        let timeout = tpl["Resources"][function]["Properties"]["Timeout"]
            .as_u64()
            .unwrap_or_else(|| panic!("{function} has no numeric Timeout"));
        assert!(
            timeout < task_timeout,
            "{function} times out after {timeout} s, its Task {name} after {task_timeout} s"
        );
        checked.insert(function.to_owned());
    }
    assert_eq!(checked.len(), 7, "{checked:?}");
}

#[test]
fn state_machine_role_invokes_exactly_the_step_functions() {
    let tpl = backup_template();
    let statements = &tpl["Resources"]["StateMachineRole"]["Properties"]["Policies"][0]["PolicyDocument"]
        ["Statement"];
    let invoke: Vec<&Value> = statements
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["Action"] == "lambda:InvokeFunction")
        .collect();
    assert_eq!(invoke.len(), 1);
    let mut resources: Vec<String> = invoke[0]["Resource"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["Fn::GetAtt"][0].as_str().unwrap().to_owned())
        .collect();
    resources.sort();
    let mut want: Vec<String> = step_packages()
        .iter()
        .map(|s| format!("{}Function", pascal(s)))
        .collect();
    want.sort();
    assert_eq!(resources, want);
}

// ------------------------------------------------------------------ the schedule's run input

/// Just enough of CloudFormation's intrinsic functions to render the schedule input, the ARN
/// lists and property blocks: Ref, Fn::GetAtt, Fn::Join, Fn::Sub, Fn::If, Fn::Not, Fn::Equals,
/// Condition.
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
        let Value::Object(m) = v else {
            return match v {
                Value::Array(a) => Value::Array(a.iter().map(|x| self.eval(x)).collect()),
                other => other.clone(),
            };
        };
        let (f, arg) = m.iter().next().expect("an intrinsic");
        let intrinsic = m.len() == 1 && (f == "Ref" || f == "Condition" || f.starts_with("Fn::"));
        if !intrinsic {
            // A plain object (a policy statement, a property block): render its values.
            return Value::Object(m.iter().map(|(k, v)| (k.clone(), self.eval(v))).collect());
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

    // The schedule sends only settings the state machine reads (a typo would be ignored
    // silently), and every setting the definition reads is either sent or has a default there.
    let asl = definition();
    let sent: BTreeSet<String> = s.as_object().unwrap().keys().cloned().collect();
    let read = settings_read(&asl);
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
    std::fs::copy(
        root().join("statemachine/backup.asl.json"),
        tree.join("statemachine/backup.asl.json"),
    )
    .unwrap();
    let steps = step_packages();
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
    let location = &tpl["Resources"]["BackupStateMachine"]["Properties"]["DefinitionS3Location"];
    assert_eq!(location["Bucket"], "artifacts");
    let definition = fetch(location["Key"].as_str().unwrap().to_owned()).await;
    assert_eq!(
        definition,
        std::fs::read(root().join("statemachine/backup.asl.json")).unwrap()
    );

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
    assert_eq!(alarms.len(), 2, "failed runs, and no run at all");
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
            p.to_string().contains("\"BackupStateMachine\""),
            "{id} watches the state machine"
        );
    }
    let failed = &resources["FailedRunsAlarm"]["Properties"];
    let names: BTreeSet<&str> = failed["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["MetricStat"]["Metric"]["MetricName"].as_str())
        .collect();
    assert_eq!(
        names,
        BTreeSet::from([
            "ExecutionsAborted",
            "ExecutionsFailed",
            "ExecutionsTimedOut"
        ])
    );
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

#[test]
fn onboard_command_output_uses_onboard_source_flags() {
    let tpl = backup_template();
    let mut params = REQUIRED.to_vec();
    params.extend([
        ("SourceBuckets", "lake-prod"),
        ("BreakGlassRoleArns", "arn:aws:iam::222222222222:role/bg"),
    ]);
    let rendered =
        Render::new(&tpl, &params).eval(&tpl["Outputs"]["OnboardSourceCommand"]["Value"]);
    let words: Vec<&str> = rendered.as_str().unwrap().split_whitespace().collect();
    assert_eq!(words[0], "onboard-source");
    assert_eq!(
        *words.last().unwrap(),
        "--bucket",
        "the user appends the bucket"
    );
    let value_of = |flag: &str| {
        let i = words
            .iter()
            .position(|w| *w == flag)
            .unwrap_or_else(|| panic!("no {flag}"));
        words[i + 1]
    };
    assert!(value_of("--role-arn").contains("BatchOperationsRole.Arn"));
    assert!(value_of("--inventory-bucket").contains("InventoryBucket"));
    assert_eq!(value_of("--prefix"), "inventory");
    assert_eq!(value_of("--id"), "daily");

    let help = run(Command::new(harness::bin("onboard-source")).arg("--help"));
    assert!(help.status.success(), "{}", text(&help));
    let help = text(&help);
    for flag in words.iter().filter(|w| w.starts_with("--")) {
        assert!(help.contains(flag), "onboard-source has no {flag}");
    }
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
