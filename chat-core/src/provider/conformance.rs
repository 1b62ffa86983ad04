//! The provider conformance suite (feature `testing`): what every [`AiProvider`] must do with a
//! scripted backend, whatever its wire format.
//!
//! An implementation provides a factory `async fn(Vec<Script>) -> impl ScriptedBackend` that
//! starts a backend (a mock HTTP server speaking the vendor's format, or a scripted double)
//! playing the scripts in order, one per call, and a provider configured against it with
//! [`SUITE_TIMEOUT`] as its first-byte and between-chunks timeouts. Each case is an ordinary
//! `async fn` taking that factory; the macro expands one `#[tokio::test]` per case:
//!
//! ```ignore
//! chat_core::provider_conformance_suite!(crate::harness::openai_backend);
//! ```

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;

use super::{
    AiProvider, CompletionChunk, CompletionRequest, FinishReason, PromptMessage, ProviderError,
    TimeoutPhase,
};
use crate::model::TokenUsage;

/// The first-byte and between-chunks timeout a backend's provider must be configured with.
pub const SUITE_TIMEOUT: Duration = Duration::from_millis(1000);
/// How long a stalling script stays silent (well past [`SUITE_TIMEOUT`]).
pub const SUITE_STALL: Duration = Duration::from_secs(5);

/// A failure the backend reports, in its vendor's words.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Failure {
    /// Bad credentials (HTTP 401).
    Auth,
    /// Unknown model (HTTP 404).
    ModelNotFound,
    /// Malformed request (HTTP 400).
    InvalidRequest,
    /// Prompt longer than the context window (the vendor's own error).
    ContextLength,
    /// Rate limited (HTTP 429) with this `Retry-After`.
    RateLimited {
        /// The wait the backend asks for (whole seconds).
        retry_after: Duration,
    },
    /// Server error (HTTP 500, or the vendor's overload/server error event).
    Server,
}

/// What the backend does on one call.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Script {
    /// Streams the deltas, reports the usage, then ends with the finish reason.
    Answer {
        /// Text deltas.
        deltas: Vec<String>,
        /// Token counts.
        usage: TokenUsage,
        /// Why it stopped.
        finish: FinishReason,
    },
    /// Refuses the call (an error response).
    Fail(Failure),
    /// Streams the deltas, then reports the failure inside the stream (an error event).
    FailAfter {
        /// Text deltas before the error.
        deltas: Vec<String>,
        /// The error.
        failure: Failure,
    },
    /// Streams the deltas, then cuts the connection.
    CutAfter {
        /// Text deltas before the cut.
        deltas: Vec<String>,
    },
    /// Accepts, then stays silent for [`SUITE_STALL`].
    StallBeforeFirstToken,
    /// Streams the deltas, then stays silent for [`SUITE_STALL`].
    StallAfter {
        /// Text deltas before the silence.
        deltas: Vec<String>,
    },
}

impl Script {
    /// A normal answer: deltas, usage (prompt 12, completion 5), `Finish(Stop)`.
    pub fn answer<I, S>(deltas: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::Answer {
            deltas: deltas.into_iter().map(Into::into).collect(),
            usage: TokenUsage::new(12, 5),
            finish: FinishReason::Stop,
        }
    }
}

/// A request as the backend decoded it from the wire.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SeenRequest {
    /// The model (from the body or the URL).
    pub model: String,
    /// The system prompt.
    pub system: String,
    /// The conversation.
    pub messages: Vec<PromptMessage>,
    /// Sampling temperature.
    pub temperature: Option<f32>,
    /// Output limit.
    pub max_tokens: Option<u32>,
}

impl SeenRequest {
    /// Builds a decoded request.
    pub fn new(
        model: impl Into<String>,
        system: impl Into<String>,
        messages: Vec<PromptMessage>,
        temperature: Option<f32>,
        max_tokens: Option<u32>,
    ) -> Self {
        Self {
            model: model.into(),
            system: system.into(),
            messages,
            temperature,
            max_tokens,
        }
    }
}

/// A backend playing scripts, and the provider under test talking to it.
pub trait ScriptedBackend: Send + Sync {
    /// The provider under test.
    fn provider(&self) -> Arc<dyn AiProvider>;
    /// The requests the backend received so far, decoded.
    fn received(&self) -> Vec<SeenRequest>;
}

/// Starts a backend playing the scripts: any `FnOnce(Vec<Script>) -> impl Future<Output = B>`.
pub trait BackendFactory<B> {
    /// Starts the backend.
    fn start(self, scripts: Vec<Script>) -> impl Future<Output = B> + Send;
}

impl<F, Fut, B> BackendFactory<B> for F
where
    F: FnOnce(Vec<Script>) -> Fut,
    Fut: Future<Output = B> + Send,
{
    fn start(self, scripts: Vec<Script>) -> impl Future<Output = B> + Send {
        self(scripts)
    }
}

/// What one call produced.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The deltas joined.
    pub text: String,
    /// How many deltas arrived.
    pub deltas: usize,
    /// The usage item, if any.
    pub usage: Option<TokenUsage>,
    /// The finish item, if any.
    pub finish: Option<FinishReason>,
    /// The error, from the call or the stream.
    pub error: Option<ProviderError>,
    /// Items that arrived after `Finish` or after an error.
    pub after_end: usize,
}

/// Calls the provider and drains the stream (bounded by [`SUITE_STALL`] so a broken provider
/// fails the case instead of hanging it).
pub async fn run(provider: &dyn AiProvider, request: CompletionRequest) -> Outcome {
    let mut out = Outcome::default();
    let call = async {
        let mut stream = match provider.stream(request).await {
            Ok(s) => s,
            Err(e) => {
                out.error = Some(e);
                return;
            }
        };
        while let Some(item) = stream.next().await {
            if out.finish.is_some() || out.error.is_some() {
                out.after_end += 1;
                continue;
            }
            match item {
                Ok(CompletionChunk::Delta(d)) => {
                    out.text.push_str(&d);
                    out.deltas += 1;
                }
                Ok(CompletionChunk::Usage(u)) => out.usage = Some(u),
                Ok(CompletionChunk::Finish(f)) => out.finish = Some(f),
                Ok(_) => {}
                Err(e) => out.error = Some(e),
            }
        }
    };
    if tokio::time::timeout(SUITE_STALL * 2, call).await.is_err() {
        out.error = Some(ProviderError::Protocol(
            "conformance: the provider never ended the stream".into(),
        ));
    }
    out
}

fn request() -> CompletionRequest {
    CompletionRequest::new(
        "You answer from the sources. [1] Returns are free within 30 days.",
        vec![
            PromptMessage::user("Hello"),
            PromptMessage::assistant("Hi! How can I help?"),
            PromptMessage::user("Can I return shoes? \u{00e9}\u{4e16}\u{1f600}"),
        ],
    )
}

async fn refusal<B: ScriptedBackend>(
    factory: impl BackendFactory<B>,
    failure: Failure,
) -> ProviderError {
    let backend = factory.start(vec![Script::Fail(failure)]).await;
    let out = run(backend.provider().as_ref(), request()).await;
    assert_eq!(out.deltas, 0, "no text before a refusal");
    assert!(out.error.is_some(), "expected an error, got {out:?}");
    out.error
        .unwrap_or_else(|| ProviderError::Protocol(String::new()))
}

const UNICODE_DELTAS: [&str; 4] = [
    "Yes, ",
    "returns are free ",
    "within 30 days [1]. ",
    "Gr\u{00fc}\u{00df}e \u{4e16}\u{754c} \u{1f389}",
];

/// Deltas arrive in order and intact (multi-byte characters included), then usage, then
/// `Finish(Stop)` as the last item.
pub async fn streams_text_usage_and_finish<B: ScriptedBackend>(factory: impl BackendFactory<B>) {
    let backend = factory.start(vec![Script::answer(UNICODE_DELTAS)]).await;
    let out = run(backend.provider().as_ref(), request()).await;
    assert!(out.error.is_none(), "unexpected error {:?}", out.error);
    assert_eq!(out.text, UNICODE_DELTAS.concat());
    assert_eq!(out.usage, Some(TokenUsage::new(12, 5)));
    assert_eq!(out.finish, Some(FinishReason::Stop));
    assert_eq!(out.after_end, 0, "nothing after Finish");
}

/// A length stop is reported as `Finish(Length)`.
pub async fn reports_length_finish<B: ScriptedBackend>(factory: impl BackendFactory<B>) {
    let script = Script::Answer {
        deltas: vec!["Partial".into()],
        usage: TokenUsage::new(3, 1),
        finish: FinishReason::Length,
    };
    let backend = factory.start(vec![script]).await;
    let out = run(backend.provider().as_ref(), request()).await;
    assert!(out.error.is_none(), "unexpected error {:?}", out.error);
    assert_eq!(out.text, "Partial");
    assert_eq!(out.finish, Some(FinishReason::Length));
}

/// The system prompt, the conversation, the model and the sampling settings reach the backend.
pub async fn sends_the_request<B: ScriptedBackend>(factory: impl BackendFactory<B>) {
    let backend = factory.start(vec![Script::answer(["ok"])]).await;
    let req = request().model("model-x").temperature(0.25).max_tokens(77);
    let out = run(backend.provider().as_ref(), req.clone()).await;
    assert!(out.error.is_none(), "unexpected error {:?}", out.error);
    let seen = backend.received();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0],
        SeenRequest::new("model-x", req.system, req.messages, Some(0.25), Some(77))
    );
}

/// A request naming no model uses the provider's default model; name and capabilities are set.
pub async fn uses_the_default_model<B: ScriptedBackend>(factory: impl BackendFactory<B>) {
    let backend = factory.start(vec![Script::answer(["ok"])]).await;
    let provider = backend.provider();
    let out = run(provider.as_ref(), request()).await;
    assert!(out.error.is_none(), "unexpected error {:?}", out.error);
    let seen = backend.received();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].model, provider.default_model());
    assert!(!provider.name().is_empty());
    let caps = provider.capabilities();
    assert!(caps.context_window > 0 && caps.max_output_tokens > 0 && caps.streaming);
}

/// Refused credentials are `Auth` (401) with the body kept; not retryable.
pub async fn maps_auth<B: ScriptedBackend>(factory: impl BackendFactory<B>) {
    let e = refusal(factory, Failure::Auth).await;
    assert!(
        matches!(e, ProviderError::Auth { status: 401, .. }),
        "{e:?}"
    );
    assert!(!e.body().unwrap_or_default().is_empty() && !e.is_retryable());
}

/// An unknown model is `ModelNotFound` (404) with the body kept.
pub async fn maps_model_not_found<B: ScriptedBackend>(factory: impl BackendFactory<B>) {
    let e = refusal(factory, Failure::ModelNotFound).await;
    assert!(
        matches!(e, ProviderError::ModelNotFound { status: 404, .. }),
        "{e:?}"
    );
    assert!(!e.body().unwrap_or_default().is_empty());
}

/// A malformed request is `InvalidRequest` (400), neither retryable nor a reason to fail over.
pub async fn maps_invalid_request<B: ScriptedBackend>(factory: impl BackendFactory<B>) {
    let e = refusal(factory, Failure::InvalidRequest).await;
    assert!(
        matches!(e, ProviderError::InvalidRequest { status: 400, .. }),
        "{e:?}"
    );
    assert!(!e.is_retryable() && !e.allows_failover());
}

/// The vendor's context-length error is `ContextLengthExceeded`, not retryable.
pub async fn maps_context_length<B: ScriptedBackend>(factory: impl BackendFactory<B>) {
    let e = refusal(factory, Failure::ContextLength).await;
    assert!(
        matches!(e, ProviderError::ContextLengthExceeded { .. }),
        "{e:?}"
    );
    assert!(!e.is_retryable());
}

/// 429 is `RateLimited` with the `Retry-After` wait; retryable.
pub async fn maps_rate_limit_with_retry_after<B: ScriptedBackend>(factory: impl BackendFactory<B>) {
    let e = refusal(
        factory,
        Failure::RateLimited {
            retry_after: Duration::from_secs(7),
        },
    )
    .await;
    assert!(
        matches!(e, ProviderError::RateLimited { status: 429, .. }),
        "{e:?}"
    );
    assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
    assert!(e.is_retryable());
}

/// A server error is `Server` with its 5xx status; retryable.
pub async fn maps_server_error<B: ScriptedBackend>(factory: impl BackendFactory<B>) {
    let e = refusal(factory, Failure::Server).await;
    assert!(
        matches!(
            e,
            ProviderError::Server {
                status: 500..=599,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.is_retryable());
}

/// An error event after some text: the text arrives, then a retryable `Server` error ends it.
pub async fn error_event_mid_stream<B: ScriptedBackend>(factory: impl BackendFactory<B>) {
    let script = Script::FailAfter {
        deltas: vec!["Half ".into(), "an ".into()],
        failure: Failure::Server,
    };
    let backend = factory.start(vec![script]).await;
    let out = run(backend.provider().as_ref(), request()).await;
    assert_eq!(out.text, "Half an ");
    assert!(out.finish.is_none());
    assert!(
        matches!(out.error, Some(ProviderError::Server { .. })),
        "{:?}",
        out.error
    );
    assert_eq!(out.after_end, 0);
}

/// A connection cut before the end marker is `Interrupted`, after the text that arrived.
pub async fn cut_mid_stream_is_interrupted<B: ScriptedBackend>(factory: impl BackendFactory<B>) {
    let backend = factory
        .start(vec![Script::CutAfter {
            deltas: vec!["Before ".into(), "the cut".into()],
        }])
        .await;
    let out = run(backend.provider().as_ref(), request()).await;
    assert_eq!(out.text, "Before the cut");
    assert!(out.finish.is_none());
    assert!(
        matches!(out.error, Some(ProviderError::Interrupted(_))),
        "{:?}",
        out.error
    );
}

/// Silence before the first token ends the call with `Timeout(FirstByte)` long before the
/// silence ends.
pub async fn first_byte_timeout<B: ScriptedBackend>(factory: impl BackendFactory<B>) {
    let backend = factory.start(vec![Script::StallBeforeFirstToken]).await;
    let started = tokio::time::Instant::now();
    let out = run(backend.provider().as_ref(), request()).await;
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
    assert!(
        started.elapsed() < SUITE_STALL,
        "the timeout fired, not the end of the stall"
    );
    assert_eq!(out.deltas, 0);
}

/// Silence after some text ends the stream with `Timeout(BetweenChunks)`.
pub async fn between_chunks_timeout<B: ScriptedBackend>(factory: impl BackendFactory<B>) {
    let backend = factory
        .start(vec![Script::StallAfter {
            deltas: vec!["Slow".into()],
        }])
        .await;
    let started = tokio::time::Instant::now();
    let out = run(backend.provider().as_ref(), request()).await;
    assert_eq!(out.text, "Slow");
    let phase = TimeoutPhase::BetweenChunks;
    assert!(
        matches!(out.error, Some(ProviderError::Timeout { phase: p }) if p == phase),
        "{:?}",
        out.error
    );
    assert!(started.elapsed() < SUITE_STALL);
}

/// Two calls in a row each get their own answer (connection reuse does not mix streams).
pub async fn consecutive_calls_are_independent<B: ScriptedBackend>(
    factory: impl BackendFactory<B>,
) {
    let backend = factory
        .start(vec![Script::answer(["first"]), Script::answer(["second"])])
        .await;
    let provider = backend.provider();
    let first = run(provider.as_ref(), request()).await;
    let second = run(provider.as_ref(), request()).await;
    assert_eq!(
        (first.text.as_str(), second.text.as_str()),
        ("first", "second")
    );
    assert_eq!(backend.received().len(), 2);
}

/// Runs the whole provider conformance suite: one `#[tokio::test]` per case, each starting a
/// fresh backend with `$factory` (a path to an `async fn(Vec<Script>) -> impl ScriptedBackend`).
#[macro_export]
macro_rules! provider_conformance_suite {
    ($factory:path) => {
        $crate::provider_conformance_suite!(@cases $factory;
            streams_text_usage_and_finish, reports_length_finish, sends_the_request,
            uses_the_default_model, maps_auth, maps_model_not_found, maps_invalid_request,
            maps_context_length, maps_rate_limit_with_retry_after, maps_server_error,
            error_event_mid_stream, cut_mid_stream_is_interrupted, first_byte_timeout,
            between_chunks_timeout, consecutive_calls_are_independent);
    };
    (@cases $factory:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                $crate::provider::conformance::$case($factory).await;
            }
        )*
    };
}
