//! complete-large-copy's integration tests: one binary (the SDK is linked once per crate),
//! against moto — the whole large copy, plan to completion — and the checks no emulator can
//! fail on mocked clients. The test support is plan-large-copy's
//! (`steps/plan-large-copy/tests/support`), shared by the three large-copy crates.

#[allow(dead_code)]
#[path = "../../../plan-large-copy/tests/support/mod.rs"]
mod support;

mod complete;
mod corpus;
mod errors;
