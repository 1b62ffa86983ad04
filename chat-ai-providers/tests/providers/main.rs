//! Tests of the provider clients against loopback mock servers speaking each vendor's wire
//! format, of the failover chain and of the offline answerer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test support: a failed step fails the test

mod anthropic;
mod conformance;
mod failover;
mod gemini;
mod offline;
mod openai;
mod secrets;
mod server;
mod vendors;
