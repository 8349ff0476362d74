//! audit-report's integration tests: one binary (the SDK is linked once per crate).

mod corpus;
mod local_batch;
mod memory;
mod moto;
