//! Chat sessions.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Metadata;
use crate::ids::{SessionId, TenantId, UserId};

/// What a session is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SessionKind {
    /// Support for a customer's problem: AI first, then human agents.
    Support,
    /// Questions about the platform itself; escalates to support when needed.
    General,
}

/// Where a session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SessionStatus {
    /// Answered by the AI.
    Open,
    /// Queued for a human agent.
    WaitingForAgent,
    /// Held by a human agent.
    Assigned,
    /// The problem is solved; the customer may still reopen it by writing.
    Resolved,
    /// Closed for good: no more messages.
    Closed,
}

impl SessionKind {
    /// The stable name used in storage and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Support => "support",
            Self::General => "general",
        }
    }
    /// Parses [`Self::as_str`]'s output.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "support" => Some(Self::Support),
            "general" => Some(Self::General),
            _ => None,
        }
    }
}

impl SessionStatus {
    /// The stable name used in storage and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::WaitingForAgent => "waiting_for_agent",
            Self::Assigned => "assigned",
            Self::Resolved => "resolved",
            Self::Closed => "closed",
        }
    }
    /// Parses [`Self::as_str`]'s output.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(Self::Open),
            "waiting_for_agent" => Some(Self::WaitingForAgent),
            "assigned" => Some(Self::Assigned),
            "resolved" => Some(Self::Resolved),
            "closed" => Some(Self::Closed),
            _ => None,
        }
    }
}

/// A conversation between one customer and the AI and/or human agents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChatSession {
    /// Id (UUID v7).
    pub id: SessionId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// Support or general.
    pub kind: SessionKind,
    /// Life-cycle status.
    pub status: SessionStatus,
    /// The customer who opened the session.
    pub customer_id: UserId,
    /// Optional title.
    pub title: Option<String>,
    /// The agent currently holding the session, if any.
    pub assigned_agent: Option<UserId>,
    /// The highest `seq` assigned in this session (0 before the first message).
    pub last_seq: u64,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change (message, status, assignment).
    pub updated_at: DateTime<Utc>,
    /// Host metadata.
    pub metadata: Metadata,
}

impl ChatSession {
    /// The session a store creates from `new` at `now`: status `open`, no assignee,
    /// `last_seq` 0. Backends outside this crate build stored rows from it and then set the
    /// public fields.
    pub fn created(new: NewSession, now: DateTime<Utc>) -> Self {
        Self {
            id: new.id,
            tenant_id: new.tenant_id,
            kind: new.kind,
            status: SessionStatus::Open,
            customer_id: new.customer_id,
            title: new.title,
            assigned_agent: None,
            last_seq: 0,
            created_at: now,
            updated_at: now,
            metadata: new.metadata,
        }
    }
}

/// Input for creating a session.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct NewSession {
    /// Id to use.
    pub id: SessionId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// Support or general.
    pub kind: SessionKind,
    /// The customer.
    pub customer_id: UserId,
    /// Optional title.
    pub title: Option<String>,
    /// Host metadata.
    pub metadata: Metadata,
}

impl NewSession {
    /// A new open session with a fresh id, no title and no metadata.
    pub fn new(tenant_id: TenantId, kind: SessionKind, customer_id: UserId) -> Self {
        Self {
            id: SessionId::new(),
            tenant_id,
            kind,
            customer_id,
            title: None,
            metadata: Metadata::new(),
        }
    }
    /// Sets the title.
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }
    /// Sets the metadata.
    pub fn metadata(mut self, metadata: Metadata) -> Self {
        self.metadata = metadata;
        self
    }
}

/// A partial update of a session. `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct SessionPatch {
    /// New status.
    pub status: Option<SessionStatus>,
    /// New kind (general -> support on escalation).
    pub kind: Option<SessionKind>,
    /// New title (`Some(None)` clears it).
    pub title: Option<Option<String>>,
    /// New assignee (`Some(None)` clears it).
    pub assigned_agent: Option<Option<UserId>>,
    /// New metadata (replaces the whole object).
    pub metadata: Option<Metadata>,
}

impl SessionPatch {
    /// Sets the status.
    pub fn status(mut self, status: SessionStatus) -> Self {
        self.status = Some(status);
        self
    }
    /// Sets the kind.
    pub fn kind(mut self, kind: SessionKind) -> Self {
        self.kind = Some(kind);
        self
    }
    /// Sets or clears the title.
    pub fn title(mut self, title: Option<String>) -> Self {
        self.title = Some(title);
        self
    }
    /// Sets or clears the assignee.
    pub fn assigned_agent(mut self, agent: Option<UserId>) -> Self {
        self.assigned_agent = Some(agent);
        self
    }
    /// Replaces the metadata.
    pub fn metadata(mut self, metadata: Metadata) -> Self {
        self.metadata = Some(metadata);
        self
    }
    /// True when the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        self.status.is_none()
            && self.kind.is_none()
            && self.title.is_none()
            && self.assigned_agent.is_none()
            && self.metadata.is_none()
    }
}

/// Which sessions a listing may return, decided by the engine from the principal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionScope {
    /// Every session of the tenant (managers, admins).
    #[default]
    All,
    /// Only this customer's sessions.
    Customer(UserId),
    /// Sessions assigned to this agent, plus queued ones (status `waiting_for_agent`).
    Agent(UserId),
}

/// Opaque position in a session listing: the last id of the previous page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SessionCursor(pub SessionId);

/// Filter for listing sessions; newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionFilter {
    /// Visibility scope (always applied).
    pub scope: SessionScope,
    /// Only this status.
    pub status: Option<SessionStatus>,
    /// Only this kind.
    pub kind: Option<SessionKind>,
    /// Only sessions assigned to this agent.
    pub assigned_to: Option<UserId>,
    /// Page size (the store clamps it to 1..=500).
    pub limit: u32,
    /// Continue after this position.
    pub cursor: Option<SessionCursor>,
}

impl Default for SessionFilter {
    fn default() -> Self {
        Self {
            scope: SessionScope::All,
            status: None,
            kind: None,
            assigned_to: None,
            limit: 50,
            cursor: None,
        }
    }
}

impl SessionFilter {
    /// A filter with this scope and no other condition.
    pub fn scoped(scope: SessionScope) -> Self {
        Self {
            scope,
            ..Self::default()
        }
    }
    /// Only this status.
    pub fn status(mut self, status: SessionStatus) -> Self {
        self.status = Some(status);
        self
    }
    /// Only this kind.
    pub fn kind(mut self, kind: SessionKind) -> Self {
        self.kind = Some(kind);
        self
    }
    /// Only sessions assigned to this agent.
    pub fn assigned_to(mut self, agent: UserId) -> Self {
        self.assigned_to = Some(agent);
        self
    }
    /// Page size.
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = limit;
        self
    }
    /// Continue after a cursor.
    pub fn cursor(mut self, cursor: Option<SessionCursor>) -> Self {
        self.cursor = cursor;
        self
    }
}

/// Largest page a session listing returns.
pub const MAX_SESSION_PAGE: u32 = 500;

/// One page of sessions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SessionPage {
    /// Sessions, newest first.
    pub sessions: Vec<ChatSession>,
    /// Cursor for the next page; `None` when this was the last.
    pub next_cursor: Option<SessionCursor>,
}

impl SessionPage {
    /// Builds a page.
    pub fn new(sessions: Vec<ChatSession>, next_cursor: Option<SessionCursor>) -> Self {
        Self {
            sessions,
            next_cursor,
        }
    }
}
