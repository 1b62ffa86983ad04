//! Messages (`chat_messages`) and the context records of AI messages
//! (`chat_context_sources`).
//!
//! `seq` comes from the session row: `UPDATE chat_sessions SET last_seq = last_seq + 1 ...
//! RETURNING last_seq` in the same transaction as the insert, so it is strictly increasing and
//! gap-free (a failed insert rolls the increment back with it), and the unique index on
//! `(session_id, seq)` backs it up.

use async_trait::async_trait;
use chat_core::ids::{MessageId, SessionId, TenantId, UserId};
use chat_core::model::{ChatMessage, ContextSourceRecord, NewMessage, Visibility};
use chat_core::store::{
    Inserted, MAX_MESSAGE_PAGE, MessageQuery, MessageStore, StoreResult, clamp_limit,
};
use chrono::Utc;
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::codec::{
    UuidKey, count, external, from_json, id, int, json, name, nanos, opt_external, opt_json, time,
};
use crate::error::{SqliteError, SqliteResult};
use crate::query;
use crate::sessions::load_session;
use crate::store::SqliteStore;

const MESSAGE_COLUMNS: &str = "id, tenant_id, session_id, seq, sender, sender_id, visibility, content, metadata, client_msg_id, created_at";

fn message_from_row(row: &Row<'_>) -> rusqlite::Result<ChatMessage> {
    let mut new = NewMessage::new(
        external(row, "tenant_id")?,
        id(row, "session_id")?,
        name(row, "sender")?,
        opt_external(row, "sender_id")?,
        row.get::<_, String>("content")?,
    );
    new.id = id(row, "id")?;
    new.visibility = name(row, "visibility")?;
    new.metadata = from_json(row, "metadata")?;
    new.client_msg_id = row.get("client_msg_id")?;
    Ok(ChatMessage::appended(
        new,
        count(row, "seq")?,
        time(row, "created_at")?,
    ))
}

/// Appends a message in the caller's transaction: an already used `client_msg_id` returns the
/// stored message; otherwise the session row hands out the next `seq`.
pub(crate) fn append(
    conn: &Connection,
    message: NewMessage,
) -> SqliteResult<Inserted<ChatMessage>> {
    let tenant = message.tenant_id.as_str();
    if let Some(key) = &message.client_msg_id {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM chat_messages
             WHERE session_id = ?1 AND client_msg_id = ?2 AND tenant_id = ?3"
        );
        let existing = query::first(
            conn,
            &sql,
            params![message.session_id.key(), key, tenant],
            message_from_row,
        )?;
        if let Some(existing) = existing {
            return Ok(Inserted::new(existing, false));
        }
    }
    let now = Utc::now();
    let now_nanos = nanos(now)?;
    let seq: i64 = query::first(
        conn,
        "UPDATE chat_sessions SET last_seq = last_seq + 1, updated_at = ?1
             WHERE id = ?2 AND tenant_id = ?3 RETURNING last_seq",
        params![now_nanos, message.session_id.key(), tenant],
        |row| row.get(0),
    )?
    .ok_or_else(|| SqliteError::not_found("session", message.session_id))?;
    if query::id_taken(conn, "chat_messages", message.id.key())? {
        return Err(SqliteError::conflict(format!(
            "message {} already exists",
            message.id
        )));
    }
    conn.prepare_cached(
        "INSERT INTO chat_messages (id, tenant_id, session_id, seq, sender, sender_id, visibility, content,
             metadata, client_msg_id, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        message.id.key(),
        tenant,
        message.session_id.key(),
        seq,
        message.sender.as_str(),
        message.sender_id.as_ref().map(UserId::as_str),
        message.visibility.as_str(),
        message.content,
        json(&message.metadata)?,
        message.client_msg_id,
        now_nanos,
    ])?;
    let seq = u64::try_from(seq).map_err(|_| SqliteError::invalid("negative seq"))?;
    Ok(Inserted::new(
        ChatMessage::appended(message, seq, now),
        true,
    ))
}

fn get(conn: &Connection, tenant: &TenantId, id: MessageId) -> SqliteResult<ChatMessage> {
    let sql =
        format!("SELECT {MESSAGE_COLUMNS} FROM chat_messages WHERE id = ?1 AND tenant_id = ?2");
    query::first(
        conn,
        &sql,
        params![id.key(), tenant.as_str()],
        message_from_row,
    )?
    .ok_or_else(|| SqliteError::not_found("message", id))
}

fn list(
    conn: &Connection,
    tenant: &TenantId,
    session: SessionId,
    query: MessageQuery,
) -> SqliteResult<Vec<ChatMessage>> {
    load_session(conn, tenant, session)?;
    let limit = clamp_limit(query.limit, MAX_MESSAGE_PAGE);
    // `?4` is NULL when internal notes are included.
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM chat_messages
         WHERE session_id = ?1 AND tenant_id = ?2 AND seq > ?3 AND (?4 IS NULL OR visibility = ?4)
         ORDER BY seq LIMIT ?5"
    );
    let only = (!query.include_internal).then_some(Visibility::Public.as_str());
    query::all(
        conn,
        &sql,
        params![
            session.key(),
            tenant.as_str(),
            int(query.after_seq)?,
            only,
            limit
        ],
        message_from_row,
    )
}

fn record_sources(
    conn: &Connection,
    tenant: &TenantId,
    records: &[ContextSourceRecord],
) -> SqliteResult<()> {
    let mut session_of = conn
        .prepare_cached("SELECT session_id FROM chat_messages WHERE id = ?1 AND tenant_id = ?2")?;
    for record in records {
        let session: Option<SessionId> = session_of
            .query_row(params![record.message_id.key(), tenant.as_str()], |row| {
                id(row, "session_id")
            })
            .optional()?;
        let Some(session) = session else {
            return Err(SqliteError::not_found("message", record.message_id));
        };
        if record.tenant_id != *tenant {
            return Err(SqliteError::invalid(
                "a context record names another tenant",
            ));
        }
        if record.session_id != session {
            return Err(SqliteError::invalid(
                "a context record names another session than its message",
            ));
        }
    }
    let mut replace =
        conn.prepare_cached("DELETE FROM chat_context_sources WHERE id = ?1 AND tenant_id = ?2")?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO chat_context_sources (id, tenant_id, session_id, message_id, source_kind, source_id, title,
             locator, score, rank, cited)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?;
    for record in records {
        replace.execute(params![record.id.key(), tenant.as_str()])?;
        insert.execute(params![
            record.id.key(),
            tenant.as_str(),
            record.session_id.key(),
            record.message_id.key(),
            record.source_kind.as_str(),
            record.source_id,
            record.title,
            record.locator.as_ref().map(json).transpose()?,
            f64::from(record.score),
            record.rank,
            record.cited,
        ])?;
    }
    Ok(())
}

fn source_from_row(row: &Row<'_>) -> rusqlite::Result<ContextSourceRecord> {
    // Stored from an f32, so the narrowing is exact.
    #[allow(clippy::cast_possible_truncation)]
    let score = row.get::<_, f64>("score")? as f32;
    let mut record = ContextSourceRecord::new(
        external(row, "tenant_id")?,
        id(row, "session_id")?,
        id(row, "message_id")?,
        chat_core::model::ContextSourceKind::parse(&row.get::<_, String>("source_kind")?),
        row.get::<_, String>("source_id")?,
        row.get::<_, String>("title")?,
        score,
        count(row, "rank")?,
    );
    record.id = id(row, "id")?;
    record.locator = opt_json(row, "locator")?;
    record.cited = row.get("cited")?;
    Ok(record)
}

fn list_sources(
    conn: &Connection,
    tenant: &TenantId,
    message: MessageId,
) -> SqliteResult<Vec<ContextSourceRecord>> {
    query::all(
        conn,
        "SELECT id, tenant_id, session_id, message_id, source_kind, source_id, title, locator, score, rank,
             cited
         FROM chat_context_sources WHERE message_id = ?1 AND tenant_id = ?2 ORDER BY rank, id",
        params![message.key(), tenant.as_str()],
        source_from_row,
    )
}

#[async_trait]
impl MessageStore for SqliteStore {
    async fn append_message(&self, message: NewMessage) -> StoreResult<Inserted<ChatMessage>> {
        self.write(move |conn| append(conn, message)).await
    }

    async fn get_message(&self, tenant: &TenantId, id: MessageId) -> StoreResult<ChatMessage> {
        let tenant = tenant.clone();
        self.read(move |conn| get(conn, &tenant, id)).await
    }

    async fn list_messages(
        &self,
        tenant: &TenantId,
        session: SessionId,
        query: MessageQuery,
    ) -> StoreResult<Vec<ChatMessage>> {
        let tenant = tenant.clone();
        self.read(move |conn| list(conn, &tenant, session, query))
            .await
    }

    async fn record_context_sources(
        &self,
        tenant: &TenantId,
        records: Vec<ContextSourceRecord>,
    ) -> StoreResult<()> {
        let tenant = tenant.clone();
        self.write(move |conn| record_sources(conn, &tenant, &records))
            .await
    }

    async fn list_context_sources(
        &self,
        tenant: &TenantId,
        message: MessageId,
    ) -> StoreResult<Vec<ContextSourceRecord>> {
        let tenant = tenant.clone();
        self.read(move |conn| list_sources(conn, &tenant, message))
            .await
    }
}
