//! Agents (`chat_agents`) and assignments (`chat_support_assignments`).
//!
//! Assignment is atomic because it runs as one job of the single writer thread, in one
//! transaction: the checks (session open, no active assignment unless replacing, capacity),
//! the end of the previous assignment, the new one, the session update and the system message
//! all commit together or not at all. The partial unique index on active assignments per
//! session backs the "never two active assignments" rule at the schema level.

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
use rusqlite::{Connection, Row, params};

use crate::codec::{
    UuidKey, count, external, from_json, id, json, name, nanos, opt_external, opt_nanos, opt_time,
    time,
};
use crate::error::{SqliteError, SqliteResult};
use crate::messages::append;
use crate::query;
use crate::sessions::{SESSION_COLUMNS, load_session, save_session, session_from_row};
use crate::store::SqliteStore;

const AGENT_COLUMNS: &str = "tenant_id, id, display_name, role, availability, max_concurrent, teams, last_assigned_at, updated_at";
const ASSIGNMENT_COLUMNS: &str =
    "id, tenant_id, session_id, agent_id, kind, assigned_by, note, started_at, ended_at";

fn agent_from_row(row: &Row<'_>) -> rusqlite::Result<Agent> {
    let mut agent = Agent::new(
        external(row, "tenant_id")?,
        external(row, "id")?,
        row.get::<_, String>("display_name")?,
        name(row, "role")?,
    );
    agent.availability = name(row, "availability")?;
    agent.max_concurrent = count(row, "max_concurrent")?;
    agent.teams = from_json(row, "teams")?;
    agent.last_assigned_at = opt_time(row, "last_assigned_at")?;
    agent.updated_at = time(row, "updated_at")?;
    Ok(agent)
}

fn assignment_from_row(row: &Row<'_>) -> rusqlite::Result<SupportAssignment> {
    let mut assignment = SupportAssignment::new(
        external(row, "tenant_id")?,
        id(row, "session_id")?,
        external(row, "agent_id")?,
        name(row, "kind")?,
        time(row, "started_at")?,
    );
    assignment.id = id(row, "id")?;
    assignment.assigned_by = opt_external(row, "assigned_by")?;
    assignment.note = row.get("note")?;
    assignment.ended_at = opt_time(row, "ended_at")?;
    Ok(assignment)
}

fn load_agent(conn: &Connection, tenant: &TenantId, id: &UserId) -> SqliteResult<Agent> {
    let sql = format!("SELECT {AGENT_COLUMNS} FROM chat_agents WHERE tenant_id = ?1 AND id = ?2");
    query::first(
        conn,
        &sql,
        params![tenant.as_str(), id.as_str()],
        agent_from_row,
    )?
    .ok_or_else(|| SqliteError::not_found("agent", id))
}

fn upsert_agent(conn: &Connection, agent: &Agent) -> SqliteResult<Agent> {
    conn.prepare_cached(
        "INSERT INTO chat_agents (tenant_id, id, display_name, role, availability, max_concurrent, teams,
             last_assigned_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (tenant_id, id) DO UPDATE SET display_name = excluded.display_name, role = excluded.role,
             availability = excluded.availability, max_concurrent = excluded.max_concurrent,
             teams = excluded.teams, updated_at = excluded.updated_at",
    )?
    .execute(params![
        agent.tenant_id.as_str(),
        agent.id.as_str(),
        agent.display_name,
        agent.role.as_str(),
        agent.availability.as_str(),
        agent.max_concurrent,
        json(&agent.teams)?,
        opt_nanos(agent.last_assigned_at)?,
        nanos(agent.updated_at)?,
    ])?;
    load_agent(conn, &agent.tenant_id, &agent.id)
}

fn set_availability(
    conn: &Connection,
    tenant: &TenantId,
    id: &UserId,
    availability: AgentAvailability,
    max_concurrent: Option<u32>,
) -> SqliteResult<Agent> {
    let mut agent = load_agent(conn, tenant, id)?;
    let now = Utc::now();
    // Becoming available starts the idle time that longest-idle routing compares.
    if availability == AgentAvailability::Online && agent.availability != AgentAvailability::Online
    {
        agent.last_assigned_at = Some(now);
    }
    agent.availability = availability;
    if let Some(max) = max_concurrent {
        agent.max_concurrent = max;
    }
    agent.updated_at = now;
    conn.prepare_cached(
        "UPDATE chat_agents SET availability = ?1, max_concurrent = ?2, last_assigned_at = ?3, updated_at = ?4
         WHERE tenant_id = ?5 AND id = ?6",
    )?
    .execute(params![
        agent.availability.as_str(),
        agent.max_concurrent,
        opt_nanos(agent.last_assigned_at)?,
        nanos(now)?,
        tenant.as_str(),
        id.as_str(),
    ])?;
    Ok(agent)
}

fn active_assignment(
    conn: &Connection,
    tenant: &TenantId,
    session: SessionId,
) -> SqliteResult<Option<SupportAssignment>> {
    let sql = format!(
        "SELECT {ASSIGNMENT_COLUMNS} FROM chat_support_assignments
         WHERE session_id = ?1 AND tenant_id = ?2 AND ended_at IS NULL"
    );
    query::first(
        conn,
        &sql,
        params![session.key(), tenant.as_str()],
        assignment_from_row,
    )
}

fn agent_load(conn: &Connection, tenant: &TenantId, agent: &UserId) -> SqliteResult<u32> {
    Ok(conn
        .prepare_cached(
            "SELECT count(*) FROM chat_support_assignments WHERE tenant_id = ?1 AND agent_id = ?2 AND ended_at IS NULL",
        )?
        .query_row(params![tenant.as_str(), agent.as_str()], |row| row.get(0))?)
}

/// Ends an active assignment now and starts the agent's idle time.
fn end_assignment(
    conn: &Connection,
    mut assignment: SupportAssignment,
    now: DateTime<Utc>,
) -> SqliteResult<SupportAssignment> {
    assignment.ended_at = Some(now);
    let at = nanos(now)?;
    conn.prepare_cached(
        "UPDATE chat_support_assignments SET ended_at = ?1 WHERE id = ?2 AND tenant_id = ?3",
    )?
    .execute(params![
        at,
        assignment.id.key(),
        assignment.tenant_id.as_str()
    ])?;
    conn.prepare_cached(
        "UPDATE chat_agents SET last_assigned_at = ?1 WHERE tenant_id = ?2 AND id = ?3",
    )?
    .execute(params![
        at,
        assignment.tenant_id.as_str(),
        assignment.agent_id.as_str()
    ])?;
    Ok(assignment)
}

/// The least loaded online agent with free capacity (ties: longest idle, then id), of the team
/// and role asked for; never the agent who holds the session now.
fn pick_auto(
    conn: &Connection,
    tenant: &TenantId,
    team: Option<&str>,
    managers_only: bool,
    holder: Option<&UserId>,
) -> SqliteResult<Option<Agent>> {
    let sql = format!(
        "SELECT {AGENT_COLUMNS} FROM chat_agents WHERE tenant_id = ?1 AND availability = ?2"
    );
    let agents = query::all(
        conn,
        &sql,
        params![tenant.as_str(), AgentAvailability::Online.as_str()],
        agent_from_row,
    )?;
    let loads: HashMap<String, u32> = query::all(
        conn,
        "SELECT agent_id, count(*) FROM chat_support_assignments
             WHERE tenant_id = ?1 AND ended_at IS NULL GROUP BY agent_id",
        params![tenant.as_str()],
        |row| Ok((row.get::<_, String>(0)?, row.get::<_, u32>(1)?)),
    )?
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

fn assign(conn: &Connection, request: AssignRequest) -> SqliteResult<AssignmentOutcome> {
    let tenant = &request.tenant_id;
    let mut session = load_session(conn, tenant, request.session_id)?;
    if session.status == SessionStatus::Closed {
        return Err(SqliteError::conflict(format!(
            "session {} is closed",
            session.id
        )));
    }
    let active = active_assignment(conn, tenant, session.id)?;
    if active.is_some() && !request.replace_existing {
        return Err(SqliteError::conflict(format!(
            "session {} is already assigned",
            session.id
        )));
    }
    let holder = active.as_ref().map(|a| &a.agent_id);
    let agent = match &request.target {
        AssignTarget::Agent(agent_id) => {
            let agent = load_agent(conn, tenant, agent_id)?;
            if request.enforce_capacity {
                let mut load = agent_load(conn, tenant, agent_id)?;
                if holder == Some(agent_id) {
                    // This very session moves off the agent's load.
                    load = load.saturating_sub(1);
                }
                if load >= agent.max_concurrent {
                    return Err(SqliteError::conflict(format!(
                        "agent {agent_id} is at capacity"
                    )));
                }
            }
            agent
        }
        AssignTarget::Auto {
            team,
            managers_only,
        } => pick_auto(conn, tenant, team.as_deref(), *managers_only, holder)?
            .ok_or_else(|| SqliteError::conflict("no online agent with free capacity"))?,
        _ => return Err(SqliteError::invalid("unsupported assignment target")),
    };
    let now = Utc::now();
    let previous = active.map(|a| end_assignment(conn, a, now)).transpose()?;
    let mut assignment = SupportAssignment::new(
        tenant.clone(),
        session.id,
        agent.id.clone(),
        request.kind,
        now,
    );
    assignment.assigned_by = request.assigned_by;
    assignment.note = request.note;
    conn.prepare_cached(
        "INSERT INTO chat_support_assignments (id, tenant_id, session_id, agent_id, kind, assigned_by, note,
             started_at, ended_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL)",
    )?
    .execute(params![
        assignment.id.key(),
        tenant.as_str(),
        session.id.key(),
        agent.id.as_str(),
        assignment.kind.as_str(),
        assignment.assigned_by.as_ref().map(UserId::as_str),
        assignment.note,
        nanos(now)?,
    ])?;
    session.status = SessionStatus::Assigned;
    session.assigned_agent = Some(agent.id.clone());
    session.updated_at = now;
    save_session(conn, &session)?;
    let message = append(conn, assignment_message(&assignment, &agent.display_name))?.value;
    let session = load_session(conn, tenant, session.id)?;
    Ok(AssignmentOutcome::new(
        assignment, previous, session, message,
    ))
}

fn release(conn: &Connection, request: ReleaseRequest) -> SqliteResult<ReleaseOutcome> {
    let tenant = &request.tenant_id;
    let mut session = load_session(conn, tenant, request.session_id)?;
    let now = Utc::now();
    let ended = active_assignment(conn, tenant, session.id)?
        .map(|a| end_assignment(conn, a, now))
        .transpose()?;
    session.status = request.status_after;
    session.assigned_agent = None;
    session.updated_at = now;
    save_session(conn, &session)?;
    let record = release_message(
        tenant.clone(),
        session.id,
        ended.as_ref(),
        request.status_after,
        session.kind,
        request.reason,
    );
    let message = append(conn, record)?.value;
    let session = load_session(conn, tenant, session.id)?;
    Ok(ReleaseOutcome::new(ended, session, message))
}

fn list_assignments(
    conn: &Connection,
    tenant: &TenantId,
    session: SessionId,
) -> SqliteResult<Vec<SupportAssignment>> {
    let sql = format!(
        "SELECT {ASSIGNMENT_COLUMNS} FROM chat_support_assignments WHERE session_id = ?1 AND tenant_id = ?2
         ORDER BY started_at, id"
    );
    query::all(
        conn,
        &sql,
        params![session.key(), tenant.as_str()],
        assignment_from_row,
    )
}

fn queued_sessions(
    conn: &Connection,
    tenant: &TenantId,
    limit: u32,
) -> SqliteResult<Vec<ChatSession>> {
    // Oldest first by creation (id order): writing to a queued chat does not push it back.
    let sql = format!(
        "SELECT {SESSION_COLUMNS} FROM chat_sessions WHERE tenant_id = ?1 AND status = ?2 ORDER BY id LIMIT ?3"
    );
    query::all(
        conn,
        &sql,
        params![
            tenant.as_str(),
            SessionStatus::WaitingForAgent.as_str(),
            clamp_limit(limit, MAX_SESSION_PAGE)
        ],
        session_from_row,
    )
}

#[async_trait]
impl SupportStore for SqliteStore {
    async fn upsert_agent(&self, agent: Agent) -> StoreResult<Agent> {
        self.write(move |conn| upsert_agent(conn, &agent)).await
    }

    async fn get_agent(&self, tenant: &TenantId, id: &UserId) -> StoreResult<Agent> {
        let (tenant, id) = (tenant.clone(), id.clone());
        self.read(move |conn| load_agent(conn, &tenant, &id)).await
    }

    async fn list_agents(&self, tenant: &TenantId) -> StoreResult<Vec<Agent>> {
        let tenant = tenant.clone();
        self.read(move |conn| {
            let sql =
                format!("SELECT {AGENT_COLUMNS} FROM chat_agents WHERE tenant_id = ?1 ORDER BY id");
            query::all(conn, &sql, params![tenant.as_str()], agent_from_row)
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
        let (tenant, id) = (tenant.clone(), id.clone());
        self.write(move |conn| set_availability(conn, &tenant, &id, availability, max_concurrent))
            .await
    }

    async fn assign_session(&self, request: AssignRequest) -> StoreResult<AssignmentOutcome> {
        self.write(move |conn| assign(conn, request)).await
    }

    async fn release_session(&self, request: ReleaseRequest) -> StoreResult<ReleaseOutcome> {
        self.write(move |conn| release(conn, request)).await
    }

    async fn active_assignment(
        &self,
        tenant: &TenantId,
        session: SessionId,
    ) -> StoreResult<Option<SupportAssignment>> {
        let tenant = tenant.clone();
        self.read(move |conn| active_assignment(conn, &tenant, session))
            .await
    }

    async fn list_assignments(
        &self,
        tenant: &TenantId,
        session: SessionId,
    ) -> StoreResult<Vec<SupportAssignment>> {
        let tenant = tenant.clone();
        self.read(move |conn| list_assignments(conn, &tenant, session))
            .await
    }

    async fn agent_load(&self, tenant: &TenantId, agent: &UserId) -> StoreResult<u32> {
        let (tenant, agent) = (tenant.clone(), agent.clone());
        self.read(move |conn| agent_load(conn, &tenant, &agent))
            .await
    }

    async fn queued_sessions(
        &self,
        tenant: &TenantId,
        limit: u32,
    ) -> StoreResult<Vec<ChatSession>> {
        let tenant = tenant.clone();
        self.read(move |conn| queued_sessions(conn, &tenant, limit))
            .await
    }
}
