//! The API v1 error: `{"error": {"code", "message"}}` with the matching HTTP status, and the
//! mapping from the engine's [`ChatError`] and from axum's extractor rejections.

use std::time::Duration;

use axum::Json;
use axum::extract::multipart::MultipartError;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chat_core::ChatError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::AuthError;

/// An API error: a status, a stable code and a human-readable message.
///
/// | code | status |
/// |---|---|
/// | `not_found` | 404 |
/// | `forbidden` | 403 |
/// | `unauthorized` | 401 |
/// | `invalid_input` | 422 (malformed JSON, missing fields and bad ids too) |
/// | `too_large` | 413 |
/// | `rate_limited` | 429, with `Retry-After` in seconds |
/// | `conflict` | 409 |
/// | `unsupported_media_type` | 415 |
/// | `unavailable` | 503 |
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<Duration>,
}

/// The JSON body of an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// Code and message of an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code (`not_found`, `forbidden`, `unauthorized`,
    /// `invalid_input`, `too_large`, `rate_limited`, `conflict`, `unsupported_media_type`,
    /// `unavailable`).
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    /// 403 `forbidden`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
    /// 401 `unauthorized`.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }
    /// 422 `invalid_input`.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", message)
    }
    /// 413 `too_large`.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", message)
    }
    /// 429 `rate_limited`, telling the client when to retry.
    pub fn rate_limited(message: impl Into<String>, retry_after: Option<Duration>) -> Self {
        let mut err = Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message);
        err.retry_after = retry_after;
        err
    }
    /// 409 `conflict`.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }
    /// 415 `unsupported_media_type`.
    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            message,
        )
    }
    /// 503 `unavailable`.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
    /// The API v1 code.
    pub fn code(&self) -> &'static str {
        self.code
    }
    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
    /// When a rate-limited client may retry.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// The JSON body.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message.clone(),
            },
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body())).into_response();
        if let Some(after) = self.retry_after {
            // Whole seconds, rounded up, at least 1: Retry-After has no fractions.
            let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
            if let Ok(value) = HeaderValue::from_str(&secs.max(1).to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}

impl From<ChatError> for ApiError {
    fn from(err: ChatError) -> Self {
        match err {
            ChatError::NotFound(m) => Self::not_found(m),
            ChatError::Forbidden(m) => Self::forbidden(m),
            ChatError::Unauthorized(m) => Self::unauthorized(m),
            ChatError::InvalidInput(m) => Self::invalid_input(m),
            ChatError::TooLarge(m) => Self::too_large(m),
            ChatError::RateLimited {
                message,
                retry_after,
            } => Self::rate_limited(message, retry_after),
            ChatError::Conflict(m) => Self::conflict(m),
            ChatError::UnsupportedMediaType(m) => Self::unsupported_media_type(m),
            ChatError::Unavailable { message, source } => {
                // The source may hold backend details; log it, send only the summary.
                match source {
                    Some(source) => tracing::warn!(error = %source, "{message}"),
                    None => tracing::warn!("{message}"),
                }
                Self::unavailable(message)
            }
            // ChatError is non-exhaustive: anything new is a server-side failure until mapped.
            other => Self::unavailable(other.to_string()),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        match err {
            AuthError::Forbidden(m) => Self::forbidden(m),
            AuthError::Unavailable(m) => Self::unavailable(m),
            other => Self::unauthorized(other.to_string()),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::MissingJsonContentType(_) => {
                Self::unsupported_media_type("expected Content-Type: application/json")
            }
            JsonRejection::BytesRejection(_)
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE =>
            {
                Self::too_large("the request body is too large")
            }
            other => Self::invalid_input(other.body_text()),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        Self::invalid_input(rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::invalid_input(rejection.body_text())
    }
}

impl From<MultipartError> for ApiError {
    fn from(err: MultipartError) -> Self {
        if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Self::too_large("the upload is too large")
        } else {
            Self::invalid_input(format!("malformed multipart body: {}", err.body_text()))
        }
    }
}
