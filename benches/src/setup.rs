//! Engines over the stores under test.

use std::sync::Arc;

use chat_core::store::{ChatStore, MemoryStore};
use chat_core::{ChatEngine, Principal, Role, TenantId, UserId};
use chat_storage_postgres::{PgConfig, PgStore};
use chat_storage_sqlite::{SqliteConfig, SqliteStore};

/// The variable naming the PostgreSQL server of the Postgres backend.
pub const POSTGRES_URL_VARIABLE: &str = "CHAT_TEST_POSTGRES_URL";

/// Environment variable that overrides the SQLite store's `wal_autocheckpoint_pages`.
pub const WAL_AUTOCHECKPOINT_VARIABLE: &str = "CHAT_BENCH_SQLITE_WAL_AUTOCHECKPOINT";

/// A store under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The in-memory store (baseline).
    Memory,
    /// SQLite in a temporary directory, WAL, default settings (but see
    /// [`WAL_AUTOCHECKPOINT_VARIABLE`]).
    Sqlite,
    /// PostgreSQL at `CHAT_TEST_POSTGRES_URL`, in a fresh schema dropped afterwards, default
    /// settings.
    Postgres,
}

impl Backend {
    /// Display name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }

    /// Memory and SQLite, and Postgres when `CHAT_TEST_POSTGRES_URL` is set (else says so).
    pub fn available() -> Vec<Self> {
        let mut backends = vec![Self::Memory, Self::Sqlite];
        if postgres_url().is_some() {
            backends.push(Self::Postgres);
        } else {
            eprintln!("{POSTGRES_URL_VARIABLE} is not set: the postgres backend is not measured");
        }
        backends
    }

    /// Opens a fresh store; its directory or schema lives as long as the returned guard.
    pub async fn open(self) -> (Arc<dyn ChatStore>, StoreGuard) {
        match self {
            Self::Memory => (Arc::new(MemoryStore::new()), StoreGuard::default()),
            Self::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let mut config = SqliteConfig::new(dir.path().join("bench.db"));
                // Compares checkpoint sizes (benches/README.md); the default otherwise.
                if let Some(pages) = std::env::var(WAL_AUTOCHECKPOINT_VARIABLE)
                    .ok()
                    .and_then(|v| v.parse().ok())
                {
                    config = config.wal_autocheckpoint_pages(pages);
                }
                let store = SqliteStore::open(config).await.expect("sqlite opens");
                let guard = StoreGuard {
                    _dir: Some(dir),
                    _schema: None,
                };
                (Arc::new(store), guard)
            }
            Self::Postgres => {
                let schema = PgSchema::fresh();
                let store = schema.store().await;
                let guard = StoreGuard {
                    _dir: None,
                    _schema: Some(schema),
                };
                (Arc::new(store), guard)
            }
        }
    }
}

/// Keeps a store's temporary directory or schema until dropped.
#[derive(Debug, Default)]
pub struct StoreGuard {
    _dir: Option<tempfile::TempDir>,
    _schema: Option<PgSchema>,
}

/// The PostgreSQL server URL, if `CHAT_TEST_POSTGRES_URL` is set.
pub fn postgres_url() -> Option<String> {
    std::env::var(POSTGRES_URL_VARIABLE)
        .ok()
        .filter(|url| !url.trim().is_empty())
}

/// A fresh schema on the PostgreSQL server, dropped with everything in it when this is dropped.
#[derive(Debug)]
pub struct PgSchema {
    config: PgConfig,
}

impl PgSchema {
    /// A new uniquely named schema (created by the first store that connects).
    ///
    /// Panics when `CHAT_TEST_POSTGRES_URL` is unset or not a postgres:// URL.
    pub fn fresh() -> Self {
        let url = postgres_url().expect("CHAT_TEST_POSTGRES_URL is set");
        let name = format!(
            "chat_bench_{}",
            chat_core::ids::SessionId::new().as_uuid().simple()
        );
        let config = url
            .parse::<PgConfig>()
            .expect("CHAT_TEST_POSTGRES_URL is a postgres:// URL")
            .schema(name);
        Self { config }
    }

    /// A store (one node, default pool) on this schema.
    pub async fn store(&self) -> PgStore {
        PgStore::connect(self.config.clone())
            .await
            .expect("the PostgreSQL server at CHAT_TEST_POSTGRES_URL is reachable")
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        if let Err(e) = PgStore::drop_schema_blocking(&self.config) {
            eprintln!("could not drop bench schema {}: {e}", self.config.schema);
        }
    }
}

/// An engine without AI over the store.
pub fn engine(store: Arc<dyn ChatStore>) -> ChatEngine {
    ChatEngine::builder()
        .store(store)
        .build()
        .expect("engine builds")
}

/// A principal of tenant `bench`.
pub fn principal(user: &str, role: Role) -> Principal {
    Principal::new(
        TenantId::new("bench").expect("valid"),
        UserId::new(user).expect("valid"),
        role,
    )
}
