//! [`PgEventBus`]: the multi-node event bus over PostgreSQL LISTEN/NOTIFY.
//!
//! Each node keeps one listening connection (outside the pool) on one channel per schema, and
//! dispatches what it hears to its local subscribers through one tokio broadcast channel per
//! topic (as [`chat_core::bus::InProcessBus`] does). Publishing is `pg_notify` through the
//! store's pool; a node hears its own events through its listener too, so every node sees
//! every event once, in commit order.
//!
//! NOTIFY payloads are limited to [`MAX_NOTIFY_PAYLOAD`] bytes. An event whose envelope fits
//! [`PgBusConfig::max_inline_payload`] travels whole. A larger durable event (one that carries a
//! `seq` and is exactly `ChatEvent::durable` of its stored message) travels as a reference to
//! that message, which listeners with subscribers load from the store. Any other large event
//! is written to `chat_bus_payloads` in the same transaction as its notification and read by
//! id; those rows expire after [`PgBusConfig::payload_ttl`].
//!
//! When the listening connection drops, the listener reconnects with exponential backoff,
//! LISTENs again, and then sends [`BusItem::Lagged`] to every local subscriber: events
//! published while it was away are not replayed by the bus, but a subscriber that catches up
//! from the store by `seq` (as `ChatEngine::subscribe` does) misses nothing and sees nothing
//! twice. Ephemeral events (typing, AI deltas) of that window are lost, as the bus contract
//! allows.

mod listener;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chat_core::bus::{
    BusError, BusSubscription, ChatEvent, DEFAULT_TOPIC_CAPACITY, EventBus, Topic, TopicFanout,
};
use chat_core::ids::{MessageId, TenantId};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::codec;
use crate::error::{PgError, PgResult};
use crate::store::PgStore;

/// Largest NOTIFY payload PostgreSQL accepts (8000 bytes with its terminator, by default).
pub const MAX_NOTIFY_PAYLOAD: usize = 7999;
/// Default largest envelope sent inline; larger events go by reference.
pub const DEFAULT_MAX_INLINE_PAYLOAD: usize = 7900;
/// Default lifetime of a stored large payload.
pub const DEFAULT_PAYLOAD_TTL: Duration = Duration::from_secs(60);
/// Default first pause before reconnecting the listener; doubles up to the maximum.
pub const DEFAULT_RECONNECT_MIN: Duration = Duration::from_millis(50);
/// Default longest pause between reconnection attempts.
pub const DEFAULT_RECONNECT_MAX: Duration = Duration::from_secs(5);
/// Default `application_name` of the listening connection (shown in `pg_stat_activity`).
pub const DEFAULT_LISTENER_APPLICATION_NAME: &str = "chat-engine-listener";
/// Events buffered by the listener between the connection and the dispatcher before the
/// subscribers are told they lagged.
const LISTENER_QUEUE: usize = 8192;

/// Settings of [`PgEventBus`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PgBusConfig {
    /// NOTIFY channel; `None` derives one from the store's schema, so that nodes on one schema
    /// share it and other schemas are not heard.
    pub channel: Option<String>,
    /// `application_name` of the listening connection.
    pub listener_application_name: String,
    /// Events a topic buffers per local subscriber before the slowest one lags.
    pub topic_capacity: usize,
    /// Largest envelope sent inline (at most [`MAX_NOTIFY_PAYLOAD`]).
    pub max_inline_payload: usize,
    /// Lifetime of a stored large payload.
    pub payload_ttl: Duration,
    /// First pause before reconnecting.
    pub reconnect_min: Duration,
    /// Longest pause between reconnection attempts.
    pub reconnect_max: Duration,
}

impl Default for PgBusConfig {
    fn default() -> Self {
        Self {
            channel: None,
            listener_application_name: DEFAULT_LISTENER_APPLICATION_NAME.to_owned(),
            topic_capacity: DEFAULT_TOPIC_CAPACITY,
            max_inline_payload: DEFAULT_MAX_INLINE_PAYLOAD,
            payload_ttl: DEFAULT_PAYLOAD_TTL,
            reconnect_min: DEFAULT_RECONNECT_MIN,
            reconnect_max: DEFAULT_RECONNECT_MAX,
        }
    }
}

impl PgBusConfig {
    /// Sets the `application_name` of the listening connection.
    pub fn listener_application_name(mut self, name: impl Into<String>) -> Self {
        self.listener_application_name = name.into();
        self
    }
    /// Sets the NOTIFY channel.
    pub fn channel(mut self, channel: impl Into<String>) -> Self {
        self.channel = Some(channel.into());
        self
    }
    /// Sets the per-subscriber buffer of a topic (at least 1).
    pub fn topic_capacity(mut self, capacity: usize) -> Self {
        self.topic_capacity = capacity;
        self
    }
    /// Sets the largest inline envelope.
    pub fn max_inline_payload(mut self, bytes: usize) -> Self {
        self.max_inline_payload = bytes;
        self
    }
    /// Sets the lifetime of stored large payloads.
    pub fn payload_ttl(mut self, ttl: Duration) -> Self {
        self.payload_ttl = ttl;
        self
    }
    /// Sets the reconnection backoff bounds.
    pub fn reconnect_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.reconnect_min = min;
        self.reconnect_max = max;
        self
    }

    fn validate(&self) -> PgResult<()> {
        if let Some(channel) = &self.channel {
            let ok = !channel.is_empty()
                && channel.len() <= crate::config::MAX_SCHEMA_NAME
                && channel
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !ok {
                return Err(PgError::Config(format!(
                    "channel {channel:?} must be 1 to 63 lowercase letters, digits or '_'"
                )));
            }
        }
        if self.topic_capacity == 0 {
            return Err(PgError::Config("topic_capacity must be at least 1".into()));
        }
        if !(64..=MAX_NOTIFY_PAYLOAD).contains(&self.max_inline_payload) {
            return Err(PgError::Config(format!(
                "max_inline_payload must be in 64..={MAX_NOTIFY_PAYLOAD}"
            )));
        }
        if self.payload_ttl.is_zero() || self.reconnect_min.is_zero() {
            return Err(PgError::Config(
                "payload_ttl and reconnect_min must be above zero".into(),
            ));
        }
        if self.reconnect_max < self.reconnect_min {
            return Err(PgError::Config(
                "reconnect_max must not be below reconnect_min".into(),
            ));
        }
        Ok(())
    }
}

/// What a notification carries, besides its topic.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "via", rename_all = "snake_case")]
enum Body<E> {
    /// The whole event.
    Inline { event: E },
    /// A durable event to rebuild from its stored message.
    Message {
        tenant_id: TenantId,
        message_id: MessageId,
    },
    /// An event stored in `chat_bus_payloads`.
    Stored { id: Uuid },
}

/// A notification's payload (JSON).
#[derive(Debug, Serialize, Deserialize)]
struct Envelope<T, E> {
    topic: T,
    #[serde(flatten)]
    body: Body<E>,
}

/// State shared by the bus handle and its listener task.
#[derive(Debug)]
struct Shared {
    /// This node's subscribers.
    fanout: TopicFanout,
    connected: AtomicBool,
}

/// The PostgreSQL LISTEN/NOTIFY event bus (one per node); see the module docs. Cheap to clone.
#[derive(Clone)]
pub struct PgEventBus {
    inner: Arc<Inner>,
}

struct Inner {
    store: PgStore,
    config: PgBusConfig,
    channel: String,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
    /// Set by [`PgEventBus::shutdown`] at once (the aborted task finishes a little later).
    shut_down: AtomicBool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.task.abort();
        // Ends every subscription.
        self.shared.fanout.close_all();
    }
}

impl fmt::Debug for PgEventBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgEventBus")
            .field("channel", &self.inner.channel)
            .field("connected", &self.is_connected())
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// The default channel of a schema: `chat_bus_` and a hash of the schema name (channel names
/// are database-wide and limited to 63 bytes).
fn default_channel(schema: &str) -> String {
    format!("chat_bus_{:016x}", crate::migrate::schema_lock_key(schema))
}

impl PgEventBus {
    /// Opens the listening connection (LISTEN before returning, so events published after
    /// this returns are heard) and starts the listener task. Uses `store`'s pool to publish
    /// and to load events sent by reference.
    ///
    /// Errors: [`PgError::Config`]; connection errors when the server cannot be reached.
    pub async fn start(store: &PgStore, config: PgBusConfig) -> PgResult<Self> {
        config.validate()?;
        let channel = config
            .channel
            .clone()
            .unwrap_or_else(|| default_channel(&store.config().schema));
        let pg = store
            .config()
            .pg_config_named(&config.listener_application_name)?;
        let shared = Arc::new(Shared {
            fanout: TopicFanout::new(config.topic_capacity),
            connected: AtomicBool::new(false),
        });
        let connection = listener::Connection::open(&pg, &channel).await?;
        shared.connected.store(true, Ordering::Release);
        let listener = listener::Listener {
            pg,
            channel: channel.clone(),
            store: store.clone(),
            shared: Arc::clone(&shared),
            reconnect_min: config.reconnect_min,
            reconnect_max: config.reconnect_max,
        };
        let task = tokio::spawn(listener.run(connection));
        Ok(Self {
            inner: Arc::new(Inner {
                store: store.clone(),
                config,
                channel,
                shared,
                task,
                shut_down: AtomicBool::new(false),
            }),
        })
    }

    /// The NOTIFY channel.
    pub fn channel(&self) -> &str {
        &self.inner.channel
    }

    /// Whether the listening connection is up (false while reconnecting).
    pub fn is_connected(&self) -> bool {
        self.inner.shared.connected.load(Ordering::Acquire)
    }

    /// Stops the listener and ends every subscription of this node.
    pub fn shutdown(&self) {
        self.inner.shut_down.store(true, Ordering::Release);
        self.inner.task.abort();
        self.inner.shared.connected.store(false, Ordering::Release);
        self.inner.shared.fanout.close_all();
    }

    /// The payload of a notification for this event (see the module docs for the choice).
    async fn payload(&self, topic: &Topic, event: &ChatEvent) -> PgResult<Outgoing> {
        let inline = serde_json::to_string(&Envelope {
            topic,
            body: Body::Inline { event },
        })?;
        if inline.len() <= self.inner.config.max_inline_payload {
            return Ok(Outgoing::Notify(inline));
        }
        if let (Some(_), Some(message)) = (event.seq, event.kind.message()) {
            if ChatEvent::durable(message.clone()) == *event {
                let reference = serde_json::to_string(&Envelope::<_, ChatEvent> {
                    topic,
                    body: Body::Message {
                        tenant_id: message.tenant_id.clone(),
                        message_id: message.id,
                    },
                })?;
                if reference.len() <= MAX_NOTIFY_PAYLOAD {
                    return Ok(Outgoing::Notify(reference));
                }
            }
        }
        let id = Uuid::now_v7();
        let reference = serde_json::to_string(&Envelope::<_, ChatEvent> {
            topic,
            body: Body::Stored { id },
        })?;
        if reference.len() > MAX_NOTIFY_PAYLOAD {
            return Err(PgError::invalid(
                "the topic is too large for a notification",
            ));
        }
        Ok(Outgoing::Stored {
            id,
            event: serde_json::to_string(event)?,
            notification: reference,
        })
    }

    async fn send(&self, outgoing: Outgoing) -> PgResult<()> {
        let mut client = self.inner.store.client().await?;
        let channel = self.inner.channel.as_str();
        match outgoing {
            Outgoing::Notify(payload) => {
                codec::exec(&client, "SELECT pg_notify($1, $2)", &[&channel, &payload]).await?;
            }
            Outgoing::Stored {
                id,
                event,
                notification,
            } => {
                let ttl = chrono::Duration::from_std(self.inner.config.payload_ttl)
                    .unwrap_or(chrono::Duration::MAX);
                let now = codec::now();
                let expires = now.checked_add_signed(ttl).unwrap_or(now);
                let tx = client.transaction().await?;
                codec::exec(
                    &tx,
                    "DELETE FROM chat_bus_payloads WHERE expires_at < $1",
                    &[&now],
                )
                .await?;
                codec::exec(
                    &tx,
                    "INSERT INTO chat_bus_payloads (id, payload, expires_at) VALUES ($1, $2, $3)",
                    &[&id, &event, &expires],
                )
                .await?;
                codec::exec(&tx, "SELECT pg_notify($1, $2)", &[&channel, &notification]).await?;
                tx.commit().await?;
            }
        }
        Ok(())
    }
}

/// What publishing sends.
enum Outgoing {
    /// A notification that carries everything.
    Notify(String),
    /// A stored event and the notification that names it.
    Stored {
        id: Uuid,
        event: String,
        notification: String,
    },
}

fn bus_error(err: PgError) -> BusError {
    match err {
        PgError::Json(e) => BusError::InvalidEvent(e.to_string()),
        PgError::Store(e) => BusError::InvalidEvent(e.to_string()),
        other => match chat_core::store::StoreError::from(other) {
            e if e.is_retryable() => BusError::Unavailable(e.to_string()),
            e => BusError::Backend(Box::new(e)),
        },
    }
}

#[async_trait]
impl EventBus for PgEventBus {
    async fn publish(&self, topic: &Topic, event: Arc<ChatEvent>) -> Result<(), BusError> {
        let outgoing = self.payload(topic, &event).await.map_err(bus_error)?;
        self.send(outgoing).await.map_err(bus_error)
    }

    async fn subscribe(&self, topic: &Topic) -> Result<BusSubscription, BusError> {
        if self.inner.shut_down.load(Ordering::Acquire) || self.inner.task.is_finished() {
            return Err(BusError::Unavailable("the event bus is shut down".into()));
        }
        Ok(self.inner.shared.fanout.subscribe(topic))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_is_checked_and_channels_are_per_schema() {
        assert!(PgBusConfig::default().validate().is_ok());
        assert!(
            PgBusConfig::default()
                .channel("Bad-Name")
                .validate()
                .is_err()
        );
        assert!(PgBusConfig::default().topic_capacity(0).validate().is_err());
        assert!(
            PgBusConfig::default()
                .max_inline_payload(MAX_NOTIFY_PAYLOAD + 1)
                .validate()
                .is_err()
        );
        assert!(
            PgBusConfig::default()
                .reconnect_backoff(Duration::from_secs(2), Duration::from_secs(1))
                .validate()
                .is_err()
        );
        assert_ne!(default_channel("a"), default_channel("b"));
        assert!(default_channel("a").len() <= 63);
    }
}
