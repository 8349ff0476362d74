//! create-bucket against a real moto server: every setting through the read APIs, re-runs,
//! recovery of a half-configured bucket, the lifecycle rule beside others, conflicts, odd names,
//! invalid input, the prune role, the binary.

mod binary;
mod conflict;
mod corpus;
mod create;
mod input;
mod lifecycle;
mod prune;
mod rerun;
mod support;
