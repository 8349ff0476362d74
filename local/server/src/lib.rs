#![doc = include_str!("../README.md")]

pub mod cli;
pub mod demo;
pub mod lambda;
pub mod sfn;
pub mod stack;
