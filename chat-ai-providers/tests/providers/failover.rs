//! The failover chain: retries, backoff and `Retry-After`, the circuit-breaker matrix, what
//! is and is not failed over, attempt records, and settings applied per answer. Time is
//! tokio's paused clock: waits are virtual and exact.

use std::sync::Arc;
use std::time::Duration;

use chat_ai_providers::{BreakerState, FailoverConfig, FailoverProvider, OfflineAnswerer};
use chat_core::ids::TenantId;
use chat_core::model::{SessionKind, TokenUsage, UsageOutcome};
use chat_core::provider::conformance::{Script, ScriptedBackend};
use chat_core::provider::{
    AiProvider, AiSettings, AiSettingsDefaults, AttemptRecord, CompletionChunk, CompletionRequest,
    ContextPassage, MemorySettings, PromptMessage, ProviderError, SettingsProviderExt,
    SettingsScope,
};
use chat_core::testing::mock_provider::MockBackend;
use chat_core::testing::{MockProvider, MockReply};
use futures::StreamExt;
use tokio::time::Instant;

fn server_error() -> ProviderError {
    ProviderError::Server {
        status: 503,
        body: "busy".into(),
    }
}

fn request() -> CompletionRequest {
    CompletionRequest::new("sys", vec![PromptMessage::user("Where is my order?")])
}

fn chain(providers: &[&Arc<MockProvider>], config: FailoverConfig) -> FailoverProvider {
    let chain: Vec<Arc<dyn AiProvider>> = providers
        .iter()
        .map(|p| Arc::clone(*p) as Arc<dyn AiProvider>)
        .collect();
    FailoverProvider::with_config(chain, config).unwrap()
}

/// What one answer produced.
#[derive(Debug, Default)]
struct Answer {
    text: String,
    attempts: Vec<AttemptRecord>,
    error: Option<ProviderError>,
    finished: bool,
    /// Index of the first delta among all items, and of each attempt record.
    order: Vec<&'static str>,
}

async fn answer(provider: &FailoverProvider, request: CompletionRequest) -> Answer {
    let mut out = Answer::default();
    let mut stream = match provider.stream(request).await {
        Ok(s) => s,
        Err(e) => {
            out.error = Some(e);
            return out;
        }
    };
    while let Some(item) = stream.next().await {
        match item {
            Ok(CompletionChunk::Delta(d)) => {
                out.text.push_str(&d);
                out.order.push("delta");
            }
            Ok(CompletionChunk::Attempt(a)) => {
                out.attempts.push(a);
                out.order.push("attempt");
            }
            Ok(CompletionChunk::Finish(_)) => {
                out.finished = true;
                out.order.push("finish");
            }
            Ok(_) => {}
            Err(e) => {
                out.error = Some(e);
                out.order.push("error");
            }
        }
    }
    out
}

fn quick() -> FailoverConfig {
    FailoverConfig::new().jitter_seed(7)
}

#[tokio::test(start_paused = true)]
async fn the_first_provider_answers_and_its_call_is_recorded() {
    let a = Arc::new(
        MockProvider::new("a")
            .model("model-a")
            .reply(MockReply::answer(["Hel", "lo"]).start_delay(Duration::from_millis(40))),
    );
    let b = Arc::new(MockProvider::new("b"));
    let f = chain(&[&a, &b], quick());
    let out = answer(&f, request()).await;
    assert_eq!(out.text, "Hello");
    assert!(out.finished && out.error.is_none());
    assert_eq!(out.order, ["delta", "delta", "attempt", "finish"]);
    let rec = &out.attempts[0];
    assert_eq!(
        (
            rec.provider.as_str(),
            rec.model.as_str(),
            rec.failover_index,
            rec.attempt
        ),
        ("a", "model-a", 0, 1)
    );
    assert_eq!(rec.outcome, UsageOutcome::Success);
    assert_eq!(rec.ttft, Some(Duration::from_millis(40)));
    assert_eq!(rec.usage, Some(TokenUsage::new(10, 2)));
    assert_eq!(b.calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_retryable_error_is_retried_after_a_jittered_backoff() {
    let a = Arc::new(
        MockProvider::new("a")
            .reply(MockReply::fail(server_error()))
            .reply(MockReply::answer(["ok"])),
    );
    let f = chain(&[&a], quick().initial_backoff(Duration::from_millis(200)));
    let started = Instant::now();
    let out = answer(&f, request()).await;
    assert_eq!(out.text, "ok");
    assert!(
        started.elapsed() <= Duration::from_millis(200),
        "full jitter stays under the first backoff"
    );
    assert_eq!(a.calls(), 2);
    assert_eq!(
        out.order,
        ["attempt", "delta", "attempt", "finish"],
        "failed calls are reported before the answer"
    );
    assert_eq!(
        (
            out.attempts[0].outcome,
            out.attempts[0].error_kind.as_deref()
        ),
        (UsageOutcome::Error, Some("server"))
    );
    assert_eq!(out.attempts[0].status, Some(503));
    assert_eq!(
        (out.attempts[1].attempt, out.attempts[1].failover_index),
        (2, 0),
        "a retry is not a failover"
    );
}

#[tokio::test(start_paused = true)]
async fn backoff_grows_is_capped_and_jittered() {
    let config = quick()
        .failure_threshold(10)
        .max_attempts_per_provider(4)
        .initial_backoff(Duration::from_millis(100))
        .max_backoff(Duration::from_millis(250));
    let mut totals = Vec::new();
    for seed in 0..8 {
        let a = Arc::new(
            MockProvider::new("a")
                .reply(MockReply::fail(server_error()))
                .reply(MockReply::fail(server_error()))
                .reply(MockReply::fail(server_error()))
                .reply(MockReply::answer(["ok"])),
        );
        let f = chain(&[&a], config.clone().jitter_seed(seed));
        let started = Instant::now();
        assert_eq!(answer(&f, request()).await.text, "ok");
        let total = started.elapsed();
        assert!(total <= Duration::from_millis(100 + 200 + 250), "{total:?}");
        totals.push(total);
    }
    totals.dedup();
    assert!(totals.len() > 1, "the waits are random, not fixed");
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_honoured_up_to_its_cap() {
    let limited = |secs| ProviderError::RateLimited {
        status: 429,
        body: String::new(),
        retry_after: Some(Duration::from_secs(secs)),
    };
    let a = Arc::new(
        MockProvider::new("a")
            .reply(MockReply::fail(limited(3)))
            .reply(MockReply::answer(["after wait"])),
    );
    let f = chain(&[&a], quick());
    let started = Instant::now();
    assert_eq!(answer(&f, request()).await.text, "after wait");
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "waited for Retry-After"
    );

    // Longer than max_retry_after (5 s): no waiting, the next provider answers at once.
    let a = Arc::new(MockProvider::new("a").reply(MockReply::fail(limited(60))));
    let b = Arc::new(MockProvider::new("b").reply(MockReply::answer(["from b"])));
    let f = chain(&[&a, &b], quick());
    let started = Instant::now();
    let out = answer(&f, request()).await;
    assert_eq!(out.text, "from b");
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(a.calls(), 1);
    assert_eq!(out.attempts.last().map(|r| r.failover_index), Some(1));
}

#[tokio::test(start_paused = true)]
async fn auth_errors_are_not_retried_but_fail_over() {
    let a = Arc::new(
        MockProvider::new("a").repeat(MockReply::fail(ProviderError::Auth {
            status: 401,
            body: "bad key".into(),
        })),
    );
    let b = Arc::new(MockProvider::new("b").reply(MockReply::answer(["from b"])));
    let f = chain(&[&a, &b], quick().max_attempts_per_provider(3));
    let out = answer(&f, request()).await;
    assert_eq!(out.text, "from b");
    assert_eq!(a.calls(), 1, "the same key is not tried again");
    assert_eq!(out.attempts[0].error_kind.as_deref(), Some("auth"));
    assert_eq!(
        (
            out.attempts[1].provider.as_str(),
            out.attempts[1].failover_index
        ),
        ("b", 1)
    );
}

#[tokio::test(start_paused = true)]
async fn invalid_requests_and_context_overflows_stop_the_chain() {
    for error in [
        ProviderError::ContextLengthExceeded {
            status: 400,
            body: "prompt is too long".into(),
        },
        ProviderError::InvalidRequest {
            status: 400,
            body: "bad".into(),
        },
    ] {
        let kind = error.kind_name();
        let a = Arc::new(MockProvider::new("a").reply(MockReply::fail(error)));
        let b = Arc::new(MockProvider::new("b").repeat(MockReply::answer(["never"])));
        let f = chain(
            &[&a, &b],
            quick().max_attempts_per_provider(3).failure_threshold(1),
        );
        let out = answer(&f, request()).await;
        assert_eq!(
            (a.calls(), b.calls()),
            (1, 0),
            "{kind}: no retry, no failover"
        );
        assert_eq!(out.order, ["attempt", "error"]);
        assert_eq!(out.error.map(|e| e.kind_name()), Some(kind));
        assert_eq!(
            f.breaker_state("a"),
            Some(BreakerState::Closed),
            "{kind}: the request's fault, not the provider's"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn an_error_before_the_first_token_fails_over_even_mid_stream() {
    let a =
        Arc::new(MockProvider::new("a").reply(MockReply::new().usage(5, 0).error(server_error())));
    let b = Arc::new(MockProvider::new("b").reply(MockReply::answer(["from b"])));
    let f = chain(&[&a, &b], quick().max_attempts_per_provider(1));
    let out = answer(&f, request()).await;
    assert_eq!(out.text, "from b");
    assert_eq!(out.attempts.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn after_the_first_token_an_error_ends_the_answer() {
    let a = Arc::new(
        MockProvider::new("a").reply(
            MockReply::new()
                .delta("Your order ")
                .delay(Duration::from_millis(5))
                .error(ProviderError::Interrupted("cut".into())),
        ),
    );
    let b = Arc::new(MockProvider::new("b").repeat(MockReply::answer(["never"])));
    let f = chain(&[&a, &b], quick());
    let out = answer(&f, request()).await;
    assert_eq!(out.text, "Your order ");
    assert_eq!(out.order, ["delta", "attempt", "error"]);
    assert!(matches!(out.error, Some(ProviderError::Interrupted(_))));
    assert_eq!(b.calls(), 0, "no second answer after text reached the user");
    let rec = &out.attempts[0];
    assert_eq!(
        (rec.outcome, rec.error_kind.as_deref()),
        (UsageOutcome::Incomplete, Some("interrupted"))
    );
    assert_eq!(rec.latency, Duration::from_millis(5));
}

#[tokio::test(start_paused = true)]
async fn when_everything_fails_every_call_is_reported_then_the_last_error() {
    let a = Arc::new(MockProvider::new("a").repeat(MockReply::fail(server_error())));
    let b = Arc::new(
        MockProvider::new("b").repeat(MockReply::fail(ProviderError::Timeout {
            phase: chat_core::provider::TimeoutPhase::FirstByte,
        })),
    );
    let f = chain(&[&a, &b], quick());
    let out = answer(&f, request()).await;
    assert_eq!(
        out.order,
        ["attempt", "attempt", "attempt", "attempt", "error"]
    );
    assert!(matches!(out.error, Some(ProviderError::Timeout { .. })));
    let indexes: Vec<(u32, u32)> = out
        .attempts
        .iter()
        .map(|r| (r.attempt, r.failover_index))
        .collect();
    assert_eq!(indexes, [(1, 0), (2, 0), (3, 1), (4, 1)]);
}

#[tokio::test(start_paused = true)]
async fn a_provider_that_never_answers_is_timed_out_and_failed_over() {
    let a = Arc::new(
        MockProvider::new("a")
            .reply(MockReply::hang_on_start())
            .reply(MockReply::new().hang()),
    );
    let b = Arc::new(MockProvider::new("b").reply(MockReply::answer(["from b"])));
    let f = chain(&[&a, &b], quick().attempt_timeout(Duration::from_secs(20)));
    let started = Instant::now();
    let out = answer(&f, request()).await;
    assert_eq!(out.text, "from b");
    assert_eq!(a.calls(), 2, "a hang is a timeout, which is retried once");
    assert!(
        started.elapsed() >= Duration::from_secs(40) && started.elapsed() < Duration::from_secs(41)
    );
    assert_eq!(out.attempts[0].error_kind.as_deref(), Some("timeout"));
}

#[tokio::test(start_paused = true)]
async fn circuit_breaker_opens_probes_and_closes() {
    let a = Arc::new(MockProvider::new("a"));
    let b = Arc::new(MockProvider::new("b").repeat(MockReply::answer(["b"])));
    let f = chain(
        &[&a, &b],
        quick()
            .max_attempts_per_provider(1)
            .failure_threshold(2)
            .cool_down(Duration::from_secs(30)),
    );
    let by = |out: &Answer| {
        out.attempts
            .last()
            .map(|r| r.provider.clone())
            .unwrap_or_default()
    };

    // Two consecutive failures open a's circuit.
    for _ in 0..2 {
        a.push(MockReply::fail(server_error()));
        assert_eq!(by(&answer(&f, request()).await), "b");
    }
    assert_eq!(f.breaker_state("a"), Some(BreakerState::Open));
    // Open: a is not called at all.
    let out = answer(&f, request()).await;
    assert_eq!(
        (by(&out), a.calls(), out.attempts.len()),
        ("b".to_owned(), 2, 1)
    );

    // After the cool-down one probe goes; it fails and the circuit reopens at once.
    tokio::time::advance(Duration::from_secs(30)).await;
    assert_eq!(f.breaker_state("a"), Some(BreakerState::HalfOpen));
    a.push(MockReply::fail(server_error()));
    assert_eq!(by(&answer(&f, request()).await), "b");
    assert_eq!(
        (a.calls(), f.breaker_state("a")),
        (3, Some(BreakerState::Open))
    );
    answer(&f, request()).await;
    assert_eq!(a.calls(), 3);

    // The next probe succeeds: closed, and a answers again.
    tokio::time::advance(Duration::from_secs(30)).await;
    a.push(MockReply::answer(["a"]));
    assert_eq!(by(&answer(&f, request()).await), "a");
    assert_eq!(f.breaker_state("a"), Some(BreakerState::Closed));
    a.push(MockReply::answer(["a again"]));
    assert_eq!(answer(&f, request()).await.text, "a again");
}

#[tokio::test(start_paused = true)]
async fn a_half_open_circuit_lets_a_single_probe_through() {
    let a = Arc::new(MockProvider::new("a"));
    let b = Arc::new(MockProvider::new("b").repeat(MockReply::answer(["b"])));
    let f = Arc::new(chain(
        &[&a, &b],
        quick()
            .max_attempts_per_provider(1)
            .failure_threshold(1)
            .cool_down(Duration::from_secs(10)),
    ));
    a.push(MockReply::fail(server_error()));
    answer(&f, request()).await;
    tokio::time::advance(Duration::from_secs(10)).await;
    // The probe is slow; a second answer meanwhile must not call a.
    a.push(MockReply::answer(["slow a"]).start_delay(Duration::from_secs(5)));
    let probe = tokio::spawn({
        let f = Arc::clone(&f);
        async move { answer(&f, request()).await.text }
    });
    tokio::time::sleep(Duration::from_millis(10)).await;
    let meanwhile = answer(&f, request()).await;
    assert_eq!(meanwhile.text, "b");
    assert_eq!(a.calls(), 2, "only the probe called a");
    assert_eq!(probe.await.unwrap(), "slow a");
    assert_eq!(f.breaker_state("a"), Some(BreakerState::Closed));
}

#[tokio::test(start_paused = true)]
async fn a_cut_answer_counts_against_the_provider() {
    let a = Arc::new(
        MockProvider::new("a").repeat(
            MockReply::new()
                .delta("x")
                .error(ProviderError::Interrupted("cut".into())),
        ),
    );
    let f = chain(&[&a], quick().failure_threshold(2));
    answer(&f, request()).await;
    assert_eq!(f.breaker_state("a"), Some(BreakerState::Closed));
    answer(&f, request()).await;
    assert_eq!(f.breaker_state("a"), Some(BreakerState::Open));
}

#[tokio::test(start_paused = true)]
async fn the_request_names_the_chain_and_the_model_goes_to_its_first_provider() {
    let a = Arc::new(
        MockProvider::new("a")
            .model("a-default")
            .repeat(MockReply::fail(server_error())),
    );
    let b = Arc::new(
        MockProvider::new("b")
            .model("b-default")
            .repeat(MockReply::answer(["b"])),
    );
    let c = Arc::new(
        MockProvider::new("c")
            .model("c-default")
            .repeat(MockReply::answer(["c"])),
    );
    let f = chain(&[&a, &b, &c], quick().max_attempts_per_provider(1));
    let req = request()
        .providers(vec!["c".into(), "nope".into(), "a".into()])
        .model("special");
    let out = answer(&f, req).await;
    assert_eq!(out.text, "c");
    assert_eq!(c.requests()[0].model.as_deref(), Some("special"));
    assert!(
        c.requests()[0].providers.is_empty(),
        "the chain is not passed down"
    );

    let req = request()
        .providers(vec!["a".into(), "b".into()])
        .model("special");
    let out = answer(&f, req).await;
    assert_eq!(out.text, "b");
    assert_eq!(
        b.requests()[0].model,
        None,
        "a fallback uses its own default model"
    );
    assert_eq!(
        out.attempts.last().map(|r| r.model.as_str()),
        Some("b-default")
    );

    let err = f.stream(request().providers(vec!["x".into()])).await.err();
    assert!(matches!(err, Some(ProviderError::Unavailable(_))));
}

#[tokio::test(start_paused = true)]
async fn a_settings_change_applies_to_the_next_answer() {
    let a = Arc::new(MockProvider::new("a").repeat(MockReply::answer(["from a"])));
    let b = Arc::new(MockProvider::new("b").repeat(MockReply::answer(["from b"])));
    let f = chain(&[&a, &b], quick());
    let settings = MemorySettings::new();
    let tenant = TenantId::new("acme").unwrap();
    let defaults = AiSettingsDefaults::default();
    settings.set(
        &tenant,
        SettingsScope::Global,
        AiSettings::new().providers(["a"]).temperature(0.1),
    );

    let resolved = settings
        .resolve(&tenant, SessionKind::Support, &defaults)
        .await
        .unwrap();
    assert_eq!(answer(&f, resolved.apply(request())).await.text, "from a");

    settings.set(
        &tenant,
        SettingsScope::Support,
        AiSettings::new().providers(["b"]).max_tokens(64),
    );
    let resolved = settings
        .resolve(&tenant, SessionKind::Support, &defaults)
        .await
        .unwrap();
    assert_eq!(answer(&f, resolved.apply(request())).await.text, "from b");
    let seen = &b.requests()[0];
    assert_eq!((seen.temperature, seen.max_tokens), (Some(0.1), Some(64)));
}

#[tokio::test(start_paused = true)]
async fn the_offline_answerer_as_last_resort_is_labelled_offline() {
    let a = Arc::new(MockProvider::new("a").repeat(MockReply::fail(server_error())));
    let chain: Vec<Arc<dyn AiProvider>> = vec![a, Arc::new(OfflineAnswerer::new())];
    let f = FailoverProvider::with_config(chain, quick()).unwrap();
    assert!(
        !f.capabilities().offline,
        "the chain as a whole needs the network"
    );
    let req = request().passages(vec![ContextPassage::new(
        1,
        "Orders",
        "Your order ships within two days.",
        0.9,
    )]);
    let out = answer(&f, req).await;
    assert!(out.text.contains("[1]"), "{}", out.text);
    let rec = out.attempts.last().unwrap();
    assert_eq!((rec.provider.as_str(), rec.offline), ("offline", true));
}

#[test]
fn chains_must_be_non_empty_and_uniquely_named() {
    assert!(FailoverProvider::new(vec![]).is_err());
    let twice: Vec<Arc<dyn AiProvider>> = vec![
        Arc::new(MockProvider::new("x")),
        Arc::new(MockProvider::new("x")),
    ];
    assert!(FailoverProvider::new(twice).is_err());
}

/// The failover chain over one scripted provider, without retries, is as conformant as the
/// provider itself: it adds attempt records and nothing else.
struct FailoverBackend {
    inner: MockBackend,
    chain: Arc<FailoverProvider>,
}

impl ScriptedBackend for FailoverBackend {
    fn provider(&self) -> Arc<dyn AiProvider> {
        self.chain.clone()
    }
    fn received(&self) -> Vec<chat_core::provider::conformance::SeenRequest> {
        self.inner.received()
    }
}

async fn failover_backend(scripts: Vec<Script>) -> FailoverBackend {
    let inner = MockBackend::start(scripts).await;
    let chain = FailoverProvider::with_config(
        vec![inner.provider()],
        FailoverConfig::new().max_attempts_per_provider(1),
    )
    .unwrap();
    FailoverBackend {
        inner,
        chain: Arc::new(chain),
    }
}

mod conformance {
    chat_core::provider_conformance_suite!(super::failover_backend);
}
