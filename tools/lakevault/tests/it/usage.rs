//! Usage errors: exit 2 and `InvalidInput` naming the flag, before any request (no endpoint is
//! configured: a request would fail otherwise).

use crate::{SETTINGS, lakevault};

fn restore(extra: &[&str]) -> crate::Run {
    let mut args = vec![
        "restore",
        "--json",
        "--snapshot",
        "lake-prod-31-mar-2021",
        "--table",
        "events",
    ];
    args.extend_from_slice(extra);
    lakevault(&args, &[])
}

#[test]
fn a_bad_flag_is_invalid_input_naming_it_before_any_request() {
    for (extra, flag) in [
        (vec!["--to", "s3://lake-prod-restored/renamed/"], "--to"),
        (vec!["--to", "lake-prod-restored/events/"], "--to"),
        (vec!["--to", "s3://lake-prod-31-mar-2021/events/"], "--to"),
        (vec!["--to", "s3://lake-prod-restored/events/"], "--local"),
        (
            vec![
                "--to",
                "s3://lake-prod-restored/events/",
                "--local",
                "http://127.0.0.1:9",
                "--no-wait",
            ],
            "--no-wait",
        ),
        (
            vec![
                "--to",
                "s3://lake-prod-restored/events/",
                "--state-machine-arn",
                "arn:aws:states:us-east-1:123456789012:stateMachine:r",
            ],
            "--account-id",
        ),
    ] {
        let mut args = extra.clone();
        if flag == "--local" || flag == "--no-wait" {
            args.extend_from_slice(SETTINGS);
        }
        let run = restore(&args);
        assert_eq!(run.code, Some(2), "{extra:?}: {}", run.stderr);
        let e = run.json();
        assert_eq!(e["errorType"], "InvalidInput", "{extra:?}");
        assert!(
            e["errorMessage"].as_str().unwrap().contains(flag),
            "{extra:?}: {e}"
        );
        assert!(
            run.stderr.starts_with("lakevault: InvalidInput: "),
            "{}",
            run.stderr
        );
    }
    let mut args = vec![
        "--to",
        "s3://lake-prod-restored/events/",
        "--state-machine-arn",
        "lakevault-restore",
    ];
    args.extend_from_slice(SETTINGS);
    let e = restore(&args).json();
    assert!(
        e["errorMessage"]
            .as_str()
            .unwrap()
            .contains("--state-machine-arn"),
        "{e}"
    );
}

#[test]
fn clap_refuses_contradictions_with_status_2() {
    for extra in [
        vec![
            "--to",
            "s3://a-b/events/",
            "--version",
            "3",
            "--latest-restorable",
        ],
        vec!["--to", "s3://a-b/events/", "--dry-run", "--no-wait"],
        vec!["--version", "3"],
    ] {
        let run = restore(&extra);
        assert_eq!(run.code, Some(2), "{extra:?}");
    }
}

#[test]
fn an_unreachable_local_stack_is_exit_3() {
    let root = harness::workspace_root().display().to_string();
    let mut args = vec![
        "--to",
        "s3://lake-prod-restored/events/",
        "--local",
        "http://127.0.0.1:9",
        "--root",
        &root,
    ];
    args.extend_from_slice(SETTINGS);
    let run = restore(&args);
    assert_eq!(run.code, Some(3), "{}", run.stderr);
    let e = run.json();
    assert_eq!(e["errorType"], "LocalStackUnavailable");
    assert!(
        e["errorMessage"]
            .as_str()
            .unwrap()
            .contains("lakevault-local up"),
        "{e}"
    );
}

#[test]
fn catalog_commands_refuse_bad_flags_before_any_request() {
    for (args, code, error_type, names) in [
        (
            vec!["snapshots", "--json"],
            2,
            "InvalidInput",
            "--report-bucket",
        ),
        (
            vec!["snapshots", "--json", "--report-bucket", "Bad_Bucket"],
            2,
            "InvalidInput",
            "--report-bucket",
        ),
        (
            vec![
                "snapshots",
                "--json",
                "--report-bucket",
                "lake-reports",
                "--now",
                "yesterday",
            ],
            2,
            "InvalidInput",
            "--now",
        ),
        (
            vec![
                "snapshots",
                "--json",
                "--report-bucket",
                "lake-reports",
                "--price-per-gib-month",
                "GLACIER_IR",
            ],
            2,
            "InvalidInput",
            "--price-per-gib-month",
        ),
        (
            vec![
                "forget",
                "--dry-run",
                "--json",
                "--report-bucket",
                "lake-reports",
            ],
            2,
            "InvalidInput",
            "keeps nothing",
        ),
        (
            vec![
                "forget",
                "--dry-run",
                "--json",
                "--report-bucket",
                "lake-reports",
                "--keep-yearly",
                "10001",
            ],
            2,
            "InvalidInput",
            "--keep-yearly",
        ),
        (
            vec![
                "forget",
                "--json",
                "--report-bucket",
                "lake-reports",
                "--keep-daily",
                "7",
            ],
            2,
            "InvalidInput",
            "--local URL (the local stack) or --state-machine-arn ARN",
        ),
        (
            vec![
                "forget",
                "--json",
                "--report-bucket",
                "lake-reports",
                "--keep-daily",
                "7",
                "--state-machine-arn",
                "lakevault-prune",
            ],
            2,
            "InvalidInput",
            "--state-machine-arn",
        ),
        (
            vec![
                "forget",
                "--json",
                "--report-bucket",
                "lake-reports",
                "--keep-daily",
                "7",
                "--local",
                "http://127.0.0.1:9",
                "--no-wait",
            ],
            2,
            "InvalidInput",
            "--no-wait",
        ),
        (
            vec![
                "forget",
                "--json",
                "--report-bucket",
                "lake-reports",
                "--local",
                "http://127.0.0.1:9",
            ],
            2,
            "InvalidInput",
            "keeps nothing",
        ),
    ] {
        let run = lakevault(&args, &[]);
        assert_eq!(run.code, Some(code), "{args:?}: {}", run.stderr);
        let e = run.json();
        assert_eq!(e["errorType"], error_type, "{args:?}");
        assert!(
            e["errorMessage"].as_str().unwrap().contains(names),
            "{args:?}: {e}"
        );
    }
}
