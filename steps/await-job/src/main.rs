#[tokio::main]
async fn main() -> std::process::ExitCode {
    kit::run(await_job::AwaitJob::from_env).await
}
