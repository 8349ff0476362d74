//! verify-restore's integration tests, one binary, against moto: the demo's Delta table (written
//! by the `deltalake` package) planned by plan-restore, copied object by object as the Batch
//! Operations job would, then checked — whole, and with each way a copy can be wrong.

mod restored;
