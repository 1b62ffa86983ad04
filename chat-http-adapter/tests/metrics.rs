//! The metrics: AI latency and outcomes through `Metrics::instrument`, and a sweep that
//! every documented endpoint needing a token answers 401 without one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failed step fails the test

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use chat_core::provider::ProviderError;
use chat_core::store::MemoryStore;
use chat_core::testing::{MockProvider, MockReply};
use chat_core::{ChatEngine, TenantId};
use chat_http_adapter::{AdapterConfig, DevAuthenticator, Metrics, router};
use common::*;
use serde_json::json;

#[tokio::test]
async fn ai_calls_are_timed_and_counted_by_outcome() {
    let metrics = Metrics::new();
    let provider = MockProvider::new("mock")
        .reply(MockReply::answer(["Refunds take ", "5 days."]))
        .reply(MockReply::fail(ProviderError::Server {
            status: 503,
            body: "overloaded".into(),
        }));
    let engine = ChatEngine::builder()
        .store(Arc::new(MemoryStore::new()))
        .provider(metrics.instrument(Arc::new(provider)))
        .build()
        .unwrap();
    let auth = Arc::new(DevAuthenticator::new(TenantId::new(TENANT).unwrap()));
    let app = router(
        engine,
        AdapterConfig::new(auth)
            .with_metrics(metrics.clone())
            .rest_rate_limit(unlimited()),
    );
    let alice = customer("alice");
    let id = open_session(&app, &alice).await;
    let path = format!("/api/v1/sessions/{id}/messages");

    let post = call(
        &app,
        "POST",
        &path,
        Some(&alice),
        Some(json!({"content": "How long do refunds take?"})),
    )
    .await;
    assert_eq!(post.status, StatusCode::CREATED);
    wait_for(
        &metrics,
        r#"chat_ai_calls_total{provider="mock",outcome="ok"} 1"#,
    )
    .await;
    let post = call(
        &app,
        "POST",
        &path,
        Some(&alice),
        Some(json!({"content": "And exchanges?"})),
    )
    .await;
    assert_eq!(post.status, StatusCode::CREATED);
    wait_for(
        &metrics,
        r#"chat_ai_calls_total{provider="mock",outcome="server"} 1"#,
    )
    .await;

    let text = metrics.encode();
    assert!(
        text.contains(r#"chat_ai_first_token_seconds_count{provider="mock"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"chat_ai_answer_duration_seconds_count{provider="mock"} 2"#),
        "{text}"
    );
    // And the same text through the endpoint.
    let served = call(&app, "GET", "/metrics", None, None).await;
    assert!(served.text.contains(r#"outcome="server""#));
}

async fn wait_for(metrics: &Metrics, line: &str) {
    for _ in 0..200 {
        if metrics.encode().contains(line) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("metrics never showed {line}:\n{}", metrics.encode());
}

#[tokio::test]
async fn every_documented_endpoint_with_a_token_requirement_answers_401_without_one() {
    let app = app();
    let spec = call(&app.router, "GET", "/api/v1/openapi.json", None, None).await;
    let mut checked = 0;
    for (path, item) in spec.body["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if operation.get("security").is_none() {
                continue;
            }
            let concrete = path
                .replace("{id}", &uuid::Uuid::now_v7().to_string())
                .replace("{doc_id}", &uuid::Uuid::now_v7().to_string());
            let reply = call(
                &app.router,
                &method.to_uppercase(),
                &concrete,
                None,
                Some(json!({})),
            )
            .await;
            assert_eq!(
                reply.status,
                StatusCode::UNAUTHORIZED,
                "{method} {path}: {}",
                reply.text
            );
            assert_eq!(reply.code(), "unauthorized", "{method} {path}");
            checked += 1;
        }
    }
    assert!(checked >= 18, "only {checked} operations checked");
}
