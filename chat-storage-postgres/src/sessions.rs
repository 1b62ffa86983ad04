//! Sessions: `chat_sessions`, and erasure of sessions with everything that belongs to them
//! (the foreign keys cascade to messages, context records, documents, chunks and assignments;
//! the full-text columns go with their rows).

use async_trait::async_trait;
use chat_core::ids::{SessionId, TenantId, UserId};
use chat_core::model::{
    ChatMessage, ChatSession, MAX_SESSION_PAGE, NewMessage, NewSession, SessionCursor,
    SessionFilter, SessionPage, SessionPatch, SessionScope, SessionStatus,
};
use chat_core::store::{ErasureReport, SessionStore, StoreResult, clamp_limit};
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use crate::codec::{
    self, UuidKey, bound, count, external, from_json, get, id, json, name, now, opt_external,
};
use crate::error::{PgError, PgResult};
use crate::messages::append;
use crate::store::PgStore;

/// Columns read into a [`ChatSession`].
pub(crate) const SESSION_COLUMNS: &str = "id, tenant_id, kind, status, customer_id, title, assigned_agent, last_seq, created_at, updated_at, metadata";

/// Decodes a row of [`SESSION_COLUMNS`].
pub(crate) fn session_from_row(row: &Row) -> PgResult<ChatSession> {
    let mut new = NewSession::new(
        external(row, "tenant_id")?,
        name(row, "kind")?,
        external(row, "customer_id")?,
    );
    new.id = id(row, "id")?;
    new.title = get(row, "title")?;
    new.metadata = from_json(row, "metadata")?;
    let mut session = ChatSession::created(new, get(row, "created_at")?);
    session.status = name(row, "status")?;
    session.assigned_agent = opt_external(row, "assigned_agent")?;
    session.last_seq = count(row, "last_seq")?;
    session.updated_at = get(row, "updated_at")?;
    Ok(session)
}

/// Reads a session of the tenant; `FOR UPDATE` locks its row until the transaction ends.
pub(crate) async fn load_session<C: GenericClient>(
    client: &C,
    tenant: &TenantId,
    id: SessionId,
    for_update: bool,
) -> PgResult<ChatSession> {
    let lock = if for_update { " FOR UPDATE" } else { "" };
    let sql = format!(
        "SELECT {SESSION_COLUMNS} FROM chat_sessions WHERE id = $1 AND tenant_id = $2{lock}"
    );
    codec::first(
        client,
        &sql,
        &[&id.key(), &tenant.as_str()],
        session_from_row,
    )
    .await?
    .ok_or_else(|| PgError::not_found("session", id))
}

/// Writes every mutable column of a session back.
pub(crate) async fn save_session<C: GenericClient>(
    client: &C,
    session: &ChatSession,
) -> PgResult<()> {
    codec::exec(
        client,
        "UPDATE chat_sessions SET kind = $1, status = $2, title = $3, assigned_agent = $4, metadata = $5,
             updated_at = $6 WHERE id = $7 AND tenant_id = $8",
        &[
            &session.kind.as_str(),
            &session.status.as_str(),
            &session.title,
            &session.assigned_agent.as_ref().map(UserId::as_str),
            &json(&session.metadata),
            &session.updated_at,
            &session.id.key(),
            &session.tenant_id.as_str(),
        ],
    )
    .await?;
    Ok(())
}

async fn create(store: &PgStore, new: &NewSession) -> PgResult<ChatSession> {
    let client = store.client().await?;
    let session = ChatSession::created(new.clone(), now());
    let inserted = codec::exec(
        &client,
        "INSERT INTO chat_sessions (id, tenant_id, kind, status, customer_id, title, assigned_agent, last_seq,
             created_at, updated_at, metadata)
         VALUES ($1, $2, $3, $4, $5, $6, NULL, 0, $7, $7, $8) ON CONFLICT (id) DO NOTHING",
        &[
            &session.id.key(),
            &session.tenant_id.as_str(),
            &session.kind.as_str(),
            &session.status.as_str(),
            &session.customer_id.as_str(),
            &session.title,
            &session.created_at,
            &json(&session.metadata),
        ],
    )
    .await?;
    if inserted == 0 {
        return Err(PgError::conflict(format!(
            "session {} already exists",
            session.id
        )));
    }
    Ok(session)
}

async fn list(store: &PgStore, tenant: &TenantId, filter: &SessionFilter) -> PgResult<SessionPage> {
    let limit = clamp_limit(filter.limit, MAX_SESSION_PAGE);
    let waiting = SessionStatus::WaitingForAgent.as_str();
    let mut sql = format!("SELECT {SESSION_COLUMNS} FROM chat_sessions WHERE tenant_id = $1");
    let mut values: Vec<Box<dyn ToSql + Sync + Send>> = vec![Box::new(tenant.as_str().to_owned())];
    let mut push = |sql: &mut String, clause: &str, value: Box<dyn ToSql + Sync + Send>| {
        values.push(value);
        sql.push_str(&clause.replace('?', &format!("${}", values.len())));
    };
    match &filter.scope {
        SessionScope::Customer(customer) => push(
            &mut sql,
            " AND customer_id = ?",
            Box::new(customer.as_str().to_owned()),
        ),
        SessionScope::Agent(agent) => {
            push(
                &mut sql,
                " AND (assigned_agent = ?",
                Box::new(agent.as_str().to_owned()),
            );
            push(&mut sql, " OR status = ?)", Box::new(waiting.to_owned()));
        }
        SessionScope::All => {}
        // Fail closed: a scope this code does not know must not widen what a listing shows.
        _ => return Err(PgError::invalid("unsupported session scope")),
    }
    if let Some(status) = filter.status {
        push(
            &mut sql,
            " AND status = ?",
            Box::new(status.as_str().to_owned()),
        );
    }
    if let Some(kind) = filter.kind {
        push(
            &mut sql,
            " AND kind = ?",
            Box::new(kind.as_str().to_owned()),
        );
    }
    if let Some(agent) = &filter.assigned_to {
        push(
            &mut sql,
            " AND assigned_agent = ?",
            Box::new(agent.as_str().to_owned()),
        );
    }
    if let Some(cursor) = filter.cursor {
        push(&mut sql, " AND id < ?", Box::new(cursor.0.key()));
    }
    // Newest first is descending id order: ids are UUID v7, ordered by creation time.
    push(
        &mut sql,
        " ORDER BY id DESC LIMIT ?",
        Box::new(i64::from(limit) + 1),
    );
    let params: Vec<&(dyn ToSql + Sync)> =
        values.iter().map(|v| &**v as &(dyn ToSql + Sync)).collect();
    let client = store.client().await?;
    let mut sessions = codec::all(&client, &sql, &params, session_from_row).await?;
    let page_len = usize::try_from(limit).unwrap_or(usize::MAX);
    let next_cursor = if sessions.len() > page_len {
        sessions.truncate(page_len);
        sessions.last().map(|s| SessionCursor(s.id))
    } else {
        None
    };
    Ok(SessionPage::new(sessions, next_cursor))
}

async fn update(
    store: &PgStore,
    tenant: &TenantId,
    id: SessionId,
    patch: &SessionPatch,
    record: Option<&NewMessage>,
) -> PgResult<(ChatSession, Option<ChatMessage>)> {
    if let Some(record) = record {
        if record.session_id != id || record.tenant_id != *tenant {
            return Err(PgError::invalid("the record message names another session"));
        }
    }
    let mut client = store.client().await?;
    let tx = client.transaction().await?;
    let mut session = load_session(&tx, tenant, id, true).await?;
    let patch = patch.clone();
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
    session.updated_at = now();
    save_session(&tx, &session).await?;
    let message = match record {
        Some(record) => {
            let message = append(&tx, record).await?.value;
            session = load_session(&tx, tenant, id, false).await?;
            Some(message)
        }
        None => None,
    };
    tx.commit().await?;
    Ok((session, message))
}

/// Deletes sessions of the tenant with everything that belongs to them; reports them and the
/// blob keys of their documents.
pub(crate) async fn remove_sessions<C: GenericClient>(
    client: &C,
    tenant: &TenantId,
    ids: &[SessionId],
) -> PgResult<ErasureReport> {
    let mut report = ErasureReport::default();
    for id in ids {
        let keys: Vec<String> = codec::all(
            client,
            "SELECT blob_key FROM chat_documents
             WHERE session_id = $1 AND tenant_id = $2 AND blob_key IS NOT NULL ORDER BY id",
            &[&id.key(), &tenant.as_str()],
            |row| get(row, "blob_key"),
        )
        .await?;
        let removed = codec::exec(
            client,
            "DELETE FROM chat_sessions WHERE id = $1 AND tenant_id = $2",
            &[&id.key(), &tenant.as_str()],
        )
        .await?;
        if removed > 0 {
            report.sessions.push(*id);
            report.blob_keys.extend(keys);
        }
    }
    Ok(report)
}

/// Which sessions an erasure removes.
enum Selection<'a> {
    One(SessionId),
    Customer(&'a UserId),
    ClosedBefore(DateTime<Utc>),
}

/// Deletes the selected sessions in one transaction; their rows are locked first, in id
/// order, so that concurrent erasures never deadlock.
async fn remove_selected(
    store: &PgStore,
    tenant: &TenantId,
    selection: Selection<'_>,
) -> PgResult<ErasureReport> {
    let mut client = store.client().await?;
    let tx = client.transaction().await?;
    let decode = |row: &Row| id::<SessionId>(row, "id");
    let ids = match selection {
        Selection::One(id) => {
            let key: Uuid = id.key();
            codec::all(
                &tx,
                "SELECT id FROM chat_sessions WHERE id = $1 AND tenant_id = $2 FOR UPDATE",
                &[&key, &tenant.as_str()],
                decode,
            )
            .await?
        }
        Selection::Customer(customer) => {
            codec::all(
                &tx,
                "SELECT id FROM chat_sessions WHERE tenant_id = $1 AND customer_id = $2
                 ORDER BY id FOR UPDATE",
                &[&tenant.as_str(), &customer.as_str()],
                decode,
            )
            .await?
        }
        Selection::ClosedBefore(cutoff) => {
            let cutoff = bound(cutoff);
            codec::all(
                &tx,
                "SELECT id FROM chat_sessions
                 WHERE tenant_id = $1 AND status IN ($2, $3) AND updated_at < $4 ORDER BY id FOR UPDATE",
                &[
                    &tenant.as_str(),
                    &SessionStatus::Closed.as_str(),
                    &SessionStatus::Resolved.as_str(),
                    &cutoff,
                ],
                decode,
            )
            .await?
        }
    };
    let report = remove_sessions(&tx, tenant, &ids).await?;
    tx.commit().await?;
    Ok(report)
}

async fn delete(store: &PgStore, tenant: &TenantId, id: SessionId) -> PgResult<ErasureReport> {
    let report = remove_selected(store, tenant, Selection::One(id)).await?;
    if report.sessions.is_empty() {
        return Err(PgError::not_found("session", id));
    }
    Ok(report)
}

#[async_trait]
impl SessionStore for PgStore {
    async fn create_session(&self, session: NewSession) -> StoreResult<ChatSession> {
        self.run(|| create(self, &session)).await
    }

    async fn get_session(&self, tenant: &TenantId, id: SessionId) -> StoreResult<ChatSession> {
        self.run(|| async move {
            let client = self.client().await?;
            load_session(&client, tenant, id, false).await
        })
        .await
    }

    async fn list_sessions(
        &self,
        tenant: &TenantId,
        filter: &SessionFilter,
    ) -> StoreResult<SessionPage> {
        self.run(|| list(self, tenant, filter)).await
    }

    async fn update_session(
        &self,
        tenant: &TenantId,
        id: SessionId,
        patch: SessionPatch,
        record: Option<NewMessage>,
    ) -> StoreResult<(ChatSession, Option<ChatMessage>)> {
        self.run(|| update(self, tenant, id, &patch, record.as_ref()))
            .await
    }

    async fn delete_session(&self, tenant: &TenantId, id: SessionId) -> StoreResult<ErasureReport> {
        self.run(|| delete(self, tenant, id)).await
    }

    async fn erase_customer(
        &self,
        tenant: &TenantId,
        customer: &UserId,
    ) -> StoreResult<ErasureReport> {
        self.run(|| remove_selected(self, tenant, Selection::Customer(customer)))
            .await
    }

    async fn purge_sessions(
        &self,
        tenant: &TenantId,
        cutoff: DateTime<Utc>,
    ) -> StoreResult<ErasureReport> {
        self.run(|| remove_selected(self, tenant, Selection::ClosedBefore(cutoff)))
            .await
    }

    async fn claim_answer(
        &self,
        tenant: &TenantId,
        session: SessionId,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.run(|| claim(self, tenant, session, owner, now, until))
            .await
    }

    async fn release_answer(
        &self,
        tenant: &TenantId,
        session: SessionId,
        owner: &str,
    ) -> StoreResult<()> {
        self.run(|| async {
            let client = self.client().await?;
            client
                .execute(
                    "UPDATE chat_sessions SET answer_owner = NULL, answer_until = NULL
                     WHERE id = $1 AND tenant_id = $2 AND answer_owner = $3",
                    &[&session.key(), &tenant.as_str(), &owner],
                )
                .await?;
            Ok(())
        })
        .await
    }
}

/// Takes or extends the answer claim when it is free, expired or `owner`'s (one statement, so
/// two nodes racing cannot both win: the row lock orders them).
async fn claim(
    store: &PgStore,
    tenant: &TenantId,
    id: SessionId,
    owner: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> PgResult<bool> {
    let client = store.client().await?;
    let changed = client
        .execute(
            "UPDATE chat_sessions SET answer_owner = $1, answer_until = $2
             WHERE id = $3 AND tenant_id = $4
               AND (answer_owner IS NULL OR answer_owner = $1 OR answer_until <= $5)",
            &[
                &owner,
                &bound(until),
                &id.key(),
                &tenant.as_str(),
                &bound(now),
            ],
        )
        .await?;
    if changed == 1 {
        return Ok(true);
    }
    // Not changed: another owner's live claim, or no such session.
    load_session(&client, tenant, id, false)
        .await
        .map(|_| false)
}
