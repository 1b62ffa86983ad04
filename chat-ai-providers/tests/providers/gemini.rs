//! Gemini client: URL, key header, and the response stream's details.

use std::time::Duration;

use chat_ai_providers::{GeminiConfig, GeminiProvider};
use chat_core::model::TokenUsage;
use chat_core::provider::conformance::{Outcome, run};
use chat_core::provider::{CompletionRequest, FinishReason, PromptMessage, ProviderError};
use serde_json::json;

use crate::server::{MockServer, Piece, Reply, split_every};
use crate::vendors::{GeminiWire, Wire, test_http};

async fn call(replies: Vec<Reply>) -> (MockServer, Outcome) {
    let server = MockServer::start(replies).await;
    let p = GeminiProvider::new(
        GeminiConfig::new("goog-key", "gemini-test")
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

fn text_chunk(text: &str, finish: Option<&str>, thought: bool) -> String {
    let mut candidate =
        json!({"content":{"parts":[{"text":text,"thought":thought}],"role":"model"},"index":0});
    if let Some(f) = finish {
        candidate["finishReason"] = json!(f);
    }
    GeminiWire::data(
        &json!({"candidates":[candidate],"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":2,"thoughtsTokenCount":3}}),
    )
}

#[tokio::test]
async fn key_goes_in_a_header_never_the_url() {
    let text = GeminiWire.deltas(&["ok".into()])
        + &GeminiWire.end(TokenUsage::new(1, 1), &FinishReason::Stop);
    let (server, out) = call(vec![Reply::sse(split_every(&text, 64))]).await;
    assert_eq!(out.text, "ok");
    let r = &server.received()[0];
    assert_eq!(
        r.target,
        "/v1beta/models/gemini-test:streamGenerateContent?alt=sse"
    );
    assert_eq!(r.header("x-goog-api-key"), Some("goog-key"));
    assert!(!r.target.contains("goog-key"));
    assert_eq!(
        r.json()["systemInstruction"]["parts"][0]["text"],
        "Be brief."
    );
}

#[tokio::test]
async fn an_invalid_key_sent_as_400_is_auth() {
    let body = r#"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com"}]}}"#;
    let (_, out) = call(vec![Reply::error(400, body)]).await;
    let error = out.error.unwrap();
    assert!(
        matches!(error, ProviderError::Auth { status: 400, .. }),
        "{error:?}"
    );
    assert!(error.allows_failover() && !error.is_retryable());
}

#[tokio::test]
async fn thoughts_are_skipped_and_counted_as_output() {
    let text = text_chunk("pondering", None, true) + &text_chunk("Answer", Some("STOP"), false);
    let (_, out) = call(vec![Reply::sse(split_every(&text, 11))]).await;
    assert_eq!(out.text, "Answer");
    assert_eq!(out.usage, Some(TokenUsage::new(4, 5)));
    assert_eq!(out.finish, Some(FinishReason::Stop));
}

#[tokio::test]
async fn a_blocked_prompt_or_safety_stop_is_a_content_filter_finish() {
    let blocked = GeminiWire::data(
        &json!({"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":4}}),
    );
    let safety = text_chunk("", Some("SAFETY"), false);
    let (_, out) = call(vec![Reply::sse(split_every(&blocked, 64))]).await;
    assert_eq!(
        (out.deltas, out.finish),
        (0, Some(FinishReason::ContentFilter))
    );
    let (_, out) = call(vec![Reply::sse(split_every(&safety, 64))]).await;
    assert_eq!(out.finish, Some(FinishReason::ContentFilter));
}

#[tokio::test]
async fn a_cut_after_the_finish_reason_loses_nothing_but_a_cut_before_it_does() {
    let mut complete = split_every(&text_chunk("Done", Some("STOP"), false), 64);
    complete.push(Piece::Cut);
    let mut partial = split_every(&text_chunk("Half", None, false), 64);
    partial.push(Piece::Cut);
    let (_, out) = call(vec![Reply::sse(complete)]).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(
        (out.text.as_str(), out.finish),
        ("Done", Some(FinishReason::Stop))
    );
    let (_, out) = call(vec![Reply::sse(partial)]).await;
    assert_eq!(out.text, "Half");
    assert!(
        matches!(out.error, Some(ProviderError::Interrupted(_))),
        "{:?}",
        out.error
    );
}

#[tokio::test]
async fn a_retry_after_header_wins_over_the_body_delay() {
    let body = r#"{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","message":"quota","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"39s"}]}}"#;
    let (_, out) = call(vec![Reply::error(429, body).header("retry-after", "2")]).await;
    assert_eq!(
        out.error.and_then(|e| e.retry_after()),
        Some(Duration::from_secs(2))
    );
}
