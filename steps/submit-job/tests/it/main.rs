//! submit-job's integration tests: one binary (the SDK is linked once per crate).

mod corpus;
mod restore;
mod submit_job;
