//! complete-large-copy: a Lambda function in AWS, a stdin→stdout command locally (see `kit::entry`).

#[tokio::main]
async fn main() -> std::process::ExitCode {
    kit::run(complete_large_copy::CompleteLargeCopy::from_env).await
}
