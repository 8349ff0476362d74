//! notify's integration tests: one binary (the SDK is linked once per crate).

mod corpus;
mod history;
mod moto;
