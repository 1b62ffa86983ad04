//! Documents and URLs of a session: multipart upload streamed under a size limit, listing,
//! status, and URL submission.

use std::sync::Arc;

use axum::Json;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, StatusCode, header};
use chat_core::SessionId;
use chat_core::ids::DocumentId;
use chat_core::model::ChatDocument;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::openapi::schemas;
use crate::state::{ApiJson, ApiPath, AppState, Caller};

/// Room for the multipart framing (boundaries, part headers) around the file itself.
pub(crate) const MULTIPART_OVERHEAD_BYTES: u64 = 64 * 1024;

/// Name of the multipart field holding the file.
const FILE_FIELD: &str = "file";

/// The documents of a session.
#[derive(Debug, Serialize)]
pub(crate) struct DocumentList {
    documents: Vec<ChatDocument>,
}

/// Body of `POST /api/v1/sessions/{id}/urls`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SubmitUrlBody {
    /// An `http` or `https` URL.
    url: String,
}

/// Multipart form of an upload (for the OpenAPI document).
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct UploadForm {
    /// The file (PDF, DOCX, XLSX, XLS, ODS, TXT or MD).
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// Uploads a file (multipart field `file`). 202 with the document (status `pending`);
/// 200 with the existing document when the session already has the same file. The body is
/// streamed and refused with 413 as soon as it passes the limit.
#[utoipa::path(post, path = "/api/v1/sessions/{id}/documents", tag = "documents",
    params(("id" = Uuid, Path, description = "Session id")),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses(
        (status = 202, description = "Accepted; processing reports `document_status` events", body = schemas::Document),
        (status = 200, description = "The session already had this file", body = schemas::Document),
        (status = 415, description = "Not multipart, or a file type that is not accepted", body = crate::ErrorBody),
        (status = 503, description = "Uploads are not configured", body = crate::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn upload(
    State(state): State<Arc<AppState>>,
    Caller(principal): Caller,
    ApiPath(id): ApiPath<SessionId>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, Json<ChatDocument>), ApiError> {
    let max = state.config.max_upload_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max.saturating_add(MULTIPART_OVERHEAD_BYTES)) {
        return Err(too_large(max));
    }
    let mut multipart = multipart.map_err(|_| {
        ApiError::unsupported_media_type(
            "expected Content-Type: multipart/form-data with a boundary",
        )
    })?;
    let (filename, bytes) = read_file_field(&mut multipart, max).await?;
    let upload = state
        .engine
        .upload_document(&principal, id, &filename, bytes)
        .await?;
    let status = if upload.created {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(upload.document)))
}

fn too_large(max: u64) -> ApiError {
    ApiError::too_large(format!("the file is larger than {max} bytes"))
}

/// Reads the `file` field chunk by chunk, refusing it as soon as it passes `max` bytes, so at
/// most `max` bytes are ever held. Other fields are skipped.
async fn read_file_field(
    multipart: &mut Multipart,
    max: u64,
) -> Result<(String, Vec<u8>), ApiError> {
    while let Some(mut field) = multipart.next_field().await? {
        if field.name() != Some(FILE_FIELD) {
            continue;
        }
        let filename = field
            .file_name()
            .filter(|name| !name.trim().is_empty())
            .unwrap_or("upload")
            .to_owned();
        let mut bytes = Vec::new();
        while let Some(chunk) = field.chunk().await? {
            let total = u64::try_from(bytes.len() + chunk.len()).unwrap_or(u64::MAX);
            if total > max {
                return Err(too_large(max));
            }
            bytes.extend_from_slice(&chunk);
        }
        return Ok((filename, bytes));
    }
    Err(ApiError::invalid_input(
        "the multipart body has no `file` field",
    ))
}

/// The documents of a session, oldest first, with their status.
#[utoipa::path(get, path = "/api/v1/sessions/{id}/documents", tag = "documents",
    params(("id" = Uuid, Path, description = "Session id")),
    responses(
        (status = 200, description = "`{documents}`", body = schemas::DocumentList)),
    security(("bearer" = [])))]
pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    Caller(principal): Caller,
    ApiPath(id): ApiPath<SessionId>,
) -> Result<Json<DocumentList>, ApiError> {
    let documents = state.engine.list_documents(&principal, id).await?;
    Ok(Json(DocumentList { documents }))
}

/// One document of a session, with its status.
#[utoipa::path(get, path = "/api/v1/sessions/{id}/documents/{doc_id}", tag = "documents",
    params(("id" = Uuid, Path, description = "Session id"), ("doc_id" = Uuid, Path, description = "Document id")),
    responses(
        (status = 200, description = "The document", body = schemas::Document)),
    security(("bearer" = [])))]
pub(crate) async fn get(
    State(state): State<Arc<AppState>>,
    Caller(principal): Caller,
    ApiPath((id, doc_id)): ApiPath<(SessionId, DocumentId)>,
) -> Result<Json<ChatDocument>, ApiError> {
    Ok(Json(
        state.engine.get_document(&principal, id, doc_id).await?,
    ))
}

/// Submits a URL. 202 with its document record (status `pending`); fetching runs in the
/// background and reports `url_status` events. 200 with the first record when the session
/// already has this URL.
#[utoipa::path(post, path = "/api/v1/sessions/{id}/urls", tag = "documents",
    params(("id" = Uuid, Path, description = "Session id")),
    request_body = SubmitUrlBody,
    responses(
        (status = 202, description = "Accepted", body = schemas::Document),
        (status = 200, description = "The session already had this URL", body = schemas::Document),
        (status = 413, description = "URL too long", body = crate::ErrorBody),
        (status = 422, description = "Malformed or refused URL (private address, bad scheme...)", body = crate::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn submit_url(
    State(state): State<Arc<AppState>>,
    Caller(principal): Caller,
    ApiPath(id): ApiPath<SessionId>,
    ApiJson(body): ApiJson<SubmitUrlBody>,
) -> Result<(StatusCode, Json<ChatDocument>), ApiError> {
    let submitted = state.engine.submit_url(&principal, id, &body.url).await?;
    let status = if submitted.created {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(submitted.document)))
}
