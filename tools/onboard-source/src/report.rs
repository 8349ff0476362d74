//! The report: what onboarding did (or, in a dry run, would do) to one bucket; one JSON line on
//! stdout per bucket.

use std::collections::BTreeMap;

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
    /// The bucket.
    pub bucket: String,
    /// True when nothing was written (`--dry-run`): the changes are what a real run would make.
    pub dry_run: bool,
    /// The inventory configuration (a source bucket only: `--role-arn`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inventory: Option<Change>,
    /// The bucket policy as a whole: `created` (the bucket had none), `added` (our statements
    /// appended), `updated` (one of ours replaced), `unchanged`.
    pub policy: Change,
    /// Each of our statements in the policy, by `Sid`.
    pub statements: BTreeMap<String, Change>,
    /// The inventory configuration that was (or would be) replaced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_inventory: Option<InventorySummary>,
    /// The statements that were (or would be) replaced.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub previous_statements: Vec<Value>,
    /// What to expect next: the first inventory, or the restore target's remaining step.
    pub note: String,
}
