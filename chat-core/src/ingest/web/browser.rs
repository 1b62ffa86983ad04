//! The render browser's process (feature `js-render`): starting Chromium with a fresh profile
//! and a command line that turns off its background services, reading its DevTools endpoint,
//! connecting to it, and killing it (with its profile) when it hangs, dies or is shut down.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chromiumoxide::Browser;
use chromiumoxide::handler::HandlerConfig;
use futures::StreamExt;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;
use url::Url;

use super::error::WebError;
use super::render::RenderConfig;

/// How often a killed browser's profile directory is removed before giving up.
const PROFILE_REMOVAL_ATTEMPTS: usize = 4;

/// One running browser.
pub(crate) struct Running {
    pub(crate) browser: Browser,
    pub(crate) child: Mutex<Option<Child>>,
    pub(crate) alive: Arc<AtomicBool>,
    pub(crate) tasks: Vec<JoinHandle<()>>,
    /// The DevTools port and the refusing proxy's port: never reachable from a page.
    pub(crate) reserved_ports: Vec<u16>,
    pub(crate) profile: PathBuf,
    pub(crate) pid: Option<u32>,
}

impl Running {
    fn take_child(&self) -> Option<Child> {
        self.alive.store(false, Ordering::SeqCst);
        self.child
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
    }

    /// Kills the browser (SIGKILL, which also ends a stopped process), waits for it, and
    /// removes its profile directory.
    pub(crate) async fn terminate(&self) {
        if let Some(mut child) = self.take_child() {
            let _ = child.kill().await;
        }
        // The browser's helper processes end when they notice its death and may write to the
        // profile until then: remove it again until it stays gone.
        for _ in 0..PROFILE_REMOVAL_ATTEMPTS {
            let _ = tokio::fs::remove_dir_all(&self.profile).await;
            tokio::time::sleep(Duration::from_millis(250)).await;
            if !tokio::fs::try_exists(&self.profile).await.unwrap_or(false) {
                return;
            }
        }
        tracing::warn!(profile = %self.profile.display(), "the render browser's profile could not be removed");
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        // Not terminated: kill without waiting (tokio reaps the process in the background)
        // and remove the profile as far as possible.
        if let Some(mut child) = self.take_child() {
            let _ = child.start_kill();
            let _ = std::fs::remove_dir_all(&self.profile);
        }
    }
}

/// Starts Chromium and connects to it.
///
/// Errors: `Render` when the binary is missing, does not start, or does not open its DevTools
/// endpoint within `launch_timeout`.
pub(crate) async fn launch(config: &RenderConfig) -> Result<Running, WebError> {
    let executable = config.resolve_browser()?;
    let profile = std::env::temp_dir().join(format!("chat-core-render-{}", uuid::Uuid::now_v7()));
    tokio::fs::create_dir_all(&profile)
        .await
        .map_err(|e| WebError::Render(format!("cannot create the browser profile: {e}")))?;
    let mut tasks = Vec::new();
    let mut child = None;
    let started = start(config, &executable, &profile, &mut tasks, &mut child).await;
    match started {
        Ok((browser, alive, reserved_ports)) => {
            let pid = child.as_ref().and_then(Child::id);
            tracing::info!(pid = ?pid, browser = %executable.display(), "render browser started");
            Ok(Running {
                browser,
                child: Mutex::new(child),
                alive,
                tasks,
                reserved_ports,
                profile,
                pid,
            })
        }
        Err(err) => {
            for task in &tasks {
                task.abort();
            }
            if let Some(mut child) = child {
                let _ = child.kill().await;
            }
            let _ = tokio::fs::remove_dir_all(&profile).await;
            Err(err)
        }
    }
}

/// The steps of [`launch`] that can fail; what they start is left in `tasks` and `child` for
/// the caller to keep or clean up.
async fn start(
    config: &RenderConfig,
    executable: &Path,
    profile: &Path,
    tasks: &mut Vec<JoinHandle<()>>,
    child_slot: &mut Option<Child>,
) -> Result<(Browser, Arc<AtomicBool>, Vec<u16>), WebError> {
    let refusing = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
        .await
        .and_then(|listener| Ok((listener.local_addr()?.port(), listener)))
        .map_err(|e| WebError::Render(format!("cannot bind the refusing proxy: {e}")))?;
    let (refusing_port, refusing) = refusing;
    tasks.push(tokio::spawn(async move {
        // Accepts and closes at once: the browser's requests outside a render fail.
        loop {
            if refusing.accept().await.is_err() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }));
    let mut command = Command::new(executable);
    command
        .args(browser_args(config.sandbox, refusing_port))
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("about:blank")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let child =
        child_slot.insert(command.spawn().map_err(|e| {
            WebError::Render(format!("cannot start {}: {e}", executable.display()))
        })?);
    let stderr = child
        .stderr
        .take()
        .ok_or_else(|| WebError::Render("no stderr from the browser".into()))?;
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = Vec::new();
    let endpoint = tokio::time::timeout(config.launch_timeout, async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(url) = line.trim().strip_prefix("DevTools listening on ") {
                return Some(url.to_owned());
            }
            if seen.len() < 20 {
                seen.push(line);
            }
        }
        None
    })
    .await;
    let endpoint = match endpoint {
        Ok(Some(endpoint)) => endpoint,
        other => {
            let why = if other.is_err() {
                format!("no DevTools endpoint within {:?}", config.launch_timeout)
            } else {
                "the browser exited".to_owned()
            };
            return Err(WebError::Render(format!(
                "cannot start {}: {why}; stderr: {}",
                executable.display(),
                seen.join(" | ")
            )));
        }
    };
    // Keep reading stderr: a full pipe would block the browser.
    tasks.push(tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            tracing::trace!(line = %line, "chromium");
        }
    }));
    let cdp_port = Url::parse(&endpoint)
        .ok()
        .and_then(|u| u.port())
        .unwrap_or_default();
    let handler_config = HandlerConfig {
        ignore_https_errors: false,
        request_timeout: config.render_timeout,
        ..HandlerConfig::default()
    };
    let (browser, mut handler) = tokio::time::timeout(
        config.launch_timeout,
        Browser::connect_with_config(endpoint, handler_config),
    )
    .await
    .map_err(|_| WebError::Render("cannot connect to the browser: timed out".into()))?
    .map_err(|e| WebError::Render(format!("cannot connect to the browser: {e}")))?;
    let alive = Arc::new(AtomicBool::new(true));
    let handler_alive = Arc::clone(&alive);
    tasks.push(tokio::spawn(async move {
        while let Some(event) = handler.next().await {
            if let Err(e) = event {
                tracing::debug!(error = %e, "browser connection event error");
            }
        }
        handler_alive.store(false, Ordering::SeqCst);
    }));
    Ok((browser, alive, vec![cdp_port, refusing_port]))
}

/// Chromium's command line (without the profile directory and the first URL).
fn browser_args(sandbox: bool, refusing_port: u16) -> Vec<String> {
    let mut args: Vec<String> = [
        "--headless",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--disable-extensions",
        "--disable-breakpad",
        "--disable-client-side-phishing-detection",
        "--disable-domain-reliability",
        "--disable-dev-shm-usage",
        "--no-pings",
        "--metrics-recording-only",
        "--mute-audio",
        "--hide-scrollbars",
        "--password-store=basic",
        "--use-mock-keychain",
        "--blink-settings=imagesEnabled=false",
        "--disable-features=MediaRouter,DialMediaRouteProvider,OptimizationHints,Translate,DnsOverHttps,NetworkPrediction,InterestFeedContentSuggestions,AutofillServerCommunication",
        // WebRTC may use only proxied TCP, never raw UDP.
        "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
        "--webrtc-ip-handling-policy=disable_non_proxied_udp",
        // No name is resolved inside the browser: hosts are reached through the proxies only.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--proxy-bypass-list=<-loopback>",
        "--remote-debugging-address=127.0.0.1",
        "--remote-debugging-port=0",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    args.push(format!("--proxy-server=http://127.0.0.1:{refusing_port}"));
    if !sandbox {
        args.push("--no-sandbox".into());
    }
    args
}
