//! Messages (`chat_messages`) and the context records of AI messages
//! (`chat_context_sources`).
//!
//! `seq` comes from the session row: `UPDATE chat_sessions SET last_seq = last_seq + 1 ...
//! RETURNING last_seq` in the same transaction as the insert. The update takes the session
//! row's lock, so appends to one session are serialized across every node, each gets the next
//! number, and a rolled-back insert takes its increment with it: strictly increasing, gap-free
//! and duplicate-free. The unique index on `(session_id, seq)` backs it up.
//!
//! Idempotency: the unique index on `(session_id, client_msg_id)`. A standalone append runs the
//! increment and `INSERT ... ON CONFLICT DO NOTHING` in one statement of its own transaction;
//! when the key was already used, nothing is returned, the transaction is rolled back (undoing
//! the increment) and the first message is read. Inside a larger transaction (a session update
//! or an assignment recording a system message) the session row is locked first and the key
//! looked up after the lock, when every earlier append of the session is visible.

use async_trait::async_trait;
use chat_core::ids::{MessageId, SessionId, TenantId, UserId};
use chat_core::model::{
    ChatMessage, ContextSourceKind, ContextSourceRecord, NewMessage, Visibility,
};
use chat_core::store::{
    Inserted, MAX_MESSAGE_PAGE, MessageQuery, MessageStore, StoreResult, clamp_limit,
};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use crate::codec::{
    self, UuidKey, count, external, from_json, get, id, int, json, name, now, opt_external,
    opt_json,
};
use crate::error::{PgError, PgResult};
use crate::sessions::load_session;
use crate::store::PgStore;

const MESSAGE_COLUMNS: &str = "id, tenant_id, session_id, seq, sender, sender_id, visibility, content, metadata, client_msg_id, created_at";

/// Increments the session's `last_seq` and inserts the message with it, in one statement.
/// `$1` id, `$2` tenant, `$3` session, `$4..$9` sender, sender id, visibility, content,
/// metadata, client key, `$10` time. Returns no row when the session is missing (or, with
/// `ON CONFLICT`, when the key was used).
const APPEND: &str = "WITH s AS (
        UPDATE chat_sessions SET last_seq = last_seq + 1, updated_at = $10
        WHERE id = $3 AND tenant_id = $2 RETURNING last_seq
    )
    INSERT INTO chat_messages (id, tenant_id, session_id, seq, sender, sender_id, visibility, content,
        metadata, client_msg_id, created_at)
    SELECT $1, $2, $3, s.last_seq, $4, $5, $6, $7, $8, $9, $10 FROM s";

fn message_from_row(row: &Row) -> PgResult<ChatMessage> {
    let mut new = NewMessage::new(
        external(row, "tenant_id")?,
        id(row, "session_id")?,
        name(row, "sender")?,
        opt_external(row, "sender_id")?,
        get::<String>(row, "content")?,
    );
    new.id = id(row, "id")?;
    new.visibility = name(row, "visibility")?;
    new.metadata = from_json(row, "metadata")?;
    new.client_msg_id = get(row, "client_msg_id")?;
    Ok(ChatMessage::appended(
        new,
        count(row, "seq")?,
        get(row, "created_at")?,
    ))
}

/// Runs [`APPEND`] (with `suffix`) and returns the `seq` it assigned, if it inserted.
async fn insert_next<C: GenericClient>(
    client: &C,
    message: &NewMessage,
    suffix: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> PgResult<Option<u64>> {
    let sql = format!("{APPEND}{suffix} RETURNING seq");
    let row = codec::row(
        client,
        &sql,
        &[
            &message.id.key(),
            &message.tenant_id.as_str(),
            &message.session_id.key(),
            &message.sender.as_str(),
            &message.sender_id.as_ref().map(UserId::as_str),
            &message.visibility.as_str(),
            &message.content,
            &json(&message.metadata),
            &message.client_msg_id,
            &at,
        ],
    )
    .await?;
    row.map(|r| count(&r, "seq")).transpose()
}

async fn by_client_key<C: GenericClient>(
    client: &C,
    message: &NewMessage,
    key: &str,
) -> PgResult<Option<ChatMessage>> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM chat_messages
         WHERE session_id = $1 AND client_msg_id = $2 AND tenant_id = $3"
    );
    codec::first(
        client,
        &sql,
        &[&message.session_id.key(), &key, &message.tenant_id.as_str()],
        message_from_row,
    )
    .await
}

/// Appends a message inside the caller's transaction (see the module docs).
pub(crate) async fn append<C: GenericClient>(
    client: &C,
    message: &NewMessage,
) -> PgResult<Inserted<ChatMessage>> {
    if let Some(key) = &message.client_msg_id {
        load_session(client, &message.tenant_id, message.session_id, true).await?;
        if let Some(existing) = by_client_key(client, message, key).await? {
            return Ok(Inserted::new(existing, false));
        }
    }
    let at = now();
    let seq = insert_next(client, message, "", at)
        .await?
        .ok_or_else(|| PgError::not_found("session", message.session_id))?;
    Ok(Inserted::new(
        ChatMessage::appended(message.clone(), seq, at),
        true,
    ))
}

/// A standalone append: one statement in its own transaction (see the module docs).
async fn append_alone(store: &PgStore, message: &NewMessage) -> PgResult<Inserted<ChatMessage>> {
    let mut client = store.client().await?;
    let Some(key) = &message.client_msg_id else {
        // One statement is its own transaction.
        return append(&client, message).await;
    };
    let tx = client.transaction().await?;
    let at = now();
    let suffix =
        " ON CONFLICT (session_id, client_msg_id) WHERE client_msg_id IS NOT NULL DO NOTHING";
    if let Some(seq) = insert_next(&tx, message, suffix, at).await? {
        tx.commit().await?;
        return Ok(Inserted::new(
            ChatMessage::appended(message.clone(), seq, at),
            true,
        ));
    }
    // Undo the increment: the key was used before, or the session is missing.
    tx.rollback().await?;
    match by_client_key(&client, message, key).await? {
        Some(existing) => Ok(Inserted::new(existing, false)),
        None => Err(PgError::not_found("session", message.session_id)),
    }
}

async fn list(
    store: &PgStore,
    tenant: &TenantId,
    session: SessionId,
    query: MessageQuery,
) -> PgResult<Vec<ChatMessage>> {
    let client = store.client().await?;
    load_session(&client, tenant, session, false).await?;
    let limit = i64::from(clamp_limit(query.limit, MAX_MESSAGE_PAGE));
    // `$4` is NULL when internal notes are included.
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM chat_messages
         WHERE session_id = $1 AND tenant_id = $2 AND seq > $3 AND ($4::text IS NULL OR visibility = $4)
         ORDER BY seq LIMIT $5"
    );
    let only = (!query.include_internal).then_some(Visibility::Public.as_str());
    codec::all(
        &client,
        &sql,
        &[
            &session.key(),
            &tenant.as_str(),
            &int(query.after_seq)?,
            &only,
            &limit,
        ],
        message_from_row,
    )
    .await
}

async fn record_sources(
    store: &PgStore,
    tenant: &TenantId,
    records: &[ContextSourceRecord],
) -> PgResult<()> {
    let mut client = store.client().await?;
    let tx = client.transaction().await?;
    for record in records {
        let session: Option<SessionId> = codec::first(
            &tx,
            "SELECT session_id FROM chat_messages WHERE id = $1 AND tenant_id = $2",
            &[&record.message_id.key(), &tenant.as_str()],
            |row| id(row, "session_id"),
        )
        .await?;
        let Some(session) = session else {
            return Err(PgError::not_found("message", record.message_id));
        };
        if record.tenant_id != *tenant {
            return Err(PgError::invalid("a context record names another tenant"));
        }
        if record.session_id != session {
            return Err(PgError::invalid(
                "a context record names another session than its message",
            ));
        }
    }
    for record in records {
        codec::exec(
            &tx,
            "DELETE FROM chat_context_sources WHERE id = $1 AND tenant_id = $2",
            &[&record.id.key(), &tenant.as_str()],
        )
        .await?;
        codec::exec(
            &tx,
            "INSERT INTO chat_context_sources (id, tenant_id, session_id, message_id, source_kind, source_id, title,
                 locator, score, rank, cited)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            &[
                &record.id.key(),
                &tenant.as_str(),
                &record.session_id.key(),
                &record.message_id.key(),
                &record.source_kind.as_str(),
                &record.source_id,
                &record.title,
                &record.locator.as_ref().map(json),
                &record.score,
                &i64::from(record.rank),
                &record.cited,
            ],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

fn source_from_row(row: &Row) -> PgResult<ContextSourceRecord> {
    let mut record = ContextSourceRecord::new(
        external(row, "tenant_id")?,
        id(row, "session_id")?,
        id(row, "message_id")?,
        ContextSourceKind::parse(get::<&str>(row, "source_kind")?),
        get::<String>(row, "source_id")?,
        get::<String>(row, "title")?,
        get::<f32>(row, "score")?,
        count(row, "rank")?,
    );
    record.id = id(row, "id")?;
    record.locator = opt_json(row, "locator")?;
    record.cited = get(row, "cited")?;
    Ok(record)
}

#[async_trait]
impl MessageStore for PgStore {
    async fn append_message(&self, message: NewMessage) -> StoreResult<Inserted<ChatMessage>> {
        self.run(|| append_alone(self, &message)).await
    }

    async fn get_message(&self, tenant: &TenantId, id: MessageId) -> StoreResult<ChatMessage> {
        self.run(|| async move {
            let client = self.client().await?;
            let sql = format!(
                "SELECT {MESSAGE_COLUMNS} FROM chat_messages WHERE id = $1 AND tenant_id = $2"
            );
            codec::first(
                &client,
                &sql,
                &[&id.key(), &tenant.as_str()],
                message_from_row,
            )
            .await?
            .ok_or_else(|| PgError::not_found("message", id))
        })
        .await
    }

    async fn list_messages(
        &self,
        tenant: &TenantId,
        session: SessionId,
        query: MessageQuery,
    ) -> StoreResult<Vec<ChatMessage>> {
        self.run(|| list(self, tenant, session, query)).await
    }

    async fn record_context_sources(
        &self,
        tenant: &TenantId,
        records: Vec<ContextSourceRecord>,
    ) -> StoreResult<()> {
        self.run(|| record_sources(self, tenant, &records)).await
    }

    async fn list_context_sources(
        &self,
        tenant: &TenantId,
        message: MessageId,
    ) -> StoreResult<Vec<ContextSourceRecord>> {
        self.run(|| async move {
            let client = self.client().await?;
            codec::all(
                &client,
                "SELECT id, tenant_id, session_id, message_id, source_kind, source_id, title, locator, score, rank,
                     cited
                 FROM chat_context_sources WHERE message_id = $1 AND tenant_id = $2 ORDER BY rank, id",
                &[&message.key(), &tenant.as_str()],
                source_from_row,
            )
            .await
        })
        .await
    }
}
