//! Conformance cases of [`SupportStore`](crate::store::SupportStore): agents, atomic
//! assignment (manual, transfer, automatic routing), release and the queue.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::{
    StoreFactory, assert_conflict, assert_not_found, at, new_session, open, second_handle, tenant,
    user,
};
use crate::ids::{SessionId, TenantId, UserId};
use crate::model::{
    Agent, AgentAvailability, AgentRole, AssignRequest, AssignTarget, AssignmentKind, ChatSession,
    SenderKind, SessionPatch, SessionStatus, SystemEvent,
};
use crate::store::{ChatStore, ReleaseRequest, StoreError};

mod assignments;
mod routing;

pub use assignments::*;
pub use routing::*;

/// Queued sessions in [`concurrent_auto_assign`].
pub const RACE_SESSIONS: usize = 40;
/// Agents (each of capacity [`RACE_CAPACITY`]) in [`concurrent_auto_assign`].
pub const RACE_AGENTS: usize = 3;
/// Capacity of each agent in [`concurrent_auto_assign`].
pub const RACE_CAPACITY: u32 = 5;
/// Concurrent assigners in [`concurrent_auto_assign`].
pub const RACE_ASSIGNERS: usize = 8;

fn agent(t: &TenantId, id: &str, role: AgentRole, capacity: u32) -> Agent {
    let mut agent = Agent::new(t.clone(), user(id), format!("Agent {id}"), role)
        .availability(AgentAvailability::Online)
        .max_concurrent(capacity);
    agent.updated_at = at(0);
    agent
}

fn to(t: &TenantId, session: SessionId, agent: &str, kind: AssignmentKind) -> AssignRequest {
    AssignRequest::new(t.clone(), session, AssignTarget::Agent(user(agent)), kind)
}

fn auto(
    t: &TenantId,
    session: SessionId,
    team: Option<&str>,
    managers_only: bool,
) -> AssignRequest {
    AssignRequest::new(
        t.clone(),
        session,
        AssignTarget::Auto {
            team: team.map(str::to_owned),
            managers_only,
        },
        AssignmentKind::Auto,
    )
}

async fn queued(store: &dyn ChatStore, t: &TenantId) -> ChatSession {
    let session = new_session(store, t, "customer").await;
    let patch = SessionPatch::default().status(SessionStatus::WaitingForAgent);
    store
        .update_session(t, session.id, patch, None)
        .await
        .unwrap()
        .0
}
