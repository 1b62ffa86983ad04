//! The SSE endpoint `GET /api/v1/sessions/{id}/events`, for clients without WebSocket.
//!
//! Resume point: the `Last-Event-ID` header (sent by a reconnecting `EventSource`), else the
//! `after_seq` query parameter, else 0. Each durable event has `id: <seq>`; ephemeral ones
//! (typing, presence, AI deltas) have none, so a reconnect never skips a durable event. The
//! SSE event name is the kind (`message_created`, `ai_delta`, ...) and the data is
//! `{"session_id", "seq", "event": {"kind", ...}}`. After the replay comes `event: joined` with
//! `{"session_id", "last_seq"}` (and `id: <last_seq>`). A failure ends the stream after an
//! `event: error` with `{"code", "message"}`. Keep-alive comments are sent every
//! `sse_keep_alive`; the stream ends on shutdown, and the client reconnects.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use chat_core::SessionId;
use chat_core::engine::SubscriptionItem;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::error::ApiError;
use crate::frames::{ErrorPayload, EventPayload, JoinedPayload, to_json};
use crate::metrics::{Metrics, Transport};
use crate::state::{ApiPath, ApiQuery, AppState, StreamCaller, TOKEN_EXPIRED, time_left};

/// Query of the SSE endpoint.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct EventsQuery {
    /// Resume point when there is no `Last-Event-ID` header.
    after_seq: Option<u64>,
    /// Bearer token, for clients that cannot set headers (`EventSource`).
    #[allow(dead_code)]
    token: Option<String>,
}

/// Server-sent events of a session.
#[utoipa::path(get, path = "/api/v1/sessions/{id}/events", tag = "streaming",
    params(("id" = Uuid, Path, description = "Session id"),
        ("Last-Event-ID" = Option<u64>, Header, description = "The last `seq` seen"),
        EventsQuery),
    responses(
        (status = 200, description = "`text/event-stream`; see the crate documentation", content_type = "text/event-stream")),
    security(("bearer" = [])))]
pub(crate) async fn events(
    State(state): State<Arc<AppState>>,
    StreamCaller(principal, expires_at): StreamCaller,
    ApiPath(id): ApiPath<SessionId>,
    ApiQuery(query): ApiQuery<EventsQuery>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    if state.shutdown().is_triggered() {
        return Err(ApiError::unavailable(
            "the server is shutting down; reconnect elsewhere",
        ));
    }
    let after_seq = match headers.get("last-event-id") {
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .ok_or_else(|| ApiError::invalid_input("Last-Event-ID must be a seq (an integer)"))?,
        None => query.after_seq.unwrap_or(0),
    };
    let subscription = state.engine.subscribe(&principal, id, after_seq).await?;
    let guards = (
        state.shutdown().ticket(),
        state.metrics().connection(Transport::Sse),
    );
    let metrics = state.metrics().clone();
    let shutdown = state.shutdown().clone();
    let mut failed = false;
    let events = subscription
        // After an error item the engine ends the stream; stop at once all the same.
        .take_while(move |item| {
            let go = !failed;
            failed = item.is_err();
            futures::future::ready(go)
        })
        .filter_map(move |item| {
            let _held = &guards;
            let event = match item {
                Ok(SubscriptionItem::Event(event)) => {
                    metrics.event_sent(Transport::Sse);
                    let sse = Event::default()
                        .event(event.kind.name())
                        .data(to_json(&EventPayload::new(&event)));
                    Some(match event.seq {
                        Some(seq) => sse.id(seq.to_string()),
                        None => sse,
                    })
                }
                Ok(SubscriptionItem::CaughtUp { last_seq }) => Some(
                    Event::default()
                        .event("joined")
                        .id(last_seq.to_string())
                        .data(to_json(&JoinedPayload {
                            session_id: id,
                            last_seq,
                        })),
                ),
                Ok(_) => None,
                Err(err) => {
                    metrics.stream_error(Transport::Sse, err.code());
                    Some(Event::default().event("error").data(to_json(&ErrorPayload {
                        code: err.code(),
                        message: &err.to_string(),
                        reference: None,
                    })))
                }
            };
            futures::future::ready(event.map(Ok))
        })
        .take_until(async move { shutdown.triggered().await })
        .boxed();
    let events = until_expiry(events, time_left(expires_at), state.metrics().clone());
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(state.config.sse_keep_alive)))
}

/// Ends `events` when the caller's token expires (`left` from now), with an `error` event
/// (`unauthorized`) last; the client reconnects with a fresh token and its `Last-Event-ID`.
fn until_expiry(
    events: BoxStream<'static, Result<Event, Infallible>>,
    left: Option<Duration>,
    metrics: Metrics,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let expired: BoxFuture<'static, ()> = match left {
        Some(left) => Box::pin(tokio::time::sleep(left)),
        None => Box::pin(std::future::pending()),
    };
    futures::stream::unfold(Some((events, expired)), move |state| {
        let metrics = metrics.clone();
        async move {
            let (mut events, mut expired) = state?;
            tokio::select! {
                item = events.next() => item.map(|item| (item, Some((events, expired)))),
                () = &mut expired => {
                    metrics.stream_error(Transport::Sse, "unauthorized");
                    let event = Event::default().event("error").data(to_json(&ErrorPayload {
                        code: "unauthorized",
                        message: TOKEN_EXPIRED,
                        reference: None,
                    }));
                    Some((Ok(event), None))
                }
            }
        }
    })
}
