//! Opening, migrations and database locations.

// Test code: a failed expectation must fail the test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chat_core::ids::{TenantId, UserId};
use chat_core::model::{NewSession, SessionKind};
use chat_core::store::{ChatStore, SessionStore};
use chat_storage_sqlite::{SCHEMA_VERSION, SqliteConfig, SqliteError, SqliteStore};
use rusqlite::Connection;

fn tenant() -> TenantId {
    TenantId::new("acme").unwrap()
}

fn customer() -> UserId {
    UserId::new("carla").unwrap()
}

fn table_count(path: &std::path::Path) -> i64 {
    let conn = Connection::open(path).unwrap();
    conn.query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get(0))
        .unwrap()
}

#[tokio::test]
async fn reopening_is_a_no_op_and_keeps_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested").join("chat.db");
    let store = SqliteStore::open(SqliteConfig::new(&path)).await.unwrap();
    assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION);
    let session = store
        .create_session(NewSession::new(tenant(), SessionKind::Support, customer()))
        .await
        .unwrap();
    store.close().await.unwrap();
    drop(store);
    let objects = table_count(&path);

    let store = SqliteStore::open(SqliteConfig::new(&path)).await.unwrap();
    assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION);
    assert_eq!(
        store.get_session(&tenant(), session.id).await.unwrap(),
        session
    );
    store.close().await.unwrap();
    drop(store);
    assert_eq!(
        table_count(&path),
        objects,
        "reopening created or dropped schema objects"
    );

    let conn = Connection::open(&path).unwrap();
    let applied: i64 = conn
        .query_row("SELECT count(*) FROM chat_schema_migrations", [], |row| {
            row.get(0)
        })
        .unwrap();
    assert_eq!(applied, SCHEMA_VERSION, "each migration is recorded once");
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .unwrap();
    assert_eq!(mode.to_lowercase(), "wal");
}

#[tokio::test]
async fn a_newer_schema_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chat.db");
    let store = SqliteStore::open(SqliteConfig::new(&path)).await.unwrap();
    store.close().await.unwrap();
    drop(store);
    Connection::open(&path)
        .unwrap()
        .execute_batch("PRAGMA user_version = 9999")
        .unwrap();

    let err = SqliteStore::open(SqliteConfig::new(&path))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            SqliteError::SchemaTooNew {
                found: 9999,
                supported: SCHEMA_VERSION
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("newer than this code supports"),
        "{err}"
    );
}

#[tokio::test]
async fn a_missing_file_is_not_created_when_told_not_to() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.db");
    let result = SqliteStore::open(SqliteConfig::new(&path).create_if_missing(false)).await;
    assert!(result.is_err());
    assert!(!path.exists());
}

#[tokio::test]
async fn invalid_settings_are_refused() {
    let err = SqliteStore::open(SqliteConfig::temporary().max_write_batch(0))
        .await
        .unwrap_err();
    assert!(matches!(err, SqliteError::Config(_)), "{err}");
    let err = SqliteStore::open(SqliteConfig::in_memory().reader_count(3))
        .await
        .unwrap_err();
    assert!(matches!(err, SqliteError::Config(_)), "{err}");
}

#[tokio::test]
async fn a_temporary_database_is_removed_with_the_store() {
    let store = SqliteStore::open(SqliteConfig::temporary()).await.unwrap();
    let path = store.path().unwrap().to_path_buf();
    assert!(path.exists());
    assert!(store.capabilities().durable);
    store
        .create_session(NewSession::new(tenant(), SessionKind::Support, customer()))
        .await
        .unwrap();
    store.close().await.unwrap();
    drop(store);
    assert!(!path.exists(), "the temporary database outlived its store");
}

#[tokio::test]
async fn calls_after_close_are_unavailable() {
    let store = SqliteStore::open(SqliteConfig::temporary()).await.unwrap();
    store.close().await.unwrap();
    let err = store
        .create_session(NewSession::new(tenant(), SessionKind::Support, customer()))
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err}");
    let err = store
        .get_session(&tenant(), chat_core::ids::SessionId::new())
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "reads after close: {err}");
}

#[tokio::test]
async fn an_in_memory_store_works_without_readers() {
    let store = SqliteStore::open(SqliteConfig::in_memory()).await.unwrap();
    assert!(store.path().is_none());
    let caps = store.capabilities();
    assert!(caps.full_text_search && !caps.multi_node && !caps.durable);
    let session = store
        .create_session(NewSession::new(tenant(), SessionKind::General, customer()))
        .await
        .unwrap();
    assert_eq!(
        store.get_session(&tenant(), session.id).await.unwrap(),
        session
    );
    assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION);
}

#[tokio::test]
async fn a_file_store_declares_its_capabilities() {
    let store = SqliteStore::open(SqliteConfig::temporary()).await.unwrap();
    let caps = store.capabilities();
    assert!(caps.full_text_search);
    assert!(!caps.multi_node);
    assert!(caps.durable);
}
