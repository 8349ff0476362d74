//! verify-restore: a Lambda function in AWS, a stdin→stdout command locally (see `kit::entry`).

#[tokio::main]
async fn main() -> std::process::ExitCode {
    kit::run(verify_restore::VerifyRestore::from_env).await
}
