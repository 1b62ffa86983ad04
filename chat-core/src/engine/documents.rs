//! Uploading and reading a session's documents: authorization here, the pipeline in
//! [`DocumentIngestor`](crate::ingest::documents::DocumentIngestor).

use std::sync::Arc;

use super::{ChatEngine, ChatEngineBuilder, ChatError, ChatResult};
use crate::auth::Principal;
use crate::ids::{DocumentId, SessionId};
use crate::ingest::documents::{BlobStore, DocumentIngestor, IngestConfig, IngestError, Upload};
use crate::model::{ChatDocument, Visibility};

/// What the builder keeps until the engine's store and bus are known.
#[derive(Debug, Clone)]
pub(super) struct DocumentsSetup {
    blobs: Arc<dyn BlobStore>,
    config: IngestConfig,
}

impl DocumentsSetup {
    pub(super) fn build(
        self,
        store: &Arc<dyn crate::store::ChatStore>,
        bus: &Arc<dyn crate::bus::EventBus>,
    ) -> DocumentIngestor {
        DocumentIngestor::new(Arc::clone(store), Arc::clone(bus), self.blobs, self.config)
    }
}

impl ChatEngineBuilder {
    /// Enables document upload: originals go to `blobs`, extraction follows `config` (set
    /// [`IngestConfig::worker`] so PDFs, XLS and ODS can be read). Without it,
    /// [`ChatEngine::upload_document`] is `Unavailable`.
    pub fn documents(mut self, blobs: Arc<dyn BlobStore>, config: IngestConfig) -> Self {
        self.documents = Some(DocumentsSetup { blobs, config });
        self
    }
}

impl ChatEngine {
    /// The document ingestor.
    ///
    /// Errors: `Unavailable` when the builder was not given [`ChatEngineBuilder::documents`].
    pub fn document_ingestor(&self) -> ChatResult<&DocumentIngestor> {
        self.inner
            .documents
            .as_ref()
            .ok_or_else(|| ChatError::unavailable("document upload is not configured"))
    }

    /// Uploads a file to a session: authorizes (the caller must be allowed to post publicly in
    /// the session), checks its size and real type, stores it and returns the document at once
    /// (status `pending`); extraction and indexing run in the background and report
    /// `document_status` events. The same file twice in a session returns the first document.
    ///
    /// Errors: `NotFound`, `Forbidden` (not the caller's session, or a closed one),
    /// `InvalidInput` (empty), `TooLarge`, `UnsupportedMediaType` (also for encrypted or
    /// unreadable packages, with the reason), `Unavailable`.
    pub async fn upload_document(
        &self,
        principal: &Principal,
        session_id: SessionId,
        filename: &str,
        bytes: Vec<u8>,
    ) -> ChatResult<Upload> {
        self.postable_session(principal, session_id, Visibility::Public)
            .await?;
        let ingestor = self.document_ingestor()?;
        Ok(ingestor
            .upload(&principal.tenant_id, session_id, filename, bytes)
            .await?)
    }

    /// The documents of a session, oldest first.
    ///
    /// Errors: `NotFound`, `Forbidden`.
    pub async fn list_documents(
        &self,
        principal: &Principal,
        session_id: SessionId,
    ) -> ChatResult<Vec<ChatDocument>> {
        self.get_session(principal, session_id).await?;
        Ok(self
            .store()
            .list_documents(&principal.tenant_id, session_id)
            .await?)
    }

    /// One document of a session.
    ///
    /// Errors: `NotFound` (also for a document of another session), `Forbidden`.
    pub async fn get_document(
        &self,
        principal: &Principal,
        session_id: SessionId,
        document_id: DocumentId,
    ) -> ChatResult<ChatDocument> {
        self.get_session(principal, session_id).await?;
        let document = self
            .store()
            .get_document(&principal.tenant_id, document_id)
            .await?;
        if document.session_id != session_id {
            return Err(ChatError::NotFound(format!(
                "document not found: {document_id}"
            )));
        }
        Ok(document)
    }
}

impl From<IngestError> for ChatError {
    fn from(err: IngestError) -> Self {
        match err {
            IngestError::Store(store) => store.into(),
            IngestError::TooLarge(_) => Self::TooLarge(err.to_string()),
            IngestError::InvalidInput(_) => Self::InvalidInput(err.to_string()),
            // Refusals of the file itself: the API's code for "this file cannot be taken".
            IngestError::UnsupportedMediaType(_)
            | IngestError::Encrypted(_)
            | IngestError::Corrupt(_) => Self::UnsupportedMediaType(err.to_string()),
            other => Self::Unavailable {
                message: "document ingest failed".into(),
                source: Some(Box::new(other)),
            },
        }
    }
}
