//! OpenAI-compatible client: request shape, Azure, and the network's and servers' edge cases.

use std::time::Duration;

use chat_ai_providers::{HttpSettings, OpenAiConfig, OpenAiProvider};
use chat_core::model::TokenUsage;
use chat_core::provider::conformance::{Outcome, run};
use chat_core::provider::{
    AiProvider, CompletionRequest, FinishReason, PromptMessage, ProviderError, TimeoutPhase,
};
use serde_json::json;

use crate::server::{MockServer, Piece, Reply, split_every};
use crate::vendors::{OpenAiWire, Wire, test_http};

fn provider(server: &MockServer, http: HttpSettings) -> OpenAiProvider {
    OpenAiProvider::new(
        OpenAiConfig::openai("sk-test-key", "gpt-test")
            .base_url(format!("{}/v1", server.url()))
            .http(http),
    )
    .unwrap()
}

fn request() -> CompletionRequest {
    CompletionRequest::new("Be brief.", vec![PromptMessage::user("Hi")])
}

fn answer_text(deltas: &[&str]) -> String {
    let deltas: Vec<String> = deltas.iter().map(|d| (*d).to_owned()).collect();
    OpenAiWire.deltas(&deltas) + &OpenAiWire.end(TokenUsage::new(3, 2), &FinishReason::Stop)
}

async fn call(server: &MockServer, http: HttpSettings) -> Outcome {
    run(&provider(server, http), request()).await
}

#[tokio::test]
async fn sends_bearer_key_json_and_usage_option() {
    let server = MockServer::start(vec![Reply::sse(split_every(&answer_text(&["ok"]), 64))]).await;
    let out = call(
        &server,
        test_http().header("HTTP-Referer", "https://portal.example"),
    )
    .await;
    assert_eq!(out.text, "ok");
    let r = &server.received()[0];
    assert_eq!(
        (r.method.as_str(), r.target.as_str()),
        ("POST", "/v1/chat/completions")
    );
    assert_eq!(r.header("authorization"), Some("Bearer sk-test-key"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("http-referer"), Some("https://portal.example"));
    let body = r.json();
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"]["include_usage"], true);
    assert_eq!(
        body["messages"][0],
        json!({"role":"system","content":"Be brief."})
    );
}

#[tokio::test]
async fn azure_uses_api_key_header_deployment_path_and_api_version() {
    let server = MockServer::start(vec![Reply::sse(split_every(&answer_text(&["ok"]), 64))]).await;
    let azure = OpenAiProvider::new(
        OpenAiConfig::azure(server.url(), "gpt-4o-prod", "2024-10-21", "az-key").http(test_http()),
    )
    .unwrap();
    let out = run(&azure, request()).await;
    assert_eq!(out.text, "ok");
    let r = &server.received()[0];
    assert_eq!(
        r.target,
        "/openai/deployments/gpt-4o-prod/chat/completions?api-version=2024-10-21"
    );
    assert_eq!(r.header("api-key"), Some("az-key"));
    assert_eq!(r.header("authorization"), None);
}

#[tokio::test]
async fn local_servers_need_no_key() {
    let server = MockServer::start(vec![Reply::sse(split_every(&answer_text(&["ok"]), 64))]).await;
    let ollama = OpenAiProvider::new(
        OpenAiConfig::ollama("llama3.2")
            .base_url(format!("{}/v1", server.url()))
            .http(test_http()),
    )
    .unwrap();
    assert_eq!(ollama.name(), "ollama");
    assert_eq!(run(&ollama, request()).await.text, "ok");
    assert_eq!(server.received()[0].header("authorization"), None);
}

#[tokio::test]
async fn one_byte_writes_split_every_line_event_and_character() {
    let deltas = [
        "Gr\u{00fc}\u{00df}e ",
        "\u{4e16}\u{754c}",
        " \u{1f389}\u{1f469}\u{200d}\u{1f4bb}",
    ];
    let server = MockServer::start(vec![Reply::sse(split_every(&answer_text(&deltas), 1))]).await;
    let out = call(&server, test_http()).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(out.text, deltas.concat());
    assert_eq!(out.usage, Some(TokenUsage::new(3, 2)));
}

#[tokio::test]
async fn crlf_and_cr_line_ends_and_multi_line_comments_are_handled() {
    let lf = answer_text(&["a", "b"]);
    for text in [
        lf.replace('\n', "\r\n"),
        lf.replace('\n', "\r"),
        format!(": ping\n: ping\n\n{lf}"),
    ] {
        let server = MockServer::start(vec![Reply::sse(split_every(&text, 3))]).await;
        let out = call(&server, test_http()).await;
        assert!(out.error.is_none(), "{:?}", out.error);
        assert_eq!(out.text, "ab");
        assert_eq!(out.finish, Some(FinishReason::Stop));
    }
}

#[tokio::test]
async fn slow_headers_hit_the_first_byte_timeout() {
    let reply =
        Reply::sse(split_every(&answer_text(&["late"]), 64)).head_delay(Duration::from_secs(3));
    let server = MockServer::start(vec![reply]).await;
    let started = std::time::Instant::now();
    let out = call(&server, test_http()).await;
    assert!(
        matches!(
            out.error,
            Some(ProviderError::Timeout {
                phase: TimeoutPhase::FirstByte
            })
        ),
        "{:?}",
        out.error
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn keep_alives_reset_the_idle_timer_but_not_the_total_timeout() {
    // A comment every 100 ms for 3 s: never idle for 400 ms, so only the total timeout stops it.
    let mut pieces = Vec::new();
    for _ in 0..30 {
        pieces.push(Piece::Bytes(b": keep-alive\n\n".to_vec()));
        pieces.push(Piece::Pause(Duration::from_millis(100)));
    }
    let server = MockServer::start(vec![Reply::sse(pieces)]).await;
    let out = call(&server, test_http().total_timeout(Duration::from_secs(1))).await;
    assert!(
        matches!(
            out.error,
            Some(ProviderError::Timeout {
                phase: TimeoutPhase::Total
            })
        ),
        "{:?}",
        out.error
    );
    assert_eq!(out.deltas, 0);
}

#[tokio::test]
async fn retry_after_as_an_http_date_is_read() {
    let at = std::time::SystemTime::now() + Duration::from_secs(30);
    let reply = Reply::error(
        429,
        r#"{"error":{"message":"slow down","type":"requests"}}"#,
    )
    .header("retry-after", &httpdate::fmt_http_date(at));
    let server = MockServer::start(vec![reply]).await;
    let out = call(&server, test_http()).await;
    let wait = out
        .error
        .as_ref()
        .and_then(ProviderError::retry_after)
        .unwrap();
    assert!(
        wait > Duration::from_secs(27) && wait <= Duration::from_secs(30),
        "{wait:?}"
    );
}

#[tokio::test]
async fn openrouter_error_chunk_mid_stream_keeps_its_code() {
    let mut text = OpenAiWire.deltas(&["Partial".into()]);
    text += &format!(
        "data: {}\n\n",
        json!({"id":"gen-1","object":"chat.completion.chunk","error":{"code":502,"message":"Provider disconnected"},
            "choices":[{"index":0,"delta":{"content":""},"finish_reason":"error"}]})
    );
    let server = MockServer::start(vec![Reply::sse(split_every(&text, 16))]).await;
    let out = call(&server, test_http()).await;
    assert_eq!(out.text, "Partial");
    assert!(
        matches!(out.error, Some(ProviderError::Server { status: 502, .. })),
        "{:?}",
        out.error
    );
}

#[tokio::test]
async fn vllm_error_object_with_a_numeric_code_detects_context_length() {
    let body = r#"{"object":"error","message":"This model's maximum context length is 4096 tokens. However, you requested 5000 tokens.","type":"BadRequestError","param":null,"code":400}"#;
    let server = MockServer::start(vec![Reply::error(400, body)]).await;
    let out = call(&server, test_http()).await;
    assert!(
        matches!(
            out.error,
            Some(ProviderError::ContextLengthExceeded { status: 400, .. })
        ),
        "{:?}",
        out.error
    );
}

#[tokio::test]
async fn a_finish_without_done_completes_and_an_end_without_finish_is_interrupted() {
    let finished =
        OpenAiWire.deltas(&["x".into()]) + &OpenAiWire::chunk(json!({}), json!("length"));
    let unfinished = OpenAiWire.deltas(&["x".into()]);
    let server = MockServer::start(vec![
        Reply::sse(split_every(&finished, 8)),
        Reply::sse(split_every(&unfinished, 8)),
    ])
    .await;
    let out = call(&server, test_http()).await;
    assert_eq!(
        (out.text.as_str(), out.finish.clone()),
        ("x", Some(FinishReason::Length))
    );
    assert!(out.error.is_none());
    let out = call(&server, test_http()).await;
    assert_eq!(out.text, "x");
    assert!(
        matches!(out.error, Some(ProviderError::Interrupted(_))),
        "{:?}",
        out.error
    );
}

#[tokio::test]
async fn reasoning_deltas_are_not_answer_text() {
    let text = OpenAiWire::chunk(json!({"reasoning_content":"thinking..."}), json!(null))
        + &OpenAiWire::chunk(json!({"content":"Answer"}), json!(null))
        + &OpenAiWire.end(TokenUsage::new(1, 1), &FinishReason::Stop);
    let server = MockServer::start(vec![Reply::sse(split_every(&text, 64))]).await;
    assert_eq!(call(&server, test_http()).await.text, "Answer");
}

#[tokio::test]
async fn invalid_utf8_is_a_protocol_error_at_once() {
    let mut pieces = split_every(&OpenAiWire.deltas(&["ok".into()]), 64);
    pieces.push(Piece::Bytes(
        b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\xff\xfe\"}}]}\n\n".to_vec(),
    ));
    pieces.push(Piece::Pause(Duration::from_secs(3)));
    let server = MockServer::start(vec![Reply::sse(pieces)]).await;
    let started = std::time::Instant::now();
    let out = call(
        &server,
        test_http().between_chunks_timeout(Duration::from_secs(5)),
    )
    .await;
    assert!(
        matches!(out.error, Some(ProviderError::Protocol(_))),
        "{:?}",
        out.error
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "not buffered until the end"
    );
}

#[tokio::test]
async fn malformed_event_data_is_a_protocol_error() {
    let server = MockServer::start(vec![Reply::sse(vec![Piece::Bytes(
        b"data: {not json\n\n".to_vec(),
    )])])
    .await;
    let out = call(&server, test_http()).await;
    assert!(
        matches!(out.error, Some(ProviderError::Protocol(_))),
        "{:?}",
        out.error
    );
}

#[tokio::test]
async fn the_response_size_limit_holds() {
    let big = "y".repeat(4096);
    let server = MockServer::start(vec![Reply::sse(split_every(
        &answer_text(&[big.as_str()]),
        512,
    ))])
    .await;
    let out = call(&server, test_http().max_response_bytes(2048)).await;
    assert!(
        matches!(out.error, Some(ProviderError::Protocol(ref m)) if m.contains("2048")),
        "{:?}",
        out.error
    );
}

#[tokio::test]
async fn error_bodies_are_capped() {
    let body = format!(r#"{{"error":{{"message":"{}"}}}}"#, "z".repeat(10_000));
    let server = MockServer::start(vec![Reply::error(500, &body)]).await;
    let out = call(&server, test_http().max_error_body_bytes(1000)).await;
    let error = out.error.unwrap();
    assert_eq!(error.status(), Some(500));
    assert_eq!(error.body().map(str::len), Some(1000));
}

#[tokio::test]
async fn a_json_body_on_a_stream_request_is_mapped() {
    let reply = Reply::error(
        200,
        r#"{"error":{"message":"model overloaded","type":"server_error","code":503}}"#,
    );
    let server = MockServer::start(vec![reply]).await;
    let out = call(&server, test_http()).await;
    assert!(
        matches!(out.error, Some(ProviderError::Server { status: 503, .. })),
        "{:?}",
        out.error
    );
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let other =
        MockServer::start(vec![Reply::sse(split_every(&answer_text(&["stolen"]), 64))]).await;
    let reply =
        Reply::error(307, "").header("location", &format!("{}/v1/chat/completions", other.url()));
    let server = MockServer::start(vec![reply]).await;
    let out = call(&server, test_http()).await;
    assert!(
        matches!(out.error, Some(ProviderError::Protocol(_))),
        "{:?}",
        out.error
    );
    assert!(
        other.received().is_empty(),
        "the key never went to the other host"
    );
}

#[tokio::test]
async fn a_refused_connection_is_a_connection_error() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let p =
        OpenAiProvider::new(OpenAiConfig::new(format!("http://{addr}/v1"), "m").http(test_http()))
            .unwrap();
    let out = run(&p, request()).await;
    assert!(
        matches!(out.error, Some(ProviderError::Connection(_))),
        "{:?}",
        out.error
    );
}

#[tokio::test]
async fn a_connection_cut_before_the_headers_is_retryable() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            drop(socket);
        }
    });
    let p =
        OpenAiProvider::new(OpenAiConfig::new(format!("http://{addr}/v1"), "m").http(test_http()))
            .unwrap();
    let error = run(&p, request()).await.error.unwrap();
    assert!(error.is_retryable(), "{error:?}");
}

#[tokio::test]
async fn a_rate_limit_then_success_is_answered_by_the_failover_after_retry_after() {
    use chat_ai_providers::{FailoverConfig, FailoverProvider};
    use std::sync::Arc;
    let limited = Reply::error(
        429,
        r#"{"error":{"message":"Rate limit reached","type":"requests"}}"#,
    )
    .header("retry-after", "1");
    let server = MockServer::start(vec![
        limited,
        Reply::sse(split_every(&answer_text(&["after ", "the wait"]), 5)),
    ])
    .await;
    let chain: Vec<Arc<dyn AiProvider>> = vec![Arc::new(provider(&server, test_http()))];
    let failover =
        FailoverProvider::with_config(chain, FailoverConfig::new().jitter_seed(1)).unwrap();
    let started = std::time::Instant::now();
    let out = run(&failover, request()).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(out.text, "after the wait");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was honoured"
    );
    assert_eq!(server.received().len(), 2);
}

#[tokio::test]
async fn an_unanswered_connection_hits_the_connect_timeout() {
    // A listener with a backlog of 0 whose queue is already full: the kernel drops further
    // SYNs, so a new connection neither succeeds nor fails until the client gives up.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        if let Ok(Ok(s)) = tokio::time::timeout(
            Duration::from_millis(200),
            tokio::net::TcpStream::connect(addr),
        )
        .await
        {
            fillers.push(s);
        }
    }
    let http = test_http()
        .connect_timeout(Duration::from_millis(300))
        .first_byte_timeout(Duration::from_secs(5));
    let p = OpenAiProvider::new(OpenAiConfig::new(format!("http://{addr}/v1"), "m").http(http))
        .unwrap();
    let started = std::time::Instant::now();
    let error = run(&p, request()).await.error.unwrap();
    assert!(
        matches!(
            error,
            ProviderError::Timeout {
                phase: TimeoutPhase::Connect
            }
        ),
        "{error:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    drop((listener, fillers));
}
