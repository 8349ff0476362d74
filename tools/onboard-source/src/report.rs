//! The report: what onboarding did (or, in a dry run, would do) to one bucket; one JSON line on
//! stdout per bucket.

use serde::Serialize;
use serde_json::Value;

use crate::inventory::InventorySummary;

/// What happened to one part of the bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Already as wanted; nothing written.
    Unchanged,
    /// Did not exist; created.
    Created,
    /// The statement was appended to an existing policy.
    Added,
    /// Existed with other settings; replaced.
    Updated,
}

/// The outcome for one bucket (one JSON line on stdout).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The source bucket.
    pub bucket: String,
    /// True when nothing was written (`--dry-run`): the changes are what a real run would make.
    pub dry_run: bool,
    /// The inventory configuration.
    pub inventory: Change,
    /// The read grant in the bucket policy.
    pub policy: Change,
    /// The inventory configuration that was (or would be) replaced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_inventory: Option<InventorySummary>,
    /// The statement that was (or would be) replaced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_statement: Option<Value>,
    /// When the first inventory, and so the first possible backup, can be expected.
    pub note: String,
}
