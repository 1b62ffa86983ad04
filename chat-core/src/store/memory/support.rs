//! [`SupportStore`] of the in-memory store: agents, atomic assignment and release.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{MemoryStore, TenantData, session_not_found};
use crate::ids::{SessionId, TenantId, UserId};
use crate::model::{
    Agent, AgentAvailability, AgentRole, AssignRequest, AssignTarget, AssignmentOutcome,
    ChatSession, MAX_SESSION_PAGE, SessionStatus, SupportAssignment, assignment_message,
    release_message,
};
use crate::store::{
    ReleaseOutcome, ReleaseRequest, StoreError, StoreResult, SupportStore, clamp_limit,
};

fn agent_not_found(id: &UserId) -> StoreError {
    StoreError::not_found("agent", id)
}

impl TenantData {
    /// Active assignments per agent.
    fn loads(&self) -> HashMap<&UserId, u32> {
        let mut loads: HashMap<&UserId, u32> = HashMap::new();
        for row in self.sessions.values() {
            if let Some(active) = row.active_assignment() {
                *loads.entry(&active.agent_id).or_insert(0) += 1;
            }
        }
        loads
    }

    /// Picks the agent for a request; `current` is the session's active assignee, not counted
    /// against the capacity of a re-assignment and never picked by `Auto` when replaced.
    fn choose_agent(
        &self,
        request: &AssignRequest,
        current: Option<&UserId>,
    ) -> StoreResult<UserId> {
        let loads = self.loads();
        let load_of = |agent: &UserId| {
            let load = loads.get(agent).copied().unwrap_or(0);
            if current == Some(agent) {
                load.saturating_sub(1)
            } else {
                load
            }
        };
        match &request.target {
            AssignTarget::Agent(id) => {
                let agent = self.agents.get(id).ok_or_else(|| agent_not_found(id))?;
                if request.enforce_capacity && load_of(id) >= agent.max_concurrent {
                    return Err(StoreError::Conflict(format!(
                        "agent {id} is at capacity ({} chats)",
                        agent.max_concurrent
                    )));
                }
                Ok(id.clone())
            }
            AssignTarget::Auto {
                team,
                managers_only,
            } => self
                .agents
                .values()
                .filter(|a| a.availability == AgentAvailability::Online)
                .filter(|a| !managers_only || a.role == AgentRole::Manager)
                .filter(|a| team.as_ref().is_none_or(|t| a.teams.contains(t)))
                .filter(|a| current != Some(&a.id))
                .map(|a| (load_of(&a.id), a))
                .filter(|(load, a)| *load < a.max_concurrent)
                // Least loaded, then longest idle (never assigned first), then by id.
                .min_by(|(la, a), (lb, b)| {
                    (la, a.last_assigned_at, &a.id).cmp(&(lb, b.last_assigned_at, &b.id))
                })
                .map(|(_, a)| a.id.clone())
                .ok_or_else(|| StoreError::Conflict("no agent is available".into())),
        }
    }

    fn touch_agent(&mut self, id: &UserId, now: DateTime<Utc>) {
        if let Some(agent) = self.agents.get_mut(id) {
            agent.last_assigned_at = Some(now);
        }
    }

    /// Ends the session's active assignment, if any, and returns it.
    fn end_assignment(
        &mut self,
        session: SessionId,
        now: DateTime<Utc>,
    ) -> Option<SupportAssignment> {
        let row = self.sessions.get_mut(&session)?;
        let active = row
            .assignments
            .last_mut()
            .filter(|a| a.ended_at.is_none())?;
        active.ended_at = Some(now);
        let ended = active.clone();
        self.touch_agent(&ended.agent_id, now);
        Some(ended)
    }
}

#[async_trait]
impl SupportStore for MemoryStore {
    async fn upsert_agent(&self, mut agent: Agent) -> StoreResult<Agent> {
        let mut state = self.write();
        let data = state.tenant_mut(&agent.tenant_id);
        if let Some(existing) = data.agents.get(&agent.id) {
            agent.last_assigned_at = existing.last_assigned_at;
        }
        data.agents.insert(agent.id.clone(), agent.clone());
        Ok(agent)
    }

    async fn get_agent(&self, tenant: &TenantId, id: &UserId) -> StoreResult<Agent> {
        let state = self.read();
        state
            .tenant(tenant)
            .and_then(|d| d.agents.get(id))
            .cloned()
            .ok_or_else(|| agent_not_found(id))
    }

    async fn list_agents(&self, tenant: &TenantId) -> StoreResult<Vec<Agent>> {
        let state = self.read();
        Ok(state
            .tenant(tenant)
            .map(|d| d.agents.values().cloned().collect())
            .unwrap_or_default())
    }

    async fn set_agent_availability(
        &self,
        tenant: &TenantId,
        id: &UserId,
        availability: AgentAvailability,
        max_concurrent: Option<u32>,
    ) -> StoreResult<Agent> {
        let now = Utc::now();
        let mut state = self.write();
        let agent = state
            .tenants
            .get_mut(tenant)
            .and_then(|d| d.agents.get_mut(id))
            .ok_or_else(|| agent_not_found(id))?;
        if availability == AgentAvailability::Online
            && agent.availability != AgentAvailability::Online
        {
            // Idle time counts from when the agent became available.
            agent.last_assigned_at = Some(now);
        }
        agent.availability = availability;
        if let Some(max) = max_concurrent {
            agent.max_concurrent = max;
        }
        agent.updated_at = now;
        Ok(agent.clone())
    }

    async fn assign_session(&self, request: AssignRequest) -> StoreResult<AssignmentOutcome> {
        let now = Utc::now();
        let mut state = self.write();
        let data = state
            .tenants
            .get_mut(&request.tenant_id)
            .ok_or_else(|| session_not_found(request.session_id))?;
        let row = data.session(request.session_id)?;
        if row.session.status == SessionStatus::Closed {
            return Err(StoreError::Conflict(format!(
                "session {} is closed",
                request.session_id
            )));
        }
        let current = row.active_assignment().map(|a| a.agent_id.clone());
        if current.is_some() && !request.replace_existing {
            return Err(StoreError::Conflict(format!(
                "session {} is already assigned",
                request.session_id
            )));
        }
        let agent_id = data.choose_agent(&request, current.as_ref())?;
        let agent_name = data
            .agents
            .get(&agent_id)
            .map(|a| a.display_name.clone())
            .unwrap_or_default();
        // Every check passed: from here on the change cannot fail half-way.
        let previous = data.end_assignment(request.session_id, now);
        let mut assignment = SupportAssignment::new(
            request.tenant_id.clone(),
            request.session_id,
            agent_id.clone(),
            request.kind,
            now,
        );
        assignment.assigned_by = request.assigned_by;
        assignment.note = request.note;
        let row = data.session_mut(request.session_id)?;
        row.assignments.push(assignment.clone());
        row.session.status = SessionStatus::Assigned;
        row.session.assigned_agent = Some(agent_id);
        let message = data
            .append(assignment_message(&assignment, &agent_name), now)?
            .value;
        let session = data.session(request.session_id)?.session.clone();
        Ok(AssignmentOutcome::new(
            assignment, previous, session, message,
        ))
    }

    async fn release_session(&self, request: ReleaseRequest) -> StoreResult<ReleaseOutcome> {
        let now = Utc::now();
        let mut state = self.write();
        let data = state
            .tenants
            .get_mut(&request.tenant_id)
            .ok_or_else(|| session_not_found(request.session_id))?;
        let kind = data.session(request.session_id)?.session.kind;
        let ended = data.end_assignment(request.session_id, now);
        let row = data.session_mut(request.session_id)?;
        row.session.status = request.status_after;
        row.session.assigned_agent = None;
        let record = release_message(
            request.tenant_id.clone(),
            request.session_id,
            ended.as_ref(),
            request.status_after,
            kind,
            request.reason,
        );
        let message = data.append(record, now)?.value;
        let session = data.session(request.session_id)?.session.clone();
        Ok(ReleaseOutcome::new(ended, session, message))
    }

    async fn active_assignment(
        &self,
        tenant: &TenantId,
        session: SessionId,
    ) -> StoreResult<Option<SupportAssignment>> {
        let state = self.read();
        Ok(state
            .tenant(tenant)
            .and_then(|d| d.sessions.get(&session))
            .and_then(|r| r.active_assignment().cloned()))
    }

    async fn list_assignments(
        &self,
        tenant: &TenantId,
        session: SessionId,
    ) -> StoreResult<Vec<SupportAssignment>> {
        let state = self.read();
        Ok(state
            .tenant(tenant)
            .and_then(|d| d.sessions.get(&session))
            .map(|r| r.assignments.clone())
            .unwrap_or_default())
    }

    async fn agent_load(&self, tenant: &TenantId, agent: &UserId) -> StoreResult<u32> {
        let state = self.read();
        Ok(state
            .tenant(tenant)
            .and_then(|d| d.loads().get(agent).copied())
            .unwrap_or(0))
    }

    async fn queued_sessions(
        &self,
        tenant: &TenantId,
        limit: u32,
    ) -> StoreResult<Vec<ChatSession>> {
        let limit = usize::try_from(clamp_limit(limit, MAX_SESSION_PAGE)).unwrap_or(usize::MAX);
        let state = self.read();
        let Some(data) = state.tenant(tenant) else {
            return Ok(Vec::new());
        };
        // Oldest first: ascending UUID v7 ids are creation order.
        Ok(data
            .sessions
            .values()
            .filter(|r| r.session.status == SessionStatus::WaitingForAgent)
            .take(limit)
            .map(|r| r.session.clone())
            .collect())
    }
}
