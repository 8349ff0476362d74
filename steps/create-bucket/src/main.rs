//! The create-bucket binary: a Lambda function in AWS, a stdin-to-stdout command elsewhere.

use create_bucket::CreateBucket;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    kit::run(CreateBucket::from_env).await
}
