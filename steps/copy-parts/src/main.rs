//! copy-parts: a Lambda function in AWS, a stdin→stdout command locally (see `kit::entry`).

#[tokio::main]
async fn main() -> std::process::ExitCode {
    kit::run(copy_parts::CopyParts::from_env).await
}
