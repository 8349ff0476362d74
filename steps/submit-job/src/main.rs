//! submit-job: a Lambda function in AWS, a stdin→stdout command locally (see `kit::entry`).

#[tokio::main]
async fn main() -> std::process::ExitCode {
    kit::run(submit_job::SubmitJob::from_env).await
}
