//! Graceful shutdown: stop taking work, let in-flight commits finish, and tell streaming
//! clients to reconnect (to another node, or to this one after the restart).
//!
//! When [`Shutdown::trigger`] runs: WebSocket connections finish the frame they are handling
//! (a `send` in progress is committed and acknowledged), then get a close frame 1012
//! "service restart"; SSE streams end (the browser's EventSource reconnects with
//! `Last-Event-ID`); Socket.IO clients are disconnected (they reconnect by themselves);
//! `/healthz` answers 503 so load balancers stop routing here. Every client resumes from the
//! last `seq` it saw, so nothing is lost.
//!
//! ```no_run
//! # async fn run(
//! #     app: axum::Router,
//! #     shutdown: chat_http_adapter::Shutdown,
//! #     stop: tokio::sync::oneshot::Receiver<()>,
//! # ) -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! // Any future: tokio::signal::ctrl_c, a SIGTERM handler, a channel...
//! let signal = async move { let _ = stop.await; };
//! shutdown.serve(listener, app, signal).await
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

/// Default time [`Shutdown::serve`] waits for streaming connections to close.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The WebSocket close code that tells a client to reconnect (RFC 6455 registry: "Service
/// Restart").
pub const CLOSE_SERVICE_RESTART: u16 = 1012;

struct Inner {
    triggered: watch::Sender<bool>,
    open: watch::Sender<usize>,
    grace: Duration,
}

/// A shutdown signal shared by the host and the adapter. Cheap to clone.
#[derive(Clone)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

impl fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shutdown")
            .field("triggered", &self.is_triggered())
            .field("open_connections", &self.open_connections())
            .field("grace", &self.inner.grace)
            .finish()
    }
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    /// A signal not yet triggered, with the [`DEFAULT_SHUTDOWN_GRACE`].
    pub fn new() -> Self {
        Self::with_grace(DEFAULT_SHUTDOWN_GRACE)
    }

    /// A signal whose [`Shutdown::serve`] waits `grace` for streaming connections to close.
    pub fn with_grace(grace: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                triggered: watch::Sender::new(false),
                open: watch::Sender::new(0),
                grace,
            }),
        }
    }

    /// Starts the shutdown. Idempotent.
    pub fn trigger(&self) {
        self.inner.triggered.send_replace(true);
    }

    /// True once triggered.
    pub fn is_triggered(&self) -> bool {
        *self.inner.triggered.borrow()
    }

    /// Resolves when the shutdown is triggered.
    pub async fn triggered(&self) {
        let mut rx = self.inner.triggered.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = rx.wait_for(|t| *t).await;
    }

    /// Waits for `signal`, then triggers. Give this to
    /// `axum::serve(..).with_graceful_shutdown(..)`.
    pub async fn on_signal(self, signal: impl Future<Output = ()>) {
        tokio::select! {
            () = signal => self.trigger(),
            () = self.triggered() => {}
        }
    }

    /// Streaming connections (WebSocket, SSE, Socket.IO) open now.
    pub fn open_connections(&self) -> usize {
        *self.inner.open.borrow()
    }

    /// Waits until every streaming connection has closed, at most `timeout`. Returns true when
    /// all closed in time.
    pub async fn drain(&self, timeout: Duration) -> bool {
        let mut rx = self.inner.open.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|n| *n == 0))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Serves `app` on `listener` until `signal`, then shuts down gracefully: stops accepting,
    /// finishes in-flight requests, closes streaming connections with "reconnect", and waits
    /// for them up to the grace period.
    ///
    /// Errors: the listener's I/O errors.
    pub async fn serve(
        &self,
        listener: tokio::net::TcpListener,
        app: axum::Router,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(listener, app)
            .with_graceful_shutdown(self.clone().on_signal(signal))
            .await?;
        if !self.drain(self.inner.grace).await {
            tracing::warn!(
                open = self.open_connections(),
                "streaming connections still open after the shutdown grace period"
            );
        }
        Ok(())
    }

    /// A receiver of the trigger, for loops that wait on it repeatedly.
    pub(crate) fn subscribe(&self) -> watch::Receiver<bool> {
        self.inner.triggered.subscribe()
    }

    /// Counts a streaming connection until the ticket is dropped.
    pub(crate) fn ticket(&self) -> Ticket {
        self.inner.open.send_modify(|n| *n += 1);
        Ticket {
            shutdown: self.clone(),
        }
    }
}

/// One open streaming connection.
pub(crate) struct Ticket {
    shutdown: Shutdown,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.shutdown
            .inner
            .open
            .send_modify(|n| *n = n.saturating_sub(1));
    }
}
