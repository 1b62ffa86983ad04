//! The upload pipeline ([`DocumentIngestor`]) over the in-memory store and bus: events and
//! persisted statuses, chunks indexed and searchable, SHA-256 deduplication, refusals, failures
//! during processing; and the filesystem blob store.
#![cfg(feature = "documents")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod documents_support;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chat_core::bus::{BusItem, BusSubscription, EventBus, EventKind, InProcessBus, Topic};
use chat_core::ids::{DocumentId, SessionId, TenantId, UserId};
use chat_core::ingest::documents::{
    BlobError, BlobStore, DocumentIngestor, FsBlobStore, IngestConfig, Upload,
};
use chat_core::model::{ChatDocument, ChunkLocator, DocumentStatus, NewSession, SessionKind};
use chat_core::store::{ChatStore, DocumentStore, MemoryStore, MessageStore, SessionStore};
use documents_support::{fixture, minimal_xlsx};
use futures::StreamExt;

struct Setup {
    store: Arc<MemoryStore>,
    bus: Arc<InProcessBus>,
    blobs: Arc<FsBlobStore>,
    ingestor: DocumentIngestor,
    tenant: TenantId,
    session: SessionId,
    dir: PathBuf,
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn temp_dir() -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("chat-docs-test-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn setup(config: IngestConfig) -> Setup {
    let store = Arc::new(MemoryStore::new());
    let bus = Arc::new(InProcessBus::default());
    let dir = temp_dir();
    let blobs = Arc::new(FsBlobStore::new(dir.join("blobs")));
    let tenant = TenantId::new("acme").unwrap();
    let session = store
        .create_session(NewSession::new(
            tenant.clone(),
            SessionKind::Support,
            UserId::new("alice").unwrap(),
        ))
        .await
        .unwrap()
        .id;
    let ingestor = DocumentIngestor::new(
        store.clone() as Arc<dyn ChatStore>,
        bus.clone() as Arc<dyn EventBus>,
        blobs.clone() as Arc<dyn BlobStore>,
        config,
    );
    Setup {
        store,
        bus,
        blobs,
        ingestor,
        tenant,
        session,
        dir,
    }
}

impl Setup {
    async fn upload(&self, name: &str, bytes: Vec<u8>) -> Upload {
        self.ingestor
            .upload(&self.tenant, self.session, name, bytes)
            .await
            .unwrap()
    }

    async fn doc(&self, id: DocumentId) -> ChatDocument {
        self.store.get_document(&self.tenant, id).await.unwrap()
    }
}

async fn subscribe(s: &Setup) -> BusSubscription {
    s.bus
        .subscribe(&Topic::session(s.tenant.clone(), s.session))
        .await
        .unwrap()
}

/// Document status events until a terminal one: (status, seq).
async fn statuses_until_done(sub: &mut BusSubscription) -> Vec<(DocumentStatus, Option<u64>)> {
    let mut seen = Vec::new();
    loop {
        let item = tokio::time::timeout(Duration::from_secs(20), sub.next())
            .await
            .expect("event within 20 s");
        let Some(BusItem::Event(event)) = item else {
            panic!("subscription ended: {item:?}")
        };
        if let EventKind::DocumentStatus { status, .. } = &event.kind {
            seen.push((status.clone(), event.seq));
            if status.is_terminal() {
                return seen;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_goes_pending_processing_ready_with_searchable_chunks() {
    let s = setup(IngestConfig::default()).await;
    let mut sub = subscribe(&s).await;
    let upload = s
        .ingestor
        .upload(
            &s.tenant,
            s.session,
            "C:\\Users\\me\\manual.docx",
            fixture("manual.docx"),
        )
        .await
        .unwrap();
    assert!(upload.created);
    assert_eq!(upload.document.status, DocumentStatus::Pending);
    assert_eq!(
        upload.document.filename, "manual.docx",
        "only the last path component is kept"
    );
    assert_eq!(
        upload.document.media_type,
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    );
    assert_eq!(upload.document.sha256.len(), 64);

    let seen = statuses_until_done(&mut sub).await;
    // pending (durable) -> processing steps (ephemeral) -> ready (durable).
    assert!(
        matches!(seen.first(), Some((DocumentStatus::Pending, Some(_)))),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|(st, seq)| matches!(st, DocumentStatus::Processing { .. }) && seq.is_none())
    );
    let (last, ready_seq) = seen.last().cloned().unwrap();
    assert_eq!(last, DocumentStatus::Ready);
    assert!(ready_seq.unwrap() > seen[0].1.unwrap());

    let doc = s.doc(upload.document.id).await;
    assert_eq!(doc.status, DocumentStatus::Ready);
    assert!(doc.chunk_count > 0);
    // The original is in the blob store under a generated key.
    let key = doc.blob_key.clone().unwrap();
    assert!(!key.contains("manual"));
    assert_eq!(s.blobs.get(&key).await.unwrap(), fixture("manual.docx"));

    // Indexed: the session's search finds the needle with its heading path.
    let hits = s
        .store
        .search_chunks(&s.tenant, s.session, "KHAKIPUFFIN", 5)
        .await
        .unwrap();
    let hit = hits.first().expect("search hit");
    assert!(hit.chunk.text.contains("KHAKIPUFFIN"));
    assert_eq!(
        hit.chunk.locator,
        Some(ChunkLocator::Heading {
            path: vec!["Product Manual".into(), "Troubleshooting".into()]
        })
    );

    // The durable statuses replay from the store as system messages.
    let messages = s
        .store
        .list_messages(
            &s.tenant,
            s.session,
            chat_core::store::MessageQuery::after(0, 100),
        )
        .await
        .unwrap();
    let kinds: Vec<&str> = messages
        .iter()
        .filter_map(|m| match EventKind::for_message(m.clone()) {
            EventKind::DocumentStatus { status, .. } => Some(status.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(kinds, ["pending", "ready"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_file_twice_is_processed_once() {
    let s = setup(IngestConfig::default()).await;
    let first = s.upload("notes.txt", fixture("notes.txt")).await;
    first.job.unwrap().await.unwrap();
    let second = s
        .ingestor
        .upload(
            &s.tenant,
            s.session,
            "copy of notes.txt",
            fixture("notes.txt"),
        )
        .await
        .unwrap();
    assert!(!second.created);
    assert!(second.job.is_none());
    assert_eq!(second.document.id, first.document.id);
    let docs = s.store.list_documents(&s.tenant, s.session).await.unwrap();
    assert_eq!(docs.len(), 1);
    // The second copy's bytes were not kept.
    assert_eq!(count_files(&s.dir.join("blobs")), 1);
}

fn count_files(dir: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            if e.path().is_dir() {
                count_files(&e.path())
            } else {
                1
            }
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_uploads_store_nothing() {
    let s = setup(IngestConfig::default().max_upload_bytes(10_000)).await;
    let html = b"<!doctype html><html><body>hi</body></html>".to_vec();
    let err = s
        .ingestor
        .upload(&s.tenant, s.session, "page.txt", html)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "unsupported_media_type");
    let err = s
        .ingestor
        .upload(&s.tenant, s.session, "big.txt", vec![b'a'; 10_001])
        .await
        .unwrap_err();
    assert_eq!(err.code(), "too_large");
    let err = s
        .ingestor
        .upload(&s.tenant, s.session, "empty.txt", Vec::new())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_input");
    assert!(
        s.store
            .list_documents(&s.tenant, s.session)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(count_files(&s.dir.join("blobs")), 0);
    // An unknown session: the store refuses, and the stored bytes are removed again.
    let err = s
        .ingestor
        .upload(
            &s.tenant,
            SessionId::new(),
            "notes.txt",
            fixture("notes.txt"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "not_found");
    assert_eq!(count_files(&s.dir.join("blobs")), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_during_processing_are_recorded_with_their_code() {
    // No worker configured: a PDF is accepted, then fails as `unavailable`.
    let s = setup(IngestConfig::default()).await;
    let mut sub = subscribe(&s).await;
    let upload = s.upload("report.pdf", fixture("report.pdf")).await;
    let seen = statuses_until_done(&mut sub).await;
    let (last, seq) = seen.last().cloned().unwrap();
    assert!(
        matches!(&last, DocumentStatus::Failed { code, .. } if code == "unavailable"),
        "{last:?}"
    );
    assert!(seq.is_some(), "failed is durable");
    let doc = s.doc(upload.document.id).await;
    assert_eq!(doc.status, last);

    // A workbook whose sheet is not XML: accepted by its directory, corrupt inside.
    let broken = minimal_xlsx(
        "<?xml version=\"1.0\"?><worksheet><sheetData><row r=\"1\"><c r=\"A1\" t=\"inlineStr\"><is><t>x</is></c>",
    );
    let upload = s.upload("broken.xlsx", broken).await;
    let seen = statuses_until_done(&mut sub).await;
    assert!(
        matches!(&seen.last().unwrap().0, DocumentStatus::Failed { code, .. } if code == "corrupt"),
        "{seen:?}"
    );
    assert_eq!(s.doc(upload.document.id).await.chunk_count, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scanned_pdf_is_ready_with_a_warning_and_no_chunks() {
    let s = setup(IngestConfig::default().allow_in_process(true)).await;
    let upload = s.upload("scan.pdf", fixture("scanned.pdf")).await;
    upload.job.unwrap().await.unwrap();
    let doc = s.doc(upload.document.id).await;
    assert_eq!(doc.status, DocumentStatus::Ready);
    assert_eq!(doc.chunk_count, 0);
    assert_eq!(doc.page_count, Some(2));
    assert_eq!(doc.warnings, vec!["no text layer (scanned?)".to_owned()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_uploads_all_finish_under_the_job_limit() {
    let s = setup(IngestConfig::default().max_concurrent_jobs(1)).await;
    let mut jobs = Vec::new();
    for i in 0..6 {
        let text = format!("Document number {i} mentions the word PARALLEL{i}.\n");
        let upload = s
            .ingestor
            .upload(
                &s.tenant,
                s.session,
                &format!("n{i}.txt"),
                text.into_bytes(),
            )
            .await
            .unwrap();
        jobs.push(upload.job.unwrap());
    }
    for job in jobs {
        tokio::time::timeout(Duration::from_secs(20), job)
            .await
            .unwrap()
            .unwrap();
    }
    let docs = s.store.list_documents(&s.tenant, s.session).await.unwrap();
    assert_eq!(docs.len(), 6);
    assert!(docs.iter().all(|d| d.status == DocumentStatus::Ready));
    let hits = s
        .store
        .search_chunks(&s.tenant, s.session, "PARALLEL3", 5)
        .await
        .unwrap();
    assert!(
        hits.first()
            .is_some_and(|h| h.chunk.text.contains("PARALLEL3"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reprocess_reads_the_stored_original() {
    let s = setup(IngestConfig::default()).await;
    let upload = s.upload("guide.md", fixture("guide.md")).await;
    upload.job.unwrap().await.unwrap();
    let doc = s
        .ingestor
        .reprocess(&s.tenant, upload.document.id)
        .await
        .unwrap();
    assert_eq!(doc.status, DocumentStatus::Ready);
    let chunks = s.store.list_chunks(&s.tenant, doc.id).await.unwrap();
    assert!(chunks.iter().any(|c| c.text.contains("YELLOWZEBU")));
}

#[tokio::test]
async fn fs_blob_store_generates_sharded_keys_and_refuses_foreign_ones() {
    let dir = temp_dir();
    let store = FsBlobStore::new(dir.join("blobs"));
    let key = store.put(b"hello").await.unwrap();
    let parts: Vec<&str> = key.split('/').collect();
    assert_eq!(parts.len(), 3);
    assert_eq!((parts[0].len(), parts[1].len(), parts[2].len()), (2, 2, 32));
    assert!(dir.join("blobs").join(&key).is_file());
    assert_eq!(store.get(&key).await.unwrap(), b"hello");
    let other = store.put(b"hello").await.unwrap();
    assert_ne!(key, other, "every put gets a new name");
    store.delete(&key).await.unwrap();
    store.delete(&key).await.unwrap();
    assert!(matches!(store.get(&key).await, Err(BlobError::NotFound(_))));
    for bad in [
        "../etc/passwd",
        "ab/cd/../../x",
        "/etc/passwd",
        "AB/CD/0123456789abcdef0123456789abcdef",
        "",
    ] {
        assert!(
            matches!(store.get(bad).await, Err(BlobError::InvalidKey(_))),
            "{bad}"
        );
        assert!(
            matches!(store.delete(bad).await, Err(BlobError::InvalidKey(_))),
            "{bad}"
        );
    }
    // Object safe.
    let dynamic: Arc<dyn BlobStore> = Arc::new(store);
    assert!(dynamic.get(&other).await.is_ok());
    let _ = std::fs::remove_dir_all(dir);
}
