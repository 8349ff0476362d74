#![doc = include_str!("../README.md")]

pub mod aws;
pub mod catalog;
pub mod cli;
pub mod error;
pub mod follow;
pub mod keep;
pub mod listing;
pub mod local;
pub mod plan;
pub mod progress;
pub mod prune;
pub mod render;
pub mod request;

pub use error::CommandError;
