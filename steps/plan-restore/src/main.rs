//! plan-restore: a Lambda function in AWS, a stdin→stdout command locally (see `kit::entry`).

#[tokio::main]
async fn main() -> std::process::ExitCode {
    kit::run(plan_restore::PlanRestore::from_env).await
}
