//! What every lakevault step shares.
//!
//! * [`entry`]: one binary, two modes (Lambda or a plain stdin→stdout command).
//! * [`error`]: stable errorTypes and the classification of AWS SDK errors.
//! * [`body`]: small S3 objects read whole, under a cap.
//! * [`clients`]: AWS clients built once, honouring endpoint overrides.
//! * [`date`]: the backup day.
//! * [`record`]: the audit record, shared by the steps that write and read it.
//! * [`validate`]: AWS name rules (buckets, accounts, regions, ARNs, job ids), once.

pub mod body;
pub mod clients;
pub mod date;
pub mod entry;
pub mod error;
pub mod policy;
pub mod record;
pub mod validate;

pub use date::Day;
pub use entry::{Step, run};
pub use error::{
    AccessDenied, AwsFailure, InvalidInput, ServiceFailure, StepError, Transient, classify,
};

// Re-exported so steps derive their errorTypes with the same strum the kit documents.
pub use strum;
