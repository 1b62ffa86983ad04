//! The event bus: publish [`ChatEvent`]s to a [`Topic`], subscribe to a topic.
//!
//! The in-process bus ([`InProcessBus`]) serves one node; a multi-node bus (PostgreSQL
//! LISTEN/NOTIFY) implements the same trait. Delivery is at-most-once and may lag: a subscriber
//! that falls behind receives [`BusItem::Lagged`] and catches up from the store by `seq`, which
//! is what makes resume exact.

mod event;
mod fanout;
mod memory;

use std::fmt::Debug;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use futures::Stream;

pub use event::{ChatEvent, EventKind, PresenceState, Topic, TypingState};
pub use fanout::TopicFanout;
pub use memory::{DEFAULT_TOPIC_CAPACITY, InProcessBus};

/// What a subscription yields.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum BusItem {
    /// An event.
    Event(Arc<ChatEvent>),
    /// Some events were lost (the subscriber was too slow, or a connection dropped). Durable
    /// events can be recovered from the store by `seq`.
    Lagged {
        /// How many were lost, when known.
        missed: Option<u64>,
    },
}

/// A live subscription to one topic. Ends when the bus shuts down.
pub type BusSubscription = Pin<Box<dyn Stream<Item = BusItem> + Send>>;

/// Error of the bus.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BusError {
    /// The bus cannot take the call now (connection lost, shutting down); retryable.
    #[error("event bus unavailable: {0}")]
    Unavailable(String),
    /// The event cannot be carried (for example it cannot be encoded).
    #[error("invalid event: {0}")]
    InvalidEvent(String),
    /// Any other backend failure.
    #[error("event bus backend error: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl BusError {
    /// True when retrying may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// Publish/subscribe of chat events.
#[async_trait]
pub trait EventBus: Send + Sync + Debug + 'static {
    /// Publishes an event to every current subscriber of the topic (on every node).
    ///
    /// Errors: `Unavailable` when the event could not be handed to the transport.
    async fn publish(&self, topic: &Topic, event: Arc<ChatEvent>) -> Result<(), BusError>;

    /// Subscribes to a topic. Events published after this call returns are delivered.
    ///
    /// Errors: `Unavailable` when the transport cannot subscribe now.
    async fn subscribe(&self, topic: &Topic) -> Result<BusSubscription, BusError>;
}
