//! The crate's error and its mapping onto [`StoreError`].
//!
//! By SQLSTATE class: deadlocks and serialization failures (after the store's own retries),
//! connection failures, shutdowns, timeouts and an exhausted pool become `Unavailable`
//! (retryable); unique and exclusion violations become `Conflict`; data exceptions (a value
//! too long, a NUL byte, a text too large for the full-text index) become `InvalidInput`.
//! Domain outcomes decided by the store travel as [`PgError::Store`] and come out unchanged.

use chat_core::store::StoreError;
use deadpool_postgres::PoolError;
use tokio_postgres::error::SqlState;

/// Result of this crate's functions.
pub type PgResult<T> = Result<T, PgError>;

/// Error of the PostgreSQL store and bus.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PgError {
    /// A PostgreSQL call failed.
    #[error("postgres: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// No pooled connection could be had (timeout, closed pool, failed connect).
    #[error("postgres pool: {0}")]
    Pool(#[from] PoolError),
    /// A domain outcome decided by the store (not found, conflict, invalid input).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A value could not be encoded or decoded as JSON.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// A stored value does not decode (a database edited by hand, or a bug).
    #[error("stored value does not decode: {0}")]
    Decode(String),
    /// The configuration cannot be used.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The schema was written by a newer version of this crate.
    #[error(
        "schema version {found} is newer than this code supports ({supported}); \
         upgrade chat-storage-postgres or use another schema"
    )]
    SchemaTooNew {
        /// Version found in the database.
        found: i64,
        /// Newest version this code knows.
        supported: i64,
    },
    /// A migration failed; the schema was left at the previous version.
    #[error("migration {version} ({name}) failed: {source}")]
    Migration {
        /// Version of the migration.
        version: i64,
        /// Its name.
        name: &'static str,
        /// What failed.
        #[source]
        source: tokio_postgres::Error,
    },
    /// The `unaccent` extension is missing and could not be created.
    #[error(
        "the unaccent extension is missing and could not be created ({0}); \
         run CREATE EXTENSION unaccent as a privileged user"
    )]
    Unaccent(#[source] tokio_postgres::Error),
    /// The event bus is shut down.
    #[error("the event bus is shut down")]
    BusClosed,
}

impl PgError {
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

    /// True for a deadlock or a serialization failure: the transaction rolled back and running
    /// it again may succeed.
    pub(crate) fn is_transient(&self) -> bool {
        let code = match self {
            Self::Postgres(e) => e.code(),
            Self::Pool(PoolError::Backend(e)) => e.code(),
            _ => None,
        };
        code.is_some_and(|c| {
            *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED
        })
    }
}

/// How an error maps onto the storage boundary.
enum Kind {
    Unavailable,
    Conflict,
    Invalid,
    Other,
}

fn classify(err: &tokio_postgres::Error) -> Kind {
    let Some(code) = err.code() else {
        // No SQLSTATE: the connection broke or closed, or a value failed to convert.
        return if err.is_closed()
            || std::error::Error::source(err).is_some_and(|s| s.is::<std::io::Error>())
        {
            Kind::Unavailable
        } else {
            Kind::Other
        };
    };
    let class = &code.code()[..2];
    match class {
        // Connection exceptions, transaction rollbacks (deadlock, serialization), insufficient
        // resources (too many connections, out of memory), operator intervention (shutdown,
        // statement timeout, cancel).
        "08" | "40" | "53" | "57" => Kind::Unavailable,
        "23" if *code == SqlState::UNIQUE_VIOLATION || *code == SqlState::EXCLUSION_VIOLATION => {
            Kind::Conflict
        }
        // Data exceptions and program limits (a text too large for a tsvector).
        "22" | "54" => Kind::Invalid,
        _ => Kind::Other,
    }
}

impl From<PgError> for StoreError {
    fn from(err: PgError) -> Self {
        let kind = match &err {
            PgError::Store(_) => None,
            PgError::Postgres(e) => Some(classify(e)),
            PgError::Pool(PoolError::Backend(e)) => Some(classify(e)),
            PgError::Pool(_) | PgError::BusClosed => Some(Kind::Unavailable),
            _ => Some(Kind::Other),
        };
        match (kind, err) {
            (None, PgError::Store(inner)) => inner,
            (Some(Kind::Unavailable), err) => StoreError::Unavailable(err.to_string()),
            (Some(Kind::Conflict), err) => StoreError::Conflict(err.to_string()),
            (Some(Kind::Invalid), err) => StoreError::InvalidInput(err.to_string()),
            (_, err) => StoreError::backend(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use deadpool_postgres::TimeoutType;

    #[test]
    fn pool_timeouts_are_retryable_and_domain_errors_pass_through() {
        let err = StoreError::from(PgError::Pool(PoolError::Timeout(TimeoutType::Wait)));
        assert!(err.is_retryable(), "{err}");
        let err = StoreError::from(PgError::Pool(PoolError::Closed));
        assert!(err.is_retryable(), "{err}");
        assert!(StoreError::from(PgError::not_found("session", "x")).is_not_found());
        assert!(matches!(
            StoreError::from(PgError::conflict("taken")),
            StoreError::Conflict(_)
        ));
        assert!(matches!(
            StoreError::from(PgError::Decode("bad".into())),
            StoreError::Backend(_)
        ));
        assert!(!PgError::Decode("bad".into()).is_transient());
    }
}
