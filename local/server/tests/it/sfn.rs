//! The aws-sdk-sfn path (deploy, start, describe) against moto's Step Functions API. moto runs no
//! Lambda tasks, so the execution itself is exercised by the end-to-end tests on the local runner;
//! this checks the Step Functions calls and that deploying twice updates rather than duplicates.

use std::time::Duration;

use lakevault_local::sfn;

#[tokio::test]
async fn deploys_idempotently_and_starts_an_execution() {
    let moto = harness::Moto::start();
    let client = aws_sdk_sfn::Client::new(&moto.sdk_config());
    let def =
        std::fs::read_to_string(harness::workspace_root().join("statemachine/backup.asl.json"))
            .unwrap();
    let filled = sfn::fill_placeholders(&def, harness::DEFAULT_ACCOUNT, harness::REGION);
    assert!(!filled.contains("${"), "every placeholder is filled");
    let role = "arn:aws:iam::123456789012:role/lakevault-local";
    let first = sfn::deploy(&client, "lakevault-backup", &filled, role)
        .await
        .unwrap();
    let second = sfn::deploy(&client, "lakevault-backup", &filled, role)
        .await
        .unwrap();
    assert_eq!(first, second);
    let listed = client.list_state_machines().send().await.unwrap();
    assert_eq!(listed.state_machines().len(), 1);

    let input = serde_json::json!({"sources": [], "settings": {}});
    match sfn::run(
        &client,
        &first,
        &input,
        Duration::from_millis(100),
        Duration::from_millis(500),
    )
    .await
    {
        // moto either finishes executions at once or leaves them running; both prove the calls.
        Ok((arn, _)) | Err(sfn::SfnError::TimedOut(arn)) => {
            assert!(
                arn.starts_with(
                    "arn:aws:states:us-east-1:123456789012:execution:lakevault-backup:"
                ),
                "{arn}"
            );
        }
        Err(e) => panic!("{e}"),
    }
}
