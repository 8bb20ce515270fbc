//! The test kit: what the tests and benchmarks of the workspace share, and
//! production never builds (the `testkit` feature; the crate's own unit
//! tests get it too).
//!
//! - [`lab`]: the README's lab as a FIB, and frames of its client;
//! - [`mem`]: the poll loop's [`Io`](crate::poll::Io) over memory.

pub mod lab;
pub mod mem;
