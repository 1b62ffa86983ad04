//! The engine answering with the offline extractive answerer: alone, and behind a failing
//! provider in a failover chain. The answer is labelled offline, cites the KB, and the usage
//! records name the provider that answered.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::sync::Arc;
use std::time::Duration;

use chat_ai_providers::{FailoverProvider, OfflineAnswerer};
use chat_core::bus::EventKind;
use chat_core::engine::{CreateSession, PostMessage, SubscriptionItem};
use chat_core::model::{ChatMessage, ContextSourceKind, KbArticle, SessionKind};
use chat_core::provider::{AiProvider, ProviderError};
use chat_core::store::MemoryStore;
use chat_core::testing::{MockProvider, MockReply};
use chat_core::{ChatEngine, Principal, Role, TenantId, UserId};
use futures::StreamExt;

fn who(user: &str, role: Role) -> Principal {
    Principal::new(
        TenantId::new("acme").unwrap(),
        UserId::new(user).unwrap(),
        role,
    )
}

async fn ask(provider: Arc<dyn AiProvider>, question: &str) -> (ChatEngine, ChatMessage) {
    let engine = ChatEngine::builder()
        .store(Arc::new(MemoryStore::new()))
        .provider(provider)
        .build()
        .unwrap();
    let admin = who("admin", Role::Admin);
    for (title, body) in [
        (
            "Refund policy",
            "Refunds are paid back to the original card within 5 business days. Annual plans are refunded pro rata.",
        ),
        (
            "Exporting data",
            "Use Settings > Export to download all projects as CSV. Exports include attachments.",
        ),
        (
            "Single sign-on",
            "SSO with SAML is available on the Business plan. Configure it under Security.",
        ),
    ] {
        engine
            .upsert_article(&admin, KbArticle::new(admin.tenant_id.clone(), title, body))
            .await
            .unwrap();
    }
    let customer = who("alice", Role::Customer);
    let session = engine
        .create_session(&customer, CreateSession::new(SessionKind::Support))
        .await
        .unwrap();
    let mut sub = engine.subscribe(&customer, session.id, 0).await.unwrap();
    engine
        .post_message(&customer, session.id, PostMessage::new(question))
        .await
        .unwrap();
    loop {
        let item = tokio::time::timeout(Duration::from_secs(10), sub.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let SubscriptionItem::Event(event) = item {
            if let EventKind::AiCompleted { message } = &event.kind {
                return (engine, message.clone());
            }
        }
    }
}

#[tokio::test]
async fn offline_answers_are_labelled_and_cite_the_kb() {
    let (_, answer) = ask(
        Arc::new(OfflineAnswerer::new()),
        "How many days until my refund arrives?",
    )
    .await;
    assert!(answer.metadata.offline);
    assert_eq!(answer.metadata.provider.as_deref(), Some("offline"));
    assert!(
        answer.content.contains("5 business days"),
        "{}",
        answer.content
    );
    assert!(answer.content.contains("[1]"), "{}", answer.content);
    let citation = &answer.metadata.citations[0];
    assert_eq!(
        (citation.source_kind.clone(), citation.title.as_str()),
        (ContextSourceKind::Kb, "Refund policy")
    );
}

#[tokio::test]
async fn offline_says_so_when_nothing_is_relevant() {
    let (_, answer) = ask(Arc::new(OfflineAnswerer::new()), "zqxv wubbly frobnication").await;
    assert!(answer.metadata.offline);
    assert!(answer.metadata.citations.is_empty());
    assert!(!answer.content.is_empty());
}

#[tokio::test]
async fn a_failing_provider_fails_over_to_the_offline_answerer() {
    let broken = MockProvider::new("primary").repeat(MockReply::fail(ProviderError::Server {
        status: 503,
        body: "overloaded".into(),
    }));
    let chain =
        FailoverProvider::new(vec![Arc::new(broken), Arc::new(OfflineAnswerer::new())]).unwrap();
    let (engine, answer) = ask(Arc::new(chain), "Can I export my projects as CSV?").await;
    assert!(
        answer.metadata.offline,
        "labelled offline although the chain itself is not"
    );
    assert_eq!(answer.metadata.provider.as_deref(), Some("offline"));
    assert!(answer.content.contains("Export"), "{}", answer.content);

    let now = chrono::Utc::now();
    let usage = engine
        .store()
        .usage_by_day(
            &answer.tenant_id,
            now - chrono::Duration::days(1),
            now + chrono::Duration::days(1),
        )
        .await
        .unwrap();
    let primary = usage
        .iter()
        .find(|u| u.provider == "primary")
        .expect("the failed calls are recorded");
    assert_eq!(primary.errors, primary.calls);
    let offline = usage
        .iter()
        .find(|u| u.provider == "offline")
        .expect("the answering call is recorded");
    assert_eq!((offline.calls, offline.errors), (1, 0));
}
