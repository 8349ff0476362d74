//! The `lakevault-local` command line: `serve`, `demo`, `up`, `restore-demo`, `sfn`, `fill`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::{demo, restore_demo, sfn, sfn_api, stack, up};

/// The local stack of lakevault.
#[derive(Debug, Parser)]
#[command(name = "lakevault-local", version)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The Lambda Invoke endpoint for the seven steps and the S3 Batch Operations API on one port
    /// (AWS endpoints for the copies and the steps come from the usual AWS_* variables). The
    /// first stdout line is `listening on http://127.0.0.1:PORT`.
    Serve(ServeArgs),
    /// The whole backup of a real Delta table on moto, printed step by step.
    Demo(DemoArgs),
    /// moto and the local stack with the demo table backed up, left running (until Ctrl-C) for
    /// `lakevault restore --local …` by hand: prints the environment and the commands.
    Up(UpArgs),
    /// The restore drill: back up, lose the source table, restore two versions with `lakevault
    /// restore`, read them back with the deltalake package; a non-empty target, a vacuumed-out
    /// version, the same restore twice. Printed step by step.
    RestoreDemo(DemoArgs),
    /// Deploys the definition (placeholders filled with this account's function ARNs) to the
    /// Step Functions endpoint of AWS_ENDPOINT_URL_SFN (e.g. Step Functions Local), runs it,
    /// prints the output.
    Sfn(SfnArgs),
    /// Prints the definition with its ${<Step>FunctionArn} placeholders filled.
    Fill(FillArgs),
}

/// `serve`'s flags.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Port on 127.0.0.1 (0: any free one).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Where the step binaries are (default: this program's directory).
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
    /// Per-invocation time limit of a step, in seconds.
    #[arg(long, default_value_t = 300)]
    pub timeout_secs: u64,
    /// Copy-size limit of the Batch Operations, in bytes (AWS: 5368709120).
    #[arg(long, default_value_t = local_batch::AWS_MAX_COPY_BYTES)]
    pub max_copy_bytes: i64,
}

/// `demo`'s flags.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The workspace root (default: found from the current directory).
    #[arg(long)]
    pub root: Option<PathBuf>,
    /// The Python of the project venv (default: <root>/.venv/bin/python).
    #[arg(long)]
    pub python: Option<PathBuf>,
    /// Where the step binaries are (default: this program's directory).
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
    /// Which interpreter runs the backup: `local` (aws-local-stepfunctions) or `api` (the Step
    /// Functions API on moto's executing backend, driven with aws-sdk-sfn).
    #[arg(long, value_enum, default_value_t = demo::Interpreter::Local)]
    pub sfn: demo::Interpreter,
    /// Also copy an object over the Batch Operations copy limit (lowered to 8 MiB, with 5 MiB
    /// parts): the large-copy Map of the backup machine, in parts.
    #[arg(long)]
    pub large_objects: bool,
}

/// `up`'s flags.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// Where things are.
    #[command(flatten)]
    pub demo: DemoArgs,
    /// Port of the local stack on 127.0.0.1 (0: any free one).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
}

/// `sfn`'s flags.
#[derive(Debug, Args)]
pub struct SfnArgs {
    /// The run input (JSON file).
    #[arg(long)]
    pub input: PathBuf,
    /// The definition to execute; every `*.asl.json` beside it is deployed too, as
    /// `lakevault-<name>` (so `backup.asl.json` finds its child `backup-source.asl.json`).
    #[arg(long, default_value = "statemachine/backup.asl.json")]
    pub definition: PathBuf,
    /// The execution's name (default: `run-<seconds since the epoch>`). The same name again
    /// follows that execution instead of starting another.
    #[arg(long)]
    pub execution_name: Option<String>,
    /// The account of the function and state machine ARNs.
    #[arg(long, default_value = moto_launcher::DEFAULT_ACCOUNT)]
    pub account: String,
    /// The state machine's role (default: arn:aws:iam::<account>:role/lakevault-local, which
    /// Step Functions Local accepts; in AWS pass the stack's state machine role).
    #[arg(long)]
    pub role_arn: Option<String>,
    /// How long to wait for the execution, in seconds.
    #[arg(long, default_value_t = 900)]
    pub timeout_secs: u64,
}

/// `fill`'s flags.
#[derive(Debug, Args)]
pub struct FillArgs {
    /// The definition.
    #[arg(long, default_value = "statemachine/backup.asl.json")]
    pub definition: PathBuf,
    /// The account of the function ARNs.
    #[arg(long, default_value = moto_launcher::DEFAULT_ACCOUNT)]
    pub account: String,
    /// The region of the function ARNs.
    #[arg(long, default_value = moto_launcher::REGION)]
    pub region: String,
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The AWS configuration of the environment is unusable (e.g. a timeout variable).
    #[error(transparent)]
    Config(#[from] kit::clients::ConfigError),
    /// The server could not listen.
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Listen {
        /// The port asked for.
        port: u16,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The current directory is unknown.
    #[error("{0}")]
    CurrentDir(#[source] std::io::Error),
    /// The demo stopped.
    #[error(transparent)]
    Demo(#[from] demo::DemoError),
    /// The demo ran, but not every source was backed up.
    #[error("the backup did not complete (see above)")]
    Incomplete,
    /// A file could not be read.
    #[error("{}: {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The run input is not JSON.
    #[error("{} is not JSON: {source}", .path.display())]
    InputNotJson {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// Deploying or running on Step Functions failed.
    #[error(transparent)]
    Sfn(#[from] sfn::SfnError),
}

/// Runs the command.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Serve(a) => serve(a).await,
        Command::Demo(a) => run_demo(a).await,
        Command::Up(a) => {
            let port = a.port;
            up::run(&demo_options(a.demo)?, port).await?;
            Ok(())
        }
        Command::RestoreDemo(a) => {
            restore_demo::run(&demo_options(a)?).await?;
            Ok(())
        }
        Command::Sfn(a) => run_sfn(a).await,
        Command::Fill(a) => fill(&a),
    }
}

fn own_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(PathBuf::from))
        .unwrap_or_default()
}

async fn serve(a: ServeArgs) -> Result<(), CliError> {
    let sdk = kit::clients::load_sdk_config().await?;
    let running = stack::start(
        stack::StackConfig {
            sdk,
            bin_dir: a.bin_dir.unwrap_or_else(own_dir),
            // The steps inherit this process's environment (AWS endpoint, credentials, region).
            step_env: Vec::new(),
            max_copy_bytes: a.max_copy_bytes,
            timeout: Duration::from_secs(a.timeout_secs),
        },
        a.port,
    )
    .await
    .map_err(|source| CliError::Listen {
        port: a.port,
        source,
    })?;
    // First stdout line: scripts and tests read the port from it.
    println!("listening on {}", running.url);
    local_batch::shutdown_signal().await;
    drop(running);
    Ok(())
}

fn demo_options(a: DemoArgs) -> Result<demo::DemoOptions, CliError> {
    let root = match a.root {
        Some(r) => r,
        None => {
            let cwd = std::env::current_dir().map_err(CliError::CurrentDir)?;
            stack::find_root(&cwd).unwrap_or(cwd)
        }
    };
    Ok(demo::DemoOptions {
        python: a
            .python
            .unwrap_or_else(|| moto_launcher::MotoCommand::venv_python(&root)),
        root,
        bin_dir: a.bin_dir.unwrap_or_else(own_dir),
        large_objects: a.large_objects,
    })
}

async fn run_demo(a: DemoArgs) -> Result<(), CliError> {
    let interpreter = a.sfn;
    let opts = demo_options(a)?;
    let out = demo::run_on(&opts, interpreter).await?;
    let all_complete = out["results"]
        .as_array()
        .is_some_and(|r| r.iter().all(|x| x["outcome"] == "complete"));
    if all_complete {
        Ok(())
    } else {
        Err(CliError::Incomplete)
    }
}

fn read(path: &PathBuf) -> Result<String, CliError> {
    std::fs::read_to_string(path).map_err(|source| CliError::Read {
        path: path.clone(),
        source,
    })
}

fn fill(a: &FillArgs) -> Result<(), CliError> {
    print!(
        "{}",
        sfn::fill_placeholders(&read(&a.definition)?, &a.account, &a.region)
    );
    Ok(())
}

async fn run_sfn(a: SfnArgs) -> Result<(), CliError> {
    let input: serde_json::Value =
        serde_json::from_str(&read(&a.input)?).map_err(|source| CliError::InputNotJson {
            path: a.input.clone(),
            source,
        })?;
    let conf = kit::clients::load_sdk_config().await?;
    let region = conf
        .region()
        .map(|r| r.to_string())
        .unwrap_or_else(|| moto_launcher::REGION.to_owned());
    // Step Functions Local and moto accept any role; in AWS pass the stack's state machine role.
    let role_arn = a
        .role_arn
        .unwrap_or_else(|| format!("arn:aws:iam::{}:role/lakevault-local", a.account));
    let client = aws_sdk_sfn::Client::new(&conf);
    let dir = a
        .definition
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let stem = a
        .definition
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix(".asl.json"))
        .unwrap_or("backup")
        .to_owned();
    let machines = sfn_api::deploy_dir(&client, dir, &a.account, &region, &role_arn).await?;
    for (name, arn) in &machines {
        eprintln!("state machine {name}: {arn}");
    }
    let name = sfn_api::state_machine_name(&stem);
    let arn = machines.get(&name).cloned().ok_or_else(|| CliError::Read {
        path: a.definition.clone(),
        source: std::io::Error::new(std::io::ErrorKind::NotFound, "not a *.asl.json definition"),
    })?;
    let execution_name = a.execution_name.unwrap_or_else(|| {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        format!("run-{secs}")
    });
    let limit = Duration::from_secs(a.timeout_secs);
    let out = sfn_api::run_named(
        &client,
        &arn,
        &execution_name,
        &input,
        Duration::from_secs(1),
        limit,
        |line| eprintln!("  {line}"),
    )
    .await?;
    match out.output {
        Ok(output) => {
            eprintln!("execution {} succeeded", out.arn);
            println!("{output}");
            Ok(())
        }
        Err(e) => Err(CliError::Sfn(sfn::SfnError::Failed {
            arn: out.arn,
            status: out.status,
            error: e["error"].as_str().unwrap_or_default().to_owned(),
            cause: e["cause"].as_str().unwrap_or_default().to_owned(),
        })),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn parse(line: &str) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("lakevault-local").chain(line.split_whitespace()))
    }

    #[test]
    fn serve_takes_the_readme_flags_with_their_defaults() {
        let Command::Serve(a) =
            parse("serve --port 9001 --bin-dir target/debug --max-copy-bytes 4096")
                .unwrap()
                .command
        else {
            panic!("not serve")
        };
        assert_eq!(a.port, 9001);
        assert_eq!(a.bin_dir, Some(PathBuf::from("target/debug")));
        assert_eq!(a.max_copy_bytes, 4096);
        assert_eq!(a.timeout_secs, 300);
        let Command::Serve(a) = parse("serve").unwrap().command else {
            panic!("not serve")
        };
        assert_eq!(
            (a.port, a.max_copy_bytes),
            (0, local_batch::AWS_MAX_COPY_BYTES)
        );
    }

    #[test]
    fn sfn_needs_an_input_and_fill_defaults_to_the_committed_definition() {
        assert!(parse("sfn").is_err());
        let Command::Sfn(a) = parse("sfn --input run.json --timeout-secs 5")
            .unwrap()
            .command
        else {
            panic!("not sfn")
        };
        assert_eq!(a.input, PathBuf::from("run.json"));
        assert_eq!(a.execution_name, None);
        assert_eq!(a.account, "123456789012");
        assert_eq!(a.timeout_secs, 5);
        let Command::Fill(f) = parse("fill --region eu-west-1").unwrap().command else {
            panic!("not fill")
        };
        assert_eq!(f.definition, PathBuf::from("statemachine/backup.asl.json"));
        assert_eq!(
            (f.account.as_str(), f.region.as_str()),
            ("123456789012", "eu-west-1")
        );
    }

    #[test]
    fn up_and_restore_demo_take_the_demo_flags() {
        let Command::Up(a) = parse("up --port 9001 --root r").unwrap().command else {
            panic!("not up")
        };
        assert_eq!((a.port, a.demo.root), (9001, Some(PathBuf::from("r"))));
        assert!(matches!(
            parse("restore-demo --bin-dir b").unwrap().command,
            Command::RestoreDemo(DemoArgs {
                bin_dir: Some(_),
                ..
            })
        ));
    }

    #[test]
    fn unknown_subcommands_and_flags_are_usage_errors() {
        for bad in ["", "serve --port", "demo --colour red", "launch"] {
            assert_eq!(parse(bad).unwrap_err().exit_code(), 2, "{bad:?}");
        }
        assert!(matches!(
            parse("demo --root r --python p --bin-dir b")
                .unwrap()
                .command,
            Command::Demo(DemoArgs {
                root: Some(_),
                python: Some(_),
                bin_dir: Some(_),
                sfn: demo::Interpreter::Local,
                large_objects: false,
            })
        ));
        assert!(matches!(
            parse("demo --large-objects").unwrap().command,
            Command::Demo(DemoArgs {
                large_objects: true,
                ..
            })
        ));
        assert!(matches!(
            parse("demo --sfn api").unwrap().command,
            Command::Demo(DemoArgs {
                sfn: demo::Interpreter::Api,
                ..
            })
        ));
        assert_eq!(parse("demo --sfn jar").unwrap_err().exit_code(), 2);
    }
}
