//! Engines over the stores under test.

use std::sync::Arc;

use chat_core::store::{ChatStore, MemoryStore};
use chat_core::{ChatEngine, Principal, Role, TenantId, UserId};
use chat_storage_sqlite::{SqliteConfig, SqliteStore};

/// A store under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The in-memory store (baseline).
    Memory,
    /// SQLite in a temporary directory, WAL, default settings.
    Sqlite,
}

impl Backend {
    /// Display name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::Sqlite => "sqlite",
        }
    }

    /// Opens a fresh store; the directory lives as long as the returned guard.
    pub async fn open(self) -> (Arc<dyn ChatStore>, Option<tempfile::TempDir>) {
        match self {
            Self::Memory => (Arc::new(MemoryStore::new()), None),
            Self::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let store = SqliteStore::open(SqliteConfig::new(dir.path().join("bench.db")))
                    .await
                    .expect("sqlite opens");
                (Arc::new(store), Some(dir))
            }
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
