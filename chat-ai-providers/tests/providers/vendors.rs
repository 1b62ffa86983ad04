//! Each vendor's documented wire format, spoken by the mock server: conformance scripts
//! rendered as SSE bodies and error responses, and requests decoded back for the suite.

use std::sync::Arc;
use std::time::Duration;

use chat_ai_providers::{
    AnthropicConfig, AnthropicProvider, GeminiConfig, GeminiProvider, HttpSettings, OpenAiConfig,
    OpenAiProvider,
};
use chat_core::model::TokenUsage;
use chat_core::provider::conformance::{
    Failure, SUITE_STALL, SUITE_TIMEOUT, Script, ScriptedBackend, SeenRequest,
};
use chat_core::provider::{AiProvider, FinishReason, PromptMessage};
use serde_json::{Value, json};

use crate::server::{MockServer, Piece, Received, Reply, split_every};

/// The HTTP settings of every client under test: the suite's short timeouts.
pub(crate) fn test_http() -> HttpSettings {
    HttpSettings::new()
        .connect_timeout(Duration::from_secs(2))
        .first_byte_timeout(SUITE_TIMEOUT)
        .between_chunks_timeout(SUITE_TIMEOUT)
        .total_timeout(Duration::from_secs(20))
}

/// Writes of this many bytes split lines, events and multi-byte characters.
pub(crate) const SPLIT: usize = 5;

/// A vendor's wire format.
pub(crate) trait Wire: Send + Sync + 'static {
    /// The SSE text of deltas (start of an answer included).
    fn deltas(&self, deltas: &[String]) -> String;
    /// The SSE text that ends an answer.
    fn end(&self, usage: TokenUsage, finish: &FinishReason) -> String;
    /// An error response.
    fn error(&self, failure: &Failure) -> Reply;
    /// The SSE text of an error event.
    fn error_event(&self, failure: &Failure) -> String;
    /// The request as the suite sees it.
    fn decode(&self, received: &Received) -> SeenRequest;
}

/// Renders a conformance script.
pub(crate) fn render(wire: &dyn Wire, script: &Script) -> Reply {
    match script {
        Script::Answer {
            deltas,
            usage,
            finish,
        } => {
            let text = wire.deltas(deltas) + &wire.end(*usage, finish);
            Reply::sse(split_every(&text, SPLIT))
        }
        Script::Fail(failure) => wire.error(failure),
        Script::FailAfter { deltas, failure } => Reply::sse(split_every(
            &(wire.deltas(deltas) + &wire.error_event(failure)),
            SPLIT,
        )),
        Script::CutAfter { deltas } => {
            let mut pieces = split_every(&wire.deltas(deltas), SPLIT);
            pieces.push(Piece::Cut);
            Reply::sse(pieces)
        }
        Script::StallBeforeFirstToken => {
            let mut pieces = vec![Piece::Pause(SUITE_STALL)];
            pieces.extend(split_every(
                &(wire.deltas(&["late".into()])
                    + &wire.end(TokenUsage::new(1, 1), &FinishReason::Stop)),
                SPLIT,
            ));
            Reply::sse(pieces)
        }
        Script::StallAfter { deltas } => {
            let mut pieces = split_every(&wire.deltas(deltas), SPLIT);
            pieces.push(Piece::Pause(SUITE_STALL));
            pieces.extend(split_every(
                &wire.end(TokenUsage::new(1, 1), &FinishReason::Stop),
                SPLIT,
            ));
            Reply::sse(pieces)
        }
        other => panic!("script not rendered: {other:?}"),
    }
}

/// A provider against a mock server, for the conformance suite.
pub(crate) struct HttpBackend {
    pub(crate) server: MockServer,
    provider: Arc<dyn AiProvider>,
    wire: Arc<dyn Wire>,
}

impl ScriptedBackend for HttpBackend {
    fn provider(&self) -> Arc<dyn AiProvider> {
        self.provider.clone()
    }
    fn received(&self) -> Vec<SeenRequest> {
        self.server
            .received()
            .iter()
            .map(|r| self.wire.decode(r))
            .collect()
    }
}

async fn backend(
    wire: Arc<dyn Wire>,
    scripts: Vec<Script>,
    make: impl FnOnce(String) -> Arc<dyn AiProvider>,
) -> HttpBackend {
    let replies = scripts.iter().map(|s| render(wire.as_ref(), s)).collect();
    let server = MockServer::start(replies).await;
    let provider = make(server.url());
    HttpBackend {
        server,
        provider,
        wire,
    }
}

pub(crate) async fn openai_backend(scripts: Vec<Script>) -> HttpBackend {
    backend(Arc::new(OpenAiWire), scripts, |url| {
        Arc::new(
            OpenAiProvider::new(
                OpenAiConfig::openai("sk-test-key", "gpt-test")
                    .base_url(format!("{url}/v1"))
                    .http(test_http()),
            )
            .unwrap(),
        )
    })
    .await
}

pub(crate) async fn azure_backend(scripts: Vec<Script>) -> HttpBackend {
    backend(Arc::new(OpenAiWire), scripts, |url| {
        Arc::new(
            OpenAiProvider::new(
                OpenAiConfig::azure(url, "gpt-deploy", "2024-10-21", "azure-key").http(test_http()),
            )
            .unwrap(),
        )
    })
    .await
}

pub(crate) async fn anthropic_backend(scripts: Vec<Script>) -> HttpBackend {
    backend(Arc::new(AnthropicWire), scripts, |url| {
        Arc::new(
            AnthropicProvider::new(
                AnthropicConfig::new("ant-key", "claude-test")
                    .base_url(url)
                    .http(test_http()),
            )
            .unwrap(),
        )
    })
    .await
}

pub(crate) async fn gemini_backend(scripts: Vec<Script>) -> HttpBackend {
    backend(Arc::new(GeminiWire), scripts, |url| {
        Arc::new(
            GeminiProvider::new(
                GeminiConfig::new("goog-key", "gemini-test")
                    .base_url(url)
                    .http(test_http()),
            )
            .unwrap(),
        )
    })
    .await
}

fn sse(event: Option<&str>, data: &Value) -> String {
    match event {
        Some(name) => format!("event: {name}\ndata: {data}\n\n"),
        None => format!("data: {data}\n\n"),
    }
}

fn messages_from(
    items: &[Value],
    role_of: impl Fn(&str) -> Option<&'static str>,
    text_of: impl Fn(&Value) -> String,
) -> Vec<PromptMessage> {
    items
        .iter()
        .filter_map(|m| {
            let role = role_of(m["role"].as_str().unwrap_or(""))?;
            let text = text_of(m);
            Some(if role == "assistant" {
                PromptMessage::assistant(text)
            } else {
                PromptMessage::user(text)
            })
        })
        .collect()
}

fn f32_of(v: &Value) -> Option<f32> {
    v.as_f64().map(|f| f as f32)
}

fn u32_of(v: &Value) -> Option<u32> {
    v.as_u64().and_then(|n| u32::try_from(n).ok())
}

/// OpenAI chat completions chunks.
pub(crate) struct OpenAiWire;

impl OpenAiWire {
    pub(crate) fn chunk(delta: Value, finish: Value) -> String {
        sse(
            None,
            &json!({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-test",
            "choices":[{"index":0,"delta":delta,"logprobs":null,"finish_reason":finish}]}),
        )
    }
}

impl Wire for OpenAiWire {
    fn deltas(&self, deltas: &[String]) -> String {
        // A keep-alive comment first (OpenRouter sends these while the model starts).
        let mut text = String::from(": OPENROUTER PROCESSING\n\n");
        text += &Self::chunk(
            json!({"role":"assistant","content":"","refusal":null}),
            Value::Null,
        );
        for d in deltas {
            text += &Self::chunk(json!({"content": d}), Value::Null);
        }
        text
    }
    fn end(&self, usage: TokenUsage, finish: &FinishReason) -> String {
        let reason = match finish {
            FinishReason::Length => "length",
            FinishReason::ContentFilter => "content_filter",
            _ => "stop",
        };
        let mut text = Self::chunk(json!({}), json!(reason));
        text += &sse(
            None,
            &json!({"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[],
            "usage":{"prompt_tokens":usage.prompt_tokens,"completion_tokens":usage.completion_tokens,
            "total_tokens":usage.prompt_tokens + usage.completion_tokens}}),
        );
        text + "data: [DONE]\n\n"
    }
    fn error(&self, failure: &Failure) -> Reply {
        let body = |message: &str, kind: &str, code: Value| {
            json!({"error":{"message":message,"type":kind,"param":null,"code":code}}).to_string()
        };
        match failure {
            Failure::Auth => Reply::error(
                401,
                &body(
                    "Incorrect API key provided: sk-te***key.",
                    "invalid_request_error",
                    json!("invalid_api_key"),
                ),
            ),
            Failure::ModelNotFound => Reply::error(
                404,
                &body(
                    "The model `model-x` does not exist or you do not have access to it.",
                    "invalid_request_error",
                    json!("model_not_found"),
                ),
            ),
            Failure::InvalidRequest => Reply::error(
                400,
                &body(
                    "Invalid type for 'temperature'.",
                    "invalid_request_error",
                    Value::Null,
                ),
            ),
            Failure::ContextLength => Reply::error(
                400,
                &body(
                    "This model's maximum context length is 8192 tokens. However, your messages resulted in 9100 tokens.",
                    "invalid_request_error",
                    json!("context_length_exceeded"),
                ),
            ),
            Failure::RateLimited { retry_after } => Reply::error(
                429,
                &body(
                    "Rate limit reached for requests",
                    "requests",
                    json!("rate_limit_exceeded"),
                ),
            )
            .header("retry-after", &retry_after.as_secs().to_string()),
            Failure::Server => Reply::error(
                500,
                &body(
                    "The server had an error while processing your request.",
                    "server_error",
                    Value::Null,
                ),
            ),
            other => panic!("not rendered: {other:?}"),
        }
    }
    fn error_event(&self, _failure: &Failure) -> String {
        sse(
            None,
            &json!({"error":{"message":"The server had an error while processing your request.","type":"server_error","param":null,"code":null}}),
        )
    }
    fn decode(&self, r: &Received) -> SeenRequest {
        let body = r.json();
        let items = body["messages"].as_array().cloned().unwrap_or_default();
        let system = items
            .iter()
            .find(|m| m["role"] == "system")
            .and_then(|m| m["content"].as_str())
            .unwrap_or("")
            .to_owned();
        let messages = messages_from(
            &items,
            |role| match role {
                "user" => Some("user"),
                "assistant" => Some("assistant"),
                _ => None,
            },
            |m| m["content"].as_str().unwrap_or("").to_owned(),
        );
        let max = u32_of(&body["max_tokens"]).or_else(|| u32_of(&body["max_completion_tokens"]));
        SeenRequest::new(
            body["model"].as_str().unwrap_or(""),
            system,
            messages,
            f32_of(&body["temperature"]),
            max,
        )
    }
}

/// Anthropic Messages events.
pub(crate) struct AnthropicWire;

impl Wire for AnthropicWire {
    fn deltas(&self, deltas: &[String]) -> String {
        let mut text = sse(
            Some("message_start"),
            &json!({"type":"message_start","message":{"id":"msg_1","type":"message",
            "role":"assistant","content":[],"model":"claude-test","stop_reason":null,"stop_sequence":null,
            "usage":{"input_tokens":12,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1}}}),
        );
        text += &sse(
            Some("content_block_start"),
            &json!({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}),
        );
        text += &sse(Some("ping"), &json!({"type":"ping"}));
        for d in deltas {
            text += &sse(
                Some("content_block_delta"),
                &json!({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":d}}),
            );
        }
        text
    }
    fn end(&self, usage: TokenUsage, finish: &FinishReason) -> String {
        let reason = if *finish == FinishReason::Length {
            "max_tokens"
        } else {
            "end_turn"
        };
        let mut text = sse(
            Some("content_block_stop"),
            &json!({"type":"content_block_stop","index":0}),
        );
        text += &sse(
            Some("message_delta"),
            &json!({"type":"message_delta","delta":{"stop_reason":reason,"stop_sequence":null},
            "usage":{"output_tokens":usage.completion_tokens}}),
        );
        text + &sse(Some("message_stop"), &json!({"type":"message_stop"}))
    }
    fn error(&self, failure: &Failure) -> Reply {
        let body = |kind: &str, message: &str| {
            json!({"type":"error","error":{"type":kind,"message":message},"request_id":"req_1"})
                .to_string()
        };
        match failure {
            Failure::Auth => Reply::error(401, &body("authentication_error", "invalid x-api-key")),
            Failure::ModelNotFound => Reply::error(404, &body("not_found_error", "model: model-x")),
            Failure::InvalidRequest => Reply::error(
                400,
                &body("invalid_request_error", "temperature: range: 0..1"),
            ),
            Failure::ContextLength => Reply::error(
                400,
                &body(
                    "invalid_request_error",
                    "prompt is too long: 210000 tokens > 200000 maximum",
                ),
            ),
            Failure::RateLimited { retry_after } => Reply::error(
                429,
                &body(
                    "rate_limit_error",
                    "Number of request tokens has exceeded your per-minute rate limit",
                ),
            )
            .header("retry-after", &retry_after.as_secs().to_string()),
            Failure::Server => Reply::error(500, &body("api_error", "Internal server error")),
            other => panic!("not rendered: {other:?}"),
        }
    }
    fn error_event(&self, _failure: &Failure) -> String {
        sse(
            Some("error"),
            &json!({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}),
        )
    }
    fn decode(&self, r: &Received) -> SeenRequest {
        let body = r.json();
        let items = body["messages"].as_array().cloned().unwrap_or_default();
        let messages = messages_from(
            &items,
            |role| match role {
                "user" => Some("user"),
                "assistant" => Some("assistant"),
                _ => None,
            },
            |m| m["content"].as_str().unwrap_or("").to_owned(),
        );
        SeenRequest::new(
            body["model"].as_str().unwrap_or(""),
            body["system"].as_str().unwrap_or(""),
            messages,
            f32_of(&body["temperature"]),
            u32_of(&body["max_tokens"]),
        )
    }
}

/// Gemini `GenerateContentResponse` chunks (CRLF line ends, as Google's servers send them).
pub(crate) struct GeminiWire;

impl GeminiWire {
    pub(crate) fn data(value: &Value) -> String {
        format!("data: {value}\r\n\r\n")
    }
}

impl Wire for GeminiWire {
    fn deltas(&self, deltas: &[String]) -> String {
        deltas
            .iter()
            .map(|d| Self::data(&json!({"candidates":[{"content":{"parts":[{"text":d}],"role":"model"},"index":0}],
                "usageMetadata":{"promptTokenCount":12,"totalTokenCount":12},"modelVersion":"gemini-test"})))
            .collect()
    }
    fn end(&self, usage: TokenUsage, finish: &FinishReason) -> String {
        let reason = if *finish == FinishReason::Length {
            "MAX_TOKENS"
        } else {
            "STOP"
        };
        Self::data(
            &json!({"candidates":[{"content":{"parts":[{"text":""}],"role":"model"},"finishReason":reason,"index":0}],
            "usageMetadata":{"promptTokenCount":usage.prompt_tokens,"candidatesTokenCount":usage.completion_tokens,
            "totalTokenCount":usage.prompt_tokens + usage.completion_tokens},"modelVersion":"gemini-test"}),
        )
    }
    fn error(&self, failure: &Failure) -> Reply {
        let body = |code: u16, status: &str, message: &str, details: Value| {
            json!({"error":{"code":code,"message":message,"status":status,"details":details}})
                .to_string()
        };
        match failure {
            Failure::Auth => Reply::error(
                401,
                &body(
                    401,
                    "UNAUTHENTICATED",
                    "Request had invalid authentication credentials.",
                    json!([]),
                ),
            ),
            Failure::ModelNotFound => Reply::error(
                404,
                &body(
                    404,
                    "NOT_FOUND",
                    "models/model-x is not found for API version v1beta, or is not supported for generateContent.",
                    json!([]),
                ),
            ),
            Failure::InvalidRequest => Reply::error(
                400,
                &body(
                    400,
                    "INVALID_ARGUMENT",
                    "Invalid value at 'generation_config.temperature' (TYPE_FLOAT)",
                    json!([]),
                ),
            ),
            Failure::ContextLength => Reply::error(
                400,
                &body(
                    400,
                    "INVALID_ARGUMENT",
                    "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
                    json!([]),
                ),
            ),
            Failure::RateLimited { retry_after } => Reply::error(
                429,
                &body(
                    429,
                    "RESOURCE_EXHAUSTED",
                    "You exceeded your current quota.",
                    json!([{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":format!("{}s", retry_after.as_secs())}]),
                ),
            ),
            Failure::Server => Reply::error(
                500,
                &body(
                    500,
                    "INTERNAL",
                    "An internal error has occurred.",
                    json!([]),
                ),
            ),
            other => panic!("not rendered: {other:?}"),
        }
    }
    fn error_event(&self, _failure: &Failure) -> String {
        Self::data(
            &json!({"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}),
        )
    }
    fn decode(&self, r: &Received) -> SeenRequest {
        let body = r.json();
        let path = r.target.split('?').next().unwrap_or("");
        let model = path
            .rsplit('/')
            .next()
            .unwrap_or("")
            .trim_end_matches(":streamGenerateContent");
        let items = body["contents"].as_array().cloned().unwrap_or_default();
        let messages = messages_from(
            &items,
            |role| match role {
                "user" => Some("user"),
                "model" => Some("assistant"),
                _ => None,
            },
            |m| m["parts"][0]["text"].as_str().unwrap_or("").to_owned(),
        );
        SeenRequest::new(
            model,
            body["systemInstruction"]["parts"][0]["text"]
                .as_str()
                .unwrap_or(""),
            messages,
            f32_of(&body["generationConfig"]["temperature"]),
            u32_of(&body["generationConfig"]["maxOutputTokens"]),
        )
    }
}
