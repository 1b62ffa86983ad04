//! Messages and their metadata.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Metadata;
use super::context::ContextSourceKind;
use super::document::{ChunkLocator, DocumentStatus};
use super::session::{SessionKind, SessionStatus};
use super::support::SupportAssignment;
use crate::ids::{DocumentId, MessageId, SessionId, TenantId, UserId};

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SenderKind {
    /// The customer.
    Customer,
    /// A human agent or manager.
    Agent,
    /// The AI answerer.
    Ai,
    /// The engine itself (status changes, assignments, document status).
    System,
}

impl SenderKind {
    /// The stable name used in storage and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Customer => "customer",
            Self::Agent => "agent",
            Self::Ai => "ai",
            Self::System => "system",
        }
    }
    /// Parses [`Self::as_str`]'s output.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "customer" => Some(Self::Customer),
            "agent" => Some(Self::Agent),
            "ai" => Some(Self::Ai),
            "system" => Some(Self::System),
            _ => None,
        }
    }
}

/// Who may see a message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Visibility {
    /// Everyone in the session.
    #[default]
    Public,
    /// Staff only (internal notes); never sent to customers.
    Internal,
}

impl Visibility {
    /// The stable name used in storage and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Internal => "internal",
        }
    }
    /// Parses [`Self::as_str`]'s output.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "public" => Some(Self::Public),
            "internal" => Some(Self::Internal),
            _ => None,
        }
    }
}

/// Token counts of one provider call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TokenUsage {
    /// Tokens in the prompt.
    pub prompt_tokens: u32,
    /// Tokens generated.
    pub completion_tokens: u32,
}

impl TokenUsage {
    /// Builds a usage record.
    pub fn new(prompt_tokens: u32, completion_tokens: u32) -> Self {
        Self {
            prompt_tokens,
            completion_tokens,
        }
    }
}

/// One `[n]` citation of an AI answer, resolved to the source it names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Citation {
    /// The `n` of the `[n]` marker.
    pub index: u32,
    /// What kind of source.
    pub source_kind: ContextSourceKind,
    /// Stable id of the source (article id, chunk id, URL...).
    pub source_id: String,
    /// Title to show.
    pub title: String,
    /// Where in the source (page, sheet and rows, heading path).
    pub locator: Option<ChunkLocator>,
    /// Link to the source, when it has one.
    pub url: Option<String>,
    /// Short excerpt.
    pub snippet: Option<String>,
    /// Relevance in 0..=1.
    pub score: f32,
}

/// A durable change recorded as a system message, so that it replays in `seq` order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum SystemEvent {
    /// The session's status or kind changed.
    SessionUpdated {
        /// Status after the change.
        status: SessionStatus,
        /// Kind after the change.
        session_kind: SessionKind,
        /// Why, when known.
        reason: Option<String>,
    },
    /// An agent was assigned, the session transferred or escalated, or the assignment ended.
    AssignmentChanged {
        /// The assignment (ended ones have `ended_at`).
        assignment: SupportAssignment,
    },
    /// A document reached a durable status (pending, ready, failed).
    DocumentStatus {
        /// The document.
        document_id: DocumentId,
        /// Its status.
        status: DocumentStatus,
    },
    /// A submitted URL reached a durable status.
    UrlStatus {
        /// The document record of the URL.
        document_id: DocumentId,
        /// The URL.
        url: String,
        /// Its status.
        status: DocumentStatus,
    },
}

/// Structured metadata of a message. Unknown keys from hosts go into `extra`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MessageMetadata {
    /// Citations of an AI answer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub citations: Vec<Citation>,
    /// Confidence of an AI answer in 0..=1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f32>,
    /// Provider that produced an AI answer (`"offline"` for the offline answerer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Model that produced an AI answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Tokens used by an AI answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<TokenUsage>,
    /// True when an AI answer stopped before it was complete.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub incomplete: bool,
    /// True when the answer came from the offline extractive answerer.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub offline: bool,
    /// For AI answers (and the notice of a failed one): the last `seq` the answer took into
    /// account. Messages that arrived while it streamed have lower `seq`s than the answer but are
    /// answered by the next one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to_seq: Option<u64>,
    /// The durable change a system message records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_event: Option<SystemEvent>,
    /// Anything else.
    #[serde(default, flatten)]
    pub extra: Metadata,
}

/// A message of a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChatMessage {
    /// Id (UUID v7).
    pub id: MessageId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// The session.
    pub session_id: SessionId,
    /// Position in the session, assigned by the store in the insert transaction; starts at 1.
    pub seq: u64,
    /// Who wrote it.
    pub sender: SenderKind,
    /// The writing user (none for AI and system messages).
    pub sender_id: Option<UserId>,
    /// Public or internal note.
    pub visibility: Visibility,
    /// The text.
    pub content: String,
    /// Citations, confidence, provider, usage, system event.
    pub metadata: MessageMetadata,
    /// The client's idempotency key.
    pub client_msg_id: Option<String>,
    /// Commit time.
    pub created_at: DateTime<Utc>,
}

impl ChatMessage {
    /// The message a store appends from `new` with its assigned `seq` and commit time.
    pub fn appended(new: NewMessage, seq: u64, created_at: DateTime<Utc>) -> Self {
        Self {
            id: new.id,
            tenant_id: new.tenant_id,
            session_id: new.session_id,
            seq,
            sender: new.sender,
            sender_id: new.sender_id,
            visibility: new.visibility,
            content: new.content,
            metadata: new.metadata,
            client_msg_id: new.client_msg_id,
            created_at,
        }
    }
}

/// Input for appending a message; the store assigns `seq` and `created_at`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct NewMessage {
    /// Id to use.
    pub id: MessageId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// The session.
    pub session_id: SessionId,
    /// Who writes it.
    pub sender: SenderKind,
    /// The writing user.
    pub sender_id: Option<UserId>,
    /// Public or internal.
    pub visibility: Visibility,
    /// The text.
    pub content: String,
    /// Metadata.
    pub metadata: MessageMetadata,
    /// Idempotency key: appending the same key twice in a session returns the first message.
    pub client_msg_id: Option<String>,
}

impl NewMessage {
    /// A public message with a fresh id and empty metadata.
    pub fn new(
        tenant_id: TenantId,
        session_id: SessionId,
        sender: SenderKind,
        sender_id: Option<UserId>,
        content: impl Into<String>,
    ) -> Self {
        Self {
            id: MessageId::new(),
            tenant_id,
            session_id,
            sender,
            sender_id,
            visibility: Visibility::Public,
            content: content.into(),
            metadata: MessageMetadata::default(),
            client_msg_id: None,
        }
    }
    /// A system message recording a durable change.
    pub fn system(
        tenant_id: TenantId,
        session_id: SessionId,
        content: impl Into<String>,
        event: SystemEvent,
    ) -> Self {
        let mut msg = Self::new(tenant_id, session_id, SenderKind::System, None, content);
        msg.metadata.system_event = Some(event);
        msg
    }
    /// Sets the visibility.
    pub fn visibility(mut self, visibility: Visibility) -> Self {
        self.visibility = visibility;
        self
    }
    /// Sets the idempotency key.
    pub fn client_msg_id(mut self, id: Option<String>) -> Self {
        self.client_msg_id = id;
        self
    }
    /// Sets the metadata.
    pub fn metadata(mut self, metadata: MessageMetadata) -> Self {
        self.metadata = metadata;
        self
    }
}
