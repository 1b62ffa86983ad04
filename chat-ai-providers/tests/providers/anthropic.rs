//! Anthropic client: headers, body, and the event stream's details.

use chat_ai_providers::{AnthropicConfig, AnthropicProvider};
use chat_core::model::TokenUsage;
use chat_core::provider::conformance::{Outcome, run};
use chat_core::provider::{CompletionRequest, FinishReason, PromptMessage, ProviderError};
use serde_json::json;

use crate::server::{MockServer, Reply, split_every};
use crate::vendors::{AnthropicWire, Wire, test_http};

async fn call(replies: Vec<Reply>) -> (MockServer, Outcome) {
    let server = MockServer::start(replies).await;
    let p = AnthropicProvider::new(
        AnthropicConfig::new("ant-key", "claude-test")
            .base_url(server.url())
            .http(test_http()),
    )
    .unwrap();
    let out = run(
        &p,
        CompletionRequest::new("Be brief.", vec![PromptMessage::user("Hi")]),
    )
    .await;
    (server, out)
}

fn event(name: &str, data: serde_json::Value) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

#[tokio::test]
async fn sends_key_version_and_top_level_system() {
    let text = AnthropicWire.deltas(&["ok".into()])
        + &AnthropicWire.end(TokenUsage::new(1, 1), &FinishReason::Stop);
    let (server, out) = call(vec![Reply::sse(split_every(&text, 64))]).await;
    assert_eq!(out.text, "ok");
    let r = &server.received()[0];
    assert_eq!(r.target, "/v1/messages");
    assert_eq!(r.header("x-api-key"), Some("ant-key"));
    assert_eq!(r.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(r.header("authorization"), None);
    let body = r.json();
    assert_eq!(
        (body["system"].as_str(), body["stream"].as_bool()),
        (Some("Be brief."), Some(true))
    );
    assert_eq!(body["messages"], json!([{"role":"user","content":"Hi"}]));
}

#[tokio::test]
async fn overloaded_529_is_a_retryable_server_error() {
    let body = r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
    let (_, out) = call(vec![Reply::error(529, body)]).await;
    let error = out.error.unwrap();
    assert!(
        matches!(error, ProviderError::Server { status: 529, .. }) && error.is_retryable(),
        "{error:?}"
    );
}

#[tokio::test]
async fn usage_counts_cached_prompt_tokens_and_the_final_output_count() {
    let text = event(
        "message_start",
        json!({"type":"message_start","message":{"id":"m","type":"message","role":"assistant",
            "content":[],"model":"claude-test","usage":{"input_tokens":10,"cache_creation_input_tokens":5,"cache_read_input_tokens":20,"output_tokens":1}}}),
    ) + &event(
        "content_block_start",
        json!({"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}),
    ) + &event(
        "content_block_delta",
        json!({"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"secret plan"}}),
    ) + &event(
        "content_block_delta",
        json!({"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"abc"}}),
    ) + &event(
        "content_block_start",
        json!({"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}),
    ) + &event(
        "content_block_delta",
        json!({"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Visible"}}),
    ) + &event(
        "some_future_event",
        json!({"type":"some_future_event","x":1}),
    ) + &event(
        "message_delta",
        json!({"type":"message_delta","delta":{"stop_reason":"max_tokens"},"usage":{"output_tokens":42}}),
    ) + &event("message_stop", json!({"type":"message_stop"}));
    let (_, out) = call(vec![Reply::sse(split_every(&text, 7))]).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(out.text, "Visible", "thinking is not answer text");
    assert_eq!(out.usage, Some(TokenUsage::new(35, 42)));
    assert_eq!(out.finish, Some(FinishReason::Length));
}

#[tokio::test]
async fn an_end_before_message_stop_is_interrupted() {
    let (_, out) = call(vec![Reply::sse(split_every(
        &AnthropicWire.deltas(&["Half".into()]),
        9,
    ))])
    .await;
    assert_eq!(out.text, "Half");
    assert!(
        matches!(out.error, Some(ProviderError::Interrupted(_))),
        "{:?}",
        out.error
    );
}

#[tokio::test]
async fn a_rate_limit_error_event_is_rate_limited() {
    let text = AnthropicWire.deltas(&[])
        + &event(
            "error",
            json!({"type":"error","error":{"type":"rate_limit_error","message":"slow"}}),
        );
    let (_, out) = call(vec![Reply::sse(split_every(&text, 64))]).await;
    assert!(
        matches!(out.error, Some(ProviderError::RateLimited { .. })),
        "{:?}",
        out.error
    );
    assert_eq!(out.deltas, 0);
}
