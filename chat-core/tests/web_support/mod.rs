//! Shared pieces of the web tests: a loopback test server, test resolvers and a recording
//! socket gate.
//!
//! No packet leaves this machine, even with a broken SSRF guard: every fetcher built here gets
//! a [`RecordingGate`], which wraps the library's `LoopbackOnlyGate` and is asked by the
//! connector right before it opens any socket (IP-literal hosts included); it refuses every
//! non-loopback socket address and records what it was asked, so tests can also assert that
//! the guard refused an address before the gate ever saw it. Host names are answered by the
//! test resolvers below, never by DNS.

#![allow(dead_code, unreachable_pub)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test support: a failed step fails the test

use std::collections::HashMap;
use std::convert::Infallible;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chat_core::ingest::web::{HostResolver, LoopbackOnlyGate, SocketGate, WebConfig, WebFetcher};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// Body type of the test server.
pub type TestBody = http_body_util::combinators::BoxBody<Bytes, Infallible>;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/web");

/// A fixture file's bytes.
pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{name}")).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// Size of the huge page: one byte over 6 MiB.
pub const HUGE_BYTES: usize = 6 * 1024 * 1024 + 1;

/// The test server: a few routes that exercise every path of the fetcher.
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    hits: Arc<Mutex<HashMap<String, usize>>>,
}

impl TestServer {
    /// Starts a server on `ip` (a loopback address), on a free port.
    pub async fn start(ip: IpAddr) -> Self {
        assert!(ip.is_loopback(), "test servers listen on loopback only");
        let listener = TcpListener::bind((ip, 0)).await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let hits: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let state = Arc::new(State {
            addr,
            hits: Arc::clone(&hits),
        });
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let state = Arc::clone(&state);
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let state = Arc::clone(&state);
                        async move { Ok::<_, Infallible>(state.route(req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, hits }
    }

    /// Starts a server on 127.0.0.1.
    pub async fn start_local() -> Self {
        Self::start(IpAddr::V4(Ipv4Addr::LOCALHOST)).await
    }

    /// `http://IP:PORT` + path.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// How often a path was requested.
    pub fn hits(&self, path: &str) -> usize {
        self.hits
            .lock()
            .expect("hits")
            .get(path)
            .copied()
            .unwrap_or(0)
    }
}

struct State {
    addr: SocketAddr,
    hits: Arc<Mutex<HashMap<String, usize>>>,
}

fn full(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<TestBody> {
    let mut builder = Response::builder().status(status);
    if !content_type.is_empty() {
        builder = builder.header("content-type", content_type);
    }
    builder
        .body(Full::new(body.into()).boxed())
        .expect("response")
}

fn redirect(status: u16, location: &str) -> Response<TestBody> {
    Response::builder()
        .status(status)
        .header("location", location)
        .body(Full::new(Bytes::new()).boxed())
        .expect("redirect")
}

/// A generated article page number `n` (for the 200-page benchmark), about 6 KiB.
pub fn generated_page(n: usize) -> String {
    let paragraphs: String = (0..12)
        .map(|p| format!("<p>Page {n} paragraph {p}: the quick brown fox jumps over the lazy dog while the support team answers question {p} about order {n}.</p>"))
        .collect();
    format!(
        "<!doctype html><html lang=en><head><title>Generated page {n}</title></head><body>\
         <nav><a href=/>Home</a><a href=/x>Other</a></nav><main><h1>Generated page {n}</h1>\
         <h2>Section one</h2>{paragraphs}<h2>Section two</h2>{paragraphs}</main><footer>Footer {n}</footer></body></html>"
    )
}

impl State {
    async fn route(&self, req: Request<Incoming>) -> Response<TestBody> {
        let path = req.uri().path().to_owned();
        *self
            .hits
            .lock()
            .expect("hits")
            .entry(path.clone())
            .or_default() += 1;
        let html = "text/html; charset=utf-8";
        match path.as_str() {
            "/robots.txt" => full(
                StatusCode::OK,
                "text/plain",
                "User-agent: *\nDisallow: /private\n",
            ),
            "/article" => full(StatusCode::OK, html, fixture("article.html")),
            "/og" => full(StatusCode::OK, html, fixture("og.html")),
            "/blog" => full(StatusCode::OK, html, fixture("blog.html")),
            "/docs" => full(StatusCode::OK, html, fixture("docs.html")),
            "/js-only" => full(StatusCode::OK, html, fixture("js-only.html")),
            // The charset is declared in a meta tag only.
            "/legacy-1252" => full(StatusCode::OK, "text/html", fixture("legacy-1252.html")),
            // No declaration at all: detection.
            "/shift-jis" => {
                let text = "<html><body><h1>配送について</h1><p>ご注文の商品は三営業日以内に発送いたします。配送状況はマイページからご確認いただけます。</p></body></html>";
                full(
                    StatusCode::OK,
                    "text/html",
                    encoding_rs::SHIFT_JIS.encode(text).0.into_owned(),
                )
            }
            "/plain" => full(
                StatusCode::OK,
                "text/plain; charset=utf-8",
                "Opening hours\n\nMonday to Friday, 9:00 to 17:00.",
            ),
            "/private/secret" => full(StatusCode::OK, html, "<p>secret</p>"),
            "/redirect/1" => redirect(301, "/redirect/2"),
            "/redirect/2" => redirect(302, &format!("http://{}/redirect/3", self.addr)),
            "/redirect/3" => redirect(307, "/article#anchor"),
            p if p.starts_with("/chain/") => {
                let n: usize = p["/chain/".len()..].parse().unwrap_or(0);
                redirect(302, &format!("/chain/{}", n + 1))
            }
            "/loop/a" => redirect(302, "/loop/b"),
            "/loop/b" => redirect(302, "/loop/a"),
            "/to-metadata" => redirect(302, "http://169.254.169.254/latest/meta-data/"),
            "/to-metadata-name" => redirect(302, "http://metadata.test/latest/meta-data/"),
            "/to-loopback" => redirect(
                302,
                &format!("http://127.0.0.1:{}/article", self.addr.port()),
            ),
            "/to-ftp" => redirect(302, "ftp://example.com/file"),
            "/slow" => {
                tokio::time::sleep(Duration::from_secs(5)).await;
                full(StatusCode::OK, html, "<p>too late</p>")
            }
            "/huge" => {
                // Streamed without Content-Length: the cap must hold while reading.
                let chunk = Bytes::from(vec![b'a'; 64 * 1024]);
                let count = HUGE_BYTES / chunk.len() + 1;
                let stream = futures::stream::iter(
                    (0..count).map(move |_| Ok::<_, Infallible>(Frame::data(chunk.clone()))),
                );
                Response::builder()
                    .header("content-type", "text/html")
                    .body(BodyExt::boxed(StreamBody::new(stream)))
                    .expect("huge")
            }
            "/huge-declared" => full(StatusCode::OK, "text/html", vec![b'a'; HUGE_BYTES]),
            "/binary" => full(
                StatusCode::OK,
                "application/octet-stream",
                vec![0u8, 1, 2, 3, 255],
            ),
            "/image" => full(StatusCode::OK, "image/png", vec![0x89, b'P', b'N', b'G']),
            "/pdf" => full(
                StatusCode::OK,
                "application/pdf",
                b"%PDF-1.4\n%fake\n".to_vec(),
            ),
            "/untyped" => full(
                StatusCode::OK,
                "",
                "<!doctype html><html><body><p>No content type but HTML.</p></body></html>",
            ),
            "/500" => full(StatusCode::INTERNAL_SERVER_ERROR, "text/plain", "boom"),
            "/etag" => {
                let matches = req
                    .headers()
                    .get("if-none-match")
                    .is_some_and(|v| v == "\"v1\"");
                if matches {
                    Response::builder()
                        .status(304)
                        .header("etag", "\"v1\"")
                        .body(Full::new(Bytes::new()).boxed())
                        .expect("304")
                } else {
                    Response::builder()
                        .header("content-type", html)
                        .header("etag", "\"v1\"")
                        .body(
                            Full::new(Bytes::from_static(
                                b"<html><body><p>Versioned page text.</p></body></html>",
                            ))
                            .boxed(),
                        )
                        .expect("etag")
                }
            }
            p if p.starts_with("/pages/") => {
                let n: usize = p["/pages/".len()..].parse().unwrap_or(0);
                full(StatusCode::OK, html, generated_page(n))
            }
            _ => full(StatusCode::NOT_FOUND, "text/plain", "not found"),
        }
    }
}

/// A server whose robots.txt answers with a fixed status.
pub async fn robots_status_server(status: u16) -> SocketAddr {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<Incoming>| async move {
                    let response = if req.uri().path() == "/robots.txt" {
                        full(
                            StatusCode::from_u16(status).expect("status"),
                            "text/plain",
                            "",
                        )
                    } else {
                        full(
                            StatusCode::OK,
                            "text/html",
                            "<html><body><p>Page behind robots.</p></body></html>",
                        )
                    };
                    Ok::<_, Infallible>(response)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// Answers host names from a fixed table; counts lookups. Unknown names fail.
#[derive(Debug, Default)]
pub struct MapResolver {
    names: HashMap<String, Vec<IpAddr>>,
    pub lookups: AtomicUsize,
}

impl MapResolver {
    /// Adds a name.
    pub fn with(mut self, name: &str, ips: &[&str]) -> Self {
        self.names.insert(
            name.to_owned(),
            ips.iter().map(|s| s.parse().expect("ip")).collect(),
        );
        self
    }
}

#[async_trait]
impl HostResolver for MapResolver {
    async fn resolve(&self, host: &str) -> io::Result<Vec<IpAddr>> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        self.names.get(host).cloned().ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, format!("unknown test host {host}"))
        })
    }
}

/// Answers each lookup with the next answer of a list (the last one repeats): a DNS
/// rebinding attacker.
#[derive(Debug)]
pub struct RebindingResolver {
    answers: Vec<Vec<IpAddr>>,
    pub lookups: AtomicUsize,
}

impl RebindingResolver {
    /// The answers, in order.
    pub fn new(answers: &[&[&str]]) -> Self {
        Self {
            answers: answers
                .iter()
                .map(|a| a.iter().map(|s| s.parse().expect("ip")).collect())
                .collect(),
            lookups: AtomicUsize::new(0),
        }
    }
}

#[async_trait]
impl HostResolver for RebindingResolver {
    async fn resolve(&self, _host: &str) -> io::Result<Vec<IpAddr>> {
        let n = self.lookups.fetch_add(1, Ordering::SeqCst);
        Ok(self.answers[n.min(self.answers.len() - 1)].clone())
    }
}

/// Loopback-only gate that records every address it was asked about.
#[derive(Debug, Default)]
pub struct RecordingGate {
    pub asked: Mutex<Vec<SocketAddr>>,
}

impl RecordingGate {
    /// Addresses asked so far.
    pub fn asked(&self) -> Vec<SocketAddr> {
        self.asked.lock().expect("gate").clone()
    }
}

impl SocketGate for RecordingGate {
    fn permit(&self, addr: SocketAddr) -> bool {
        self.asked.lock().expect("gate").push(addr);
        LoopbackOnlyGate.permit(addr)
    }
}

/// Settings for tests: loopback allowed, any port, no rate-limit spacing, short timeouts.
pub fn test_config() -> WebConfig {
    WebConfig::default()
        .allow_loopback(true)
        .allow_any_port(true)
        .per_host_interval(Duration::ZERO)
        .total_timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(2))
}

/// A fetcher with the recording gate and the given resolver.
pub fn fetcher(
    config: WebConfig,
    resolver: Arc<dyn HostResolver>,
) -> (WebFetcher, Arc<RecordingGate>) {
    let gate = Arc::new(RecordingGate::default());
    let fetcher = WebFetcher::builder(config)
        .resolver(resolver)
        .gate(Arc::clone(&gate) as Arc<dyn SocketGate>)
        .build()
        .expect("fetcher");
    (fetcher, gate)
}

/// A fetcher with the recording gate and an empty resolver (IP literals only).
pub fn literal_fetcher(config: WebConfig) -> (WebFetcher, Arc<RecordingGate>) {
    fetcher(config, Arc::new(MapResolver::default()))
}

/// Fails unless `err` is the guard's refusal for an address in `range`.
pub fn assert_blocked(err: &chat_core::ingest::web::WebError, range: &str) {
    match err {
        chat_core::ingest::web::WebError::BlockedAddress { range: got, .. } => {
            assert_eq!(*got, range, "{err}")
        }
        other => panic!("expected a blocked address in {range}, got {other}"),
    }
}
