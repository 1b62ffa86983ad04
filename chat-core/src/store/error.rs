//! The storage boundary's error.

use std::error::Error as StdError;

/// Error of every storage trait. Backends convert their driver errors into it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The record does not exist (in this tenant).
    #[error("{entity} not found: {id}")]
    NotFound {
        /// Kind of record (`session`, `message`, ...).
        entity: &'static str,
        /// Its id.
        id: String,
    },
    /// The change conflicts with the current state (already assigned, at capacity, closed...).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The input cannot be stored (too long, malformed).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The backend is temporarily unavailable (pool exhausted, connection lost, busy); retryable.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Any other backend failure.
    #[error("store backend error: {0}")]
    Backend(#[source] Box<dyn StdError + Send + Sync>),
}

impl StoreError {
    /// A `NotFound` error.
    pub fn not_found(entity: &'static str, id: impl ToString) -> Self {
        Self::NotFound {
            entity,
            id: id.to_string(),
        }
    }
    /// Wraps a backend error.
    pub fn backend(err: impl StdError + Send + Sync + 'static) -> Self {
        Self::Backend(Box::new(err))
    }
    /// True when retrying the same call may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
    /// True for `NotFound`.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }
}
