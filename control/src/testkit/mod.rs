//! The control plane's test kit: what tests, benchmarks and the fuzz
//! targets share, and production never builds (the `testkit` feature).
//!
//! - [`fuzz`]: the fuzz targets' entry points and their fixture router.
//!
//! The dataplane's part (the lab FIB, the poll loop over memory) is
//! `dataplane::testkit`.

pub mod fuzz;
