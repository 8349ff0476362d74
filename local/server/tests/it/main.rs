//! The local stack's pieces, each against the real AWS SDK client that uses it.

mod lambda_endpoint;
mod sfn;
