//! Authentication: the host's [`Authenticator`] turns a request into a [`Principal`]; the
//! engine then decides what that principal may see and do.
//!
//! The adapter finds the token: `Authorization: Bearer <token>` on every endpoint, and also
//! `?token=<token>` on the WebSocket, SSE and Socket.IO endpoints (browsers cannot set headers
//! there). A query token can end up in access logs; keep such tokens short-lived.
//! Two implementations ship: [`JwtAuthenticator`] (HS256 or RS256, expiry and audience checked)
//! and [`DevAuthenticator`] (unsigned tokens, for examples and tests only).

mod dev;
mod jwt;

pub use dev::DevAuthenticator;
pub use jwt::{DEFAULT_LEEWAY_SECS, JwtAuthenticator, JwtClaims, MIN_HS256_SECRET_BYTES};

use std::fmt::Debug;

use async_trait::async_trait;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use chat_core::Principal;

/// Error of an [`Authenticator`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No credentials were sent (401).
    #[error("authentication required: send Authorization: Bearer <token>")]
    MissingCredentials,
    /// The credentials are malformed, expired or not for this service (401).
    #[error("invalid credentials: {0}")]
    InvalidCredentials(String),
    /// The credentials are valid but the caller may not use this service (403).
    #[error("{0}")]
    Forbidden(String),
    /// The identity backend could not be reached (503).
    #[error("authentication is unavailable: {0}")]
    Unavailable(String),
}

/// What an [`Authenticator`] sees of a request.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct AuthRequest<'a> {
    /// The request head (method, URI, headers, extensions).
    pub parts: &'a Parts,
    /// The bearer token the adapter found, following the rules of the endpoint.
    pub token: Option<&'a str>,
}

impl<'a> AuthRequest<'a> {
    /// A request with the token already found.
    pub fn new(parts: &'a Parts, token: Option<&'a str>) -> Self {
        Self { parts, token }
    }
}

/// The host's authentication hook: request parts to [`Principal`].
///
/// Object safe; the adapter holds it as `Arc<dyn Authenticator>`. Implementations that do not
/// use bearer tokens (cookies, mTLS headers set by a proxy) read [`AuthRequest::parts`].
#[async_trait]
pub trait Authenticator: Send + Sync + Debug + 'static {
    /// Authenticates a request.
    ///
    /// Errors: `MissingCredentials` or `InvalidCredentials` (answered 401), `Forbidden` (403),
    /// `Unavailable` (503).
    async fn authenticate(&self, request: AuthRequest<'_>) -> Result<Principal, AuthError>;
}

/// The token of `Authorization: Bearer <token>`, if that header is present.
///
/// Errors: `InvalidCredentials` for another scheme or a header that is not text.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, AuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| {
        AuthError::InvalidCredentials("the Authorization header is not text".into())
    })?;
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::InvalidCredentials(
            "only the Bearer scheme is supported".into(),
        ));
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(AuthError::InvalidCredentials(
            "the bearer token is empty".into(),
        ));
    }
    Ok(Some(token))
}

/// The `token` query parameter, for the streaming endpoints.
pub(crate) fn query_token(parts: &Parts) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct TokenQuery {
        token: Option<String>,
    }
    // Other parameters (after_seq, the Socket.IO ones) are ignored here.
    axum::extract::Query::<TokenQuery>::try_from_uri(&parts.uri)
        .ok()
        .and_then(|q| q.0.token)
        .filter(|t| !t.is_empty())
}
