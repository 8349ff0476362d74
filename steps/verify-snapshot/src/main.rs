//! verify-snapshot: a Lambda function in AWS, a stdin→stdout command locally (see `kit::entry`).

#[tokio::main]
async fn main() -> std::process::ExitCode {
    kit::run(verify_snapshot::VerifySnapshot::from_env).await
}
