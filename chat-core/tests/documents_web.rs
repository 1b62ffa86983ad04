//! PDFs behind URLs go through the document pipeline: the URL ingestor hands them to an
//! [`Extractor`], which extracts them (in its worker or, here, in-process) with page locators.
#![cfg(all(feature = "documents", feature = "web"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod documents_support;

use std::sync::Arc;
use std::time::Duration;

use chat_core::bus::{BusItem, EventBus, EventKind, InProcessBus, Topic};
use chat_core::ids::{TenantId, UserId};
use chat_core::ingest::documents::{Extractor, IngestConfig};
use chat_core::ingest::web::{UrlIngestor, WebConfig};
use chat_core::model::{ChunkLocator, DocumentStatus, NewSession, SessionKind};
use chat_core::store::{ChatStore, MemoryStore};
use documents_support::fixture;
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A loopback server: `/robots.txt` is 404, `/report.pdf` the fixture, `/scan.pdf` the
/// scanned fixture, anything else 404.
async fn pdf_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head);
                let path = head.split_whitespace().nth(1).unwrap_or("/");
                let (status, body) = match path {
                    "/report.pdf" => ("200 OK", fixture("report.pdf")),
                    "/scan.pdf" => ("200 OK", fixture("scanned.pdf")),
                    _ => ("404 Not Found", b"not found".to_vec()),
                };
                let response = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: application/pdf\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
                let _ = socket.write_all(&body).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pdf_links_are_extracted_by_the_document_pipeline() {
    let base = pdf_server().await;
    let store: Arc<dyn ChatStore> = Arc::new(MemoryStore::new());
    let bus: Arc<dyn EventBus> = Arc::new(InProcessBus::default());
    let web = WebConfig::default()
        .allow_loopback(true)
        .allow_any_port(true)
        .per_host_interval(Duration::ZERO);
    let extractor = Extractor::new(IngestConfig::default().allow_in_process(true));
    let urls = Arc::new(
        UrlIngestor::new(Arc::clone(&store), Arc::clone(&bus), web)
            .unwrap()
            .pdf_handoff(Arc::new(extractor)),
    );
    let tenant = TenantId::new("acme").unwrap();
    let session = store
        .create_session(NewSession::new(
            tenant.clone(),
            SessionKind::Support,
            UserId::new("alice").unwrap(),
        ))
        .await
        .unwrap();
    let mut sub = bus
        .subscribe(&Topic::session(tenant.clone(), session.id))
        .await
        .unwrap();

    let mut finals = Vec::new();
    for path in ["/report.pdf", "/scan.pdf"] {
        let submitted = urls
            .submit(&tenant, session.id, &format!("{base}{path}"))
            .await
            .unwrap();
        let status = loop {
            let item = tokio::time::timeout(Duration::from_secs(20), sub.next())
                .await
                .unwrap()
                .unwrap();
            if let BusItem::Event(event) = item
                && let EventKind::UrlStatus {
                    status,
                    document_id,
                    ..
                } = &event.kind
                && *document_id == submitted.document.id
                && status.is_terminal()
            {
                break status.clone();
            }
        };
        finals.push((submitted.document.id, status));
    }
    let (report, status) = &finals[0];
    assert_eq!(*status, DocumentStatus::Ready);
    let chunks = store.list_chunks(&tenant, *report).await.unwrap();
    let hit = chunks
        .iter()
        .find(|c| c.text.contains("COBALTHERON"))
        .expect("needle");
    assert!(
        matches!(hit.locator, Some(ChunkLocator::Page { page: 1..=2, .. })),
        "{:?}",
        hit.locator
    );
    // A scanned PDF has no text: the URL pipeline reports that, with its own code.
    assert!(
        matches!(&finals[1].1, DocumentStatus::Failed { .. }),
        "{:?}",
        finals[1].1
    );
}
