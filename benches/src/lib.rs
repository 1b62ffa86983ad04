//! Benchmarks of the chat engine.
