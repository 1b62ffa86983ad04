//! Prometheus metrics served at `/metrics` (OpenMetrics text, which Prometheus scrapes as is),
//! encoded by the prometheus-client crate.
//!
//! | metric | labels | what |
//! |---|---|---|
//! | `chat_http_requests_total` | method, route, status | HTTP responses |
//! | `chat_http_request_duration_seconds` | method, route | time to the response head |
//! | `chat_connections` | transport (`ws`, `sse`, `socketio`) | open streaming connections |
//! | `chat_connections_opened_total` | transport | streaming connections accepted |
//! | `chat_messages_posted_total` | transport (`rest`, `ws`, `socketio`), outcome (`created`, `retry`) | messages posted |
//! | `chat_events_sent_total` | transport | events sent to clients |
//! | `chat_stream_errors_total` | transport, code | error frames and forced closes (`rate_limited`, `too_large`, `slow_consumer`, ...) |
//! | `chat_ai_answer_duration_seconds` | provider | AI calls, request to end of stream |
//! | `chat_ai_first_token_seconds` | provider | AI calls, request to first text |
//! | `chat_ai_calls_total` | provider, outcome (`ok` or the error kind) | AI calls by outcome |
//!
//! The AI metrics are fed by [`Metrics::instrument`] (wrap the engine's provider with it) or by
//! the host through [`Metrics::observe_ai_call`].

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chat_core::provider::{
    AiProvider, CompletionChunk, CompletionRequest, CompletionStream, ProviderCapabilities,
    ProviderError,
};
use futures::Stream;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Which streaming transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Transport {
    Rest,
    Ws,
    Sse,
    #[cfg_attr(not(feature = "socketio"), allow(dead_code))]
    SocketIo,
}

impl Transport {
    fn as_str(self) -> &'static str {
        match self {
            Self::Rest => "rest",
            Self::Ws => "ws",
            Self::Sse => "sse",
            Self::SocketIo => "socketio",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct HttpLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct TransportLabels {
    transport: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct MessageLabels {
    transport: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ErrorLabels {
    transport: &'static str,
    code: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ProviderLabels {
    provider: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OutcomeLabels {
    provider: String,
    outcome: String,
}

/// Histogram buckets from `start` seconds, doubling `count` times.
#[derive(Debug, Clone, Copy)]
struct Buckets {
    start: f64,
    count: u16,
}

impl MetricConstructor<Histogram> for Buckets {
    fn new_metric(&self) -> Histogram {
        Histogram::new(exponential_buckets(self.start, 2.0, self.count))
    }
}

struct Inner {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: Family<RouteLabels, Histogram, Buckets>,
    connections: Family<TransportLabels, Gauge>,
    connections_opened: Family<TransportLabels, Counter>,
    messages: Family<MessageLabels, Counter>,
    events: Family<TransportLabels, Counter>,
    stream_errors: Family<ErrorLabels, Counter>,
    ai_duration: Family<ProviderLabels, Histogram, Buckets>,
    ai_first_token: Family<ProviderLabels, Histogram, Buckets>,
    ai_calls: Family<OutcomeLabels, Counter>,
}

/// The adapter's metrics registry. Cheap to clone; clones share the counters.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// An empty registry with every metric of the table above.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("chat");
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register("http_requests", "HTTP responses", http_requests.clone());
        // 1 ms .. ~16 s.
        let http_duration = Family::new_with_constructor(Buckets {
            start: 0.001,
            count: 15,
        });
        registry.register(
            "http_request_duration_seconds",
            "Time to the response head",
            http_duration.clone(),
        );
        let connections = Family::<TransportLabels, Gauge>::default();
        registry.register(
            "connections",
            "Open streaming connections",
            connections.clone(),
        );
        let connections_opened = Family::<TransportLabels, Counter>::default();
        registry.register(
            "connections_opened",
            "Streaming connections accepted",
            connections_opened.clone(),
        );
        let messages = Family::<MessageLabels, Counter>::default();
        registry.register("messages_posted", "Messages posted", messages.clone());
        let events = Family::<TransportLabels, Counter>::default();
        registry.register("events_sent", "Events sent to clients", events.clone());
        let stream_errors = Family::<ErrorLabels, Counter>::default();
        registry.register(
            "stream_errors",
            "Error frames and forced closes on streaming connections",
            stream_errors.clone(),
        );
        // 10 ms .. ~160 s.
        let ai_duration = Family::new_with_constructor(Buckets {
            start: 0.01,
            count: 15,
        });
        registry.register(
            "ai_answer_duration_seconds",
            "AI calls, request to end of stream",
            ai_duration.clone(),
        );
        // 1 ms .. ~32 s.
        let ai_first_token = Family::new_with_constructor(Buckets {
            start: 0.001,
            count: 16,
        });
        registry.register(
            "ai_first_token_seconds",
            "AI calls, request to first text",
            ai_first_token.clone(),
        );
        let ai_calls = Family::<OutcomeLabels, Counter>::default();
        registry.register("ai_calls", "AI calls by outcome", ai_calls.clone());
        Self {
            inner: Arc::new(Inner {
                registry,
                http_requests,
                http_duration,
                connections,
                connections_opened,
                messages,
                events,
                stream_errors,
                ai_duration,
                ai_first_token,
                ai_calls,
            }),
        }
    }

    /// The metrics in OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        if prometheus_client::encoding::text::encode(&mut out, &self.inner.registry).is_err() {
            out.clear();
        }
        out
    }

    /// Records one AI call: its total duration, its time to first text when it produced any,
    /// and its outcome (`None` for success, else a short error kind such as `timeout`).
    pub fn observe_ai_call(
        &self,
        provider: &str,
        duration: Duration,
        first_token: Option<Duration>,
        error: Option<&str>,
    ) {
        let labels = ProviderLabels {
            provider: provider.to_owned(),
        };
        self.inner
            .ai_duration
            .get_or_create(&labels)
            .observe(duration.as_secs_f64());
        if let Some(first) = first_token {
            self.inner
                .ai_first_token
                .get_or_create(&labels)
                .observe(first.as_secs_f64());
        }
        self.inner
            .ai_calls
            .get_or_create(&OutcomeLabels {
                provider: labels.provider,
                outcome: error.unwrap_or("ok").to_owned(),
            })
            .inc();
    }

    /// Wraps a provider so that every call it makes is recorded with
    /// [`Metrics::observe_ai_call`]. Give the wrapped provider to the engine builder.
    pub fn instrument(&self, provider: Arc<dyn AiProvider>) -> Arc<dyn AiProvider> {
        Arc::new(InstrumentedProvider {
            inner: provider,
            metrics: self.clone(),
        })
    }

    pub(crate) fn observe_http(&self, method: &str, route: &str, status: u16, took: Duration) {
        self.inner
            .http_requests
            .get_or_create(&HttpLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .inc();
        self.inner
            .http_duration
            .get_or_create(&RouteLabels {
                method: method.to_owned(),
                route: route.to_owned(),
            })
            .observe(took.as_secs_f64());
    }

    /// Counts an open connection until the guard is dropped.
    pub(crate) fn connection(&self, transport: Transport) -> ConnectionGuard {
        let labels = TransportLabels {
            transport: transport.as_str(),
        };
        self.inner.connections_opened.get_or_create(&labels).inc();
        self.inner.connections.get_or_create(&labels).inc();
        ConnectionGuard {
            metrics: self.clone(),
            labels,
        }
    }

    pub(crate) fn message_posted(&self, transport: Transport, created: bool) {
        self.inner
            .messages
            .get_or_create(&MessageLabels {
                transport: transport.as_str(),
                outcome: if created { "created" } else { "retry" },
            })
            .inc();
    }

    pub(crate) fn event_sent(&self, transport: Transport) {
        self.inner
            .events
            .get_or_create(&TransportLabels {
                transport: transport.as_str(),
            })
            .inc();
    }

    pub(crate) fn stream_error(&self, transport: Transport, code: &'static str) {
        self.inner
            .stream_errors
            .get_or_create(&ErrorLabels {
                transport: transport.as_str(),
                code,
            })
            .inc();
    }
}

/// Decrements the open-connections gauge when dropped.
pub(crate) struct ConnectionGuard {
    metrics: Metrics,
    labels: TransportLabels,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.metrics
            .inner
            .connections
            .get_or_create(&self.labels)
            .dec();
    }
}

/// A provider that records its calls in [`Metrics`].
#[derive(Debug)]
struct InstrumentedProvider {
    inner: Arc<dyn AiProvider>,
    metrics: Metrics,
}

#[async_trait]
impl AiProvider for InstrumentedProvider {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn default_model(&self) -> &str {
        self.inner.default_model()
    }

    fn capabilities(&self) -> ProviderCapabilities {
        self.inner.capabilities()
    }

    async fn stream(&self, request: CompletionRequest) -> Result<CompletionStream, ProviderError> {
        let started = Instant::now();
        match self.inner.stream(request).await {
            Ok(stream) => Ok(Box::pin(MeteredStream {
                inner: stream,
                metrics: self.metrics.clone(),
                provider: self.inner.name().to_owned(),
                started,
                first_token: None,
                error: None,
                recorded: false,
            })),
            Err(err) => {
                self.metrics.observe_ai_call(
                    self.inner.name(),
                    started.elapsed(),
                    None,
                    Some(err.kind_name()),
                );
                Err(err)
            }
        }
    }
}

/// Forwards a completion stream, noting the first text and the first error; records the call
/// when the stream ends or is dropped (an answer cut short by the engine still counts).
struct MeteredStream {
    inner: CompletionStream,
    metrics: Metrics,
    provider: String,
    started: Instant,
    first_token: Option<Duration>,
    error: Option<&'static str>,
    recorded: bool,
}

impl MeteredStream {
    fn record(&mut self) {
        if !self.recorded {
            self.recorded = true;
            self.metrics.observe_ai_call(
                &self.provider,
                self.started.elapsed(),
                self.first_token,
                self.error,
            );
        }
    }
}

impl Stream for MeteredStream {
    type Item = Result<CompletionChunk, ProviderError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.inner.as_mut().poll_next(cx);
        match &polled {
            Poll::Ready(Some(Ok(CompletionChunk::Delta(_)))) if self.first_token.is_none() => {
                self.first_token = Some(self.started.elapsed());
            }
            Poll::Ready(Some(Err(err))) if self.error.is_none() => {
                self.error = Some(err.kind_name());
            }
            Poll::Ready(None) => self.record(),
            _ => {}
        }
        polled
    }
}

impl Drop for MeteredStream {
    fn drop(&mut self) {
        self.record();
    }
}
