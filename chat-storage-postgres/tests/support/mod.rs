//! What the PostgreSQL tests share: the server from `CHAT_TEST_POSTGRES_URL` (skipped loudly
//! when unset, a failure when `CI` is set), and a fresh schema per test, dropped afterwards.

// Test code: a failed expectation must fail the test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    dead_code,
    unreachable_pub
)]

use std::sync::Arc;

use async_trait::async_trait;
use chat_core::store::conformance::StoreFactory;
use chat_core::store::{ChatStore, StoreError, StoreResult};
use chat_storage_postgres::{PgConfig, PgStore};

/// The variable naming the test server.
pub const URL_VARIABLE: &str = "CHAT_TEST_POSTGRES_URL";

/// Connections per store in tests (several stores run at once against one server).
pub const TEST_POOL_SIZE: usize = 8;

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// The server URL, or `None` (after saying so on stderr) when the variable is unset outside CI.
///
/// Panics when the variable is unset and `CI` is set: CI must never skip these tests.
pub fn postgres_url() -> Option<String> {
    match std::env::var(URL_VARIABLE) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if in_ci() => panic!(
            "{URL_VARIABLE} is not set but CI is: the PostgreSQL tests must run in CI \
             (set it to e.g. postgres://postgres@127.0.0.1:5432/test)"
        ),
        _ => {
            eprintln!(
                "SKIPPED: {URL_VARIABLE} is not set, so this PostgreSQL test did not run \
                 (set it to e.g. postgres://postgres@127.0.0.1:5432/test)"
            );
            None
        }
    }
}

/// A fresh schema on the test server; dropped (with everything in it) when this is dropped.
#[derive(Debug)]
pub struct TestSchema {
    pub url: String,
    pub name: String,
}

impl TestSchema {
    /// A new, unique schema name (created by the first store that connects).
    pub fn new(url: String) -> Self {
        let name = format!("chat_test_{}", uuid::Uuid::now_v7().simple());
        Self { url, name }
    }

    /// The store configuration of this schema.
    pub fn config(&self) -> PgConfig {
        self.url
            .parse::<PgConfig>()
            .expect("CHAT_TEST_POSTGRES_URL is a postgres:// URL")
            .schema(self.name.clone())
            .pool_size(TEST_POOL_SIZE)
    }

    /// A store (one node) on this schema.
    pub async fn store(&self) -> PgStore {
        PgStore::connect(self.config())
            .await
            .unwrap_or_else(|e| panic!("cannot reach the PostgreSQL test server: {e}"))
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        if let Err(e) = PgStore::drop_schema_blocking(&self.config()) {
            eprintln!("could not drop test schema {}: {e}", self.name);
        }
    }
}

/// The conformance factory: the first `open` creates the schema (migrations), later ones are
/// further nodes (another pool) on it.
pub struct PgFactory {
    schema: TestSchema,
}

impl PgFactory {
    /// A factory on a fresh schema, or `None` when the tests are skipped.
    pub fn fresh() -> Option<Self> {
        postgres_url().map(|url| Self {
            schema: TestSchema::new(url),
        })
    }
}

#[async_trait]
impl StoreFactory for PgFactory {
    async fn open(&self) -> StoreResult<Arc<dyn ChatStore>> {
        let store = PgStore::connect(self.schema.config())
            .await
            .map_err(StoreError::from)?;
        Ok(Arc::new(store))
    }
}
