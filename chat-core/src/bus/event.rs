//! Events published on the bus and sent to clients.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{DocumentId, MessageId, SessionId, TenantId, UserId};
use crate::model::{
    ChatMessage, DocumentStatus, SenderKind, SessionKind, SessionStatus, SupportAssignment,
    SystemEvent, Visibility,
};

/// Where an event is published.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "topic", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Topic {
    /// Everything that happens in one session.
    Session {
        /// Tenant.
        tenant_id: TenantId,
        /// Session.
        session_id: SessionId,
    },
    /// The support team's queue: chats waiting, assignments, escalations.
    Agents {
        /// Tenant.
        tenant_id: TenantId,
    },
    /// Notifications for one user.
    User {
        /// Tenant.
        tenant_id: TenantId,
        /// User.
        user_id: UserId,
    },
}

impl Topic {
    /// The topic of a session.
    pub fn session(tenant_id: TenantId, session_id: SessionId) -> Self {
        Self::Session {
            tenant_id,
            session_id,
        }
    }
    /// The tenant this topic belongs to.
    pub fn tenant_id(&self) -> &TenantId {
        match self {
            Self::Session { tenant_id, .. }
            | Self::Agents { tenant_id }
            | Self::User { tenant_id, .. } => tenant_id,
        }
    }
}

/// Typing state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TypingState {
    /// Started typing.
    Start,
    /// Stopped typing.
    Stop,
}

/// Presence state of a participant in a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PresenceState {
    /// Joined / connected.
    Online,
    /// Left / disconnected.
    Offline,
}

/// What happened. The `kind` names are the API v1 event kinds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// A customer, agent or system message was stored.
    MessageCreated {
        /// The message.
        message: ChatMessage,
    },
    /// A piece of an AI answer being streamed (ephemeral).
    AiDelta {
        /// Id the final message will have.
        message_id: MessageId,
        /// Text to append.
        delta: String,
    },
    /// An AI answer was stored (complete, or marked incomplete after an error).
    AiCompleted {
        /// The message.
        message: ChatMessage,
    },
    /// Someone started or stopped typing (ephemeral).
    Typing {
        /// Who.
        user_id: UserId,
        /// Their side.
        sender: SenderKind,
        /// Start or stop.
        state: TypingState,
    },
    /// Someone joined or left (ephemeral).
    Presence {
        /// Who.
        user_id: UserId,
        /// Their side.
        sender: SenderKind,
        /// Online or offline.
        state: PresenceState,
    },
    /// A document's status changed; durable states carry the system message that records them.
    DocumentStatus {
        /// The document.
        document_id: DocumentId,
        /// Its status.
        status: DocumentStatus,
        /// The recording message (durable states only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<ChatMessage>,
    },
    /// A submitted URL's status changed.
    UrlStatus {
        /// The document record of the URL.
        document_id: DocumentId,
        /// The URL.
        url: String,
        /// Its status.
        status: DocumentStatus,
        /// The recording message (durable states only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<ChatMessage>,
    },
    /// The session's status or kind changed.
    SessionUpdated {
        /// Status after the change.
        status: SessionStatus,
        /// Kind after the change.
        session_kind: SessionKind,
        /// The recording message.
        message: ChatMessage,
    },
    /// An assignment started or ended.
    AssignmentChanged {
        /// The assignment.
        assignment: SupportAssignment,
        /// The recording message.
        message: ChatMessage,
    },
}

impl EventKind {
    /// The event a stored message stands for. Live publication and replay from the store both
    /// use this, so a client sees the same event either way.
    pub fn for_message(message: ChatMessage) -> Self {
        match message.metadata.system_event.clone() {
            None if message.sender == SenderKind::Ai => Self::AiCompleted { message },
            None => Self::MessageCreated { message },
            Some(SystemEvent::SessionUpdated {
                status,
                session_kind,
                ..
            }) => Self::SessionUpdated {
                status,
                session_kind,
                message,
            },
            Some(SystemEvent::AssignmentChanged { assignment }) => Self::AssignmentChanged {
                assignment,
                message,
            },
            Some(SystemEvent::DocumentStatus {
                document_id,
                status,
            }) => Self::DocumentStatus {
                document_id,
                status,
                message: Some(message),
            },
            Some(SystemEvent::UrlStatus {
                document_id,
                url,
                status,
            }) => Self::UrlStatus {
                document_id,
                url,
                status,
                message: Some(message),
            },
        }
    }

    /// The stored message behind a durable event.
    pub fn message(&self) -> Option<&ChatMessage> {
        match self {
            Self::MessageCreated { message }
            | Self::AiCompleted { message }
            | Self::SessionUpdated { message, .. }
            | Self::AssignmentChanged { message, .. } => Some(message),
            Self::DocumentStatus { message, .. } | Self::UrlStatus { message, .. } => {
                message.as_ref()
            }
            Self::AiDelta { .. } | Self::Typing { .. } | Self::Presence { .. } => None,
        }
    }

    /// The API v1 name of the kind (`message_created`, `ai_delta`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Self::MessageCreated { .. } => "message_created",
            Self::AiDelta { .. } => "ai_delta",
            Self::AiCompleted { .. } => "ai_completed",
            Self::Typing { .. } => "typing",
            Self::Presence { .. } => "presence",
            Self::DocumentStatus { .. } => "document_status",
            Self::UrlStatus { .. } => "url_status",
            Self::SessionUpdated { .. } => "session_updated",
            Self::AssignmentChanged { .. } => "assignment_changed",
        }
    }
}

/// An event with its routing data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChatEvent {
    /// Tenant.
    pub tenant_id: TenantId,
    /// The session, for session events.
    pub session_id: Option<SessionId>,
    /// The session `seq` of a durable event; `None` for ephemeral ones.
    pub seq: Option<u64>,
    /// What happened.
    pub kind: EventKind,
    /// When it was published.
    pub at: DateTime<Utc>,
}

impl ChatEvent {
    /// A durable event for a stored message (carries its `seq`).
    pub fn durable(message: ChatMessage) -> Self {
        Self {
            tenant_id: message.tenant_id.clone(),
            session_id: Some(message.session_id),
            seq: Some(message.seq),
            at: message.created_at,
            kind: EventKind::for_message(message),
        }
    }

    /// An ephemeral event of a session (no `seq`).
    pub fn ephemeral(tenant_id: TenantId, session_id: SessionId, kind: EventKind) -> Self {
        Self {
            tenant_id,
            session_id: Some(session_id),
            seq: None,
            kind,
            at: Utc::now(),
        }
    }

    /// Whether this event may reach a principal who cannot see internal notes.
    pub fn is_public(&self) -> bool {
        self.kind
            .message()
            .is_none_or(|m| m.visibility == Visibility::Public)
    }
}
