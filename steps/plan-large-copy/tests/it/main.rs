//! plan-large-copy's integration tests: one binary (the SDK is linked once per crate), against
//! moto.

#[allow(dead_code)]
#[path = "../support/mod.rs"]
mod support;

mod corpus;
mod plan;
