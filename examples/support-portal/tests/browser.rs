//! The demo page in headless Chromium, both sides: a customer asks a question and sees the
//! answer stream in with its citations; she asks for a person; an agent in a second tab goes
//! online, opens the chat, answers, and resolves it; the customer sees the reply and the status.
//!
//! Chromium is found through `CHROMIUM` or on the PATH (`chromium`, `chromium-browser`,
//! `google-chrome`). Without it the test says so loudly and passes, unless
//! `CHAT_REQUIRE_CHROMIUM` is set (CI), where a missing browser fails it.
//!
//! The browser is driven through the Chrome DevTools Protocol over its WebSocket with a few
//! `Runtime.evaluate` calls (JSON-RPC: one request, the reply with the same id). A full CDP
//! client such as chromiumoxide brings megabytes of generated protocol bindings for these
//! three calls, so this test speaks them directly with tokio-tungstenite.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failed step fails the test

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use support_portal::{Args, ai, app};
use tokio_tungstenite::tungstenite::Message;

/// Longest wait for the browser to start or for one condition on the page.
const WAIT: Duration = Duration::from_secs(30);

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn find_chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).find_map(|dir| {
        ["chromium", "chromium-browser", "google-chrome"]
            .iter()
            .map(|name| dir.join(name))
            .find(|candidate| candidate.is_file())
    })
}

/// One page of the browser, driven over CDP.
struct Tab {
    ws: Ws,
    next_id: u64,
}

impl Tab {
    async fn open(port: u16, url: &str) -> Self {
        let target: Value = reqwest::Client::new()
            // The page URL is the query; its fragment (#agent) must not end the DevTools URL.
            .put(format!(
                "http://127.0.0.1:{port}/json/new?{}",
                url.replace('#', "%23")
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let ws_url = target["webSocketDebuggerUrl"].as_str().unwrap();
        let (ws, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();
        Self { ws, next_id: 0 }
    }

    async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let request = json!({"id": id, "method": method, "params": params});
        self.ws
            .send(Message::text(request.to_string()))
            .await
            .unwrap();
        loop {
            let message = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("the browser answers")
                .expect("the DevTools socket stays open")
                .unwrap();
            let Message::Text(text) = message else {
                continue;
            };
            let reply: Value = serde_json::from_str(text.as_str()).unwrap();
            if reply["id"] == id {
                assert!(reply.get("error").is_none(), "{method}: {reply}");
                return reply["result"].clone();
            }
        }
    }

    /// Evaluates an expression in the page (promises awaited) and returns its JSON value.
    async fn eval(&mut self, expression: &str) -> Value {
        let result = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expression, "awaitPromise": true, "returnByValue": true}),
            )
            .await;
        assert!(
            result.get("exceptionDetails").is_none(),
            "{expression}: {result}"
        );
        result["result"]["value"].clone()
    }

    /// Waits until `expression` is truthy; returns its value.
    async fn wait_for(&mut self, what: &str, expression: &str) -> Value {
        let started = Instant::now();
        loop {
            let value = self.eval(expression).await;
            if !(value.is_null() || value == false || value == "" || value == 0) {
                return value;
            }
            if started.elapsed() > WAIT {
                let page = self.eval("document.body.innerText").await;
                panic!("timed out waiting for {what}; the page shows:\n{page}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn start_server(db: PathBuf) -> SocketAddr {
    let args = <Args as clap::Parser>::try_parse_from([
        "support-portal",
        "--ai",
        "offline",
        "--db",
        db.to_str().unwrap(),
    ])
    .unwrap();
    let choice = ai::choose(args.ai, |_| None).unwrap();
    let portal = app::build(&args, &choice).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        portal
            .shutdown
            .serve(listener, portal.router, std::future::pending())
            .await
            .unwrap();
    });
    addr
}

/// Starts headless Chromium with a DevTools port chosen by the browser; returns the port.
async fn start_chromium(bin: &PathBuf, profile: &std::path::Path) -> (tokio::process::Child, u16) {
    let child = tokio::process::Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--remote-debugging-port=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("about:blank")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Chromium writes the port it chose to DevToolsActivePort in the profile.
    let started = Instant::now();
    let port_file = profile.join("DevToolsActivePort");
    loop {
        if let Ok(text) = std::fs::read_to_string(&port_file) {
            if let Some(port) = text.lines().next().and_then(|l| l.trim().parse().ok()) {
                return (child, port);
            }
        }
        assert!(started.elapsed() < WAIT, "Chromium did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_sides_of_a_support_chat_work_in_the_browser() {
    let Some(chromium) = find_chromium() else {
        assert!(
            std::env::var_os("CHAT_REQUIRE_CHROMIUM").is_none(),
            "CHAT_REQUIRE_CHROMIUM is set but no Chromium was found"
        );
        eprintln!(
            "SKIPPED: no Chromium (set CHROMIUM or install chromium) - the page was not tested"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let addr = start_server(dir.path().join("portal.db")).await;
    let (_browser, port) = start_chromium(&chromium, &dir.path().join("profile")).await;

    // Customer: log in, start a chat, ask; the answer streams in with citations.
    let mut customer = Tab::open(port, &format!("http://{addr}/")).await;
    customer
        .wait_for(
            "the page",
            "document.readyState === 'complete' && !!document.getElementById('customer-login')",
        )
        .await;
    customer
        .eval(
            "window.__sawStreaming = false;
             new MutationObserver(() => {
               if (document.querySelector('#customer-messages .msg.ai.streaming')) window.__sawStreaming = true;
             }).observe(document.getElementById('customer-messages'), {childList: true, subtree: true, characterData: true});
             document.getElementById('customer-name').value = 'ana';
             document.getElementById('customer-login').requestSubmit(); true",
        )
        .await;
    customer
        .wait_for(
            "the chat to connect",
            "!document.getElementById('customer-chat').hidden && document.getElementById('connection').dataset.state === 'open'",
        )
        .await;
    customer
        .eval(
            "document.getElementById('customer-input').value = 'How do I export all my data?';
             document.getElementById('customer-compose').requestSubmit(); true",
        )
        .await;
    let citations = customer
        .wait_for(
            "a completed answer with citations",
            "(() => { const m = document.querySelector('#customer-messages .msg.ai:not(.streaming)');
                      return m && m.querySelectorAll('.citations li').length ? [...m.querySelectorAll('.citation-title')].map(e => e.textContent) : null; })()",
        )
        .await;
    let titles: Vec<&str> = citations
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        titles
            .iter()
            .any(|t| t.contains("Export") || t.contains("export")),
        "{titles:?}"
    );
    assert_eq!(
        customer.eval("window.__sawStreaming").await,
        true,
        "the answer streamed in"
    );
    let mine = customer
        .eval("(() => { const m = document.querySelector('#customer-messages .msg.customer.mine'); return m && !m.classList.contains('sending') && m.querySelector('.body').textContent; })()")
        .await;
    assert_eq!(
        mine, "How do I export all my data?",
        "the question is shown as sent"
    );

    // She asks for a person.
    customer
        .eval("document.getElementById('ask-human').click(); true")
        .await;
    customer
        .wait_for(
            "the waiting status",
            "document.getElementById('customer-status').textContent.includes('Waiting')",
        )
        .await;

    // Agent, in a second tab: sign in (goes online), open the assigned chat, answer, resolve.
    let mut agent = Tab::open(port, &format!("http://{addr}/#agent")).await;
    agent
        .wait_for(
            "the agent page",
            "document.readyState === 'complete' && !document.getElementById('agent-view').hidden",
        )
        .await;
    agent
        .eval(
            "document.getElementById('agent-name').value = 'bob';
             document.getElementById('agent-login').requestSubmit(); true",
        )
        .await;
    agent
        .wait_for(
            "the assigned chat in the list",
            "(() => { const li = document.querySelector('#agent-mine li[data-id]'); if (li) li.click(); return !!li; })()",
        )
        .await;
    agent
        .wait_for(
            "the chat history",
            "[...document.querySelectorAll('#agent-messages .msg.customer')].some(m => m.textContent.includes('export all my data'))
             && !document.getElementById('agent-input').disabled",
        )
        .await;
    agent
        .eval(
            "document.getElementById('agent-input').value = 'Hi Ana, Settings > Data > Export workspace does it.';
             document.getElementById('agent-compose').requestSubmit(); true",
        )
        .await;
    customer
        .wait_for(
            "the agent's reply",
            "[...document.querySelectorAll('#customer-messages .msg.agent')].some(m => m.textContent.includes('Export workspace does it'))",
        )
        .await;
    agent
        .eval("document.getElementById('agent-resolve').click(); true")
        .await;
    customer
        .wait_for(
            "the resolved status",
            "document.getElementById('customer-status').textContent.startsWith('Resolved')",
        )
        .await;
}
