//! copy-parts' integration tests: one binary (the SDK is linked once per crate), against moto,
//! and the error paths no emulator produces on mocked clients. The test support is
//! plan-large-copy's (`steps/plan-large-copy/tests/support`), shared by the three large-copy
//! crates.

#[allow(dead_code)]
#[path = "../../../plan-large-copy/tests/support/mod.rs"]
mod support;

mod copy;
mod corpus;
mod errors;
