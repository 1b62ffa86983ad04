//! Sessions: `chat_sessions`, and erasure of sessions with everything that belongs to them
//! (the foreign keys cascade to messages, context records, documents, chunks and
//! assignments; the FTS triggers remove the chunks' index entries).

use async_trait::async_trait;
use chat_core::ids::{SessionId, TenantId, UserId};
use chat_core::model::{
    ChatMessage, ChatSession, MAX_SESSION_PAGE, NewMessage, NewSession, SessionCursor,
    SessionFilter, SessionPage, SessionPatch, SessionScope, SessionStatus,
};
use chat_core::store::{ErasureReport, SessionStore, StoreResult, clamp_limit};
use chrono::{DateTime, Utc};
use rusqlite::types::Value;
use rusqlite::{Connection, Row, params, params_from_iter};

use crate::codec::{
    UuidKey, bound_nanos, count, external, from_json, id, json, name, nanos, opt_external, time,
};
use crate::error::{SqliteError, SqliteResult};
use crate::messages::append;
use crate::query;
use crate::store::SqliteStore;

/// Columns read into a [`ChatSession`].
pub(crate) const SESSION_COLUMNS: &str = "id, tenant_id, kind, status, customer_id, title, assigned_agent, last_seq, created_at, updated_at, metadata";

/// Decodes a row of [`SESSION_COLUMNS`].
pub(crate) fn session_from_row(row: &Row<'_>) -> rusqlite::Result<ChatSession> {
    let mut new = NewSession::new(
        external(row, "tenant_id")?,
        name(row, "kind")?,
        external(row, "customer_id")?,
    );
    new.id = id(row, "id")?;
    new.title = row.get("title")?;
    new.metadata = from_json(row, "metadata")?;
    let mut session = ChatSession::created(new, time(row, "created_at")?);
    session.status = name(row, "status")?;
    session.assigned_agent = opt_external(row, "assigned_agent")?;
    session.last_seq = count(row, "last_seq")?;
    session.updated_at = time(row, "updated_at")?;
    Ok(session)
}

/// Reads a session of the tenant.
pub(crate) fn load_session(
    conn: &Connection,
    tenant: &TenantId,
    id: SessionId,
) -> SqliteResult<ChatSession> {
    let sql =
        format!("SELECT {SESSION_COLUMNS} FROM chat_sessions WHERE id = ?1 AND tenant_id = ?2");
    query::first(
        conn,
        &sql,
        params![id.key(), tenant.as_str()],
        session_from_row,
    )?
    .ok_or_else(|| SqliteError::not_found("session", id))
}

/// Writes every mutable column of a session back.
pub(crate) fn save_session(conn: &Connection, session: &ChatSession) -> SqliteResult<()> {
    conn.prepare_cached(
        "UPDATE chat_sessions SET kind = ?1, status = ?2, title = ?3, assigned_agent = ?4, metadata = ?5,
             updated_at = ?6 WHERE id = ?7 AND tenant_id = ?8",
    )?
    .execute(params![
        session.kind.as_str(),
        session.status.as_str(),
        session.title,
        session.assigned_agent.as_ref().map(UserId::as_str),
        json(&session.metadata)?,
        nanos(session.updated_at)?,
        session.id.key(),
        session.tenant_id.as_str(),
    ])?;
    Ok(())
}

fn create(conn: &Connection, new: NewSession) -> SqliteResult<ChatSession> {
    if query::id_taken(conn, "chat_sessions", new.id.key())? {
        return Err(SqliteError::conflict(format!(
            "session {} already exists",
            new.id
        )));
    }
    let session = ChatSession::created(new, Utc::now());
    conn.prepare_cached(
        "INSERT INTO chat_sessions (id, tenant_id, kind, status, customer_id, title, assigned_agent, last_seq,
             created_at, updated_at, metadata)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL, 0, ?7, ?7, ?8)",
    )?
    .execute(params![
        session.id.key(),
        session.tenant_id.as_str(),
        session.kind.as_str(),
        session.status.as_str(),
        session.customer_id.as_str(),
        session.title,
        nanos(session.created_at)?,
        json(&session.metadata)?,
    ])?;
    Ok(session)
}

fn list(conn: &Connection, tenant: &TenantId, filter: &SessionFilter) -> SqliteResult<SessionPage> {
    let limit = clamp_limit(filter.limit, MAX_SESSION_PAGE);
    let mut sql = format!("SELECT {SESSION_COLUMNS} FROM chat_sessions WHERE tenant_id = ?");
    let mut values: Vec<Value> = vec![Value::Text(tenant.as_str().to_owned())];
    match &filter.scope {
        SessionScope::Customer(customer) => {
            sql.push_str(" AND customer_id = ?");
            values.push(Value::Text(customer.as_str().to_owned()));
        }
        SessionScope::Agent(agent) => {
            sql.push_str(" AND (assigned_agent = ? OR status = ?)");
            values.push(Value::Text(agent.as_str().to_owned()));
            values.push(Value::Text(
                SessionStatus::WaitingForAgent.as_str().to_owned(),
            ));
        }
        SessionScope::All => {}
        // Fail closed: a scope this code does not know must not widen what a listing shows.
        _ => return Err(SqliteError::invalid("unsupported session scope")),
    }
    if let Some(status) = filter.status {
        sql.push_str(" AND status = ?");
        values.push(Value::Text(status.as_str().to_owned()));
    }
    if let Some(kind) = filter.kind {
        sql.push_str(" AND kind = ?");
        values.push(Value::Text(kind.as_str().to_owned()));
    }
    if let Some(agent) = &filter.assigned_to {
        sql.push_str(" AND assigned_agent = ?");
        values.push(Value::Text(agent.as_str().to_owned()));
    }
    if let Some(cursor) = filter.cursor {
        sql.push_str(" AND id < ?");
        values.push(Value::Blob(cursor.0.key().to_vec()));
    }
    // Newest first is descending id order: ids are UUID v7, ordered by creation time.
    sql.push_str(" ORDER BY id DESC LIMIT ?");
    values.push(Value::Integer(i64::from(limit) + 1));
    let mut sessions = query::all(conn, &sql, params_from_iter(values), session_from_row)?;
    let page_len = usize::try_from(limit).unwrap_or(usize::MAX);
    let next_cursor = if sessions.len() > page_len {
        sessions.truncate(page_len);
        sessions.last().map(|s| SessionCursor(s.id))
    } else {
        None
    };
    Ok(SessionPage::new(sessions, next_cursor))
}

fn update(
    conn: &Connection,
    tenant: &TenantId,
    id: SessionId,
    patch: SessionPatch,
    record: Option<NewMessage>,
) -> SqliteResult<(ChatSession, Option<ChatMessage>)> {
    let mut session = load_session(conn, tenant, id)?;
    if let Some(record) = &record {
        if record.session_id != id || record.tenant_id != *tenant {
            return Err(SqliteError::invalid(
                "the record message names another session",
            ));
        }
    }
    if let Some(status) = patch.status {
        session.status = status;
    }
    if let Some(kind) = patch.kind {
        session.kind = kind;
    }
    if let Some(title) = patch.title {
        session.title = title;
    }
    if let Some(agent) = patch.assigned_agent {
        session.assigned_agent = agent;
    }
    if let Some(metadata) = patch.metadata {
        session.metadata = metadata;
    }
    session.updated_at = Utc::now();
    save_session(conn, &session)?;
    match record {
        Some(record) => {
            let message = append(conn, record)?.value;
            Ok((load_session(conn, tenant, id)?, Some(message)))
        }
        None => Ok((session, None)),
    }
}

/// Deletes sessions of the tenant with everything that belongs to them; reports them and the
/// blob keys of their documents.
pub(crate) fn remove_sessions(
    conn: &Connection,
    tenant: &TenantId,
    ids: &[SessionId],
) -> SqliteResult<ErasureReport> {
    let mut report = ErasureReport::default();
    let mut delete =
        conn.prepare_cached("DELETE FROM chat_sessions WHERE id = ?1 AND tenant_id = ?2")?;
    for id in ids {
        let keys = query::all(
            conn,
            "SELECT blob_key FROM chat_documents
             WHERE session_id = ?1 AND tenant_id = ?2 AND blob_key IS NOT NULL ORDER BY id",
            params![id.key(), tenant.as_str()],
            |row| row.get::<_, String>(0),
        )?;
        if delete.execute(params![id.key(), tenant.as_str()])? > 0 {
            report.sessions.push(*id);
            report.blob_keys.extend(keys);
        }
    }
    Ok(report)
}

/// Session ids selected by a query over `chat_sessions` with the given parameters.
fn select_ids(conn: &Connection, sql: &str, values: Vec<Value>) -> SqliteResult<Vec<SessionId>> {
    query::all(conn, sql, params_from_iter(values), |row| id(row, "id"))
}

fn erase_customer(
    conn: &Connection,
    tenant: &TenantId,
    customer: &UserId,
) -> SqliteResult<ErasureReport> {
    let ids = select_ids(
        conn,
        "SELECT id FROM chat_sessions WHERE tenant_id = ?1 AND customer_id = ?2 ORDER BY id",
        vec![
            Value::Text(tenant.as_str().to_owned()),
            Value::Text(customer.as_str().to_owned()),
        ],
    )?;
    remove_sessions(conn, tenant, &ids)
}

fn purge(
    conn: &Connection,
    tenant: &TenantId,
    cutoff: DateTime<Utc>,
) -> SqliteResult<ErasureReport> {
    let ids = select_ids(
        conn,
        "SELECT id FROM chat_sessions
         WHERE tenant_id = ?1 AND status IN (?2, ?3) AND updated_at < ?4 ORDER BY id",
        vec![
            Value::Text(tenant.as_str().to_owned()),
            Value::Text(SessionStatus::Closed.as_str().to_owned()),
            Value::Text(SessionStatus::Resolved.as_str().to_owned()),
            Value::Integer(bound_nanos(cutoff)),
        ],
    )?;
    remove_sessions(conn, tenant, &ids)
}

/// Takes or extends the answer claim when it is free, expired or `owner`'s.
fn claim(
    conn: &Connection,
    tenant: &TenantId,
    id: SessionId,
    owner: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> SqliteResult<bool> {
    let changed = conn.execute(
        "UPDATE chat_sessions SET answer_owner = ?1, answer_until = ?2
         WHERE id = ?3 AND tenant_id = ?4
           AND (answer_owner IS NULL OR answer_owner = ?1 OR answer_until <= ?5)",
        params![
            owner,
            bound_nanos(until),
            id.key(),
            tenant.as_str(),
            bound_nanos(now)
        ],
    )?;
    if changed == 1 {
        return Ok(true);
    }
    // Not changed: another owner's live claim, or no such session.
    load_session(conn, tenant, id).map(|_| false)
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn create_session(&self, session: NewSession) -> StoreResult<ChatSession> {
        self.write(move |conn| create(conn, session)).await
    }

    async fn get_session(&self, tenant: &TenantId, id: SessionId) -> StoreResult<ChatSession> {
        let tenant = tenant.clone();
        self.read(move |conn| load_session(conn, &tenant, id)).await
    }

    async fn list_sessions(
        &self,
        tenant: &TenantId,
        filter: &SessionFilter,
    ) -> StoreResult<SessionPage> {
        let (tenant, filter) = (tenant.clone(), filter.clone());
        self.read(move |conn| list(conn, &tenant, &filter)).await
    }

    async fn update_session(
        &self,
        tenant: &TenantId,
        id: SessionId,
        patch: SessionPatch,
        record: Option<NewMessage>,
    ) -> StoreResult<(ChatSession, Option<ChatMessage>)> {
        let tenant = tenant.clone();
        self.write(move |conn| update(conn, &tenant, id, patch, record))
            .await
    }

    async fn delete_session(&self, tenant: &TenantId, id: SessionId) -> StoreResult<ErasureReport> {
        let tenant = tenant.clone();
        self.write(move |conn| {
            let report = remove_sessions(conn, &tenant, &[id])?;
            if report.sessions.is_empty() {
                return Err(SqliteError::not_found("session", id));
            }
            Ok(report)
        })
        .await
    }

    async fn erase_customer(
        &self,
        tenant: &TenantId,
        customer: &UserId,
    ) -> StoreResult<ErasureReport> {
        let (tenant, customer) = (tenant.clone(), customer.clone());
        self.write(move |conn| erase_customer(conn, &tenant, &customer))
            .await
    }

    async fn purge_sessions(
        &self,
        tenant: &TenantId,
        cutoff: DateTime<Utc>,
    ) -> StoreResult<ErasureReport> {
        let tenant = tenant.clone();
        self.write(move |conn| purge(conn, &tenant, cutoff)).await
    }

    async fn claim_answer(
        &self,
        tenant: &TenantId,
        session: SessionId,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let (tenant, owner) = (tenant.clone(), owner.to_owned());
        self.write(move |conn| claim(conn, &tenant, session, &owner, now, until))
            .await
    }

    async fn release_answer(
        &self,
        tenant: &TenantId,
        session: SessionId,
        owner: &str,
    ) -> StoreResult<()> {
        let (tenant, owner) = (tenant.clone(), owner.to_owned());
        self.write(move |conn| {
            conn.execute(
                "UPDATE chat_sessions SET answer_owner = NULL, answer_until = NULL
                 WHERE id = ?1 AND tenant_id = ?2 AND answer_owner = ?3",
                params![session.key(), tenant.as_str(), owner],
            )?;
            Ok(())
        })
        .await
    }
}
