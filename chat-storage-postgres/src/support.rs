//! Agents (`chat_agents`) and assignments (`chat_support_assignments`).
//!
//! Assignment is atomic across nodes through row locks, in one transaction: the session row
//! first (`SELECT ... FOR UPDATE`: two claims of one session run one after the other, and the
//! second sees the first's assignment), then the agent rows the decision depends on (the
//! target agent, or every online agent of the tenant for `Auto`, locked in id order so that
//! concurrent claims never wait on each other in a cycle). Loads are counted after the locks
//! are held, so they include every assignment committed before, and an agent never goes past
//! `max_concurrent`. The end of the previous assignment, the new one, the session update and
//! the system message commit together. The partial unique index on active assignments per
//! session backs the "never two active assignments" rule at the schema level. A deadlock
//! (possible only between transfers that end each other's agents' assignments) is detected
//! by PostgreSQL and the transaction runs again.

use std::collections::HashMap;

use async_trait::async_trait;
use chat_core::ids::{SessionId, TenantId, UserId};
use chat_core::model::{
    Agent, AgentAvailability, AgentRole, AssignRequest, AssignTarget, AssignmentOutcome,
    ChatSession, MAX_SESSION_PAGE, SessionStatus, SupportAssignment, assignment_message,
    release_message,
};
use chat_core::store::{ReleaseOutcome, ReleaseRequest, StoreResult, SupportStore, clamp_limit};
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use crate::codec::{
    self, UuidKey, count, external, from_json, get, id, json, name, now, opt_external, stored_time,
};
use crate::error::{PgError, PgResult};
use crate::messages::append;
use crate::sessions::{SESSION_COLUMNS, load_session, save_session, session_from_row};
use crate::store::PgStore;

const AGENT_COLUMNS: &str = "tenant_id, id, display_name, role, availability, max_concurrent, teams, last_assigned_at, updated_at";
const ASSIGNMENT_COLUMNS: &str =
    "id, tenant_id, session_id, agent_id, kind, assigned_by, note, started_at, ended_at";

fn agent_from_row(row: &Row) -> PgResult<Agent> {
    let mut agent = Agent::new(
        external(row, "tenant_id")?,
        external(row, "id")?,
        get::<String>(row, "display_name")?,
        name(row, "role")?,
    );
    agent.availability = name(row, "availability")?;
    agent.max_concurrent = count(row, "max_concurrent")?;
    agent.teams = from_json(row, "teams")?;
    agent.last_assigned_at = get(row, "last_assigned_at")?;
    agent.updated_at = get(row, "updated_at")?;
    Ok(agent)
}

fn assignment_from_row(row: &Row) -> PgResult<SupportAssignment> {
    let mut assignment = SupportAssignment::new(
        external(row, "tenant_id")?,
        id(row, "session_id")?,
        external(row, "agent_id")?,
        name(row, "kind")?,
        get(row, "started_at")?,
    );
    assignment.id = id(row, "id")?;
    assignment.assigned_by = opt_external(row, "assigned_by")?;
    assignment.note = get(row, "note")?;
    assignment.ended_at = get(row, "ended_at")?;
    Ok(assignment)
}

async fn load_agent<C: GenericClient>(
    client: &C,
    tenant: &TenantId,
    id: &UserId,
    for_update: bool,
) -> PgResult<Agent> {
    let lock = if for_update { " FOR UPDATE" } else { "" };
    let sql =
        format!("SELECT {AGENT_COLUMNS} FROM chat_agents WHERE tenant_id = $1 AND id = $2{lock}");
    codec::first(
        client,
        &sql,
        &[&tenant.as_str(), &id.as_str()],
        agent_from_row,
    )
    .await?
    .ok_or_else(|| PgError::not_found("agent", id))
}

async fn upsert_agent(store: &PgStore, agent: &Agent) -> PgResult<Agent> {
    let client = store.client().await?;
    let sql = format!(
        "INSERT INTO chat_agents AS a (tenant_id, id, display_name, role, availability, max_concurrent, teams,
             last_assigned_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (tenant_id, id) DO UPDATE SET display_name = excluded.display_name, role = excluded.role,
             availability = excluded.availability, max_concurrent = excluded.max_concurrent,
             teams = excluded.teams, updated_at = excluded.updated_at
         RETURNING {AGENT_COLUMNS}"
    );
    let last = agent.last_assigned_at.map(stored_time).transpose()?;
    codec::first(
        &client,
        &sql,
        &[
            &agent.tenant_id.as_str(),
            &agent.id.as_str(),
            &agent.display_name,
            &agent.role.as_str(),
            &agent.availability.as_str(),
            &i64::from(agent.max_concurrent),
            &json(&agent.teams),
            &last,
            &stored_time(agent.updated_at)?,
        ],
        agent_from_row,
    )
    .await?
    .ok_or_else(|| PgError::not_found("agent", &agent.id))
}

async fn set_availability(
    store: &PgStore,
    tenant: &TenantId,
    id: &UserId,
    availability: AgentAvailability,
    max_concurrent: Option<u32>,
) -> PgResult<Agent> {
    let mut client = store.client().await?;
    let tx = client.transaction().await?;
    let mut agent = load_agent(&tx, tenant, id, true).await?;
    let at = now();
    // Becoming available starts the idle time that longest-idle routing compares.
    if availability == AgentAvailability::Online && agent.availability != AgentAvailability::Online
    {
        agent.last_assigned_at = Some(at);
    }
    agent.availability = availability;
    if let Some(max) = max_concurrent {
        agent.max_concurrent = max;
    }
    agent.updated_at = at;
    codec::exec(
        &tx,
        "UPDATE chat_agents SET availability = $1, max_concurrent = $2, last_assigned_at = $3, updated_at = $4
         WHERE tenant_id = $5 AND id = $6",
        &[
            &agent.availability.as_str(),
            &i64::from(agent.max_concurrent),
            &agent.last_assigned_at,
            &at,
            &tenant.as_str(),
            &id.as_str(),
        ],
    )
    .await?;
    tx.commit().await?;
    Ok(agent)
}

async fn active_assignment<C: GenericClient>(
    client: &C,
    tenant: &TenantId,
    session: SessionId,
) -> PgResult<Option<SupportAssignment>> {
    let sql = format!(
        "SELECT {ASSIGNMENT_COLUMNS} FROM chat_support_assignments
         WHERE session_id = $1 AND tenant_id = $2 AND ended_at IS NULL"
    );
    codec::first(
        client,
        &sql,
        &[&session.key(), &tenant.as_str()],
        assignment_from_row,
    )
    .await
}

async fn agent_load<C: GenericClient>(
    client: &C,
    tenant: &TenantId,
    agent: &UserId,
) -> PgResult<u32> {
    let row = codec::row(
        client,
        "SELECT count(*) AS n FROM chat_support_assignments
         WHERE tenant_id = $1 AND agent_id = $2 AND ended_at IS NULL",
        &[&tenant.as_str(), &agent.as_str()],
    )
    .await?;
    row.map_or(Ok(0), |r| count(&r, "n"))
}

/// Ends an active assignment now and starts the agent's idle time.
async fn end_assignment<C: GenericClient>(
    client: &C,
    mut assignment: SupportAssignment,
    at: DateTime<Utc>,
) -> PgResult<SupportAssignment> {
    assignment.ended_at = Some(at);
    codec::exec(
        client,
        "UPDATE chat_support_assignments SET ended_at = $1 WHERE id = $2 AND tenant_id = $3",
        &[&at, &assignment.id.key(), &assignment.tenant_id.as_str()],
    )
    .await?;
    codec::exec(
        client,
        "UPDATE chat_agents SET last_assigned_at = $1 WHERE tenant_id = $2 AND id = $3",
        &[
            &at,
            &assignment.tenant_id.as_str(),
            &assignment.agent_id.as_str(),
        ],
    )
    .await?;
    Ok(assignment)
}

/// The least loaded online agent with free capacity (ties: longest idle, then id), of the team
/// and role asked for; never the agent who holds the session now. Locks every online agent of
/// the tenant (in id order) before counting loads.
async fn pick_auto<C: GenericClient>(
    client: &C,
    tenant: &TenantId,
    team: Option<&str>,
    managers_only: bool,
    holder: Option<&UserId>,
) -> PgResult<Option<Agent>> {
    let sql = format!(
        "SELECT {AGENT_COLUMNS} FROM chat_agents WHERE tenant_id = $1 AND availability = $2
         ORDER BY id FOR UPDATE"
    );
    let agents = codec::all(
        client,
        &sql,
        &[&tenant.as_str(), &AgentAvailability::Online.as_str()],
        agent_from_row,
    )
    .await?;
    let loads: HashMap<String, u32> = codec::all(
        client,
        "SELECT agent_id, count(*) AS n FROM chat_support_assignments
         WHERE tenant_id = $1 AND ended_at IS NULL GROUP BY agent_id",
        &[&tenant.as_str()],
        |row| Ok((get::<String>(row, "agent_id")?, count(row, "n")?)),
    )
    .await?
    .into_iter()
    .collect();
    let best = agents
        .into_iter()
        .filter(|a| !managers_only || a.role == AgentRole::Manager)
        .filter(|a| team.is_none_or(|t| a.teams.iter().any(|x| x == t)))
        .filter(|a| holder != Some(&a.id))
        .map(|a| (loads.get(a.id.as_str()).copied().unwrap_or(0), a))
        .filter(|(load, a)| *load < a.max_concurrent)
        // `None` (never assigned) sorts before any time: idle the longest.
        .min_by(|(la, a), (lb, b)| {
            (la, a.last_assigned_at, &a.id).cmp(&(lb, b.last_assigned_at, &b.id))
        });
    Ok(best.map(|(_, agent)| agent))
}

async fn assign(store: &PgStore, request: &AssignRequest) -> PgResult<AssignmentOutcome> {
    let tenant = &request.tenant_id;
    let mut client = store.client().await?;
    let tx = client.transaction().await?;
    let mut session = load_session(&tx, tenant, request.session_id, true).await?;
    if session.status == SessionStatus::Closed {
        return Err(PgError::conflict(format!(
            "session {} is closed",
            session.id
        )));
    }
    let active = active_assignment(&tx, tenant, session.id).await?;
    if active.is_some() && !request.replace_existing {
        return Err(PgError::conflict(format!(
            "session {} is already assigned",
            session.id
        )));
    }
    let holder = active.as_ref().map(|a| &a.agent_id);
    let agent = match &request.target {
        AssignTarget::Agent(agent_id) => {
            let agent = load_agent(&tx, tenant, agent_id, true).await?;
            if request.enforce_capacity {
                let mut load = agent_load(&tx, tenant, agent_id).await?;
                if holder == Some(agent_id) {
                    // This very session moves off the agent's load.
                    load = load.saturating_sub(1);
                }
                if load >= agent.max_concurrent {
                    return Err(PgError::conflict(format!(
                        "agent {agent_id} is at capacity"
                    )));
                }
            }
            agent
        }
        AssignTarget::Auto {
            team,
            managers_only,
        } => pick_auto(&tx, tenant, team.as_deref(), *managers_only, holder)
            .await?
            .ok_or_else(|| PgError::conflict("no online agent with free capacity"))?,
        _ => return Err(PgError::invalid("unsupported assignment target")),
    };
    let at = now();
    let previous = match active {
        Some(active) => Some(end_assignment(&tx, active, at).await?),
        None => None,
    };
    let mut assignment = SupportAssignment::new(
        tenant.clone(),
        session.id,
        agent.id.clone(),
        request.kind,
        at,
    );
    assignment.assigned_by = request.assigned_by.clone();
    assignment.note = request.note.clone();
    codec::exec(
        &tx,
        "INSERT INTO chat_support_assignments (id, tenant_id, session_id, agent_id, kind, assigned_by, note,
             started_at, ended_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL)",
        &[
            &assignment.id.key(),
            &tenant.as_str(),
            &session.id.key(),
            &agent.id.as_str(),
            &assignment.kind.as_str(),
            &assignment.assigned_by.as_ref().map(UserId::as_str),
            &assignment.note,
            &at,
        ],
    )
    .await?;
    session.status = SessionStatus::Assigned;
    session.assigned_agent = Some(agent.id.clone());
    session.updated_at = at;
    save_session(&tx, &session).await?;
    let message = append(&tx, &assignment_message(&assignment, &agent.display_name))
        .await?
        .value;
    let session = load_session(&tx, tenant, session.id, false).await?;
    tx.commit().await?;
    Ok(AssignmentOutcome::new(
        assignment, previous, session, message,
    ))
}

async fn release(store: &PgStore, request: &ReleaseRequest) -> PgResult<ReleaseOutcome> {
    let tenant = &request.tenant_id;
    let mut client = store.client().await?;
    let tx = client.transaction().await?;
    let mut session = load_session(&tx, tenant, request.session_id, true).await?;
    let at = now();
    let ended = match active_assignment(&tx, tenant, session.id).await? {
        Some(active) => Some(end_assignment(&tx, active, at).await?),
        None => None,
    };
    session.status = request.status_after;
    session.assigned_agent = None;
    session.updated_at = at;
    save_session(&tx, &session).await?;
    let record = release_message(
        tenant.clone(),
        session.id,
        ended.as_ref(),
        request.status_after,
        session.kind,
        request.reason.clone(),
    );
    let message = append(&tx, &record).await?.value;
    let session = load_session(&tx, tenant, session.id, false).await?;
    tx.commit().await?;
    Ok(ReleaseOutcome::new(ended, session, message))
}

#[async_trait]
impl SupportStore for PgStore {
    async fn upsert_agent(&self, agent: Agent) -> StoreResult<Agent> {
        self.run(|| upsert_agent(self, &agent)).await
    }

    async fn get_agent(&self, tenant: &TenantId, id: &UserId) -> StoreResult<Agent> {
        self.run(|| async move {
            let client = self.client().await?;
            load_agent(&client, tenant, id, false).await
        })
        .await
    }

    async fn list_agents(&self, tenant: &TenantId) -> StoreResult<Vec<Agent>> {
        self.run(|| async move {
            let client = self.client().await?;
            let sql =
                format!("SELECT {AGENT_COLUMNS} FROM chat_agents WHERE tenant_id = $1 ORDER BY id");
            codec::all(&client, &sql, &[&tenant.as_str()], agent_from_row).await
        })
        .await
    }

    async fn set_agent_availability(
        &self,
        tenant: &TenantId,
        id: &UserId,
        availability: AgentAvailability,
        max_concurrent: Option<u32>,
    ) -> StoreResult<Agent> {
        self.run(|| set_availability(self, tenant, id, availability, max_concurrent))
            .await
    }

    async fn assign_session(&self, request: AssignRequest) -> StoreResult<AssignmentOutcome> {
        self.run(|| assign(self, &request)).await
    }

    async fn release_session(&self, request: ReleaseRequest) -> StoreResult<ReleaseOutcome> {
        self.run(|| release(self, &request)).await
    }

    async fn active_assignment(
        &self,
        tenant: &TenantId,
        session: SessionId,
    ) -> StoreResult<Option<SupportAssignment>> {
        self.run(|| async move {
            let client = self.client().await?;
            active_assignment(&client, tenant, session).await
        })
        .await
    }

    async fn list_assignments(
        &self,
        tenant: &TenantId,
        session: SessionId,
    ) -> StoreResult<Vec<SupportAssignment>> {
        self.run(|| async move {
            let client = self.client().await?;
            let sql = format!(
                "SELECT {ASSIGNMENT_COLUMNS} FROM chat_support_assignments WHERE session_id = $1 AND tenant_id = $2
                 ORDER BY started_at, id"
            );
            codec::all(&client, &sql, &[&session.key(), &tenant.as_str()], assignment_from_row).await
        })
        .await
    }

    async fn agent_load(&self, tenant: &TenantId, agent: &UserId) -> StoreResult<u32> {
        self.run(|| async move {
            let client = self.client().await?;
            agent_load(&client, tenant, agent).await
        })
        .await
    }

    async fn queued_sessions(
        &self,
        tenant: &TenantId,
        limit: u32,
    ) -> StoreResult<Vec<ChatSession>> {
        let limit = i64::from(clamp_limit(limit, MAX_SESSION_PAGE));
        self.run(|| async move {
            let client = self.client().await?;
            // Oldest first by creation (id order): writing to a queued chat does not push it back.
            let sql = format!(
                "SELECT {SESSION_COLUMNS} FROM chat_sessions WHERE tenant_id = $1 AND status = $2
                 ORDER BY id LIMIT $3"
            );
            codec::all(
                &client,
                &sql,
                &[
                    &tenant.as_str(),
                    &SessionStatus::WaitingForAgent.as_str(),
                    &limit,
                ],
                session_from_row,
            )
            .await
        })
        .await
    }
}
