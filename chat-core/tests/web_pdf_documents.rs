//! A linked PDF goes through the document pipeline: `DocumentIngestor` is the URL pipeline's
//! `PdfHandoff`. A text PDF served by a loopback server becomes a ready document with chunks
//! located by page; a PDF the document pipeline refuses (encrypted) fails with its code.
//!
//! No packet leaves this machine: see `web_support`.
#![cfg(all(feature = "web", feature = "documents"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers: a failed step fails the test

mod web_support;

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chat_core::bus::{EventBus, InProcessBus};
use chat_core::ids::{TenantId, UserId};
use chat_core::ingest::documents::{DocumentIngestor, FsBlobStore, IngestConfig};
use chat_core::ingest::web::UrlIngestor;
use chat_core::model::{ChatDocument, ChunkLocator, DocumentStatus, NewSession, SessionKind};
use chat_core::store::{ChatStore, MemoryStore};
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use web_support::*;

const DOCUMENTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/documents");

/// Serves the document fixtures as `application/pdf` under `/files/NAME`.
async fn pdf_server() -> SocketAddr {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service = service_fn(|req: Request<Incoming>| async move {
                    let name = req.uri().path().trim_start_matches("/files/").to_owned();
                    let response = match std::fs::read(format!("{DOCUMENTS}/{name}")) {
                        Ok(bytes) if !name.contains('/') => Response::builder()
                            .header("content-type", "application/pdf")
                            .body(Full::new(Bytes::from(bytes)))
                            .unwrap(),
                        _ => Response::builder()
                            .status(404)
                            .body(Full::new(Bytes::from_static(b"not found")))
                            .unwrap(),
                    };
                    Ok::<_, Infallible>(response)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

struct Setup {
    store: Arc<dyn ChatStore>,
    ingestor: Arc<UrlIngestor>,
    server: SocketAddr,
    _blobs: tempfile::TempDir,
}

async fn setup() -> Setup {
    let store: Arc<dyn ChatStore> = Arc::new(MemoryStore::new());
    let bus: Arc<dyn EventBus> = Arc::new(InProcessBus::default());
    let blobs = tempfile::tempdir().unwrap();
    // Test fixtures are trusted: extracted in-process instead of in a worker process.
    let documents = DocumentIngestor::new(
        Arc::clone(&store),
        Arc::clone(&bus),
        Arc::new(FsBlobStore::new(blobs.path())),
        IngestConfig::default().allow_in_process(true),
    );
    let (fetcher, _gate) = literal_fetcher(test_config());
    let ingestor = UrlIngestor::with_fetcher(Arc::clone(&store), bus, Arc::new(fetcher))
        .pdf_handoff(Arc::new(documents));
    Setup {
        store,
        ingestor: Arc::new(ingestor),
        server: pdf_server().await,
        _blobs: blobs,
    }
}

/// Submits `/files/NAME` and waits for a terminal status.
async fn submit(s: &Setup, name: &str) -> ChatDocument {
    let tenant = TenantId::new("t1").unwrap();
    let session = s
        .store
        .create_session(NewSession::new(
            tenant.clone(),
            SessionKind::Support,
            UserId::new("alice").unwrap(),
        ))
        .await
        .unwrap();
    let url = format!("http://{}/files/{name}", s.server);
    let submitted = s.ingestor.submit(&tenant, session.id, &url).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let doc = s
            .store
            .get_document(&tenant, submitted.document.id)
            .await
            .unwrap();
        if doc.status.is_terminal() {
            return doc;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still {:?}",
            doc.status
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn linked_text_pdf_becomes_a_document_with_page_locators() {
    let s = setup().await;
    let doc = submit(&s, "report.pdf").await;
    assert_eq!(doc.status, DocumentStatus::Ready, "{:?}", doc.status);
    let chunks = s.store.list_chunks(&doc.tenant_id, doc.id).await.unwrap();
    assert_eq!(doc.chunk_count as usize, chunks.len());
    // The needles of the fixture, on the pages needles.json places them.
    for (needle, page) in [("AMBERFALCON", 1), ("COBALTHERON", 2), ("DELTALYNX", 3)] {
        let chunk = chunks
            .iter()
            .find(|c| c.text.contains(needle))
            .unwrap_or_else(|| panic!("{needle} not found"));
        let covers = match &chunk.locator {
            Some(ChunkLocator::Page {
                page: first,
                end_page,
            }) => (*first..=end_page.unwrap_or(*first)).contains(&page),
            _ => false,
        };
        assert!(covers, "{needle} on page {page}: {:?}", chunk.locator);
    }
}

#[tokio::test]
async fn linked_pdf_the_document_pipeline_refuses_fails_with_its_code() {
    let s = setup().await;
    let doc = submit(&s, "encrypted.pdf").await;
    match &doc.status {
        DocumentStatus::Failed { code, .. } => assert_eq!(code, "encrypted"),
        other => panic!("expected a failure, got {other:?}"),
    }
}
