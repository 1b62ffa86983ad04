//! The engine's error: what a caller of [`ChatEngine`](super::ChatEngine) gets back. Its
//! [`code`](ChatError::code) is the API v1 error code.

use std::time::Duration;

use crate::bus::BusError;
use crate::store::StoreError;

/// Error of an engine operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChatError {
    /// The record does not exist in the caller's tenant.
    #[error("{0}")]
    NotFound(String),
    /// The caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The caller is not authenticated.
    #[error("{0}")]
    Unauthorized(String),
    /// The input is malformed (empty message, control characters, bad id...).
    #[error("{0}")]
    InvalidInput(String),
    /// The input is over a size limit.
    #[error("{0}")]
    TooLarge(String),
    /// Too many requests.
    #[error("{message}")]
    RateLimited {
        /// What was limited.
        message: String,
        /// When to try again.
        retry_after: Option<Duration>,
    },
    /// The request conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// The file type is not accepted.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A backend is unavailable or failed.
    #[error("{message}")]
    Unavailable {
        /// What failed.
        message: String,
        /// The underlying error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl ChatError {
    /// The API v1 error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not_found",
            Self::Forbidden(_) => "forbidden",
            Self::Unauthorized(_) => "unauthorized",
            Self::InvalidInput(_) => "invalid_input",
            Self::TooLarge(_) => "too_large",
            Self::RateLimited { .. } => "rate_limited",
            Self::Conflict(_) => "conflict",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::Unavailable { .. } => "unavailable",
        }
    }

    /// An `Unavailable` error without a source.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::Unavailable {
            message: message.into(),
            source: None,
        }
    }

    /// True when retrying the same call may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable { .. } | Self::RateLimited { .. })
    }
}

impl From<StoreError> for ChatError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound { entity, id } => {
                Self::NotFound(format!("{entity} not found: {id}"))
            }
            StoreError::Conflict(msg) => Self::Conflict(msg),
            StoreError::InvalidInput(msg) => Self::InvalidInput(msg),
            other => Self::Unavailable {
                message: "storage failed".into(),
                source: Some(Box::new(other)),
            },
        }
    }
}

impl From<BusError> for ChatError {
    fn from(err: BusError) -> Self {
        Self::Unavailable {
            message: "event bus failed".into(),
            source: Some(Box::new(err)),
        }
    }
}
