//! The crate's error and its mapping onto [`StoreError`].
//!
//! SQLite's busy and locked results become `Unavailable` (retryable), constraint violations
//! become `Conflict`; domain outcomes decided by the store (not found, conflicts found by
//! reading) travel as [`SqliteError::Store`] and come out unchanged.

use std::sync::Arc;

use chat_core::store::StoreError;
use rusqlite::ErrorCode;

/// Result of this crate's internal and opening functions.
pub type SqliteResult<T> = Result<T, SqliteError>;

/// Error of the SQLite store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SqliteError {
    /// A SQLite call failed.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The transaction a write belonged to failed as a whole (commit or begin failed, or SQLite
    /// rolled the transaction back after another write of the same group failed).
    #[error("write transaction failed: {0}")]
    Transaction(#[source] Arc<rusqlite::Error>),
    /// A domain outcome decided by the store (not found, conflict, invalid input).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The database was written by a newer version of this crate.
    #[error(
        "database schema version {found} is newer than this code supports ({supported}); \
         upgrade chat-storage-sqlite or open another database"
    )]
    SchemaTooNew {
        /// Version found in the database.
        found: i64,
        /// Newest version this code knows.
        supported: i64,
    },
    /// A migration failed; the database was left at the previous version.
    #[error("migration {version} ({name}) failed: {source}")]
    Migration {
        /// Version of the migration.
        version: i64,
        /// Its name.
        name: &'static str,
        /// What failed.
        #[source]
        source: rusqlite::Error,
    },
    /// A stored value could not be encoded or decoded as JSON.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// Creating the database directory or temp dir failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// The configuration cannot be used.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The writer thread is gone (the store was closed) or a job of it panicked.
    #[error("sqlite writer unavailable: {0}")]
    WriterGone(&'static str),
    /// A blocking read task failed to complete.
    #[error("sqlite reader task failed: {0}")]
    ReaderTask(String),
}

impl SqliteError {
    /// Shorthand for a `NotFound` domain outcome.
    pub(crate) fn not_found(entity: &'static str, id: impl ToString) -> Self {
        Self::Store(StoreError::not_found(entity, id))
    }
    /// Shorthand for a `Conflict` domain outcome.
    pub(crate) fn conflict(message: impl Into<String>) -> Self {
        Self::Store(StoreError::Conflict(message.into()))
    }
    /// Shorthand for an `InvalidInput` domain outcome.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::Store(StoreError::InvalidInput(message.into()))
    }
}

/// How a SQLite error maps onto the storage boundary.
enum Kind {
    Unavailable,
    Conflict,
    Other,
}

fn classify(err: &rusqlite::Error) -> Kind {
    match err.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => Kind::Unavailable,
        Some(ErrorCode::ConstraintViolation) => Kind::Conflict,
        _ => Kind::Other,
    }
}

impl From<SqliteError> for StoreError {
    fn from(err: SqliteError) -> Self {
        let kind = match &err {
            SqliteError::Store(_) => None,
            SqliteError::Sqlite(e) => Some(classify(e)),
            SqliteError::Transaction(e) => Some(classify(e)),
            SqliteError::WriterGone(_) | SqliteError::ReaderTask(_) => Some(Kind::Unavailable),
            _ => Some(Kind::Other),
        };
        match (kind, err) {
            (None, SqliteError::Store(inner)) => inner,
            (Some(Kind::Unavailable), err) => StoreError::Unavailable(err.to_string()),
            (Some(Kind::Conflict), err) => StoreError::Conflict(err.to_string()),
            (_, err) => StoreError::backend(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite_failure(code: i32) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), Some("detail".into()))
    }

    #[test]
    fn busy_and_locked_are_retryable() {
        for code in [rusqlite::ffi::SQLITE_BUSY, rusqlite::ffi::SQLITE_LOCKED] {
            let err = StoreError::from(SqliteError::from(sqlite_failure(code)));
            assert!(err.is_retryable(), "{err}");
        }
        let err = StoreError::from(SqliteError::Transaction(Arc::new(sqlite_failure(
            rusqlite::ffi::SQLITE_BUSY,
        ))));
        assert!(err.is_retryable());
    }

    #[test]
    fn constraint_is_conflict_and_domain_errors_pass_through() {
        let err = StoreError::from(SqliteError::from(sqlite_failure(
            rusqlite::ffi::SQLITE_CONSTRAINT,
        )));
        assert!(matches!(err, StoreError::Conflict(_)), "{err}");
        let err = StoreError::from(SqliteError::not_found("session", "x"));
        assert!(err.is_not_found());
        let err = StoreError::from(SqliteError::from(sqlite_failure(
            rusqlite::ffi::SQLITE_CORRUPT,
        )));
        assert!(matches!(err, StoreError::Backend(_)), "{err}");
    }
}
