//! [`FailoverProvider`]: an [`AiProvider`] over an ordered chain of providers, with retries
//! (exponential backoff, full jitter, `Retry-After` honoured up to a cap), a circuit breaker per
//! provider, and failover to the next provider as long as no token has been produced.
//!
//! What the caller sees: `stream` returns once a provider produced its first token (or
//! finished with an empty answer); the stream first carries one [`CompletionChunk::Attempt`]
//! per failed call, then the answer, then the `Attempt` of the call that answered (which names
//! the provider, the model and the failover count) just before `Finish` or the `Err` that cut
//! the answer. After the first token an error ends the stream: the text so far is the caller's
//! to keep as an incomplete answer. When every provider fails, the stream carries the failed
//! attempts and then the last error, so usage is recorded for every call either way.

mod breaker;

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chat_core::model::UsageOutcome;
use chat_core::provider::{
    AiProvider, AttemptRecord, CompletionChunk, CompletionRequest, CompletionStream,
    ProviderCapabilities, ProviderError, TimeoutPhase,
};
use futures::StreamExt;
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

pub use breaker::BreakerState;
use breaker::{Breaker, Permit};

use crate::error::ConfigError;
use crate::http_settings::millis;

/// Retry, backoff and circuit-breaker settings of a [`FailoverProvider`].
///
/// | setting | default | what |
/// |---|---|---|
/// | `max_attempts_per_provider` | 2 | calls of one provider per answer (1: no retry) |
/// | `initial_backoff` | 200 ms | backoff before the first retry; doubles with each retry |
/// | `max_backoff` | 2 s | cap of one backoff (before jitter) |
/// | `max_retry_after` | 5 s | longest `Retry-After` honoured; a longer one moves on to the next provider at once |
/// | `failure_threshold` | 3 | consecutive failures that open a provider's circuit |
/// | `cool_down` | 30 s | how long a circuit stays open before a single half-open probe |
/// | `attempt_timeout` | 90 s | longest wait for one call's first token before it counts as a `Timeout(FirstByte)` failure and the chain moves on (guards against providers without their own timeouts; the HTTP clients' first-byte timeout, 60 s by default, fires first) |
/// | `jitter_seed` | none | fixed seed of the jitter (reproducible tests); none: random |
///
/// Full jitter: each wait is uniform in `0..=min(max_backoff, initial_backoff × 2^retry)`, and
/// at least the server's `Retry-After`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct FailoverConfig {
    /// Calls of one provider per answer.
    pub max_attempts_per_provider: u32,
    /// First backoff.
    #[serde(rename = "initial_backoff_ms", with = "millis")]
    pub initial_backoff: Duration,
    /// Backoff cap.
    #[serde(rename = "max_backoff_ms", with = "millis")]
    pub max_backoff: Duration,
    /// Longest `Retry-After` honoured.
    #[serde(rename = "max_retry_after_ms", with = "millis")]
    pub max_retry_after: Duration,
    /// Consecutive failures that open a circuit.
    pub failure_threshold: u32,
    /// Open time before a probe.
    #[serde(rename = "cool_down_ms", with = "millis")]
    pub cool_down: Duration,
    /// Longest wait for one call's first token.
    #[serde(rename = "attempt_timeout_ms", with = "millis")]
    pub attempt_timeout: Duration,
    /// Fixed jitter seed.
    pub jitter_seed: Option<u64>,
}

impl Default for FailoverConfig {
    fn default() -> Self {
        Self {
            max_attempts_per_provider: 2,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(2),
            max_retry_after: Duration::from_secs(5),
            failure_threshold: 3,
            cool_down: Duration::from_secs(30),
            attempt_timeout: Duration::from_secs(90),
            jitter_seed: None,
        }
    }
}

impl FailoverConfig {
    /// The defaults of the table above.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets the calls per provider per answer (at least 1).
    pub fn max_attempts_per_provider(mut self, attempts: u32) -> Self {
        self.max_attempts_per_provider = attempts.max(1);
        self
    }
    /// Sets the first backoff.
    pub fn initial_backoff(mut self, backoff: Duration) -> Self {
        self.initial_backoff = backoff;
        self
    }
    /// Sets the backoff cap.
    pub fn max_backoff(mut self, backoff: Duration) -> Self {
        self.max_backoff = backoff;
        self
    }
    /// Sets the longest `Retry-After` honoured.
    pub fn max_retry_after(mut self, wait: Duration) -> Self {
        self.max_retry_after = wait;
        self
    }
    /// Sets the consecutive failures that open a circuit (at least 1).
    pub fn failure_threshold(mut self, failures: u32) -> Self {
        self.failure_threshold = failures.max(1);
        self
    }
    /// Sets the open time before a probe.
    pub fn cool_down(mut self, cool_down: Duration) -> Self {
        self.cool_down = cool_down;
        self
    }
    /// Sets the longest wait for one call's first token.
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = timeout;
        self
    }
    /// Fixes the jitter seed.
    pub fn jitter_seed(mut self, seed: u64) -> Self {
        self.jitter_seed = Some(seed);
        self
    }
}

struct Entry {
    provider: Arc<dyn AiProvider>,
    breaker: Arc<Breaker>,
}

/// An ordered chain of providers answering as one.
pub struct FailoverProvider {
    name: String,
    entries: Vec<Entry>,
    config: FailoverConfig,
    capabilities: ProviderCapabilities,
    rng: Mutex<SmallRng>,
}

impl fmt::Debug for FailoverProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let chain: Vec<&str> = self.entries.iter().map(|e| e.provider.name()).collect();
        f.debug_struct("FailoverProvider")
            .field("name", &self.name)
            .field("chain", &chain)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl FailoverProvider {
    /// A chain tried in this order, with the default [`FailoverConfig`].
    ///
    /// Errors: [`ConfigError::Empty`] for an empty chain, [`ConfigError::DuplicateProvider`]
    /// when two providers share a name (chains in the settings name providers).
    pub fn new(chain: Vec<Arc<dyn AiProvider>>) -> Result<Self, ConfigError> {
        Self::with_config(chain, FailoverConfig::default())
    }

    /// A chain with its settings. Errors: as [`FailoverProvider::new`].
    pub fn with_config(
        chain: Vec<Arc<dyn AiProvider>>,
        config: FailoverConfig,
    ) -> Result<Self, ConfigError> {
        if chain.is_empty() {
            return Err(ConfigError::Empty("providers"));
        }
        for (i, p) in chain.iter().enumerate() {
            if chain[..i].iter().any(|q| q.name() == p.name()) {
                return Err(ConfigError::DuplicateProvider(p.name().to_owned()));
            }
        }
        let caps: Vec<ProviderCapabilities> = chain.iter().map(|p| p.capabilities()).collect();
        // A prompt must fit whichever provider ends up answering.
        let capabilities = ProviderCapabilities::new(
            caps.iter().map(|c| c.context_window).min().unwrap_or(0),
            caps.iter().map(|c| c.max_output_tokens).min().unwrap_or(0),
            caps.iter().all(|c| c.streaming),
            caps.iter().all(|c| c.offline),
        );
        let rng = match config.jitter_seed {
            Some(seed) => SmallRng::seed_from_u64(seed),
            None => SmallRng::seed_from_u64(rand::rng().random()),
        };
        let entries = chain
            .into_iter()
            .map(|provider| Entry {
                provider,
                breaker: Arc::new(Breaker::new(config.failure_threshold, config.cool_down)),
            })
            .collect();
        Ok(Self {
            name: "failover".to_owned(),
            entries,
            config,
            capabilities,
            rng: Mutex::new(rng),
        })
    }

    /// Sets the name this chain reports (default `failover`).
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The providers' names, in chain order.
    pub fn provider_names(&self) -> Vec<&str> {
        self.entries.iter().map(|e| e.provider.name()).collect()
    }

    /// The circuit state of the provider named `name`.
    pub fn breaker_state(&self, name: &str) -> Option<BreakerState> {
        self.entries
            .iter()
            .find(|e| e.provider.name() == name)
            .map(|e| e.breaker.state())
    }

    /// The entries to try: the request's named chain (unknown names skipped with a warning),
    /// or the whole configured chain.
    fn chain_for(&self, request: &CompletionRequest) -> Result<Vec<&Entry>, ProviderError> {
        if request.providers.is_empty() {
            return Ok(self.entries.iter().collect());
        }
        let mut chain: Vec<&Entry> = Vec::with_capacity(request.providers.len());
        for name in &request.providers {
            match self
                .entries
                .iter()
                .find(|e| e.provider.name() == name.as_str())
            {
                Some(entry) if !chain.iter().any(|c| std::ptr::eq(*c, entry)) => chain.push(entry),
                Some(_) => {}
                None => {
                    tracing::warn!(provider = %name, "provider chain names an unknown provider; skipped")
                }
            }
        }
        if chain.is_empty() {
            return Err(ProviderError::Unavailable(format!(
                "none of the providers {:?} is configured (configured: {:?})",
                request.providers,
                self.provider_names()
            )));
        }
        Ok(chain)
    }

    /// The wait before retry number `retry` (1-based) after `error`, or `None` when the
    /// server asks for longer than `max_retry_after` (better to move on).
    fn retry_wait(&self, retry: u32, error: &ProviderError) -> Option<Duration> {
        let exp = self
            .config
            .initial_backoff
            .saturating_mul(2u32.saturating_pow(retry.saturating_sub(1)));
        let ceiling = exp.min(self.config.max_backoff);
        let jitter = {
            let mut rng = self.rng.lock().unwrap_or_else(PoisonError::into_inner);
            let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
            Duration::from_nanos(rng.random_range(0..=nanos))
        };
        match error.retry_after() {
            Some(wait) if wait > self.config.max_retry_after => None,
            Some(wait) => Some(jitter.max(wait)),
            None => Some(jitter),
        }
    }
}

/// An attempt that produced its first token (or an empty, finished answer).
struct Started {
    head: VecDeque<Result<CompletionChunk, ProviderError>>,
    rest: CompletionStream,
    ttft: Option<Duration>,
}

/// Calls `provider` and reads until the first token: an error before it is the attempt's.
async fn start(
    provider: &dyn AiProvider,
    request: CompletionRequest,
    started: Instant,
) -> Result<Started, ProviderError> {
    let mut stream = provider.stream(request).await?;
    let mut head = VecDeque::new();
    loop {
        match stream.next().await {
            Some(Ok(CompletionChunk::Delta(text))) if text.is_empty() => {}
            Some(Ok(CompletionChunk::Delta(text))) => {
                head.push_back(Ok(CompletionChunk::Delta(text)));
                return Ok(Started {
                    head,
                    rest: stream,
                    ttft: Some(started.elapsed()),
                });
            }
            Some(Ok(CompletionChunk::Finish(reason))) => {
                head.push_back(Ok(CompletionChunk::Finish(reason)));
                return Ok(Started {
                    head,
                    rest: stream,
                    ttft: None,
                });
            }
            Some(Ok(other)) => head.push_back(Ok(other)),
            Some(Err(error)) => return Err(error),
            None => {
                return Err(ProviderError::Interrupted(
                    "stream ended before any answer".into(),
                ));
            }
        }
    }
}

/// True when a failure says something about the provider (not about the request, which no
/// provider would accept).
fn blames_provider(error: &ProviderError) -> bool {
    error.allows_failover()
}

#[async_trait]
impl AiProvider for FailoverProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn default_model(&self) -> &str {
        self.entries
            .first()
            .map_or("", |e| e.provider.default_model())
    }

    fn capabilities(&self) -> ProviderCapabilities {
        self.capabilities.clone()
    }

    async fn stream(&self, request: CompletionRequest) -> Result<CompletionStream, ProviderError> {
        let chain = self.chain_for(&request)?;
        let mut records: Vec<AttemptRecord> = Vec::new();
        let mut failovers = 0u32;
        let mut last_error: Option<ProviderError> = None;

        for (position, entry) in chain.iter().enumerate() {
            let provider = entry.provider.as_ref();
            let mut tried = false;
            for retry in 0..self.config.max_attempts_per_provider {
                let Some(permit) = entry.breaker.try_acquire() else {
                    tracing::debug!(provider = provider.name(), "circuit open; skipped");
                    if last_error.is_none() {
                        last_error = Some(ProviderError::Unavailable(format!(
                            "circuit open for provider {}",
                            provider.name()
                        )));
                    }
                    break;
                };
                tried = true;
                let mut attempt_request = request.clone();
                attempt_request.providers.clear();
                if position > 0 {
                    // The requested model names the first provider's model.
                    attempt_request.model = None;
                }
                let mut record = AttemptRecord::new(
                    provider.name(),
                    attempt_request
                        .model
                        .clone()
                        .unwrap_or_else(|| provider.default_model().to_owned()),
                );
                record.attempt = u32::try_from(records.len())
                    .unwrap_or(u32::MAX)
                    .saturating_add(1);
                record.failover_index = failovers;
                record.offline = provider.capabilities().offline;
                let started = Instant::now();
                let attempt = start(provider, attempt_request, started);
                let outcome = match tokio::time::timeout(self.config.attempt_timeout, attempt).await
                {
                    Ok(outcome) => outcome,
                    Err(_) => Err(ProviderError::Timeout {
                        phase: TimeoutPhase::FirstByte,
                    }),
                };
                match outcome {
                    Ok(head) => {
                        // The breaker learns the outcome when the answer ends (a cut counts).
                        record.ttft = head.ttft;
                        if failovers > 0 || retry > 0 {
                            tracing::info!(
                                provider = provider.name(),
                                failovers,
                                retries = retry,
                                "answered after failures"
                            );
                        }
                        let front = records
                            .into_iter()
                            .map(|r| Ok(CompletionChunk::Attempt(r)))
                            .collect();
                        return Ok(Live::stream(front, head, record, started, permit));
                    }
                    Err(error) => {
                        record.latency = started.elapsed();
                        record.outcome = UsageOutcome::Error;
                        record.error_kind = Some(error.kind_name().to_owned());
                        record.status = error.status();
                        records.push(record);
                        tracing::warn!(
                            provider = provider.name(),
                            kind = error.kind_name(),
                            status = error.status(),
                            "provider call failed"
                        );
                        if blames_provider(&error) {
                            permit.failure()
                        } else {
                            permit.neutral()
                        }
                        if !error.allows_failover() {
                            return Ok(failed(records, error));
                        }
                        let wait = (error.is_retryable()
                            && retry + 1 < self.config.max_attempts_per_provider)
                            .then(|| self.retry_wait(retry + 1, &error))
                            .flatten();
                        last_error = Some(error);
                        match wait {
                            Some(wait) => tokio::time::sleep(wait).await,
                            None => break,
                        }
                    }
                }
            }
            if tried {
                failovers = failovers.saturating_add(1);
            }
        }
        let error = last_error
            .unwrap_or_else(|| ProviderError::Unavailable("no provider could be called".into()));
        Ok(failed(records, error))
    }
}

/// The stream of an answer nobody gave: the failed attempts, then the error.
fn failed(records: Vec<AttemptRecord>, error: ProviderError) -> CompletionStream {
    let items: Vec<Result<CompletionChunk, ProviderError>> = records
        .into_iter()
        .map(|r| Ok(CompletionChunk::Attempt(r)))
        .chain(std::iter::once(Err(error)))
        .collect();
    futures::stream::iter(items).boxed()
}

/// The answering provider's stream, with its attempt record kept up to date.
struct Live {
    out: VecDeque<Result<CompletionChunk, ProviderError>>,
    head: VecDeque<Result<CompletionChunk, ProviderError>>,
    rest: Option<CompletionStream>,
    record: AttemptRecord,
    started: Instant,
    /// Reported when the answer ends; dropped unreported when the caller stops reading.
    permit: Option<Permit>,
}

impl Live {
    fn stream(
        out: VecDeque<Result<CompletionChunk, ProviderError>>,
        started_attempt: Started,
        record: AttemptRecord,
        started: Instant,
        permit: Permit,
    ) -> CompletionStream {
        let live = Self {
            out,
            head: started_attempt.head,
            rest: Some(started_attempt.rest),
            record,
            started,
            permit: Some(permit),
        };
        futures::stream::unfold(live, |mut live| async move {
            loop {
                if let Some(item) = live.out.pop_front() {
                    return Some((item, live));
                }
                let item = match live.head.pop_front() {
                    Some(item) => Some(item),
                    None => live.rest.as_mut()?.next().await,
                };
                live.process(item);
            }
        })
        .boxed()
    }

    /// Queues what the caller sees for one item of the provider's stream.
    fn process(&mut self, item: Option<Result<CompletionChunk, ProviderError>>) {
        match item {
            Some(Ok(CompletionChunk::Delta(text))) => {
                if self.record.ttft.is_none() && !text.is_empty() {
                    self.record.ttft = Some(self.started.elapsed());
                }
                self.out.push_back(Ok(CompletionChunk::Delta(text)));
            }
            Some(Ok(CompletionChunk::Usage(usage))) => {
                self.record.usage = Some(usage);
                self.out.push_back(Ok(CompletionChunk::Usage(usage)));
            }
            Some(Ok(CompletionChunk::Finish(reason))) => {
                if let Some(permit) = self.permit.take() {
                    permit.success();
                }
                self.end(None);
                self.out.push_back(Ok(CompletionChunk::Finish(reason)));
            }
            Some(Ok(other)) => self.out.push_back(Ok(other)),
            Some(Err(error)) => {
                self.blame(&error);
                self.end(Some(&error));
                self.out.push_back(Err(error));
            }
            None => {
                let error = ProviderError::Interrupted("stream ended without a finish".into());
                self.blame(&error);
                self.end(Some(&error));
                self.out.push_back(Err(error));
            }
        }
    }

    fn blame(&mut self, error: &ProviderError) {
        if let Some(permit) = self.permit.take() {
            if blames_provider(error) {
                permit.failure();
            } else {
                permit.neutral();
            }
        }
    }

    /// Closes the record (queued before the final item) and stops reading.
    fn end(&mut self, error: Option<&ProviderError>) {
        self.rest = None;
        self.head.clear();
        let mut record = self.record.clone();
        record.latency = self.started.elapsed();
        if let Some(error) = error {
            record.outcome = if record.ttft.is_some() {
                UsageOutcome::Incomplete
            } else {
                UsageOutcome::Error
            };
            record.error_kind = Some(error.kind_name().to_owned());
            record.status = error.status();
        }
        self.out.push_back(Ok(CompletionChunk::Attempt(record)));
    }
}
