//! Shared pieces of the benchmarks: generated corpora and store setup.
// A benchmark harness aborts on a failed setup step; that is its error handling.
#![allow(clippy::expect_used)]

pub mod corpus;
pub mod setup;
