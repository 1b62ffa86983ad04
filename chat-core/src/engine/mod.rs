//! The chat engine: every operation a host or adapter calls, with authorization, validation,
//! storage and event publication in one place.

mod answer;
mod config;
#[cfg(feature = "documents")]
mod documents;
mod error;
mod knowledge;
mod messages;
mod privacy;
mod prompt;
mod sessions;
mod subscribe;
mod support;
#[cfg(feature = "web")]
mod urls;
mod validate;

use std::sync::Arc;

pub use answer::AnswerConfig;
pub use config::EngineConfig;
pub use error::ChatError;
pub use messages::{MessagePage, PostMessage, PostOutcome};
pub use privacy::{CustomerExport, SessionExport};
pub use sessions::CreateSession;
pub use subscribe::{SessionSubscription, SubscriptionItem};
pub use support::{AUTO_ASSIGN_BATCH, MAX_AGENT_CAPACITY};

use crate::bus::{ChatEvent, EventBus, InProcessBus, Topic};
use crate::context::{ContextSource, DocumentContext, FaqContext, KbContext};
use crate::provider::{AiProvider, AiSettingsDefaults, SettingsProvider};
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
    provider: Option<Arc<dyn AiProvider>>,
    settings: Option<Arc<dyn SettingsProvider>>,
    settings_defaults: AiSettingsDefaults,
    context_sources: Vec<Arc<dyn ContextSource>>,
    answer_config: AnswerConfig,
    answers: answer::AnswerQueue,
    /// This engine's token in the store's answer claims (unique per engine instance).
    node_id: String,
    #[cfg(feature = "web")]
    urls: urls::UrlIngestSlot,
    #[cfg(feature = "documents")]
    documents: Option<crate::ingest::documents::DocumentIngestor>,
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

    /// The AI provider, if one is configured.
    pub fn provider(&self) -> Option<&Arc<dyn AiProvider>> {
        self.inner.provider.as_ref()
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
#[derive(Debug)]
pub struct ChatEngineBuilder {
    store: Option<Arc<dyn ChatStore>>,
    bus: Option<Arc<dyn EventBus>>,
    config: EngineConfig,
    provider: Option<Arc<dyn AiProvider>>,
    settings: Option<Arc<dyn SettingsProvider>>,
    settings_defaults: AiSettingsDefaults,
    context_sources: Vec<Arc<dyn ContextSource>>,
    builtin_context: bool,
    answer_config: AnswerConfig,
    #[cfg(feature = "web")]
    url_ingestor: Option<Arc<crate::ingest::web::UrlIngestor>>,
    #[cfg(feature = "documents")]
    documents: Option<documents::DocumentsSetup>,
}

impl Default for ChatEngineBuilder {
    fn default() -> Self {
        Self {
            store: None,
            bus: None,
            config: EngineConfig::default(),
            provider: None,
            settings: None,
            settings_defaults: AiSettingsDefaults::default(),
            context_sources: Vec::new(),
            builtin_context: true,
            answer_config: AnswerConfig::default(),
            #[cfg(feature = "web")]
            url_ingestor: None,
            #[cfg(feature = "documents")]
            documents: None,
        }
    }
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

    /// The AI provider answering `open` sessions (a failover chain is itself a provider).
    /// Without one, the engine stores messages but does not answer them.
    pub fn provider(mut self, provider: Arc<dyn AiProvider>) -> Self {
        self.provider = Some(provider);
        self
    }

    /// The host's AI settings, read at the start of every answer (support-specific, then global,
    /// then the defaults), so a change applies to the next answer without a restart.
    pub fn settings(mut self, settings: Arc<dyn SettingsProvider>) -> Self {
        self.settings = Some(settings);
        self
    }

    /// The defaults under the host's settings (default: [`AiSettingsDefaults::default`]).
    pub fn settings_defaults(mut self, defaults: AiSettingsDefaults) -> Self {
        self.settings_defaults = defaults;
        self
    }

    /// Adds a context source of the host (its own knowledge base, for example).
    pub fn context_source(mut self, source: Arc<dyn ContextSource>) -> Self {
        self.context_sources.push(source);
        self
    }

    /// Whether the built-in KB, FAQ and session-document sources are used (default: true).
    pub fn builtin_context(mut self, enabled: bool) -> Self {
        self.builtin_context = enabled;
        self
    }

    /// Settings of the AI answer path (default: [`AnswerConfig::default`]).
    pub fn answer_config(mut self, config: AnswerConfig) -> Self {
        self.answer_config = config;
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
        let mut context_sources = self.context_sources;
        if self.builtin_context {
            let builtin: [Arc<dyn ContextSource>; 3] = [
                Arc::new(KbContext::new(Arc::clone(&store))),
                Arc::new(FaqContext::new(Arc::clone(&store))),
                Arc::new(DocumentContext::new(Arc::clone(&store))),
            ];
            context_sources.splice(0..0, builtin);
        }
        #[cfg(feature = "documents")]
        let documents = self.documents.map(|setup| setup.build(&store, &bus));
        Ok(ChatEngine {
            inner: Arc::new(Inner {
                store,
                bus,
                config: self.config,
                provider: self.provider,
                settings: self.settings,
                settings_defaults: self.settings_defaults,
                context_sources,
                answer_config: self.answer_config,
                answers: answer::AnswerQueue::default(),
                node_id: uuid::Uuid::now_v7().to_string(),
                #[cfg(feature = "web")]
                urls: urls::UrlIngestSlot::new(self.url_ingestor),
                #[cfg(feature = "documents")]
                documents,
            }),
        })
    }
}
