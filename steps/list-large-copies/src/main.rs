//! list-large-copies: a Lambda function in AWS, a stdin→stdout command locally (see `kit::entry`).

#[tokio::main]
async fn main() -> std::process::ExitCode {
    kit::run(list_large_copies::ListLargeCopies::from_env).await
}
