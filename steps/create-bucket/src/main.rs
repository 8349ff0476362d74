use create_bucket::CreateBucket;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    kit::run(CreateBucket::from_env).await
}
