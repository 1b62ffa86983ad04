//! The authorization matrix of DESIGN section 12, through the engine.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test support: a failed step fails the test

mod common;

use std::time::Duration;

use chat_core::engine::{PostMessage, SubscriptionItem};
use chat_core::model::{
    Agent, AgentAvailability, AgentRole, AssignRequest, AssignTarget, AssignmentKind, KbArticle,
    SessionFilter, SessionPatch, SessionStatus, Visibility,
};
use chat_core::{ChatError, Role};
use common::*;

#[tokio::test]
async fn customers_only_reach_their_own_sessions() {
    let engine = engine();
    let alice = principal("t1", "alice", Role::Customer);
    let bob = principal("t1", "bob", Role::Customer);
    let session = open_session(&engine, &alice).await;
    engine
        .post_message(&alice, session.id, PostMessage::new("hello"))
        .await
        .unwrap();

    assert!(matches!(
        engine.get_session(&bob, session.id).await,
        Err(ChatError::Forbidden(_))
    ));
    assert!(matches!(
        engine
            .post_message(&bob, session.id, PostMessage::new("let me in"))
            .await,
        Err(ChatError::Forbidden(_))
    ));
    assert!(matches!(
        engine.list_messages(&bob, session.id, 0, 10).await,
        Err(ChatError::Forbidden(_))
    ));
    assert!(matches!(
        engine.subscribe(&bob, session.id, 0).await,
        Err(ChatError::Forbidden(_))
    ));
    assert!(matches!(
        engine
            .typing(&bob, session.id, chat_core::bus::TypingState::Start)
            .await,
        Err(ChatError::Forbidden(_))
    ));

    // Bob's listing does not show Alice's session, whatever filter he sends.
    let page = engine
        .list_sessions(&bob, SessionFilter::default())
        .await
        .unwrap();
    assert!(page.sessions.is_empty());
    let page = engine
        .list_sessions(&alice, SessionFilter::default())
        .await
        .unwrap();
    assert_eq!(page.sessions.len(), 1);

    // Nothing Bob tried was stored.
    let page = engine
        .list_messages(&alice, session.id, 0, 10)
        .await
        .unwrap();
    assert_eq!(page.messages.len(), 1);
}

#[tokio::test]
async fn tenants_never_see_each_other() {
    let engine = engine();
    let alice = principal("t1", "alice", Role::Customer);
    let admin2 = principal("t2", "root", Role::Admin);
    let alice2 = principal("t2", "alice", Role::Customer);
    let session = open_session(&engine, &alice).await;
    assert!(matches!(
        engine.get_session(&admin2, session.id).await,
        Err(ChatError::NotFound(_))
    ));
    assert!(matches!(
        engine.get_session(&alice2, session.id).await,
        Err(ChatError::NotFound(_))
    ));
    assert!(matches!(
        engine
            .post_message(&admin2, session.id, PostMessage::new("x"))
            .await,
        Err(ChatError::NotFound(_))
    ));
    assert!(matches!(
        engine.subscribe(&admin2, session.id, 0).await,
        Err(ChatError::NotFound(_))
    ));
    assert!(
        engine
            .list_sessions(&admin2, SessionFilter::default())
            .await
            .unwrap()
            .sessions
            .is_empty()
    );

    let manager1 = principal("t1", "boss", Role::Manager);
    engine
        .upsert_article(
            &manager1,
            KbArticle::new(
                manager1.tenant_id.clone(),
                "Refund policy",
                "Refunds take 5 days",
            ),
        )
        .await
        .unwrap();
    assert_eq!(
        engine
            .search_articles(&manager1, "refund", 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        engine
            .search_articles(&admin2, "refund", 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn agents_see_queued_and_assigned_sessions_managers_see_all() {
    let engine = engine();
    let store = engine.store().clone();
    let alice = principal("t1", "alice", Role::Customer);
    let agent1 = principal("t1", "agent1", Role::Agent);
    let agent2 = principal("t1", "agent2", Role::Agent);
    let manager = principal("t1", "boss", Role::Manager);
    let session = open_session(&engine, &alice).await;

    // An AI-answered session is not the agents' business yet.
    assert!(matches!(
        engine.get_session(&agent1, session.id).await,
        Err(ChatError::Forbidden(_))
    ));
    assert!(engine.get_session(&manager, session.id).await.is_ok());

    store
        .update_session(
            &alice.tenant_id,
            session.id,
            SessionPatch::default().status(SessionStatus::WaitingForAgent),
            None,
        )
        .await
        .unwrap();
    assert!(engine.get_session(&agent1, session.id).await.is_ok());
    assert!(engine.get_session(&agent2, session.id).await.is_ok());
    // Queued: agents may leave internal notes but not answer the customer before taking the chat.
    assert!(matches!(
        engine
            .post_message(&agent1, session.id, PostMessage::new("hi"))
            .await,
        Err(ChatError::Forbidden(_))
    ));
    engine
        .post_message(
            &agent2,
            session.id,
            PostMessage::new("VIP customer").internal(),
        )
        .await
        .unwrap();

    for (id, role) in [("agent1", AgentRole::Agent), ("agent2", AgentRole::Agent)] {
        let agent = Agent::new(
            alice.tenant_id.clone(),
            chat_core::UserId::new(id).unwrap(),
            id,
            role,
        )
        .availability(AgentAvailability::Online);
        store.upsert_agent(agent).await.unwrap();
    }
    store
        .assign_session(AssignRequest::new(
            alice.tenant_id.clone(),
            session.id,
            AssignTarget::Agent(agent1.user_id.clone()),
            AssignmentKind::Manual,
        ))
        .await
        .unwrap();

    assert!(engine.get_session(&agent1, session.id).await.is_ok());
    assert!(matches!(
        engine.get_session(&agent2, session.id).await,
        Err(ChatError::Forbidden(_))
    ));
    engine
        .post_message(
            &agent1,
            session.id,
            PostMessage::new("Hi, I'm here to help"),
        )
        .await
        .unwrap();
    assert!(matches!(
        engine
            .post_message(&agent2, session.id, PostMessage::new("me too"))
            .await,
        Err(ChatError::Forbidden(_))
    ));
    engine
        .post_message(
            &manager,
            session.id,
            PostMessage::new("watching").internal(),
        )
        .await
        .unwrap();

    let agent1_list = engine
        .list_sessions(&agent1, SessionFilter::default())
        .await
        .unwrap();
    assert_eq!(agent1_list.sessions.len(), 1);
    let agent2_list = engine
        .list_sessions(&agent2, SessionFilter::default())
        .await
        .unwrap();
    assert!(agent2_list.sessions.is_empty());
    assert_eq!(
        engine
            .list_sessions(&manager, SessionFilter::default())
            .await
            .unwrap()
            .sessions
            .len(),
        1
    );

    // Staff do not open sessions, customers do not edit the knowledge base.
    assert!(matches!(
        engine
            .create_session(
                &agent1,
                chat_core::engine::CreateSession::new(chat_core::model::SessionKind::Support)
            )
            .await,
        Err(ChatError::Forbidden(_))
    ));
    assert!(matches!(
        engine
            .upsert_article(&alice, KbArticle::new(alice.tenant_id.clone(), "x", "y"))
            .await,
        Err(ChatError::Forbidden(_))
    ));
    assert!(matches!(
        engine
            .upsert_article(&agent1, KbArticle::new(alice.tenant_id.clone(), "x", "y"))
            .await,
        Err(ChatError::Forbidden(_))
    ));
}

#[tokio::test]
async fn internal_notes_never_reach_customers() {
    let engine = engine();
    let store = engine.store().clone();
    let alice = principal("t1", "alice", Role::Customer);
    let manager = principal("t1", "boss", Role::Manager);
    let session = open_session(&engine, &alice).await;
    store
        .update_session(
            &alice.tenant_id,
            session.id,
            SessionPatch::default().status(SessionStatus::WaitingForAgent),
            None,
        )
        .await
        .unwrap();

    let mut customer_live = engine.subscribe(&alice, session.id, 0).await.unwrap();
    let mut staff_live = engine.subscribe(&manager, session.id, 0).await.unwrap();
    assert_eq!(
        next_item(&mut customer_live).await,
        SubscriptionItem::CaughtUp { last_seq: 0 }
    );
    assert_eq!(
        next_item(&mut staff_live).await,
        SubscriptionItem::CaughtUp { last_seq: 0 }
    );

    engine
        .post_message(
            &alice,
            session.id,
            PostMessage::new("my card was charged twice"),
        )
        .await
        .unwrap();
    let note = engine
        .post_message(
            &manager,
            session.id,
            PostMessage::new("refund approved, tell nobody").internal(),
        )
        .await
        .unwrap();
    assert_eq!(note.message.visibility, Visibility::Internal);
    engine
        .post_message(&manager, session.id, PostMessage::new("We refunded you"))
        .await
        .unwrap();

    // Live: the customer gets seq 1 and 3, staff 1, 2, 3.
    let seqs = |items: Vec<SubscriptionItem>| -> Vec<u64> {
        items
            .into_iter()
            .map(|i| match i {
                SubscriptionItem::Event(e) => e.seq.unwrap(),
                other => panic!("unexpected {other:?}"),
            })
            .collect()
    };
    let customer_items = vec![
        next_item(&mut customer_live).await,
        next_item(&mut customer_live).await,
    ];
    assert_quiet(&mut customer_live, Duration::from_millis(100)).await;
    let staff_items = vec![
        next_item(&mut staff_live).await,
        next_item(&mut staff_live).await,
        next_item(&mut staff_live).await,
    ];
    assert_eq!(seqs(customer_items), vec![1, 3]);
    assert_eq!(seqs(staff_items), vec![1, 2, 3]);

    // Replay and listing: the same.
    let mut customer_replay = engine.subscribe(&alice, session.id, 0).await.unwrap();
    let replayed = vec![
        next_item(&mut customer_replay).await,
        next_item(&mut customer_replay).await,
    ];
    assert_eq!(seqs(replayed), vec![1, 3]);
    assert_eq!(
        next_item(&mut customer_replay).await,
        SubscriptionItem::CaughtUp { last_seq: 3 }
    );
    let page = engine
        .list_messages(&alice, session.id, 0, 50)
        .await
        .unwrap();
    assert_eq!(
        page.messages.iter().map(|m| m.seq).collect::<Vec<_>>(),
        vec![1, 3]
    );
    assert!(
        page.messages
            .iter()
            .all(|m| !m.content.contains("tell nobody"))
    );
    let page = engine
        .list_messages(&manager, session.id, 0, 50)
        .await
        .unwrap();
    assert_eq!(page.messages.len(), 3);

    // Customers cannot write internal notes.
    assert!(matches!(
        engine
            .post_message(&alice, session.id, PostMessage::new("psst").internal())
            .await,
        Err(ChatError::Forbidden(_))
    ));
}

#[tokio::test]
async fn closed_sessions_take_no_messages() {
    let engine = engine();
    let alice = principal("t1", "alice", Role::Customer);
    let session = open_session(&engine, &alice).await;
    engine
        .store()
        .update_session(
            &alice.tenant_id,
            session.id,
            SessionPatch::default().status(SessionStatus::Closed),
            None,
        )
        .await
        .unwrap();
    let err = engine
        .post_message(&alice, session.id, PostMessage::new("hello?"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ChatError::Forbidden(ref m) if m.contains("closed")),
        "{err:?}"
    );
}
