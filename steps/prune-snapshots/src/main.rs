//! prune-snapshots: a Lambda function in AWS, a stdin→stdout command locally (see `kit::entry`).

#[tokio::main]
async fn main() -> std::process::ExitCode {
    kit::run(prune_snapshots::PruneSnapshots::from_env).await
}
