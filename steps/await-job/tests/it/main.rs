//! await-job's integration tests: one binary (the SDK is linked once per crate).

mod await_job;
mod corpus;
