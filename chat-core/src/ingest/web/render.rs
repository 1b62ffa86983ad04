//! JavaScript rendering through headless Chromium (feature `js-render`), for pages whose plain
//! fetch yields almost no text (single-page applications).
//!
//! Design:
//! - One Chromium process per [`JsRenderer`], started on first use with a fresh profile
//!   directory and flags that turn off every background service (sync, component updates,
//!   safe-browsing pings, QUIC, DNS prefetch); its own host resolver maps every name but
//!   127.0.0.1 (where the proxies listen) to "not found", so nothing but the proxies can reach
//!   a host by name.
//! - The browser-wide proxy is a local listener that refuses everything: a request outside a
//!   render's context has nowhere to go. Each render gets a fresh browser context (its own
//!   cookies, storage, cache and service workers, all discarded afterwards) whose proxy is a
//!   [`RenderProxy`](super::proxy) started for this render only, with `<-loopback>` so that
//!   loopback addresses go through it too. The proxy applies the plain fetch's URL checks and
//!   connects only through the guarded connector: the same SSRF guard, allowlist, socket gate,
//!   connect timeout and body cap; its request count and bytes are budgeted per render. (It
//!   listens on loopback while its render runs; another local process could use it then, but
//!   it reaches nothing a plain fetch could not.)
//!   WebRTC may only use proxied TCP (`disable_non_proxied_udp`), and the page's window loses
//!   `WebSocket`, `WebTransport`, `RTCPeerConnection` and service-worker registration before
//!   its scripts run.
//! - At most `max_pages` renders at once; each ends by `render_timeout`. The page is loaded,
//!   then given until the network is quiet (`network_quiet`, at most `settle_timeout`), then
//!   its DOM is serialized (refused past `max_html_bytes`). The page's final URL is checked
//!   again: a page that navigated to a refused address fails with the refusal's error.
//! - A render that times out has its context disposed; when the browser does not answer that
//!   within [`CLEANUP_TIMEOUT`], or has died, it is killed (with it, the other renders it was
//!   running fail) and the next render starts a new one.
//!
//! The rendered HTML goes through the same extraction as a fetched page (see
//! [`UrlIngestor::js_render`](super::UrlIngestor::js_render)).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chromiumoxide::Browser;
use chromiumoxide::cdp::browser_protocol::browser::{
    BrowserContextId, SetDownloadBehaviorBehavior, SetDownloadBehaviorParams,
};
use chromiumoxide::cdp::browser_protocol::network::SetBypassServiceWorkerParams;
use chromiumoxide::cdp::browser_protocol::page::AddScriptToEvaluateOnNewDocumentParams;
use chromiumoxide::cdp::browser_protocol::target::{
    CreateBrowserContextParams, CreateTargetParams, DisposeBrowserContextParams,
};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use url::Url;

use super::browser::{Running, launch};
use super::error::WebError;
use super::fetch::WebFetcher;
use super::proxy::{BlockedRequest, ProxyLimits, RenderProxy};
use super::validate::check_parsed;

/// How long disposing a render's context may take before the browser counts as hung.
pub const CLEANUP_TIMEOUT: Duration = Duration::from_secs(3);

/// Where Chromium is looked for when `browser_path` is not set, in order. Debian's real
/// binary comes first: its `/usr/bin/chromium` wrapper adds flags from `/etc/chromium.d`
/// (remote extensions among them).
const BROWSER_CANDIDATES: &[&str] = &[
    "/usr/lib/chromium/chromium",
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/usr/bin/google-chrome",
];

/// Runs in every document of a render before the page's scripts: channels the proxy cannot
/// see into (or that outlive a render) are taken away. The proxy and the browser flags hold
/// without it; this makes such attempts fail early and visibly.
const INIT_SCRIPT: &str = r#"(() => {
  for (const name of ["WebSocket", "WebTransport", "RTCPeerConnection", "webkitRTCPeerConnection"]) {
    try { Object.defineProperty(globalThis, name, { value: undefined, writable: false, configurable: false }); } catch (_) {}
  }
  try {
    if (navigator.serviceWorker) {
      navigator.serviceWorker.register = () => Promise.reject(new Error("service workers are disabled"));
    }
  } catch (_) {}
})();"#;

/// Settings of JavaScript rendering.
///
/// | setting | default | what |
/// |---|---|---|
/// | `browser_path` | first of `/usr/lib/chromium/chromium`, `/usr/bin/chromium`, `/usr/bin/chromium-browser`, `/usr/bin/google-chrome` that exists | the Chromium binary |
/// | `render_timeout` | 15 s | one render, from waiting for a page slot to the serialized DOM |
/// | `launch_timeout` | 20 s | starting Chromium until its DevTools endpoint answers |
/// | `max_pages` | 2 | renders at once (pages open in the one browser) |
/// | `max_html_bytes` | 5 MiB | largest rendered HTML |
/// | `max_requests` | 200 | requests and tunnels per render (more are refused) |
/// | `max_transfer_bytes` | 20 MiB | bytes moved per render through the proxy (responses and tunnels) |
/// | `network_quiet` | 500 ms | after the load event, the page is read once nothing moved for this long |
/// | `settle_timeout` | 3 s | most time waited for that quiet after the load event |
/// | `sandbox` | false | keep Chromium's sandbox; it needs a non-root user with user namespaces, so it is off by default (the proxy does not depend on it) |
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RenderConfig {
    /// The Chromium binary; `None` looks for it.
    pub browser_path: Option<PathBuf>,
    /// One render's time limit.
    pub render_timeout: Duration,
    /// Browser start-up time limit.
    pub launch_timeout: Duration,
    /// Renders at once.
    pub max_pages: usize,
    /// Largest rendered HTML in bytes.
    pub max_html_bytes: usize,
    /// Requests per render.
    pub max_requests: usize,
    /// Bytes moved per render.
    pub max_transfer_bytes: u64,
    /// Quiet period after which the page is read.
    pub network_quiet: Duration,
    /// Longest wait for the quiet period.
    pub settle_timeout: Duration,
    /// Keep Chromium's sandbox.
    pub sandbox: bool,
}

impl Default for RenderConfig {
    fn default() -> Self {
        Self {
            browser_path: None,
            render_timeout: Duration::from_secs(15),
            launch_timeout: Duration::from_secs(20),
            max_pages: 2,
            max_html_bytes: 5 * 1024 * 1024,
            max_requests: 200,
            max_transfer_bytes: 20 * 1024 * 1024,
            network_quiet: Duration::from_millis(500),
            settle_timeout: Duration::from_secs(3),
            sandbox: false,
        }
    }
}

impl RenderConfig {
    /// Sets the Chromium binary.
    pub fn browser_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.browser_path = Some(path.into());
        self
    }
    /// Sets the time limit of one render.
    pub fn render_timeout(mut self, timeout: Duration) -> Self {
        self.render_timeout = timeout;
        self
    }
    /// Sets the browser start-up time limit.
    pub fn launch_timeout(mut self, timeout: Duration) -> Self {
        self.launch_timeout = timeout;
        self
    }
    /// Sets how many renders run at once.
    pub fn max_pages(mut self, pages: usize) -> Self {
        self.max_pages = pages.max(1);
        self
    }
    /// Sets the largest rendered HTML.
    pub fn max_html_bytes(mut self, bytes: usize) -> Self {
        self.max_html_bytes = bytes;
        self
    }
    /// Sets the request limit of one render.
    pub fn max_requests(mut self, requests: usize) -> Self {
        self.max_requests = requests;
        self
    }
    /// Sets the transfer limit of one render.
    pub fn max_transfer_bytes(mut self, bytes: u64) -> Self {
        self.max_transfer_bytes = bytes;
        self
    }
    /// Sets the quiet period and the longest wait for it.
    pub fn settle(mut self, quiet: Duration, max_wait: Duration) -> Self {
        self.network_quiet = quiet;
        self.settle_timeout = max_wait;
        self
    }
    /// Keeps Chromium's sandbox on.
    pub fn sandbox(mut self, sandbox: bool) -> Self {
        self.sandbox = sandbox;
        self
    }
    /// The Chromium binary to start: `browser_path`, or the first candidate that exists.
    ///
    /// Errors: `Render` when none is found.
    pub fn resolve_browser(&self) -> Result<PathBuf, WebError> {
        if let Some(path) = &self.browser_path {
            return Ok(path.clone());
        }
        BROWSER_CANDIDATES
            .iter()
            .map(Path::new)
            .find(|p| p.is_file())
            .map(Path::to_path_buf)
            .ok_or_else(|| {
                WebError::Render(format!(
                    "no Chromium found (looked for {}); install it (Debian: apt-get install chromium) or set browser_path",
                    BROWSER_CANDIDATES.join(", ")
                ))
            })
    }
}

/// A rendered page.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RenderedPage {
    /// The page's URL when it was read.
    pub final_url: String,
    /// The serialized DOM (UTF-8).
    pub html: String,
    /// Requests and tunnels the page made through the proxy.
    pub requests: usize,
    /// What the proxy refused or what failed on the way.
    pub blocked: Vec<BlockedRequest>,
}

/// Counters of a renderer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RenderStats {
    /// Browser processes started.
    pub launches: u64,
    /// Browsers killed because they hung or died.
    pub restarts: u64,
    /// Renders that produced a page.
    pub rendered: u64,
    /// Renders that failed or timed out.
    pub failed: u64,
}

/// Renders pages with headless Chromium, every request going through the SSRF-guarded proxy.
/// Share one per process: it keeps one browser and bounds the pages open in it.
pub struct JsRenderer {
    fetcher: Arc<WebFetcher>,
    config: RenderConfig,
    pages: Semaphore,
    running: tokio::sync::Mutex<Option<Arc<Running>>>,
    launches: AtomicU64,
    restarts: AtomicU64,
    rendered: AtomicU64,
    failed: AtomicU64,
}

impl std::fmt::Debug for JsRenderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsRenderer")
            .field("config", &self.config)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl JsRenderer {
    /// A renderer whose proxy connects through `fetcher` (its settings, resolver and socket
    /// gate). The browser starts on the first render.
    pub fn new(fetcher: Arc<WebFetcher>, config: RenderConfig) -> Self {
        Self {
            fetcher,
            pages: Semaphore::new(config.max_pages.max(1)),
            config,
            running: tokio::sync::Mutex::new(None),
            launches: AtomicU64::new(0),
            restarts: AtomicU64::new(0),
            rendered: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        }
    }

    /// The settings.
    pub fn config(&self) -> &RenderConfig {
        &self.config
    }

    /// The counters.
    pub fn stats(&self) -> RenderStats {
        RenderStats {
            launches: self.launches.load(Ordering::SeqCst),
            restarts: self.restarts.load(Ordering::SeqCst),
            rendered: self.rendered.load(Ordering::SeqCst),
            failed: self.failed.load(Ordering::SeqCst),
        }
    }

    /// The process id of the running browser, if one runs.
    pub async fn browser_pid(&self) -> Option<u32> {
        self.running
            .lock()
            .await
            .as_ref()
            .filter(|r| r.alive.load(Ordering::SeqCst))
            .and_then(|r| r.pid)
    }

    /// Kills the browser (the next render starts a new one).
    pub async fn shutdown(&self) {
        let running = self.running.lock().await.take();
        if let Some(running) = running {
            running.terminate().await;
        }
    }

    /// Renders `url` (a URL that already passed validation) and returns its DOM.
    ///
    /// Errors: `Timeout` (phase `render`) after `render_timeout`; the proxy's refusal (for
    /// example `BlockedAddress`, `PortNotAllowed`) when the page ended on a refused URL; `TooLarge`
    /// past `max_html_bytes`; `Render` when Chromium cannot be started or fails.
    pub async fn render(&self, url: &Url) -> Result<RenderedPage, WebError> {
        let deadline = Instant::now() + self.config.render_timeout;
        let timeout = WebError::Timeout {
            phase: "render",
            after: self.config.render_timeout,
        };
        let result = match tokio::time::timeout_at(deadline, self.pages.acquire()).await {
            Ok(Ok(_permit)) => self.render_with_page(url, deadline).await,
            Ok(Err(_)) => Err(WebError::Render("the renderer is closed".into())),
            Err(_) => Err(timeout),
        };
        let counter = if result.is_ok() {
            &self.rendered
        } else {
            &self.failed
        };
        counter.fetch_add(1, Ordering::SeqCst);
        result
    }

    async fn render_with_page(
        &self,
        url: &Url,
        deadline: Instant,
    ) -> Result<RenderedPage, WebError> {
        let running = match tokio::time::timeout_at(deadline, self.browser()).await {
            Ok(running) => running?,
            Err(_) => {
                return Err(WebError::Timeout {
                    phase: "render",
                    after: self.config.render_timeout,
                });
            }
        };
        let proxy = RenderProxy::start(
            Arc::clone(&self.fetcher),
            ProxyLimits {
                max_requests: self.config.max_requests,
                max_transfer_bytes: self.config.max_transfer_bytes,
                reserved_ports: running.reserved_ports.clone(),
                deadline,
            },
        )
        .await?;
        let browser = &running.browser;
        let context = CreateBrowserContextParams {
            dispose_on_detach: Some(true),
            proxy_server: Some(proxy.url()),
            proxy_bypass_list: Some("<-loopback>".into()),
            origins_with_universal_network_access: None,
        };
        let context = match tokio::time::timeout_at(deadline, browser.execute(context)).await {
            Ok(Ok(response)) => response.result.browser_context_id,
            Ok(Err(e)) => {
                self.discard(&running).await;
                return Err(WebError::Render(format!(
                    "cannot create a browser context: {e}"
                )));
            }
            Err(_) => {
                self.discard(&running).await;
                return Err(WebError::Timeout {
                    phase: "render",
                    after: self.config.render_timeout,
                });
            }
        };
        let outcome = tokio::time::timeout_at(
            deadline,
            self.load(browser, &context, url, &proxy, deadline),
        )
        .await
        .unwrap_or(Err(WebError::Timeout {
            phase: "render",
            after: self.config.render_timeout,
        }));
        let disposed = tokio::time::timeout(
            CLEANUP_TIMEOUT,
            browser.execute(DisposeBrowserContextParams::new(context)),
        )
        .await;
        if !matches!(disposed, Ok(Ok(_))) {
            tracing::warn!("the browser did not close a render's context in time; restarting it");
            self.discard(&running).await;
        }
        let (html, final_url) = outcome?;
        Ok(RenderedPage {
            final_url: final_url.to_string(),
            html,
            requests: proxy.request_count(),
            blocked: proxy.blocked(),
        })
    }

    /// Loads the page in the render's context and reads its DOM and final URL.
    async fn load(
        &self,
        browser: &Browser,
        context: &BrowserContextId,
        url: &Url,
        proxy: &RenderProxy,
        deadline: Instant,
    ) -> Result<(String, Url), WebError> {
        let cdp = |e: chromiumoxide::error::CdpError| WebError::Render(e.to_string());
        let mut downloads = SetDownloadBehaviorParams::new(SetDownloadBehaviorBehavior::Deny);
        downloads.browser_context_id = Some(context.clone());
        browser.execute(downloads).await.map_err(cdp)?;
        let target = CreateTargetParams {
            browser_context_id: Some(context.clone()),
            ..CreateTargetParams::new("about:blank")
        };
        let page = browser.new_page(target).await.map_err(cdp)?;
        page.execute(SetBypassServiceWorkerParams::new(true))
            .await
            .map_err(cdp)?;
        page.execute(AddScriptToEvaluateOnNewDocumentParams::new(INIT_SCRIPT))
            .await
            .map_err(cdp)?;
        if let Err(e) = page.goto(url.as_str()).await {
            // A failed main request shows why in the proxy's records.
            if let Some(err) = proxy.take_error_for(url) {
                return Err(err);
            }
            return Err(WebError::Render(format!("the page did not load: {e}")));
        }
        let settle_until = deadline.min(Instant::now() + self.config.settle_timeout);
        proxy
            .wait_quiet(self.config.network_quiet, settle_until)
            .await;
        let length: u64 = page
            .evaluate("document.documentElement ? document.documentElement.outerHTML.length : 0")
            .await
            .map_err(cdp)?
            .into_value()
            .map_err(|e| WebError::Render(format!("unexpected DOM length: {e}")))?;
        let limit = u64::try_from(self.config.max_html_bytes).unwrap_or(u64::MAX);
        if length > limit {
            return Err(WebError::TooLarge { limit });
        }
        let html = page.content().await.map_err(cdp)?;
        if html.len() > self.config.max_html_bytes {
            return Err(WebError::TooLarge { limit });
        }
        let final_url = page
            .url()
            .await
            .map_err(cdp)?
            .unwrap_or_else(|| url.to_string());
        let final_url = Url::parse(&final_url)
            .map_err(|_| WebError::Render(format!("the page ended on `{final_url}`")))?;
        if let Some(err) = proxy.take_error_for(&final_url) {
            return Err(err);
        }
        let final_url = check_parsed(
            final_url,
            self.fetcher.config(),
            self.fetcher.client().policy(),
        )?;
        Ok((html, final_url))
    }

    /// The running browser, started when there is none or the last one died.
    async fn browser(&self) -> Result<Arc<Running>, WebError> {
        let mut slot = self.running.lock().await;
        if let Some(running) = slot.as_ref() {
            if running.alive.load(Ordering::SeqCst) {
                return Ok(Arc::clone(running));
            }
            self.restarts.fetch_add(1, Ordering::SeqCst);
            if let Some(dead) = slot.take() {
                dead.terminate().await;
            }
        }
        let running = Arc::new(launch(&self.config).await?);
        self.launches.fetch_add(1, Ordering::SeqCst);
        *slot = Some(Arc::clone(&running));
        Ok(running)
    }

    /// Kills `running` when it is still the current browser.
    async fn discard(&self, running: &Arc<Running>) {
        {
            let mut slot = self.running.lock().await;
            if slot.as_ref().is_some_and(|r| Arc::ptr_eq(r, running)) {
                slot.take();
                self.restarts.fetch_add(1, Ordering::SeqCst);
            }
        }
        running.terminate().await;
    }
}
