//! `--dry-run`: plan-restore's library, in this process, with `dry_run: true`.
//!
//! The same checks and the same plan as the machine's PlanRestore (restorable version, empty
//! target, the objects version V needs), with the caller's credentials; it only reads (the
//! snapshot's log, a listing of the target, the plan record of a resumed restore) and writes
//! nothing.

use serde_json::Value;

use crate::error::{CommandError, message_of_cause};
use crate::request::{ReportLocation, RestoreRequest};

/// Plans `req` without writing anything; returns plan-restore's output.
pub async fn dry_run(
    conf: &aws_config::SdkConfig,
    req: &RestoreRequest,
    report: &ReportLocation,
) -> Result<Value, CommandError> {
    let step = plan_restore::PlanRestore::new(conf);
    kit::entry::invoke(&step, req.plan_input(report, true))
        .await
        .map_err(|d| CommandError::Restore {
            command: "restore",
            error_type: d.error_type,
            message: message_of_cause(&d.error_message),
            state: Some("PlanRestore (dry run)".to_owned()),
            execution: None,
        })
}
