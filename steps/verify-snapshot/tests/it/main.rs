//! verify-snapshot's integration tests, one binary, against moto, on tables written by the real
//! `deltalake` writer (the demo's `local/fixtures/delta-table/events`, and `tests/fixtures/`):
//!
//! * [`tables`]: one case per way a table can be whole or broken, through the step's handler;
//! * [`binary`]: the step binary as the state machine's local runs invoke it, and its errorTypes.

mod binary;
mod support;
mod tables;
