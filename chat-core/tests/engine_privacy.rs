//! Export, erasure and retention purge of personal data.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test support: a failed step fails the test

mod common;

use std::time::Duration;

use chat_core::engine::PostMessage;
use chat_core::model::{SessionPatch, SessionStatus};
use chat_core::{ChatError, Role};
use common::*;

#[tokio::test]
async fn customers_export_their_own_data_without_internal_notes() {
    let engine = engine();
    let alice = principal("t1", "alice", Role::Customer);
    let bob = principal("t1", "bob", Role::Customer);
    let admin = principal("t1", "root", Role::Admin);
    let manager = principal("t1", "boss", Role::Manager);
    let s1 = open_session(&engine, &alice).await;
    let s2 = open_session(&engine, &alice).await;
    let other = open_session(&engine, &bob).await;
    engine
        .post_message(&alice, s1.id, PostMessage::new("my invoice is wrong"))
        .await
        .unwrap();
    engine
        .post_message(
            &manager,
            s1.id,
            PostMessage::new("check the tax rate").internal(),
        )
        .await
        .unwrap();
    engine
        .post_message(&alice, s2.id, PostMessage::new("second chat"))
        .await
        .unwrap();
    engine
        .post_message(&bob, other.id, PostMessage::new("bob's secret"))
        .await
        .unwrap();

    let own = engine
        .export_customer(&alice, &alice.user_id)
        .await
        .unwrap();
    assert_eq!(own.sessions.len(), 2);
    let text = serde_json::to_string(&own).unwrap();
    assert!(text.contains("my invoice is wrong") && text.contains("second chat"));
    assert!(
        !text.contains("tax rate"),
        "internal notes stay out of a customer's export"
    );
    assert!(!text.contains("bob's secret"));

    let by_admin = engine
        .export_customer(&admin, &alice.user_id)
        .await
        .unwrap();
    assert!(
        serde_json::to_string(&by_admin)
            .unwrap()
            .contains("tax rate")
    );

    for who in [&bob, &manager] {
        assert!(matches!(
            engine.export_customer(who, &alice.user_id).await,
            Err(ChatError::Forbidden(_))
        ));
        assert!(matches!(
            engine.erase_customer(who, &alice.user_id).await,
            Err(ChatError::Forbidden(_))
        ));
    }
    // Another tenant's admin exports nothing of this tenant.
    let admin2 = principal("t2", "root", Role::Admin);
    assert!(
        engine
            .export_customer(&admin2, &alice.user_id)
            .await
            .unwrap()
            .sessions
            .is_empty()
    );
}

#[tokio::test]
async fn erasure_removes_everything_of_one_customer_only() {
    let engine = engine();
    let alice = principal("t1", "alice", Role::Customer);
    let bob = principal("t1", "bob", Role::Customer);
    let admin = principal("t1", "root", Role::Admin);
    let s1 = open_session(&engine, &alice).await;
    let other = open_session(&engine, &bob).await;
    engine
        .post_message(&alice, s1.id, PostMessage::new("hello"))
        .await
        .unwrap();
    engine
        .post_message(&bob, other.id, PostMessage::new("hi"))
        .await
        .unwrap();

    let report = engine.erase_customer(&admin, &alice.user_id).await.unwrap();
    assert_eq!(report.sessions, vec![s1.id]);
    assert!(matches!(
        engine.get_session(&admin, s1.id).await,
        Err(ChatError::NotFound(_))
    ));
    assert!(
        engine
            .export_customer(&admin, &alice.user_id)
            .await
            .unwrap()
            .sessions
            .is_empty()
    );
    assert_eq!(
        engine
            .list_messages(&bob, other.id, 0, 10)
            .await
            .unwrap()
            .messages
            .len(),
        1
    );
    // Erasing again is a no-op, and customers may erase themselves.
    assert!(
        engine
            .erase_customer(&alice, &alice.user_id)
            .await
            .unwrap()
            .sessions
            .is_empty()
    );
}

#[tokio::test]
async fn purge_removes_only_closed_sessions_past_retention() {
    let engine = engine();
    let alice = principal("t1", "alice", Role::Customer);
    let admin = principal("t1", "root", Role::Admin);
    let closed = open_session(&engine, &alice).await;
    let open = open_session(&engine, &alice).await;
    engine
        .store()
        .update_session(
            &alice.tenant_id,
            closed.id,
            SessionPatch::default().status(SessionStatus::Closed),
            None,
        )
        .await
        .unwrap();
    // A long retention keeps it.
    assert!(
        engine
            .purge_sessions(&admin, Duration::from_secs(3600))
            .await
            .unwrap()
            .sessions
            .is_empty()
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let report = engine
        .purge_sessions(&admin, Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(report.sessions, vec![closed.id]);
    assert!(engine.get_session(&alice, open.id).await.is_ok());
    assert!(matches!(
        engine.purge_sessions(&alice, Duration::ZERO).await,
        Err(ChatError::Forbidden(_))
    ));
    assert!(matches!(
        engine.purge_sessions(&admin, Duration::MAX).await,
        Err(ChatError::InvalidInput(_))
    ));
}

#[cfg(feature = "documents")]
#[tokio::test]
async fn erasure_deletes_stored_document_bytes() {
    use std::sync::Arc;

    use chat_core::ChatEngine;
    use chat_core::ingest::documents::{BlobStore, FsBlobStore, IngestConfig};
    use chat_core::store::MemoryStore;

    let dir = tempfile::tempdir().unwrap();
    let blobs = Arc::new(FsBlobStore::new(dir.path()));
    let engine = ChatEngine::builder()
        .store(Arc::new(MemoryStore::new()))
        .documents(blobs.clone(), IngestConfig::default())
        .build()
        .unwrap();
    let alice = principal("t1", "alice", Role::Customer);
    let session = open_session(&engine, &alice).await;
    let upload = engine
        .upload_document(
            &alice,
            session.id,
            "notes.txt",
            b"Order 1234 was shipped on Monday.".to_vec(),
        )
        .await
        .unwrap();
    let key = upload.document.blob_key.clone().expect("bytes are stored");
    let json = serde_json::to_string(&upload.document).unwrap();
    assert!(
        !json.contains(&key) && !json.contains("blob_key"),
        "the storage key never reaches clients: {json}"
    );
    assert!(blobs.get(&key).await.is_ok());
    if let Some(job) = upload.job {
        job.await.unwrap();
    }
    let report = engine.erase_customer(&alice, &alice.user_id).await.unwrap();
    assert_eq!(report.blob_keys, vec![key.clone()]);
    assert!(blobs.get(&key).await.is_err(), "the bytes are gone");
}
