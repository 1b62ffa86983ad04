//! Sessions: create, read (with the active assignment), list.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chat_core::SessionId;
use chat_core::UserId;
use chat_core::engine::CreateSession;
use chat_core::model::{
    ChatSession, Metadata, SessionCursor, SessionFilter, SessionKind, SessionPage, SessionStatus,
    SupportAssignment,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;
use crate::openapi::schemas;
use crate::state::{ApiJson, ApiPath, ApiQuery, AppState, Caller};

/// Body of `POST /api/v1/sessions`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateSessionBody {
    /// `support` or `general`.
    #[schema(value_type = String, example = "support")]
    kind: SessionKind,
    /// Optional title.
    title: Option<String>,
    /// Host metadata (a JSON object).
    #[schema(value_type = Option<Object>)]
    metadata: Option<Metadata>,
}

/// A session with its active assignment.
#[derive(Debug, Serialize)]
pub(crate) struct SessionView {
    #[serde(flatten)]
    session: ChatSession,
    assignment: Option<SupportAssignment>,
}

/// Query of `GET /api/v1/sessions`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListSessionsQuery {
    /// Only this status (`open`, `waiting_for_agent`, `assigned`, `resolved`, `closed`).
    #[param(value_type = Option<String>)]
    status: Option<SessionStatus>,
    /// Only this kind (`support`, `general`).
    #[param(value_type = Option<String>)]
    kind: Option<SessionKind>,
    /// Only sessions assigned to this agent.
    #[param(value_type = Option<String>)]
    assigned_to: Option<UserId>,
    /// Page size (1 to 500, default 50).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(value_type = Option<String>, format = Uuid)]
    cursor: Option<SessionId>,
}

/// Opens a session whose customer is the caller.
#[utoipa::path(post, path = "/api/v1/sessions", tag = "sessions",
    request_body = CreateSessionBody,
    responses(
        (status = 201, description = "The session", body = schemas::Session),
        (status = 403, description = "Staff cannot open sessions", body = crate::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn create(
    State(state): State<Arc<AppState>>,
    Caller(principal): Caller,
    ApiJson(body): ApiJson<CreateSessionBody>,
) -> Result<(StatusCode, Json<ChatSession>), ApiError> {
    let mut input = CreateSession::new(body.kind);
    if let Some(title) = body.title {
        input = input.title(title);
    }
    if let Some(metadata) = body.metadata {
        input = input.metadata(metadata);
    }
    let session = state.engine.create_session(&principal, input).await?;
    Ok((StatusCode::CREATED, Json(session)))
}

/// A session the caller may see, with its active assignment (`null` when none).
#[utoipa::path(get, path = "/api/v1/sessions/{id}", tag = "sessions",
    params(("id" = Uuid, Path, description = "Session id")),
    responses(
        (status = 200, description = "The session and `assignment`", body = schemas::SessionWithAssignment)),
    security(("bearer" = [])))]
pub(crate) async fn get(
    State(state): State<Arc<AppState>>,
    Caller(principal): Caller,
    ApiPath(id): ApiPath<SessionId>,
) -> Result<Json<SessionView>, ApiError> {
    let session = state.engine.get_session(&principal, id).await?;
    let mut assignment = state.engine.active_assignment(&principal, id).await?;
    if !principal.is_staff() {
        // The assignment's note is written for staff (a transfer or escalation note).
        if let Some(assignment) = assignment.as_mut() {
            assignment.note = None;
        }
    }
    Ok(Json(SessionView {
        session,
        assignment,
    }))
}

/// A page of the sessions the caller may see, newest first: customers their own, agents
/// the ones assigned to them and the queue, managers and admins all of the tenant.
#[utoipa::path(get, path = "/api/v1/sessions", tag = "sessions",
    params(ListSessionsQuery),
    responses(
        (status = 200, description = "`{sessions, next_cursor}`", body = schemas::SessionPage)),
    security(("bearer" = [])))]
pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    Caller(principal): Caller,
    ApiQuery(query): ApiQuery<ListSessionsQuery>,
) -> Result<Json<SessionPage>, ApiError> {
    let mut filter = SessionFilter::default().cursor(query.cursor.map(SessionCursor));
    if let Some(status) = query.status {
        filter = filter.status(status);
    }
    if let Some(kind) = query.kind {
        filter = filter.kind(kind);
    }
    if let Some(agent) = query.assigned_to {
        filter = filter.assigned_to(agent);
    }
    if let Some(limit) = query.limit {
        filter = filter.limit(limit);
    }
    Ok(Json(state.engine.list_sessions(&principal, filter).await?))
}
