//! Support actions (escalate, assign, transfer, notes, resolve, hand back) and agent
//! availability.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chat_core::model::{Agent, AgentAvailability, ChatMessage, ChatSession, SupportAssignment};
use chat_core::{SessionId, UserId};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::openapi::schemas;
use crate::state::{ApiJson, ApiPath, AppState, Caller, OptionalJson};

/// Body of `escalate` (may be omitted).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EscalateBody {
    /// Why (stored as an internal note).
    reason: Option<String>,
}

/// Body of `assign`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AssignBody {
    /// The agent who takes the session (agents may only name themselves).
    #[schema(value_type = String)]
    agent_id: UserId,
}

/// Body of `transfer`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TransferBody {
    /// The agent who receives the session.
    #[schema(value_type = String)]
    agent_id: UserId,
    /// Note for the next agent (stored as an internal note).
    note: Option<String>,
}

/// Body of `notes`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NoteBody {
    /// The note (never shown to customers).
    content: String,
}

/// Body of `PUT /api/v1/agents/me/availability`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AvailabilityBody {
    /// `online`, `away` or `offline`.
    #[schema(value_type = String, example = "online")]
    availability: AgentAvailability,
    /// Most chats at once (1 to 100).
    max_concurrent: Option<u32>,
}

/// Asks for more help: a general chat becomes a support chat waiting for an agent; a chat
/// held by an agent is escalated to a manager. The body may be omitted.
#[utoipa::path(post, path = "/api/v1/sessions/{id}/escalate", tag = "support",
    params(("id" = Uuid, Path, description = "Session id")),
    request_body(content = Option<EscalateBody>, description = "Optional"),
    responses(
        (status = 200, description = "The session after the change", body = schemas::Session),
        (status = 409, description = "Closed, or no manager free", body = crate::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn escalate(
    State(state): State<Arc<AppState>>,
    Caller(principal): Caller,
    ApiPath(id): ApiPath<SessionId>,
    OptionalJson(body): OptionalJson<EscalateBody>,
) -> Result<Json<ChatSession>, ApiError> {
    Ok(Json(
        state.engine.escalate(&principal, id, body.reason).await?,
    ))
}

/// Assigns the session to an agent (staff; agents only take chats themselves).
#[utoipa::path(post, path = "/api/v1/sessions/{id}/assign", tag = "support",
    params(("id" = Uuid, Path, description = "Session id")),
    request_body = AssignBody,
    responses(
        (status = 200, description = "The assignment", body = schemas::Assignment),
        (status = 409, description = "Already assigned, agent at capacity, or closed", body = crate::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn assign(
    State(state): State<Arc<AppState>>,
    Caller(principal): Caller,
    ApiPath(id): ApiPath<SessionId>,
    ApiJson(body): ApiJson<AssignBody>,
) -> Result<Json<SupportAssignment>, ApiError> {
    Ok(Json(
        state.engine.assign(&principal, id, body.agent_id).await?,
    ))
}

/// Transfers the session to another agent (the holding agent or a manager).
#[utoipa::path(post, path = "/api/v1/sessions/{id}/transfer", tag = "support",
    params(("id" = Uuid, Path, description = "Session id")),
    request_body = TransferBody,
    responses(
        (status = 200, description = "The new assignment", body = schemas::Assignment)),
    security(("bearer" = [])))]
pub(crate) async fn transfer(
    State(state): State<Arc<AppState>>,
    Caller(principal): Caller,
    ApiPath(id): ApiPath<SessionId>,
    ApiJson(body): ApiJson<TransferBody>,
) -> Result<Json<SupportAssignment>, ApiError> {
    Ok(Json(
        state
            .engine
            .transfer(&principal, id, body.agent_id, body.note)
            .await?,
    ))
}

/// Adds an internal note (staff; never shown to customers).
#[utoipa::path(post, path = "/api/v1/sessions/{id}/notes", tag = "support",
    params(("id" = Uuid, Path, description = "Session id")),
    request_body = NoteBody,
    responses(
        (status = 201, description = "The note (a message with visibility `internal`)", body = schemas::Message)),
    security(("bearer" = [])))]
pub(crate) async fn add_note(
    State(state): State<Arc<AppState>>,
    Caller(principal): Caller,
    ApiPath(id): ApiPath<SessionId>,
    ApiJson(body): ApiJson<NoteBody>,
) -> Result<(StatusCode, Json<ChatMessage>), ApiError> {
    let note = state.engine.add_note(&principal, id, body.content).await?;
    Ok((StatusCode::CREATED, Json(note)))
}

/// Marks the session resolved (the customer, the holding agent or a manager).
#[utoipa::path(post, path = "/api/v1/sessions/{id}/resolve", tag = "support",
    params(("id" = Uuid, Path, description = "Session id")),
    responses(
        (status = 200, description = "The session after the change", body = schemas::Session)),
    security(("bearer" = [])))]
pub(crate) async fn resolve(
    State(state): State<Arc<AppState>>,
    Caller(principal): Caller,
    ApiPath(id): ApiPath<SessionId>,
) -> Result<Json<ChatSession>, ApiError> {
    Ok(Json(state.engine.resolve(&principal, id).await?))
}

/// Hands the session back to the AI (status `open`; the holding agent or a manager).
#[utoipa::path(post, path = "/api/v1/sessions/{id}/handback", tag = "support",
    params(("id" = Uuid, Path, description = "Session id")),
    responses(
        (status = 200, description = "The session after the change", body = schemas::Session)),
    security(("bearer" = [])))]
pub(crate) async fn hand_back(
    State(state): State<Arc<AppState>>,
    Caller(principal): Caller,
    ApiPath(id): ApiPath<SessionId>,
) -> Result<Json<ChatSession>, ApiError> {
    Ok(Json(state.engine.hand_back(&principal, id).await?))
}

/// Sets the caller's availability and capacity (staff). Going online assigns queued chats.
#[utoipa::path(put, path = "/api/v1/agents/me/availability", tag = "support",
    request_body = AvailabilityBody,
    responses(
        (status = 200, description = "The agent record", body = schemas::Agent),
        (status = 403, description = "Customers", body = crate::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn set_availability(
    State(state): State<Arc<AppState>>,
    Caller(principal): Caller,
    ApiJson(body): ApiJson<AvailabilityBody>,
) -> Result<Json<Agent>, ApiError> {
    Ok(Json(
        state
            .engine
            .set_availability(&principal, body.availability, body.max_concurrent)
            .await?,
    ))
}
