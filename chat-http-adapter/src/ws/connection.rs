//! One WebSocket connection: a reader loop handling client frames in order, a writer task
//! draining the bounded outgoing queue, and one forwarder task per joined session.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use bytes::Bytes;
use chat_core::bus::{PresenceState, TypingState};
use chat_core::engine::{PostMessage, SessionSubscription, SubscriptionItem};
use chat_core::{ChatEngine, Principal, SessionId};
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::frames::{ClientFrame, FrameHead, ServerFrame};
use crate::limit::TokenBucket;
use crate::metrics::{Metrics, Transport};
use crate::shutdown::CLOSE_SERVICE_RESTART;
use crate::state::{AppState, TOKEN_EXPIRED, time_left};

/// Why a connection ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Close {
    /// The outgoing queue overflowed.
    SlowConsumer,
    /// The server is shutting down.
    Shutdown,
    /// No incoming traffic for the idle timeout.
    Idle,
    /// A frame over the codec limit.
    TooBig,
    /// The caller's token expired.
    Expired,
    /// The client closed, or the socket failed: nothing more to say.
    ClientGone,
}

impl Close {
    /// The `error` frame (code, message) sent before the close frame, if any.
    fn last_error(self) -> Option<(&'static str, &'static str)> {
        match self {
            Self::SlowConsumer => Some((
                "slow_consumer",
                "the connection fell too far behind and is closed; reconnect and join with the last seq you received",
            )),
            Self::Expired => Some(("unauthorized", TOKEN_EXPIRED)),
            _ => None,
        }
    }

    fn frame(self) -> Option<CloseFrame> {
        let (code, reason) = match self {
            Self::SlowConsumer => (1013, "slow consumer"),
            Self::Shutdown => (CLOSE_SERVICE_RESTART, "service restart"),
            Self::Idle => (1001, "idle timeout"),
            Self::TooBig => (1009, "message too big"),
            Self::Expired => (1008, "token expired"),
            Self::ClientGone => return None,
        };
        Some(CloseFrame {
            code,
            reason: reason.into(),
        })
    }
}

/// The sending side shared by the reader loop and the forwarders.
#[derive(Clone)]
struct Outbox {
    tx: mpsc::Sender<Message>,
    close: Arc<watch::Sender<Option<Close>>>,
    stall: Duration,
    metrics: Metrics,
}

impl Outbox {
    /// Queues a frame, waiting while the queue is full (a replay burst drains as the client
    /// reads). False when the connection is closing, or when the queue stayed full for the
    /// stall timeout: then the client is cut off as a slow consumer. Either way the caller
    /// stops producing.
    async fn push(&self, frame: &ServerFrame<'_>) -> bool {
        let message = Message::Text(frame.to_json().into());
        let message = match self.tx.try_send(message) {
            Ok(()) => return true,
            Err(mpsc::error::TrySendError::Closed(_)) => return false,
            Err(mpsc::error::TrySendError::Full(message)) => message,
        };
        let mut close = self.close.subscribe();
        if close.borrow_and_update().is_some() {
            return false;
        }
        tokio::select! {
            sent = tokio::time::timeout(self.stall, self.tx.send(message)) => match sent {
                Ok(Ok(())) => true,
                Ok(Err(_closed)) => false,
                Err(_stalled) => {
                    self.request_close(Close::SlowConsumer);
                    false
                }
            },
            _ = close.changed() => false,
        }
    }

    /// Asks the writer to close the connection; the first reason wins.
    fn request_close(&self, reason: Close) {
        let first = self.close.send_if_modified(|current| {
            if current.is_none() {
                *current = Some(reason);
                true
            } else {
                false
            }
        });
        if first && reason == Close::SlowConsumer {
            self.metrics.stream_error(Transport::Ws, "slow_consumer");
        }
    }

    fn is_closing(&self) -> bool {
        self.close.borrow().is_some()
    }
}

/// Serves one upgraded connection until it ends.
pub(super) async fn run(
    state: Arc<AppState>,
    principal: Principal,
    expires_at: Option<SystemTime>,
    socket: WebSocket,
) {
    let _ticket = state.shutdown().ticket();
    let _gauge = state.metrics().connection(Transport::Ws);
    let config = &state.config;
    let (sink, stream) = socket.split();
    let (tx, rx) = mpsc::channel(config.ws_queue_capacity);
    let close = Arc::new(watch::Sender::new(None));
    let outbox = Outbox {
        tx,
        close: Arc::clone(&close),
        stall: config.ws_stall_timeout,
        metrics: state.metrics().clone(),
    };
    let mut writer = tokio::spawn(write_loop(
        sink,
        rx,
        Arc::clone(&close),
        config.ws_ping_interval,
        config.write_timeout,
    ));
    let mut connection = Connection {
        bucket: TokenBucket::new(config.ws_rate_limit),
        state: Arc::clone(&state),
        principal,
        outbox,
        joined: HashMap::new(),
    };
    let reason = connection.read_loop(stream, time_left(expires_at)).await;
    // Stop producing before the writer drains what is queued and says goodbye.
    let joined: Vec<SessionId> = connection.joined.keys().copied().collect();
    for task in connection.joined.values() {
        task.abort();
    }
    connection.outbox.request_close(reason);
    let wait = state.config.write_timeout.saturating_mul(2);
    if tokio::time::timeout(wait, &mut writer).await.is_err() {
        writer.abort();
    }
    for session_id in joined {
        connection
            .publish_presence(session_id, PresenceState::Offline)
            .await;
    }
}

struct Connection {
    state: Arc<AppState>,
    principal: Principal,
    outbox: Outbox,
    joined: HashMap<SessionId, JoinHandle<()>>,
    bucket: TokenBucket,
}

impl Connection {
    async fn read_loop(
        &mut self,
        mut stream: SplitStream<WebSocket>,
        time_left: Option<Duration>,
    ) -> Close {
        let idle = self.state.config.ws_idle_timeout;
        // Without an expiry the deadline never comes (a pending future, not a far timer).
        let expired = async move {
            match time_left {
                Some(left) => tokio::time::sleep(left).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(expired);
        let mut shutdown = self.state.shutdown().subscribe();
        let mut close = self.outbox.close.subscribe();
        loop {
            if self.outbox.is_closing() {
                return Close::ClientGone;
            }
            let next = tokio::select! {
                biased;
                _ = close.changed() => continue,
                _ = shutdown.wait_for(|t| *t) => return Close::Shutdown,
                () = &mut expired => return Close::Expired,
                next = tokio::time::timeout(idle, stream.next()) => next,
            };
            let message = match next {
                Err(_elapsed) => return Close::Idle,
                Ok(None) => return Close::ClientGone,
                Ok(Some(Err(err))) => {
                    tracing::debug!(error = %err, "websocket read failed");
                    return if is_capacity_error(&err) {
                        self.state
                            .metrics()
                            .stream_error(Transport::Ws, "too_large");
                        Close::TooBig
                    } else {
                        Close::ClientGone
                    };
                }
                Ok(Some(Ok(message))) => message,
            };
            match message {
                Message::Text(text) => self.handle_text(text.as_str()).await,
                Message::Binary(_) => {
                    self.refuse(
                        "invalid_input",
                        "binary frames are not supported; send JSON text",
                        None,
                    )
                    .await;
                }
                Message::Close(_) => return Close::ClientGone,
                // Pings are answered by the codec; pongs only prove liveness.
                Message::Ping(_) | Message::Pong(_) => {}
            }
        }
    }

    async fn handle_text(&mut self, text: &str) {
        // Every frame spends a token first, so bad frames cannot get past the rate limit: over
        // the limit, an oversized or malformed frame is dropped without an answer, a well-formed
        // one is answered `rate_limited` (with its reference, so the client knows what to retry).
        let limited = self.bucket.take().err();
        let max = self.state.config.ws_max_frame_bytes;
        if text.len() > max {
            if limited.is_none() {
                self.refuse(
                    "too_large",
                    &format!("frames are limited to {max} bytes"),
                    None,
                )
                .await;
            }
            return;
        }
        let value: serde_json::Value = match serde_json::from_str(text) {
            Ok(value) => value,
            Err(err) => {
                if limited.is_none() {
                    self.refuse("invalid_input", &format!("malformed JSON: {err}"), None)
                        .await;
                }
                return;
            }
        };
        let head = FrameHead::deserialize(&value).unwrap_or_default();
        if let Some(wait) = limited {
            self.refuse(
                "rate_limited",
                &format!(
                    "too many frames; this one was dropped, retry in {} ms",
                    wait.as_millis().max(1)
                ),
                head.reference(),
            )
            .await;
            return;
        }
        let frame = match ClientFrame::deserialize(value) {
            Ok(frame) => frame,
            Err(err) => {
                self.refuse("invalid_input", &err.to_string(), head.reference())
                    .await;
                return;
            }
        };
        match frame {
            ClientFrame::Join {
                session_id,
                after_seq,
            } => self.join(session_id, after_seq).await,
            ClientFrame::Leave { session_id } => self.leave(session_id).await,
            ClientFrame::Send {
                session_id,
                content,
                client_msg_id,
            } => self.send(session_id, content, client_msg_id).await,
            ClientFrame::Typing { session_id, state } => self.typing(session_id, state).await,
            ClientFrame::Ping => {
                self.outbox.push(&ServerFrame::Pong).await;
            }
        }
    }

    /// Answers a refused frame with an `error` frame.
    async fn refuse(&self, code: &'static str, message: &str, reference: Option<&str>) {
        self.state.metrics().stream_error(Transport::Ws, code);
        self.outbox
            .push(&ServerFrame::Error {
                code,
                message,
                reference,
            })
            .await;
    }

    async fn join(&mut self, session_id: SessionId, after_seq: u64) {
        let max = self.state.config.ws_max_sessions;
        if !self.joined.contains_key(&session_id) && self.joined.len() >= max {
            self.refuse(
                "conflict",
                &format!("a connection can join at most {max} sessions; leave one first"),
                Some("join"),
            )
            .await;
            return;
        }
        let subscription = match self
            .state
            .engine
            .subscribe(&self.principal, session_id, after_seq)
            .await
        {
            Ok(subscription) => subscription,
            Err(err) => {
                self.refuse(err.code(), &err.to_string(), Some("join"))
                    .await;
                return;
            }
        };
        if let Some(previous) = self.joined.remove(&session_id) {
            previous.abort();
        }
        let task = tokio::spawn(forward(
            subscription,
            session_id,
            self.outbox.clone(),
            self.state.engine.clone(),
            self.principal.clone(),
        ));
        self.joined.insert(session_id, task);
    }

    async fn leave(&mut self, session_id: SessionId) {
        if let Some(task) = self.joined.remove(&session_id) {
            task.abort();
            self.publish_presence(session_id, PresenceState::Offline)
                .await;
        }
    }

    async fn send(&mut self, session_id: SessionId, content: String, key: Option<String>) {
        let mut input = PostMessage::new(content);
        if let Some(key) = &key {
            input = input.client_msg_id(key.clone());
        }
        match self
            .state
            .engine
            .post_message(&self.principal, session_id, input)
            .await
        {
            Ok(outcome) => {
                self.state
                    .metrics()
                    .message_posted(Transport::Ws, outcome.created);
                self.outbox
                    .push(&ServerFrame::Ack {
                        client_msg_id: key.as_deref(),
                        message: &outcome.message,
                    })
                    .await;
            }
            Err(err) => {
                self.refuse(
                    err.code(),
                    &err.to_string(),
                    Some(key.as_deref().unwrap_or("send")),
                )
                .await;
            }
        }
    }

    async fn typing(&mut self, session_id: SessionId, state: TypingState) {
        if let Err(err) = self
            .state
            .engine
            .typing(&self.principal, session_id, state)
            .await
        {
            self.refuse(err.code(), &err.to_string(), Some("typing"))
                .await;
        }
    }

    async fn publish_presence(&self, session_id: SessionId, state: PresenceState) {
        publish_presence(&self.state.engine, &self.principal, session_id, state).await;
    }
}

async fn publish_presence(
    engine: &ChatEngine,
    principal: &Principal,
    session_id: SessionId,
    state: PresenceState,
) {
    if let Err(err) = engine.presence(principal, session_id, state).await {
        tracing::debug!(error = %err, session = %session_id, "presence not published");
    }
}

/// Forwards one session's subscription into the outbox: the replay, `joined`, then live
/// events. Stops when the outbox refuses (the connection is closing) or the subscription ends.
async fn forward(
    mut subscription: SessionSubscription,
    session_id: SessionId,
    outbox: Outbox,
    engine: ChatEngine,
    principal: Principal,
) {
    while let Some(item) = subscription.next().await {
        let delivered = match item {
            Ok(SubscriptionItem::Event(event)) => {
                let pushed = outbox.push(&ServerFrame::event(&event)).await;
                if pushed {
                    outbox.metrics.event_sent(Transport::Ws);
                }
                pushed
            }
            Ok(SubscriptionItem::CaughtUp { last_seq }) => {
                let pushed = outbox
                    .push(&ServerFrame::Joined {
                        session_id,
                        last_seq,
                    })
                    .await;
                if pushed {
                    publish_presence(&engine, &principal, session_id, PresenceState::Online).await;
                }
                pushed
            }
            Ok(_) => true,
            Err(err) => {
                // The subscription ended (store or bus failure): the client joins again.
                outbox.metrics.stream_error(Transport::Ws, err.code());
                outbox
                    .push(&ServerFrame::Error {
                        code: err.code(),
                        message: &err.to_string(),
                        reference: Some("join"),
                    })
                    .await;
                false
            }
        };
        if !delivered {
            return;
        }
    }
}

/// Writes queued frames and pings; on a close request, says goodbye and closes.
async fn write_loop(
    mut sink: SplitSink<WebSocket, Message>,
    mut rx: mpsc::Receiver<Message>,
    close: Arc<watch::Sender<Option<Close>>>,
    ping_every: Duration,
    write_timeout: Duration,
) {
    let mut close_rx = close.subscribe();
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let gone = || {
        close.send_if_modified(|current| {
            if current.is_none() {
                *current = Some(Close::ClientGone);
                true
            } else {
                false
            }
        });
    };
    let reason = loop {
        tokio::select! {
            biased;
            _ = close_rx.changed() => {
                if let Some(reason) = *close_rx.borrow() {
                    break reason;
                }
            }
            message = rx.recv() => match message {
                Some(message) => {
                    if !write(&mut sink, message, write_timeout).await {
                        gone();
                        return;
                    }
                }
                None => break Close::ClientGone,
            },
            _ = ping.tick() => {
                if !write(&mut sink, Message::Ping(Bytes::new()), write_timeout).await {
                    gone();
                    return;
                }
            }
        }
    };
    if reason != Close::SlowConsumer {
        // Acks and events already queued still go out (an in-flight send is acknowledged);
        // a slow consumer's queue is dropped: it resumes from the last seq it received.
        while let Ok(message) = rx.try_recv() {
            if !write(&mut sink, message, write_timeout).await {
                return;
            }
        }
    }
    if let Some((code, message)) = reason.last_error() {
        let frame = ServerFrame::Error {
            code,
            message,
            reference: None,
        };
        let text = Message::Text(frame.to_json().into());
        if !write(&mut sink, text, write_timeout).await {
            return;
        }
    }
    if let Some(frame) = reason.frame() {
        if !write(&mut sink, Message::Close(Some(frame)), write_timeout).await {
            return;
        }
    }
    let _ = tokio::time::timeout(write_timeout, sink.close()).await;
}

/// Writes one frame within the timeout. False when the socket failed or was too slow.
async fn write(
    sink: &mut SplitSink<WebSocket, Message>,
    message: Message,
    timeout: Duration,
) -> bool {
    matches!(
        tokio::time::timeout(timeout, sink.send(message)).await,
        Ok(Ok(()))
    )
}

/// True when the codec refused a message over its size limit. axum hides the codec's error
/// type, so this reads its text (tungstenite's `Error::Capacity`); a test sends an oversized
/// frame and expects the 1009 close, so a change of that text is noticed.
fn is_capacity_error(err: &axum::Error) -> bool {
    err.to_string().contains("Space limit exceeded")
}
