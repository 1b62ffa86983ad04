//! The in-process bus (one node): a [`TopicFanout`] behind the [`EventBus`] trait.

use std::sync::Arc;

use async_trait::async_trait;

use super::{BusError, BusItem, BusSubscription, ChatEvent, EventBus, Topic, TopicFanout};

/// Events a topic buffers per subscriber before the slowest one lags.
///
/// A topic's ring buffer is allocated in full when its first subscriber arrives, and every open
/// session is a topic: going from 1,024 slots to 128 took an idle WebSocket connection (two per
/// session) from 37.3 to 19.8 KiB (benches/README.md, "WebSocket load"). A
/// subscriber that lags catches the durable events (messages, status, assignment) up from the
/// store by `seq`, so a smaller buffer loses none of them; only ephemeral events (typing,
/// presence, AI deltas) beyond it are skipped, and the finished answer still arrives as
/// `ai_completed`.
pub const DEFAULT_TOPIC_CAPACITY: usize = 128;

/// In-process event bus (one node). Topics without subscribers cost nothing: publishing to them
/// is a map lookup, and their channel is dropped once the last subscriber leaves.
#[derive(Debug, Clone)]
pub struct InProcessBus {
    fanout: TopicFanout,
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
            fanout: TopicFanout::new(capacity),
        }
    }

    /// Number of topics that currently have a channel.
    pub fn topic_count(&self) -> usize {
        self.fanout.topic_count()
    }
}

#[async_trait]
impl EventBus for InProcessBus {
    async fn publish(&self, topic: &Topic, event: Arc<ChatEvent>) -> Result<(), BusError> {
        self.fanout.send(topic, BusItem::Event(event));
        Ok(())
    }

    async fn subscribe(&self, topic: &Topic) -> Result<BusSubscription, BusError> {
        Ok(self.fanout.subscribe(topic))
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
