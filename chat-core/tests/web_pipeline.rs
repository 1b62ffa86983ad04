//! The URL pipeline end to end: `ChatEngine::submit_url` -> `UrlIngestor` -> store and bus,
//! with the loopback test server; the cache (hits, revalidation, negative entries, purge) and
//! the PDF handoff.
//!
//! No packet leaves this machine: see `web_support`.
#![cfg(feature = "web")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers: a failed step fails the test

mod web_support;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chat_core::bus::{BusItem, ChatEvent, EventBus, EventKind, InProcessBus, Topic};
use chat_core::engine::CreateSession;
use chat_core::ids::{SessionId, TenantId, UserId};
use chat_core::ingest::web::{
    CacheCounters, CacheOutcome, FetchedPdf, LoadOutcome, PdfHandoff, UrlIngestor, WebConfig,
    WebError,
};
use chat_core::model::{ChatDocument, ChunkLocator, DocumentChunk, DocumentStatus, SessionKind};
use chat_core::store::{ChatStore, MemoryStore};
use chat_core::{ChatEngine, Principal, Role};
use futures::StreamExt;
use web_support::*;

struct Setup {
    engine: ChatEngine,
    store: Arc<dyn ChatStore>,
    ingestor: Arc<UrlIngestor>,
    server: TestServer,
}

async fn setup(config: WebConfig) -> Setup {
    let server = TestServer::start_local().await;
    let store: Arc<dyn ChatStore> = Arc::new(MemoryStore::new());
    let bus: Arc<dyn EventBus> = Arc::new(InProcessBus::default());
    let (fetcher, _gate) = literal_fetcher(config);
    let ingestor = Arc::new(UrlIngestor::with_fetcher(
        Arc::clone(&store),
        Arc::clone(&bus),
        Arc::new(fetcher),
    ));
    let engine = ChatEngine::builder()
        .store(Arc::clone(&store))
        .bus(bus)
        .url_ingestor(Arc::clone(&ingestor))
        .build()
        .expect("engine");
    Setup {
        engine,
        store,
        ingestor,
        server,
    }
}

async fn open_session(s: &Setup, customer: &Principal) -> chat_core::model::ChatSession {
    s.engine
        .create_session(customer, CreateSession::new(SessionKind::Support))
        .await
        .expect("session")
}

fn customer(name: &str) -> Principal {
    Principal::new(
        TenantId::new("t1").expect("tenant"),
        UserId::new(name).expect("user"),
        Role::Customer,
    )
}

/// Events of the session's URL until the document reaches a terminal status.
async fn url_events(sub: &mut chat_core::bus::BusSubscription) -> Vec<Arc<ChatEvent>> {
    let mut events = Vec::new();
    loop {
        let item = tokio::time::timeout(Duration::from_secs(10), sub.next())
            .await
            .expect("event in time")
            .expect("open");
        let BusItem::Event(event) = item else {
            continue;
        };
        if let EventKind::UrlStatus { status, .. } = &event.kind {
            let done = status.is_terminal();
            events.push(Arc::clone(&event));
            if done {
                return events;
            }
        }
    }
}

fn status_of(event: &ChatEvent) -> DocumentStatus {
    match &event.kind {
        EventKind::UrlStatus { status, .. } => status.clone(),
        other => panic!("not a url_status: {other:?}"),
    }
}

#[tokio::test]
async fn submitted_url_goes_from_pending_to_ready_with_chunks() {
    let s = setup(test_config()).await;
    let alice = customer("alice");
    let session = open_session(&s, &alice).await;
    let topic = Topic::session(alice.tenant_id.clone(), session.id);
    let mut sub = s.engine.bus().subscribe(&topic).await.expect("subscribe");

    let submitted = s
        .engine
        .submit_url(&alice, session.id, &s.server.url("/article"))
        .await
        .expect("submit");
    assert!(submitted.created);
    assert_eq!(submitted.document.status, DocumentStatus::Pending);
    assert_eq!(
        submitted.document.source_url,
        Some(s.server.url("/article"))
    );
    assert_eq!(submitted.document.media_type, "text/html");

    let events = url_events(&mut sub).await;
    let first = events.first().expect("pending");
    let last = events.last().expect("ready");
    assert_eq!(status_of(first), DocumentStatus::Pending);
    assert!(first.seq.is_some(), "pending is durable");
    assert_eq!(status_of(last), DocumentStatus::Ready);
    assert!(last.seq > first.seq, "ready is durable and later");
    let progress: Vec<&Arc<ChatEvent>> = events
        .iter()
        .filter(|e| matches!(status_of(e), DocumentStatus::Processing { .. }))
        .collect();
    assert!(
        !progress.is_empty() && progress.iter().all(|e| e.seq.is_none()),
        "progress is ephemeral"
    );

    let doc = s
        .store
        .get_document(&alice.tenant_id, submitted.document.id)
        .await
        .expect("doc");
    assert_eq!(doc.status, DocumentStatus::Ready);
    assert!(doc.chunk_count >= 1);
    assert_eq!(
        doc.metadata.get("title").and_then(|v| v.as_str()),
        Some("Resetting your router | Example Support")
    );
    assert_eq!(
        doc.metadata.get("cache").and_then(|v| v.as_str()),
        Some("miss")
    );
    let chunks = s
        .store
        .list_chunks(&alice.tenant_id, doc.id)
        .await
        .expect("chunks");
    assert!(chunks.iter().any(|c| matches!(&c.locator, Some(ChunkLocator::Heading { path }) if path.first().map(String::as_str) == Some("Resetting your router"))));
    let found = s
        .store
        .search_chunks(&alice.tenant_id, session.id, "paper clip", 5)
        .await
        .expect("search");
    assert!(
        found
            .first()
            .is_some_and(|hit| hit.chunk.text.contains("paper clip"))
    );

    // The statuses replay from the store as system messages.
    let page = s
        .engine
        .list_messages(&alice, session.id, 0, 50)
        .await
        .expect("messages");
    let replayed: Vec<DocumentStatus> = page
        .messages
        .into_iter()
        .filter_map(|m| match m.metadata.system_event {
            Some(chat_core::model::SystemEvent::UrlStatus { status, .. }) => Some(status),
            _ => None,
        })
        .collect();
    assert_eq!(
        replayed,
        vec![DocumentStatus::Pending, DocumentStatus::Ready]
    );

    // The same URL again (fragment and case differences normalize away) is not processed twice.
    let again_url = s.server.url("/article#steps").replace("http://", "HTTP://");
    let again = s
        .engine
        .submit_url(&alice, session.id, &again_url)
        .await
        .expect("again");
    assert!(!again.created);
    assert_eq!(again.document.id, doc.id);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(s.server.hits("/article"), 1);
}

#[tokio::test]
async fn refusals_and_failures_reach_the_caller_and_the_session() {
    let s = setup(test_config()).await;
    let alice = customer("alice");
    let session = open_session(&s, &alice).await;

    let err = s
        .engine
        .submit_url(&alice, session.id, "ftp://example.com/")
        .await
        .expect_err("scheme");
    assert_eq!(err.code(), "invalid_input");
    let err = s
        .engine
        .submit_url(
            &alice,
            session.id,
            &format!("http://example.com/{}", "a".repeat(3000)),
        )
        .await
        .expect_err("long");
    assert_eq!(err.code(), "too_large");
    let err = s
        .engine
        .submit_url(&customer("mallory"), session.id, &s.server.url("/article"))
        .await
        .expect_err("other");
    assert_eq!(err.code(), "forbidden");
    let err = s
        .engine
        .submit_url(&alice, SessionId::new(), &s.server.url("/article"))
        .await
        .expect_err("missing");
    assert_eq!(err.code(), "not_found");

    let topic = Topic::session(alice.tenant_id.clone(), session.id);
    let mut sub = s.engine.bus().subscribe(&topic).await.expect("subscribe");
    for (path, code) in [
        ("/missing", "http_status"),
        ("/binary", "unsupported_media_type"),
        ("/js-only", "no_content"),
        ("/private/secret", "robots_disallowed"),
        ("/pdf", "unsupported_media_type"),
    ] {
        let submitted = s
            .engine
            .submit_url(&alice, session.id, &s.server.url(path))
            .await
            .expect(path);
        let events = url_events(&mut sub).await;
        match status_of(events.last().expect("terminal")) {
            DocumentStatus::Failed { code: got, .. } => assert_eq!(got, code, "{path}"),
            other => panic!("{path}: {other:?}"),
        }
        let doc = s
            .store
            .get_document(&alice.tenant_id, submitted.document.id)
            .await
            .expect("doc");
        assert!(
            matches!(doc.status, DocumentStatus::Failed { .. }),
            "{path}: {:?}",
            doc.status
        );
    }
}

#[derive(Debug)]
struct FakePdfPipeline;

#[async_trait]
impl PdfHandoff for FakePdfPipeline {
    async fn extract_pdf(
        &self,
        document: &ChatDocument,
        pdf: FetchedPdf,
    ) -> Result<Vec<DocumentChunk>, WebError> {
        assert!(pdf.body.starts_with(b"%PDF-"));
        Ok(vec![DocumentChunk::new(
            document.tenant_id.clone(),
            document.session_id,
            document.id,
            0,
            "Text of page one",
            Some(ChunkLocator::Page {
                page: 1,
                end_page: None,
            }),
        )])
    }
}

#[tokio::test]
async fn pdf_links_go_to_the_document_pipeline() {
    let server = TestServer::start_local().await;
    let store: Arc<dyn ChatStore> = Arc::new(MemoryStore::new());
    let bus: Arc<dyn EventBus> = Arc::new(InProcessBus::default());
    let (fetcher, _) = literal_fetcher(test_config());
    let ingestor = Arc::new(
        UrlIngestor::with_fetcher(Arc::clone(&store), Arc::clone(&bus), Arc::new(fetcher))
            .pdf_handoff(Arc::new(FakePdfPipeline)),
    );
    let alice = customer("alice");
    let session = store
        .create_session(chat_core::model::NewSession::new(
            alice.tenant_id.clone(),
            SessionKind::Support,
            alice.user_id.clone(),
        ))
        .await
        .expect("session");
    let mut sub = bus
        .subscribe(&Topic::session(alice.tenant_id.clone(), session.id))
        .await
        .expect("subscribe");
    let submitted = ingestor
        .submit(&alice.tenant_id, session.id, &server.url("/pdf"))
        .await
        .expect("submit");
    let events = url_events(&mut sub).await;
    assert_eq!(
        status_of(events.last().expect("terminal")),
        DocumentStatus::Ready
    );
    let chunks = store
        .list_chunks(&alice.tenant_id, submitted.document.id)
        .await
        .expect("chunks");
    assert_eq!(chunks.len(), 1);
    assert_eq!(
        chunks[0].locator,
        Some(ChunkLocator::Page {
            page: 1,
            end_page: None
        })
    );
}

#[tokio::test]
async fn cache_hits_revalidation_negative_entries_and_purge() {
    let s = setup(test_config()).await;
    let tenant = TenantId::new("t1").expect("tenant");
    let load = |path: &str| {
        let url = s
            .ingestor
            .fetcher()
            .validate(&s.server.url(path))
            .expect("url");
        let ingestor = Arc::clone(&s.ingestor);
        let tenant = tenant.clone();
        async move { ingestor.load(&tenant, &url).await }
    };
    let cache_of = |outcome: Result<LoadOutcome, WebError>| match outcome {
        Ok(LoadOutcome::Page(page)) => page.cache,
        other => panic!("expected a page, got {other:?}"),
    };
    assert_eq!(cache_of(load("/article").await), CacheOutcome::Miss);
    assert_eq!(cache_of(load("/article").await), CacheOutcome::Hit);
    assert_eq!(s.server.hits("/article"), 1);
    // Another tenant has its own cache.
    let other = TenantId::new("t2").expect("tenant");
    let url = s
        .ingestor
        .fetcher()
        .validate(&s.server.url("/article"))
        .expect("url");
    assert!(
        matches!(s.ingestor.load(&other, &url).await, Ok(LoadOutcome::Page(p)) if p.cache == CacheOutcome::Miss)
    );

    // A failure is remembered for negative_cache_ttl.
    assert!(matches!(
        load("/500").await,
        Err(WebError::HttpStatus { status: 500 })
    ));
    match load("/500").await {
        Err(WebError::CachedFailure { code, .. }) => assert_eq!(code, "http_status"),
        other => panic!("expected a cached failure, got {other:?}"),
    }
    assert_eq!(s.server.hits("/500"), 1);
    let counters: CacheCounters = s.ingestor.cache_counters();
    assert_eq!(
        (
            counters.hits,
            counters.misses,
            counters.revalidated,
            counters.negative_hits
        ),
        (2, 3, 0, 1)
    );

    // Expired entries with an ETag are revalidated: 304 keeps and extends them.
    let e = setup(
        test_config()
            .cache_ttl(Duration::ZERO)
            .negative_cache_ttl(Duration::ZERO),
    )
    .await;
    let url = e
        .ingestor
        .fetcher()
        .validate(&e.server.url("/etag"))
        .expect("url");
    let first = e.ingestor.load(&tenant, &url).await.expect("first");
    let second = e.ingestor.load(&tenant, &url).await.expect("second");
    let (LoadOutcome::Page(first), LoadOutcome::Page(second)) = (first, second) else {
        panic!("pages")
    };
    assert_eq!(
        (first.cache, second.cache),
        (CacheOutcome::Miss, CacheOutcome::Revalidated)
    );
    assert_eq!(second.text, first.text);
    assert_eq!(e.server.hits("/etag"), 2);
    assert_eq!(e.ingestor.cache_counters().revalidated, 1);
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert!(e.ingestor.purge_expired_cache().await.expect("purge") >= 1);
    let url = e
        .ingestor
        .fetcher()
        .validate(&e.server.url("/etag"))
        .expect("url");
    assert!(
        matches!(e.ingestor.load(&tenant, &url).await, Ok(LoadOutcome::Page(p)) if p.cache == CacheOutcome::Miss)
    );
}
