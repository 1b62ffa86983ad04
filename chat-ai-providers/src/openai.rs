//! OpenAI-compatible chat completions (`POST {base}/chat/completions`, `stream: true`), which
//! covers OpenAI, Azure OpenAI, Ollama, vLLM, LM Studio and OpenRouter.
//!
//! Wire format: each SSE `data:` is a `chat.completion.chunk` whose `choices[0].delta.content`
//! carries text and whose `finish_reason` ends the choice; with
//! `stream_options.include_usage` a last chunk with empty `choices` carries `usage`; the stream
//! ends with `data: [DONE]`. Errors come as an `{"error": {...}}` body, or as a chunk with an
//! `error` member mid-stream (OpenRouter, vLLM).

use std::collections::VecDeque;
use std::fmt;

use chat_core::model::TokenUsage;
use chat_core::provider::{
    CompletionChunk, CompletionRequest, FinishReason, PromptRole, ProviderCapabilities,
    ProviderError,
};
use eventsource_stream::Event;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::client::{HttpClient, WireFormat, common_setters, http_provider};
use crate::error::{ConfigError, from_event};
use crate::http_settings::{ApiKey, HttpSettings};
use crate::sse::{Decoder, Flow, parse_json};
use crate::transport::{Part, endpoint, parse_base_url, secret_header};

/// How the API key is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum OpenAiAuth {
    /// `Authorization: Bearer <key>` (OpenAI, OpenRouter, vLLM, most servers).
    Bearer,
    /// The key as the value of this header (Azure: `api-key`).
    Header(String),
}

/// Which body field carries the output limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum MaxTokensField {
    /// `max_tokens` (every compatible server).
    MaxTokens,
    /// `max_completion_tokens` (OpenAI's reasoning models require it).
    MaxCompletionTokens,
}

/// Configuration of an OpenAI-compatible provider.
///
/// | setting | default ([`OpenAiConfig::new`]) | what |
/// |---|---|---|
/// | `name` | `openai-compatible` | name in usage records and provider chains |
/// | `base_url` | (required) | e.g. `https://api.openai.com/v1` |
/// | `path` | `/chat/completions` | appended to the base URL |
/// | `azure_deployment` | none | Azure: inserts `openai/deployments/{name}` before the path |
/// | `model` | (required) | default model (Azure: informational, the deployment decides) |
/// | `api_key` | none | sent per `auth`; never shown or serialized |
/// | `auth` | `Bearer` | `Authorization: Bearer`, or a named header (Azure `api-key`) |
/// | `query` | none | query parameters (Azure `api-version`) |
/// | `include_usage` | true | sends `stream_options.include_usage` |
/// | `max_tokens_field` | `max_tokens` | or `max_completion_tokens` |
/// | `context_window` | 8,192 | tokens, reported in capabilities |
/// | `max_output_tokens` | 4,096 | tokens, reported in capabilities |
/// | `http` | [`HttpSettings`] defaults | timeouts, limits, extra headers |
#[derive(Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OpenAiConfig {
    /// Provider name.
    pub name: String,
    /// Base URL.
    pub base_url: String,
    /// Path after the base URL.
    #[serde(default = "default_path")]
    pub path: String,
    /// Azure deployment.
    #[serde(default)]
    pub azure_deployment: Option<String>,
    /// Default model.
    pub model: String,
    /// API key.
    #[serde(default, skip_serializing)]
    pub api_key: Option<ApiKey>,
    /// How the key is sent.
    #[serde(default = "default_auth")]
    pub auth: OpenAiAuth,
    /// Query parameters.
    #[serde(default)]
    pub query: Vec<(String, String)>,
    /// Ask for usage in the stream.
    #[serde(default = "default_true")]
    pub include_usage: bool,
    /// Output limit field.
    #[serde(default = "default_max_tokens_field")]
    pub max_tokens_field: MaxTokensField,
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

fn default_path() -> String {
    "/chat/completions".to_owned()
}
fn default_auth() -> OpenAiAuth {
    OpenAiAuth::Bearer
}
fn default_true() -> bool {
    true
}
fn default_max_tokens_field() -> MaxTokensField {
    MaxTokensField::MaxTokens
}
fn default_context_window() -> u32 {
    8192
}
fn default_max_output() -> u32 {
    4096
}

impl OpenAiConfig {
    /// Any OpenAI-compatible server at `base_url` serving `model`.
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            name: "openai-compatible".to_owned(),
            base_url: base_url.into(),
            path: default_path(),
            azure_deployment: None,
            model: model.into(),
            api_key: None,
            auth: OpenAiAuth::Bearer,
            query: Vec::new(),
            include_usage: true,
            max_tokens_field: MaxTokensField::MaxTokens,
            context_window: default_context_window(),
            max_output_tokens: default_max_output(),
            http: HttpSettings::default(),
        }
    }
    /// OpenAI (`https://api.openai.com/v1`, bearer key, 128k window).
    pub fn openai(api_key: impl Into<ApiKey>, model: impl Into<String>) -> Self {
        Self::new("https://api.openai.com/v1", model)
            .name("openai")
            .api_key(api_key)
            .context_window(128_000)
            .max_output_tokens(16_384)
    }
    /// Azure OpenAI: `{endpoint}/openai/deployments/{deployment}/chat/completions?api-version=…`
    /// with the `api-key` header.
    pub fn azure(
        endpoint: impl Into<String>,
        deployment: impl Into<String>,
        api_version: impl Into<String>,
        api_key: impl Into<ApiKey>,
    ) -> Self {
        let deployment = deployment.into();
        let mut config = Self::new(endpoint, deployment.clone())
            .name("azure-openai")
            .api_key(api_key)
            .auth(OpenAiAuth::Header("api-key".to_owned()))
            .query_param("api-version", api_version)
            .context_window(128_000)
            .max_output_tokens(16_384);
        config.azure_deployment = Some(deployment);
        config
    }
    /// Ollama's OpenAI-compatible endpoint on this machine (`http://localhost:11434/v1`).
    pub fn ollama(model: impl Into<String>) -> Self {
        Self::new("http://localhost:11434/v1", model).name("ollama")
    }
    /// A vLLM server (`{base_url}` usually ends with `/v1`).
    pub fn vllm(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        Self::new(base_url, model).name("vllm")
    }
    /// LM Studio's local server (`http://localhost:1234/v1`).
    pub fn lm_studio(model: impl Into<String>) -> Self {
        Self::new("http://localhost:1234/v1", model).name("lm-studio")
    }
    /// OpenRouter (`https://openrouter.ai/api/v1`, bearer key). Add `HTTP-Referer` and
    /// `X-Title` through [`HttpSettings::header`] to identify the app.
    pub fn openrouter(api_key: impl Into<ApiKey>, model: impl Into<String>) -> Self {
        Self::new("https://openrouter.ai/api/v1", model)
            .name("openrouter")
            .api_key(api_key)
            .context_window(128_000)
    }
    common_setters!();

    /// Sets the path after the base URL.
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }
    /// Sets the API key.
    pub fn api_key(mut self, key: impl Into<ApiKey>) -> Self {
        self.api_key = Some(key.into());
        self
    }
    /// Sets how the key is sent.
    pub fn auth(mut self, auth: OpenAiAuth) -> Self {
        self.auth = auth;
        self
    }
    /// Adds a query parameter.
    pub fn query_param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.push((name.into(), value.into()));
        self
    }
    /// Asks (or not) for usage in the stream.
    pub fn include_usage(mut self, include: bool) -> Self {
        self.include_usage = include;
        self
    }
    /// Sets the output limit field.
    pub fn max_tokens_field(mut self, field: MaxTokensField) -> Self {
        self.max_tokens_field = field;
        self
    }
}

impl fmt::Debug for OpenAiConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiConfig")
            .field("name", &self.name)
            .field("base_url", &self.base_url)
            .field("path", &self.path)
            .field("azure_deployment", &self.azure_deployment)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "***"))
            .field("auth", &self.auth)
            // Values may be credentials (some proxies take `?key=`): names only.
            .field(
                "query",
                &self
                    .query
                    .iter()
                    .map(|(name, _)| (name, "***"))
                    .collect::<Vec<_>>(),
            )
            .field("include_usage", &self.include_usage)
            .field("max_tokens_field", &self.max_tokens_field)
            .field("context_window", &self.context_window)
            .field("max_output_tokens", &self.max_output_tokens)
            .field("http", &self.http)
            .finish()
    }
}

/// A client of an OpenAI-compatible server.
pub struct OpenAiProvider(HttpClient<OpenAiFormat>);

http_provider!(OpenAiProvider);

impl OpenAiProvider {
    /// Builds the client.
    ///
    /// Errors: [`ConfigError`] for an invalid base URL or header, or an empty name, model,
    /// deployment or key.
    pub fn new(config: OpenAiConfig) -> Result<Self, ConfigError> {
        let base = parse_base_url(&config.base_url)?;
        let mut parts = Vec::new();
        if let Some(deployment) = &config.azure_deployment {
            if deployment.trim().is_empty() {
                return Err(ConfigError::Empty("azure_deployment"));
            }
            parts.extend([Part::Path("openai/deployments"), Part::Name(deployment)]);
        }
        parts.push(Part::Path(&config.path));
        let mut url = endpoint(&base, &parts).map_err(|e| ConfigError::InvalidUrl {
            url: config.base_url.clone(),
            reason: e.to_string(),
        })?;
        if !config.query.is_empty() {
            url.query_pairs_mut().extend_pairs(config.query.iter());
        }
        let mut headers = HeaderMap::new();
        if let Some(key) = &config.api_key {
            if key.expose().is_empty() {
                return Err(ConfigError::Empty("api_key"));
            }
            match &config.auth {
                OpenAiAuth::Bearer => {
                    let value = format!("Bearer {}", key.expose());
                    headers.insert(AUTHORIZATION, secret_header(&value, "authorization")?);
                }
                OpenAiAuth::Header(name) => {
                    let header = HeaderName::from_bytes(name.as_bytes())
                        .map_err(|_| ConfigError::InvalidHeader { name: name.clone() })?;
                    headers.insert(header, secret_header(key.expose(), name)?);
                }
            }
        }
        let capabilities =
            ProviderCapabilities::new(config.context_window, config.max_output_tokens, true, false);
        let wire = OpenAiFormat {
            url,
            include_usage: config.include_usage,
            max_tokens_field: config.max_tokens_field,
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

/// The chat completions format.
struct OpenAiFormat {
    url: Url,
    include_usage: bool,
    max_tokens_field: MaxTokensField,
}

impl WireFormat for OpenAiFormat {
    type Decoder = OpenAiDecoder;

    fn url(&self, _model: &str) -> Result<Url, ProviderError> {
        Ok(self.url.clone())
    }

    fn body(&self, request: &CompletionRequest, model: &str) -> Result<Vec<u8>, ProviderError> {
        let mut messages = Vec::with_capacity(request.messages.len() + 1);
        if !request.system.is_empty() {
            messages.push(WireMessage {
                role: "system",
                content: &request.system,
            });
        }
        messages.extend(request.messages.iter().map(|m| WireMessage {
            role: if m.role == PromptRole::Assistant {
                "assistant"
            } else {
                "user"
            },
            content: &m.content,
        }));
        let (max_tokens, max_completion_tokens) = match self.max_tokens_field {
            MaxTokensField::MaxCompletionTokens => (None, request.max_tokens),
            _ => (request.max_tokens, None),
        };
        let body = WireRequest {
            model,
            messages,
            stream: true,
            stream_options: self.include_usage.then_some(StreamOptions {
                include_usage: true,
            }),
            temperature: request.temperature,
            max_tokens,
            max_completion_tokens,
        };
        serde_json::to_vec(&body).map_err(|e| ProviderError::Backend(Box::new(e)))
    }
}

#[derive(Serialize)]
struct WireMessage<'a> {
    role: &'static str,
    content: &'a str,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

#[derive(Serialize)]
struct WireRequest<'a> {
    model: &'a str,
    messages: Vec<WireMessage<'a>>,
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u32>,
}

#[derive(Deserialize)]
struct WireChunk {
    #[serde(default)]
    choices: Vec<WireChoice>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    error: Option<WireError>,
}

#[derive(Deserialize)]
struct WireChoice {
    #[serde(default)]
    index: u32,
    #[serde(default)]
    delta: Option<WireDelta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct WireDelta {
    // Reasoning fields (`reasoning_content`, `reasoning`) are not answer text and are ignored.
    #[serde(default)]
    content: Option<String>,
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: u32,
    #[serde(default)]
    completion_tokens: u32,
}

#[derive(Deserialize)]
struct WireError {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    code: Option<serde_json::Value>,
}

/// The OpenAI chunk stream: text of choice 0, the finish reason, usage, `[DONE]`.
#[derive(Debug, Default)]
struct OpenAiDecoder {
    finish: Option<FinishReason>,
    usage: Option<TokenUsage>,
}

impl OpenAiDecoder {
    fn complete(&mut self, out: &mut VecDeque<CompletionChunk>) {
        if let Some(usage) = self.usage.take() {
            out.push_back(CompletionChunk::Usage(usage));
        }
        out.push_back(CompletionChunk::Finish(
            self.finish.take().unwrap_or(FinishReason::Stop),
        ));
    }
}

fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "stop" | "end_turn" | "eos" => FinishReason::Stop,
        "length" | "max_tokens" => FinishReason::Length,
        "content_filter" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_owned()),
    }
}

impl Decoder for OpenAiDecoder {
    fn event(
        &mut self,
        event: &Event,
        out: &mut VecDeque<CompletionChunk>,
    ) -> Result<Flow, ProviderError> {
        let data = event.data.trim();
        if data == "[DONE]" {
            self.complete(out);
            return Ok(Flow::Done);
        }
        if data.is_empty() {
            return Ok(Flow::Continue);
        }
        let chunk: WireChunk = parse_json("openai", data)?;
        if let Some(error) = chunk.error {
            let code = error
                .code
                .as_ref()
                .and_then(serde_json::Value::as_u64)
                .and_then(|c| u16::try_from(c).ok());
            let code_name = error
                .code
                .as_ref()
                .and_then(serde_json::Value::as_str)
                .unwrap_or("");
            let kind = format!("{} {code_name}", error.kind.as_deref().unwrap_or(""));
            return Err(from_event(code, &kind, data.to_owned()));
        }
        for choice in chunk.choices.into_iter().filter(|c| c.index == 0) {
            if let Some(text) = choice
                .delta
                .and_then(|d| d.content)
                .filter(|t| !t.is_empty())
            {
                out.push_back(CompletionChunk::Delta(text));
            }
            match choice.finish_reason.as_deref() {
                // OpenRouter ends a failed generation with `finish_reason: "error"`.
                Some("error") => return Err(from_event(None, "server_error", data.to_owned())),
                Some(reason) => self.finish = Some(finish_reason(reason)),
                None => {}
            }
        }
        if let Some(usage) = chunk.usage {
            self.usage = Some(TokenUsage::new(
                usage.prompt_tokens,
                usage.completion_tokens,
            ));
        }
        Ok(Flow::Continue)
    }

    fn end(&mut self, out: &mut VecDeque<CompletionChunk>) -> Result<(), ProviderError> {
        // Some compatible servers close right after the finishing chunk without `[DONE]`:
        // the answer is whole once a finish reason arrived.
        if self.finish.is_some() {
            self.complete(out);
            Ok(())
        } else {
            Err(ProviderError::Interrupted(
                "stream ended before [DONE]".into(),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_core::provider::AiProvider;

    #[test]
    fn azure_builds_the_deployment_url_and_api_key_header() {
        let p = OpenAiProvider::new(OpenAiConfig::azure(
            "https://res.example.test",
            "my gpt",
            "2024-10-21",
            "k",
        ))
        .unwrap();
        assert_eq!(
            p.0.wire.url.as_str(),
            "https://res.example.test/openai/deployments/my%20gpt/chat/completions?api-version=2024-10-21"
        );
        assert_eq!(p.name(), "azure-openai");
    }

    #[test]
    fn config_errors_are_specific() {
        assert!(matches!(
            OpenAiProvider::new(OpenAiConfig::new("http://x", "")),
            Err(ConfigError::Empty("model"))
        ));
        assert!(matches!(
            OpenAiProvider::new(OpenAiConfig::new("nope", "m")),
            Err(ConfigError::InvalidUrl { .. })
        ));
        let bad_header = OpenAiConfig::new("http://x", "m").header("bad header", "v");
        assert!(matches!(
            OpenAiProvider::new(bad_header),
            Err(ConfigError::InvalidHeader { .. })
        ));
        let bad_value = OpenAiConfig::new("http://x", "m").api_key("line\nbreak");
        let err = OpenAiProvider::new(bad_value).unwrap_err();
        assert!(
            !err.to_string().contains("break"),
            "the value is not echoed: {err}"
        );
    }

    #[test]
    fn body_uses_the_configured_limit_field_and_usage_option() {
        let p = OpenAiProvider::new(
            OpenAiConfig::new("http://x/v1", "m")
                .max_tokens_field(MaxTokensField::MaxCompletionTokens)
                .include_usage(false),
        )
        .unwrap();
        let req = CompletionRequest::new("", vec![chat_core::provider::PromptMessage::user("q")])
            .max_tokens(5);
        let body: serde_json::Value =
            serde_json::from_slice(&p.0.wire.body(&req, "m").unwrap()).unwrap();
        assert_eq!(body["max_completion_tokens"], 5);
        assert!(body.get("max_tokens").is_none() && body.get("stream_options").is_none());
        assert_eq!(
            body["messages"].as_array().map(Vec::len),
            Some(1),
            "no empty system message"
        );
    }

    #[test]
    fn debug_hides_the_key() {
        let config =
            OpenAiConfig::openai("sk-SECRET-123", "gpt-4o-mini").header("X-Extra", "hidden-SECRET");
        let shown = format!("{config:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        let provider = OpenAiProvider::new(config).unwrap();
        assert!(!format!("{provider:?}").contains("SECRET"));
    }
}
