//! AI providers: the trait every backend implements (OpenAI-compatible, Anthropic, Gemini, the
//! offline answerer, a host's own), and its request, stream and error types.

mod attempt;
#[cfg(feature = "testing")]
pub mod conformance;
mod error;
pub mod settings;

use std::fmt::Debug;
use std::pin::Pin;

use async_trait::async_trait;
use futures::Stream;
use serde::{Deserialize, Serialize};

pub use attempt::AttemptRecord;
pub use error::{ProviderError, TimeoutPhase};
pub use settings::{
    AiSettings, AiSettingsDefaults, MemorySettings, ResolvedAiSettings, SettingsError,
    SettingsProvider, SettingsProviderExt, SettingsScope,
};

use crate::model::TokenUsage;

/// Role of a prompt message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PromptRole {
    /// The customer (or the engine speaking for them).
    User,
    /// The assistant's earlier answers.
    Assistant,
}

/// One turn of the conversation in a prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PromptMessage {
    /// Who says it.
    pub role: PromptRole,
    /// The text.
    pub content: String,
}

impl PromptMessage {
    /// A user turn.
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: PromptRole::User,
            content: content.into(),
        }
    }
    /// An assistant turn.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self {
            role: PromptRole::Assistant,
            content: content.into(),
        }
    }
}

/// A passage of retrieved context, numbered as the prompt cites it (`[n]`). Providers that
/// build their own prompt from passages (the offline answerer) read these; others get them
/// already rendered into the system prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ContextPassage {
    /// The `n` of `[n]`.
    pub index: u32,
    /// Title of the source.
    pub title: String,
    /// The passage text (untrusted data).
    pub text: String,
    /// Retrieval score in 0..=1.
    pub score: f32,
}

impl ContextPassage {
    /// Builds a passage.
    pub fn new(index: u32, title: impl Into<String>, text: impl Into<String>, score: f32) -> Self {
        Self {
            index,
            title: title.into(),
            text: text.into(),
            score,
        }
    }
}

/// A completion request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CompletionRequest {
    /// Model to use; `None` uses the provider's configured default.
    pub model: Option<String>,
    /// System prompt (instructions and the fenced context).
    pub system: String,
    /// Conversation, oldest first; the last one is the question.
    pub messages: Vec<PromptMessage>,
    /// The numbered context passages (also rendered into `system`).
    pub passages: Vec<ContextPassage>,
    /// Sampling temperature.
    pub temperature: Option<f32>,
    /// Most tokens to generate.
    pub max_tokens: Option<u32>,
    /// Names of the providers to try, in order (from the settings). A routing provider (the
    /// failover chain) honours it; a single provider ignores it. Empty: the router's own order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub providers: Vec<String>,
}

impl CompletionRequest {
    /// A request with a system prompt and messages, default model and sampling.
    pub fn new(system: impl Into<String>, messages: Vec<PromptMessage>) -> Self {
        Self {
            model: None,
            system: system.into(),
            messages,
            passages: Vec::new(),
            temperature: None,
            max_tokens: None,
            providers: Vec::new(),
        }
    }
    /// Sets the model.
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }
    /// Sets the passages.
    pub fn passages(mut self, passages: Vec<ContextPassage>) -> Self {
        self.passages = passages;
        self
    }
    /// Sets the temperature.
    pub fn temperature(mut self, temperature: f32) -> Self {
        self.temperature = Some(temperature);
        self
    }
    /// Sets the output limit.
    pub fn max_tokens(mut self, max_tokens: u32) -> Self {
        self.max_tokens = Some(max_tokens);
        self
    }
    /// Sets the provider chain a routing provider should try, by name.
    pub fn providers(mut self, providers: Vec<String>) -> Self {
        self.providers = providers;
        self
    }
    /// The question: the content of the last user message, if any.
    pub fn question(&self) -> Option<&str> {
        self.messages
            .iter()
            .rev()
            .find(|m| m.role == PromptRole::User)
            .map(|m| m.content.as_str())
    }
}

/// Why generation stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FinishReason {
    /// Natural end.
    Stop,
    /// Output token limit reached.
    Length,
    /// Stopped by the vendor's content filter.
    ContentFilter,
    /// Anything else the vendor reported.
    Other(String),
}

/// One item of a completion stream.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum CompletionChunk {
    /// Text to append to the answer.
    Delta(String),
    /// Token counts (usually near the end).
    Usage(TokenUsage),
    /// The end of the answer.
    Finish(FinishReason),
    /// Metadata from a routing provider (the failover chain): one provider call of this answer
    /// ended. Failed calls are reported before the first `Delta`; the call that answered is
    /// reported last, just before `Finish` or the `Err` that cuts the answer. A plain provider
    /// sends none; the caller then records the call itself.
    Attempt(AttemptRecord),
}

/// A stream of completion chunks: `Delta`s, at most one `Usage`, then `Finish` as the last item
/// (routing providers add `Attempt` items). An `Err` item ends it; an `Err` before any `Delta`
/// means no token was produced.
pub type CompletionStream =
    Pin<Box<dyn Stream<Item = Result<CompletionChunk, ProviderError>> + Send>>;

/// What a provider supports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ProviderCapabilities {
    /// Context window in tokens.
    pub context_window: u32,
    /// Most output tokens per answer.
    pub max_output_tokens: u32,
    /// Streams tokens as they are generated.
    pub streaming: bool,
    /// Works without the network.
    pub offline: bool,
}

impl ProviderCapabilities {
    /// Builds a capability set.
    pub fn new(
        context_window: u32,
        max_output_tokens: u32,
        streaming: bool,
        offline: bool,
    ) -> Self {
        Self {
            context_window,
            max_output_tokens,
            streaming,
            offline,
        }
    }
}

/// A source of AI completions.
#[async_trait]
pub trait AiProvider: Send + Sync + Debug + 'static {
    /// Short stable name (`openai`, `anthropic`, `gemini`, `offline`, ...), recorded with usage.
    fn name(&self) -> &str;

    /// The model used when a request names none.
    fn default_model(&self) -> &str;

    /// What this provider supports.
    fn capabilities(&self) -> ProviderCapabilities;

    /// Starts a streamed completion. The call returns once the provider accepted the request
    /// (response headers received); tokens then arrive on the stream.
    ///
    /// Errors: the [`ProviderError`] kinds; an error before the stream starts means no token was
    /// produced, so the caller may fail over.
    async fn stream(&self, request: CompletionRequest) -> Result<CompletionStream, ProviderError>;
}
