//! audit-report: a Lambda function in AWS, a stdin→stdout command locally (see `kit::entry`).

#[tokio::main]
async fn main() -> std::process::ExitCode {
    kit::run(audit_report::AuditReport::from_env).await
}
