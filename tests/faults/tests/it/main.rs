//! The fault suite: every step binary against loopback endpoints that hang, throttle, cut or
//! stall their answers, or die mid-run. Each must answer `Transient` within its configured
//! bound, and a re-run once the service is back must give a clean run's result with nothing
//! duplicated. `cargo test -p faults -- --nocapture` prints the matrix with the measured times.

mod batch;
mod matrix;
mod support;

mod audit_report;
mod await_job;
mod configuration;
mod create_bucket;
mod locate_manifest;
mod notify;
mod submit_job;
