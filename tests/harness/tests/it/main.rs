//! The harness itself: moto per test, accounts, request counting.

mod moto;
