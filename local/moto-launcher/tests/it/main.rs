//! The launcher against the project venv's moto (`make venv` creates it).

mod start;
