//! API keys never appear in `Debug` output, errors or logs.

use std::io::Write;
use std::sync::{Arc, Mutex};

use chat_ai_providers::{
    AnthropicConfig, AnthropicProvider, GeminiConfig, GeminiProvider, OpenAiConfig, OpenAiProvider,
};
use chat_core::provider::conformance::run;
use chat_core::provider::{AiProvider, CompletionRequest, PromptMessage};

use crate::server::{MockServer, Reply};
use crate::vendors::test_http;

const KEY: &str = "sk-VERY-SECRET-1234";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn keys_stay_out_of_debug_errors_and_trace_logs() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let replies = (0..4)
        .map(|_| Reply::error(401, r#"{"error":{"message":"Incorrect API key provided"}}"#))
        .collect();
    let server = MockServer::start(replies).await;
    let url = server.url();
    let providers: Vec<(String, Arc<dyn AiProvider>)> = vec![
        (
            format!("{:?}", OpenAiConfig::openai(KEY, "m")),
            Arc::new(
                OpenAiProvider::new(
                    OpenAiConfig::openai(KEY, "m")
                        .base_url(&url)
                        .http(test_http()),
                )
                .unwrap(),
            ),
        ),
        (
            format!("{:?}", OpenAiConfig::azure(&url, "d", "v", KEY)),
            Arc::new(
                OpenAiProvider::new(OpenAiConfig::azure(&url, "d", "v", KEY).http(test_http()))
                    .unwrap(),
            ),
        ),
        (
            format!("{:?}", AnthropicConfig::new(KEY, "m")),
            Arc::new(
                AnthropicProvider::new(
                    AnthropicConfig::new(KEY, "m")
                        .base_url(&url)
                        .http(test_http()),
                )
                .unwrap(),
            ),
        ),
        (
            format!("{:?}", GeminiConfig::new(KEY, "m")),
            Arc::new(
                GeminiProvider::new(GeminiConfig::new(KEY, "m").base_url(&url).http(test_http()))
                    .unwrap(),
            ),
        ),
    ];
    for (config_debug, provider) in providers {
        let out = run(
            provider.as_ref(),
            CompletionRequest::new("s", vec![PromptMessage::user("q")]),
        )
        .await;
        let error = out.error.unwrap();
        for shown in [
            config_debug,
            format!("{provider:?}"),
            format!("{error:?}"),
            error.to_string(),
        ] {
            assert!(!shown.contains("VERY-SECRET"), "{shown}");
        }
    }
    assert_eq!(server.received().len(), 4, "the key was sent to the server");
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("chat completion"),
        "the calls were logged: {logs}"
    );
    assert!(!logs.contains("VERY-SECRET"), "{logs}");
}

#[test]
fn query_parameter_values_stay_out_of_debug() {
    let config = OpenAiConfig::new("http://127.0.0.1:9/v1", "m").query_param("key", KEY);
    let debug = format!("{config:?}");
    assert!(!debug.contains(KEY), "{debug}");
    assert!(
        debug.contains("key"),
        "the parameter's name is still shown: {debug}"
    );
}
