//! onboard-source's tests: against the local stack's moto (`moto` for source buckets,
//! `large_copy` for the large-copy roles' grants, `restore` for restore targets), and the failure paths no emulator produces on a mocked S3 client
//! (`errors`).

mod errors;
mod large_copy;
mod moto;
mod restore;
