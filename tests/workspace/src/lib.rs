//! The registry of lakevault's steps, built from their Rust types: name, schemas, errorTypes.
//! Workspace checks (schemas, state machine routing, end-to-end contracts) read it; a test
//! makes sure every package under `steps/` is registered. [`diagram`] draws the state machine
//! for the root README.

pub mod diagram;

use serde_json::Value;

/// What the workspace checks need to know of a step.
#[derive(Debug, Clone)]
pub struct StepInfo {
    /// Package / binary / Lambda function name.
    pub name: &'static str,
    /// JSON Schema of the input.
    pub input_schema: Value,
    /// JSON Schema of the output.
    pub output_schema: Value,
    /// Every errorType it can emit.
    pub error_types: Vec<&'static str>,
}

#[allow(dead_code)]
fn info<S: kit::Step>() -> StepInfo {
    StepInfo {
        name: S::NAME,
        input_schema: kit::entry::input_schema::<S>(),
        output_schema: kit::entry::output_schema::<S>(),
        error_types: kit::entry::error_types::<S>(),
    }
}

/// Every step of the workflow, in workflow order.
pub fn steps() -> Vec<StepInfo> {
    // One line per step package under steps/ (the `registry_is_complete` test checks).
    vec![
        info::<locate_manifest::LocateManifest>(),
        info::<create_bucket::CreateBucket>(),
        info::<submit_job::SubmitJob>(),
        info::<await_job::AwaitJob>(),
        info::<audit_report::AuditReport>(),
        info::<list_large_copies::ListLargeCopies>(),
        info::<plan_large_copy::PlanLargeCopy>(),
        info::<copy_parts::CopyParts>(),
        info::<complete_large_copy::CompleteLargeCopy>(),
        info::<verify_snapshot::VerifySnapshot>(),
        info::<catalog_snapshot::CatalogSnapshot>(),
        info::<notify::Notify>(),
        info::<plan_restore::PlanRestore>(),
        info::<verify_restore::VerifyRestore>(),
        info::<prune_snapshots::PruneSnapshots>(),
    ]
}
