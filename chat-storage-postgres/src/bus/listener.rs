//! The listening connection and the task that dispatches what it hears.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chat_core::bus::{BusItem, ChatEvent, Topic};
use chat_core::store::MessageStore;
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_postgres::{AsyncMessage, NoTls, Notification};

use super::{Body, Envelope, LISTENER_QUEUE, Shared};
use crate::codec;
use crate::error::{PgError, PgResult};
use crate::store::PgStore;

/// One listening connection: the client (kept so the connection stays open), the task that
/// drives the connection and forwards notifications, and their queue.
pub(super) struct Connection {
    _client: tokio_postgres::Client,
    driver: JoinHandle<()>,
    notifications: mpsc::Receiver<Notification>,
    /// Set by the driver when the queue was full and a notification was dropped.
    overflowed: Arc<AtomicBool>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

impl Connection {
    /// Connects and LISTENs on `channel`.
    pub(super) async fn open(pg: &tokio_postgres::Config, channel: &str) -> PgResult<Self> {
        let (client, mut connection) = pg.connect(NoTls).await?;
        let (sender, notifications) = mpsc::channel(LISTENER_QUEUE);
        let overflowed = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&overflowed);
        // The connection object performs the I/O of the client too; it must be polled all the
        // time, so it never waits on the dispatcher: a full queue drops and flags instead.
        let driver = tokio::spawn(async move {
            let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
            while let Some(message) = messages.next().await {
                match message {
                    Ok(AsyncMessage::Notification(notification)) => {
                        match sender.try_send(notification) {
                            Ok(()) => {}
                            Err(mpsc::error::TrySendError::Full(_)) => {
                                flag.store(true, Ordering::Release);
                            }
                            Err(mpsc::error::TrySendError::Closed(_)) => break,
                        }
                    }
                    Ok(_) => {}
                    Err(err) => {
                        tracing::warn!(%err, "postgres event bus: listening connection failed");
                        break;
                    }
                }
            }
        });
        // The channel is a checked identifier (lowercase letters, digits, '_').
        client
            .batch_execute(&format!("LISTEN \"{channel}\""))
            .await?;
        Ok(Self {
            _client: client,
            driver,
            notifications,
            overflowed,
        })
    }
}

/// The listener task's state.
pub(super) struct Listener {
    pub(super) pg: tokio_postgres::Config,
    pub(super) channel: String,
    pub(super) store: PgStore,
    pub(super) shared: Arc<Shared>,
    pub(super) reconnect_min: Duration,
    pub(super) reconnect_max: Duration,
}

impl Listener {
    /// Dispatches notifications; when the connection ends, reconnects with backoff, LISTENs
    /// again and tells every subscriber it lagged. Runs until aborted.
    pub(super) async fn run(self, mut connection: Connection) {
        loop {
            while let Some(notification) = connection.notifications.recv().await {
                if connection.overflowed.swap(false, Ordering::AcqRel) {
                    self.shared.fanout.lag_all(None);
                }
                self.dispatch(&notification).await;
            }
            self.shared.connected.store(false, Ordering::Release);
            drop(connection);
            tracing::warn!(channel = %self.channel, "postgres event bus: listener disconnected; reconnecting");
            connection = self.reconnect().await;
            self.shared.connected.store(true, Ordering::Release);
            // LISTEN is active again: whatever subscribers read from the store from now on
            // covers every event they may have missed.
            self.shared.fanout.lag_all(None);
            tracing::info!(channel = %self.channel, "postgres event bus: listener reconnected");
        }
    }

    async fn reconnect(&self) -> Connection {
        let mut delay = self.reconnect_min;
        loop {
            tokio::time::sleep(delay).await;
            match Connection::open(&self.pg, &self.channel).await {
                Ok(connection) => return connection,
                Err(err) => {
                    tracing::warn!(%err, ?delay, "postgres event bus: reconnect failed");
                    delay = delay.saturating_mul(2).min(self.reconnect_max);
                }
            }
        }
    }

    async fn dispatch(&self, notification: &Notification) {
        if notification.channel() != self.channel {
            return;
        }
        let envelope: Envelope<Topic, ChatEvent> =
            match serde_json::from_str(notification.payload()) {
                Ok(envelope) => envelope,
                Err(err) => {
                    tracing::warn!(%err, "postgres event bus: a notification does not decode");
                    return;
                }
            };
        if !self.shared.fanout.has_subscribers(&envelope.topic) {
            return;
        }
        let item = match self.resolve(envelope.body).await {
            Ok(event) => BusItem::Event(Arc::new(event)),
            Err(err) => {
                tracing::warn!(%err, "postgres event bus: an event sent by reference could not be loaded");
                BusItem::Lagged { missed: Some(1) }
            }
        };
        // Nobody here listens to the topic: nothing to do.
        self.shared.fanout.send(&envelope.topic, item);
    }

    async fn resolve(&self, body: Body<ChatEvent>) -> PgResult<ChatEvent> {
        match body {
            Body::Inline { event } => Ok(event),
            Body::Message {
                tenant_id,
                message_id,
            } => {
                let message = self
                    .store
                    .get_message(&tenant_id, message_id)
                    .await
                    .map_err(PgError::Store)?;
                Ok(ChatEvent::durable(message))
            }
            Body::Stored { id } => {
                let client = self.store.client().await?;
                let payload: String = codec::first(
                    &client,
                    "SELECT payload FROM chat_bus_payloads WHERE id = $1",
                    &[&id],
                    |row| codec::get(row, "payload"),
                )
                .await?
                .ok_or_else(|| PgError::not_found("bus payload", id))?;
                Ok(serde_json::from_str(&payload)?)
            }
        }
    }
}
