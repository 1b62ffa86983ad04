//! The in-process bus: one tokio broadcast channel per topic with subscribers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use tokio::sync::broadcast;

use super::{BusError, BusItem, BusSubscription, ChatEvent, EventBus, Topic};

/// Events a topic buffers per subscriber before the slowest one lags.
pub const DEFAULT_TOPIC_CAPACITY: usize = 1024;

/// In-process event bus (one node). Topics without subscribers cost nothing: publishing to them
/// is a map lookup, and their channel is dropped once the last subscriber leaves.
#[derive(Debug, Clone)]
pub struct InProcessBus {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    capacity: usize,
    topics: Mutex<HashMap<Topic, broadcast::Sender<Arc<ChatEvent>>>>,
}

impl Default for InProcessBus {
    fn default() -> Self {
        Self::new(DEFAULT_TOPIC_CAPACITY)
    }
}

impl InProcessBus {
    /// A bus whose topics buffer `capacity` events per subscriber (at least 1).
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                capacity: capacity.max(1),
                topics: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Number of topics that currently have a channel.
    pub fn topic_count(&self) -> usize {
        self.inner
            .topics
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[async_trait]
impl EventBus for InProcessBus {
    async fn publish(&self, topic: &Topic, event: Arc<ChatEvent>) -> Result<(), BusError> {
        let mut topics = self
            .inner
            .topics
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(sender) = topics.get(topic) {
            if sender.send(event).is_err() {
                // Every subscriber left: drop the channel.
                topics.remove(topic);
            }
        }
        Ok(())
    }

    async fn subscribe(&self, topic: &Topic) -> Result<BusSubscription, BusError> {
        let receiver = {
            let mut topics = self
                .inner
                .topics
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            topics
                .entry(topic.clone())
                .or_insert_with(|| broadcast::channel(self.inner.capacity).0)
                .subscribe()
        };
        let guard = TopicGuard {
            inner: Arc::clone(&self.inner),
            topic: topic.clone(),
            receiver: Some(receiver),
        };
        let stream = futures::stream::unfold(guard, |mut guard| async move {
            let receiver = guard.receiver.as_mut()?;
            let item = match receiver.recv().await {
                Ok(event) => BusItem::Event(event),
                Err(broadcast::error::RecvError::Lagged(n)) => BusItem::Lagged { missed: Some(n) },
                Err(broadcast::error::RecvError::Closed) => return None,
            };
            Some((item, guard))
        });
        Ok(Box::pin(stream))
    }
}

/// A subscriber's receiver; removes the topic's channel when the last subscriber goes away.
struct TopicGuard {
    inner: Arc<Inner>,
    topic: Topic,
    receiver: Option<broadcast::Receiver<Arc<ChatEvent>>>,
}

impl Drop for TopicGuard {
    fn drop(&mut self) {
        let mut topics = self
            .inner
            .topics
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Drop our receiver first (under the lock, so no subscribe races the count), then
        // remove the channel only if no other subscriber is left.
        drop(self.receiver.take());
        if topics
            .get(&self.topic)
            .is_some_and(|s| s.receiver_count() == 0)
        {
            topics.remove(&self.topic);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::{EventKind, TypingState};
    use crate::ids::{SessionId, TenantId, UserId};
    use crate::model::SenderKind;
    use futures::StreamExt;

    fn typing(tenant: &TenantId, session: SessionId) -> Arc<ChatEvent> {
        Arc::new(ChatEvent::ephemeral(
            tenant.clone(),
            session,
            EventKind::Typing {
                user_id: UserId::new("u").unwrap(),
                sender: SenderKind::Customer,
                state: TypingState::Start,
            },
        ))
    }

    #[tokio::test]
    async fn delivers_to_subscribers_of_the_topic_only() {
        let bus = InProcessBus::default();
        let tenant = TenantId::new("t").unwrap();
        let (a, b) = (SessionId::new(), SessionId::new());
        let mut sub_a = bus
            .subscribe(&Topic::session(tenant.clone(), a))
            .await
            .unwrap();
        bus.publish(&Topic::session(tenant.clone(), b), typing(&tenant, b))
            .await
            .unwrap();
        bus.publish(&Topic::session(tenant.clone(), a), typing(&tenant, a))
            .await
            .unwrap();
        match sub_a.next().await.unwrap() {
            BusItem::Event(e) => assert_eq!(e.session_id, Some(a)),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[tokio::test]
    async fn slow_subscriber_lags_and_channels_are_cleaned_up() {
        let bus = InProcessBus::new(4);
        let tenant = TenantId::new("t").unwrap();
        let s = SessionId::new();
        let topic = Topic::session(tenant.clone(), s);
        let mut sub = bus.subscribe(&topic).await.unwrap();
        for _ in 0..10 {
            bus.publish(&topic, typing(&tenant, s)).await.unwrap();
        }
        assert_eq!(
            sub.next().await.unwrap(),
            BusItem::Lagged { missed: Some(6) }
        );
        assert!(matches!(sub.next().await.unwrap(), BusItem::Event(_)));
        assert_eq!(bus.topic_count(), 1);
        drop(sub);
        assert_eq!(bus.topic_count(), 0);
    }

    #[tokio::test]
    async fn a_subscriber_leaving_keeps_the_others_subscribed() {
        let bus = InProcessBus::default();
        let tenant = TenantId::new("t").unwrap();
        let s = SessionId::new();
        let topic = Topic::session(tenant.clone(), s);
        let mut stays = bus.subscribe(&topic).await.unwrap();
        let leaves = bus.subscribe(&topic).await.unwrap();
        drop(leaves);
        assert_eq!(bus.topic_count(), 1);
        bus.publish(&topic, typing(&tenant, s)).await.unwrap();
        assert!(matches!(stays.next().await.unwrap(), BusItem::Event(_)));
        drop(stays);
        assert_eq!(bus.topic_count(), 0);
    }
}
