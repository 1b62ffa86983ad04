//! Anthropic Messages (`POST {base}/v1/messages`, `stream: true`).
//!
//! Wire format: named SSE events `message_start` (input token counts), `content_block_start`,
//! `content_block_delta` (`text_delta` carries text), `content_block_stop`, `message_delta`
//! (`stop_reason`, output token count), `message_stop` (the end), `ping` (keep-alive) and
//! `error` (`{"type":"error","error":{"type":"overloaded_error",...}}`). Unknown event types
//! are ignored, as Anthropic's versioning policy asks. Headers: `x-api-key`,
//! `anthropic-version`.

use std::collections::VecDeque;
use std::fmt;

use chat_core::model::TokenUsage;
use chat_core::provider::{
    CompletionChunk, CompletionRequest, FinishReason, PromptRole, ProviderCapabilities,
    ProviderError,
};
use eventsource_stream::Event;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::client::{HttpClient, WireFormat, common_setters, http_provider};
use crate::error::{ConfigError, from_event};
use crate::http_settings::{ApiKey, HttpSettings};
use crate::sse::{Decoder, Flow, parse_json};
use crate::transport::{Part, endpoint, parse_base_url, secret_header};

/// Configuration of the Anthropic client.
///
/// | setting | default | what |
/// |---|---|---|
/// | `name` | `anthropic` | name in usage records and provider chains |
/// | `base_url` | `https://api.anthropic.com` | |
/// | `path` | `/v1/messages` | |
/// | `model` | (required) | default model |
/// | `api_key` | (required) | `x-api-key`; never shown or serialized |
/// | `version` | `2023-06-01` | `anthropic-version` header |
/// | `default_max_tokens` | 1,024 | `max_tokens` when the request sets none (the API requires one) |
/// | `context_window` | 200,000 | tokens, reported in capabilities |
/// | `max_output_tokens` | 8,192 | tokens, reported in capabilities |
/// | `http` | [`HttpSettings`] defaults | timeouts, limits, extra headers (`anthropic-beta`) |
#[derive(Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AnthropicConfig {
    /// Provider name.
    #[serde(default = "default_name")]
    pub name: String,
    /// Base URL.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Path after the base URL.
    #[serde(default = "default_path")]
    pub path: String,
    /// Default model.
    pub model: String,
    /// API key.
    #[serde(skip_serializing)]
    pub api_key: ApiKey,
    /// `anthropic-version`.
    #[serde(default = "default_version")]
    pub version: String,
    /// `max_tokens` when the request sets none.
    #[serde(default = "default_max_tokens")]
    pub default_max_tokens: u32,
    /// Context window in tokens.
    #[serde(default = "default_context_window")]
    pub context_window: u32,
    /// Most output tokens.
    #[serde(default = "default_max_output")]
    pub max_output_tokens: u32,
    /// HTTP settings.
    #[serde(default)]
    pub http: HttpSettings,
}

fn default_name() -> String {
    "anthropic".to_owned()
}
fn default_base_url() -> String {
    "https://api.anthropic.com".to_owned()
}
fn default_path() -> String {
    "/v1/messages".to_owned()
}
fn default_version() -> String {
    "2023-06-01".to_owned()
}
fn default_max_tokens() -> u32 {
    1024
}
fn default_context_window() -> u32 {
    200_000
}
fn default_max_output() -> u32 {
    8192
}

impl AnthropicConfig {
    /// Anthropic's API with `api_key`, answering with `model`.
    pub fn new(api_key: impl Into<ApiKey>, model: impl Into<String>) -> Self {
        Self {
            name: default_name(),
            base_url: default_base_url(),
            path: default_path(),
            model: model.into(),
            api_key: api_key.into(),
            version: default_version(),
            default_max_tokens: default_max_tokens(),
            context_window: default_context_window(),
            max_output_tokens: default_max_output(),
            http: HttpSettings::default(),
        }
    }
    common_setters!();

    /// Sets the path.
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }
    /// Sets the `anthropic-version` header.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }
    /// Sets `max_tokens` for requests that set none.
    pub fn default_max_tokens(mut self, tokens: u32) -> Self {
        self.default_max_tokens = tokens;
        self
    }
}

impl fmt::Debug for AnthropicConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnthropicConfig")
            .field("name", &self.name)
            .field("base_url", &self.base_url)
            .field("path", &self.path)
            .field("model", &self.model)
            .field("api_key", &"***")
            .field("version", &self.version)
            .field("default_max_tokens", &self.default_max_tokens)
            .field("context_window", &self.context_window)
            .field("max_output_tokens", &self.max_output_tokens)
            .field("http", &self.http)
            .finish()
    }
}

/// A client of the Anthropic Messages API.
pub struct AnthropicProvider(HttpClient<AnthropicFormat>);

http_provider!(AnthropicProvider);

impl AnthropicProvider {
    /// Builds the client.
    ///
    /// Errors: [`ConfigError`] for an invalid base URL or header, or an empty name, model,
    /// key or version.
    pub fn new(config: AnthropicConfig) -> Result<Self, ConfigError> {
        if config.api_key.expose().trim().is_empty() {
            return Err(ConfigError::Empty("api_key"));
        }
        if config.version.trim().is_empty() {
            return Err(ConfigError::Empty("version"));
        }
        let base = parse_base_url(&config.base_url)?;
        let url =
            endpoint(&base, &[Part::Path(&config.path)]).map_err(|e| ConfigError::InvalidUrl {
                url: config.base_url.clone(),
                reason: e.to_string(),
            })?;
        let mut headers = HeaderMap::new();
        headers.insert(
            HeaderName::from_static("x-api-key"),
            secret_header(config.api_key.expose(), "x-api-key")?,
        );
        headers.insert(
            HeaderName::from_static("anthropic-version"),
            HeaderValue::from_str(&config.version).map_err(|_| ConfigError::InvalidHeader {
                name: "anthropic-version".into(),
            })?,
        );
        let capabilities =
            ProviderCapabilities::new(config.context_window, config.max_output_tokens, true, false);
        let wire = AnthropicFormat {
            url,
            default_max_tokens: config.default_max_tokens.max(1),
        };
        HttpClient::new(
            config.name,
            config.model,
            capabilities,
            &config.http,
            headers,
            wire,
        )
        .map(Self)
    }
}

/// The Messages format. Error bodies are `{"type":"error","error":{"type":...}}`; the status
/// decides the kind (the context check reads "prompt is too long").
struct AnthropicFormat {
    url: Url,
    default_max_tokens: u32,
}

impl WireFormat for AnthropicFormat {
    type Decoder = AnthropicDecoder;

    fn url(&self, _model: &str) -> Result<Url, ProviderError> {
        Ok(self.url.clone())
    }

    fn body(&self, request: &CompletionRequest, model: &str) -> Result<Vec<u8>, ProviderError> {
        // The API takes alternating turns; consecutive turns of one role are joined.
        let mut messages: Vec<WireMessage> = Vec::with_capacity(request.messages.len());
        for m in &request.messages {
            let role = if m.role == PromptRole::Assistant {
                "assistant"
            } else {
                "user"
            };
            match messages.last_mut() {
                Some(last) if last.role == role => {
                    last.content.push_str("\n\n");
                    last.content.push_str(&m.content);
                }
                _ => messages.push(WireMessage {
                    role,
                    content: m.content.clone(),
                }),
            }
        }
        let body = WireRequest {
            model,
            max_tokens: request.max_tokens.unwrap_or(self.default_max_tokens),
            system: (!request.system.is_empty()).then_some(request.system.as_str()),
            messages,
            temperature: request.temperature,
            stream: true,
        };
        serde_json::to_vec(&body).map_err(|e| ProviderError::Backend(Box::new(e)))
    }
}

#[derive(Serialize)]
struct WireMessage {
    role: &'static str,
    content: String,
}

#[derive(Serialize)]
struct WireRequest<'a> {
    model: &'a str,
    max_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<&'a str>,
    messages: Vec<WireMessage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    stream: bool,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireEvent {
    MessageStart {
        message: WireMessageStart,
    },
    ContentBlockStart {
        content_block: WireBlock,
    },
    ContentBlockDelta {
        delta: WireBlock,
    },
    MessageDelta {
        #[serde(default)]
        delta: WireStop,
        #[serde(default)]
        usage: Option<WireUsage>,
    },
    MessageStop,
    Error {
        error: WireError,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct WireMessageStart {
    #[serde(default)]
    usage: Option<WireUsage>,
}

/// A content block or a delta of one; only text is answer text (thinking, tool input and
/// signatures are not).
#[derive(Deserialize)]
struct WireBlock {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize, Default)]
struct WireStop {
    #[serde(default)]
    stop_reason: Option<String>,
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    input_tokens: Option<u32>,
    #[serde(default)]
    cache_creation_input_tokens: Option<u32>,
    #[serde(default)]
    cache_read_input_tokens: Option<u32>,
    #[serde(default)]
    output_tokens: Option<u32>,
}

#[derive(Deserialize)]
struct WireError {
    #[serde(rename = "type", default)]
    kind: String,
}

/// The Anthropic event stream; `message_stop` is the end marker.
#[derive(Debug, Default)]
struct AnthropicDecoder {
    prompt_tokens: Option<u32>,
    completion_tokens: Option<u32>,
    stop: Option<FinishReason>,
}

impl AnthropicDecoder {
    fn usage(&mut self, usage: &WireUsage) {
        if let Some(input) = usage.input_tokens {
            // Cached prompt tokens are prompt tokens too (billed at other rates).
            let cached = usage
                .cache_creation_input_tokens
                .unwrap_or(0)
                .saturating_add(usage.cache_read_input_tokens.unwrap_or(0));
            self.prompt_tokens = Some(input.saturating_add(cached));
        }
        if let Some(output) = usage.output_tokens {
            self.completion_tokens = Some(output);
        }
    }
}

impl Decoder for AnthropicDecoder {
    fn event(
        &mut self,
        event: &Event,
        out: &mut VecDeque<CompletionChunk>,
    ) -> Result<Flow, ProviderError> {
        if event.event == "ping" || event.data.trim().is_empty() {
            return Ok(Flow::Continue);
        }
        match parse_json::<WireEvent>("anthropic", &event.data)? {
            WireEvent::MessageStart { message } => {
                if let Some(usage) = &message.usage {
                    self.usage(usage);
                }
            }
            WireEvent::ContentBlockStart {
                content_block: block,
            }
            | WireEvent::ContentBlockDelta { delta: block } => {
                if matches!(block.kind.as_str(), "text" | "text_delta") {
                    if let Some(text) = block.text.filter(|t| !t.is_empty()) {
                        out.push_back(CompletionChunk::Delta(text));
                    }
                }
            }
            WireEvent::MessageDelta { delta, usage } => {
                if let Some(reason) = delta.stop_reason {
                    self.stop = Some(match reason.as_str() {
                        "end_turn" | "stop_sequence" => FinishReason::Stop,
                        "max_tokens" => FinishReason::Length,
                        "refusal" => FinishReason::ContentFilter,
                        other => FinishReason::Other(other.to_owned()),
                    });
                }
                if let Some(usage) = &usage {
                    self.usage(usage);
                }
            }
            WireEvent::MessageStop => {
                if self.prompt_tokens.is_some() || self.completion_tokens.is_some() {
                    out.push_back(CompletionChunk::Usage(TokenUsage::new(
                        self.prompt_tokens.unwrap_or(0),
                        self.completion_tokens.unwrap_or(0),
                    )));
                }
                out.push_back(CompletionChunk::Finish(
                    self.stop.take().unwrap_or(FinishReason::Stop),
                ));
                return Ok(Flow::Done);
            }
            WireEvent::Error { error } => {
                return Err(from_event(None, &error.kind, event.data.clone()));
            }
            WireEvent::Other => {}
        }
        Ok(Flow::Continue)
    }

    fn end(&mut self, _out: &mut VecDeque<CompletionChunk>) -> Result<(), ProviderError> {
        Err(ProviderError::Interrupted(
            "stream ended before message_stop".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_core::provider::PromptMessage;

    #[test]
    fn consecutive_turns_are_joined_and_empty_system_left_out() {
        let p = AnthropicProvider::new(AnthropicConfig::new("k", "claude")).unwrap();
        let req = CompletionRequest::new(
            "",
            vec![
                PromptMessage::user("a"),
                PromptMessage::user("b"),
                PromptMessage::assistant("c"),
            ],
        );
        let body: serde_json::Value =
            serde_json::from_slice(&p.0.wire.body(&req, "claude").unwrap()).unwrap();
        assert_eq!(body["messages"][0]["content"], "a\n\nb");
        assert_eq!(body["messages"].as_array().map(Vec::len), Some(2));
        assert!(body.get("system").is_none());
        assert_eq!(body["max_tokens"], 1024);
    }

    #[test]
    fn debug_hides_the_key() {
        let config =
            AnthropicConfig::new("sk-ant-SECRET", "claude").header("anthropic-beta", "b-SECRET");
        assert!(!format!("{config:?}").contains("SECRET"));
        let provider = AnthropicProvider::new(config).unwrap();
        assert!(!format!("{provider:?}").contains("SECRET"));
    }
}
