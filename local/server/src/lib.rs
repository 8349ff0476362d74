//! The local stack of lakevault: what emulates the AWS parts no existing emulator has, in one
//! server — the Lambda Invoke endpoint for the six steps ([`lambda`]) and the local S3 Batch
//! Operations (`local-batch`) — plus the `demo` that runs the whole backup on one machine.

pub mod demo;
pub mod lambda;
pub mod sfn;
pub mod stack;
