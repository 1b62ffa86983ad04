//! The WebSocket endpoint `GET /api/v1/ws` (API v1 frames, JSON text).
//!
//! Client to server: `join {session_id, after_seq}`, `leave {session_id}`,
//! `send {session_id, content, client_msg_id}`, `typing {session_id, state}`, `ping`.
//! Server to client: `joined {session_id, last_seq}` after the replay, `ack {client_msg_id,
//! message}` after the commit, `event {session_id, seq, event}` for every engine event (durable
//! ones carry their `seq`), `error {code, message, ref}`, `pong`.
//!
//! Behaviour:
//! - `join` replays every durable event after `after_seq` from the store, sends `joined`, then
//!   live events, with no gap and no duplicate (the engine's subscription does the seam), and
//!   publishes `presence online`; `leave` and a disconnect publish `presence offline`. Joining a
//!   joined session again restarts it from the new `after_seq`.
//! - Frames are handled one at a time, in order. A refused frame gets an `error` frame whose
//!   `ref` is its `client_msg_id` or its `type`; the connection stays open. That covers frames
//!   over `ws_max_frame_bytes` (`too_large`), over the per-connection `ws_rate_limit`
//!   (`rate_limited`, frame dropped: resend it later), malformed JSON (`invalid_input`) and
//!   engine refusals (their code). Only frames over the codec limit `ws_max_message_bytes`
//!   close the connection (1009).
//! - Liveness: the server pings every `ws_ping_interval`; a connection with no incoming traffic
//!   (frames or pongs) for `ws_idle_timeout` is closed with 1001 "idle timeout".
//! - Slow consumers: outgoing frames go through a bounded queue of `ws_queue_capacity`, drained
//!   by the connection's writer. Each connection has its own subscription and queue, and the
//!   event bus never waits for a subscriber, so one slow client cannot slow the others. A
//!   full queue first makes that connection's producers wait (a replay burst drains as the
//!   client reads); when it stays full for `ws_stall_timeout`, the connection is cut off: the
//!   queued frames are dropped, the client gets an `error` frame `slow_consumer` (when the
//!   socket can still take it within `write_timeout`) and a close frame 1013 "slow consumer".
//!   The client reconnects and joins with the last `seq` it received; the replay fills the gap
//!   from the store, so nothing is lost.
//! - Shutdown: the frame in progress finishes (a `send` is committed and acknowledged), then
//!   the client gets a close frame 1012 "service restart" and should reconnect.
//! - Token expiry: when the credentials the connection was opened with expire
//!   ([`crate::Authenticator::authenticate_stream`]), queued frames go out, then an `error`
//!   frame `unauthorized` and a close frame 1008 "token expired"; the client reconnects with a
//!   fresh token and joins with its last `seq`.

mod connection;

use std::sync::Arc;

use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::state::{AppState, StreamCaller};

/// The WebSocket endpoint.
#[utoipa::path(get, path = "/api/v1/ws", tag = "streaming",
    description = "WebSocket upgrade (token in `Authorization: Bearer` or `?token=`). Frames: see the crate documentation.",
    params(("token" = Option<String>, Query, description = "Bearer token, for clients that cannot set headers")),
    responses(
        (status = 101, description = "Switching protocols"),
        (status = 422, description = "Not a WebSocket upgrade request", body = crate::ErrorBody),
        (status = 503, description = "Shutting down", body = crate::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn upgrade(
    State(state): State<Arc<AppState>>,
    StreamCaller(principal, expires_at): StreamCaller,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    if state.shutdown().is_triggered() {
        return ApiError::unavailable("the server is shutting down; reconnect elsewhere")
            .into_response();
    }
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => {
            return ApiError::invalid_input(format!(
                "expected a WebSocket upgrade: {}",
                rejection.body_text()
            ))
            .into_response();
        }
    };
    let config = &state.config;
    ws.read_buffer_size(config.ws_read_buffer_bytes)
        .write_buffer_size(config.ws_write_buffer_bytes)
        .max_message_size(config.ws_max_message_bytes)
        .max_frame_size(config.ws_max_message_bytes)
        .on_upgrade(move |socket| connection::run(state, principal, expires_at, socket))
}
