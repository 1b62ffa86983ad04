//! Subscribing to a session from a resume point: replay from the store, then live events, with
//! no gap and no duplicate at the seam.
//!
//! How: subscribe to the bus first, then read the store after the resume point. Every durable
//! event carries its `seq`; the subscription remembers the last `seq` it delivered and
//! - drops a live durable event at or below it (already replayed),
//! - delivers one that is exactly the next,
//! - treats one further ahead as a gap (events are published after commit, so concurrent posters
//!   may publish out of order, and a slow subscriber may lag) and reads the store again.
//!
//! Events are published only after commit, and a `seq` is visible in the store no later than any
//! higher one, so the store always holds what the gap needs.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;

use futures::{Stream, StreamExt};

use super::{ChatEngine, ChatError, ChatResult};
use crate::auth::{self, Principal, Role};
use crate::bus::{BusItem, BusSubscription, ChatEvent, EventKind, Topic};
use crate::ids::SessionId;
use crate::store::MessageQuery;

/// What a session subscription yields.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SubscriptionItem {
    /// An event (replayed or live), in `seq` order for durable ones.
    Event(Arc<ChatEvent>),
    /// The initial replay is done; `last_seq` is the last `seq` replayed (or the resume point).
    /// Sent once, before any live event.
    CaughtUp {
        /// Last `seq` delivered so far.
        last_seq: u64,
    },
}

/// A live subscription to one session; see [`ChatEngine::subscribe`]. An `Err` item ends it
/// (the client resumes from the last `seq` it saw).
pub type SessionSubscription = Pin<Box<dyn Stream<Item = ChatResult<SubscriptionItem>> + Send>>;

impl ChatEngine {
    /// Subscribes to a session: every durable event with `seq > after_seq` from the store, in
    /// order, then [`SubscriptionItem::CaughtUp`], then live events. Internal notes are left out
    /// for customers. Authorization is checked when subscribing, and again for an agent after
    /// every change of assignment or status: an agent who loses the chat (transfer, escalation,
    /// resolution) gets that event, then a `Forbidden` item that ends the stream.
    ///
    /// Errors: `NotFound`, `Forbidden`, `Unavailable` (bus or store).
    #[tracing::instrument(level = "debug", skip_all, fields(tenant_id = %principal.tenant_id, session_id = %session_id, user_id = %principal.user_id, after_seq), err(level = "debug"))]
    pub async fn subscribe(
        &self,
        principal: &Principal,
        session_id: SessionId,
        after_seq: u64,
    ) -> ChatResult<SessionSubscription> {
        self.get_session(principal, session_id).await?;
        let topic = Topic::session(principal.tenant_id.clone(), session_id);
        let live = self.bus().subscribe(&topic).await?;
        let state = Resume {
            engine: self.clone(),
            principal: principal.clone(),
            session_id,
            show_internal: auth::can_see_internal(principal),
            live,
            last_seq: after_seq,
            pending: VecDeque::new(),
            catch_up: true,
            announced: false,
            recheck: false,
            done: false,
        };
        Ok(Box::pin(futures::stream::unfold(
            state,
            |mut state| async move {
                let item = state.next_item().await?;
                Some((item, state))
            },
        )))
    }
}

struct Resume {
    engine: ChatEngine,
    principal: Principal,
    session_id: SessionId,
    show_internal: bool,
    live: BusSubscription,
    last_seq: u64,
    pending: VecDeque<Arc<ChatEvent>>,
    catch_up: bool,
    announced: bool,
    /// Access must be checked again before the next item (an assignment or status changed).
    recheck: bool,
    done: bool,
}

impl Resume {
    async fn next_item(&mut self) -> Option<ChatResult<SubscriptionItem>> {
        loop {
            if self.done {
                return None;
            }
            if self.recheck {
                self.recheck = false;
                if let Err(err) = self
                    .engine
                    .get_session(&self.principal, self.session_id)
                    .await
                {
                    // The caller lost access (an agent whose chat was transferred, say): the
                    // stream ends here, before anything that followed the change.
                    self.done = true;
                    return Some(Err(err));
                }
            }
            if let Some(event) = self.pending.pop_front() {
                return Some(Ok(self.deliver(event)));
            }
            if self.catch_up {
                if let Err(err) = self.read_store().await {
                    self.done = true;
                    return Some(Err(err));
                }
                continue;
            }
            if !self.announced {
                self.announced = true;
                return Some(Ok(SubscriptionItem::CaughtUp {
                    last_seq: self.last_seq,
                }));
            }
            match self.live.next().await {
                None => {
                    self.done = true;
                    return Some(Err(ChatError::unavailable(
                        "the event bus closed the subscription",
                    )));
                }
                Some(BusItem::Lagged { .. }) => self.catch_up = true,
                Some(BusItem::Event(event)) => match event.seq {
                    None => {
                        if self.visible(&event) {
                            return Some(Ok(self.deliver(event)));
                        }
                    }
                    Some(seq) if seq <= self.last_seq => {}
                    Some(seq) if seq == self.last_seq + 1 => {
                        self.last_seq = seq;
                        if self.visible(&event) {
                            return Some(Ok(self.deliver(event)));
                        }
                    }
                    Some(_) => self.catch_up = true,
                },
            }
        }
    }

    /// Reads one batch after `last_seq` into `pending`; clears `catch_up` on a short batch.
    async fn read_store(&mut self) -> ChatResult<()> {
        let batch = self.engine.config().replay_batch;
        let messages = self
            .engine
            .store()
            .list_messages(
                &self.principal.tenant_id,
                self.session_id,
                MessageQuery::after(self.last_seq, batch),
            )
            .await?;
        if u32::try_from(messages.len()).is_ok_and(|n| n < batch) {
            self.catch_up = false;
        }
        for message in messages {
            self.last_seq = self.last_seq.max(message.seq);
            let event = Arc::new(ChatEvent::durable(message));
            if self.visible(&event) {
                self.pending.push_back(event);
            }
        }
        Ok(())
    }

    /// Hands out an event; a change of assignment or status makes an agent's access be checked
    /// again before the next one (customers keep their own sessions, managers see all).
    fn deliver(&mut self, event: Arc<ChatEvent>) -> SubscriptionItem {
        if self.principal.role == Role::Agent
            && matches!(
                event.kind,
                EventKind::AssignmentChanged { .. } | EventKind::SessionUpdated { .. }
            )
        {
            self.recheck = true;
        }
        SubscriptionItem::Event(event)
    }

    fn visible(&self, event: &ChatEvent) -> bool {
        self.show_internal || event.is_public()
    }
}
