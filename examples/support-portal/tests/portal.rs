//! The demo server end to end over loopback: the seeded knowledge base, the customer's
//! question answered with a streamed, cited answer over the WebSocket, the hand-off to an
//! agent, and the server without its development login.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failed step fails the test

use std::net::SocketAddr;
use std::time::Duration;

use chat_core::Principal;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use support_portal::app::{self, Portal, StartError};
use support_portal::seed::SeedOutcome;
use support_portal::{Args, ai};
use tokio_tungstenite::tungstenite::Message;

/// Longest wait for one expected frame.
const FRAME_TIMEOUT: Duration = Duration::from_secs(20);

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn args(db: &std::path::Path, extra: &[&str]) -> Args {
    let mut argv = vec![
        "support-portal".to_owned(),
        "--db".to_owned(),
        db.display().to_string(),
        "--ai".to_owned(),
        "offline".to_owned(),
    ];
    argv.extend(extra.iter().map(|s| (*s).to_owned()));
    <Args as clap::Parser>::try_parse_from(argv).unwrap()
}

async fn build(args: &Args) -> Result<Portal, StartError> {
    let choice = ai::choose(args.ai, |_| None).unwrap();
    app::build(args, &choice).await
}

/// Serves a portal on a free loopback port until the test ends.
async fn serve(portal: Portal) -> SocketAddr {
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

async fn rest(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = client.request(method, url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn login(client: &reqwest::Client, addr: SocketAddr, user: &str, role: &str) -> String {
    let (status, body) = rest(
        client,
        reqwest::Method::POST,
        format!("http://{addr}/api/v1/dev/login"),
        None,
        Some(json!({"user_id": user, "role": role})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

async fn connect(addr: SocketAddr, token: &str, session: &str) -> Ws {
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://{addr}/api/v1/ws?token={token}"))
            .await
            .unwrap();
    send(
        &mut ws,
        json!({"type": "join", "session_id": session, "after_seq": 0}),
    )
    .await;
    next_where(&mut ws, |f| f["type"] == "joined").await;
    ws
}

async fn send(ws: &mut Ws, frame: Value) {
    ws.send(Message::text(frame.to_string())).await.unwrap();
}

/// The next frame matching `want`; every frame read before it is returned too.
async fn next_where(ws: &mut Ws, want: impl Fn(&Value) -> bool) -> (Value, Vec<Value>) {
    let mut seen = Vec::new();
    loop {
        let message = tokio::time::timeout(FRAME_TIMEOUT, ws.next())
            .await
            .unwrap_or_else(|_| panic!("no expected frame; saw {seen:#?}"))
            .expect("the socket stays open")
            .unwrap();
        if let Message::Text(text) = message {
            let frame: Value = serde_json::from_str(text.as_str()).unwrap();
            assert_ne!(frame["type"], "error", "{frame}");
            if want(&frame) {
                return (frame, seen);
            }
            seen.push(frame);
        }
    }
}

fn event_kind(frame: &Value) -> &str {
    frame["event"]["kind"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn the_knowledge_base_is_seeded_once() {
    let dir = tempfile::tempdir().unwrap();
    let args = args(&dir.path().join("data/portal.db"), &[]);
    let first = build(&args).await.unwrap();
    assert_eq!(
        first.seed,
        Some(SeedOutcome::Seeded {
            articles: 38,
            faq: 24
        })
    );
    let tenant = chat_core::TenantId::new("tasklane").unwrap();
    let count = |portal: &Portal| {
        let store = portal.engine.store().clone();
        let tenant = tenant.clone();
        async move {
            store
                .list_articles(&tenant, None, 1000)
                .await
                .unwrap()
                .len()
        }
    };
    assert_eq!(count(&first).await, 38);
    let customer = Principal::new(
        tenant.clone(),
        chat_core::UserId::new("c").unwrap(),
        chat_core::Role::Customer,
    );
    let faq = first
        .engine
        .search_faq(&customer, "refund take", None, 5)
        .await
        .unwrap();
    assert!(
        faq.iter()
            .any(|f| f.entry.question == "How long does a refund take?")
    );
    first.store.close().await.unwrap();
    drop(first);

    let second = build(&args).await.unwrap();
    assert_eq!(second.seed, Some(SeedOutcome::AlreadyPresent));
    assert_eq!(count(&second).await, 38, "a restart adds nothing");
    second.store.close().await.unwrap();
}

#[tokio::test]
async fn a_customer_gets_a_streamed_cited_answer_then_an_agent_takes_over() {
    let dir = tempfile::tempdir().unwrap();
    let addr = serve(
        build(&args(&dir.path().join("portal.db"), &[]))
            .await
            .unwrap(),
    )
    .await;
    let http = reqwest::Client::new();

    let page = http.get(format!("http://{addr}/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Tasklane"));

    // The customer opens a support chat and asks over the WebSocket.
    let customer = login(&http, addr, "ana", "customer").await;
    let (status, session) = rest(
        &http,
        reqwest::Method::POST,
        format!("http://{addr}/api/v1/sessions"),
        Some(&customer),
        Some(json!({"kind": "support", "title": "Refund question"})),
    )
    .await;
    assert_eq!(status, 201, "{session}");
    let session_id = session["id"].as_str().unwrap().to_owned();
    let mut ana = connect(addr, &customer, &session_id).await;
    send(
        &mut ana,
        json!({"type": "send", "session_id": session_id, "content": "How long does a refund take?", "client_msg_id": "q1"}),
    )
    .await;
    let (ack, _) = next_where(&mut ana, |f| f["type"] == "ack").await;
    assert_eq!(ack["client_msg_id"], "q1");
    assert_eq!(ack["message"]["sender"], "customer");

    let (done, before) = next_where(&mut ana, |f| event_kind(f) == "ai_completed").await;
    let streamed: String = before
        .iter()
        .filter(|f| event_kind(f) == "ai_delta")
        .map(|f| f["event"]["delta"].as_str().unwrap())
        .collect();
    let answer = &done["event"]["message"];
    assert!(!streamed.is_empty(), "the answer is streamed first");
    assert_eq!(streamed, answer["content"].as_str().unwrap());
    let citations = answer["metadata"]["citations"].as_array().unwrap();
    let content = answer["content"].as_str().unwrap();
    assert!(!citations.is_empty(), "{answer}");
    for citation in citations {
        let marker = format!("[{}]", citation["index"]);
        assert!(content.contains(&marker), "{marker} is cited: {answer}");
    }
    assert!(
        citations
            .iter()
            .any(|c| c["title"] == "Refund policy" || c["title"] == "How long does a refund take?"),
        "{citations:#?}"
    );
    assert_eq!(answer["metadata"]["offline"], true);

    // She asks for a person; an agent comes online, gets the chat and answers.
    let (status, escalated) = rest(
        &http,
        reqwest::Method::POST,
        format!("http://{addr}/api/v1/sessions/{session_id}/escalate"),
        Some(&customer),
        Some(json!({"reason": "I want a person"})),
    )
    .await;
    assert_eq!(status, 200, "{escalated}");
    assert_eq!(escalated["status"], "waiting_for_agent");
    let agent = login(&http, addr, "bob", "agent").await;
    let (status, _) = rest(
        &http,
        reqwest::Method::PUT,
        format!("http://{addr}/api/v1/agents/me/availability"),
        Some(&agent),
        Some(json!({"availability": "online", "max_concurrent": 5})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, mine) = rest(
        &http,
        reqwest::Method::GET,
        format!("http://{addr}/api/v1/sessions?status=assigned&assigned_to=bob"),
        Some(&agent),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(mine["sessions"][0]["id"], session_id.as_str(), "{mine}");

    let mut bob = connect(addr, &agent, &session_id).await;
    send(
        &mut bob,
        json!({"type": "send", "session_id": session_id, "content": "Hi Ana, I checked: your refund left today.", "client_msg_id": "a1"}),
    )
    .await;
    next_where(&mut bob, |f| f["type"] == "ack").await;
    let (delivered, _) = next_where(&mut ana, |f| {
        event_kind(f) == "message_created" && f["event"]["message"]["sender"] == "agent"
    })
    .await;
    assert_eq!(delivered["event"]["message"]["sender_id"], "bob");

    let (status, resolved) = rest(
        &http,
        reqwest::Method::POST,
        format!("http://{addr}/api/v1/sessions/{session_id}/resolve"),
        Some(&agent),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 200, "{resolved}");
    assert_eq!(resolved["status"], "resolved");
}

#[tokio::test]
async fn without_dev_auth_there_is_no_dev_login_and_dev_tokens_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("portal.db");
    let missing = build(&args(&db, &["--dev-auth=false"])).await;
    assert!(matches!(missing, Err(StartError::Auth(_))), "{missing:?}");

    let portal = build(&args(
        &db,
        &[
            "--dev-auth=false",
            "--jwt-secret",
            "a-long-test-secret-of-32-bytes!!",
        ],
    ))
    .await
    .unwrap();
    let addr = serve(portal).await;
    let http = reqwest::Client::new();
    let (status, body) = rest(
        &http,
        reqwest::Method::POST,
        format!("http://{addr}/api/v1/dev/login"),
        None,
        Some(json!({"user_id": "ana", "role": "customer"})),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "not_found");
    let (status, body) = rest(
        &http,
        reqwest::Method::POST,
        format!("http://{addr}/api/v1/sessions"),
        Some("dev:customer:ana"),
        Some(json!({"kind": "support"})),
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "unauthorized");
}
