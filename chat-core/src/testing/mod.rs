//! Test doubles and shared conformance helpers for implementations of the traits.
