//! Human support (DESIGN section 8): escalation, assignment, transfer, internal notes,
//! resolution, hand-back to the AI, agent availability and capacity-aware auto-assignment.
//!
//! Every change is one atomic store call that also appends the system message recording it (so
//! it takes a `seq` and replays in order); the engine then publishes the event on the session's
//! topic and on the agents' topic (the queue the agent console watches).

use std::sync::Arc;

use super::{ChatEngine, ChatError, ChatResult, PostMessage};
use crate::auth::{Principal, Role};
use crate::bus::{ChatEvent, Topic};
use crate::ids::{SessionId, TenantId, UserId};
use crate::model::{
    Agent, AgentAvailability, AgentRole, AssignRequest, AssignTarget, AssignmentKind, ChatMessage,
    ChatSession, NewMessage, SessionKind, SessionPatch, SessionStatus, SupportAssignment,
    SystemEvent,
};
use crate::store::{ReleaseRequest, StoreError};

/// Largest `max_concurrent` an agent may set.
pub const MAX_AGENT_CAPACITY: u32 = 100;
/// Queued sessions looked at per auto-assignment round.
pub const AUTO_ASSIGN_BATCH: u32 = 50;

impl ChatEngine {
    /// Asks for more help: a general chat becomes a support chat waiting for an agent; an
    /// AI-answered or resolved support chat waits for an agent; a chat held by an agent is
    /// escalated to a manager. Auto-assignment is tried at once.
    ///
    /// Errors: `NotFound`, `Forbidden`, `Conflict` (closed session; no manager free to take an
    /// escalation).
    #[tracing::instrument(level = "debug", skip_all, fields(tenant_id = %principal.tenant_id, session_id = %session_id), err(level = "debug"))]
    pub async fn escalate(
        &self,
        principal: &Principal,
        session_id: SessionId,
        reason: Option<String>,
    ) -> ChatResult<ChatSession> {
        let session = self.get_session(principal, session_id).await?;
        let reason = clean_note(reason, self.config().max_message_bytes)?;
        match (session.kind, session.status) {
            (_, SessionStatus::Closed) => Err(ChatError::Conflict("the session is closed".into())),
            (SessionKind::Support, SessionStatus::Assigned) => {
                if !principal.is_staff() && principal.user_id != session.customer_id {
                    return Err(ChatError::Forbidden(
                        "you may not escalate this session".into(),
                    ));
                }
                let request = AssignRequest::new(
                    principal.tenant_id.clone(),
                    session_id,
                    AssignTarget::Auto {
                        team: None,
                        managers_only: true,
                    },
                    AssignmentKind::Escalation,
                )
                .assigned_by(Some(principal.user_id.clone()))
                .note(reason.clone())
                .replace_existing(true);
                let outcome = match self.store().assign_session(request).await {
                    Err(StoreError::Conflict(_)) => {
                        return Err(ChatError::Conflict("no manager is free to take the escalation; the chat stays with its agent".into()));
                    }
                    other => other?,
                };
                self.publish_change(&outcome.message).await;
                if let Some(reason) = reason {
                    self.store_note(
                        principal,
                        session_id,
                        format!("Escalation reason: {reason}"),
                    )
                    .await?;
                }
                self.assign_queued(&principal.tenant_id).await?;
                Ok(outcome.session)
            }
            (SessionKind::Support, SessionStatus::WaitingForAgent) => {
                self.assign_queued(&principal.tenant_id).await?;
                Ok(self
                    .store()
                    .get_session(&principal.tenant_id, session_id)
                    .await?)
            }
            _ => {
                // The record is public: a customer's own reason may stand in it; a staff
                // member's reason is for staff and goes into an internal note.
                let (public_reason, staff_reason) = if principal.is_staff() {
                    (None, reason)
                } else {
                    (reason, None)
                };
                let record = NewMessage::system(
                    principal.tenant_id.clone(),
                    session_id,
                    "Waiting for a human agent",
                    SystemEvent::SessionUpdated {
                        status: SessionStatus::WaitingForAgent,
                        session_kind: SessionKind::Support,
                        reason: public_reason,
                    },
                );
                let patch = SessionPatch::default()
                    .kind(SessionKind::Support)
                    .status(SessionStatus::WaitingForAgent);
                let (_, message) = self
                    .store()
                    .update_session(&principal.tenant_id, session_id, patch, Some(record))
                    .await?;
                if let Some(message) = message {
                    self.publish_change(&message).await;
                }
                if let Some(reason) = staff_reason {
                    self.store_note(
                        principal,
                        session_id,
                        format!("Escalation reason: {reason}"),
                    )
                    .await?;
                }
                self.assign_queued(&principal.tenant_id).await?;
                Ok(self
                    .store()
                    .get_session(&principal.tenant_id, session_id)
                    .await?)
            }
        }
    }

    /// Assigns a session to an agent. Agents may only take a session themselves (from the
    /// queue); managers and admins assign anyone.
    ///
    /// Errors: `NotFound` (session, agent), `Forbidden`, `Conflict` (already assigned, agent at
    /// capacity, closed).
    #[tracing::instrument(level = "debug", skip_all, fields(tenant_id = %principal.tenant_id, session_id = %session_id, agent_id = %agent_id), err(level = "debug"))]
    pub async fn assign(
        &self,
        principal: &Principal,
        session_id: SessionId,
        agent_id: UserId,
    ) -> ChatResult<SupportAssignment> {
        self.require_staff(principal)?;
        if principal.role == Role::Agent && agent_id != principal.user_id {
            return Err(ChatError::Forbidden(
                "agents can only take chats themselves".into(),
            ));
        }
        let session = self.get_session(principal, session_id).await?;
        if session.kind != SessionKind::Support {
            return Err(ChatError::Conflict(
                "only support chats are assigned; escalate a general chat first".into(),
            ));
        }
        let request = AssignRequest::new(
            principal.tenant_id.clone(),
            session_id,
            AssignTarget::Agent(agent_id),
            AssignmentKind::Manual,
        )
        .assigned_by(Some(principal.user_id.clone()));
        let outcome = self.store().assign_session(request).await?;
        self.publish_change(&outcome.message).await;
        Ok(outcome.assignment)
    }

    /// Transfers a session to another agent, with an optional note for staff (stored as an
    /// internal note). The holding agent or a manager may transfer.
    ///
    /// Errors: `NotFound`, `Forbidden`, `Conflict` (target at capacity, closed).
    #[tracing::instrument(level = "debug", skip_all, fields(tenant_id = %principal.tenant_id, session_id = %session_id, agent_id = %agent_id), err(level = "debug"))]
    pub async fn transfer(
        &self,
        principal: &Principal,
        session_id: SessionId,
        agent_id: UserId,
        note: Option<String>,
    ) -> ChatResult<SupportAssignment> {
        self.require_staff(principal)?;
        let session = self.get_session(principal, session_id).await?;
        self.require_holder_or_manager(principal, &session)?;
        let note = clean_note(note, self.config().max_message_bytes)?;
        let request = AssignRequest::new(
            principal.tenant_id.clone(),
            session_id,
            AssignTarget::Agent(agent_id),
            AssignmentKind::Transfer,
        )
        .assigned_by(Some(principal.user_id.clone()))
        .note(note.clone())
        .replace_existing(true);
        let outcome = self.store().assign_session(request).await?;
        self.publish_change(&outcome.message).await;
        if let Some(note) = note {
            self.store_note(principal, session_id, format!("Transfer note: {note}"))
                .await?;
        }
        // The previous holder has room for a queued chat now.
        self.assign_queued(&principal.tenant_id).await?;
        Ok(outcome.assignment)
    }

    /// Adds an internal note (staff only, never shown to customers).
    ///
    /// Errors: as [`ChatEngine::post_message`].
    pub async fn add_note(
        &self,
        principal: &Principal,
        session_id: SessionId,
        content: impl Into<String>,
    ) -> ChatResult<ChatMessage> {
        self.require_staff(principal)?;
        Ok(self
            .post_message(principal, session_id, PostMessage::new(content).internal())
            .await?
            .message)
    }

    /// Marks a session resolved, ending its assignment. The customer, the holding agent or a
    /// manager may resolve.
    ///
    /// Errors: `NotFound`, `Forbidden`, `Conflict` (closed).
    #[tracing::instrument(level = "debug", skip_all, fields(tenant_id = %principal.tenant_id, session_id = %session_id), err(level = "debug"))]
    pub async fn resolve(
        &self,
        principal: &Principal,
        session_id: SessionId,
    ) -> ChatResult<ChatSession> {
        let session = self.get_session(principal, session_id).await?;
        if principal.is_staff() {
            self.require_holder_or_manager(principal, &session)?;
        }
        self.release(principal, &session, SessionStatus::Resolved)
            .await
    }

    /// Hands a session back to the AI (status `open`), ending its assignment.
    ///
    /// Errors: `NotFound`, `Forbidden`, `Conflict` (closed).
    #[tracing::instrument(level = "debug", skip_all, fields(tenant_id = %principal.tenant_id, session_id = %session_id), err(level = "debug"))]
    pub async fn hand_back(
        &self,
        principal: &Principal,
        session_id: SessionId,
    ) -> ChatResult<ChatSession> {
        self.require_staff(principal)?;
        let session = self.get_session(principal, session_id).await?;
        self.require_holder_or_manager(principal, &session)?;
        self.release(principal, &session, SessionStatus::Open).await
    }

    /// Sets the caller's availability (and capacity); creates the agent record on first use.
    /// Going online assigns queued chats.
    ///
    /// Errors: `Forbidden` for customers; `InvalidInput` for a capacity outside 1..=100.
    pub async fn set_availability(
        &self,
        principal: &Principal,
        availability: AgentAvailability,
        max_concurrent: Option<u32>,
    ) -> ChatResult<Agent> {
        self.require_staff(principal)?;
        if let Some(max) = max_concurrent {
            if !(1..=MAX_AGENT_CAPACITY).contains(&max) {
                return Err(ChatError::InvalidInput(format!(
                    "max_concurrent must be 1 to {MAX_AGENT_CAPACITY}"
                )));
            }
        }
        let store = self.store();
        let agent = match store
            .set_agent_availability(
                &principal.tenant_id,
                &principal.user_id,
                availability,
                max_concurrent,
            )
            .await
        {
            Err(StoreError::NotFound { .. }) => {
                let role = if principal.role == Role::Agent {
                    AgentRole::Agent
                } else {
                    AgentRole::Manager
                };
                let mut agent = Agent::new(
                    principal.tenant_id.clone(),
                    principal.user_id.clone(),
                    principal.user_id.as_str(),
                    role,
                )
                .availability(availability);
                if let Some(max) = max_concurrent {
                    agent.max_concurrent = max;
                }
                store.upsert_agent(agent).await?
            }
            other => other?,
        };
        if availability == AgentAvailability::Online {
            self.assign_queued(&principal.tenant_id).await?;
        }
        Ok(agent)
    }

    /// The active assignment of a session the caller may see.
    ///
    /// Errors: `NotFound`, `Forbidden`.
    pub async fn active_assignment(
        &self,
        principal: &Principal,
        session_id: SessionId,
    ) -> ChatResult<Option<SupportAssignment>> {
        self.get_session(principal, session_id).await?;
        Ok(self
            .store()
            .active_assignment(&principal.tenant_id, session_id)
            .await?)
    }

    /// Assigns queued chats, oldest first, while some online agent has free capacity. Safe to
    /// call from several nodes at once: each assignment is atomic in the store. Returns how many
    /// were assigned.
    ///
    /// Errors: `Unavailable` on storage failure.
    pub async fn assign_queued(&self, tenant: &TenantId) -> ChatResult<usize> {
        let queued = self
            .store()
            .queued_sessions(tenant, AUTO_ASSIGN_BATCH)
            .await?;
        let mut assigned = 0;
        for session in queued {
            let request = AssignRequest::new(
                tenant.clone(),
                session.id,
                AssignTarget::Auto {
                    team: None,
                    managers_only: false,
                },
                AssignmentKind::Auto,
            );
            match self.store().assign_session(request).await {
                Ok(outcome) => {
                    assigned += 1;
                    self.publish_change(&outcome.message).await;
                }
                Err(StoreError::Conflict(_)) => {
                    // Either no agent is free (the rest waits for the next chance), or this
                    // session changed meanwhile (another node took it, it was closed): skip it.
                    let now = self.store().get_session(tenant, session.id).await?;
                    if now.status == SessionStatus::WaitingForAgent && now.assigned_agent.is_none()
                    {
                        break;
                    }
                }
                Err(err) => return Err(err.into()),
            }
        }
        Ok(assigned)
    }

    async fn release(
        &self,
        principal: &Principal,
        session: &ChatSession,
        status_after: SessionStatus,
    ) -> ChatResult<ChatSession> {
        if session.status == SessionStatus::Closed {
            return Err(ChatError::Conflict("the session is closed".into()));
        }
        let request = ReleaseRequest::new(principal.tenant_id.clone(), session.id, status_after)
            .released_by(Some(principal.user_id.clone()));
        let outcome = self.store().release_session(request).await?;
        self.publish_change(&outcome.message).await;
        if outcome.ended.is_some() {
            self.assign_queued(&principal.tenant_id).await?;
        }
        Ok(outcome.session)
    }

    async fn store_note(
        &self,
        principal: &Principal,
        session_id: SessionId,
        content: String,
    ) -> ChatResult<()> {
        let note = NewMessage::new(
            principal.tenant_id.clone(),
            session_id,
            crate::model::SenderKind::Agent,
            Some(principal.user_id.clone()),
            content,
        )
        .visibility(crate::model::Visibility::Internal);
        let inserted = self.store().append_message(note).await?;
        self.publish(
            &Topic::session(principal.tenant_id.clone(), session_id),
            ChatEvent::durable(inserted.value),
        )
        .await;
        Ok(())
    }

    /// Publishes a recorded change on the session's topic and the agents' topic.
    async fn publish_change(&self, message: &ChatMessage) {
        let event = Arc::new(ChatEvent::durable(message.clone()));
        let session_topic = Topic::session(message.tenant_id.clone(), message.session_id);
        let agents_topic = Topic::Agents {
            tenant_id: message.tenant_id.clone(),
        };
        for topic in [session_topic, agents_topic] {
            if let Err(err) = self.bus().publish(&topic, Arc::clone(&event)).await {
                tracing::warn!(error = %err, "event publication failed; subscribers will catch up from the store");
            }
        }
    }

    fn require_staff(&self, principal: &Principal) -> ChatResult<()> {
        if principal.is_staff() {
            Ok(())
        } else {
            Err(ChatError::Forbidden(
                "only support staff can do this".into(),
            ))
        }
    }

    fn require_holder_or_manager(
        &self,
        principal: &Principal,
        session: &ChatSession,
    ) -> ChatResult<()> {
        let holder = session.assigned_agent.as_ref() == Some(&principal.user_id);
        if holder || matches!(principal.role, Role::Manager | Role::Admin) {
            Ok(())
        } else {
            Err(ChatError::Forbidden(
                "only the agent holding the chat or a manager can do this".into(),
            ))
        }
    }
}

fn clean_note(note: Option<String>, max: usize) -> ChatResult<Option<String>> {
    match note.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()) {
        Some(n) => {
            super::validate::long_text("note", &n, max)?;
            Ok(Some(n))
        }
        None => Ok(None),
    }
}
