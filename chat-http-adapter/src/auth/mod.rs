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
use std::time::SystemTime;

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

    /// Authenticates a request that opens a long-lived stream (WebSocket, SSE, Socket.IO) and
    /// says until when its credentials hold. The adapter ends the stream at that time (the
    /// WebSocket with an `unauthorized` error frame and close 1008, SSE with an `error` event),
    /// so a connection never outlives its token; the client reconnects with a fresh one.
    ///
    /// The default calls [`authenticate`](Self::authenticate) and sets no end; token-based
    /// implementations return the token's expiry ([`JwtAuthenticator`] does).
    async fn authenticate_stream(
        &self,
        request: AuthRequest<'_>,
    ) -> Result<Authenticated, AuthError> {
        Ok(Authenticated::new(self.authenticate(request).await?))
    }
}

/// A principal and until when its credentials hold.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Authenticated {
    /// The caller.
    pub principal: Principal,
    /// When the credentials expire (a token's `exp`); `None`: they do not.
    pub expires_at: Option<SystemTime>,
}

impl Authenticated {
    /// Credentials without an expiry.
    pub fn new(principal: Principal) -> Self {
        Self {
            principal,
            expires_at: None,
        }
    }

    /// Sets when the credentials expire.
    pub fn expires_at(mut self, at: SystemTime) -> Self {
        self.expires_at = Some(at);
        self
    }
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
