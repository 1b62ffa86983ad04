//! Socket.IO compatibility (feature `socketio`): the npm socket.io-client, unchanged, in
//! polling, upgrade and websocket-only modes, against the router over loopback
//! (tests/js/socketio_client.mjs does join, send with ack, the event, a retry, typing, refusals
//! and a resume after a disconnect).
//!
//! Needs `node` and `npm ci` in tests/js. Without them the test says so and passes, except
//! under CI (`CI` set), where it fails: .ci/run installs them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failed step fails the test

mod common;

use std::path::PathBuf;
use std::process::Stdio;

use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

use chat_core::engine::PostMessage;
use chat_core::{Principal, Role, SessionId, TenantId, UserId};
use common::*;
use serde_json::Value;

fn js_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/js")
}

/// Whether node and the npm packages are there; under CI their absence is a failure.
fn node_ready() -> bool {
    let modules = js_dir().join("node_modules/socket.io-client/package.json");
    let node = std::process::Command::new("node").arg("--version").output();
    let problem = match (node, modules.exists()) {
        (Err(err), _) => Some(format!("`node` cannot run: {err}")),
        (Ok(_), false) => Some(format!(
            "{} is missing: run `npm ci` in {}",
            modules.display(),
            js_dir().display()
        )),
        (Ok(_), true) => None,
    };
    match problem {
        None => true,
        Some(problem) if std::env::var_os("CI").is_some() => {
            panic!("CI is set but the Socket.IO client cannot run: {problem}")
        }
        Some(problem) => {
            eprintln!("SKIPPED: the Socket.IO client tests need node and npm packages: {problem}");
            false
        }
    }
}

async fn run_client(mode: &str) {
    let app = app();
    let alice = customer("alice");
    let session = open_session(&app.router, &alice).await;
    let principal = Principal::new(
        TenantId::new(TENANT).unwrap(),
        UserId::new("alice").unwrap(),
        Role::Customer,
    );
    let id: SessionId = session.parse().unwrap();
    for n in 1..=3 {
        app.engine
            .post_message(&principal, id, PostMessage::new(format!("earlier {n}")))
            .await
            .unwrap();
    }
    let addr = serve(app.router.clone()).await;

    let child = tokio::process::Command::new("node")
        .arg(js_dir().join("socketio_client.mjs"))
        .arg(format!("http://{addr}"))
        .arg(&alice)
        .arg(&session)
        .arg(mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("the node client did not finish in time")
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "node client failed ({mode}):\n{stdout}\n{stderr}"
    );
    let result: Value = serde_json::from_str(stdout.trim()).unwrap();
    let transport = if mode == "polling" {
        "polling"
    } else {
        "websocket"
    };
    assert_eq!(result["transport"], transport, "{result}");
    assert_eq!(result["sent_seq"], 4, "{result}");
    assert_eq!(result["resumed"], serde_json::json!([5, 6]), "{result}");

    // The server saw it: the messages are stored once, and the metrics count the transport.
    let stored = app
        .engine
        .list_messages(&principal, id, 0, 50)
        .await
        .unwrap();
    assert_eq!(stored.messages.len(), 6);
    let metrics = app.metrics.encode();
    assert!(
        metrics.contains(r#"chat_messages_posted_total{transport="socketio",outcome="created"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"chat_connections_opened_total{transport="socketio"} 2"#),
        "{metrics}"
    );
    assert!(
        app.shutdown.drain(Duration::from_secs(5)).await,
        "sockets closed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_io_client_over_long_polling() {
    if node_ready() {
        run_client("polling").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_io_client_upgrading_to_websocket() {
    if node_ready() {
        run_client("upgrade").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_io_client_websocket_only() {
    if node_ready() {
        run_client("websocket").await;
    }
}

/// Starts the node client in a waiting mode (`shutdown`, `expiry`) and returns once it joined
/// the session, with its output lines (the next one is its report).
async fn joined_client(
    addr: std::net::SocketAddr,
    token: &str,
    session: &str,
    mode: &str,
) -> (
    tokio::process::Child,
    tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
) {
    let mut child = tokio::process::Command::new("node")
        .arg(js_dir().join("socketio_client.mjs"))
        .arg(format!("http://{addr}"))
        .arg(token)
        .arg(session)
        .arg(mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("the node client never joined")
        .unwrap();
    assert_eq!(ready.as_deref(), Some("READY"));
    (child, lines)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_disconnects_socket_io_clients() {
    if !node_ready() {
        return;
    }
    let app = app();
    let alice = customer("alice");
    let session = open_session(&app.router, &alice).await;
    let addr = serve(app.router.clone()).await;
    let (mut child, mut lines) = joined_client(addr, &alice, &session, "shutdown").await;
    assert_eq!(app.shutdown.open_connections(), 1);

    app.shutdown.trigger();
    let report = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("the client was not disconnected")
        .unwrap()
        .unwrap();
    let report: Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["disconnect"], "io server disconnect", "{report}");
    assert!(child.wait().await.unwrap().success());
    assert!(app.shutdown.drain(Duration::from_secs(5)).await);
}

/// A socket whose JWT expires gets an `error` event (`unauthorized`) and is disconnected by
/// the server; `exp` counts whole seconds and the leeway is 0 here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_io_clients_are_disconnected_when_their_token_expires() {
    use chat_http_adapter::JwtAuthenticator;
    if !node_ready() {
        return;
    }
    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-test-only";
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let token = |exp: u64| {
        let claims = serde_json::json!({
            "sub": "alice", "tenant": TENANT, "role": "customer", "aud": "chat-api", "exp": exp,
        });
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(SECRET),
        )
        .unwrap()
    };
    let auth = std::sync::Arc::new(
        JwtAuthenticator::hs256(SECRET, "chat-api")
            .unwrap()
            .leeway(0),
    );
    let app = app_with_auth(auth, |c| c);
    let session = open_session(&app.router, &token(now + 600)).await;
    let addr = serve(app.router.clone()).await;
    let (mut child, mut lines) = joined_client(addr, &token(now + 3), &session, "expiry").await;
    let report = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("the client was not disconnected")
        .unwrap()
        .unwrap();
    let report: Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["disconnect"], "io server disconnect", "{report}");
    assert_eq!(report["errors"][0]["code"], "unauthorized", "{report}");
    assert!(child.wait().await.unwrap().success());
}
