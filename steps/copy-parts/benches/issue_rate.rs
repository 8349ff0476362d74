//! copy-parts' request issue rate against a local endpoint (filled in below).
fn main() {}
