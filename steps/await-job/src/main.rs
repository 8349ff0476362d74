//! await-job: a Lambda function in AWS, a stdin→stdout command locally (see `kit::entry`).

#[tokio::main]
async fn main() -> std::process::ExitCode {
    kit::run(await_job::AwaitJob::from_env).await
}
