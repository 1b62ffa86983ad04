//! The render proxy: a small HTTP proxy on 127.0.0.1 through which the browser reaches the
//! network during one render (feature `js-render`).
//!
//! Chromium is told to use it for every request of the render's browser context, loopback
//! included (`--proxy-bypass-list=<-loopback>`). The proxy decides nothing by itself: each
//! request goes through the same checks as a plain fetch (`check_parsed`: scheme, port,
//! credentials, IP-literal hosts) and connects only through [`HttpClient`]'s guarded connector
//! (one resolution, every address checked by the SSRF guard, the socket gate asked, the checked
//! address connected to), so the check binds to the address actually connected to and DNS
//! rebinding fails as it does for a plain fetch.
//!
//! - Plain HTTP: absolute-form `GET` only (other methods get 405); the response is read under
//!   the body cap and passed back without hop-by-hop headers. Redirects are passed back too:
//!   the browser's next hop is a new request, checked again.
//! - HTTPS: `CONNECT host:port` with the port allowed for `https`; the tunnel is opened only
//!   once the browser's first bytes are a TLS handshake record, so plain `ws://` or any other
//!   protocol tunneled over `CONNECT` never reaches a socket.
//! - Limits: the request count and the bytes moved (responses and both tunnel directions) are
//!   budgeted per render; every wait ends at the render's deadline; dropping the proxy ends
//!   every connection and tunnel it served.
//! - Ports of the renderer's own listeners (the browser's DevTools endpoint, this proxy, the
//!   browser-wide refusing proxy) are refused whatever the settings allow.
//!
//! Refusals and failures are recorded (with the [`WebError`] for the page's own navigation)
//! and answered with an error status, so the browser sees a failed request.

use std::convert::Infallible;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, HeaderName};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio::time::Instant;
use url::Url;

use super::client::{Body, read_body};
use super::error::WebError;
use super::fetch::WebFetcher;
use super::validate::{check_parsed, normalize};

/// Most refusals kept per render (the rest are counted only).
const MAX_RECORDED: usize = 200;
/// Longest wait for the first bytes of a tunnel.
const TUNNEL_FIRST_BYTES: Duration = Duration::from_secs(10);
/// Response headers that belong to one connection, never forwarded.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "content-length",
];

/// A request of a render that the proxy refused, or that failed on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BlockedRequest {
    /// The URL (`https://host:port/` for a refused tunnel).
    pub url: String,
    /// The [`WebError::code`] (`blocked_address`, `port_not_allowed`, `method_not_allowed`, ...).
    pub code: String,
    /// Why.
    pub reason: String,
}

/// Per-render limits of the proxy.
#[derive(Debug, Clone)]
pub(crate) struct ProxyLimits {
    /// Most requests and tunnels.
    pub(crate) max_requests: usize,
    /// Most bytes moved (responses plus both directions of tunnels).
    pub(crate) max_transfer_bytes: u64,
    /// Ports refused whatever the settings allow (the renderer's own listeners).
    pub(crate) reserved_ports: Vec<u16>,
    /// When every request and tunnel ends.
    pub(crate) deadline: Instant,
}

struct Refusal {
    url: Url,
    tunnel: bool,
    record: BlockedRequest,
    error: Option<WebError>,
}

struct Shared {
    fetcher: Arc<WebFetcher>,
    limits: ProxyLimits,
    requests: AtomicUsize,
    transferred: AtomicU64,
    in_flight: AtomicUsize,
    last_activity: Mutex<Instant>,
    refusals: Mutex<Vec<Refusal>>,
    tasks: Mutex<JoinSet<()>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding these locks cannot leave them inconsistent (plain pushes and
    // stores), so a poisoned lock is used as it is.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The proxy of one render. Dropping it stops it and every connection it serves.
pub(crate) struct RenderProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for RenderProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RenderProxy")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl RenderProxy {
    /// Starts a proxy on 127.0.0.1 (a free port) connecting through `fetcher`'s client.
    ///
    /// Errors: `Render` when no local port can be bound.
    pub(crate) async fn start(
        fetcher: Arc<WebFetcher>,
        mut limits: ProxyLimits,
    ) -> Result<Self, WebError> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(|e| WebError::Render(format!("cannot start the render proxy: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| WebError::Render(format!("cannot start the render proxy: {e}")))?;
        limits.reserved_ports.push(addr.port());
        let shared = Arc::new(Shared {
            fetcher,
            limits,
            requests: AtomicUsize::new(0),
            transferred: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            last_activity: Mutex::new(Instant::now()),
            refusals: Mutex::new(Vec::new()),
            tasks: Mutex::new(JoinSet::new()),
        });
        let accept_shared = Arc::clone(&shared);
        shared.spawn(async move {
            loop {
                let Ok((stream, peer)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                if !peer.ip().is_loopback() {
                    continue;
                }
                let conn_shared = Arc::clone(&accept_shared);
                accept_shared.spawn(serve(stream, conn_shared));
            }
        });
        Ok(Self { addr, shared })
    }

    /// `http://127.0.0.1:PORT`, for Chromium's proxy setting.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Waits until no request is in flight and nothing moved for `quiet`, or until `until`.
    pub(crate) async fn wait_quiet(&self, quiet: Duration, until: Instant) {
        loop {
            let now = Instant::now();
            if now >= until {
                return;
            }
            let idle_since = *lock(&self.shared.last_activity);
            if self.shared.in_flight.load(Ordering::SeqCst) == 0
                && now.saturating_duration_since(idle_since) >= quiet
            {
                return;
            }
            let step = Duration::from_millis(25).min(until - now);
            tokio::time::sleep(step).await;
        }
    }

    /// Requests and tunnels seen so far.
    pub(crate) fn request_count(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// What was refused or failed so far.
    pub(crate) fn blocked(&self) -> Vec<BlockedRequest> {
        lock(&self.shared.refusals)
            .iter()
            .map(|r| r.record.clone())
            .collect()
    }

    /// The error recorded for `url` (the page's final URL), when the proxy refused or failed
    /// it: the page shows the proxy's error, not the site.
    pub(crate) fn take_error_for(&self, url: &Url) -> Option<WebError> {
        let key = normalize(url);
        let mut refusals = lock(&self.shared.refusals);
        let found = refusals.iter_mut().rev().find(|r| {
            if r.tunnel {
                url.scheme() == "https"
                    && r.url.host_str() == url.host_str()
                    && r.url.port_or_known_default() == url.port_or_known_default()
            } else {
                normalize(&r.url) == key
            }
        })?;
        Some(found.error.take().unwrap_or_else(|| {
            WebError::Render(format!("{} ({})", found.record.reason, found.record.code))
        }))
    }
}

impl Drop for RenderProxy {
    fn drop(&mut self) {
        lock(&self.shared.tasks).abort_all();
    }
}

impl Shared {
    /// Runs a task that ends with the proxy (and at the render's deadline).
    fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        let deadline = self.limits.deadline;
        let mut tasks = lock(&self.tasks);
        while tasks.try_join_next().is_some() {}
        tasks.spawn(async move {
            let _ = tokio::time::timeout_at(deadline, task).await;
        });
    }

    fn touch(&self) {
        *lock(&self.last_activity) = Instant::now();
    }

    fn refuse(&self, url: Url, tunnel: bool, error: WebError) -> BlockedRequest {
        let record = BlockedRequest {
            url: url.to_string(),
            code: error.code().to_owned(),
            reason: error.to_string(),
        };
        tracing::debug!(url = %record.url, code = %record.code, "render proxy refused a request");
        let mut refusals = lock(&self.refusals);
        if refusals.len() < MAX_RECORDED {
            refusals.push(Refusal {
                url,
                tunnel,
                record: record.clone(),
                error: Some(error),
            });
        }
        record
    }

    /// Counts bytes against the render's budget; false once it is spent.
    fn charge(&self, bytes: usize) -> bool {
        let bytes = u64::try_from(bytes).unwrap_or(u64::MAX);
        let before = self.transferred.fetch_add(bytes, Ordering::SeqCst);
        self.touch();
        before.saturating_add(bytes) <= self.limits.max_transfer_bytes
    }

    /// The URL checks of a plain fetch, plus the renderer's reserved ports.
    fn check(&self, url: Url) -> Result<Url, WebError> {
        let fetcher = &self.fetcher;
        let url = check_parsed(url, fetcher.config(), fetcher.client().policy())?;
        if let Some(port) = url.port_or_known_default() {
            if self.limits.reserved_ports.contains(&port) {
                return Err(WebError::PortNotAllowed(port));
            }
        }
        Ok(url)
    }

    async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Response<Full<Bytes>> {
        self.touch();
        let count = self.requests.fetch_add(1, Ordering::SeqCst);
        let target = if req.method() == Method::CONNECT {
            req.uri()
                .authority()
                .map(|a| format!("https://{a}/"))
                .unwrap_or_default()
        } else {
            req.uri().to_string()
        };
        let tunnel = req.method() == Method::CONNECT;
        let url = match Url::parse(&target) {
            Ok(url) => url,
            Err(e) => {
                tracing::debug!(target = %target, "render proxy: not an absolute URL");
                return status_response(
                    StatusCode::BAD_REQUEST,
                    &format!("not a proxy request: {e}"),
                );
            }
        };
        if count >= self.limits.max_requests {
            let error = WebError::Render(format!(
                "more than {} requests in one render",
                self.limits.max_requests
            ));
            let record = self.refuse(url, tunnel, error);
            return status_response(StatusCode::TOO_MANY_REQUESTS, &record.reason);
        }
        let url = match self.check(url.clone()) {
            Ok(url) => url,
            Err(error) => {
                let record = self.refuse(url, tunnel, error);
                return status_response(StatusCode::FORBIDDEN, &record.reason);
            }
        };
        if tunnel {
            let shared = Arc::clone(&self);
            self.spawn(async move { shared.tunnel(req, url).await });
            return status_response(StatusCode::OK, "");
        }
        if req.method() != Method::GET {
            let error = WebError::Render(format!(
                "method {} is not allowed while rendering",
                req.method()
            ));
            let record = self.refuse(url, false, error);
            return status_response(StatusCode::METHOD_NOT_ALLOWED, &record.reason);
        }
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        let response = self.forward(url).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.touch();
        response
    }

    /// Fetches one plain-HTTP URL through the guarded client.
    async fn forward(&self, url: Url) -> Response<Full<Bytes>> {
        let client = self.fetcher.client();
        let config = self.fetcher.config();
        let response = match client.get(&url, &[]).await {
            Ok(response) => response,
            Err(error) => {
                let status = if error.is_refusal() {
                    StatusCode::FORBIDDEN
                } else {
                    StatusCode::BAD_GATEWAY
                };
                let record = self.refuse(url, false, error);
                return status_response(status, &record.reason);
            }
        };
        let status = response.status;
        let headers = response.headers.clone();
        let body = match read_body(response, config.max_body_bytes).await {
            Ok(Body::Complete(body)) => body,
            Ok(Body::Truncated(_)) => {
                let error = WebError::TooLarge {
                    limit: config.max_body_bytes,
                };
                let record = self.refuse(url, false, error);
                return status_response(StatusCode::BAD_GATEWAY, &record.reason);
            }
            Err(error) => {
                let record = self.refuse(url, false, error);
                return status_response(StatusCode::BAD_GATEWAY, &record.reason);
            }
        };
        if !self.charge(body.len()) {
            let error = WebError::Render(format!(
                "the render moved more than {} bytes",
                self.limits.max_transfer_bytes
            ));
            let record = self.refuse(url, false, error);
            return status_response(StatusCode::BAD_GATEWAY, &record.reason);
        }
        let mut builder = Response::builder().status(status);
        for (name, value) in &headers {
            if !HOP_BY_HOP.contains(&name.as_str()) {
                builder = builder.header(name, value);
            }
        }
        builder
            .header(CONTENT_LENGTH, body.len())
            .body(Full::new(body))
            .unwrap_or_else(|_| {
                status_response(StatusCode::BAD_GATEWAY, "the response cannot be passed on")
            })
    }

    /// Runs a `CONNECT` tunnel once the browser's first bytes are a TLS handshake.
    async fn tunnel(self: Arc<Self>, req: Request<Incoming>, url: Url) {
        let upgraded = match hyper::upgrade::on(req).await {
            Ok(upgraded) => upgraded,
            Err(e) => {
                tracing::debug!(error = %e, "render proxy: the tunnel was not upgraded");
                return;
            }
        };
        let mut browser = TokioIo::new(upgraded);
        let mut head = [0u8; 3];
        let first = tokio::time::timeout(TUNNEL_FIRST_BYTES, browser.read_exact(&mut head)).await;
        if !matches!(first, Ok(Ok(_))) {
            return;
        }
        if !is_tls_handshake(&head) {
            self.refuse(
                url,
                true,
                WebError::Protocol("only TLS is tunneled while rendering".into()),
            );
            return;
        }
        let upstream = match self.fetcher.client().connect_tcp(&url).await {
            Ok(upstream) => upstream,
            Err(error) => {
                self.refuse(url, true, error);
                return;
            }
        };
        self.tunnel_copy(browser, upstream, head).await;
    }

    async fn tunnel_copy(
        self: Arc<Self>,
        browser: TokioIo<hyper::upgrade::Upgraded>,
        mut upstream: TcpStream,
        head: [u8; 3],
    ) {
        if !self.charge(head.len()) || upstream.write_all(&head).await.is_err() {
            return;
        }
        let mut browser = Metered {
            inner: browser,
            shared: Arc::clone(&self),
        };
        let mut upstream = Metered {
            inner: upstream,
            shared: Arc::clone(&self),
        };
        if let Err(e) = tokio::io::copy_bidirectional(&mut browser, &mut upstream).await {
            tracing::debug!(error = %e, "render proxy tunnel ended");
        }
    }
}

/// Whether `head` starts a TLS handshake record (content type 22, protocol major version 3).
fn is_tls_handshake(head: &[u8; 3]) -> bool {
    head[0] == 0x16 && head[1] == 0x03
}

fn status_response(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(message.to_owned())));
    *response.status_mut() = status;
    if !message.is_empty() {
        response.headers_mut().insert(
            HeaderName::from_static("content-type"),
            http::HeaderValue::from_static("text/plain; charset=utf-8"),
        );
    }
    response
}

async fn serve(stream: TcpStream, shared: Arc<Shared>) {
    let service = service_fn(move |req| {
        let shared = Arc::clone(&shared);
        async move { Ok::<_, Infallible>(shared.handle(req).await) }
    });
    if let Err(e) = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades()
        .await
    {
        tracing::debug!(error = %e, "render proxy connection ended with an error");
    }
}

/// A stream whose reads are charged to the render's transfer budget; reading fails once the
/// budget is spent.
struct Metered<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Metered<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let read = buf.filled().len() - before;
                if read > 0 && !this.shared.charge(read) {
                    return Poll::Ready(Err(io::Error::other(
                        "the render's transfer budget is spent",
                    )));
                }
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Metered<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_sniffing() {
        assert!(is_tls_handshake(&[0x16, 0x03, 0x01]));
        assert!(!is_tls_handshake(b"GET"));
        assert!(!is_tls_handshake(&[0x17, 0x03, 0x03]));
    }
}
