//! The provider boundary's error. HTTP status and body are kept as fields.

use std::time::Duration;

/// Which timeout fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeoutPhase {
    /// Establishing the connection.
    Connect,
    /// Waiting for the response headers or the first token.
    FirstByte,
    /// Waiting between two chunks of the stream.
    BetweenChunks,
    /// The whole call.
    Total,
}

/// Error of an AI provider.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// 401/403: bad or missing credentials. Not retried, no failover of the same key.
    #[error("provider refused the credentials (HTTP {status})")]
    Auth {
        /// HTTP status.
        status: u16,
        /// Response body.
        body: String,
    },
    /// 404: the model (or deployment) does not exist.
    #[error("model not found (HTTP {status})")]
    ModelNotFound {
        /// HTTP status.
        status: u16,
        /// Response body.
        body: String,
    },
    /// 400/422: the request is malformed. Not retried.
    #[error("provider rejected the request (HTTP {status})")]
    InvalidRequest {
        /// HTTP status.
        status: u16,
        /// Response body.
        body: String,
    },
    /// The prompt does not fit the model's context window. Not retried.
    #[error("prompt exceeds the model's context window (HTTP {status})")]
    ContextLengthExceeded {
        /// HTTP status.
        status: u16,
        /// Response body.
        body: String,
    },
    /// 429: rate limited; honour `retry_after`.
    #[error("provider rate limit (HTTP {status})")]
    RateLimited {
        /// HTTP status.
        status: u16,
        /// Response body.
        body: String,
        /// Server-requested wait.
        retry_after: Option<Duration>,
    },
    /// 5xx or an error event of the stream that the vendor marks as overload or server error.
    #[error("provider server error (HTTP {status})")]
    Server {
        /// HTTP status (0 when it came as a stream error event).
        status: u16,
        /// Response body or event data.
        body: String,
    },
    /// A timeout fired.
    #[error("provider timed out ({phase:?})")]
    Timeout {
        /// Which one.
        phase: TimeoutPhase,
    },
    /// The connection could not be made.
    #[error("cannot reach provider: {0}")]
    Connection(String),
    /// The stream was cut before its end marker.
    #[error("provider stream interrupted: {0}")]
    Interrupted(String),
    /// The provider sent something that is not its documented wire format.
    #[error("provider protocol error: {0}")]
    Protocol(String),
    /// The provider is not used now (circuit open, no provider configured).
    #[error("provider unavailable: {0}")]
    Unavailable(String),
    /// Any other failure.
    #[error("provider error: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ProviderError {
    /// True when the same call may succeed later (rate limits, server errors, timeouts,
    /// connection failures, cut streams).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. }
                | Self::Server { .. }
                | Self::Timeout { .. }
                | Self::Connection(_)
                | Self::Interrupted(_)
                | Self::Unavailable(_)
        )
    }

    /// True when another provider may succeed where this one failed (everything but a request
    /// that no provider would accept: an invalid request or a prompt that is too long).
    pub fn allows_failover(&self) -> bool {
        !matches!(
            self,
            Self::InvalidRequest { .. } | Self::ContextLengthExceeded { .. }
        )
    }

    /// HTTP status, when the error came from a response.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Auth { status, .. }
            | Self::ModelNotFound { status, .. }
            | Self::InvalidRequest { status, .. }
            | Self::ContextLengthExceeded { status, .. }
            | Self::RateLimited { status, .. }
            | Self::Server { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The wait the server asked for (429 `Retry-After`), if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Response body or error-event data of the failure, when it came from the provider.
    pub fn body(&self) -> Option<&str> {
        match self {
            Self::Auth { body, .. }
            | Self::ModelNotFound { body, .. }
            | Self::InvalidRequest { body, .. }
            | Self::ContextLengthExceeded { body, .. }
            | Self::RateLimited { body, .. }
            | Self::Server { body, .. } => Some(body),
            _ => None,
        }
    }

    /// Short stable name of the kind, for usage records and metrics.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Self::Auth { .. } => "auth",
            Self::ModelNotFound { .. } => "model_not_found",
            Self::InvalidRequest { .. } => "invalid_request",
            Self::ContextLengthExceeded { .. } => "context_length",
            Self::RateLimited { .. } => "rate_limited",
            Self::Server { .. } => "server",
            Self::Timeout { .. } => "timeout",
            Self::Connection(_) => "connection",
            Self::Interrupted(_) => "interrupted",
            Self::Protocol(_) => "protocol",
            Self::Unavailable(_) => "unavailable",
            Self::Backend(_) => "backend",
        }
    }
}
