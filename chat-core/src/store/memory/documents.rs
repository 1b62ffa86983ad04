//! [`DocumentStore`] of the in-memory store: documents, chunks and chunk search.

use async_trait::async_trait;
use chrono::Utc;

use super::search::{TermCounts, analyze_query, rank};
use super::{DocumentRow, Indexed, MemoryStore, session_not_found};
use crate::ids::{DocumentId, SessionId, TenantId};
use crate::model::{ChatDocument, DocumentChunk, DocumentStatus, NewDocument, ScoredChunk};
use crate::store::{
    DocumentPatch, DocumentStore, Inserted, MAX_SEARCH_RESULTS, StoreError, StoreResult,
    clamp_limit,
};

fn document_not_found(id: DocumentId) -> StoreError {
    StoreError::not_found("document", id)
}

#[async_trait]
impl DocumentStore for MemoryStore {
    async fn insert_document(&self, new: NewDocument) -> StoreResult<Inserted<ChatDocument>> {
        let now = Utc::now();
        let mut state = self.write();
        let data = state
            .tenants
            .get_mut(&new.tenant_id)
            .ok_or_else(|| session_not_found(new.session_id))?;
        data.session(new.session_id)?;
        if let Some(existing) = data
            .documents
            .values()
            .find(|d| d.document.session_id == new.session_id && d.document.sha256 == new.sha256)
        {
            return Ok(Inserted::new(existing.document.clone(), false));
        }
        if data.documents.contains_key(&new.id) {
            return Err(StoreError::Conflict(format!(
                "document {} already exists",
                new.id
            )));
        }
        let document = ChatDocument::recorded(new, now);
        data.documents.insert(
            document.id,
            DocumentRow {
                document: document.clone(),
                chunks: Vec::new(),
            },
        );
        Ok(Inserted::new(document, true))
    }

    async fn get_document(&self, tenant: &TenantId, id: DocumentId) -> StoreResult<ChatDocument> {
        let state = self.read();
        state
            .tenant(tenant)
            .and_then(|d| d.documents.get(&id))
            .map(|row| row.document.clone())
            .ok_or_else(|| document_not_found(id))
    }

    async fn list_documents(
        &self,
        tenant: &TenantId,
        session: SessionId,
    ) -> StoreResult<Vec<ChatDocument>> {
        let state = self.read();
        let Some(data) = state.tenant(tenant) else {
            return Ok(Vec::new());
        };
        let mut documents: Vec<ChatDocument> = data
            .documents
            .values()
            .filter(|row| row.document.session_id == session)
            .map(|row| row.document.clone())
            .collect();
        documents.sort_by_key(|d| (d.created_at, d.id));
        Ok(documents)
    }

    async fn update_document(
        &self,
        tenant: &TenantId,
        id: DocumentId,
        patch: DocumentPatch,
    ) -> StoreResult<ChatDocument> {
        let now = Utc::now();
        let mut state = self.write();
        let row = state
            .tenants
            .get_mut(tenant)
            .and_then(|d| d.documents.get_mut(&id))
            .ok_or_else(|| document_not_found(id))?;
        let document = &mut row.document;
        if let Some(status) = patch.status {
            document.status = status;
        }
        if let Some(count) = patch.page_count {
            document.page_count = Some(count);
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
        document.updated_at = now;
        Ok(document.clone())
    }

    async fn replace_chunks(
        &self,
        tenant: &TenantId,
        document: DocumentId,
        chunks: Vec<DocumentChunk>,
    ) -> StoreResult<u32> {
        let now = Utc::now();
        let mut state = self.write();
        let row = state
            .tenants
            .get_mut(tenant)
            .and_then(|d| d.documents.get_mut(&document))
            .ok_or_else(|| document_not_found(document))?;
        for chunk in &chunks {
            if chunk.document_id != document
                || chunk.session_id != row.document.session_id
                || chunk.tenant_id != *tenant
            {
                return Err(StoreError::InvalidInput(format!(
                    "chunk {} belongs to another document than {document}",
                    chunk.id
                )));
            }
        }
        let count = u32::try_from(chunks.len())
            .map_err(|_| StoreError::InvalidInput("too many chunks for one document".into()))?;
        let mut indexed: Vec<Indexed<DocumentChunk>> = chunks
            .into_iter()
            .map(|chunk| Indexed {
                terms: TermCounts::of([chunk.text.as_str()]),
                value: chunk,
            })
            .collect();
        indexed.sort_by_key(|c| c.value.ordinal);
        row.chunks = indexed;
        row.document.chunk_count = count;
        row.document.updated_at = now;
        Ok(count)
    }

    async fn list_chunks(
        &self,
        tenant: &TenantId,
        document: DocumentId,
    ) -> StoreResult<Vec<DocumentChunk>> {
        let state = self.read();
        Ok(state
            .tenant(tenant)
            .and_then(|d| d.documents.get(&document))
            .map(|row| row.chunks.iter().map(|c| c.value.clone()).collect())
            .unwrap_or_default())
    }

    async fn search_chunks(
        &self,
        tenant: &TenantId,
        session: SessionId,
        query: &str,
        limit: u32,
    ) -> StoreResult<Vec<ScoredChunk>> {
        let terms = analyze_query(query);
        let limit = usize::try_from(clamp_limit(limit, MAX_SEARCH_RESULTS)).unwrap_or(usize::MAX);
        let state = self.read();
        let Some(data) = state.tenant(tenant) else {
            return Ok(Vec::new());
        };
        let corpus: Vec<_> = data
            .documents
            .values()
            .filter(|row| {
                row.document.session_id == session && row.document.status == DocumentStatus::Ready
            })
            .flat_map(|row| {
                row.chunks
                    .iter()
                    .map(move |c| (&c.terms, (&c.value, &row.document.filename)))
            })
            .collect();
        Ok(rank(corpus, &terms, limit)
            .into_iter()
            .map(|((chunk, filename), score)| {
                ScoredChunk::new(chunk.clone(), filename.clone(), score)
            })
            .collect())
    }

    async fn delete_document(
        &self,
        tenant: &TenantId,
        id: DocumentId,
    ) -> StoreResult<Option<String>> {
        let mut state = self.write();
        let row = state
            .tenants
            .get_mut(tenant)
            .and_then(|d| d.documents.remove(&id))
            .ok_or_else(|| document_not_found(id))?;
        Ok(row.document.blob_key)
    }
}
