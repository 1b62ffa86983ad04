//! `ChatEngine::upload_document` and the document reads: authorization, delegation to the
//! ingestor, error codes.
#![cfg(feature = "documents")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod documents_support;

use std::sync::Arc;
use std::time::Duration;

use chat_core::engine::CreateSession;
use chat_core::ids::{DocumentId, SessionId, TenantId, UserId};
use chat_core::ingest::documents::{FsBlobStore, IngestConfig};
use chat_core::model::{DocumentStatus, SessionKind, SessionPatch, SessionStatus};
use chat_core::store::{MemoryStore, SessionStore};
use chat_core::{ChatEngine, Principal, Role};
use documents_support::fixture;

fn who(user: &str, role: Role) -> Principal {
    Principal::new(
        TenantId::new("acme").unwrap(),
        UserId::new(user).unwrap(),
        role,
    )
}

fn engine(with_documents: bool) -> (ChatEngine, Arc<MemoryStore>, std::path::PathBuf) {
    let store = Arc::new(MemoryStore::new());
    let dir = std::env::temp_dir().join(format!(
        "chat-docs-engine-{}",
        uuid::Uuid::now_v7().simple()
    ));
    let mut builder = ChatEngine::builder().store(store.clone());
    if with_documents {
        builder = builder.documents(Arc::new(FsBlobStore::new(&dir)), IngestConfig::default());
    }
    (builder.build().unwrap(), store, dir)
}

/// The error code of an upload that must fail.
async fn upload_code(
    engine: &ChatEngine,
    who: &Principal,
    session: SessionId,
    name: &str,
    bytes: Vec<u8>,
) -> &'static str {
    engine
        .upload_document(who, session, name, bytes)
        .await
        .unwrap_err()
        .code()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_upload_to_their_own_open_sessions() {
    let (engine, store, dir) = engine(true);
    let alice = who("alice", Role::Customer);
    let bob = who("bob", Role::Customer);
    let manager = who("boss", Role::Manager);
    let session = engine
        .create_session(&alice, CreateSession::new(SessionKind::Support))
        .await
        .unwrap();

    let upload = engine
        .upload_document(&alice, session.id, "guide.md", fixture("guide.md"))
        .await
        .unwrap();
    assert!(upload.created);
    tokio::time::timeout(Duration::from_secs(20), upload.job.unwrap())
        .await
        .unwrap()
        .unwrap();
    let doc = engine
        .get_document(&alice, session.id, upload.document.id)
        .await
        .unwrap();
    assert_eq!(doc.status, DocumentStatus::Ready);
    assert_eq!(
        engine
            .list_documents(&manager, session.id)
            .await
            .unwrap()
            .len(),
        1
    );

    // Another customer may neither upload nor read.
    assert_eq!(
        upload_code(&engine, &bob, session.id, "notes.txt", fixture("notes.txt")).await,
        "forbidden"
    );
    assert_eq!(
        engine
            .list_documents(&bob, session.id)
            .await
            .unwrap_err()
            .code(),
        "forbidden"
    );
    assert_eq!(
        engine
            .get_document(&bob, session.id, doc.id)
            .await
            .unwrap_err()
            .code(),
        "forbidden"
    );

    // A document id of another session is not found through this one.
    let other = engine
        .create_session(&alice, CreateSession::new(SessionKind::Support))
        .await
        .unwrap();
    assert_eq!(
        engine
            .get_document(&alice, other.id, doc.id)
            .await
            .unwrap_err()
            .code(),
        "not_found"
    );
    assert_eq!(
        engine
            .get_document(&alice, session.id, DocumentId::new())
            .await
            .unwrap_err()
            .code(),
        "not_found"
    );

    // Refused files keep their API code.
    let html = b"<!DOCTYPE html><html></html>".to_vec();
    assert_eq!(
        upload_code(&engine, &alice, session.id, "page.txt", html).await,
        "unsupported_media_type"
    );
    assert_eq!(
        upload_code(&engine, &alice, session.id, "empty.txt", Vec::new()).await,
        "invalid_input"
    );

    // Nobody uploads to a closed session.
    store
        .update_session(
            &alice.tenant_id,
            session.id,
            SessionPatch::default().status(SessionStatus::Closed),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        upload_code(
            &engine,
            &alice,
            session.id,
            "notes.txt",
            fixture("notes.txt")
        )
        .await,
        "forbidden"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn upload_without_documents_configured_is_unavailable() {
    let (engine, _store, _dir) = engine(false);
    let alice = who("alice", Role::Customer);
    let session = engine
        .create_session(&alice, CreateSession::new(SessionKind::Support))
        .await
        .unwrap();
    assert_eq!(
        upload_code(
            &engine,
            &alice,
            session.id,
            "notes.txt",
            fixture("notes.txt")
        )
        .await,
        "unavailable"
    );
    assert!(
        engine
            .list_documents(&alice, session.id)
            .await
            .unwrap()
            .is_empty()
    );
}
