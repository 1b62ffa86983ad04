//! Test doubles and shared conformance helpers for implementations of the traits.

pub mod mock_provider;
pub use mock_provider::{MockProvider, MockReply, MockStep};
