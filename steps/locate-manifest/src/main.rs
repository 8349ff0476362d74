//! locate-manifest: a Lambda function in AWS, a stdin→stdout command locally (see `kit::entry`).

// The step's future (handler + SDK calls, nested in kit::run's) is deeper than rustc's default
// layout query limit.
#![recursion_limit = "256"]

use locate_manifest::LocateManifest;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    kit::run(LocateManifest::from_env).await
}
