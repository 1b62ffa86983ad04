//! Posting and reading messages; typing and presence.

use serde::{Deserialize, Serialize};

use super::{ChatEngine, ChatError, ChatResult, validate};
use crate::auth::{self, Principal};
use crate::bus::{ChatEvent, EventKind, PresenceState, Topic, TypingState};
use crate::ids::SessionId;
use crate::model::{
    ChatMessage, ChatSession, NewMessage, SenderKind, SessionPatch, SessionStatus, SystemEvent,
    Visibility,
};
use crate::store::MessageQuery;

/// Input of [`ChatEngine::post_message`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PostMessage {
    /// The text.
    pub content: String,
    /// Idempotency key chosen by the client; a retry with the same key returns the first message.
    pub client_msg_id: Option<String>,
    /// Public message or internal note (staff only).
    pub visibility: Visibility,
}

impl PostMessage {
    /// A public message.
    pub fn new(content: impl Into<String>) -> Self {
        Self {
            content: content.into(),
            client_msg_id: None,
            visibility: Visibility::Public,
        }
    }
    /// Sets the idempotency key.
    pub fn client_msg_id(mut self, id: impl Into<String>) -> Self {
        self.client_msg_id = Some(id.into());
        self
    }
    /// Makes it an internal note.
    pub fn internal(mut self) -> Self {
        self.visibility = Visibility::Internal;
        self
    }
}

/// Result of [`ChatEngine::post_message`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PostOutcome {
    /// The stored message.
    pub message: ChatMessage,
    /// False when this was a retry of an already stored `client_msg_id`.
    pub created: bool,
}

/// A page of messages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MessagePage {
    /// Messages in `seq` order.
    pub messages: Vec<ChatMessage>,
    /// The `after_seq` for the next call: the last `seq` returned (the given one when empty).
    pub next_after_seq: u64,
    /// True when the page was full, so more may follow at once.
    pub has_more: bool,
}

impl ChatEngine {
    /// Posts a message: authorizes, validates, appends it (the store assigns `seq` in the insert
    /// transaction), publishes `message_created` after the commit, and returns. A retry with the
    /// same `client_msg_id` returns the first message and publishes nothing.
    ///
    /// Errors: `InvalidInput` (empty, control characters, bad `client_msg_id`), `TooLarge`,
    /// `NotFound`, `Forbidden` (not the caller's session, internal note by a customer, closed
    /// session), `Conflict` (the `client_msg_id` belongs to another sender's message).
    #[tracing::instrument(level = "debug", skip_all, fields(tenant_id = %principal.tenant_id, session_id = %session_id, user_id = %principal.user_id), err(level = "debug"))]
    pub async fn post_message(
        &self,
        principal: &Principal,
        session_id: SessionId,
        input: PostMessage,
    ) -> ChatResult<PostOutcome> {
        let config = self.config();
        validate::message_content(&input.content, config)?;
        if let Some(id) = &input.client_msg_id {
            validate::client_msg_id(id, config)?;
        }
        let session = self
            .postable_session(principal, session_id, input.visibility)
            .await?;
        let sender = if principal.is_staff() {
            SenderKind::Agent
        } else {
            SenderKind::Customer
        };
        let new = NewMessage::new(
            principal.tenant_id.clone(),
            session_id,
            sender,
            Some(principal.user_id.clone()),
            input.content,
        )
        .visibility(input.visibility)
        .client_msg_id(input.client_msg_id);
        let inserted = self.store().append_message(new).await?;
        let message = inserted.value;
        if !inserted.created {
            if message.sender_id.as_ref() != Some(&principal.user_id) {
                return Err(ChatError::Conflict(
                    "client_msg_id was already used by another message".into(),
                ));
            }
            return Ok(PostOutcome {
                message,
                created: false,
            });
        }
        let topic = Topic::session(principal.tenant_id.clone(), session_id);
        self.publish(&topic, ChatEvent::durable(message.clone()))
            .await;
        let mut status = session.status;
        if sender == SenderKind::Customer && status == SessionStatus::Resolved {
            // Writing into a resolved chat reopens it (to the AI, which answers this message).
            let record = NewMessage::system(
                principal.tenant_id.clone(),
                session_id,
                "Chat reopened",
                SystemEvent::SessionUpdated {
                    status: SessionStatus::Open,
                    session_kind: session.kind,
                    reason: Some("customer wrote again".into()),
                },
            );
            let patch = SessionPatch::default().status(SessionStatus::Open);
            let (reopened, recorded) = self
                .store()
                .update_session(&principal.tenant_id, session_id, patch, Some(record))
                .await?;
            status = reopened.status;
            if let Some(recorded) = recorded {
                self.publish(&topic, ChatEvent::durable(recorded)).await;
            }
        }
        if sender == SenderKind::Customer && status == SessionStatus::Open {
            self.request_answer(principal.tenant_id.clone(), session_id);
        }
        Ok(PostOutcome {
            message,
            created: true,
        })
    }

    /// Messages after `after_seq`, in `seq` order; internal notes only for staff. `limit` 0
    /// means the default page size; larger than the maximum is clamped.
    ///
    /// Errors: `NotFound`, `Forbidden`.
    #[tracing::instrument(level = "debug", skip_all, fields(tenant_id = %principal.tenant_id, session_id = %session_id), err(level = "debug"))]
    pub async fn list_messages(
        &self,
        principal: &Principal,
        session_id: SessionId,
        after_seq: u64,
        limit: u32,
    ) -> ChatResult<MessagePage> {
        self.get_session(principal, session_id).await?;
        let config = self.config();
        let limit = if limit == 0 {
            config.default_page_size
        } else {
            limit.min(config.max_page_size)
        };
        let query = MessageQuery::after(after_seq, limit)
            .include_internal(auth::can_see_internal(principal));
        let messages = self
            .store()
            .list_messages(&principal.tenant_id, session_id, query)
            .await?;
        let next_after_seq = messages.last().map_or(after_seq, |m| m.seq);
        let has_more = u32::try_from(messages.len()).is_ok_and(|n| n == limit);
        Ok(MessagePage {
            messages,
            next_after_seq,
            has_more,
        })
    }

    /// Tells the session that the caller started or stopped typing (ephemeral).
    ///
    /// Errors: `NotFound`, `Forbidden`.
    pub async fn typing(
        &self,
        principal: &Principal,
        session_id: SessionId,
        state: TypingState,
    ) -> ChatResult<()> {
        self.get_session(principal, session_id).await?;
        let kind = EventKind::Typing {
            user_id: principal.user_id.clone(),
            sender: sender_of(principal),
            state,
        };
        self.publish_ephemeral(principal, session_id, kind).await;
        Ok(())
    }

    /// Tells the session that the caller came online or went offline (ephemeral).
    ///
    /// Errors: `NotFound`, `Forbidden`.
    pub async fn presence(
        &self,
        principal: &Principal,
        session_id: SessionId,
        state: PresenceState,
    ) -> ChatResult<()> {
        self.get_session(principal, session_id).await?;
        let kind = EventKind::Presence {
            user_id: principal.user_id.clone(),
            sender: sender_of(principal),
            state,
        };
        self.publish_ephemeral(principal, session_id, kind).await;
        Ok(())
    }

    /// The session, when the caller may post to it with this visibility.
    ///
    /// Errors: `NotFound`; `Forbidden` with the reason (not visible, internal note by a
    /// customer, closed session).
    pub(crate) async fn postable_session(
        &self,
        principal: &Principal,
        session_id: SessionId,
        visibility: Visibility,
    ) -> ChatResult<ChatSession> {
        let session = self
            .store()
            .get_session(&principal.tenant_id, session_id)
            .await?;
        if !auth::can_post(principal, &session, visibility) {
            return Err(ChatError::Forbidden(
                if !auth::can_view_session(principal, &session) {
                    "you may not post to this session"
                } else if visibility == Visibility::Internal && !principal.is_staff() {
                    "only staff can write internal notes"
                } else if session.status == SessionStatus::Closed {
                    "the session is closed"
                } else {
                    "you may not post to this session"
                }
                .into(),
            ));
        }
        Ok(session)
    }

    async fn publish_ephemeral(
        &self,
        principal: &Principal,
        session_id: SessionId,
        kind: EventKind,
    ) {
        let topic = Topic::session(principal.tenant_id.clone(), session_id);
        self.publish(
            &topic,
            ChatEvent::ephemeral(principal.tenant_id.clone(), session_id, kind),
        )
        .await;
    }
}

fn sender_of(principal: &Principal) -> SenderKind {
    if principal.is_staff() {
        SenderKind::Agent
    } else {
        SenderKind::Customer
    }
}
