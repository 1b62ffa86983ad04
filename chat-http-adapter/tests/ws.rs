//! The WebSocket protocol with a real client (tokio-tungstenite) over loopback: join with
//! resume, send and ack, events, presence, typing, limits answered with error frames, idle
//! timeout, slow consumers, shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failed step fails the test

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use chat_core::engine::PostMessage;
use chat_core::{ChatEngine, Principal, Role, SessionId, TenantId, UserId};
use chat_http_adapter::RateLimit;
use common::*;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

const WAIT: Duration = Duration::from_secs(10);

async fn connect(addr: SocketAddr, token: &str) -> Client {
    let mut request = format!("ws://{addr}/api/v1/ws")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (ws, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.status(), 101);
    ws
}

async fn send(ws: &mut Client, frame: Value) {
    ws.send(Message::text(frame.to_string())).await.unwrap();
}

/// Sends a `join` of `session` from its start.
async fn join(ws: &mut Client, session: &str) {
    send(
        ws,
        json!({"type": "join", "session_id": session, "after_seq": 0}),
    )
    .await;
}

/// The next JSON frame (pings and pongs skipped); panics on close or after the wait.
async fn next(ws: &mut Client) -> Value {
    loop {
        let message = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("no frame in time")
            .expect("connection ended")
            .expect("read failed");
        match message {
            Message::Text(text) => return serde_json::from_str(text.as_str()).unwrap(),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// Frames until one matches.
async fn next_where(ws: &mut Client, want: impl Fn(&Value) -> bool) -> Value {
    loop {
        let frame = next(ws).await;
        if want(&frame) {
            return frame;
        }
    }
}

/// Reads until the close frame and returns its code.
async fn close_code(ws: &mut Client) -> (u16, String) {
    loop {
        match tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("no close in time")
        {
            Some(Ok(Message::Close(Some(frame)))) => {
                return (u16::from(frame.code), frame.reason.to_string());
            }
            Some(Ok(Message::Close(None))) | None => return (1005, String::new()),
            Some(Ok(_)) => {}
            Some(Err(err)) => panic!("read failed before the close frame: {err}"),
        }
    }
}

fn principal(role: Role, user: &str) -> Principal {
    Principal::new(
        TenantId::new(TENANT).unwrap(),
        UserId::new(user).unwrap(),
        role,
    )
}

async fn post(engine: &ChatEngine, who: &Principal, session: &str, content: String) -> u64 {
    let id: SessionId = session.parse().unwrap();
    engine
        .post_message(who, id, PostMessage::new(content))
        .await
        .unwrap()
        .message
        .seq
}

fn is_event(kind: &str) -> impl Fn(&Value) -> bool + '_ {
    move |f| f["type"] == "event" && f["event"]["kind"] == kind
}

#[tokio::test]
async fn join_send_ack_and_events_reach_every_participant() {
    let app = app();
    let alice = customer("alice");
    let session = open_session(&app.router, &alice).await;
    // One earlier message: the join replays it before `joined`.
    post(
        &app.engine,
        &principal(Role::Customer, "alice"),
        &session,
        "first".into(),
    )
    .await;
    let addr = serve(app.router.clone()).await;

    let mut meg = connect(addr, &manager("meg")).await;
    join(&mut meg, &session).await;
    let replayed = next(&mut meg).await;
    assert_eq!(replayed["type"], "event");
    assert_eq!(replayed["seq"], 1);
    assert_eq!(replayed["event"]["kind"], "message_created");
    assert_eq!(replayed["event"]["message"]["content"], "first");
    let joined = next(&mut meg).await;
    assert_eq!(
        joined,
        json!({"type": "joined", "session_id": session, "last_seq": 1})
    );

    let mut client = connect(addr, &alice).await;
    send(
        &mut client,
        json!({"type": "join", "session_id": session, "after_seq": 1}),
    )
    .await;
    assert_eq!(next(&mut client).await["type"], "joined");
    // Meg sees herself, then Alice come online.
    let online = next_where(&mut meg, |f| {
        is_event("presence")(f) && f["event"]["user_id"] == "alice"
    })
    .await;
    assert_eq!(online["event"]["user_id"], "alice");
    assert_eq!(online["event"]["state"], "online");
    assert!(online["seq"].is_null());

    send(&mut client, json!({"type": "send", "session_id": session, "content": "Where is my refund?", "client_msg_id": "c-1"})).await;
    let ack = next_where(&mut client, |f| f["type"] == "ack").await;
    assert_eq!(ack["client_msg_id"], "c-1");
    assert_eq!(ack["message"]["seq"], 2);
    assert_eq!(ack["message"]["content"], "Where is my refund?");
    let seen = next_where(&mut meg, is_event("message_created")).await;
    assert_eq!(seen["seq"], 2);
    assert_eq!(seen["session_id"], session.as_str());

    // A retry of the same client_msg_id is acknowledged with the same message, not posted again.
    send(&mut client, json!({"type": "send", "session_id": session, "content": "Where is my refund?", "client_msg_id": "c-1"})).await;
    let again = next_where(&mut client, |f| f["type"] == "ack").await;
    assert_eq!(again["message"]["id"], ack["message"]["id"]);

    send(
        &mut client,
        json!({"type": "typing", "session_id": session, "state": "start"}),
    )
    .await;
    let typing = next_where(&mut meg, is_event("typing")).await;
    assert_eq!(typing["event"]["state"], "start");
    assert_eq!(typing["event"]["user_id"], "alice");

    send(&mut client, json!({"type": "ping"})).await;
    assert_eq!(
        next_where(&mut client, |f| f["type"] == "pong").await,
        json!({"type": "pong"})
    );

    // Leaving and disconnecting publish presence offline.
    send(&mut client, json!({"type": "leave", "session_id": session})).await;
    let offline = next_where(&mut meg, is_event("presence")).await;
    assert_eq!(offline["event"]["state"], "offline");
    send(
        &mut client,
        json!({"type": "join", "session_id": session, "after_seq": 2}),
    )
    .await;
    assert_eq!(
        next_where(&mut client, |f| f["type"] == "joined").await["last_seq"],
        2
    );
    assert_eq!(
        next_where(&mut meg, is_event("presence")).await["event"]["state"],
        "online"
    );
    drop(client);
    assert_eq!(
        next_where(&mut meg, is_event("presence")).await["event"]["state"],
        "offline"
    );

    // The second message count shows in the metrics.
    let metrics = app.metrics.encode();
    assert!(
        metrics.contains(r#"chat_messages_posted_total{transport="ws",outcome="created"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"chat_messages_posted_total{transport="ws",outcome="retry"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn resume_after_disconnect_loses_nothing_while_another_client_keeps_posting() {
    const TOTAL: u64 = 300;
    let app = app_with(|c| c.ws_rate_limit(RateLimit::new(100_000, 100_000)));
    let alice = customer("alice");
    let session = open_session(&app.router, &alice).await;
    let addr = serve(app.router.clone()).await;

    // Bob (an agent holding nothing) cannot see it; Alice's second device posts over WebSocket.
    let poster_session = session.clone();
    let poster = tokio::spawn(async move {
        let mut ws = connect(addr, &customer("alice")).await;
        for n in 1..=TOTAL {
            send(&mut ws, json!({"type": "send", "session_id": poster_session, "content": format!("m{n}"), "client_msg_id": format!("k{n}")})).await;
            let ack = next_where(&mut ws, |f| f["type"] == "ack" || f["type"] == "error").await;
            assert_eq!(ack["type"], "ack", "{ack}");
            if n % 10 == 0 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    });

    let mut seen: Vec<u64> = Vec::new();
    let mut last = 0;
    let mut round = 0;
    while last < TOTAL {
        round += 1;
        let mut ws = connect(addr, &alice).await;
        send(
            &mut ws,
            json!({"type": "join", "session_id": session, "after_seq": last}),
        )
        .await;
        // Read a few events (replayed or live), then drop the connection without a goodbye.
        let budget = if round < 5 { 40 } else { usize::MAX };
        let mut taken = 0;
        while taken < budget && last < TOTAL {
            let frame = next(&mut ws).await;
            if frame["type"] == "event" && frame["event"]["kind"] == "message_created" {
                let seq = frame["seq"].as_u64().unwrap();
                seen.push(seq);
                last = seq;
                taken += 1;
            }
        }
        drop(ws);
    }
    poster.await.unwrap();
    assert!(round >= 5, "the test reconnected only {round} times");
    let expected: Vec<u64> = (1..=TOTAL).collect();
    assert_eq!(
        seen, expected,
        "every message once, in order, across {round} connections"
    );
}

#[tokio::test]
async fn refused_frames_get_error_frames_and_the_connection_stays() {
    let app = app_with(|c| {
        c.ws_max_frame_bytes(2048)
            .ws_rate_limit(RateLimit::new(1, 8))
    });
    let alice = customer("alice");
    let session = open_session(&app.router, &alice).await;
    let other = open_session(&app.router, &customer("carol")).await;
    let addr = serve(app.router.clone()).await;
    let mut ws = connect(addr, &alice).await;

    send(&mut ws, json!({"type": "send", "session_id": session, "content": "x".repeat(4000), "client_msg_id": "big"})).await;
    let error = next(&mut ws).await;
    assert_eq!(error["type"], "error");
    assert_eq!(error["code"], "too_large");

    ws.send(Message::text("{not json")).await.unwrap();
    let error = next(&mut ws).await;
    assert_eq!(error["code"], "invalid_input");

    send(&mut ws, json!({"type": "dance"})).await;
    let error = next(&mut ws).await;
    assert_eq!(
        (error["code"].as_str(), error["ref"].as_str()),
        (Some("invalid_input"), Some("dance"))
    );

    ws.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
    assert_eq!(next(&mut ws).await["code"], "invalid_input");

    send(
        &mut ws,
        json!({"type": "send", "session_id": other, "content": "hi", "client_msg_id": "intrude"}),
    )
    .await;
    let error = next(&mut ws).await;
    assert_eq!(
        (error["code"].as_str(), error["ref"].as_str()),
        (Some("forbidden"), Some("intrude"))
    );

    send(
        &mut ws,
        json!({"type": "join", "session_id": SessionId::new(), "after_seq": 0}),
    )
    .await;
    let error = next(&mut ws).await;
    assert_eq!(
        (error["code"].as_str(), error["ref"].as_str()),
        (Some("not_found"), Some("join"))
    );

    // Burst of 8 frames allowed in all (every frame above spends one, refused ones too); then
    // refusals naming the frame, without closing.
    let mut codes = Vec::new();
    for n in 0..6 {
        send(&mut ws, json!({"type": "send", "session_id": session, "content": "hello", "client_msg_id": format!("r{n}")})).await;
        let frame = next(&mut ws).await;
        codes.push((
            frame["type"].as_str().unwrap().to_owned(),
            frame["code"].as_str().unwrap_or("").to_owned(),
            frame["ref"].as_str().unwrap_or("").to_owned(),
        ));
    }
    assert!(codes.iter().any(|(t, _, _)| t == "ack"), "{codes:?}");
    let limited: Vec<_> = codes
        .iter()
        .filter(|(_, code, _)| code == "rate_limited")
        .collect();
    assert!(!limited.is_empty(), "{codes:?}");
    assert!(
        limited.iter().all(|(_, _, r)| r.starts_with('r')),
        "the error names the frame: {codes:?}"
    );

    // Over the limit, garbage gets no answer at all (no free error frames for bad input).
    ws.send(Message::text("{still not json")).await.unwrap();
    ws.send(Message::text("x".repeat(4000))).await.unwrap();

    // Still open: after the bucket refills, a ping is answered, and it is the next frame.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    send(&mut ws, json!({"type": "ping"})).await;
    assert_eq!(next(&mut ws).await["type"], "pong");
    let metrics = app.metrics.encode();
    assert!(
        metrics.contains(r#"chat_stream_errors_total{transport="ws",code="rate_limited"}"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn frames_over_the_codec_limit_close_with_1009() {
    let app = app_with(|c| c.ws_max_frame_bytes(1024).ws_max_message_bytes(4096));
    let addr = serve(app.router.clone()).await;
    let mut ws = connect(addr, &customer("alice")).await;
    ws.send(Message::text("x".repeat(10_000))).await.unwrap();
    assert_eq!(close_code(&mut ws).await.0, 1009);
}

#[tokio::test]
async fn pinged_connections_stay_open_while_the_client_answers() {
    let app = app_with(|c| {
        c.ws_idle_timeout(Duration::from_millis(600))
            .ws_ping_interval(Duration::from_millis(150))
    });
    let addr = serve(app.router.clone()).await;
    // A client that reads answers the server's pings (tungstenite does), so it stays open.
    let mut alive = connect(addr, &customer("alice")).await;
    let deadline = tokio::time::Instant::now() + Duration::from_millis(1500);
    let mut pings = 0;
    while let Ok(message) = tokio::time::timeout_at(deadline, alive.next()).await {
        match message {
            Some(Ok(Message::Ping(_))) => pings += 1,
            other => panic!("the reading client got {other:?}"),
        }
    }
    assert!(pings >= 3, "{pings} pings in 1.5 s");
    send(&mut alive, json!({"type": "ping"})).await;
    assert_eq!(next(&mut alive).await["type"], "pong");
}

#[tokio::test]
async fn idle_connections_are_closed_with_1001() {
    // Pings far apart, so the silent client has nothing to answer before the close frame.
    let app = app_with(|c| {
        c.ws_idle_timeout(Duration::from_millis(400))
            .ws_ping_interval(Duration::from_secs(60))
    });
    let addr = serve(app.router.clone()).await;
    let mut silent = connect(addr, &customer("bob")).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (code, reason) = close_code(&mut silent).await;
    assert_eq!((code, reason.as_str()), (1001, "idle timeout"));
    assert!(
        app.shutdown.drain(Duration::from_secs(2)).await,
        "the connection is gone"
    );
}

#[tokio::test]
async fn unauthenticated_upgrades_are_refused_and_query_tokens_work() {
    let app = app();
    let addr = serve(app.router.clone()).await;
    let refused = tokio_tungstenite::connect_async(format!("ws://{addr}/api/v1/ws")).await;
    match refused {
        Err(WsError::Http(response)) => assert_eq!(response.status(), 401),
        other => panic!("expected 401, got {other:?}"),
    }
    let token = customer("alice").replace(':', "%3A");
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://{addr}/api/v1/ws?token={token}"))
            .await
            .unwrap();
    send(&mut ws, json!({"type": "ping"})).await;
    assert_eq!(next(&mut ws).await["type"], "pong");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_consumer_is_cut_off_without_slowing_others_and_resumes_without_loss() {
    let app = app_with(|c| {
        c.ws_queue_capacity(32)
            .ws_stall_timeout(Duration::from_secs(1))
    });
    let alice = customer("alice");
    let session = open_session(&app.router, &alice).await;
    let addr = serve(app.router.clone()).await;

    // The slow client: a tiny receive buffer, and it stops reading after `joined`.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(addr).await.unwrap();
    let mut request = format!("ws://{addr}/api/v1/ws")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {alice}").parse().unwrap());
    let (slow, _) = tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(stream))
        .await
        .unwrap();
    let mut slow: Client = slow;
    join(&mut slow, &session).await;
    assert_eq!(next(&mut slow).await["type"], "joined");

    // A fast client in the same session reads everything as it comes.
    let mut fast = connect(addr, &manager("meg")).await;
    join(&mut fast, &session).await;
    next_where(&mut fast, |f| f["type"] == "joined").await;
    let fast_reader = tokio::spawn(async move {
        let mut seqs = Vec::new();
        loop {
            let frame = next(&mut fast).await;
            if frame["type"] == "event" && frame["event"]["kind"] == "message_created" {
                let seq = frame["seq"].as_u64().unwrap();
                seqs.push(seq);
                if frame["event"]["message"]["content"]
                    .as_str()
                    .unwrap()
                    .starts_with("last")
                {
                    return seqs;
                }
            }
        }
    });

    // Post big messages until the slow connection overflows.
    let poster = principal(Role::Customer, "alice");
    let body = "y".repeat(12 * 1024);
    let mut posted;
    let overflowed = loop {
        posted = post(&app.engine, &poster, &session, body.clone()).await;
        // A steady pace the fast client keeps up with; the slow one reads nothing.
        tokio::time::sleep(Duration::from_millis(1)).await;
        if app.metrics.encode().contains(r#"code="slow_consumer""#) {
            break true;
        }
        if posted >= 3000 {
            break false;
        }
    };
    assert!(
        overflowed,
        "no overflow after {posted} messages: {}",
        app.metrics.encode()
    );
    let last = post(&app.engine, &poster, &session, "last one".into()).await;
    let fast_seqs = tokio::time::timeout(WAIT, fast_reader)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        fast_seqs,
        (1..=last).collect::<Vec<_>>(),
        "the fast client got everything live"
    );

    // The slow client reads what reached it, then the slow_consumer error and close 1013.
    let mut seen = Vec::new();
    let mut error = None;
    let close = loop {
        match tokio::time::timeout(WAIT, slow.next())
            .await
            .expect("slow client stalled")
        {
            Some(Ok(Message::Text(text))) => {
                let frame: Value = serde_json::from_str(text.as_str()).unwrap();
                if frame["type"] == "event" && frame["event"]["kind"] == "message_created" {
                    seen.push(frame["seq"].as_u64().unwrap());
                } else if frame["type"] == "error" {
                    error = Some(frame);
                }
            }
            Some(Ok(Message::Close(frame))) => break frame.map(|f| (f.code, f.reason.to_string())),
            Some(Ok(_)) => {}
            Some(Err(err)) => panic!("{err}"),
            None => break None,
        }
    };
    assert_eq!(error.unwrap()["code"], "slow_consumer");
    assert_eq!(close, Some((CloseCode::Again, "slow consumer".to_owned())));
    assert!(
        seen.len() < usize::try_from(last).unwrap(),
        "some events were cut off"
    );
    assert_eq!(
        seen,
        (1..=seen.len() as u64).collect::<Vec<_>>(),
        "what arrived is in order"
    );

    // Resuming from the last seq received fills the gap from the store.
    let resume_from = seen.last().copied().unwrap_or(0);
    let mut again = connect(addr, &alice).await;
    send(
        &mut again,
        json!({"type": "join", "session_id": session, "after_seq": resume_from}),
    )
    .await;
    let mut rest = Vec::new();
    loop {
        let frame = next(&mut again).await;
        if frame["type"] == "joined" {
            assert_eq!(frame["last_seq"], last);
            break;
        }
        rest.push(frame["seq"].as_u64().unwrap_or_else(|| panic!("{frame}")));
    }
    seen.extend(rest);
    assert_eq!(seen, (1..=last).collect::<Vec<_>>());
}

#[tokio::test]
async fn shutdown_tells_clients_to_reconnect_with_1012() {
    let app = app();
    let alice = customer("alice");
    let session = open_session(&app.router, &alice).await;
    let addr = serve(app.router.clone()).await;
    let mut ws = connect(addr, &alice).await;
    join(&mut ws, &session).await;
    assert_eq!(next(&mut ws).await["type"], "joined");
    assert_eq!(app.shutdown.open_connections(), 1);

    app.shutdown.trigger();
    let (code, reason) = close_code(&mut ws).await;
    assert_eq!((code, reason.as_str()), (1012, "service restart"));
    assert!(app.shutdown.drain(Duration::from_secs(5)).await);
    assert_eq!(app.shutdown.open_connections(), 0);

    // New upgrades are refused while shutting down.
    let mut request = format!("ws://{addr}/api/v1/ws")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {alice}").parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Err(WsError::Http(response)) => assert_eq!(response.status(), 503),
        other => panic!("expected 503, got {other:?}"),
    }
}

#[tokio::test]
async fn a_send_in_flight_at_shutdown_is_committed_and_acknowledged() {
    let app = app();
    let alice = customer("alice");
    let session = open_session(&app.router, &alice).await;
    let addr = serve(app.router.clone()).await;
    let mut ws = connect(addr, &alice).await;
    // Send and trigger at once: the frame is either handled (ack, then 1012) or never read
    // (1012 only, nothing stored). Never stored without an ack.
    send(&mut ws, json!({"type": "send", "session_id": session, "content": "just in time", "client_msg_id": "late"})).await;
    app.shutdown.trigger();
    let mut acked = false;
    let code = loop {
        match tokio::time::timeout(WAIT, ws.next()).await.unwrap() {
            Some(Ok(Message::Text(text))) => {
                let frame: Value = serde_json::from_str(text.as_str()).unwrap();
                acked |= frame["type"] == "ack";
            }
            Some(Ok(Message::Close(Some(frame)))) => break u16::from(frame.code),
            Some(Ok(_)) => {}
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(code, 1012);
    let stored = app
        .engine
        .list_messages(
            &principal(Role::Customer, "alice"),
            session.parse().unwrap(),
            0,
            10,
        )
        .await
        .unwrap();
    assert_eq!(
        stored.messages.len(),
        usize::from(acked),
        "stored exactly when acknowledged"
    );
}

#[tokio::test]
async fn graceful_serve_stops_on_the_signal_and_drains() {
    let app = app();
    let alice = customer("alice");
    let session = open_session(&app.router, &alice).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let shutdown = app.shutdown.clone();
    let server = tokio::spawn({
        let router = app.router.clone();
        async move {
            shutdown
                .serve(listener, router, async move {
                    let _ = stopped.await;
                })
                .await
        }
    });
    let mut ws = connect(addr, &alice).await;
    join(&mut ws, &session).await;
    assert_eq!(next(&mut ws).await["type"], "joined");
    stop.send(()).unwrap();
    assert_eq!(close_code(&mut ws).await.0, 1012);
    tokio::time::timeout(WAIT, server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(app.shutdown.open_connections(), 0);
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "the listener is closed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn support_and_document_events_reach_the_client() {
    let app = app();
    let alice = customer("alice");
    let session = open_session(&app.router, &alice).await;
    let addr = serve(app.router.clone()).await;
    let mut ws = connect(addr, &alice).await;
    join(&mut ws, &session).await;
    next_where(&mut ws, |f| f["type"] == "joined").await;

    let base = format!("/api/v1/sessions/{session}");
    let reply = call(
        &app.router,
        "POST",
        &format!("{base}/escalate"),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(reply.status, 200);
    let updated = next_where(&mut ws, is_event("session_updated")).await;
    assert_eq!(updated["event"]["status"], "waiting_for_agent");
    assert!(updated["seq"].is_u64());

    let reply = call(
        &app.router,
        "PUT",
        "/api/v1/agents/me/availability",
        Some(&agent("bob")),
        Some(json!({"availability": "online"})),
    )
    .await;
    assert_eq!(reply.status, 200);
    let assigned = next_where(&mut ws, is_event("assignment_changed")).await;
    assert_eq!(assigned["event"]["assignment"]["agent_id"], "bob");

    let boundary = "b0undary";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"faq.txt\"\r\n\r\nOrders ship within two days.\r\n--{boundary}--\r\n"
    );
    let upload = axum::http::Request::post(format!("{base}/documents"))
        .header("authorization", format!("Bearer {alice}"))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(axum::body::Body::from(body))
        .unwrap();
    let reply = common::send(&app.router, upload).await;
    assert_eq!(reply.status, 202, "{}", reply.text);
    let pending = next_where(&mut ws, is_event("document_status")).await;
    assert_eq!(pending["event"]["status"]["state"], "pending");
    let ready = next_where(&mut ws, |f| {
        is_event("document_status")(f) && f["event"]["status"]["state"] == "ready"
    })
    .await;
    assert!(ready["seq"].as_u64().unwrap() > pending["seq"].as_u64().unwrap());
}
