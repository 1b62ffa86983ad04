//! Documents (`chat_documents`) and their chunks (`chat_document_chunks`, indexed by the
//! generated `search` tsvector and its GIN index).

use std::collections::HashSet;

use async_trait::async_trait;
use chat_core::ids::{DocumentId, SessionId, TenantId};
use chat_core::model::{ChatDocument, DocumentChunk, DocumentStatus, NewDocument, ScoredChunk};
use chat_core::store::{
    DocumentPatch, DocumentStore, Inserted, MAX_SEARCH_RESULTS, StoreResult, clamp_limit,
};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;

use crate::codec::{
    self, UuidKey, count, external, from_json, get, id, int, json, now, opt_count, opt_json,
    word_count,
};
use crate::error::{PgError, PgResult};
use crate::search::{self, Weights};
use crate::sessions::load_session;
use crate::store::PgStore;

/// Chunks have one column (label D).
const CHUNK_WEIGHTS: Weights = [1.0, 1.0, 1.0, 1.0];

const DOCUMENT_COLUMNS: &str = "id, tenant_id, session_id, filename, media_type, size, sha256, source_url, blob_key, \
     status, page_count, chunk_count, warnings, metadata, created_at, updated_at";

const CHUNK_COLUMNS: &str =
    "c.id, c.tenant_id, c.session_id, c.document_id, c.ordinal, c.text, c.locator, c.token_count";

fn document_from_row(row: &Row) -> PgResult<ChatDocument> {
    let mut new = NewDocument::new(
        external(row, "tenant_id")?,
        id(row, "session_id")?,
        get::<String>(row, "filename")?,
        get::<String>(row, "media_type")?,
        count(row, "size")?,
        get::<String>(row, "sha256")?,
    );
    new.id = id(row, "id")?;
    new.source_url = get(row, "source_url")?;
    new.blob_key = get(row, "blob_key")?;
    let mut document = ChatDocument::recorded(new, get(row, "created_at")?);
    document.status = from_json(row, "status")?;
    document.page_count = opt_count(row, "page_count")?;
    document.chunk_count = count(row, "chunk_count")?;
    document.warnings = from_json(row, "warnings")?;
    document.metadata = from_json(row, "metadata")?;
    document.updated_at = get(row, "updated_at")?;
    Ok(document)
}

fn chunk_from_row(row: &Row) -> PgResult<DocumentChunk> {
    let mut chunk = DocumentChunk::new(
        external(row, "tenant_id")?,
        id(row, "session_id")?,
        id(row, "document_id")?,
        count(row, "ordinal")?,
        get::<String>(row, "text")?,
        opt_json(row, "locator")?,
    );
    chunk.id = id(row, "id")?;
    chunk.token_count = count(row, "token_count")?;
    Ok(chunk)
}

async fn load_document<C: GenericClient>(
    client: &C,
    tenant: &TenantId,
    id: DocumentId,
    for_update: bool,
) -> PgResult<ChatDocument> {
    let lock = if for_update { " FOR UPDATE" } else { "" };
    let sql = format!(
        "SELECT {DOCUMENT_COLUMNS} FROM chat_documents WHERE id = $1 AND tenant_id = $2{lock}"
    );
    codec::first(
        client,
        &sql,
        &[&id.key(), &tenant.as_str()],
        document_from_row,
    )
    .await?
    .ok_or_else(|| PgError::not_found("document", id))
}

async fn by_sha<C: GenericClient>(client: &C, new: &NewDocument) -> PgResult<Option<ChatDocument>> {
    let sql = format!(
        "SELECT {DOCUMENT_COLUMNS} FROM chat_documents WHERE session_id = $1 AND sha256 = $2 AND tenant_id = $3"
    );
    codec::first(
        client,
        &sql,
        &[&new.session_id.key(), &new.sha256, &new.tenant_id.as_str()],
        document_from_row,
    )
    .await
}

async fn insert(store: &PgStore, new: &NewDocument) -> PgResult<Inserted<ChatDocument>> {
    let client = store.client().await?;
    load_session(&client, &new.tenant_id, new.session_id, false).await?;
    if let Some(existing) = by_sha(&client, new).await? {
        return Ok(Inserted::new(existing, false));
    }
    let document = ChatDocument::recorded(new.clone(), now());
    // A concurrent insert of the same bytes wins the unique (session, sha256) index; this one
    // then returns it. The foreign key refuses a session deleted meanwhile.
    let inserted = codec::exec(
        &client,
        "INSERT INTO chat_documents (id, tenant_id, session_id, filename, media_type, size, sha256, source_url,
             blob_key, state, status, page_count, chunk_count, warnings, metadata, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL, 0, '[]', '{}', $12, $12)
         ON CONFLICT (session_id, sha256) DO NOTHING",
        &[
            &document.id.key(),
            &document.tenant_id.as_str(),
            &document.session_id.key(),
            &document.filename,
            &document.media_type,
            &int(document.size)?,
            &document.sha256,
            &document.source_url,
            &document.blob_key,
            &document.status.as_str(),
            &json(&document.status),
            &document.created_at,
        ],
    )
    .await?;
    if inserted == 1 {
        return Ok(Inserted::new(document, true));
    }
    by_sha(&client, new)
        .await?
        .map(|existing| Inserted::new(existing, false))
        .ok_or_else(|| PgError::conflict(format!("document {} already exists", new.id)))
}

async fn update(
    store: &PgStore,
    tenant: &TenantId,
    id: DocumentId,
    patch: &DocumentPatch,
) -> PgResult<ChatDocument> {
    let mut client = store.client().await?;
    let tx = client.transaction().await?;
    let mut document = load_document(&tx, tenant, id, true).await?;
    let patch = patch.clone();
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
    document.updated_at = now();
    codec::exec(
        &tx,
        "UPDATE chat_documents SET state = $1, status = $2, page_count = $3, warnings = $4, metadata = $5,
             blob_key = $6, updated_at = $7 WHERE id = $8 AND tenant_id = $9",
        &[
            &document.status.as_str(),
            &json(&document.status),
            &document.page_count.map(i64::from),
            &json(&document.warnings),
            &json(&document.metadata),
            &document.blob_key,
            &document.updated_at,
            &id.key(),
            &tenant.as_str(),
        ],
    )
    .await?;
    tx.commit().await?;
    Ok(document)
}

async fn replace_chunks(
    store: &PgStore,
    tenant: &TenantId,
    document: DocumentId,
    chunks: &[DocumentChunk],
) -> PgResult<u32> {
    let n = u32::try_from(chunks.len()).map_err(|_| PgError::invalid("too many chunks"))?;
    let mut client = store.client().await?;
    let tx = client.transaction().await?;
    let doc = load_document(&tx, tenant, document, true).await?;
    let (mut ids, mut ordinals) = (HashSet::new(), HashSet::new());
    for chunk in chunks {
        if chunk.document_id != document {
            return Err(PgError::invalid(format!(
                "chunk {} names another document",
                chunk.id
            )));
        }
        if chunk.tenant_id != *tenant || chunk.session_id != doc.session_id {
            return Err(PgError::invalid(format!(
                "chunk {} names another session or tenant",
                chunk.id
            )));
        }
        if !ids.insert(chunk.id) || !ordinals.insert(chunk.ordinal) {
            return Err(PgError::invalid(format!(
                "chunk {} repeats an id or an ordinal",
                chunk.id
            )));
        }
    }
    codec::exec(
        &tx,
        "DELETE FROM chat_document_chunks WHERE document_id = $1 AND tenant_id = $2",
        &[&document.key(), &tenant.as_str()],
    )
    .await?;
    for chunk in chunks {
        codec::exec(
            &tx,
            "INSERT INTO chat_document_chunks (id, tenant_id, session_id, document_id, ordinal, text, locator,
                 token_count, search_len)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                &chunk.id.key(),
                &tenant.as_str(),
                &chunk.session_id.key(),
                &document.key(),
                &i64::from(chunk.ordinal),
                &chunk.text,
                &chunk.locator.as_ref().map(json),
                &i64::from(chunk.token_count),
                &word_count(&[&chunk.text]),
            ],
        )
        .await
        .map_err(|err| match &err {
            PgError::Postgres(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                PgError::invalid(format!("chunk {} repeats an id of another chunk", chunk.id))
            }
            _ => err,
        })?;
    }
    codec::exec(
        &tx,
        "UPDATE chat_documents SET chunk_count = $1, updated_at = $2 WHERE id = $3 AND tenant_id = $4",
        &[&i64::from(n), &now(), &document.key(), &tenant.as_str()],
    )
    .await?;
    tx.commit().await?;
    Ok(n)
}

async fn search(
    store: &PgStore,
    tenant: &TenantId,
    session: SessionId,
    query: &str,
    limit: u32,
) -> PgResult<Vec<ScoredChunk>> {
    let Some(terms) = search::terms(query) else {
        return Ok(Vec::new());
    };
    let limit = i64::from(clamp_limit(limit, MAX_SEARCH_RESULTS));
    let ranked = search::ranked(
        "SELECT c.id AS key, c.search_len AS len, c.search AS tsv
         FROM chat_document_chunks c JOIN chat_documents d ON d.id = c.document_id
         WHERE c.tenant_id = $6 AND c.session_id = $7 AND d.state = $8",
    );
    let sql = format!(
        "{ranked}
         SELECT {CHUNK_COLUMNS}, d.filename AS filename, scored.score AS score
         FROM scored JOIN chat_document_chunks c ON c.id = scored.key
         JOIN chat_documents d ON d.id = c.document_id
         ORDER BY scored.score DESC, c.document_id, c.ordinal LIMIT $9"
    );
    let [a, b, c, d] = CHUNK_WEIGHTS;
    let client = store.client().await?;
    codec::all(
        &client,
        &sql,
        &[
            &terms,
            &a,
            &b,
            &c,
            &d,
            &tenant.as_str(),
            &session.key(),
            &DocumentStatus::Ready.as_str(),
            &limit,
        ],
        |row| {
            Ok(ScoredChunk::new(
                chunk_from_row(row)?,
                get(row, "filename")?,
                get(row, "score")?,
            ))
        },
    )
    .await
}

#[async_trait]
impl DocumentStore for PgStore {
    async fn insert_document(&self, document: NewDocument) -> StoreResult<Inserted<ChatDocument>> {
        self.run(|| insert(self, &document)).await
    }

    async fn get_document(&self, tenant: &TenantId, id: DocumentId) -> StoreResult<ChatDocument> {
        self.run(|| async move {
            let client = self.client().await?;
            load_document(&client, tenant, id, false).await
        })
        .await
    }

    async fn list_documents(
        &self,
        tenant: &TenantId,
        session: SessionId,
    ) -> StoreResult<Vec<ChatDocument>> {
        self.run(|| async move {
            let client = self.client().await?;
            let sql = format!(
                "SELECT {DOCUMENT_COLUMNS} FROM chat_documents WHERE session_id = $1 AND tenant_id = $2
                 ORDER BY created_at, id"
            );
            codec::all(&client, &sql, &[&session.key(), &tenant.as_str()], document_from_row).await
        })
        .await
    }

    async fn update_document(
        &self,
        tenant: &TenantId,
        id: DocumentId,
        patch: DocumentPatch,
    ) -> StoreResult<ChatDocument> {
        self.run(|| update(self, tenant, id, &patch)).await
    }

    async fn replace_chunks(
        &self,
        tenant: &TenantId,
        document: DocumentId,
        chunks: Vec<DocumentChunk>,
    ) -> StoreResult<u32> {
        self.run(|| replace_chunks(self, tenant, document, &chunks))
            .await
    }

    async fn list_chunks(
        &self,
        tenant: &TenantId,
        document: DocumentId,
    ) -> StoreResult<Vec<DocumentChunk>> {
        self.run(|| async move {
            let client = self.client().await?;
            let sql = format!(
                "SELECT {CHUNK_COLUMNS} FROM chat_document_chunks c WHERE c.document_id = $1 AND c.tenant_id = $2
                 ORDER BY c.ordinal"
            );
            codec::all(&client, &sql, &[&document.key(), &tenant.as_str()], chunk_from_row).await
        })
        .await
    }

    async fn search_chunks(
        &self,
        tenant: &TenantId,
        session: SessionId,
        query: &str,
        limit: u32,
    ) -> StoreResult<Vec<ScoredChunk>> {
        self.run(|| search(self, tenant, session, query, limit))
            .await
    }

    async fn delete_document(
        &self,
        tenant: &TenantId,
        id: DocumentId,
    ) -> StoreResult<Option<String>> {
        self.run(|| async move {
            let client = self.client().await?;
            let key: Option<Option<String>> = codec::first(
                &client,
                "DELETE FROM chat_documents WHERE id = $1 AND tenant_id = $2 RETURNING blob_key",
                &[&id.key(), &tenant.as_str()],
                |row| get(row, "blob_key"),
            )
            .await?;
            key.ok_or_else(|| PgError::not_found("document", id))
        })
        .await
    }
}
