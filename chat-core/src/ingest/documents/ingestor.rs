//! [`DocumentIngestor`]: the upload pipeline as a service. accept -> validate (sniff, size) ->
//! store the bytes -> deduplicate by SHA-256 within the session -> (spawned, off the request
//! path, at most `max_concurrent_jobs` at once) extract -> chunk -> index -> ready.
//!
//! Statuses are persisted on the document record. Durable ones (pending, ready, failed) are
//! also recorded as system messages, so they take a `seq` and replay to a reconnecting client;
//! progress is published as ephemeral `document_status` events.

use std::sync::Arc;

use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use super::blob::BlobStore;
use super::chunk::Chunk;
use super::extract::{Extractor, Processed};
use super::{IngestConfig, IngestError};
use crate::bus::{ChatEvent, EventBus, EventKind, Topic};
use crate::ids::{DocumentId, SessionId, TenantId};
use crate::model::{
    ChatDocument, DocumentChunk, DocumentStatus, NewDocument, NewMessage, SessionPatch, SystemEvent,
};
use crate::store::{ChatStore, DocumentPatch};

/// Longest display name kept, in characters.
const MAX_FILENAME_CHARS: usize = 255;

/// Result of [`DocumentIngestor::upload`].
#[derive(Debug)]
#[non_exhaustive]
pub struct Upload {
    /// The document record (status `pending` when new).
    pub document: ChatDocument,
    /// False when the session already had this file (same SHA-256): nothing new is processed.
    pub created: bool,
    /// The processing task, when one was started. Dropping it does not stop it.
    pub job: Option<JoinHandle<()>>,
}

/// The document ingest service. Cheap to clone; clones share the job limit.
#[derive(Debug, Clone)]
pub struct DocumentIngestor {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn ChatStore>,
    bus: Arc<dyn EventBus>,
    blobs: Arc<dyn BlobStore>,
    extractor: Extractor,
    jobs: Arc<Semaphore>,
}

impl DocumentIngestor {
    /// An ingestor over the engine's store and bus, keeping originals in `blobs`.
    pub fn new(
        store: Arc<dyn ChatStore>,
        bus: Arc<dyn EventBus>,
        blobs: Arc<dyn BlobStore>,
        config: IngestConfig,
    ) -> Self {
        let jobs = Arc::new(Semaphore::new(config.max_concurrent_jobs.max(1)));
        Self {
            inner: Arc::new(Inner {
                store,
                bus,
                blobs,
                extractor: Extractor::new(config),
                jobs,
            }),
        }
    }

    /// The extractor (sniffing, extraction, chunking).
    pub fn extractor(&self) -> &Extractor {
        &self.inner.extractor
    }

    /// The settings.
    pub fn config(&self) -> &IngestConfig {
        self.inner.extractor.config()
    }

    /// The blob store of the originals.
    pub fn blobs(&self) -> &Arc<dyn BlobStore> {
        &self.inner.blobs
    }

    /// Accepts an upload: checks size and real type, stores the bytes, records the document
    /// (or returns the session's existing one with the same SHA-256), records and publishes
    /// `pending`, and starts processing on a spawned task. Returns without waiting for it.
    /// The caller has authorized the upload.
    ///
    /// Errors: `InvalidInput` (empty), `TooLarge`, `UnsupportedMediaType`, `Encrypted`,
    /// `Corrupt` (refused before anything is stored); `Unavailable` (blob store);
    /// `Store` (`NotFound` session).
    pub async fn upload(
        &self,
        tenant: &TenantId,
        session: SessionId,
        filename: &str,
        bytes: Vec<u8>,
    ) -> Result<Upload, IngestError> {
        let file_type = self.extractor().sniff(&bytes, filename)?;
        let sha256 = hex::encode(Sha256::digest(&bytes));
        let key =
            self.inner.blobs.put(&bytes).await.map_err(|err| {
                IngestError::Unavailable(format!("the file cannot be stored: {err}"))
            })?;
        let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        let new = NewDocument::new(
            tenant.clone(),
            session,
            display_name(filename),
            file_type.media_type(),
            size,
            sha256,
        )
        .blob_key(key.clone());
        let inserted = match self.inner.store.insert_document(new).await {
            Ok(inserted) => inserted,
            Err(err) => {
                self.delete_blob(&key).await;
                return Err(err.into());
            }
        };
        let document = inserted.value;
        if !inserted.created {
            // Same bytes already in this session: keep the first copy only.
            self.delete_blob(&key).await;
            return Ok(Upload {
                document,
                created: false,
                job: None,
            });
        }
        tracing::info!(document = %document.id, session = %session, file_type = %file_type, size, "document accepted");
        self.record(
            &document,
            DocumentStatus::Pending,
            format!("{} was uploaded", document.filename),
        )
        .await;
        // The job holds only the record while it waits for a slot and reads the bytes back from
        // the blob store when it starts, so uploads queued behind slow ones cost no memory.
        drop(bytes);
        let this = self.clone();
        let doc = document.clone();
        let job = tokio::spawn(async move { this.run_job(doc).await });
        Ok(Upload {
            document,
            created: true,
            job: Some(job),
        })
    }

    /// Processes a stored document again from its blob (for example one left `pending` or
    /// `processing` by a restart), and returns it in its final state.
    ///
    /// Errors: `Store` (`NotFound`), `Unavailable` (no blob, blob store down).
    pub async fn reprocess(
        &self,
        tenant: &TenantId,
        document: DocumentId,
    ) -> Result<ChatDocument, IngestError> {
        let doc = self.inner.store.get_document(tenant, document).await?;
        let key = doc.blob_key.clone().ok_or_else(|| {
            IngestError::Unavailable("the document has no stored original".into())
        })?;
        // Fail early, without touching the record, when the original is gone.
        self.inner.blobs.get(&key).await.map_err(|err| {
            IngestError::Unavailable(format!("the original cannot be read: {err}"))
        })?;
        self.run_job(doc).await;
        Ok(self.inner.store.get_document(tenant, document).await?)
    }

    /// The stored bytes of a document.
    async fn original(&self, document: &ChatDocument) -> Result<Vec<u8>, IngestError> {
        let key = document.blob_key.as_deref().ok_or_else(|| {
            IngestError::Unavailable("the document has no stored original".into())
        })?;
        self.inner
            .blobs
            .get(key)
            .await
            .map_err(|err| IngestError::Unavailable(format!("the original cannot be read: {err}")))
    }

    async fn run_job(&self, document: ChatDocument) {
        let started = std::time::Instant::now();
        let permit = Arc::clone(&self.inner.jobs).acquire_owned().await;
        if permit.is_err() {
            // The semaphore is never closed; treat it as unavailable all the same.
            self.fail(
                &document,
                &IngestError::Unavailable("the ingestor is shutting down".into()),
            )
            .await;
            return;
        }
        let bytes = match self.original(&document).await {
            Ok(bytes) => bytes,
            Err(err) => {
                drop(permit);
                self.fail(&document, &err).await;
                return;
            }
        };
        let outcome = self.process(&document, bytes.into()).await;
        drop(permit);
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match outcome {
            Ok(count) => {
                tracing::info!(document = %document.id, chunks = count, elapsed_ms, "document ready");
            }
            Err(err) => {
                tracing::info!(document = %document.id, code = err.code(), elapsed_ms, "document failed");
                self.fail(&document, &err).await;
            }
        }
    }

    /// Extract, chunk, index, mark ready; returns the chunk count.
    async fn process(&self, document: &ChatDocument, bytes: Arc<[u8]>) -> Result<u32, IngestError> {
        let store = &self.inner.store;
        let tenant = &document.tenant_id;
        self.progress(document, 10).await?;
        let file_type = self.extractor().sniff(&bytes, &document.filename)?;
        let extraction = self.extractor().extract(bytes, file_type).await?;
        self.progress(document, 70).await?;
        let Processed {
            page_count,
            warnings,
            metadata,
            chunks,
            ..
        } = self.extractor().chunk(extraction);
        let chunks = document_chunks(document, chunks);
        let count = store.replace_chunks(tenant, document.id, chunks).await?;
        self.progress(document, 90).await?;
        let mut patch = DocumentPatch::default()
            .status(DocumentStatus::Ready)
            .warnings(warnings.clone())
            .metadata(metadata);
        if let Some(pages) = page_count {
            patch = patch.page_count(pages);
        }
        store.update_document(tenant, document.id, patch).await?;
        let mut note = format!("{} is ready ({count} passages)", document.filename);
        if !warnings.is_empty() {
            note = format!("{note}; {}", warnings.join("; "));
        }
        self.record(document, DocumentStatus::Ready, note).await;
        Ok(count)
    }

    /// Persists and publishes (ephemeral) a progress step.
    async fn progress(&self, document: &ChatDocument, progress: u8) -> Result<(), IngestError> {
        let status = DocumentStatus::Processing { progress };
        self.inner
            .store
            .update_document(
                &document.tenant_id,
                document.id,
                DocumentPatch::default().status(status.clone()),
            )
            .await?;
        let kind = EventKind::DocumentStatus {
            document_id: document.id,
            status,
            message: None,
        };
        let event = ChatEvent::ephemeral(document.tenant_id.clone(), document.session_id, kind);
        self.publish(document, event).await;
        Ok(())
    }

    async fn fail(&self, document: &ChatDocument, err: &IngestError) {
        let status = DocumentStatus::Failed {
            code: err.code().to_owned(),
            reason: err.to_string(),
        };
        let patch = DocumentPatch::default().status(status.clone());
        if let Err(store_err) = self
            .inner
            .store
            .update_document(&document.tenant_id, document.id, patch)
            .await
        {
            tracing::warn!(document = %document.id, error = %store_err, "cannot record the failure of a document");
        }
        self.record(
            document,
            status,
            format!("{} could not be processed: {err}", document.filename),
        )
        .await;
    }

    /// Records a durable status as a system message (it takes a `seq`) and publishes it.
    async fn record(&self, document: &ChatDocument, status: DocumentStatus, content: String) {
        let event = SystemEvent::DocumentStatus {
            document_id: document.id,
            status,
        };
        let message = NewMessage::system(
            document.tenant_id.clone(),
            document.session_id,
            content,
            event,
        );
        let recorded = self
            .inner
            .store
            .update_session(
                &document.tenant_id,
                document.session_id,
                SessionPatch::default(),
                Some(message),
            )
            .await;
        match recorded {
            Ok((_, Some(message))) => self.publish(document, ChatEvent::durable(message)).await,
            Ok((_, None)) => {}
            Err(err) => {
                tracing::warn!(document = %document.id, error = %err, "cannot record a document status")
            }
        }
    }

    async fn publish(&self, document: &ChatDocument, event: ChatEvent) {
        let topic = Topic::session(document.tenant_id.clone(), document.session_id);
        if let Err(err) = self.inner.bus.publish(&topic, Arc::new(event)).await {
            tracing::warn!(error = %err, "document status publication failed; clients catch up from the store");
        }
    }

    async fn delete_blob(&self, key: &str) {
        if let Err(err) = self.inner.blobs.delete(key).await {
            tracing::warn!(error = %err, "cannot delete an unused blob");
        }
    }
}

/// The store records of a document's chunks, numbered in order.
pub(crate) fn document_chunks(document: &ChatDocument, chunks: Vec<Chunk>) -> Vec<DocumentChunk> {
    chunks
        .into_iter()
        .enumerate()
        .map(|(ordinal, chunk)| {
            DocumentChunk::new(
                document.tenant_id.clone(),
                document.session_id,
                document.id,
                u32::try_from(ordinal).unwrap_or(u32::MAX),
                chunk.text,
                chunk.locator,
            )
        })
        .collect()
}

/// The client's file name, for display only: the last path component, without control
/// characters, at most [`MAX_FILENAME_CHARS`] characters; "document" when nothing is left.
pub(crate) fn display_name(filename: &str) -> String {
    let last = filename.rsplit(['/', '\\']).next().unwrap_or_default();
    let clean: String = last
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_FILENAME_CHARS)
        .collect();
    let clean = clean.trim();
    if clean.is_empty() || clean == "." || clean == ".." {
        "document".to_owned()
    } else {
        clean.to_owned()
    }
}
