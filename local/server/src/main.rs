//! `lakevault-local`: the local stack.
//!
//! * `serve` — the Lambda Invoke endpoint for the six steps and the S3 Batch Operations API on one
//!   port (AWS endpoints for the copies and the steps come from the usual `AWS_*` variables).
//! * `demo` — the whole backup of a real Delta table on moto, printed step by step.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use lakevault_local::{demo, sfn, stack};

const USAGE: &str = "usage:
  lakevault-local serve [--port N] [--bin-dir DIR] [--timeout-secs N] [--max-copy-bytes N]
  lakevault-local demo  [--root DIR] [--python PATH] [--bin-dir DIR]
  lakevault-local sfn   --input RUN.json [--definition FILE] [--name NAME] [--account ID]
                        [--role-arn ARN] [--timeout-secs N]
      deploys the definition (placeholders filled with this account's function ARNs) to the Step
      Functions endpoint of AWS_ENDPOINT_URL_SFN (e.g. Step Functions Local), runs it, prints the output
  lakevault-local fill  [--definition FILE] [--account ID] [--region R]
      prints the definition with its ${<Step>FunctionArn} placeholders filled";

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .compact()
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("serve") => serve(&args[1..]).await,
        Some("demo") => run_demo(&args[1..]).await,
        Some("sfn") => run_sfn(&args[1..]).await,
        Some("fill") => fill(&args[1..]),
        _ => Err(USAGE.to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lakevault-local: {e}");
            ExitCode::FAILURE
        }
    }
}

fn own_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(PathBuf::from))
        .unwrap_or_default()
}

/// `--flag value` pairs.
fn pairs(args: &[String]) -> Result<Vec<(&str, &str)>, String> {
    if !args.len().is_multiple_of(2) {
        return Err(format!("every flag takes a value\n{USAGE}"));
    }
    Ok(args
        .chunks(2)
        .map(|c| (c[0].as_str(), c[1].as_str()))
        .collect())
}

fn num<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, String> {
    v.parse()
        .map_err(|_| format!("{flag} takes a number, not {v:?}"))
}

async fn serve(args: &[String]) -> Result<(), String> {
    let mut port = 0u16;
    let mut bin_dir = own_dir();
    let mut timeout = Duration::from_secs(300);
    let mut max_copy_bytes = local_batch::AWS_MAX_COPY_BYTES;
    for (k, v) in pairs(args)? {
        match k {
            "--port" => port = num(k, v)?,
            "--bin-dir" => bin_dir = PathBuf::from(v),
            "--timeout-secs" => timeout = Duration::from_secs(num(k, v)?),
            "--max-copy-bytes" => max_copy_bytes = num(k, v)?,
            _ => return Err(format!("unknown flag {k}\n{USAGE}")),
        }
    }
    let sdk = kit::clients::load_sdk_config().await;
    let running = stack::start(
        stack::StackConfig {
            sdk,
            bin_dir,
            // The steps inherit this process's environment (AWS endpoint, credentials, region).
            step_env: Vec::new(),
            max_copy_bytes,
            timeout,
        },
        port,
    )
    .await
    .map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e}"))?;
    // First stdout line: scripts and tests read the port from it.
    println!("listening on {}", running.url);
    wait_for_stop().await;
    drop(running);
    Ok(())
}

async fn wait_for_stop() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term => {},
    }
}

async fn run_demo(args: &[String]) -> Result<(), String> {
    let cwd = std::env::current_dir().map_err(|e| e.to_string())?;
    let mut root = stack::find_root(&cwd).unwrap_or(cwd);
    let mut python = None;
    let mut bin_dir = own_dir();
    for (k, v) in pairs(args)? {
        match k {
            "--root" => root = PathBuf::from(v),
            "--python" => python = Some(PathBuf::from(v)),
            "--bin-dir" => bin_dir = PathBuf::from(v),
            _ => return Err(format!("unknown flag {k}\n{USAGE}")),
        }
    }
    let opts = demo::DemoOptions {
        python: python.unwrap_or_else(|| root.join(".venv/bin/python")),
        root,
        bin_dir,
    };
    let out = demo::run(&opts).await.map_err(|e| e.to_string())?;
    let all_complete = out["results"]
        .as_array()
        .is_some_and(|r| r.iter().all(|x| x["outcome"] == "complete"));
    if all_complete {
        Ok(())
    } else {
        Err("the backup did not complete (see above)".to_owned())
    }
}

const DEFAULT_ACCOUNT: &str = "123456789012";

fn read_definition(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))
}

fn fill(args: &[String]) -> Result<(), String> {
    let (mut definition, mut account, mut region) = (
        "statemachine/backup.asl.json".to_owned(),
        DEFAULT_ACCOUNT.to_owned(),
        "us-east-1".to_owned(),
    );
    for (k, v) in pairs(args)? {
        match k {
            "--definition" => definition = v.to_owned(),
            "--account" => account = v.to_owned(),
            "--region" => region = v.to_owned(),
            _ => return Err(format!("unknown flag {k}\n{USAGE}")),
        }
    }
    print!(
        "{}",
        sfn::fill_placeholders(&read_definition(&definition)?, &account, &region)
    );
    Ok(())
}

async fn run_sfn(args: &[String]) -> Result<(), String> {
    let mut definition = "statemachine/backup.asl.json".to_owned();
    let mut input = None;
    let mut name = "lakevault-backup".to_owned();
    let mut account = DEFAULT_ACCOUNT.to_owned();
    let mut role_arn = None;
    let mut limit = Duration::from_secs(900);
    for (k, v) in pairs(args)? {
        match k {
            "--definition" => definition = v.to_owned(),
            "--input" => input = Some(v.to_owned()),
            "--name" => name = v.to_owned(),
            "--account" => account = v.to_owned(),
            "--role-arn" => role_arn = Some(v.to_owned()),
            "--timeout-secs" => limit = Duration::from_secs(num(k, v)?),
            _ => return Err(format!("unknown flag {k}\n{USAGE}")),
        }
    }
    let input_path = input.ok_or_else(|| format!("--input is required\n{USAGE}"))?;
    let input: serde_json::Value = serde_json::from_str(&read_definition(&input_path)?)
        .map_err(|e| format!("{input_path} is not JSON: {e}"))?;
    let conf = kit::clients::load_sdk_config().await;
    let region = conf
        .region()
        .map(|r| r.to_string())
        .unwrap_or_else(|| "us-east-1".to_owned());
    let filled = sfn::fill_placeholders(&read_definition(&definition)?, &account, &region);
    // Step Functions Local accepts any role; in AWS pass the stack's state machine role.
    let role_arn =
        role_arn.unwrap_or_else(|| format!("arn:aws:iam::{account}:role/lakevault-local"));
    let client = aws_sdk_sfn::Client::new(&conf);
    let arn = sfn::deploy(&client, &name, &filled, &role_arn)
        .await
        .map_err(|e| e.to_string())?;
    eprintln!("state machine {arn}");
    let (execution, output) = sfn::run(&client, &arn, &input, Duration::from_secs(1), limit)
        .await
        .map_err(|e| e.to_string())?;
    eprintln!("execution {execution} succeeded");
    println!("{output}");
    Ok(())
}
