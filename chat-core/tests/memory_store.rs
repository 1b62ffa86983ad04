//! The store conformance suite run against [`MemoryStore`], through the exported macro exactly
//! as another backend crate runs it. Needs the `testing` feature (see `[[test]]` in Cargo.toml):
//! `cargo test -p chat-core --no-default-features --features testing`.

use chat_core::store::MemoryStore;
use chat_core::store::conformance::SameStore;

chat_core::store_conformance_tests!(async { SameStore::new(MemoryStore::new()) });
