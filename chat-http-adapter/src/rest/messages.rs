//! Messages: a page after a `seq`, and posting with an idempotency key.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chat_core::SessionId;
use chat_core::engine::{MessagePage, PostMessage};
use chat_core::model::ChatMessage;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;
use crate::metrics::Transport;
use crate::openapi::schemas;
use crate::state::{ApiJson, ApiPath, ApiQuery, AppState, Caller};

/// Query of `GET /api/v1/sessions/{id}/messages`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListMessagesQuery {
    /// Return messages with a greater `seq` (default 0: from the start).
    after_seq: Option<u64>,
    /// Page size (default 50, at most 200).
    limit: Option<u32>,
}

/// Body of `POST /api/v1/sessions/{id}/messages`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PostMessageBody {
    /// The text (UTF-8, at most 16 KiB by default).
    content: String,
    /// Idempotency key chosen by the client: a retry with the same key returns the first
    /// message (200) instead of posting twice.
    client_msg_id: Option<String>,
}

/// Messages after `after_seq`, in `seq` order (internal notes only for staff).
#[utoipa::path(get, path = "/api/v1/sessions/{id}/messages", tag = "messages",
    params(("id" = Uuid, Path, description = "Session id"), ListMessagesQuery),
    responses(
        (status = 200, description = "`{messages, next_after_seq, has_more}`", body = schemas::MessagePage)),
    security(("bearer" = [])))]
pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    Caller(principal): Caller,
    ApiPath(id): ApiPath<SessionId>,
    ApiQuery(query): ApiQuery<ListMessagesQuery>,
) -> Result<Json<MessagePage>, ApiError> {
    let page = state
        .engine
        .list_messages(
            &principal,
            id,
            query.after_seq.unwrap_or(0),
            query.limit.unwrap_or(0),
        )
        .await?;
    Ok(Json(page))
}

/// Posts a message. 201 with the new message; 200 with the first one when `client_msg_id`
/// was already used by the caller in this session.
#[utoipa::path(post, path = "/api/v1/sessions/{id}/messages", tag = "messages",
    params(("id" = Uuid, Path, description = "Session id")),
    request_body = PostMessageBody,
    responses(
        (status = 201, description = "The new message", body = schemas::Message),
        (status = 200, description = "A retry: the message first stored with this `client_msg_id`", body = schemas::Message),
        (status = 409, description = "`client_msg_id` used by someone else", body = crate::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn post(
    State(state): State<Arc<AppState>>,
    Caller(principal): Caller,
    ApiPath(id): ApiPath<SessionId>,
    ApiJson(body): ApiJson<PostMessageBody>,
) -> Result<(StatusCode, Json<ChatMessage>), ApiError> {
    let mut input = PostMessage::new(body.content);
    if let Some(key) = body.client_msg_id {
        input = input.client_msg_id(key);
    }
    let outcome = state.engine.post_message(&principal, id, input).await?;
    state
        .metrics()
        .message_posted(Transport::Rest, outcome.created);
    let status = if outcome.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(outcome.message)))
}
