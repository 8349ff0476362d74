#![doc = include_str!("../README.md")]

pub mod cli;
pub mod demo;
pub mod drill;
pub mod lambda;
pub mod restore_demo;
pub mod sfn;
pub mod sfn_api;
pub mod stack;
pub mod up;
