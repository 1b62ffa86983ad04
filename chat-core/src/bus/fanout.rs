//! Local fan-out of bus items to the subscribers of each topic: one tokio broadcast channel per
//! topic that has subscribers. The in-process bus is this alone; a multi-node bus (PostgreSQL
//! LISTEN/NOTIFY) feeds it from its transport and uses [`TopicFanout::lag_all`] after a
//! reconnect.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::broadcast;

use super::{BusItem, BusSubscription, Topic};

/// Subscribers of this node, per topic. Cheap to clone; clones share the topics. Topics without
/// subscribers cost nothing: sending to them is a map lookup, and a topic's channel is dropped
/// when its last subscriber goes away.
#[derive(Debug, Clone)]
pub struct TopicFanout {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    capacity: usize,
    topics: Mutex<HashMap<Topic, broadcast::Sender<BusItem>>>,
}

impl TopicFanout {
    /// Topics buffer `capacity` items per subscriber (at least 1) before the slowest one lags.
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                capacity: capacity.max(1),
                topics: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Hands an item to every subscriber of the topic; false when it has none.
    pub fn send(&self, topic: &Topic, item: BusItem) -> bool {
        let mut topics = self.topics();
        match topics.get(topic) {
            Some(sender) if sender.send(item).is_ok() => true,
            Some(_) => {
                // Every subscriber left: drop the channel.
                topics.remove(topic);
                false
            }
            None => false,
        }
    }

    /// Whether the topic has subscribers here (a transport can skip loading an event for nobody).
    pub fn has_subscribers(&self, topic: &Topic) -> bool {
        self.topics().contains_key(topic)
    }

    /// Tells every subscriber of every topic that items may have been lost (after a transport
    /// reconnect), so they catch up from the store.
    pub fn lag_all(&self, missed: Option<u64>) {
        for sender in self.topics().values() {
            // A topic whose subscribers all left is removed by their guards.
            let _ = sender.send(BusItem::Lagged { missed });
        }
    }

    /// Ends every subscription (shutdown).
    pub fn close_all(&self) {
        self.topics().clear();
    }

    /// Subscribes to a topic: items sent after this call are delivered; a subscriber that falls
    /// more than the capacity behind gets [`BusItem::Lagged`].
    pub fn subscribe(&self, topic: &Topic) -> BusSubscription {
        let receiver = self
            .topics()
            .entry(topic.clone())
            .or_insert_with(|| broadcast::channel(self.inner.capacity).0)
            .subscribe();
        let guard = Subscriber {
            inner: Arc::clone(&self.inner),
            topic: topic.clone(),
            receiver: Some(receiver),
        };
        Box::pin(futures::stream::unfold(guard, |mut guard| async move {
            let receiver = guard.receiver.as_mut()?;
            let item = match receiver.recv().await {
                Ok(item) => item,
                Err(broadcast::error::RecvError::Lagged(n)) => BusItem::Lagged { missed: Some(n) },
                Err(broadcast::error::RecvError::Closed) => return None,
            };
            Some((item, guard))
        }))
    }

    /// Number of topics that currently have subscribers.
    pub fn topic_count(&self) -> usize {
        self.topics().len()
    }

    fn topics(&self) -> std::sync::MutexGuard<'_, HashMap<Topic, broadcast::Sender<BusItem>>> {
        self.inner
            .topics
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// A subscriber's receiver; removes the topic's channel when the last subscriber goes away.
struct Subscriber {
    inner: Arc<Inner>,
    topic: Topic,
    receiver: Option<broadcast::Receiver<BusItem>>,
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let mut topics = self
            .inner
            .topics
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Drop our receiver first (under the lock, so no subscribe races the count), then remove
        // the channel only if no other subscriber is left.
        drop(self.receiver.take());
        if topics
            .get(&self.topic)
            .is_some_and(|s| s.receiver_count() == 0)
        {
            topics.remove(&self.topic);
        }
    }
}
