//! Posting, validation, idempotency, paging, ephemeral events and knowledge operations.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test support: a failed step fails the test

mod common;

use std::sync::Arc;
use std::time::Duration;

use chat_core::bus::{EventKind, InProcessBus, PresenceState, TypingState};
use chat_core::engine::{PostMessage, SubscriptionItem};
use chat_core::model::{FaqStatus, KbArticle, LearnedFaqEntry, SenderKind};
use chat_core::{ChatError, EngineConfig, Role};
use common::*;

#[tokio::test]
async fn invalid_messages_get_clear_errors_and_store_nothing() {
    let engine = engine_with(
        EngineConfig::default().max_message_bytes(64),
        Arc::new(InProcessBus::default()),
    );
    let alice = principal("t1", "alice", Role::Customer);
    let session = open_session(&engine, &alice).await;

    let cases: Vec<(PostMessage, &str)> = vec![
        (PostMessage::new(""), "invalid_input"),
        (PostMessage::new("   \n\t "), "invalid_input"),
        (PostMessage::new("x".repeat(65)), "too_large"),
        (PostMessage::new("bell\u{7}"), "invalid_input"),
        (PostMessage::new("nul\u{0}byte"), "invalid_input"),
        (PostMessage::new("escape \u{1b}[2J"), "invalid_input"),
        (PostMessage::new("fine").client_msg_id(""), "invalid_input"),
        (
            PostMessage::new("fine").client_msg_id("has space"),
            "invalid_input",
        ),
        (
            PostMessage::new("fine").client_msg_id("x".repeat(129)),
            "invalid_input",
        ),
    ];
    for (input, code) in cases {
        let err = engine
            .post_message(&alice, session.id, input.clone())
            .await
            .unwrap_err();
        assert_eq!(err.code(), code, "{input:?} -> {err}");
        assert!(!err.to_string().is_empty());
    }
    let too_large = engine
        .post_message(&alice, session.id, PostMessage::new("é".repeat(33)))
        .await
        .unwrap_err();
    assert!(
        too_large.to_string().contains("66 bytes") && too_large.to_string().contains("64"),
        "{too_large}"
    );

    assert!(
        engine
            .list_messages(&alice, session.id, 0, 50)
            .await
            .unwrap()
            .messages
            .is_empty()
    );
    // Exactly at the limit, with newlines and tabs, is fine.
    let ok = engine
        .post_message(
            &alice,
            session.id,
            PostMessage::new(format!("a\tb\r\n{}", "c".repeat(59))),
        )
        .await
        .unwrap();
    assert_eq!(ok.message.content.len(), 64);
    assert_eq!(ok.message.seq, 1);
}

#[tokio::test]
async fn default_limit_is_16_kib() {
    let engine = engine();
    let alice = principal("t1", "alice", Role::Customer);
    let session = open_session(&engine, &alice).await;
    assert!(
        engine
            .post_message(&alice, session.id, PostMessage::new("x".repeat(16 * 1024)))
            .await
            .is_ok()
    );
    let err = engine
        .post_message(
            &alice,
            session.id,
            PostMessage::new("x".repeat(16 * 1024 + 1)),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ChatError::TooLarge(_)));
}

#[tokio::test]
async fn retries_with_the_same_client_msg_id_return_the_first_message_and_publish_once() {
    let engine = engine();
    let alice = principal("t1", "alice", Role::Customer);
    let session = open_session(&engine, &alice).await;
    let mut live = engine.subscribe(&alice, session.id, 0).await.unwrap();
    assert_eq!(
        next_item(&mut live).await,
        SubscriptionItem::CaughtUp { last_seq: 0 }
    );

    let first = engine
        .post_message(
            &alice,
            session.id,
            PostMessage::new("hello").client_msg_id("c-1"),
        )
        .await
        .unwrap();
    let retry = engine
        .post_message(
            &alice,
            session.id,
            PostMessage::new("hello (edited in retry)").client_msg_id("c-1"),
        )
        .await
        .unwrap();
    assert!(first.created);
    assert!(!retry.created);
    assert_eq!(first.message, retry.message);
    assert_eq!(retry.message.content, "hello");

    match next_item(&mut live).await {
        SubscriptionItem::Event(e) => assert_eq!(e.seq, Some(1)),
        other => panic!("unexpected {other:?}"),
    }
    assert_quiet(&mut live, Duration::from_millis(100)).await;

    // The same key from another participant is a conflict, not someone else's message.
    let manager = principal("t1", "boss", Role::Manager);
    let err = engine
        .post_message(
            &manager,
            session.id,
            PostMessage::new("hi").client_msg_id("c-1"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ChatError::Conflict(_)));
    assert_eq!(
        engine
            .list_messages(&alice, session.id, 0, 50)
            .await
            .unwrap()
            .messages
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_retries_store_one_message() {
    let engine = engine();
    let alice = principal("t1", "alice", Role::Customer);
    let session = open_session(&engine, &alice).await;
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (engine, alice) = (engine.clone(), alice.clone());
        tasks.push(tokio::spawn(async move {
            engine
                .post_message(
                    &alice,
                    session.id,
                    PostMessage::new("once").client_msg_id("same"),
                )
                .await
                .unwrap()
        }));
    }
    let mut created = 0;
    let mut ids = std::collections::HashSet::new();
    for task in tasks {
        let outcome = task.await.unwrap();
        created += usize::from(outcome.created);
        ids.insert(outcome.message.id);
    }
    assert_eq!(created, 1);
    assert_eq!(ids.len(), 1);
    assert_eq!(
        engine
            .list_messages(&alice, session.id, 0, 50)
            .await
            .unwrap()
            .messages
            .len(),
        1
    );
}

#[tokio::test]
async fn messages_page_in_seq_order() {
    let engine = engine();
    let alice = principal("t1", "alice", Role::Customer);
    let session = open_session(&engine, &alice).await;
    for i in 1..=25 {
        let out = engine
            .post_message(&alice, session.id, PostMessage::new(format!("m{i}")))
            .await
            .unwrap();
        assert_eq!(out.message.seq, i);
        assert_eq!(out.message.sender, SenderKind::Customer);
    }
    let mut after = 0;
    let mut seen = Vec::new();
    loop {
        let page = engine
            .list_messages(&alice, session.id, after, 10)
            .await
            .unwrap();
        seen.extend(page.messages.iter().map(|m| m.seq));
        after = page.next_after_seq;
        if !page.has_more {
            break;
        }
    }
    assert_eq!(seen, (1..=25).collect::<Vec<_>>());
    assert_eq!(after, 25);
    // Limit 0 means the default; a huge limit is clamped.
    assert_eq!(
        engine
            .list_messages(&alice, session.id, 0, 0)
            .await
            .unwrap()
            .messages
            .len(),
        25
    );
    let page = engine
        .list_messages(&alice, session.id, 20, u32::MAX)
        .await
        .unwrap();
    assert_eq!(page.messages.len(), 5);
    assert!(!page.has_more);
    assert_eq!(
        engine
            .get_session(&alice, session.id)
            .await
            .unwrap()
            .last_seq,
        25
    );
}

#[tokio::test]
async fn typing_and_presence_are_ephemeral() {
    let engine = engine();
    let alice = principal("t1", "alice", Role::Customer);
    let session = open_session(&engine, &alice).await;
    let manager = principal("t1", "boss", Role::Manager);
    let mut live = engine.subscribe(&manager, session.id, 0).await.unwrap();
    assert_eq!(
        next_item(&mut live).await,
        SubscriptionItem::CaughtUp { last_seq: 0 }
    );

    engine
        .typing(&alice, session.id, TypingState::Start)
        .await
        .unwrap();
    engine
        .presence(&alice, session.id, PresenceState::Online)
        .await
        .unwrap();
    for expected in ["typing", "presence"] {
        match next_item(&mut live).await {
            SubscriptionItem::Event(e) => {
                assert_eq!(e.seq, None);
                assert_eq!(e.kind.name(), expected);
                if let EventKind::Typing {
                    user_id,
                    sender,
                    state,
                } = &e.kind
                {
                    assert_eq!(user_id, &alice.user_id);
                    assert_eq!(*sender, SenderKind::Customer);
                    assert_eq!(*state, TypingState::Start);
                }
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(
        engine
            .list_messages(&alice, session.id, 0, 50)
            .await
            .unwrap()
            .messages
            .is_empty()
    );
    assert_eq!(
        engine
            .get_session(&alice, session.id)
            .await
            .unwrap()
            .last_seq,
        0
    );
}

#[tokio::test]
async fn knowledge_base_and_faq_through_the_engine() {
    let engine = engine();
    let admin = principal("t1", "root", Role::Admin);
    let alice = principal("t1", "alice", Role::Customer);
    let refund = engine
        .upsert_article(
            &admin,
            KbArticle::new(
                admin.tenant_id.clone(),
                "Refunds",
                "Refunds are paid back within 5 days.",
            ),
        )
        .await
        .unwrap();
    engine
        .upsert_article(
            &admin,
            KbArticle::new(
                admin.tenant_id.clone(),
                "Invoices",
                "Download invoices from billing.",
            ),
        )
        .await
        .unwrap();
    let hits = engine
        .search_articles(&alice, "how do I get a refund?", 10)
        .await
        .unwrap();
    assert_eq!(hits.first().map(|h| h.article.id), Some(refund.id));
    // Query syntax is plain text.
    engine
        .search_articles(&alice, "\"refund AND (NEAR* -x", 10)
        .await
        .unwrap();

    // Bad articles are refused.
    let empty = KbArticle::new(admin.tenant_id.clone(), "  ", "body");
    assert!(matches!(
        engine.upsert_article(&admin, empty).await,
        Err(ChatError::InvalidInput(_))
    ));
    let huge = KbArticle::new(admin.tenant_id.clone(), "Huge", "x".repeat(1024 * 1024 + 1));
    assert!(matches!(
        engine.upsert_article(&admin, huge).await,
        Err(ChatError::TooLarge(_))
    ));

    engine.delete_article(&admin, refund.id).await.unwrap();
    assert!(matches!(
        engine.delete_article(&admin, refund.id).await,
        Err(ChatError::NotFound(_))
    ));
    assert!(
        engine
            .search_articles(&alice, "refund", 10)
            .await
            .unwrap()
            .is_empty()
    );

    let approved = LearnedFaqEntry::new(
        admin.tenant_id.clone(),
        "How do I reset my password?",
        "Use the reset link.",
        FaqStatus::Approved,
    );
    let candidate = LearnedFaqEntry::new(
        admin.tenant_id.clone(),
        "Password reset email missing",
        "Check spam.",
        FaqStatus::Candidate,
    );
    engine.upsert_faq(&admin, approved.clone()).await.unwrap();
    engine.upsert_faq(&admin, candidate).await.unwrap();
    let for_customer = engine
        .search_faq(&alice, "password reset", Some(FaqStatus::Candidate), 10)
        .await
        .unwrap();
    assert_eq!(
        for_customer.iter().map(|f| f.entry.id).collect::<Vec<_>>(),
        vec![approved.id]
    );
    let for_staff = engine
        .search_faq(&admin, "password reset", None, 10)
        .await
        .unwrap();
    assert_eq!(for_staff.len(), 2);
    assert!(matches!(
        engine.upsert_faq(&alice, approved).await,
        Err(ChatError::Forbidden(_))
    ));
}
