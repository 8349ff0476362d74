//! onboard-source: prepares an existing source bucket for lakevault, idempotently.
//!
//! Run in the **source** account (the data account, A) once per source bucket, after the backup
//! stack is deployed in the backup account (B). It makes two changes, each only if needed:
//!
//! 1. a daily **CSV** S3 Inventory configuration (id `daily` by default, current versions) that
//!    delivers into B's inventory bucket — CSV because it is the only inventory format S3 Batch
//!    Operations accepts as a manifest;
//! 2. a statement with the stable `Sid` [`STATEMENT_SID`], **merged** into the bucket's policy,
//!    that lets B's S3 Batch Operations role read objects. Every other statement is kept as it is.
//!
//! Everything is read and planned before anything is written, so a policy it cannot understand
//! stops the run with nothing changed. What already matches is not written again: a re-run
//! sends three reads and no write. Each write is read back and checked.
//!
//! It never deletes an inventory configuration or a policy (and must not: moto's
//! `DeleteBucketInventoryConfiguration` deletes the bucket).
//!
//! One concern per module: `request` (the flags, checked), `statement` (the read grant and its
//! merge into a policy), `inventory` (the configuration and its comparable summary), `run` (read,
//! plan, write, read back), `report` (one JSON line per bucket), `error` (the errorTypes).

mod error;
mod inventory;
mod report;
mod request;
mod run;
mod statement;

pub use error::OnboardError;
pub use inventory::{INVENTORY_FIELDS, InventorySummary, desired_inventory};
pub use report::{Change, Report};
pub use request::{DEFAULT_CONFIGURATION_ID, DEFAULT_PREFIX, InventoryTarget, Request, RoleArn};
pub use run::Onboarder;
pub use statement::{
    POLICY_MAX_BYTES, PolicyPlan, PolicyProblem, SOURCE_READ_ACTIONS, STATEMENT_SID, plan_policy,
    read_statement,
};
