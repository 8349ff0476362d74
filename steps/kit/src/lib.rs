//! What every lakevault step shares.
//!
//! * [`entry`]: one binary, two modes (Lambda or a plain stdin→stdout command).
//! * [`error`]: stable errorTypes and the classification of AWS SDK errors.
//! * [`clients`]: AWS clients built once, honouring endpoint overrides.
//! * [`date`]: the backup day.

pub mod clients;
pub mod date;
pub mod entry;
pub mod error;
pub mod policy;

pub use date::Day;
pub use entry::{Step, run};
pub use error::{
    AccessDenied, AwsFailure, InvalidInput, ServiceFailure, StepError, Transient, classify,
};

// Re-exported so steps derive their errorTypes with the same strum the kit documents.
pub use strum;
