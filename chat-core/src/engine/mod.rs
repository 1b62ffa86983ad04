//! The chat engine: every operation a host or adapter calls, with authorization, validation,
//! storage and event publication in one place.

mod config;
mod error;
mod knowledge;
mod messages;
mod sessions;
mod subscribe;
mod validate;

use std::sync::Arc;

pub use config::EngineConfig;
pub use error::ChatError;
pub use messages::{MessagePage, PostMessage, PostOutcome};
pub use sessions::CreateSession;
pub use subscribe::{SessionSubscription, SubscriptionItem};

use crate::bus::{ChatEvent, EventBus, InProcessBus, Topic};
use crate::store::ChatStore;

/// Result of engine operations.
pub type ChatResult<T> = Result<T, ChatError>;

/// The engine. Cheap to clone; clones share everything.
#[derive(Debug, Clone)]
pub struct ChatEngine {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn ChatStore>,
    bus: Arc<dyn EventBus>,
    config: EngineConfig,
}

impl ChatEngine {
    /// Starts building an engine.
    pub fn builder() -> ChatEngineBuilder {
        ChatEngineBuilder::default()
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn ChatStore> {
        &self.inner.store
    }

    /// The event bus.
    pub fn bus(&self) -> &Arc<dyn EventBus> {
        &self.inner.bus
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// Publishes an event after its change was committed. A failure is logged, not returned:
    /// the change is durable, and subscribers recover durable events from the store by `seq`.
    async fn publish(&self, topic: &Topic, event: ChatEvent) {
        if let Err(err) = self.inner.bus.publish(topic, Arc::new(event)).await {
            tracing::warn!(error = %err, "event publication failed; subscribers will catch up from the store");
        }
    }
}

/// Builder of a [`ChatEngine`].
#[derive(Debug, Default)]
pub struct ChatEngineBuilder {
    store: Option<Arc<dyn ChatStore>>,
    bus: Option<Arc<dyn EventBus>>,
    config: EngineConfig,
}

impl ChatEngineBuilder {
    /// The store (required).
    pub fn store(mut self, store: Arc<dyn ChatStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// The event bus (default: an [`InProcessBus`]).
    pub fn bus(mut self, bus: Arc<dyn EventBus>) -> Self {
        self.bus = Some(bus);
        self
    }

    /// Limits and settings (default: [`EngineConfig::default`]).
    pub fn config(mut self, config: EngineConfig) -> Self {
        self.config = config;
        self
    }

    /// Builds the engine.
    ///
    /// Errors: `InvalidInput` when no store was given.
    pub fn build(self) -> ChatResult<ChatEngine> {
        let store = self
            .store
            .ok_or_else(|| ChatError::InvalidInput("ChatEngine needs a store".into()))?;
        let bus = self
            .bus
            .unwrap_or_else(|| Arc::new(InProcessBus::default()));
        Ok(ChatEngine {
            inner: Arc::new(Inner {
                store,
                bus,
                config: self.config,
            }),
        })
    }
}
