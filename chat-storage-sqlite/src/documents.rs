//! Documents (`chat_documents`) and their chunks (`chat_document_chunks`, indexed by the
//! `chat_document_chunks_fts` FTS5 table through triggers).

use async_trait::async_trait;
use chat_core::ids::{DocumentId, SessionId, TenantId};
use chat_core::model::{ChatDocument, DocumentChunk, DocumentStatus, NewDocument, ScoredChunk};
use chat_core::store::{
    DocumentPatch, DocumentStore, Inserted, MAX_SEARCH_RESULTS, StoreResult, clamp_limit,
};
use chrono::Utc;
use rusqlite::{Connection, Row, params};

use crate::codec::{
    UuidKey, count, external, from_json, id, int, json, nanos, opt_count, opt_json, time,
};
use crate::error::{SqliteError, SqliteResult};
use crate::fts::match_expression;
use crate::query;
use crate::sessions::load_session;
use crate::store::SqliteStore;

const DOCUMENT_COLUMNS: &str = "id, tenant_id, session_id, filename, media_type, size, sha256, source_url, blob_key, \
     status, page_count, chunk_count, warnings, metadata, created_at, updated_at";

const CHUNK_COLUMNS: &str =
    "c.id, c.tenant_id, c.session_id, c.document_id, c.ordinal, c.text, c.locator, c.token_count";

fn document_from_row(row: &Row<'_>) -> rusqlite::Result<ChatDocument> {
    let mut new = NewDocument::new(
        external(row, "tenant_id")?,
        id(row, "session_id")?,
        row.get::<_, String>("filename")?,
        row.get::<_, String>("media_type")?,
        count(row, "size")?,
        row.get::<_, String>("sha256")?,
    );
    new.id = id(row, "id")?;
    new.source_url = row.get("source_url")?;
    new.blob_key = row.get("blob_key")?;
    let mut document = ChatDocument::recorded(new, time(row, "created_at")?);
    document.status = from_json(row, "status")?;
    document.page_count = opt_count(row, "page_count")?;
    document.chunk_count = count(row, "chunk_count")?;
    document.warnings = from_json(row, "warnings")?;
    document.metadata = from_json(row, "metadata")?;
    document.updated_at = time(row, "updated_at")?;
    Ok(document)
}

fn chunk_from_row(row: &Row<'_>) -> rusqlite::Result<DocumentChunk> {
    let mut chunk = DocumentChunk::new(
        external(row, "tenant_id")?,
        id(row, "session_id")?,
        id(row, "document_id")?,
        count(row, "ordinal")?,
        row.get::<_, String>("text")?,
        opt_json(row, "locator")?,
    );
    chunk.id = id(row, "id")?;
    chunk.token_count = count(row, "token_count")?;
    Ok(chunk)
}

fn load_document(
    conn: &Connection,
    tenant: &TenantId,
    id: DocumentId,
) -> SqliteResult<ChatDocument> {
    let sql =
        format!("SELECT {DOCUMENT_COLUMNS} FROM chat_documents WHERE id = ?1 AND tenant_id = ?2");
    query::first(
        conn,
        &sql,
        params![id.key(), tenant.as_str()],
        document_from_row,
    )?
    .ok_or_else(|| SqliteError::not_found("document", id))
}

fn insert(conn: &Connection, new: NewDocument) -> SqliteResult<Inserted<ChatDocument>> {
    load_session(conn, &new.tenant_id, new.session_id)?;
    let sql = format!(
        "SELECT {DOCUMENT_COLUMNS} FROM chat_documents WHERE session_id = ?1 AND sha256 = ?2 AND tenant_id = ?3"
    );
    let existing = query::first(
        conn,
        &sql,
        params![new.session_id.key(), new.sha256, new.tenant_id.as_str()],
        document_from_row,
    )?;
    if let Some(existing) = existing {
        return Ok(Inserted::new(existing, false));
    }
    if query::id_taken(conn, "chat_documents", new.id.key())? {
        return Err(SqliteError::conflict(format!(
            "document {} already exists",
            new.id
        )));
    }
    let document = ChatDocument::recorded(new, Utc::now());
    conn.prepare_cached(
        "INSERT INTO chat_documents (id, tenant_id, session_id, filename, media_type, size, sha256, source_url,
             blob_key, state, status, page_count, chunk_count, warnings, metadata, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, NULL, 0, '[]', '{}', ?12, ?12)",
    )?
    .execute(params![
        document.id.key(),
        document.tenant_id.as_str(),
        document.session_id.key(),
        document.filename,
        document.media_type,
        int(document.size)?,
        document.sha256,
        document.source_url,
        document.blob_key,
        document.status.as_str(),
        json(&document.status)?,
        nanos(document.created_at)?,
    ])?;
    Ok(Inserted::new(document, true))
}

fn update(
    conn: &Connection,
    tenant: &TenantId,
    id: DocumentId,
    patch: DocumentPatch,
) -> SqliteResult<ChatDocument> {
    let mut document = load_document(conn, tenant, id)?;
    if let Some(status) = patch.status {
        document.status = status;
    }
    if let Some(pages) = patch.page_count {
        document.page_count = Some(pages);
    }
    if let Some(warnings) = patch.warnings {
        document.warnings = warnings;
    }
    if let Some(metadata) = patch.metadata {
        document.metadata = metadata;
    }
    if let Some(key) = patch.blob_key {
        document.blob_key = Some(key);
    }
    document.updated_at = Utc::now();
    conn.prepare_cached(
        "UPDATE chat_documents SET state = ?1, status = ?2, page_count = ?3, warnings = ?4, metadata = ?5,
             blob_key = ?6, updated_at = ?7 WHERE id = ?8 AND tenant_id = ?9",
    )?
    .execute(params![
        document.status.as_str(),
        json(&document.status)?,
        document.page_count,
        json(&document.warnings)?,
        json(&document.metadata)?,
        document.blob_key,
        nanos(document.updated_at)?,
        id.key(),
        tenant.as_str(),
    ])?;
    Ok(document)
}

fn replace_chunks(
    conn: &Connection,
    tenant: &TenantId,
    document: DocumentId,
    chunks: &[DocumentChunk],
) -> SqliteResult<u32> {
    let doc = load_document(conn, tenant, document)?;
    for chunk in chunks {
        if chunk.document_id != document {
            return Err(SqliteError::invalid(format!(
                "chunk {} names another document",
                chunk.id
            )));
        }
        if chunk.tenant_id != *tenant || chunk.session_id != doc.session_id {
            return Err(SqliteError::invalid(format!(
                "chunk {} names another session or tenant",
                chunk.id
            )));
        }
    }
    let n = u32::try_from(chunks.len()).map_err(|_| SqliteError::invalid("too many chunks"))?;
    conn.prepare_cached(
        "DELETE FROM chat_document_chunks WHERE document_id = ?1 AND tenant_id = ?2",
    )?
    .execute(params![document.key(), tenant.as_str()])?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO chat_document_chunks (id, tenant_id, session_id, document_id, ordinal, text, locator, token_count)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for chunk in chunks {
        insert
            .execute(params![
                chunk.id.key(),
                tenant.as_str(),
                chunk.session_id.key(),
                document.key(),
                chunk.ordinal,
                chunk.text,
                chunk.locator.as_ref().map(json).transpose()?,
                chunk.token_count,
            ])
            .map_err(|err| match err.sqlite_error_code() {
                Some(rusqlite::ErrorCode::ConstraintViolation) => {
                    SqliteError::invalid(format!("chunk {} repeats an id or an ordinal", chunk.id))
                }
                _ => err.into(),
            })?;
    }
    conn.prepare_cached(
        "UPDATE chat_documents SET chunk_count = ?1, updated_at = ?2 WHERE id = ?3 AND tenant_id = ?4",
    )?
    .execute(params![n, nanos(Utc::now())?, document.key(), tenant.as_str()])?;
    Ok(n)
}

fn list_chunks(
    conn: &Connection,
    tenant: &TenantId,
    document: DocumentId,
) -> SqliteResult<Vec<DocumentChunk>> {
    let sql = format!(
        "SELECT {CHUNK_COLUMNS} FROM chat_document_chunks c WHERE c.document_id = ?1 AND c.tenant_id = ?2
         ORDER BY c.ordinal"
    );
    query::all(
        conn,
        &sql,
        params![document.key(), tenant.as_str()],
        chunk_from_row,
    )
}

fn search(
    conn: &Connection,
    tenant: &TenantId,
    session: SessionId,
    query: &str,
    limit: u32,
) -> SqliteResult<Vec<ScoredChunk>> {
    let Some(expr) = match_expression(query) else {
        return Ok(Vec::new());
    };
    let limit = clamp_limit(limit, MAX_SEARCH_RESULTS);
    let sql = format!(
        "SELECT {CHUNK_COLUMNS}, d.filename AS filename, -bm25(chat_document_chunks_fts) AS score
         FROM chat_document_chunks_fts
         JOIN chat_document_chunks c ON c.pk = chat_document_chunks_fts.rowid
         JOIN chat_documents d ON d.id = c.document_id
         WHERE chat_document_chunks_fts MATCH ?1 AND c.tenant_id = ?2 AND c.session_id = ?3 AND d.state = ?4
         ORDER BY bm25(chat_document_chunks_fts), c.pk LIMIT ?5"
    );
    query::all(
        conn,
        &sql,
        params![
            expr,
            tenant.as_str(),
            session.key(),
            DocumentStatus::Ready.as_str(),
            limit
        ],
        |row| {
            Ok(ScoredChunk::new(
                chunk_from_row(row)?,
                row.get("filename")?,
                row.get("score")?,
            ))
        },
    )
}

fn delete(conn: &Connection, tenant: &TenantId, id: DocumentId) -> SqliteResult<Option<String>> {
    let document = load_document(conn, tenant, id)?;
    conn.prepare_cached("DELETE FROM chat_documents WHERE id = ?1 AND tenant_id = ?2")?
        .execute(params![id.key(), tenant.as_str()])?;
    Ok(document.blob_key)
}

#[async_trait]
impl DocumentStore for SqliteStore {
    async fn insert_document(&self, document: NewDocument) -> StoreResult<Inserted<ChatDocument>> {
        self.write(move |conn| insert(conn, document)).await
    }

    async fn get_document(&self, tenant: &TenantId, id: DocumentId) -> StoreResult<ChatDocument> {
        let tenant = tenant.clone();
        self.read(move |conn| load_document(conn, &tenant, id))
            .await
    }

    async fn list_documents(
        &self,
        tenant: &TenantId,
        session: SessionId,
    ) -> StoreResult<Vec<ChatDocument>> {
        let tenant = tenant.clone();
        self.read(move |conn| {
            let sql = format!(
                "SELECT {DOCUMENT_COLUMNS} FROM chat_documents WHERE session_id = ?1 AND tenant_id = ?2
                 ORDER BY created_at, id"
            );
            query::all(conn, &sql, params![session.key(), tenant.as_str()], document_from_row)
        })
        .await
    }

    async fn update_document(
        &self,
        tenant: &TenantId,
        id: DocumentId,
        patch: DocumentPatch,
    ) -> StoreResult<ChatDocument> {
        let tenant = tenant.clone();
        self.write(move |conn| update(conn, &tenant, id, patch))
            .await
    }

    async fn replace_chunks(
        &self,
        tenant: &TenantId,
        document: DocumentId,
        chunks: Vec<DocumentChunk>,
    ) -> StoreResult<u32> {
        let tenant = tenant.clone();
        self.write(move |conn| replace_chunks(conn, &tenant, document, &chunks))
            .await
    }

    async fn list_chunks(
        &self,
        tenant: &TenantId,
        document: DocumentId,
    ) -> StoreResult<Vec<DocumentChunk>> {
        let tenant = tenant.clone();
        self.read(move |conn| list_chunks(conn, &tenant, document))
            .await
    }

    async fn search_chunks(
        &self,
        tenant: &TenantId,
        session: SessionId,
        query: &str,
        limit: u32,
    ) -> StoreResult<Vec<ScoredChunk>> {
        let (tenant, query) = (tenant.clone(), query.to_owned());
        self.read(move |conn| search(conn, &tenant, session, &query, limit))
            .await
    }

    async fn delete_document(
        &self,
        tenant: &TenantId,
        id: DocumentId,
    ) -> StoreResult<Option<String>> {
        let tenant = tenant.clone();
        self.write(move |conn| delete(conn, &tenant, id)).await
    }
}
