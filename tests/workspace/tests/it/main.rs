//! Workspace-level tests, one binary: what no single crate can check.
//!
//! * [`schemas`]: the committed JSON Schemas are the step types'; every step is registered.
//! * [`statemachine`]: `statemachine/backup.asl.json` routes exactly the errorTypes the steps emit.
//! * [`infra`]: the deployment templates lint clean and agree with the definition and the code.
//! * [`lambda_mode`]: the step binaries as the Lambda zips run them.
//! * [`e2e`]: the real state machine, end to end, on moto and the local stack.
//! * [`restore`]: the restore drill — a lost table restored at two versions by `lakevault restore`.
//! * [`docs`]: the READMEs' diagram, errorType tables and links are true.

mod docs;
mod e2e;
mod infra;
mod lambda_mode;
mod restore;
mod schemas;
mod statemachine;
mod support;
