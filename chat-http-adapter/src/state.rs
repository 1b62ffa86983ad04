//! The router's shared state and the extractors every handler uses: the authenticated caller
//! and JSON, path and query values whose rejections are API v1 errors.

use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use chat_core::{ChatEngine, Principal};
use serde::de::DeserializeOwned;

use crate::auth::{self, AuthRequest, Authenticated};
use crate::config::AdapterConfig;
use crate::error::ApiError;
use crate::limit::KeyedLimiter;
use crate::metrics::Metrics;
use crate::shutdown::Shutdown;

/// Everything the handlers share.
#[derive(Debug)]
pub(crate) struct AppState {
    pub(crate) engine: ChatEngine,
    pub(crate) config: AdapterConfig,
    pub(crate) rest_limiter: KeyedLimiter,
}

impl AppState {
    pub(crate) fn new(engine: ChatEngine, config: AdapterConfig) -> Arc<Self> {
        let rest_limiter =
            KeyedLimiter::new(config.rest_rate_limit, config.rest_rate_limit_max_keys);
        Arc::new(Self {
            engine,
            config,
            rest_limiter,
        })
    }

    pub(crate) fn metrics(&self) -> &Metrics {
        &self.config.metrics
    }

    pub(crate) fn shutdown(&self) -> &Shutdown {
        &self.config.shutdown
    }

    /// Authenticates a REST request (the Bearer header only).
    pub(crate) async fn authenticate(&self, parts: &Parts) -> Result<Principal, ApiError> {
        let token = auth::bearer_token(&parts.headers)?;
        Ok(self
            .config
            .authenticator
            .authenticate(AuthRequest::new(parts, token))
            .await?)
    }

    /// Authenticates the request that opens a stream (the Bearer header, else `?token=`):
    /// the principal and its expiry.
    pub(crate) async fn authenticate_stream(
        &self,
        parts: &Parts,
    ) -> Result<Authenticated, ApiError> {
        let header = auth::bearer_token(&parts.headers)?;
        let query = match header {
            Some(_) => None,
            None => auth::query_token(parts),
        };
        let token = header.or(query.as_deref());
        Ok(self
            .config
            .authenticator
            .authenticate_stream(AuthRequest::new(parts, token))
            .await?)
    }

    /// Applies the per-principal REST rate limit.
    pub(crate) fn check_rate(&self, principal: &Principal) -> Result<(), ApiError> {
        self.rest_limiter
            .take(&principal.tenant_id, &principal.user_id)
            .map_err(|wait| ApiError::rate_limited("too many requests; slow down", Some(wait)))
    }
}

/// The authenticated caller of a REST endpoint (Bearer header only), rate limited.
#[derive(Debug, Clone)]
pub(crate) struct Caller(pub(crate) Principal);

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let principal = state.authenticate(parts).await?;
        state.check_rate(&principal)?;
        Ok(Self(principal))
    }
}

/// The authenticated caller of a streaming endpoint (Bearer header or `?token=`), with the
/// time its credentials expire (the stream ends then).
#[derive(Debug, Clone)]
pub(crate) struct StreamCaller(pub(crate) Principal, pub(crate) Option<SystemTime>);

impl FromRequestParts<Arc<AppState>> for StreamCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let authenticated = state.authenticate_stream(parts).await?;
        state.check_rate(&authenticated.principal)?;
        Ok(Self(authenticated.principal, authenticated.expires_at))
    }
}

/// What a stream says when it ends because the caller's token expired.
pub(crate) const TOKEN_EXPIRED: &str =
    "the token expired; reconnect with a new one (and join with the last seq you received)";

/// How long until `expires_at` (zero when it passed); `None` without an expiry.
pub(crate) fn time_left(expires_at: Option<SystemTime>) -> Option<std::time::Duration> {
    expires_at.map(|at| {
        at.duration_since(SystemTime::now())
            .unwrap_or(std::time::Duration::ZERO)
    })
}

/// A JSON body; rejections become 415/413/422 API errors.
#[derive(Debug, Clone)]
pub(crate) struct ApiJson<T>(pub(crate) T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Json(value) = axum::Json::<T>::from_request(req, state).await?;
        Ok(Self(value))
    }
}

/// Path parameters; a malformed id is a 422.
#[derive(Debug, Clone)]
pub(crate) struct ApiPath<T>(pub(crate) T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(value) = Path::<T>::from_request_parts(parts, state).await?;
        Ok(Self(value))
    }
}

/// Query parameters; a malformed one is a 422.
#[derive(Debug, Clone)]
pub(crate) struct ApiQuery<T>(pub(crate) T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(value) = Query::<T>::from_request_parts(parts, state).await?;
        Ok(Self(value))
    }
}

/// A JSON body that may be left out entirely (an empty body is `T::default()`). A non-empty
/// body must be JSON; rejections as for [`ApiJson`].
#[derive(Debug, Clone)]
pub(crate) struct OptionalJson<T>(pub(crate) T);

impl<T, S> FromRequest<S> for OptionalJson<T>
where
    T: DeserializeOwned + Default,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                let mime = v.split(';').next().unwrap_or("").trim();
                mime == "application/json" || mime.ends_with("+json")
            });
        let bytes = bytes::Bytes::from_request(req, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::too_large("the request body is too large")
                } else {
                    ApiError::invalid_input(rejection.body_text())
                }
            })?;
        if bytes.is_empty() {
            return Ok(Self(T::default()));
        }
        if !is_json {
            return Err(ApiError::unsupported_media_type(
                "expected Content-Type: application/json",
            ));
        }
        serde_json::from_slice(&bytes)
            .map(Self)
            .map_err(|err| ApiError::invalid_input(format!("invalid JSON body: {err}")))
    }
}
