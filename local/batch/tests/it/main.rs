//! The local Batch Operations against moto, driven by the real `aws-sdk-s3control` client.

mod copies;
mod failures;
mod lifecycle;
mod requests;
mod support;
