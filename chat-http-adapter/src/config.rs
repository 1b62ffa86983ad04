//! [`AdapterConfig`]: the authenticator, every limit of the adapter, and the metrics and
//! shutdown handles the host shares with it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::auth::Authenticator;
use crate::metrics::Metrics;
use crate::shutdown::Shutdown;

/// A token-bucket rate: `per_second` on average, bursts up to `burst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateLimit {
    /// Sustained rate (tokens added per second).
    pub per_second: u32,
    /// Bucket size (most calls at once after a quiet period).
    pub burst: u32,
}

impl RateLimit {
    /// A rate of `per_second` with bursts of `burst` (both at least 1).
    pub fn new(per_second: u32, burst: u32) -> Self {
        Self {
            per_second: per_second.max(1),
            burst: burst.max(1),
        }
    }
}

/// Settings of the adapter. Build with [`AdapterConfig::new`] and the setters.
///
/// | setting | default | what |
/// |---|---|---|
/// | `max_json_body_bytes` | 64 KiB | largest JSON request body (413 above) |
/// | `max_upload_bytes` | 25 MiB | largest uploaded file (413 above, checked while streaming) |
/// | `rest_rate_limit` | 20/s, burst 60 | REST calls per principal (429 with `Retry-After` above) |
/// | `rest_rate_limit_max_keys` | 100,000 | principals tracked by the REST limiter at once |
/// | `ws_max_frame_bytes` | 32 KiB | largest WebSocket text frame handled; larger ones get an `error` frame `too_large` |
/// | `ws_max_message_bytes` | 1 MiB | largest frame the WebSocket codec reads at all; above it the connection is closed (1009) |
/// | `ws_read_buffer_bytes` | 4 KiB | WebSocket read buffer per connection (keeps idle connections cheap) |
/// | `ws_write_buffer_bytes` | 4 KiB | WebSocket write buffer target per connection |
/// | `ws_rate_limit` | 10/s, burst 30 | client frames per connection; over it: `error` frame `rate_limited`, frame dropped |
/// | `ws_queue_capacity` | 256 | outgoing frames queued per connection |
/// | `ws_stall_timeout` | 5 s | how long the outgoing queue may stay full before the client is cut off as a slow consumer (see [`crate::ws`]) |
/// | `ws_max_sessions` | 16 | sessions joined at once per WebSocket connection |
/// | `ws_ping_interval` | 25 s | how often the server pings a WebSocket client |
/// | `ws_idle_timeout` | 60 s | a WebSocket connection with no incoming traffic (frames or pongs) this long is closed (1001) |
/// | `write_timeout` | 10 s | longest wait for one write to a client before the connection is dropped |
/// | `sse_keep_alive` | 15 s | interval of SSE keep-alive comments |
#[derive(Clone)]
#[non_exhaustive]
pub struct AdapterConfig {
    pub(crate) authenticator: Arc<dyn Authenticator>,
    pub(crate) metrics: Metrics,
    pub(crate) shutdown: Shutdown,
    /// Largest JSON request body in bytes.
    pub max_json_body_bytes: usize,
    /// Largest uploaded file in bytes.
    pub max_upload_bytes: u64,
    /// REST calls per principal.
    pub rest_rate_limit: RateLimit,
    /// Principals tracked by the REST limiter at once.
    pub rest_rate_limit_max_keys: usize,
    /// Largest WebSocket text frame handled, in bytes.
    pub ws_max_frame_bytes: usize,
    /// Largest WebSocket message read at all, in bytes.
    pub ws_max_message_bytes: usize,
    /// WebSocket read buffer per connection, in bytes.
    pub ws_read_buffer_bytes: usize,
    /// WebSocket write buffer target per connection, in bytes.
    pub ws_write_buffer_bytes: usize,
    /// Client frames per WebSocket connection.
    pub ws_rate_limit: RateLimit,
    /// Outgoing frames queued per connection.
    pub ws_queue_capacity: usize,
    /// How long the outgoing queue may stay full before the client is cut off.
    pub ws_stall_timeout: Duration,
    /// Sessions joined at once per connection.
    pub ws_max_sessions: usize,
    /// Interval of server pings.
    pub ws_ping_interval: Duration,
    /// Close a connection without incoming traffic for this long.
    pub ws_idle_timeout: Duration,
    /// Longest wait for one write to a client.
    pub write_timeout: Duration,
    /// Interval of SSE keep-alive comments.
    pub sse_keep_alive: Duration,
}

impl fmt::Debug for AdapterConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdapterConfig")
            .field("authenticator", &self.authenticator)
            .field("max_json_body_bytes", &self.max_json_body_bytes)
            .field("max_upload_bytes", &self.max_upload_bytes)
            .field("rest_rate_limit", &self.rest_rate_limit)
            .field("rest_rate_limit_max_keys", &self.rest_rate_limit_max_keys)
            .field("ws_max_frame_bytes", &self.ws_max_frame_bytes)
            .field("ws_max_message_bytes", &self.ws_max_message_bytes)
            .field("ws_read_buffer_bytes", &self.ws_read_buffer_bytes)
            .field("ws_write_buffer_bytes", &self.ws_write_buffer_bytes)
            .field("ws_rate_limit", &self.ws_rate_limit)
            .field("ws_queue_capacity", &self.ws_queue_capacity)
            .field("ws_stall_timeout", &self.ws_stall_timeout)
            .field("ws_max_sessions", &self.ws_max_sessions)
            .field("ws_ping_interval", &self.ws_ping_interval)
            .field("ws_idle_timeout", &self.ws_idle_timeout)
            .field("write_timeout", &self.write_timeout)
            .field("sse_keep_alive", &self.sse_keep_alive)
            .finish_non_exhaustive()
    }
}

impl AdapterConfig {
    /// The defaults of the table above, authenticating with `authenticator`.
    pub fn new(authenticator: Arc<dyn Authenticator>) -> Self {
        Self {
            authenticator,
            metrics: Metrics::new(),
            shutdown: Shutdown::new(),
            max_json_body_bytes: 64 * 1024,
            max_upload_bytes: 25 * 1024 * 1024,
            rest_rate_limit: RateLimit::new(20, 60),
            rest_rate_limit_max_keys: 100_000,
            ws_max_frame_bytes: 32 * 1024,
            ws_max_message_bytes: 1024 * 1024,
            ws_read_buffer_bytes: 4 * 1024,
            ws_write_buffer_bytes: 4 * 1024,
            ws_rate_limit: RateLimit::new(10, 30),
            ws_queue_capacity: 256,
            ws_stall_timeout: Duration::from_secs(5),
            ws_max_sessions: 16,
            ws_ping_interval: Duration::from_secs(25),
            ws_idle_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(10),
            sse_keep_alive: Duration::from_secs(15),
        }
    }

    /// The authenticator.
    pub fn authenticator(&self) -> &Arc<dyn Authenticator> {
        &self.authenticator
    }
    /// The metrics handle (shared with the router built from this config).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }
    /// The shutdown handle (shared with the router built from this config).
    pub fn shutdown(&self) -> &Shutdown {
        &self.shutdown
    }

    /// Uses this metrics registry (for example one the host also feeds, or one given to
    /// [`Metrics::instrument`] before the engine was built).
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }
    /// Uses this shutdown handle.
    pub fn with_shutdown(mut self, shutdown: Shutdown) -> Self {
        self.shutdown = shutdown;
        self
    }
    /// Sets the largest JSON body (at least 1 KiB).
    pub fn max_json_body_bytes(mut self, bytes: usize) -> Self {
        self.max_json_body_bytes = bytes.max(1024);
        self
    }
    /// Sets the largest upload.
    pub fn max_upload_bytes(mut self, bytes: u64) -> Self {
        self.max_upload_bytes = bytes.max(1);
        self
    }
    /// Sets the REST rate per principal.
    pub fn rest_rate_limit(mut self, limit: RateLimit) -> Self {
        self.rest_rate_limit = limit;
        self
    }
    /// Sets how many principals the REST limiter tracks.
    pub fn rest_rate_limit_max_keys(mut self, keys: usize) -> Self {
        self.rest_rate_limit_max_keys = keys.max(1);
        self
    }
    /// Sets the largest WebSocket text frame handled (at least 1 KiB). The codec limit
    /// `ws_max_message_bytes` is raised to it when lower.
    pub fn ws_max_frame_bytes(mut self, bytes: usize) -> Self {
        self.ws_max_frame_bytes = bytes.max(1024);
        self.ws_max_message_bytes = self.ws_max_message_bytes.max(self.ws_max_frame_bytes);
        self
    }
    /// Sets the largest WebSocket message read at all (at least `ws_max_frame_bytes`).
    pub fn ws_max_message_bytes(mut self, bytes: usize) -> Self {
        self.ws_max_message_bytes = bytes.max(self.ws_max_frame_bytes);
        self
    }
    /// Sets the WebSocket read buffer (at least 512 bytes).
    pub fn ws_read_buffer_bytes(mut self, bytes: usize) -> Self {
        self.ws_read_buffer_bytes = bytes.max(512);
        self
    }
    /// Sets the WebSocket write buffer target (0 writes every frame at once).
    pub fn ws_write_buffer_bytes(mut self, bytes: usize) -> Self {
        self.ws_write_buffer_bytes = bytes;
        self
    }
    /// Sets the frame rate per WebSocket connection.
    pub fn ws_rate_limit(mut self, limit: RateLimit) -> Self {
        self.ws_rate_limit = limit;
        self
    }
    /// Sets the outgoing queue per connection (at least 8).
    pub fn ws_queue_capacity(mut self, frames: usize) -> Self {
        self.ws_queue_capacity = frames.max(8);
        self
    }
    /// Sets how long the outgoing queue may stay full (at least 10 ms).
    pub fn ws_stall_timeout(mut self, timeout: Duration) -> Self {
        self.ws_stall_timeout = timeout.max(Duration::from_millis(10));
        self
    }
    /// Sets how many sessions one connection may join (at least 1).
    pub fn ws_max_sessions(mut self, sessions: usize) -> Self {
        self.ws_max_sessions = sessions.max(1);
        self
    }
    /// Sets the ping interval (at least 100 ms).
    pub fn ws_ping_interval(mut self, interval: Duration) -> Self {
        self.ws_ping_interval = interval.max(Duration::from_millis(100));
        self
    }
    /// Sets the idle timeout (at least 100 ms).
    pub fn ws_idle_timeout(mut self, timeout: Duration) -> Self {
        self.ws_idle_timeout = timeout.max(Duration::from_millis(100));
        self
    }
    /// Sets the write timeout (at least 100 ms).
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.write_timeout = timeout.max(Duration::from_millis(100));
        self
    }
    /// Sets the SSE keep-alive interval (at least 100 ms).
    pub fn sse_keep_alive(mut self, interval: Duration) -> Self {
        self.sse_keep_alive = interval.max(Duration::from_millis(100));
        self
    }
}
