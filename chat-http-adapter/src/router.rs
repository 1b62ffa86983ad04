//! [`router`]: every route of API v1 on one axum [`Router`], with the body limits, the HTTP
//! metrics and the JSON 404.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post, put};
use chat_core::ChatEngine;

use crate::config::AdapterConfig;
use crate::error::ApiError;
use crate::rest::documents::MULTIPART_OVERHEAD_BYTES;
use crate::rest::{documents, messages, sessions, support, system};
use crate::state::AppState;
use crate::{sse, ws};

/// The adapter's routes, ready to be merged or nested into the host's router.
///
/// Paths: `/api/v1/...`, `/healthz`, `/metrics` (and `/socket.io/` with the `socketio`
/// feature). The router has its state applied, so the host can `merge` or `nest` it.
pub fn router(engine: ChatEngine, config: AdapterConfig) -> Router {
    let state = AppState::new(engine, config);
    let (router, _) = routes(Arc::clone(&state));
    finish(router, state)
}

fn finish(router: Router<Arc<AppState>>, state: Arc<AppState>) -> Router {
    let json_limit = state.config.max_json_body_bytes;
    let router = router
        .fallback(|| async { ApiError::not_found("no such route") })
        .layer(DefaultBodyLimit::max(json_limit))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            track_http,
        ));
    #[cfg(feature = "socketio")]
    let router = router.layer(crate::socketio::layer(Arc::clone(&state)));
    router.with_state(state)
}

/// Routes, recorded as they are added so that a test can compare them with the OpenAPI
/// document.
struct Routes {
    router: Router<Arc<AppState>>,
    table: Vec<(Method, &'static str)>,
}

impl Routes {
    fn add(
        mut self,
        method: Method,
        path: &'static str,
        handler: MethodRouter<Arc<AppState>>,
    ) -> Self {
        self.table.push((method, path));
        self.router = self.router.route(path, handler);
        self
    }
}

/// Every route of API v1 and the (method, path) table.
pub(crate) fn routes(state: Arc<AppState>) -> (Router<Arc<AppState>>, Vec<(Method, &'static str)>) {
    let upload_limit = usize::try_from(
        state
            .config
            .max_upload_bytes
            .saturating_add(MULTIPART_OVERHEAD_BYTES),
    )
    .unwrap_or(usize::MAX);
    let routes = Routes {
        router: Router::new(),
        table: Vec::new(),
    }
    .add(Method::POST, "/api/v1/sessions", post(sessions::create))
    .add(Method::GET, "/api/v1/sessions", get(sessions::list))
    .add(Method::GET, "/api/v1/sessions/{id}", get(sessions::get))
    .add(
        Method::GET,
        "/api/v1/sessions/{id}/messages",
        get(messages::list),
    )
    .add(
        Method::POST,
        "/api/v1/sessions/{id}/messages",
        post(messages::post),
    )
    .add(
        Method::POST,
        "/api/v1/sessions/{id}/documents",
        post(documents::upload).layer(DefaultBodyLimit::max(upload_limit)),
    )
    .add(
        Method::GET,
        "/api/v1/sessions/{id}/documents",
        get(documents::list),
    )
    .add(
        Method::GET,
        "/api/v1/sessions/{id}/documents/{doc_id}",
        get(documents::get),
    )
    .add(
        Method::POST,
        "/api/v1/sessions/{id}/urls",
        post(documents::submit_url),
    )
    .add(
        Method::POST,
        "/api/v1/sessions/{id}/escalate",
        post(support::escalate),
    )
    .add(
        Method::POST,
        "/api/v1/sessions/{id}/assign",
        post(support::assign),
    )
    .add(
        Method::POST,
        "/api/v1/sessions/{id}/transfer",
        post(support::transfer),
    )
    .add(
        Method::POST,
        "/api/v1/sessions/{id}/notes",
        post(support::add_note),
    )
    .add(
        Method::POST,
        "/api/v1/sessions/{id}/resolve",
        post(support::resolve),
    )
    .add(
        Method::POST,
        "/api/v1/sessions/{id}/handback",
        post(support::hand_back),
    )
    .add(
        Method::PUT,
        "/api/v1/agents/me/availability",
        put(support::set_availability),
    )
    .add(
        Method::GET,
        "/api/v1/sessions/{id}/events",
        get(sse::events),
    )
    .add(Method::GET, "/api/v1/ws", get(ws::upgrade))
    .add(
        Method::GET,
        "/api/v1/openapi.json",
        get(system::openapi_json),
    )
    .add(Method::GET, "/healthz", get(system::healthz))
    .add(Method::GET, "/metrics", get(system::metrics));
    (routes.router, routes.table)
}

/// Counts every response by method, route template and status, inside a tracing span per
/// request (method, route, status, duration; never bodies or tokens).
async fn track_http(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    use tracing::Instrument;
    let started = Instant::now();
    // Known methods only as labels: a client must not be able to mint new label values.
    let method = match *request.method() {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    };
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let span =
        tracing::info_span!("http_request", method, route = %route, status = tracing::field::Empty);
    let response = next
        .run(request)
        .instrument(span.clone())
        .await
        .into_response();
    let status = response.status().as_u16();
    let took = started.elapsed();
    span.record("status", status);
    tracing::debug!(parent: &span, status, elapsed_ms = took.as_millis(), "request done");
    state.metrics().observe_http(method, &route, status, took);
    response
}
