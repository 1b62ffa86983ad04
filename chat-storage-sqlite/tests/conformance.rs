//! The shared store conformance suite of chat-core, run against SQLite: every case gets a fresh
//! database in its own temporary directory.

// Test code: a failed setup must fail the test.
#![allow(clippy::panic)]

use std::sync::Arc;

use async_trait::async_trait;
use chat_core::store::conformance::StoreFactory;
use chat_core::store::{ChatStore, StoreError, StoreResult};
use chat_storage_sqlite::{SqliteConfig, SqliteStore};

/// One temporary database; every `open` returns a handle on it.
struct SqliteFactory {
    store: SqliteStore,
}

impl SqliteFactory {
    async fn fresh() -> Self {
        match SqliteStore::open(SqliteConfig::temporary()).await {
            Ok(store) => Self { store },
            Err(err) => panic!("opening a temporary SQLite store failed: {err}"),
        }
    }
}

#[async_trait]
impl StoreFactory for SqliteFactory {
    async fn open(&self) -> StoreResult<Arc<dyn ChatStore>> {
        if self.store.path().is_none() {
            return Err(StoreError::Unavailable("no database file".into()));
        }
        Ok(Arc::new(self.store.clone()))
    }
}

chat_core::store_conformance_tests!(async { SqliteFactory::fresh().await });
