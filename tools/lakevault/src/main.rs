//! `lakevault`: the operator command (see the crate's README).

use std::process::ExitCode;

use clap::Parser;
use lakevault::cli::{self, Cli};

fn main() -> ExitCode {
    // Usage errors: clap's message, status 2.
    let args = Cli::parse();
    let json = match &args.command {
        cli::Command::Restore(a) => a.json,
        cli::Command::Snapshots(a) => a.catalog.json,
        cli::Command::Forget(a) => a.catalog.json,
    };
    // Progress and the outcome are printed by the command itself; logs only when RUST_LOG asks.
    kit::entry::init_tracing_with_default(false, "warn");
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("lakevault: cannot start the async runtime: {e}");
            return ExitCode::from(3);
        }
    };
    match runtime.block_on(cli::run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if json {
                println!("{}", e.to_json());
            }
            match &e {
                lakevault::CommandError::Restore {
                    command,
                    error_type,
                    state,
                    execution,
                    ..
                } => {
                    match state {
                        Some(state) => {
                            eprintln!("lakevault: {command} failed at {state}: {error_type}: {e}")
                        }
                        None => eprintln!("lakevault: {command} failed: {error_type}: {e}"),
                    }
                    if let Some(execution) = execution {
                        eprintln!("execution      {execution}");
                    }
                }
                _ => eprintln!("lakevault: {}: {e}", e.error_type()),
            }
            ExitCode::from(e.exit_code())
        }
    }
}
