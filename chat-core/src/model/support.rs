//! Human support: agents and assignments.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{AssignmentId, SessionId, TenantId, UserId};

/// Role of a staff member in the support team.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AgentRole {
    /// Handles chats.
    Agent,
    /// Handles chats and escalations; sees all chats.
    Manager,
}

impl AgentRole {
    /// The stable name used in storage and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agent => "agent",
            Self::Manager => "manager",
        }
    }
    /// Parses [`Self::as_str`]'s output.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "agent" => Some(Self::Agent),
            "manager" => Some(Self::Manager),
            _ => None,
        }
    }
}

/// Whether an agent takes chats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AgentAvailability {
    /// Takes new chats.
    Online,
    /// Keeps current chats, takes no new ones.
    Away,
    /// Not working.
    #[default]
    Offline,
}

impl AgentAvailability {
    /// The stable name used in storage and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Away => "away",
            Self::Offline => "offline",
        }
    }
    /// Parses [`Self::as_str`]'s output.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "online" => Some(Self::Online),
            "away" => Some(Self::Away),
            "offline" => Some(Self::Offline),
            _ => None,
        }
    }
}

/// A member of the host's support team.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Agent {
    /// The user id (the same as in the principal).
    pub id: UserId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// Display name.
    pub display_name: String,
    /// Agent or manager.
    pub role: AgentRole,
    /// Whether the agent takes chats.
    pub availability: AgentAvailability,
    /// Most chats held at once.
    pub max_concurrent: u32,
    /// Teams (for routing).
    pub teams: Vec<String>,
    /// When the agent last had an assignment end or became available (for longest-idle routing).
    pub last_assigned_at: Option<DateTime<Utc>>,
    /// Last update.
    pub updated_at: DateTime<Utc>,
}

impl Agent {
    /// An offline agent holding at most 5 chats.
    pub fn new(
        tenant_id: TenantId,
        id: UserId,
        display_name: impl Into<String>,
        role: AgentRole,
    ) -> Self {
        Self {
            id,
            tenant_id,
            display_name: display_name.into(),
            role,
            availability: AgentAvailability::Offline,
            max_concurrent: 5,
            teams: Vec::new(),
            last_assigned_at: None,
            updated_at: Utc::now(),
        }
    }
    /// Sets the availability.
    pub fn availability(mut self, availability: AgentAvailability) -> Self {
        self.availability = availability;
        self
    }
    /// Sets the capacity.
    pub fn max_concurrent(mut self, max: u32) -> Self {
        self.max_concurrent = max;
        self
    }
    /// Sets the teams.
    pub fn teams(mut self, teams: Vec<String>) -> Self {
        self.teams = teams;
        self
    }
}

/// How an assignment came about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AssignmentKind {
    /// Picked by auto-assignment.
    Auto,
    /// Assigned by staff.
    Manual,
    /// Transferred from another agent.
    Transfer,
    /// Escalated to a manager.
    Escalation,
}

impl AssignmentKind {
    /// The stable name used in storage and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Manual => "manual",
            Self::Transfer => "transfer",
            Self::Escalation => "escalation",
        }
    }
    /// Parses [`Self::as_str`]'s output.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "auto" => Some(Self::Auto),
            "manual" => Some(Self::Manual),
            "transfer" => Some(Self::Transfer),
            "escalation" => Some(Self::Escalation),
            _ => None,
        }
    }
}

/// One agent holding one session for a while.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SupportAssignment {
    /// Id.
    pub id: AssignmentId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// The session.
    pub session_id: SessionId,
    /// The agent.
    pub agent_id: UserId,
    /// How it came about.
    pub kind: AssignmentKind,
    /// Who made it (none for auto-assignment).
    pub assigned_by: Option<UserId>,
    /// Note (transfer reason, escalation reason).
    pub note: Option<String>,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// End, once transferred, resolved or handed back.
    pub ended_at: Option<DateTime<Utc>>,
}

impl SupportAssignment {
    /// An active assignment with a fresh id, no author and no note.
    pub fn new(
        tenant_id: TenantId,
        session_id: SessionId,
        agent_id: UserId,
        kind: AssignmentKind,
        started_at: DateTime<Utc>,
    ) -> Self {
        Self {
            id: AssignmentId::new(),
            tenant_id,
            session_id,
            agent_id,
            kind,
            assigned_by: None,
            note: None,
            started_at,
            ended_at: None,
        }
    }
}

/// Which agent an assignment should go to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AssignTarget {
    /// This agent.
    Agent(UserId),
    /// The least loaded online agent with free capacity (ties: longest idle), optionally of a team;
    /// only managers when `managers_only`.
    Auto {
        /// Restrict to a team.
        team: Option<String>,
        /// Restrict to managers (escalation).
        managers_only: bool,
    },
}

/// An atomic assignment request: the store locks the session, checks it, ends the current
/// assignment (transfer, escalation), checks the agent's capacity, records the new assignment,
/// sets the session to `assigned` and appends the system message, all in one transaction.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct AssignRequest {
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// The session.
    pub session_id: SessionId,
    /// Target agent.
    pub target: AssignTarget,
    /// Kind of assignment.
    pub kind: AssignmentKind,
    /// Who asks (none for auto-assignment).
    pub assigned_by: Option<UserId>,
    /// Note.
    pub note: Option<String>,
    /// When false, refuse if the session already has an active assignment (`Conflict`).
    pub replace_existing: bool,
    /// When true, refuse an agent at capacity (`Conflict`); always true for `Auto`.
    pub enforce_capacity: bool,
}

impl AssignRequest {
    /// A request with the given target; no replacement of an existing assignment, capacity enforced.
    pub fn new(
        tenant_id: TenantId,
        session_id: SessionId,
        target: AssignTarget,
        kind: AssignmentKind,
    ) -> Self {
        Self {
            tenant_id,
            session_id,
            target,
            kind,
            assigned_by: None,
            note: None,
            replace_existing: false,
            enforce_capacity: true,
        }
    }
    /// Sets who asks.
    pub fn assigned_by(mut self, by: Option<UserId>) -> Self {
        self.assigned_by = by;
        self
    }
    /// Sets the note.
    pub fn note(mut self, note: Option<String>) -> Self {
        self.note = note;
        self
    }
    /// Allows replacing an active assignment (transfer, escalation).
    pub fn replace_existing(mut self, replace: bool) -> Self {
        self.replace_existing = replace;
        self
    }
    /// Whether to refuse an agent at capacity.
    pub fn enforce_capacity(mut self, enforce: bool) -> Self {
        self.enforce_capacity = enforce;
        self
    }
}

/// What an assignment changed.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct AssignmentOutcome {
    /// The new assignment.
    pub assignment: SupportAssignment,
    /// The assignment it replaced, now ended.
    pub previous: Option<SupportAssignment>,
    /// The session after the change.
    pub session: super::ChatSession,
    /// The system message recording it (carries the `seq`).
    pub message: super::ChatMessage,
}

impl AssignmentOutcome {
    /// Builds an outcome.
    pub fn new(
        assignment: SupportAssignment,
        previous: Option<SupportAssignment>,
        session: super::ChatSession,
        message: super::ChatMessage,
    ) -> Self {
        Self {
            assignment,
            previous,
            session,
            message,
        }
    }
}

/// The system message recording an assignment (stores append it in the assignment's transaction).
/// The message is public, so the assignment it carries has its note removed: notes are for staff
/// (the engine stores them as internal notes).
pub fn assignment_message(assignment: &SupportAssignment, agent_name: &str) -> super::NewMessage {
    let mut public = assignment.clone();
    public.note = None;
    let content = match assignment.kind {
        AssignmentKind::Transfer => format!("Chat transferred to {agent_name}"),
        AssignmentKind::Escalation => format!("Chat escalated to {agent_name}"),
        AssignmentKind::Auto | AssignmentKind::Manual => format!("{agent_name} joined the chat"),
    };
    super::NewMessage::system(
        assignment.tenant_id.clone(),
        assignment.session_id,
        content,
        super::SystemEvent::AssignmentChanged { assignment: public },
    )
}

/// The system message recording the end of an assignment or a status change without one.
pub fn release_message(
    tenant_id: TenantId,
    session_id: SessionId,
    ended: Option<&SupportAssignment>,
    status_after: super::SessionStatus,
    session_kind: super::SessionKind,
    reason: Option<String>,
) -> super::NewMessage {
    let content = match status_after {
        super::SessionStatus::Resolved => "Chat resolved",
        super::SessionStatus::Closed => "Chat closed",
        super::SessionStatus::Open => "Chat handed back to the assistant",
        super::SessionStatus::WaitingForAgent => "Waiting for an agent",
        super::SessionStatus::Assigned => "Chat assigned",
    };
    let event = match ended {
        Some(assignment) => super::SystemEvent::AssignmentChanged {
            assignment: SupportAssignment {
                note: None,
                ..assignment.clone()
            },
        },
        None => super::SystemEvent::SessionUpdated {
            status: status_after,
            session_kind,
            reason,
        },
    };
    super::NewMessage::system(tenant_id, session_id, content, event)
}
