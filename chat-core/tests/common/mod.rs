//! Shared helpers of the engine tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test support: a failed step fails the test
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use chat_core::bus::{EventBus, InProcessBus};
use chat_core::engine::{CreateSession, SessionSubscription, SubscriptionItem};
use chat_core::ids::{SessionId, TenantId, UserId};
use chat_core::model::{ChatSession, SessionKind};
use chat_core::store::MemoryStore;
use chat_core::{ChatEngine, EngineConfig, Principal, Role};
use futures::StreamExt;

pub(crate) fn principal(tenant: &str, user: &str, role: Role) -> Principal {
    Principal::new(
        TenantId::new(tenant).unwrap(),
        UserId::new(user).unwrap(),
        role,
    )
}

pub(crate) fn engine() -> ChatEngine {
    engine_with(EngineConfig::default(), Arc::new(InProcessBus::default()))
}

pub(crate) fn engine_with(config: EngineConfig, bus: Arc<dyn EventBus>) -> ChatEngine {
    ChatEngine::builder()
        .store(Arc::new(MemoryStore::new()))
        .bus(bus)
        .config(config)
        .build()
        .unwrap()
}

pub(crate) async fn open_session(engine: &ChatEngine, customer: &Principal) -> ChatSession {
    engine
        .create_session(customer, CreateSession::new(SessionKind::Support))
        .await
        .unwrap()
}

/// Next item of a subscription, failing the test after 5 s.
pub(crate) async fn next_item(sub: &mut SessionSubscription) -> SubscriptionItem {
    tokio::time::timeout(Duration::from_secs(5), sub.next())
        .await
        .expect("subscription item within 5 s")
        .expect("subscription still open")
        .expect("subscription item is not an error")
}

/// Asserts that nothing arrives within `wait`.
pub(crate) async fn assert_quiet(sub: &mut SessionSubscription, wait: Duration) {
    if let Ok(item) = tokio::time::timeout(wait, sub.next()).await {
        panic!("expected no event, got {item:?}");
    }
}

pub(crate) fn session_id(s: &ChatSession) -> SessionId {
    s.id
}
