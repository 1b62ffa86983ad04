//! A scripted [`AiProvider`] for tests: each call plays the next [`MockReply`] (deltas, usage,
//! finish, errors, delays, hangs) and the requests received are recorded.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;

use crate::model::TokenUsage;
use crate::provider::conformance::{Failure, SUITE_TIMEOUT, Script, ScriptedBackend, SeenRequest};
use crate::provider::{
    AiProvider, CompletionChunk, CompletionRequest, CompletionStream, FinishReason,
    ProviderCapabilities, ProviderError, TimeoutPhase,
};

/// One step of a scripted stream.
#[derive(Debug)]
#[non_exhaustive]
pub enum MockStep {
    /// Yield a text delta.
    Delta(String),
    /// Yield token counts.
    Usage(TokenUsage),
    /// Yield the finish reason.
    Finish(FinishReason),
    /// Yield this error; the stream ends after it.
    Error(ProviderError),
    /// Wait (tokio time: a paused clock makes it instant).
    Delay(Duration),
    /// Never yield anything again.
    Hang,
}

impl Clone for MockStep {
    fn clone(&self) -> Self {
        match self {
            Self::Delta(s) => Self::Delta(s.clone()),
            Self::Usage(u) => Self::Usage(*u),
            Self::Finish(f) => Self::Finish(f.clone()),
            Self::Error(e) => Self::Error(duplicate_error(e)),
            Self::Delay(d) => Self::Delay(*d),
            Self::Hang => Self::Hang,
        }
    }
}

/// How the `stream` call itself behaves, before any step.
#[derive(Debug)]
enum MockStart {
    Accept,
    Fail(ProviderError),
    Hang,
}

/// What one call of a [`MockProvider`] does.
#[derive(Debug)]
pub struct MockReply {
    start_delay: Option<Duration>,
    start: MockStart,
    steps: Vec<MockStep>,
}

impl Clone for MockReply {
    fn clone(&self) -> Self {
        Self {
            start_delay: self.start_delay,
            start: match &self.start {
                MockStart::Accept => MockStart::Accept,
                MockStart::Fail(e) => MockStart::Fail(duplicate_error(e)),
                MockStart::Hang => MockStart::Hang,
            },
            steps: self.steps.clone(),
        }
    }
}

impl Default for MockReply {
    fn default() -> Self {
        Self::new()
    }
}

impl MockReply {
    /// An accepted call with no steps yet (the stream ends at once).
    pub fn new() -> Self {
        Self {
            start_delay: None,
            start: MockStart::Accept,
            steps: Vec::new(),
        }
    }
    /// The deltas, then usage (prompt 10, completion one per delta) and `Finish(Stop)`.
    pub fn answer<I, S>(deltas: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut reply = Self::new();
        let mut count = 0u32;
        for d in deltas {
            reply = reply.delta(d);
            count = count.saturating_add(1);
        }
        reply.usage(10, count).finish(FinishReason::Stop)
    }
    /// The `stream` call fails with `error` (no stream).
    pub fn fail(error: ProviderError) -> Self {
        Self {
            start_delay: None,
            start: MockStart::Fail(error),
            steps: Vec::new(),
        }
    }
    /// The `stream` call never returns.
    pub fn hang_on_start() -> Self {
        Self {
            start_delay: None,
            start: MockStart::Hang,
            steps: Vec::new(),
        }
    }
    /// Waits this long before the `stream` call returns (or fails).
    pub fn start_delay(mut self, delay: Duration) -> Self {
        self.start_delay = Some(delay);
        self
    }
    /// Adds a step.
    pub fn step(mut self, step: MockStep) -> Self {
        self.steps.push(step);
        self
    }
    /// Adds a text delta.
    pub fn delta(self, text: impl Into<String>) -> Self {
        self.step(MockStep::Delta(text.into()))
    }
    /// Adds token counts.
    pub fn usage(self, prompt_tokens: u32, completion_tokens: u32) -> Self {
        self.step(MockStep::Usage(TokenUsage::new(
            prompt_tokens,
            completion_tokens,
        )))
    }
    /// Adds the finish reason.
    pub fn finish(self, reason: FinishReason) -> Self {
        self.step(MockStep::Finish(reason))
    }
    /// Adds an error item (the stream ends after it).
    pub fn error(self, error: ProviderError) -> Self {
        self.step(MockStep::Error(error))
    }
    /// Adds a wait.
    pub fn delay(self, delay: Duration) -> Self {
        self.step(MockStep::Delay(delay))
    }
    /// The stream stops yielding for good here.
    pub fn hang(self) -> Self {
        self.step(MockStep::Hang)
    }
}

/// A scripted provider: call `n` plays the `n`-th queued reply, then the repeat reply if one is
/// set; with neither, the call fails with [`ProviderError::Unavailable`].
#[derive(Debug)]
pub struct MockProvider {
    name: String,
    model: String,
    capabilities: ProviderCapabilities,
    replies: Mutex<VecDeque<MockReply>>,
    repeat: Option<MockReply>,
    requests: Mutex<Vec<CompletionRequest>>,
}

impl MockProvider {
    /// A provider named `name` with model `mock-model`, a 8,192-token window and no script.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            model: "mock-model".to_owned(),
            capabilities: ProviderCapabilities::new(8192, 1024, true, false),
            replies: Mutex::new(VecDeque::new()),
            repeat: None,
            requests: Mutex::new(Vec::new()),
        }
    }
    /// Sets the default model.
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = model.into();
        self
    }
    /// Sets the capabilities.
    pub fn capabilities(mut self, capabilities: ProviderCapabilities) -> Self {
        self.capabilities = capabilities;
        self
    }
    /// Queues a reply (builder form).
    pub fn reply(self, reply: MockReply) -> Self {
        self.push(reply);
        self
    }
    /// The reply used once the queue is empty, for every later call.
    pub fn repeat(mut self, reply: MockReply) -> Self {
        self.repeat = Some(reply);
        self
    }
    /// Queues a reply.
    pub fn push(&self, reply: MockReply) {
        self.replies
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_back(reply);
    }
    /// The requests received so far, in order.
    pub fn requests(&self) -> Vec<CompletionRequest> {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
    /// How many calls were made.
    pub fn calls(&self) -> usize {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[async_trait]
impl AiProvider for MockProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn default_model(&self) -> &str {
        &self.model
    }

    fn capabilities(&self) -> ProviderCapabilities {
        self.capabilities.clone()
    }

    async fn stream(&self, request: CompletionRequest) -> Result<CompletionStream, ProviderError> {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(request);
        let queued = self
            .replies
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front();
        let Some(reply) = queued.or_else(|| self.repeat.clone()) else {
            return Err(ProviderError::Unavailable(format!(
                "mock provider {} has no reply left",
                self.name
            )));
        };
        if let Some(delay) = reply.start_delay {
            tokio::time::sleep(delay).await;
        }
        match reply.start {
            MockStart::Accept => {}
            MockStart::Fail(error) => return Err(error),
            MockStart::Hang => futures::future::pending::<()>().await,
        }
        Ok(play(reply.steps))
    }
}

fn play(steps: Vec<MockStep>) -> CompletionStream {
    futures::stream::unfold(Some(steps.into_iter()), |state| async move {
        let mut steps = state?;
        loop {
            match steps.next()? {
                MockStep::Delta(text) => {
                    return Some((Ok(CompletionChunk::Delta(text)), Some(steps)));
                }
                MockStep::Usage(usage) => {
                    return Some((Ok(CompletionChunk::Usage(usage)), Some(steps)));
                }
                MockStep::Finish(reason) => {
                    return Some((Ok(CompletionChunk::Finish(reason)), Some(steps)));
                }
                MockStep::Error(error) => return Some((Err(error), None)),
                MockStep::Delay(delay) => tokio::time::sleep(delay).await,
                MockStep::Hang => futures::future::pending::<()>().await,
            }
        }
    })
    .boxed()
}

impl MockReply {
    /// The reply that plays a conformance [`Script`] the way a well-behaved provider reports it
    /// (stalls become the timeout error after [`SUITE_TIMEOUT`]).
    pub fn from_script(script: &Script) -> Self {
        let with_deltas =
            |deltas: &[String]| deltas.iter().fold(Self::new(), |r, d| r.delta(d.clone()));
        match script {
            Script::Answer {
                deltas,
                usage,
                finish,
            } => with_deltas(deltas)
                .step(MockStep::Usage(*usage))
                .finish(finish.clone()),
            Script::Fail(failure) => Self::fail(failure_error(failure)),
            Script::FailAfter { deltas, failure } => {
                with_deltas(deltas).error(failure_error(failure))
            }
            Script::CutAfter { deltas } => with_deltas(deltas).error(ProviderError::Interrupted(
                "connection closed mid-stream".into(),
            )),
            Script::StallBeforeFirstToken => Self::fail(ProviderError::Timeout {
                phase: TimeoutPhase::FirstByte,
            })
            .start_delay(SUITE_TIMEOUT),
            Script::StallAfter { deltas } => {
                with_deltas(deltas)
                    .delay(SUITE_TIMEOUT)
                    .error(ProviderError::Timeout {
                        phase: TimeoutPhase::BetweenChunks,
                    })
            }
        }
    }
}

/// The error a provider reports for a conformance [`Failure`].
pub fn failure_error(failure: &Failure) -> ProviderError {
    let body = |msg: &str| format!(r#"{{"error":{{"message":"{msg}"}}}}"#);
    match failure {
        Failure::Auth => ProviderError::Auth {
            status: 401,
            body: body("invalid api key"),
        },
        Failure::ModelNotFound => ProviderError::ModelNotFound {
            status: 404,
            body: body("no such model"),
        },
        Failure::InvalidRequest => ProviderError::InvalidRequest {
            status: 400,
            body: body("bad request"),
        },
        Failure::ContextLength => ProviderError::ContextLengthExceeded {
            status: 400,
            body: body("maximum context length exceeded"),
        },
        Failure::RateLimited { retry_after } => ProviderError::RateLimited {
            status: 429,
            body: body("slow down"),
            retry_after: Some(*retry_after),
        },
        Failure::Server => ProviderError::Server {
            status: 500,
            body: body("server error"),
        },
    }
}

/// A [`ScriptedBackend`] made of a [`MockProvider`]: the conformance suite run against the
/// double itself, so the engine's tests can trust it behaves like the real clients.
#[derive(Debug, Clone)]
pub struct MockBackend {
    provider: Arc<MockProvider>,
}

impl MockBackend {
    /// A mock provider playing the scripts in order.
    pub async fn start(scripts: Vec<Script>) -> Self {
        let provider = scripts.iter().fold(MockProvider::new("mock"), |p, s| {
            p.reply(MockReply::from_script(s))
        });
        Self {
            provider: Arc::new(provider),
        }
    }
}

impl ScriptedBackend for MockBackend {
    fn provider(&self) -> Arc<dyn AiProvider> {
        self.provider.clone()
    }
    fn received(&self) -> Vec<SeenRequest> {
        self.provider
            .requests()
            .into_iter()
            .map(|r| {
                let model = r.model.unwrap_or_else(|| self.provider.model.clone());
                SeenRequest::new(model, r.system, r.messages, r.temperature, r.max_tokens)
            })
            .collect()
    }
}

/// A copy of a provider error (the `Backend` source becomes its message).
pub fn duplicate_error(error: &ProviderError) -> ProviderError {
    use ProviderError as E;
    match error {
        E::Auth { status, body } => E::Auth {
            status: *status,
            body: body.clone(),
        },
        E::ModelNotFound { status, body } => E::ModelNotFound {
            status: *status,
            body: body.clone(),
        },
        E::InvalidRequest { status, body } => E::InvalidRequest {
            status: *status,
            body: body.clone(),
        },
        E::ContextLengthExceeded { status, body } => E::ContextLengthExceeded {
            status: *status,
            body: body.clone(),
        },
        E::RateLimited {
            status,
            body,
            retry_after,
        } => E::RateLimited {
            status: *status,
            body: body.clone(),
            retry_after: *retry_after,
        },
        E::Server { status, body } => E::Server {
            status: *status,
            body: body.clone(),
        },
        E::Timeout { phase } => E::Timeout { phase: *phase },
        E::Connection(m) => E::Connection(m.clone()),
        E::Interrupted(m) => E::Interrupted(m.clone()),
        E::Protocol(m) => E::Protocol(m.clone()),
        E::Unavailable(m) => E::Unavailable(m.clone()),
        E::Backend(source) => E::Backend(source.to_string().into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;

    mod conformance {
        crate::provider_conformance_suite!(crate::testing::mock_provider::MockBackend::start);
    }

    #[tokio::test]
    async fn plays_the_queue_then_the_repeat_and_records_requests() {
        let mock = MockProvider::new("m")
            .reply(MockReply::answer(["a", "b"]))
            .reply(MockReply::fail(ProviderError::Auth {
                status: 401,
                body: "no".into(),
            }))
            .repeat(MockReply::answer(["r"]));
        let first: Vec<_> = mock
            .stream(CompletionRequest::new("s", vec![]))
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        assert_eq!(
            first,
            vec![
                CompletionChunk::Delta("a".into()),
                CompletionChunk::Delta("b".into()),
                CompletionChunk::Usage(TokenUsage::new(10, 2)),
                CompletionChunk::Finish(FinishReason::Stop),
            ]
        );
        assert!(matches!(
            mock.stream(CompletionRequest::new("t", vec![])).await,
            Err(ProviderError::Auth { .. })
        ));
        for _ in 0..2 {
            let again: Vec<_> = mock
                .stream(CompletionRequest::new("u", vec![]))
                .await
                .unwrap()
                .try_collect()
                .await
                .unwrap();
            assert_eq!(again[0], CompletionChunk::Delta("r".into()));
        }
        let systems: Vec<_> = mock.requests().into_iter().map(|r| r.system).collect();
        assert_eq!(systems, ["s", "t", "u", "u"]);
    }

    #[tokio::test]
    async fn an_error_step_ends_the_stream() {
        let mock = MockProvider::new("m").reply(
            MockReply::new()
                .delta("x")
                .error(ProviderError::Interrupted("cut".into()))
                .delta("never"),
        );
        let items: Vec<_> = mock
            .stream(CompletionRequest::new("s", vec![]))
            .await
            .unwrap()
            .collect()
            .await;
        assert_eq!(items.len(), 2);
        assert!(matches!(items[1], Err(ProviderError::Interrupted(_))));
    }

    #[tokio::test]
    async fn delays_and_hangs_follow_tokio_time() {
        let mock = MockProvider::new("m")
            .reply(MockReply::answer(["late"]).start_delay(Duration::from_millis(50)))
            .reply(MockReply::new().delta("x").hang())
            .reply(MockReply::hang_on_start());
        let started = tokio::time::Instant::now();
        let _ = mock
            .stream(CompletionRequest::new("s", vec![]))
            .await
            .unwrap();
        assert!(started.elapsed() >= Duration::from_millis(50));
        let mut s = mock
            .stream(CompletionRequest::new("s", vec![]))
            .await
            .unwrap();
        assert!(s.next().await.is_some());
        assert!(
            tokio::time::timeout(Duration::from_millis(100), s.next())
                .await
                .is_err(),
            "hangs"
        );
        let hung = tokio::time::timeout(
            Duration::from_millis(100),
            mock.stream(CompletionRequest::new("s", vec![])),
        );
        assert!(hung.await.is_err());
        assert!(matches!(
            mock.stream(CompletionRequest::new("s", vec![])).await,
            Err(ProviderError::Unavailable(_))
        ));
    }
}
