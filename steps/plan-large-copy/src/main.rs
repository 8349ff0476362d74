//! plan-large-copy: a Lambda function in AWS, a stdin→stdout command locally (see `kit::entry`).

#[tokio::main]
async fn main() -> std::process::ExitCode {
    kit::run(plan_large_copy::PlanLargeCopy::from_env).await
}
