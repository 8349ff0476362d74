//! The AWS path on moto's Step Functions API (it stores executions without running them): one
//! execution per restore, found again by its name.

use harness::Moto;
use serde_json::Value;

use crate::{SETTINGS, lakevault};

const DEFINITION: &str =
    r#"{"StartAt": "Plan", "States": {"Plan": {"Type": "Pass", "End": true}}}"#;

async fn state_machine(moto: &Moto) -> (aws_sdk_sfn::Client, String) {
    let sfn = aws_sdk_sfn::Client::new(&moto.sdk_config());
    let arn = sfn
        .create_state_machine()
        .name("lakevault-restore")
        .definition(DEFINITION)
        .role_arn("arn:aws:iam::123456789012:role/lakevault-restore-machine")
        .send()
        .await
        .unwrap()
        .state_machine_arn()
        .to_owned();
    (sfn, arn)
}

fn restore(moto: &Moto, arn: &str, extra: &[&str]) -> crate::Run {
    let mut args = vec![
        "restore",
        "--json",
        "--snapshot",
        "lake-prod-31-mar-2021",
        "--table",
        "events",
        "--to",
        "s3://lake-prod-restored/events/",
        "--version",
        "7",
        "--state-machine-arn",
        arn,
        "--refresh-secs",
        "0.1",
    ];
    args.extend_from_slice(SETTINGS);
    args.extend_from_slice(extra);
    lakevault(&args, &moto.env())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_restore_is_one_execution_and_an_ended_one_is_followed_not_repeated() {
    let moto = Moto::start();
    let (sfn, arn) = state_machine(&moto).await;

    let first = restore(&moto, &arn, &["--no-wait"]);
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    let first = first.json();
    let execution = first["execution_arn"].as_str().unwrap().to_owned();
    let name = first["name"].as_str().unwrap();
    assert!(name.starts_with("restore-") && name.len() == 24, "{name}");
    assert!(execution.ends_with(&format!(":execution:lakevault-restore:{name}")));

    // Asked again while it runs: the same execution.
    let again = restore(&moto, &arn, &["--no-wait"]).json();
    assert_eq!(again["execution_arn"], execution.as_str());
    let listed = sfn
        .list_executions()
        .state_machine_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.executions().len(), 1);

    // What was sent is the contract's run input.
    let described = sfn
        .describe_execution()
        .execution_arn(&execution)
        .send()
        .await
        .unwrap();
    let input: Value = serde_json::from_str(described.input().unwrap()).unwrap();
    assert_eq!(input["restore"]["version"], 7);
    assert_eq!(input["restore"]["table"], "events");
    assert_eq!(
        input["restore"]["target"],
        serde_json::json!({"bucket": "lake-prod-restored", "prefix": "events/"})
    );
    assert_eq!(input["settings"]["report"]["prefix"], "reports");

    // Once it has ended, the same restore follows and reports that execution: no second one.
    sfn.stop_execution()
        .execution_arn(&execution)
        .send()
        .await
        .unwrap();
    let followed = restore(&moto, &arn, &[]);
    assert_eq!(followed.code, Some(1), "{}", followed.stderr);
    let e = followed.json();
    assert_eq!(e["errorType"], "Stopped", "{e}");
    assert!(e["errorMessage"].as_str().unwrap().contains(&execution));
    assert!(
        followed.stderr.contains("--attempt 2"),
        "{}",
        followed.stderr
    );
    let listed = sfn
        .list_executions()
        .state_machine_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.executions().len(), 1);

    // --attempt 2 is another execution.
    let second = restore(&moto, &arn, &["--no-wait", "--attempt", "2"]).json();
    assert_eq!(
        second["execution_arn"].as_str().unwrap(),
        format!("{execution}-2")
    );
    let listed = sfn
        .list_executions()
        .state_machine_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.executions().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_such_state_machine_is_a_service_error_exit_3() {
    let moto = Moto::start();
    let run = restore(
        &moto,
        "arn:aws:states:us-east-1:123456789012:stateMachine:missing",
        &["--no-wait"],
    );
    assert_eq!(run.code, Some(3), "{}", run.stderr);
    assert_eq!(run.json()["errorType"], "ServiceError");
}
