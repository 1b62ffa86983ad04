//! The AI answer path through the engine, with a scripted provider.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test support: a failed step fails the test

mod common;

use std::sync::Arc;
use std::time::Duration;

use chat_core::bus::{EventKind, InProcessBus};
use chat_core::engine::{AnswerConfig, PostMessage, SessionSubscription, SubscriptionItem};
use chat_core::model::{
    ChatMessage, ContextSourceKind, KbArticle, SenderKind, SessionPatch, SessionStatus, TokenUsage,
};
use chat_core::provider::{FinishReason, PromptRole, ProviderError};
use chat_core::testing::{MockProvider, MockReply};
use chat_core::{ChatEngine, EngineConfig, Principal, Role};
use common::*;

fn engine_with_provider(provider: Arc<MockProvider>, answer: AnswerConfig) -> ChatEngine {
    ChatEngine::builder()
        .store(Arc::new(chat_core::store::MemoryStore::new()))
        .bus(Arc::new(InProcessBus::default()))
        .config(EngineConfig::default())
        .provider(provider)
        .answer_config(answer)
        .build()
        .unwrap()
}

async fn seed_kb(engine: &ChatEngine) {
    let admin = principal("t1", "root", Role::Admin);
    for (title, body) in [
        (
            "Refund policy",
            "Refunds are paid back to the original card within 5 business days.",
        ),
        (
            "Invoices",
            "Invoices are sent by email on the first day of each month.",
        ),
        (
            "Password reset",
            "Use the reset link on the sign-in page to choose a new password.",
        ),
    ] {
        engine
            .upsert_article(&admin, KbArticle::new(admin.tenant_id.clone(), title, body))
            .await
            .unwrap();
    }
}

/// Collects events until the AI message (or a system notice) is stored.
async fn until_answer(sub: &mut SessionSubscription) -> (String, ChatMessage) {
    let mut deltas = String::new();
    loop {
        match next_item(sub).await {
            SubscriptionItem::Event(e) => match &e.kind {
                EventKind::AiDelta { delta, .. } => deltas.push_str(delta),
                EventKind::AiCompleted { message } => return (deltas, message.clone()),
                EventKind::MessageCreated { message } if message.sender == SenderKind::System => {
                    return (deltas, message.clone());
                }
                _ => {}
            },
            SubscriptionItem::CaughtUp { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

async fn customer_session(
    engine: &ChatEngine,
) -> (Principal, chat_core::SessionId, SessionSubscription) {
    let alice = principal("t1", "alice", Role::Customer);
    let session = open_session(engine, &alice).await;
    let sub = engine.subscribe(&alice, session.id, 0).await.unwrap();
    (alice, session.id, sub)
}

#[tokio::test]
async fn answers_stream_with_checked_citations_usage_and_context_records() {
    let provider = Arc::new(
        MockProvider::new("scripted").model("script-1").reply(
            MockReply::new()
                .delta("Refunds reach your card ")
                .delta("within 5 business days [1]. ")
                .delta("See the policy [9].")
                .usage(120, 17)
                .finish(FinishReason::Stop),
        ),
    );
    let engine = engine_with_provider(provider.clone(), AnswerConfig::default());
    seed_kb(&engine).await;
    let (alice, session, mut sub) = customer_session(&engine).await;
    engine
        .post_message(
            &alice,
            session,
            PostMessage::new("How long does a refund take?"),
        )
        .await
        .unwrap();

    let (deltas, answer) = until_answer(&mut sub).await;
    assert_eq!(
        deltas,
        "Refunds reach your card within 5 business days [1]. See the policy [9]."
    );
    assert_eq!(answer.sender, SenderKind::Ai);
    assert_eq!(answer.seq, 2);
    // [9] was not given: dropped from the text and the citations.
    assert_eq!(
        answer.content,
        "Refunds reach your card within 5 business days [1]. See the policy."
    );
    let citations = &answer.metadata.citations;
    assert_eq!(citations.len(), 1);
    assert_eq!(citations[0].index, 1);
    assert_eq!(citations[0].source_kind, ContextSourceKind::Kb);
    assert_eq!(citations[0].title, "Refund policy");
    assert_eq!(answer.metadata.provider.as_deref(), Some("scripted"));
    assert_eq!(answer.metadata.model.as_deref(), Some("script-1"));
    assert_eq!(answer.metadata.usage, Some(TokenUsage::new(120, 17)));
    assert!(!answer.metadata.incomplete);
    assert!(!answer.metadata.offline);
    let confidence = answer.metadata.confidence.unwrap();
    assert!(confidence > 0.3 && confidence <= 1.0, "{confidence}");

    // The prompt: the KB passage fenced as untrusted data, the question last.
    let request = &provider.requests()[0];
    assert!(request.system.contains("untrusted data"));
    assert!(request.system.contains("[1] Refund policy (kb)"));
    assert!(request.system.contains("within 5 business days"));
    assert_eq!(request.messages.last().unwrap().role, PromptRole::User);
    assert_eq!(
        request.messages.last().unwrap().content,
        "How long does a refund take?"
    );
    assert_eq!(request.passages[0].title, "Refund policy");

    let store = engine.store();
    let records = store
        .list_context_sources(&alice.tenant_id, answer.id)
        .await
        .unwrap();
    assert!(!records.is_empty());
    assert_eq!(records[0].rank, 1);
    assert!(records[0].cited);
    assert!(records.iter().skip(1).all(|r| !r.cited));
    let day = chrono::Utc::now();
    let usage = store
        .usage_by_day(
            &alice.tenant_id,
            day - chrono::Duration::days(1),
            day + chrono::Duration::days(1),
        )
        .await
        .unwrap();
    assert_eq!(usage.len(), 1);
    assert_eq!(
        (usage[0].provider.as_str(), usage[0].calls, usage[0].errors),
        ("scripted", 1, 0)
    );
    assert_eq!(
        (usage[0].prompt_tokens, usage[0].completion_tokens),
        (120, 17)
    );
}

#[tokio::test]
async fn one_answer_per_session_and_later_messages_are_answered_after_it() {
    // The first answer holds its stream open for a while after its first delta.
    let provider = Arc::new(
        MockProvider::new("scripted")
            .reply(
                MockReply::new()
                    .delta("First answer.")
                    .delay(Duration::from_millis(400))
                    .finish(FinishReason::Stop),
            )
            .reply(MockReply::answer(["Second answer."])),
    );
    let engine = engine_with_provider(provider.clone(), AnswerConfig::default());
    let (alice, session, mut sub) = customer_session(&engine).await;
    engine
        .post_message(&alice, session, PostMessage::new("first question"))
        .await
        .unwrap();
    // Wait until the first answer streams, then write twice more.
    loop {
        if let SubscriptionItem::Event(e) = next_item(&mut sub).await {
            if matches!(e.kind, EventKind::AiDelta { .. }) {
                break;
            }
        }
    }
    engine
        .post_message(&alice, session, PostMessage::new("second question"))
        .await
        .unwrap();
    engine
        .post_message(&alice, session, PostMessage::new("third question"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        provider.requests().len(),
        1,
        "no parallel answer in one session"
    );

    let (_, first) = until_answer(&mut sub).await;
    assert_eq!(first.content, "First answer.");
    let (_, second) = until_answer(&mut sub).await;
    assert_eq!(second.content, "Second answer.");
    let requests = provider.requests();
    assert_eq!(requests.len(), 2, "one more answer for both later messages");
    let last = &requests[1].messages.last().unwrap().content;
    assert!(
        last.contains("second question") && last.contains("third question"),
        "{last}"
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(engine.answers_in_progress(), 0);
    let seqs: Vec<u64> = engine
        .list_messages(&alice, session, 0, 50)
        .await
        .unwrap()
        .messages
        .iter()
        .map(|m| m.seq)
        .collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
}

fn quick_timeouts() -> AnswerConfig {
    AnswerConfig::default().timeouts(
        Duration::from_millis(200),
        Duration::from_millis(200),
        Duration::from_secs(5),
    )
}

#[tokio::test]
async fn a_hanging_provider_never_leaves_the_session_stuck() {
    let provider = Arc::new(
        MockProvider::new("scripted")
            .reply(MockReply::hang_on_start())
            .reply(MockReply::answer(["Back again."])),
    );
    let engine = engine_with_provider(provider.clone(), quick_timeouts());
    let (alice, session, mut sub) = customer_session(&engine).await;
    engine
        .post_message(&alice, session, PostMessage::new("hello?"))
        .await
        .unwrap();
    let (deltas, notice) = until_answer(&mut sub).await;
    assert!(deltas.is_empty());
    assert_eq!(notice.sender, SenderKind::System);
    assert!(notice.content.contains("could not answer"));
    assert_eq!(notice.metadata.extra["error"]["code"], "timeout");

    engine
        .post_message(&alice, session, PostMessage::new("still there?"))
        .await
        .unwrap();
    let (_, answer) = until_answer(&mut sub).await;
    assert_eq!(answer.content, "Back again.");
    let now = chrono::Utc::now();
    let usage = engine
        .store()
        .usage_by_day(
            &alice.tenant_id,
            now - chrono::Duration::days(1),
            now + chrono::Duration::days(1),
        )
        .await
        .unwrap();
    assert_eq!((usage[0].calls, usage[0].errors), (2, 1));
}

#[tokio::test]
async fn a_failure_after_the_first_token_stores_the_partial_answer_marked_incomplete() {
    let provider = Arc::new(
        MockProvider::new("scripted")
            .reply(MockReply::new().delta("Partial an").hang())
            .reply(
                MockReply::new()
                    .delta("Also partial")
                    .error(ProviderError::Interrupted("connection reset".into())),
            ),
    );
    let engine = engine_with_provider(provider, quick_timeouts());
    let (alice, session, mut sub) = customer_session(&engine).await;
    engine
        .post_message(&alice, session, PostMessage::new("question one"))
        .await
        .unwrap();
    let (deltas, answer) = until_answer(&mut sub).await;
    assert_eq!(deltas, "Partial an");
    assert_eq!(answer.content, "Partial an");
    assert!(answer.metadata.incomplete);
    assert_eq!(answer.metadata.extra["error"]["code"], "timeout");

    engine
        .post_message(&alice, session, PostMessage::new("question two"))
        .await
        .unwrap();
    let (_, answer) = until_answer(&mut sub).await;
    assert_eq!(answer.content, "Also partial");
    assert!(answer.metadata.incomplete);
    assert_eq!(answer.metadata.extra["error"]["code"], "interrupted");
}

#[tokio::test]
async fn an_error_before_any_token_is_a_clear_notice() {
    let provider = Arc::new(MockProvider::new("scripted").reply(MockReply::fail(
        ProviderError::Auth {
            status: 401,
            body: "bad key".into(),
        },
    )));
    let engine = engine_with_provider(provider, AnswerConfig::default());
    let (alice, session, mut sub) = customer_session(&engine).await;
    engine
        .post_message(&alice, session, PostMessage::new("hi"))
        .await
        .unwrap();
    let (_, notice) = until_answer(&mut sub).await;
    assert_eq!(notice.sender, SenderKind::System);
    assert_eq!(notice.metadata.extra["error"]["code"], "auth");
    assert!(
        !notice.content.contains("bad key"),
        "provider bodies stay out of customer-facing text"
    );
}

#[tokio::test]
async fn only_customer_messages_in_ai_sessions_are_answered() {
    let provider = Arc::new(MockProvider::new("scripted"));
    let engine = engine_with_provider(provider.clone(), AnswerConfig::default());
    let alice = principal("t1", "alice", Role::Customer);
    let manager = principal("t1", "boss", Role::Manager);
    let queued = open_session(&engine, &alice).await;
    engine
        .store()
        .update_session(
            &alice.tenant_id,
            queued.id,
            SessionPatch::default().status(SessionStatus::WaitingForAgent),
            None,
        )
        .await
        .unwrap();
    engine
        .post_message(&alice, queued.id, PostMessage::new("waiting for a human"))
        .await
        .unwrap();
    let open = open_session(&engine, &alice).await;
    engine
        .post_message(&manager, open.id, PostMessage::new("note").internal())
        .await
        .unwrap();
    engine
        .post_message(&manager, open.id, PostMessage::new("hello from staff"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(provider.requests().is_empty());
}

#[tokio::test]
async fn no_sources_means_the_prompt_says_so() {
    let provider =
        Arc::new(MockProvider::new("scripted").reply(MockReply::answer(["I do not know."])));
    let engine = engine_with_provider(provider.clone(), AnswerConfig::default());
    let (alice, session, mut sub) = customer_session(&engine).await;
    engine
        .post_message(&alice, session, PostMessage::new("zxqv unknown topic"))
        .await
        .unwrap();
    let (_, answer) = until_answer(&mut sub).await;
    assert!(answer.metadata.citations.is_empty());
    assert!(answer.metadata.confidence.unwrap() <= 0.1);
    let request = &provider.requests()[0];
    assert!(request.passages.is_empty());
    assert!(request.system.contains("No sources were found"));
}

#[tokio::test]
async fn settings_changes_apply_to_the_next_answer_without_a_restart() {
    use chat_core::model::SessionKind;
    use chat_core::provider::{AiSettings, MemorySettings, SettingsScope};

    let provider = Arc::new(MockProvider::new("scripted").repeat(MockReply::answer(["ok"])));
    let settings = Arc::new(MemorySettings::new());
    let tenant = chat_core::TenantId::new("t1").unwrap();
    settings.set(
        &tenant,
        SettingsScope::Global,
        AiSettings::new()
            .model("global-model")
            .temperature(0.7)
            .system_prompt(SessionKind::Support, "GLOBAL PROMPT"),
    );
    let engine = ChatEngine::builder()
        .store(Arc::new(chat_core::store::MemoryStore::new()))
        .provider(provider.clone())
        .settings(settings.clone())
        .build()
        .unwrap();
    let (alice, session, mut sub) = customer_session(&engine).await;
    engine
        .post_message(&alice, session, PostMessage::new("first"))
        .await
        .unwrap();
    until_answer(&mut sub).await;

    // Support-specific settings win over global ones, from the next answer on.
    settings.set(
        &tenant,
        SettingsScope::Support,
        AiSettings::new()
            .model("support-model")
            .max_tokens(77)
            .system_prompt(SessionKind::Support, "SUPPORT PROMPT"),
    );
    engine
        .post_message(&alice, session, PostMessage::new("second"))
        .await
        .unwrap();
    until_answer(&mut sub).await;

    let requests = provider.requests();
    assert_eq!(requests.len(), 2);
    assert!(requests[0].system.starts_with("GLOBAL PROMPT"));
    assert_eq!(requests[0].model.as_deref(), Some("global-model"));
    assert_eq!(requests[0].temperature, Some(0.7));
    assert!(requests[1].system.starts_with("SUPPORT PROMPT"));
    assert_eq!(requests[1].model.as_deref(), Some("support-model"));
    assert_eq!(requests[1].max_tokens, Some(77));
    assert_eq!(
        requests[1].temperature,
        Some(0.7),
        "unset fields fall back to the global layer"
    );
}

/// A host settings store that never answers.
#[derive(Debug)]
struct HangingSettings;

#[async_trait::async_trait]
impl chat_core::provider::SettingsProvider for HangingSettings {
    async fn layer(
        &self,
        _tenant: &chat_core::TenantId,
        _scope: chat_core::provider::SettingsScope,
    ) -> Result<chat_core::provider::AiSettings, chat_core::provider::SettingsError> {
        futures::future::pending().await
    }
}

#[tokio::test]
async fn a_hanging_settings_store_falls_back_to_the_defaults() {
    let provider = Arc::new(MockProvider::new("scripted").repeat(MockReply::answer(["fine"])));
    let mut config = AnswerConfig::default();
    config.settings_timeout = Duration::from_millis(100);
    let engine = ChatEngine::builder()
        .store(Arc::new(chat_core::store::MemoryStore::new()))
        .provider(provider.clone())
        .settings(Arc::new(HangingSettings))
        .answer_config(config)
        .build()
        .unwrap();
    let (alice, session, mut sub) = customer_session(&engine).await;
    engine
        .post_message(&alice, session, PostMessage::new("hello"))
        .await
        .unwrap();
    let (_, answer) = until_answer(&mut sub).await;
    assert_eq!(answer.content, "fine");
    engine
        .post_message(&alice, session, PostMessage::new("again"))
        .await
        .unwrap();
    let (_, answer) = until_answer(&mut sub).await;
    assert_eq!(answer.content, "fine", "the session is not stuck");
}

#[tokio::test]
async fn after_a_hand_back_the_ai_answers_only_what_is_new() {
    use chat_core::model::AgentAvailability;

    let provider = Arc::new(MockProvider::new("scripted").repeat(MockReply::answer(["ok"])));
    let engine = engine_with_provider(provider.clone(), AnswerConfig::default());
    seed_kb(&engine).await;
    let agent = principal("t1", "agent1", Role::Agent);
    engine
        .set_availability(&agent, AgentAvailability::Online, None)
        .await
        .unwrap();
    let (alice, session, mut sub) = customer_session(&engine).await;
    engine.escalate(&alice, session, None).await.unwrap();
    engine
        .post_message(
            &alice,
            session,
            PostMessage::new("how long does a refund take"),
        )
        .await
        .unwrap();
    engine
        .post_message(&agent, session, PostMessage::new("here is your answer"))
        .await
        .unwrap();
    engine.hand_back(&agent, session).await.unwrap();
    engine
        .post_message(&alice, session, PostMessage::new("thanks, bye"))
        .await
        .unwrap();
    until_answer(&mut sub).await;
    let requests = provider.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].messages.last().unwrap().content, "thanks, bye");
    // The refund question was the agent's to answer: it does not drive retrieval now.
    assert!(
        requests[0].passages.is_empty(),
        "{:?}",
        requests[0].passages
    );
}
