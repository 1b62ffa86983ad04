//! Google Gemini (`POST {base}/{version}/models/{model}:streamGenerateContent?alt=sse`).
//!
//! Wire format: each SSE `data:` is a `GenerateContentResponse`: text in
//! `candidates[0].content.parts[].text` (parts marked `thought` are skipped), `finishReason`
//! on the last candidate, `usageMetadata` with the token counts; the stream ends when the
//! server closes it after the finish reason. Errors are
//! `{"error":{"code":429,"message":"...","status":"RESOURCE_EXHAUSTED","details":[...]}}`:
//! `details` carries `RetryInfo.retryDelay` and, for a bad key, `ErrorInfo.reason =
//! API_KEY_INVALID` (sent with HTTP 400). Header: `x-goog-api-key` (never the `key=` query
//! parameter, so the key cannot appear in a logged URL).

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use chat_core::model::TokenUsage;
use chat_core::provider::{
    CompletionChunk, CompletionRequest, FinishReason, PromptRole, ProviderCapabilities,
    ProviderError,
};
use eventsource_stream::Event;
use reqwest::header::{HeaderMap, HeaderName};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::client::{HttpClient, WireFormat, common_setters, http_provider};
use crate::error::{ConfigError, from_event, from_status, secs_f64};
use crate::http_settings::{ApiKey, HttpSettings};
use crate::sse::{Decoder, Flow, parse_json};
use crate::transport::{Part, endpoint, parse_base_url, secret_header};

/// Configuration of the Gemini client.
///
/// | setting | default | what |
/// |---|---|---|
/// | `name` | `gemini` | name in usage records and provider chains |
/// | `base_url` | `https://generativelanguage.googleapis.com` | |
/// | `api_version` | `v1beta` | path segment before `models/` |
/// | `model` | (required) | default model (a leading `models/` is accepted) |
/// | `api_key` | (required) | `x-goog-api-key`; never shown or serialized |
/// | `context_window` | 1,048,576 | tokens, reported in capabilities |
/// | `max_output_tokens` | 8,192 | tokens, reported in capabilities |
/// | `http` | [`HttpSettings`] defaults | timeouts, limits, extra headers |
#[derive(Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GeminiConfig {
    /// Provider name.
    #[serde(default = "default_name")]
    pub name: String,
    /// Base URL.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// API version path segment.
    #[serde(default = "default_api_version")]
    pub api_version: String,
    /// Default model.
    pub model: String,
    /// API key.
    #[serde(skip_serializing)]
    pub api_key: ApiKey,
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
    "gemini".to_owned()
}
fn default_base_url() -> String {
    "https://generativelanguage.googleapis.com".to_owned()
}
fn default_api_version() -> String {
    "v1beta".to_owned()
}
fn default_context_window() -> u32 {
    1_048_576
}
fn default_max_output() -> u32 {
    8192
}

impl GeminiConfig {
    /// Gemini's API with `api_key`, answering with `model`.
    pub fn new(api_key: impl Into<ApiKey>, model: impl Into<String>) -> Self {
        Self {
            name: default_name(),
            base_url: default_base_url(),
            api_version: default_api_version(),
            model: model.into(),
            api_key: api_key.into(),
            context_window: default_context_window(),
            max_output_tokens: default_max_output(),
            http: HttpSettings::default(),
        }
    }
    common_setters!();

    /// Sets the API version segment.
    pub fn api_version(mut self, version: impl Into<String>) -> Self {
        self.api_version = version.into();
        self
    }
}

impl fmt::Debug for GeminiConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeminiConfig")
            .field("name", &self.name)
            .field("base_url", &self.base_url)
            .field("api_version", &self.api_version)
            .field("model", &self.model)
            .field("api_key", &"***")
            .field("context_window", &self.context_window)
            .field("max_output_tokens", &self.max_output_tokens)
            .field("http", &self.http)
            .finish()
    }
}

/// A client of the Gemini API.
pub struct GeminiProvider(HttpClient<GeminiFormat>);

http_provider!(GeminiProvider);

impl GeminiProvider {
    /// Builds the client.
    ///
    /// Errors: [`ConfigError`] for an invalid base URL or header, or an empty name, model,
    /// version or key.
    pub fn new(config: GeminiConfig) -> Result<Self, ConfigError> {
        if config.api_key.expose().trim().is_empty() {
            return Err(ConfigError::Empty("api_key"));
        }
        if config.api_version.trim().is_empty() {
            return Err(ConfigError::Empty("api_version"));
        }
        let base = parse_base_url(&config.base_url)?;
        let mut headers = HeaderMap::new();
        headers.insert(
            HeaderName::from_static("x-goog-api-key"),
            secret_header(config.api_key.expose(), "x-goog-api-key")?,
        );
        let capabilities =
            ProviderCapabilities::new(config.context_window, config.max_output_tokens, true, false);
        let wire = GeminiFormat {
            base,
            api_version: config.api_version,
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

/// The `streamGenerateContent` format. A bad key comes as HTTP 400 with reason
/// `API_KEY_INVALID` (mapped to `Auth`); a 429 without `Retry-After` carries its wait in
/// `RetryInfo.retryDelay`.
struct GeminiFormat {
    base: Url,
    api_version: String,
}

impl WireFormat for GeminiFormat {
    type Decoder = GeminiDecoder;

    fn url(&self, model: &str) -> Result<Url, ProviderError> {
        let model = model.strip_prefix("models/").unwrap_or(model);
        let method = format!("{model}:streamGenerateContent");
        let parts = [
            Part::Path(&self.api_version),
            Part::Path("models"),
            Part::Name(&method),
        ];
        let mut url = endpoint(&self.base, &parts)?;
        url.query_pairs_mut().append_pair("alt", "sse");
        Ok(url)
    }

    fn body(&self, request: &CompletionRequest, _model: &str) -> Result<Vec<u8>, ProviderError> {
        let contents = request
            .messages
            .iter()
            .map(|m| WireContent {
                role: Some(if m.role == PromptRole::Assistant {
                    "model"
                } else {
                    "user"
                }),
                parts: vec![WirePartOut { text: &m.content }],
            })
            .collect();
        let body = WireRequest {
            contents,
            system_instruction: (!request.system.is_empty()).then(|| WireContent {
                role: None,
                parts: vec![WirePartOut {
                    text: &request.system,
                }],
            }),
            generation_config: WireGenerationConfig {
                temperature: request.temperature,
                max_output_tokens: request.max_tokens,
            },
        };
        serde_json::to_vec(&body).map_err(|e| ProviderError::Backend(Box::new(e)))
    }

    fn classify(&self, status: u16, body: String, retry_after: Option<Duration>) -> ProviderError {
        // The streaming endpoint may wrap the error object in an array.
        let parsed = match serde_json::from_str::<serde_json::Value>(&body) {
            Ok(serde_json::Value::Array(mut items)) if !items.is_empty() => {
                Some(items.swap_remove(0))
            }
            Ok(value) => Some(value),
            Err(_) => None,
        }
        .and_then(|v| serde_json::from_value::<WireErrorBody>(v).ok());
        let details = parsed.map(|p| p.error.details).unwrap_or_default();
        if details
            .iter()
            .any(|d| d.reason.as_deref() == Some("API_KEY_INVALID"))
        {
            return ProviderError::Auth { status, body };
        }
        let retry_after = retry_after.or_else(|| {
            details
                .iter()
                .find_map(|d| d.retry_delay.as_deref().and_then(parse_delay))
        });
        from_status(status, body, retry_after)
    }
}

/// A protobuf JSON duration (`"39s"`, `"1.5s"`).
fn parse_delay(text: &str) -> Option<Duration> {
    text.strip_suffix('s')
        .and_then(|s| s.parse::<f64>().ok())
        .and_then(secs_f64)
}

#[derive(Serialize)]
struct WirePartOut<'a> {
    text: &'a str,
}

#[derive(Serialize)]
struct WireContent<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    parts: Vec<WirePartOut<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireGenerationConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_output_tokens: Option<u32>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireRequest<'a> {
    contents: Vec<WireContent<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    system_instruction: Option<WireContent<'a>>,
    generation_config: WireGenerationConfig,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireResponse {
    #[serde(default)]
    candidates: Vec<WireCandidate>,
    #[serde(default)]
    usage_metadata: Option<WireUsage>,
    #[serde(default)]
    prompt_feedback: Option<WirePromptFeedback>,
    #[serde(default)]
    error: Option<WireError>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireCandidate {
    #[serde(default)]
    content: Option<WireContentIn>,
    #[serde(default)]
    finish_reason: Option<String>,
    #[serde(default)]
    index: u32,
}

#[derive(Deserialize)]
struct WireContentIn {
    #[serde(default)]
    parts: Vec<WirePartIn>,
}

#[derive(Deserialize)]
struct WirePartIn {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    thought: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireUsage {
    #[serde(default)]
    prompt_token_count: u32,
    #[serde(default)]
    candidates_token_count: u32,
    #[serde(default)]
    thoughts_token_count: u32,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WirePromptFeedback {
    #[serde(default)]
    block_reason: Option<String>,
}

#[derive(Deserialize)]
struct WireErrorBody {
    error: WireError,
}

#[derive(Deserialize)]
struct WireError {
    #[serde(default)]
    code: Option<u16>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    details: Vec<WireErrorDetail>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireErrorDetail {
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    retry_delay: Option<String>,
}

/// The Gemini response stream: complete once a finish reason arrived and the body ended.
#[derive(Debug, Default)]
struct GeminiDecoder {
    finish: Option<FinishReason>,
    usage: Option<TokenUsage>,
}

impl GeminiDecoder {
    fn complete(&mut self, out: &mut VecDeque<CompletionChunk>) -> Result<(), ProviderError> {
        let Some(finish) = self.finish.take() else {
            return Err(ProviderError::Interrupted(
                "stream ended before a finishReason".into(),
            ));
        };
        if let Some(usage) = self.usage.take() {
            out.push_back(CompletionChunk::Usage(usage));
        }
        out.push_back(CompletionChunk::Finish(finish));
        Ok(())
    }
}

fn finish_reason(reason: &str) -> Option<FinishReason> {
    Some(match reason {
        "FINISH_REASON_UNSPECIFIED" => return None,
        "STOP" => FinishReason::Stop,
        "MAX_TOKENS" => FinishReason::Length,
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY" => {
            FinishReason::ContentFilter
        }
        other => FinishReason::Other(other.to_owned()),
    })
}

impl Decoder for GeminiDecoder {
    fn event(
        &mut self,
        event: &Event,
        out: &mut VecDeque<CompletionChunk>,
    ) -> Result<Flow, ProviderError> {
        if event.data.trim().is_empty() {
            return Ok(Flow::Continue);
        }
        let response: WireResponse = parse_json("gemini", &event.data)?;
        if let Some(error) = response.error {
            return Err(from_event(
                error.code,
                error.status.as_deref().unwrap_or(""),
                event.data.clone(),
            ));
        }
        if let Some(usage) = response.usage_metadata {
            // Thinking tokens are output the model generated (and is billed for).
            let completion = usage
                .candidates_token_count
                .saturating_add(usage.thoughts_token_count);
            self.usage = Some(TokenUsage::new(usage.prompt_token_count, completion));
        }
        if response.candidates.is_empty() {
            if response
                .prompt_feedback
                .and_then(|f| f.block_reason)
                .is_some()
            {
                // The prompt itself was blocked: no candidate will come.
                self.finish = Some(FinishReason::ContentFilter);
            }
            return Ok(Flow::Continue);
        }
        for candidate in response.candidates.into_iter().filter(|c| c.index == 0) {
            for part in candidate.content.map(|c| c.parts).unwrap_or_default() {
                if let Some(text) = part.text.filter(|t| !part.thought && !t.is_empty()) {
                    out.push_back(CompletionChunk::Delta(text));
                }
            }
            if let Some(reason) = candidate.finish_reason.as_deref().and_then(finish_reason) {
                self.finish = Some(reason);
            }
        }
        Ok(Flow::Continue)
    }

    fn end(&mut self, out: &mut VecDeque<CompletionChunk>) -> Result<(), ProviderError> {
        self.complete(out)
    }

    fn transport_error(
        &mut self,
        error: ProviderError,
        out: &mut VecDeque<CompletionChunk>,
    ) -> Result<(), ProviderError> {
        // Gemini marks the end with the finish reason; a connection dropped after it lost
        // nothing of the answer.
        if self.finish.is_some() {
            self.complete(out)
        } else {
            Err(error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_core::provider::PromptMessage;

    fn provider() -> GeminiProvider {
        GeminiProvider::new(GeminiConfig::new("AIza-SECRET", "gemini-2.0-flash")).unwrap()
    }

    #[test]
    fn url_names_the_model_method_and_sse() {
        let p = provider();
        assert_eq!(
            p.0.wire.url("models/gemini-2.0-flash").unwrap().as_str(),
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse"
        );
    }

    #[test]
    fn body_uses_model_role_and_system_instruction() {
        let req = CompletionRequest::new(
            "sys",
            vec![PromptMessage::user("q"), PromptMessage::assistant("a")],
        )
        .temperature(0.5)
        .max_tokens(9);
        let body: serde_json::Value =
            serde_json::from_slice(&provider().0.wire.body(&req, "m").unwrap()).unwrap();
        assert_eq!(body["contents"][1]["role"], "model");
        assert_eq!(body["systemInstruction"]["parts"][0]["text"], "sys");
        assert_eq!(body["generationConfig"]["maxOutputTokens"], 9);
    }

    #[test]
    fn bad_key_and_retry_delay_are_read_from_details() {
        let bad_key = r#"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com"}]}}"#;
        assert!(matches!(
            provider().0.wire.classify(400, bad_key.into(), None),
            ProviderError::Auth { status: 400, .. }
        ));
        let limited = r#"[{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"39s"}]}}]"#;
        assert_eq!(
            provider()
                .0
                .wire
                .classify(429, limited.into(), None)
                .retry_after(),
            Some(Duration::from_secs(39))
        );
        let header_wins =
            provider()
                .0
                .wire
                .classify(429, limited.into(), Some(Duration::from_secs(2)));
        assert_eq!(header_wins.retry_after(), Some(Duration::from_secs(2)));
    }

    #[test]
    fn debug_hides_the_key() {
        let config = GeminiConfig::new("AIza-SECRET", "gemini-2.0-flash");
        assert!(!format!("{config:?}").contains("SECRET"));
        assert!(!format!("{:?}", provider()).contains("SECRET"));
    }
}
