#[tokio::main]
async fn main() -> std::process::ExitCode {
    kit::run(submit_job::SubmitJob::from_env).await
}
