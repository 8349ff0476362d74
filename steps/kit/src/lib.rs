#![doc = include_str!("../README.md")]

pub mod body;
pub mod catalog;
pub mod catalog_read;
pub mod clients;
pub mod date;
pub mod entry;
pub mod error;
pub mod event;
pub mod policy;
pub mod record;
pub mod restore;
pub mod retention;
pub mod unix_time;
pub mod validate;
pub mod verification;

pub use date::Day;
pub use entry::{Step, run};
pub use error::{
    AccessDenied, AwsFailure, InvalidInput, ServiceFailure, StepError, Transient, classify,
};

// Re-exported so steps derive their errorTypes with the same strum the kit documents.
pub use strum;
