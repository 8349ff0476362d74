#![doc = include_str!("../README.md")]

mod error;
mod inventory;
mod report;
mod request;
mod run;
mod statement;

pub use error::OnboardError;
pub use inventory::{INVENTORY_FIELDS, InventorySummary, desired_inventory};
pub use report::{Change, Report};
pub use request::{
    DEFAULT_CONFIGURATION_ID, DEFAULT_PREFIX, InventoryTarget, LargeCopyGrant, Request,
    RestoreGrant, RoleArn, SourceSide,
};
pub use run::Onboarder;
pub use statement::{
    LARGE_COPY_PARTS_ACTIONS, LARGE_COPY_PARTS_SID, LARGE_COPY_PLAN_ACTIONS, LARGE_COPY_PLAN_SID,
    POLICY_MAX_BYTES, PolicyPlan, PolicyProblem, RESTORE_LIST_SID, RESTORE_READ_SID,
    RESTORE_WRITE_ACTIONS, RESTORE_WRITE_SID, SOURCE_READ_ACTIONS, STATEMENT_SID, StatementChange,
    large_copy_statements, plan_policy, read_statement, restore_statements,
};
