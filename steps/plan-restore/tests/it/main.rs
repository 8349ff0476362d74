//! plan-restore's integration tests, one binary, against moto, on the demo's Delta table
//! (`local/fixtures/delta-table/events`, written by the `deltalake` package): versions 0..9, a
//! checkpoint at 5; the snapshot's day (2021-03-31) dates to version 8.
//!
//! * [`plans`]: which objects each version needs, and the plan written;
//! * [`refusals`]: what is refused, and that nothing is written then;
//! * [`binary`]: the step binary and its errorTypes.

mod binary;
mod plans;
mod refusals;
mod support;
