//! Socket.IO (feature `socketio`, served by socketioxide) so that existing socket.io-client
//! front ends connect unchanged: namespace `/chat` at `/socket.io/`, polling and WebSocket
//! transports, the same engine operations and limits as the WebSocket endpoint.
//!
//! Authentication: `io("/chat", {auth: {token}})`, or the `Authorization: Bearer` header, or
//! `?token=` in the connection URL. A refused connection gets `connect_error` with the reason.
//!
//! Client events (payloads are JSON objects; every one may take an acknowledgement callback):
//! - `join-session {session_id, after_seq}`: replays the events after `after_seq`, then
//!   `joined {session_id, last_seq}` and live events; ack `{ok: true, last_seq}`.
//! - `leave-session {session_id}`: ack `{ok: true}`.
//! - `send-message {session_id, content, client_msg_id}`: ack `{ok: true, message}` after the
//!   commit.
//! - `typing-start {session_id}`, `typing-stop {session_id}`.
//!
//! A refused event gets the ack `{ok: false, error: {code, message}}`, or, without an ack
//! callback, an `error {code, message, ref}` event. Server events are the engine's kinds with
//! `-` for `_` (`message-created`, `ai-delta`, `ai-completed`, `typing`, `presence`,
//! `document-status`, `url-status`, `session-updated`, `assignment-changed`) with the payload
//! `{session_id, seq, event}`.
//!
//! Slow consumers: socketioxide buffers `ws_queue_capacity` packets per socket; when an event
//! finds the buffer full for `ws_stall_timeout`, the socket is disconnected and the client
//! (which reconnects by itself) joins again with the last `seq` it saw. On shutdown every
//! socket is disconnected.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chat_core::bus::{PresenceState, TypingState};
use chat_core::engine::{PostMessage, SessionSubscription, SubscriptionItem};
use chat_core::{ChatError, Principal, SessionId};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use socketioxide::extract::{AckSender, SocketRef, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::layer::SocketIoLayer;
use socketioxide::{SendError, SocketError, SocketIo};
use tokio::task::AbortHandle;

use crate::frames::{ErrorPayload, EventPayload, JoinedPayload};
use crate::limit::TokenBucket;
use crate::metrics::{ConnectionGuard, Transport};
use crate::shutdown::Ticket;
use crate::state::{AppState, TOKEN_EXPIRED, time_left};

/// The Socket.IO namespace.
pub(crate) const NAMESPACE: &str = "/chat";

/// What a connected socket holds (in its extensions): its principal, joined sessions, rate
/// limit and the counters that end with it.
struct SocketConn {
    principal: Principal,
    /// When the credentials expire; the socket is disconnected then.
    expires_at: Option<std::time::SystemTime>,
    /// The task that disconnects the socket at `expires_at`, aborted when it disconnects first.
    expiry: Mutex<Option<AbortHandle>>,
    joined: Mutex<HashMap<SessionId, AbortHandle>>,
    bucket: Mutex<TokenBucket>,
    _ticket: Ticket,
    _gauge: ConnectionGuard,
}

#[derive(Clone)]
struct Conn(Arc<SocketConn>);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JoinData {
    session_id: SessionId,
    #[serde(default)]
    after_seq: u64,
}

#[derive(Debug, Deserialize)]
struct SessionData {
    session_id: SessionId,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SendData {
    session_id: SessionId,
    content: String,
    #[serde(default)]
    client_msg_id: Option<String>,
}

#[derive(Debug, Serialize)]
struct Refusal<'a> {
    ok: bool,
    error: ErrorPayload<'a>,
}

/// Why the connection was refused, for `connect_error`.
#[derive(Debug)]
struct ConnectRefused(String);

impl std::fmt::Display for ConnectRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The Socket.IO layer of the router.
pub(crate) fn layer(state: Arc<AppState>) -> SocketIoLayer {
    let config = &state.config;
    let (layer, io) = SocketIo::builder()
        .max_payload(u64::try_from(config.ws_max_message_bytes).unwrap_or(u64::MAX))
        .max_buffer_size(config.ws_queue_capacity)
        .ws_read_buffer_size(config.ws_read_buffer_bytes)
        .ws_max_message_size(config.ws_max_message_bytes)
        .ws_max_frame_size(config.ws_max_message_bytes)
        .build_layer();

    let auth_state = Arc::clone(&state);
    let authenticate = async move |socket: SocketRef, TryData(auth): TryData<Value>| {
        authenticate(&auth_state, &socket, auth.ok()).await
    };
    let connect_state = Arc::clone(&state);
    let watching = Arc::new(AtomicBool::new(false));
    let on_connect = async move |socket: SocketRef, io: SocketIo| {
        // The shutdown watcher starts with the first socket, inside the server's runtime
        // (building the router needs none).
        if !watching.swap(true, Ordering::SeqCst) {
            tokio::spawn(disconnect_on_shutdown(connect_state.shutdown().clone(), io));
        }
        register(Arc::clone(&connect_state), &socket);
        if let Some(conn) = conn_of(&socket) {
            if let Some(left) = time_left(conn.expires_at) {
                let task = tokio::spawn(disconnect_at_expiry(
                    Arc::clone(&connect_state),
                    socket,
                    left,
                ));
                *conn.expiry.lock().unwrap_or_else(PoisonError::into_inner) =
                    Some(task.abort_handle());
            }
        }
    };
    io.ns(NAMESPACE, on_connect.with(authenticate));
    layer
}

/// On shutdown, every socket is told to go (socket.io clients reconnect by themselves).
async fn disconnect_on_shutdown(shutdown: crate::Shutdown, io: SocketIo) {
    shutdown.triggered().await;
    if let Some(ns) = io.of(NAMESPACE) {
        if let Err(err) = ns.disconnect().await {
            tracing::debug!(error = %err, "socket.io disconnect on shutdown failed");
        }
    }
}

/// When the token expires, the socket gets an `error` event (`unauthorized`) and is
/// disconnected; the client reconnects with a fresh token.
async fn disconnect_at_expiry(state: Arc<AppState>, socket: SocketRef, left: Duration) {
    tokio::time::sleep(left).await;
    if !socket.connected() {
        return;
    }
    state
        .metrics()
        .stream_error(Transport::SocketIo, "unauthorized");
    let _ = socket.emit(
        "error",
        &ErrorPayload {
            code: "unauthorized",
            message: TOKEN_EXPIRED,
            reference: None,
        },
    );
    if let Err(err) = socket.disconnect() {
        tracing::debug!(error = %err, "socket.io disconnect at token expiry failed");
    }
}

/// The connect middleware: authenticates and stores the principal.
async fn authenticate(
    state: &Arc<AppState>,
    socket: &SocketRef,
    auth: Option<Value>,
) -> Result<(), ConnectRefused> {
    if state.shutdown().is_triggered() {
        return Err(ConnectRefused("the server is shutting down".into()));
    }
    let parts = socket.req_parts();
    let from_auth = auth
        .as_ref()
        .and_then(|a| a.get("token"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let authenticated = match from_auth {
        Some(token) => state
            .config
            .authenticator
            .authenticate_stream(crate::auth::AuthRequest::new(parts, Some(&token)))
            .await
            .map_err(|e| ConnectRefused(e.to_string())),
        None => state
            .authenticate_stream(parts)
            .await
            .map_err(|e| ConnectRefused(e.message().to_owned())),
    }?;
    let principal = authenticated.principal;
    state
        .check_rate(&principal)
        .map_err(|e| ConnectRefused(e.message().to_owned()))?;
    let conn = Conn(Arc::new(SocketConn {
        principal,
        expires_at: authenticated.expires_at,
        expiry: Mutex::new(None),
        joined: Mutex::new(HashMap::new()),
        bucket: Mutex::new(TokenBucket::new(state.config.ws_rate_limit)),
        _ticket: state.shutdown().ticket(),
        _gauge: state.metrics().connection(Transport::SocketIo),
    }));
    socket.extensions.insert(conn);
    Ok(())
}

fn conn_of(socket: &SocketRef) -> Option<Arc<SocketConn>> {
    socket.extensions.get::<Conn>().map(|c| c.0)
}

/// Registers the event handlers of a connected socket.
fn register(state: Arc<AppState>, socket: &SocketRef) {
    let st = Arc::clone(&state);
    socket.on(
        "join-session",
        async move |socket: SocketRef, TryData(data): TryData<JoinData>, ack: AckSender| {
            let Some(conn) = admit(&st, &socket) else {
                return;
            };
            match data {
                Ok(data) => join(&st, &socket, conn, data, ack).await,
                Err(err) => refuse(
                    &st,
                    &socket,
                    ack,
                    "invalid_input",
                    &err.to_string(),
                    Some("join-session"),
                ),
            }
        },
    );
    let st = Arc::clone(&state);
    socket.on(
        "leave-session",
        async move |socket: SocketRef, TryData(data): TryData<SessionData>, ack: AckSender| {
            let Some(conn) = admit(&st, &socket) else {
                return;
            };
            match data {
                Ok(data) => {
                    leave(&st, &conn, data.session_id).await;
                    let _ = ack.send(&json!({"ok": true}));
                }
                Err(err) => refuse(
                    &st,
                    &socket,
                    ack,
                    "invalid_input",
                    &err.to_string(),
                    Some("leave-session"),
                ),
            }
        },
    );
    let st = Arc::clone(&state);
    socket.on(
        "send-message",
        async move |socket: SocketRef, TryData(data): TryData<SendData>, ack: AckSender| {
            let Some(conn) = admit(&st, &socket) else {
                return;
            };
            let data = match data {
                Ok(data) => data,
                Err(err) => {
                    refuse(
                        &st,
                        &socket,
                        ack,
                        "invalid_input",
                        &err.to_string(),
                        Some("send-message"),
                    );
                    return;
                }
            };
            let reference = data
                .client_msg_id
                .clone()
                .unwrap_or_else(|| "send-message".into());
            let mut input = PostMessage::new(data.content);
            if let Some(key) = data.client_msg_id {
                input = input.client_msg_id(key);
            }
            match st
                .engine
                .post_message(&conn.principal, data.session_id, input)
                .await
            {
                Ok(outcome) => {
                    st.metrics()
                        .message_posted(Transport::SocketIo, outcome.created);
                    let _ = ack.send(&json!({"ok": true, "message": outcome.message}));
                }
                Err(err) => refuse_with(&st, &socket, ack, &err, &reference),
            }
        },
    );
    for (event, typing) in [
        ("typing-start", TypingState::Start),
        ("typing-stop", TypingState::Stop),
    ] {
        let st = Arc::clone(&state);
        socket.on(
            event,
            async move |socket: SocketRef, TryData(data): TryData<SessionData>, ack: AckSender| {
                let Some(conn) = admit(&st, &socket) else {
                    return;
                };
                match data {
                    Ok(data) => match st
                        .engine
                        .typing(&conn.principal, data.session_id, typing)
                        .await
                    {
                        Ok(()) => {
                            let _ = ack.send(&json!({"ok": true}));
                        }
                        Err(err) => refuse_with(&st, &socket, ack, &err, event),
                    },
                    Err(err) => refuse(
                        &st,
                        &socket,
                        ack,
                        "invalid_input",
                        &err.to_string(),
                        Some(event),
                    ),
                }
            },
        );
    }
    let st = state;
    socket.on_disconnect(async move |socket: SocketRef| {
        let Some(conn) = socket.extensions.remove::<Conn>().map(|c| c.0) else {
            return;
        };
        if let Some(expiry) = conn
            .expiry
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            expiry.abort();
        }
        let joined: Vec<SessionId> = {
            let mut joined = conn.joined.lock().unwrap_or_else(PoisonError::into_inner);
            joined
                .drain()
                .map(|(id, task)| {
                    task.abort();
                    id
                })
                .collect()
        };
        for session_id in joined {
            presence(&st, &conn.principal, session_id, PresenceState::Offline).await;
        }
    });
}

/// The socket's connection state, after its rate limit; refuses (and returns `None`) when the
/// socket sends too fast.
fn admit(state: &Arc<AppState>, socket: &SocketRef) -> Option<Arc<SocketConn>> {
    let conn = conn_of(socket)?;
    let limited = conn
        .bucket
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    if let Err(wait) = limited {
        state
            .metrics()
            .stream_error(Transport::SocketIo, "rate_limited");
        let message = format!(
            "too many events; this one was dropped, retry in {} ms",
            wait.as_millis().max(1)
        );
        let _ = socket.emit(
            "error",
            &ErrorPayload {
                code: "rate_limited",
                message: &message,
                reference: None,
            },
        );
        return None;
    }
    Some(conn)
}

fn refuse_with(
    state: &Arc<AppState>,
    socket: &SocketRef,
    ack: AckSender,
    err: &ChatError,
    reference: &str,
) {
    refuse(
        state,
        socket,
        ack,
        err.code(),
        &err.to_string(),
        Some(reference),
    );
}

/// Answers a refused event: in its ack when it has one, else with an `error` event.
fn refuse(
    state: &Arc<AppState>,
    socket: &SocketRef,
    ack: AckSender,
    code: &'static str,
    message: &str,
    reference: Option<&str>,
) {
    state.metrics().stream_error(Transport::SocketIo, code);
    let error = ErrorPayload {
        code,
        message,
        reference,
    };
    if ack.send(&Refusal { ok: false, error }).is_err() {
        let _ = socket.emit(
            "error",
            &ErrorPayload {
                code,
                message,
                reference,
            },
        );
    }
}

async fn join(
    state: &Arc<AppState>,
    socket: &SocketRef,
    conn: Arc<SocketConn>,
    data: JoinData,
    ack: AckSender,
) {
    let max = state.config.ws_max_sessions;
    {
        let joined = conn.joined.lock().unwrap_or_else(PoisonError::into_inner);
        if !joined.contains_key(&data.session_id) && joined.len() >= max {
            drop(joined);
            let message = format!("a connection can join at most {max} sessions; leave one first");
            refuse(
                state,
                socket,
                ack,
                "conflict",
                &message,
                Some("join-session"),
            );
            return;
        }
    }
    let subscription = match state
        .engine
        .subscribe(&conn.principal, data.session_id, data.after_seq)
        .await
    {
        Ok(subscription) => subscription,
        Err(err) => {
            refuse_with(state, socket, ack, &err, "join-session");
            return;
        }
    };
    let task = tokio::spawn(forward(
        Arc::clone(state),
        socket.clone(),
        Arc::clone(&conn),
        subscription,
        data.session_id,
        ack,
    ));
    let previous = conn
        .joined
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(data.session_id, task.abort_handle());
    if let Some(previous) = previous {
        previous.abort();
    }
}

async fn leave(state: &Arc<AppState>, conn: &SocketConn, session_id: SessionId) {
    let task = conn
        .joined
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(&session_id);
    if let Some(task) = task {
        task.abort();
        presence(state, &conn.principal, session_id, PresenceState::Offline).await;
    }
}

async fn presence(
    state: &Arc<AppState>,
    principal: &Principal,
    session_id: SessionId,
    presence: PresenceState,
) {
    if let Err(err) = state.engine.presence(principal, session_id, presence).await {
        tracing::debug!(error = %err, session = %session_id, "presence not published");
    }
}

/// Emits one session's subscription to the socket: replay, `joined` (and the join ack), live.
async fn forward(
    state: Arc<AppState>,
    socket: SocketRef,
    conn: Arc<SocketConn>,
    mut subscription: SessionSubscription,
    session_id: SessionId,
    ack: AckSender,
) {
    use futures::StreamExt;
    let mut ack = Some(ack);
    while let Some(item) = subscription.next().await {
        let delivered = match item {
            Ok(SubscriptionItem::Event(event)) => {
                let name = event.kind.name().replace('_', "-");
                let sent = emit(&state, &socket, &name, &EventPayload::new(&event)).await;
                if sent {
                    state.metrics().event_sent(Transport::SocketIo);
                }
                sent
            }
            Ok(SubscriptionItem::CaughtUp { last_seq }) => {
                if let Some(ack) = ack.take() {
                    let _ = ack.send(&json!({"ok": true, "last_seq": last_seq}));
                }
                let sent = emit(
                    &state,
                    &socket,
                    "joined",
                    &JoinedPayload {
                        session_id,
                        last_seq,
                    },
                )
                .await;
                if sent {
                    presence(&state, &conn.principal, session_id, PresenceState::Online).await;
                }
                sent
            }
            Ok(_) => true,
            Err(err) => {
                state
                    .metrics()
                    .stream_error(Transport::SocketIo, err.code());
                let message = err.to_string();
                let _ = socket.emit(
                    "error",
                    &ErrorPayload {
                        code: err.code(),
                        message: &message,
                        reference: Some("join-session"),
                    },
                );
                false
            }
        };
        if !delivered {
            break;
        }
    }
    conn.joined
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(&session_id);
}

/// Emits an event, waiting up to the stall timeout while the socket's buffer is full. When it
/// stays full, the socket is disconnected as a slow consumer. False when nothing more should
/// be sent.
async fn emit<T: Serialize>(
    state: &Arc<AppState>,
    socket: &SocketRef,
    event: &str,
    data: &T,
) -> bool {
    let deadline = tokio::time::Instant::now() + state.config.ws_stall_timeout;
    loop {
        match socket.emit(event, data) {
            Ok(()) => return true,
            Err(SendError::Socket(SocketError::InternalChannelFull)) => {
                if tokio::time::Instant::now() >= deadline {
                    state
                        .metrics()
                        .stream_error(Transport::SocketIo, "slow_consumer");
                    let _ = socket.clone().disconnect();
                    return false;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            Err(err) => {
                tracing::debug!(error = %err, "socket.io emit failed");
                return false;
            }
        }
    }
}
