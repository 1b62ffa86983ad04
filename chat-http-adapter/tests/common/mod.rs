//! Helpers shared by the adapter's integration tests: an engine over the in-memory store, the
//! router with development authentication, one-shot requests, and a loopback server.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use std::time::Duration;

use chat_core::bus::{EventBus, InProcessBus};
use chat_core::ingest::documents::{FsBlobStore, IngestConfig};
use chat_core::ingest::web::{LoopbackOnlyGate, UrlIngestor, WebConfig, WebFetcher};
use chat_core::store::{ChatStore, MemoryStore};
use chat_core::{ChatEngine, Role, TenantId, UserId};
use chat_http_adapter::{
    AdapterConfig, Authenticator, DevAuthenticator, Metrics, RateLimit, Shutdown, router,
};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

pub const TENANT: &str = "acme";

/// An engine, the router over it, and its handles.
pub struct TestApp {
    pub engine: ChatEngine,
    pub router: Router,
    pub metrics: Metrics,
    pub shutdown: Shutdown,
    _blobs: tempfile::TempDir,
}

/// The app with the default settings, except a REST rate limit high enough for any test
/// that is not about it.
pub fn app() -> TestApp {
    app_with(|config| config)
}

/// A rate high enough never to be reached by a test.
pub fn unlimited() -> RateLimit {
    RateLimit::new(100_000, 100_000)
}

/// The app with adjusted settings.
pub fn app_with(adjust: impl FnOnce(AdapterConfig) -> AdapterConfig) -> TestApp {
    let auth = Arc::new(DevAuthenticator::new(TenantId::new(TENANT).unwrap()));
    app_with_auth(auth, adjust)
}

/// The app with another authenticator and adjusted settings.
pub fn app_with_auth(
    auth: Arc<dyn Authenticator>,
    adjust: impl FnOnce(AdapterConfig) -> AdapterConfig,
) -> TestApp {
    let blobs = tempfile::tempdir().unwrap();
    let store: Arc<dyn ChatStore> = Arc::new(MemoryStore::new());
    let bus: Arc<dyn EventBus> = Arc::new(InProcessBus::default());
    // URL fetches may reach the tests' loopback servers, and nothing else: the policy allows
    // loopback and the socket gate refuses every other address.
    let web = WebConfig::default()
        .allow_loopback(true)
        .allow_any_port(true)
        .per_host_interval(Duration::ZERO);
    let fetcher = WebFetcher::builder(web)
        .gate(Arc::new(LoopbackOnlyGate))
        .build()
        .unwrap();
    let urls = UrlIngestor::with_fetcher(Arc::clone(&store), Arc::clone(&bus), Arc::new(fetcher));
    let engine = ChatEngine::builder()
        .store(store)
        .bus(bus)
        .url_ingestor(Arc::new(urls))
        .documents(
            Arc::new(FsBlobStore::new(blobs.path())),
            IngestConfig::default(),
        )
        .build()
        .unwrap();
    let config = adjust(AdapterConfig::new(auth).rest_rate_limit(unlimited()));
    let metrics = config.metrics().clone();
    let shutdown = config.shutdown().clone();
    TestApp {
        router: router(engine.clone(), config),
        engine,
        metrics,
        shutdown,
        _blobs: blobs,
    }
}

/// A development token.
pub fn token(role: Role, user: &str) -> String {
    DevAuthenticator::token(role, &UserId::new(user).unwrap())
}

pub fn customer(user: &str) -> String {
    token(Role::Customer, user)
}

pub fn agent(user: &str) -> String {
    token(Role::Agent, user)
}

pub fn manager(user: &str) -> String {
    token(Role::Manager, user)
}

/// A response: status, headers and JSON body (`Value::Null` when empty or not JSON).
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    /// The API error code of an error body.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

/// Sends a request through the router (no network).
pub async fn send(router: &Router, request: Request<Body>) -> Reply {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        body,
        text,
    }
}

/// A JSON request (no body when `body` is `None`).
pub fn request(
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    match body {
        Some(body) => builder
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap(),
        None => builder.body(Body::empty()).unwrap(),
    }
}

/// Sends a JSON request through the router.
pub async fn call(
    router: &Router,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Reply {
    send(router, request(method, path, token, body)).await
}

/// Opens a support session as `customer` and returns its id.
pub async fn open_session(router: &Router, customer_token: &str) -> String {
    let reply = call(
        router,
        "POST",
        "/api/v1/sessions",
        Some(customer_token),
        Some(serde_json::json!({"kind": "support", "title": "Billing question"})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    reply.body["id"].as_str().unwrap().to_owned()
}

/// Serves the router on a fresh loopback port.
pub async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    addr
}
