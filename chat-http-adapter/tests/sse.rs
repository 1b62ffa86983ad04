//! The SSE endpoint with a real HTTP client over loopback: replay, live events, resume with
//! `Last-Event-ID`, ephemeral events without id, keep-alive comments, shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failed step fails the test

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use chat_core::bus::TypingState;
use chat_core::engine::PostMessage;
use chat_core::{ChatEngine, Principal, Role, SessionId, TenantId, UserId};
use common::*;
use eventsource_stream::{Event, Eventsource};
use futures::{Stream, StreamExt};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(10);

fn alice() -> Principal {
    Principal::new(
        TenantId::new(TENANT).unwrap(),
        UserId::new("alice").unwrap(),
        Role::Customer,
    )
}

async fn post(engine: &ChatEngine, session: &str, text: &str) -> u64 {
    let id: SessionId = session.parse().unwrap();
    engine
        .post_message(&alice(), id, PostMessage::new(text))
        .await
        .unwrap()
        .message
        .seq
}

async fn open(
    addr: SocketAddr,
    session: &str,
    last_event_id: Option<u64>,
) -> impl Stream<Item = Event> + Unpin {
    let mut request = reqwest::Client::new()
        .get(format!("http://{addr}/api/v1/sessions/{session}/events"))
        .bearer_auth(customer("alice"));
    if let Some(id) = last_event_id {
        request = request.header("Last-Event-ID", id.to_string());
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    Box::pin(response.bytes_stream().eventsource().map(|e| e.unwrap()))
}

async fn next(events: &mut (impl Stream<Item = Event> + Unpin)) -> Event {
    tokio::time::timeout(WAIT, events.next())
        .await
        .expect("no event in time")
        .expect("stream ended")
}

fn data(event: &Event) -> Value {
    serde_json::from_str(&event.data).unwrap()
}

#[tokio::test]
async fn replay_live_and_resume_with_last_event_id() {
    let app = app();
    let session = open_session(&app.router, &customer("alice")).await;
    for n in 1..=3 {
        post(&app.engine, &session, &format!("before {n}")).await;
    }
    let addr = serve(app.router.clone()).await;

    let mut events = open(addr, &session, None).await;
    for seq in 1..=3u64 {
        let event = next(&mut events).await;
        assert_eq!(event.event, "message_created");
        assert_eq!(event.id, seq.to_string());
        let payload = data(&event);
        assert_eq!(payload["seq"], seq);
        assert_eq!(payload["session_id"], session.as_str());
        assert_eq!(
            payload["event"]["message"]["content"],
            format!("before {seq}")
        );
    }
    let joined = next(&mut events).await;
    assert_eq!(joined.event, "joined");
    assert_eq!(data(&joined)["last_seq"], 3);

    // Live: a durable event with its id, an ephemeral one without.
    post(&app.engine, &session, "live 4").await;
    let live = next(&mut events).await;
    assert_eq!(
        (live.event.as_str(), live.id.as_str()),
        ("message_created", "4")
    );
    app.engine
        .typing(&alice(), session.parse().unwrap(), TypingState::Start)
        .await
        .unwrap();
    let typing = next(&mut events).await;
    assert_eq!(typing.event, "typing");
    // eventsource-stream keeps the last id seen, as browsers do: the typing event set none.
    assert_eq!(typing.id, "4");
    assert!(data(&typing)["seq"].is_null());
    drop(events);

    // Missed while away: 5 and 6. Resume from 4.
    post(&app.engine, &session, "away 5").await;
    post(&app.engine, &session, "away 6").await;
    let mut resumed = open(addr, &session, Some(4)).await;
    let mut seqs = Vec::new();
    loop {
        let event = next(&mut resumed).await;
        if event.event == "joined" {
            assert_eq!(data(&event)["last_seq"], 6);
            break;
        }
        seqs.push(data(&event)["seq"].as_u64().unwrap());
    }
    assert_eq!(seqs, [5, 6]);
    post(&app.engine, &session, "live 7").await;
    assert_eq!(next(&mut resumed).await.id, "7");
}

#[tokio::test]
async fn query_token_and_after_seq_work_for_event_source_clients() {
    let app = app();
    let session = open_session(&app.router, &customer("alice")).await;
    post(&app.engine, &session, "one").await;
    post(&app.engine, &session, "two").await;
    let addr = serve(app.router.clone()).await;
    let token = customer("alice").replace(':', "%3A");
    let response = reqwest::get(format!(
        "http://{addr}/api/v1/sessions/{session}/events?after_seq=1&token={token}"
    ))
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    let mut events = Box::pin(response.bytes_stream().eventsource().map(|e| e.unwrap()));
    assert_eq!(next(&mut events).await.id, "2");
    assert_eq!(next(&mut events).await.event, "joined");
}

#[tokio::test]
async fn refusals_are_json_errors() {
    let app = app();
    let session = open_session(&app.router, &customer("alice")).await;
    let path = format!("/api/v1/sessions/{session}/events");

    let anonymous = call(&app.router, "GET", &path, None, None).await;
    assert_eq!(anonymous.status, 401);
    let intruder = call(&app.router, "GET", &path, Some(&customer("mallory")), None).await;
    assert_eq!(intruder.status, 403);
    let missing = call(
        &app.router,
        "GET",
        &format!("/api/v1/sessions/{}/events", SessionId::new()),
        Some(&customer("alice")),
        None,
    )
    .await;
    assert_eq!(missing.status, 404);

    let mut request = request("GET", &path, Some(&customer("alice")), None);
    request
        .headers_mut()
        .insert("last-event-id", "abc".parse().unwrap());
    let bad = send(&app.router, request).await;
    assert_eq!(bad.status, 422);
    assert_eq!(bad.code(), "invalid_input");
}

#[tokio::test]
async fn keep_alive_comments_and_shutdown_end_the_stream() {
    let app = app_with(|c| c.sse_keep_alive(Duration::from_millis(150)));
    let session = open_session(&app.router, &customer("alice")).await;
    let addr = serve(app.router.clone()).await;
    let response = reqwest::Client::new()
        .get(format!("http://{addr}/api/v1/sessions/{session}/events"))
        .bearer_auth(customer("alice"))
        .send()
        .await
        .unwrap();
    let mut body = response.bytes_stream();
    let mut text = String::new();
    while !text.contains("\n:") && !text.starts_with(':') {
        let chunk = tokio::time::timeout(WAIT, body.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(text.contains("event: joined"), "{text}");
    assert_eq!(app.shutdown.open_connections(), 1);

    app.shutdown.trigger();
    // The stream ends (the client would reconnect elsewhere with Last-Event-ID).
    let ended = tokio::time::timeout(WAIT, async {
        while let Some(chunk) = body.next().await {
            if chunk.is_err() {
                break;
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the stream did not end on shutdown");
    assert!(app.shutdown.drain(Duration::from_secs(5)).await);
}
