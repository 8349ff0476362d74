//! `lakevault-local`: the local stack (`serve`, `demo`, `up`, `restore-demo`, `sfn`, `fill`; see
//! [`lakevault_local::cli`]).

use std::process::ExitCode;

use clap::Parser;
use lakevault_local::cli::{self, Cli};

fn main() -> ExitCode {
    // Usage errors: clap's message, status 2.
    let args = Cli::parse();
    init_tracing();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("lakevault-local: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lakevault-local: {e}");
            ExitCode::FAILURE
        }
    }
}

/// kit's tracing, quieter by default than a step's: `demo` prints its own story on stdout, and
/// the endpoint's and the jobs' info lines would drown it. RUST_LOG still decides when set.
fn init_tracing() {
    kit::entry::init_tracing_with_default(false, "warn");
}
