//! JavaScript rendering through headless Chromium (feature `js-render`): the JS-only page
//! renders to its text, through the URL pipeline too; a page's scripts and navigations reach
//! nothing the SSRF guard refuses (canary listeners see no connection, the proxy records the
//! refusal, the socket gate is never asked about a refused address); a page that never finishes
//! times out cleanly; a hung browser is killed and replaced.
//!
//! Needs Chromium (`apt-get install chromium`): without it the tests skip loudly, and fail when
//! `CI` is set. The tests whose pages name a non-loopback address (169.254.169.254) run only
//! in a network namespace with nothing but loopback (`.ci/run` runs this file under
//! `unshare --net`); elsewhere they skip loudly, and fail when `CI` is set. The proxy connects
//! through `web_support`'s recording loopback-only gate, as every web test does.
#![cfg(all(feature = "js-render", feature = "testing"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers: a failed step fails the test

mod web_support;

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chat_core::bus::{EventBus, InProcessBus};
use chat_core::ids::TenantId;
use chat_core::ingest::web::{
    JsRenderer, LoadOutcome, RenderConfig, UrlIngestor, WebConfig, WebError,
};
use chat_core::store::{ChatStore, MemoryStore};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, UdpSocket};
use url::Url;
use web_support::*;

const METADATA: &str = "http://169.254.169.254/latest/meta-data/";

/// True when `CI` is set: a skip becomes a failure.
fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// The render settings when Chromium is installed; otherwise skips loudly (fails in CI).
fn chromium() -> Option<RenderConfig> {
    let config = RenderConfig::default()
        .render_timeout(Duration::from_secs(20))
        .settle(Duration::from_millis(300), Duration::from_secs(3));
    match config.resolve_browser() {
        Ok(_) => Some(config),
        Err(err) if in_ci() => panic!("CI is set and Chromium is missing: {err}"),
        Err(err) => {
            eprintln!("SKIPPED (no Chromium; apt-get install -y chromium): {err}");
            None
        }
    }
}

/// True when this process sees no network interface but loopback (a fresh network namespace).
/// Read from /proc/self/net/dev, which follows the process's network namespace (/sys/class/net
/// follows the namespace sysfs was mounted in).
fn isolated_network() -> bool {
    let Ok(table) = std::fs::read_to_string("/proc/self/net/dev") else {
        return false;
    };
    let interfaces: Vec<&str> = table
        .lines()
        .skip(2)
        .filter_map(|line| line.split(':').next())
        .map(str::trim)
        .collect();
    interfaces == ["lo"]
}

/// For tests whose pages name non-loopback addresses: true when they may run here.
fn may_name_outside_addresses() -> bool {
    if isolated_network() {
        return true;
    }
    if in_ci() {
        panic!(
            "CI is set but this test is not in a loopback-only network namespace; run it under `unshare --net` with lo up"
        );
    }
    eprintln!(
        "SKIPPED (pages name 169.254.169.254; run inside `unshare --net sh -c 'ip link set lo up && cargo test ...'`)"
    );
    false
}

/// Counts TCP connections and UDP datagrams to loopback ports that nothing may reach.
struct Canary {
    tcp: SocketAddr,
    udp: SocketAddr,
    connections: Arc<AtomicUsize>,
    datagrams: Arc<AtomicUsize>,
}

impl Canary {
    /// Starts on `ip`; a connection gets a readable secret (with CORS allowed), so that a
    /// broken guard shows in the rendered text too.
    async fn start(ip: IpAddr) -> Self {
        let listener = TcpListener::bind((ip, 0)).await.unwrap();
        let tcp = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&connections);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let service = service_fn(|_req: Request<Incoming>| async {
                        Ok::<_, Infallible>(
                            Response::builder()
                                .header("content-type", "text/html")
                                .header("access-control-allow-origin", "*")
                                .body(Full::new(Bytes::from_static(b"CANARY-SECRET")))
                                .unwrap(),
                        )
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        let socket = UdpSocket::bind((ip, 0)).await.unwrap();
        let udp = socket.local_addr().unwrap();
        let datagrams = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&datagrams);
        tokio::spawn(async move {
            let mut buf = [0u8; 2048];
            while socket.recv_from(&mut buf).await.is_ok() {
                counted.fetch_add(1, Ordering::SeqCst);
            }
        });
        Self {
            tcp,
            udp,
            connections,
            datagrams,
        }
    }

    fn touched(&self) -> (usize, usize) {
        (
            self.connections.load(Ordering::SeqCst),
            self.datagrams.load(Ordering::SeqCst),
        )
    }
}

type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

fn html(body: String) -> Response<Body> {
    Response::builder()
        .header("content-type", "text/html; charset=utf-8")
        .body(Full::new(Bytes::from(body)).boxed())
        .unwrap()
}

/// Pages whose scripts try to get out. `canary` is where they aim.
async fn probe_server(ip: IpAddr, canary: SocketAddr, udp: SocketAddr) -> SocketAddr {
    let listener = TcpListener::bind((ip, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<Incoming>| async move {
                    Ok::<_, Infallible>(probe_page(req.uri().path(), canary, udp))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

fn probe_page(path: &str, canary: SocketAddr, udp: SocketAddr) -> Response<Body> {
    let report = r#"<main><h1>Probe</h1><p id="out">waiting</p></main>
<script>
function report(what) { document.getElementById('out').textContent += ' | ' + what; }
async function probe(name, url) {
  try { const r = await fetch(url); report(name + ' reached: ' + (await r.text())); }
  catch (e) { report(name + ' failed'); }
}
</script>"#;
    match path {
        "/scripts-to-canary" => html(format!(
            r#"<!doctype html><html><head><title>Canary probe</title></head><body>{report}
<link rel="stylesheet" href="http://{canary}/style.css">
<iframe src="http://{canary}/frame"></iframe>
<script>
probe('canary fetch', 'http://{canary}/secret');
try {{ new WebSocket('ws://{canary}/socket'); report('websocket opened'); }} catch (e) {{ report('websocket refused'); }}
try {{
  const pc = new RTCPeerConnection({{ iceServers: [{{ urls: 'stun:{udp}' }}] }});
  pc.createDataChannel('x');
  pc.createOffer().then(o => pc.setLocalDescription(o));
  report('webrtc started');
}} catch (e) {{ report('webrtc refused'); }}
</script></body></html>"#
        )),
        "/scripts-to-metadata" => html(format!(
            r#"<!doctype html><html><head><title>Metadata probe</title></head><body>{report}
<link rel="stylesheet" href="{METADATA}style.css">
<script>probe('metadata fetch', '{METADATA}');</script></body></html>"#
        )),
        "/navigate-to-metadata" => html(format!(
            r#"<!doctype html><html><head><title>Leaving</title></head><body><p>Leaving for the metadata service.</p>
<script>location.replace('{METADATA}');</script></body></html>"#
        )),
        "/navigate-to-canary" => html(format!(
            r#"<!doctype html><html><head><title>Leaving</title></head><body><p>Leaving for the canary.</p>
<script>location.replace('http://{canary}/secret');</script></body></html>"#
        )),
        "/never" => {
            // Headers and a first chunk, then nothing, ever.
            let first = futures::stream::iter([Ok::<_, Infallible>(Frame::data(
                Bytes::from_static(b"<!doctype html><html><body><p>Loading forever"),
            ))]);
            let stream = futures::StreamExt::chain(first, futures::stream::pending());
            Response::builder()
                .header("content-type", "text/html")
                .body(BodyExt::boxed(StreamBody::new(stream)))
                .unwrap()
        }
        _ => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Full::new(Bytes::from_static(b"not found")).boxed())
            .unwrap(),
    }
}

/// A renderer whose proxy connects through a recording loopback-only gate.
fn renderer(web: WebConfig, render: RenderConfig) -> (JsRenderer, Arc<RecordingGate>) {
    let (fetcher, gate) = literal_fetcher(web);
    (JsRenderer::new(Arc::new(fetcher), render), gate)
}

fn assert_gate_saw_loopback_only(gate: &RecordingGate) {
    let asked = gate.asked();
    assert!(
        asked.iter().all(|a| a.ip().is_loopback()),
        "the gate was asked about a non-loopback address: {asked:?}"
    );
}

fn text_of(html: &str) -> String {
    chat_core::ingest::web::extract_html(html, None, 1 << 20).text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_only_page_renders_to_its_text() {
    let Some(config) = chromium() else { return };
    let server = TestServer::start_local().await;
    let (renderer, gate) = renderer(test_config(), config);
    let url = Url::parse(&server.url("/js-only")).unwrap();
    let page = renderer.render(&url).await.expect("render");
    let text = text_of(&page.html);
    assert!(text.contains("Rendered by script"), "{text}");
    assert_eq!(page.final_url, url.as_str());
    assert_eq!(server.hits("/js-only"), 1);
    // The page's own script went through the proxy too (and got the server's 404).
    assert_eq!(server.hits("/static/app.js"), 1);
    assert!(page.requests >= 2, "{page:?}");
    assert!(page.blocked.is_empty(), "{:?}", page.blocked);
    assert_gate_saw_loopback_only(&gate);
    // One browser serves the next render too.
    renderer.render(&url).await.expect("second render");
    assert_eq!(renderer.stats().launches, 1);
    assert_eq!(renderer.stats().rendered, 2);
    renderer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_renders_pages_with_almost_no_text() {
    let Some(config) = chromium() else { return };
    let server = TestServer::start_local().await;
    let store: Arc<dyn ChatStore> = Arc::new(MemoryStore::new());
    let bus: Arc<dyn EventBus> = Arc::new(InProcessBus::default());
    let (fetcher, gate) = literal_fetcher(test_config());
    let ingestor = UrlIngestor::with_fetcher(store, bus, Arc::new(fetcher)).js_render(config);
    let tenant = TenantId::new("t1").unwrap();

    // A page with plenty of text is not rendered.
    let article = Url::parse(&server.url("/article")).unwrap();
    let LoadOutcome::Page(page) = ingestor.load(&tenant, &article).await.expect("article") else {
        panic!("not a page")
    };
    assert!(!page.metadata.contains_key("rendered"));
    let renderer = ingestor.renderer().expect("renderer");
    assert_eq!(renderer.stats().launches, 0, "no browser for a text page");

    // The JS-only page is, and its rendered text is what the pipeline keeps.
    let js = Url::parse(&server.url("/js-only")).unwrap();
    let LoadOutcome::Page(page) = ingestor.load(&tenant, &js).await.expect("js page") else {
        panic!("not a page")
    };
    assert!(page.text.contains("Rendered by script"), "{}", page.text);
    assert_eq!(
        page.metadata.get("rendered"),
        Some(&serde_json::Value::Bool(true))
    );
    assert_eq!(renderer.stats().rendered, 1);
    let chunks = ingestor.chunk(&page);
    assert!(chunks.iter().any(|c| c.text.contains("Rendered by script")));
    // From the cache, without rendering again.
    let LoadOutcome::Page(cached) = ingestor.load(&tenant, &js).await.expect("cached") else {
        panic!("not a page")
    };
    assert_eq!(cached.text, page.text);
    assert_eq!(renderer.stats().rendered, 1);
    assert_gate_saw_loopback_only(&gate);
    renderer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_cannot_reach_a_loopback_address_outside_the_allowlist() {
    let Some(config) = chromium() else { return };
    // The page is served from 127.0.0.2, the only loopback address allowed; the canary
    // listens on 127.0.0.1, which the guard refuses.
    let canary = Canary::start(IpAddr::V4(Ipv4Addr::LOCALHOST)).await;
    let page_ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    let server = probe_server(page_ip, canary.tcp, canary.udp).await;
    let web = test_config()
        .allow_loopback(false)
        .allow_network("127.0.0.2/32".parse().unwrap());
    let (renderer, gate) = renderer(web, config);
    let url = Url::parse(&format!("http://{server}/scripts-to-canary")).unwrap();
    let page = renderer.render(&url).await.expect("render");
    let text = text_of(&page.html);
    assert!(text.contains("canary fetch failed"), "{text}");
    assert!(!text.contains("CANARY-SECRET"), "{text}");
    assert!(!text.contains("websocket opened"), "{text}");
    // Nothing reached the canary: not the fetch, the stylesheet, the frame, the WebSocket or WebRTC.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(canary.touched(), (0, 0));
    let refused: Vec<_> = page
        .blocked
        .iter()
        .filter(|b| b.url.contains(&canary.tcp.to_string()))
        .collect();
    assert!(
        refused.iter().any(|b| b.url.ends_with("/secret")),
        "{:?}",
        page.blocked
    );
    assert!(
        refused.iter().all(|b| b.code == "blocked_address"),
        "{refused:?}"
    );
    assert_gate_saw_loopback_only(&gate);
    assert!(
        gate.asked().iter().all(|a| a.ip() == page_ip),
        "{:?}",
        gate.asked()
    );
    renderer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn navigation_to_a_port_outside_the_allowlist_fails_and_reaches_nothing() {
    let Some(config) = chromium() else { return };
    let canary = Canary::start(IpAddr::V4(Ipv4Addr::LOCALHOST)).await;
    let server = probe_server(IpAddr::V4(Ipv4Addr::LOCALHOST), canary.tcp, canary.udp).await;
    // Loopback allowed, but only the page server's port.
    let web = test_config()
        .allow_any_port(false)
        .extra_port(server.port());
    let (renderer, gate) = renderer(web, config);
    let url = Url::parse(&format!("http://{server}/navigate-to-canary")).unwrap();
    let err = renderer.render(&url).await.expect_err("must fail");
    assert!(
        matches!(err, WebError::PortNotAllowed(port) if port == canary.tcp.port()),
        "{err:?}"
    );
    assert_eq!(canary.touched(), (0, 0));
    assert_gate_saw_loopback_only(&gate);
    assert!(
        gate.asked().iter().all(|a| a.port() == server.port()),
        "{:?}",
        gate.asked()
    );
    renderer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_and_navigation_cannot_reach_the_metadata_service() {
    let Some(config) = chromium() else { return };
    if !may_name_outside_addresses() {
        return;
    }
    let canary = Canary::start(IpAddr::V4(Ipv4Addr::LOCALHOST)).await;
    let server = probe_server(IpAddr::V4(Ipv4Addr::LOCALHOST), canary.tcp, canary.udp).await;
    let (renderer, gate) = renderer(test_config(), config);

    let url = Url::parse(&format!("http://{server}/scripts-to-metadata")).unwrap();
    let page = renderer.render(&url).await.expect("render");
    let text = text_of(&page.html);
    assert!(text.contains("metadata fetch failed"), "{text}");
    let refused: Vec<_> = page
        .blocked
        .iter()
        .filter(|b| b.url.starts_with("http://169.254.169.254/"))
        .collect();
    assert!(
        refused.len() >= 2,
        "fetch and stylesheet: {:?}",
        page.blocked
    );
    assert!(
        refused.iter().all(|b| b.code == "blocked_address"),
        "{refused:?}"
    );

    let url = Url::parse(&format!("http://{server}/navigate-to-metadata")).unwrap();
    let err = renderer.render(&url).await.expect_err("must fail");
    assert!(
        matches!(&err, WebError::BlockedAddress { range, .. } if *range == "link-local"),
        "{err:?}"
    );
    // The guard refused before any socket: the gate was never asked about the address.
    assert_gate_saw_loopback_only(&gate);
    renderer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_that_never_finishes_times_out_cleanly() {
    let Some(config) = chromium() else { return };
    let canary = Canary::start(IpAddr::V4(Ipv4Addr::LOCALHOST)).await;
    let server = probe_server(IpAddr::V4(Ipv4Addr::LOCALHOST), canary.tcp, canary.udp).await;
    let js_server = TestServer::start_local().await;
    let (renderer, _gate) = renderer(test_config(), config.render_timeout(Duration::from_secs(3)));
    let started = Instant::now();
    let err = renderer
        .render(&Url::parse(&format!("http://{server}/never")).unwrap())
        .await
        .expect_err("must time out");
    let took = started.elapsed();
    assert!(
        matches!(
            err,
            WebError::Timeout {
                phase: "render",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        took < Duration::from_secs(3)
            + chat_core::ingest::web::CLEANUP_TIMEOUT
            + Duration::from_secs(2),
        "{took:?}"
    );
    // The renderer still works afterwards.
    let page = renderer
        .render(&Url::parse(&js_server.url("/js-only")).unwrap())
        .await
        .expect("render after a timeout");
    assert!(text_of(&page.html).contains("Rendered by script"));
    renderer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_browser_is_killed_and_replaced() {
    let Some(config) = chromium() else { return };
    let server = TestServer::start_local().await;
    let (renderer, _gate) = renderer(test_config(), config.render_timeout(Duration::from_secs(3)));
    let url = Url::parse(&server.url("/js-only")).unwrap();
    renderer.render(&url).await.expect("first render");
    let hung = renderer.browser_pid().await.expect("a browser runs");
    // Freeze the browser process: it stops answering the DevTools protocol.
    let stopped = std::process::Command::new("kill")
        .args(["-STOP", &hung.to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let err = renderer.render(&url).await.expect_err("a frozen browser");
    assert!(matches!(err, WebError::Timeout { .. }), "{err:?}");
    assert_eq!(renderer.stats().restarts, 1);
    assert_eq!(
        renderer.browser_pid().await,
        None,
        "the hung browser is gone"
    );
    let page = renderer
        .render(&url)
        .await
        .expect("render with a new browser");
    assert!(text_of(&page.html).contains("Rendered by script"));
    assert_eq!(renderer.stats().launches, 2);
    assert_ne!(renderer.browser_pid().await, Some(hung));
    // The frozen process was killed (SIGKILL ends stopped processes too).
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::path::Path::new(&format!("/proc/{hung}")).exists() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        !std::path::Path::new(&format!("/proc/{hung}")).exists(),
        "pid {hung} still there"
    );
    renderer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_render_limits_hold() {
    let Some(config) = chromium() else { return };
    let server = TestServer::start_local().await;
    let url = Url::parse(&server.url("/js-only")).unwrap();
    // One request per render: the page itself; its script is refused.
    let (limited, _gate) = renderer(test_config(), config.clone().max_requests(1));
    let page = limited.render(&url).await.expect("render");
    assert_eq!(server.hits("/static/app.js"), 0);
    assert!(
        page.blocked
            .iter()
            .any(|b| b.url.ends_with("/static/app.js") && b.reason.contains("more than 1 requests")),
        "{:?}",
        page.blocked
    );
    limited.shutdown().await;
    // The rendered DOM is larger than 100 bytes.
    let (small, _gate) = renderer(test_config(), config.max_html_bytes(100));
    let err = small.render(&url).await.expect_err("too large");
    assert!(matches!(err, WebError::TooLarge { limit: 100 }), "{err:?}");
    small.shutdown().await;
}

#[tokio::test]
async fn a_missing_browser_is_a_clear_error() {
    let (renderer, _gate) = renderer(
        test_config(),
        RenderConfig::default().browser_path("/nonexistent/chromium"),
    );
    let err = renderer
        .render(&Url::parse("http://127.0.0.1:9/").unwrap())
        .await
        .expect_err("no browser");
    assert_eq!(err.code(), "render_failed");
    assert!(err.to_string().contains("/nonexistent/chromium"), "{err}");
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Render time of the JS-only page (benches/README.md, section "URL ingest"). Run with:
/// `cargo test -p chat-core --release --features js-render,testing --test web_js_render -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement; run with --ignored --nocapture in release mode"]
async fn measure_render_time() {
    if chromium().is_none() {
        return;
    }
    // The default settings (network quiet 500 ms), as a deployment runs them.
    let config = RenderConfig::default();
    let server = TestServer::start_local().await;
    let (renderer, _gate) = renderer(test_config(), config);
    let url = Url::parse(&server.url("/js-only")).unwrap();
    let started = Instant::now();
    renderer.render(&url).await.expect("warm-up render");
    let first = started.elapsed();
    let mut times = Vec::new();
    for _ in 0..50 {
        let started = Instant::now();
        let page = renderer.render(&url).await.expect("render");
        times.push(started.elapsed());
        assert!(text_of(&page.html).contains("Rendered by script"));
    }
    times.sort();
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
    println!("| measurement | n | p50 | p95 | max |");
    println!("|---|---|---|---|---|");
    println!(
        "| JS-only page rendered (context + page + load + quiet {:?} + DOM), browser warm | {} | {} | {} | {} |",
        renderer.config().network_quiet,
        times.len(),
        ms(percentile(&times, 50.0)),
        ms(percentile(&times, 95.0)),
        ms(*times.last().unwrap())
    );
    println!("first render including the browser start: {}", ms(first));
    renderer.shutdown().await;
}
