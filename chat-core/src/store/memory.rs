//! [`MemoryStore`]: a complete in-memory implementation of every storage trait, for tests,
//! examples and single-process hosts that need no durability.
//!
//! All data sits behind one `std::sync::RwLock`; every trait method takes the lock once, does
//! its whole change and releases it before returning (never across an `.await`), so each call
//! is atomic like a database transaction: `seq` is gap-free, idempotent appends and
//! assignments cannot race. Data is partitioned by tenant, so another tenant's record is simply
//! not there (`NotFound`). A poisoned lock is recovered (`PoisonError::into_inner`): every
//! change is validated before the first write, so a panic cannot leave half a change behind.

mod documents;
mod knowledge;
mod search;
mod support;
mod url_cache;
mod usage;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{
    ChatStore, ErasureReport, Inserted, MAX_MESSAGE_PAGE, MessageQuery, MessageStore, SessionStore,
    StoreCapabilities, StoreError, StoreResult, clamp_limit,
};
use crate::ids::{ArticleId, DocumentId, FaqId, MessageId, SessionId, TenantId, UserId};
use crate::model::{
    Agent, AiUsageRecord, ChatDocument, ChatMessage, ChatSession, ContextSourceRecord,
    DocumentChunk, KbArticle, LearnedFaqEntry, LearningPattern, MAX_SESSION_PAGE, NewMessage,
    NewSession, SessionCursor, SessionFilter, SessionPage, SessionPatch, SessionScope,
    SessionStatus, SupportAssignment, UrlCacheEntry,
};
use search::TermCounts;

/// In-memory storage backend. Cheap to create; clone the `Arc` it is held in to share it.
/// Capabilities: ranked full-text search (BM25 with stemming and diacritics folding), one
/// process only, nothing survives a restart.
#[derive(Default)]
pub struct MemoryStore {
    state: RwLock<State>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for MemoryStore {
    // Counts only: records hold personal data that must not reach logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.read();
        let sessions: usize = state.tenants.values().map(|t| t.sessions.len()).sum();
        f.debug_struct("MemoryStore")
            .field("tenants", &state.tenants.len())
            .field("sessions", &sessions)
            .finish_non_exhaustive()
    }
}

/// Everything, by tenant.
#[derive(Default)]
struct State {
    tenants: HashMap<TenantId, TenantData>,
}

impl State {
    fn tenant(&self, tenant: &TenantId) -> Option<&TenantData> {
        self.tenants.get(tenant)
    }

    fn tenant_mut(&mut self, tenant: &TenantId) -> &mut TenantData {
        self.tenants.entry(tenant.clone()).or_default()
    }
}

/// One tenant's records.
#[derive(Default)]
struct TenantData {
    sessions: BTreeMap<SessionId, SessionRow>,
    /// Where each message lives: its session and `seq`.
    message_index: HashMap<MessageId, (SessionId, u64)>,
    /// Context records by AI message.
    context: HashMap<MessageId, Vec<ContextSourceRecord>>,
    documents: BTreeMap<DocumentId, DocumentRow>,
    articles: BTreeMap<ArticleId, Indexed<KbArticle>>,
    faq: BTreeMap<FaqId, Indexed<LearnedFaqEntry>>,
    /// Learning patterns by key.
    patterns: BTreeMap<String, LearningPattern>,
    agents: BTreeMap<UserId, Agent>,
    url_cache: HashMap<String, UrlCacheEntry>,
    usage: Vec<AiUsageRecord>,
}

/// A session with what belongs only to it.
struct SessionRow {
    session: ChatSession,
    /// Messages in `seq` order: `messages[i].seq == i + 1`.
    messages: Vec<ChatMessage>,
    /// `client_msg_id` -> `seq`.
    client_ids: HashMap<String, u64>,
    /// Every assignment, oldest first; at most the last one is active.
    assignments: Vec<SupportAssignment>,
    /// Who may produce the AI answer, until when.
    answer_claim: Option<(String, DateTime<Utc>)>,
}

/// A document and its chunks.
struct DocumentRow {
    document: ChatDocument,
    chunks: Vec<Indexed<DocumentChunk>>,
}

/// A searchable record with its analyzed text.
struct Indexed<T> {
    value: T,
    terms: TermCounts,
}

fn session_not_found(id: SessionId) -> StoreError {
    StoreError::not_found("session", id)
}

impl TenantData {
    fn session(&self, id: SessionId) -> StoreResult<&SessionRow> {
        self.sessions.get(&id).ok_or_else(|| session_not_found(id))
    }

    fn session_mut(&mut self, id: SessionId) -> StoreResult<&mut SessionRow> {
        self.sessions
            .get_mut(&id)
            .ok_or_else(|| session_not_found(id))
    }

    /// Appends a message in the caller's "transaction": next `seq`, session bumped; an already
    /// used `client_msg_id` returns the stored message.
    fn append(
        &mut self,
        message: NewMessage,
        now: DateTime<Utc>,
    ) -> StoreResult<Inserted<ChatMessage>> {
        let row = self
            .sessions
            .get_mut(&message.session_id)
            .ok_or_else(|| session_not_found(message.session_id))?;
        if let Some(seq) = message
            .client_msg_id
            .as_ref()
            .and_then(|key| row.client_ids.get(key))
        {
            if let Some(existing) = row.message(*seq) {
                return Ok(Inserted::new(existing.clone(), false));
            }
        }
        if self.message_index.contains_key(&message.id) {
            return Err(StoreError::Conflict(format!(
                "message {} already exists",
                message.id
            )));
        }
        let seq = row.session.last_seq + 1;
        let stored = ChatMessage::appended(message, seq, now);
        if let Some(key) = &stored.client_msg_id {
            row.client_ids.insert(key.clone(), seq);
        }
        row.session.last_seq = seq;
        row.session.updated_at = now;
        row.messages.push(stored.clone());
        self.message_index
            .insert(stored.id, (stored.session_id, seq));
        Ok(Inserted::new(stored, true))
    }

    /// Removes sessions with everything that belongs to them; reports them and their blobs.
    fn remove_sessions(&mut self, ids: &[SessionId]) -> ErasureReport {
        let mut report = ErasureReport::default();
        for id in ids {
            let Some(row) = self.sessions.remove(id) else {
                continue;
            };
            for message in &row.messages {
                self.message_index.remove(&message.id);
                self.context.remove(&message.id);
            }
            let documents: Vec<DocumentId> = self
                .documents
                .values()
                .filter(|d| d.document.session_id == *id)
                .map(|d| d.document.id)
                .collect();
            for doc in documents {
                if let Some(key) = self
                    .documents
                    .remove(&doc)
                    .and_then(|d| d.document.blob_key)
                {
                    report.blob_keys.push(key);
                }
            }
            report.sessions.push(*id);
        }
        report
    }
}

impl SessionRow {
    fn message(&self, seq: u64) -> Option<&ChatMessage> {
        let index = usize::try_from(seq.checked_sub(1)?).ok()?;
        self.messages.get(index)
    }

    fn active_assignment(&self) -> Option<&SupportAssignment> {
        self.assignments.last().filter(|a| a.ended_at.is_none())
    }
}

fn scope_allows(scope: &SessionScope, session: &ChatSession) -> bool {
    match scope {
        SessionScope::All => true,
        SessionScope::Customer(customer) => session.customer_id == *customer,
        SessionScope::Agent(agent) => {
            session.assigned_agent.as_ref() == Some(agent)
                || session.status == SessionStatus::WaitingForAgent
        }
    }
}

fn filter_allows(filter: &SessionFilter, session: &ChatSession) -> bool {
    scope_allows(&filter.scope, session)
        && filter.status.is_none_or(|s| session.status == s)
        && filter.kind.is_none_or(|k| session.kind == k)
        && filter
            .assigned_to
            .as_ref()
            .is_none_or(|a| session.assigned_agent.as_ref() == Some(a))
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn create_session(&self, new: NewSession) -> StoreResult<ChatSession> {
        let now = Utc::now();
        let mut state = self.write();
        let tenant = state.tenant_mut(&new.tenant_id);
        if tenant.sessions.contains_key(&new.id) {
            return Err(StoreError::Conflict(format!(
                "session {} already exists",
                new.id
            )));
        }
        let session = ChatSession::created(new, now);
        let row = SessionRow {
            session: session.clone(),
            messages: Vec::new(),
            client_ids: HashMap::new(),
            assignments: Vec::new(),
            answer_claim: None,
        };
        tenant.sessions.insert(session.id, row);
        Ok(session)
    }

    async fn get_session(&self, tenant: &TenantId, id: SessionId) -> StoreResult<ChatSession> {
        let state = self.read();
        let data = state.tenant(tenant).ok_or_else(|| session_not_found(id))?;
        Ok(data.session(id)?.session.clone())
    }

    async fn list_sessions(
        &self,
        tenant: &TenantId,
        filter: &SessionFilter,
    ) -> StoreResult<SessionPage> {
        let limit =
            usize::try_from(clamp_limit(filter.limit, MAX_SESSION_PAGE)).unwrap_or(usize::MAX);
        let state = self.read();
        let Some(data) = state.tenant(tenant) else {
            return Ok(SessionPage::new(Vec::new(), None));
        };
        // Newest first is descending id order: ids are UUID v7, ordered by creation time.
        let upper = filter.cursor.map(|c| c.0);
        let mut sessions: Vec<ChatSession> = data
            .sessions
            .values()
            .rev()
            .filter(|row| upper.is_none_or(|cursor| row.session.id < cursor))
            .filter(|row| filter_allows(filter, &row.session))
            .take(limit.saturating_add(1))
            .map(|row| row.session.clone())
            .collect();
        let next_cursor = if sessions.len() > limit {
            sessions.truncate(limit);
            sessions.last().map(|s| SessionCursor(s.id))
        } else {
            None
        };
        Ok(SessionPage::new(sessions, next_cursor))
    }

    async fn update_session(
        &self,
        tenant: &TenantId,
        id: SessionId,
        patch: SessionPatch,
        record: Option<NewMessage>,
    ) -> StoreResult<(ChatSession, Option<ChatMessage>)> {
        let now = Utc::now();
        let mut state = self.write();
        let data = state
            .tenants
            .get_mut(tenant)
            .ok_or_else(|| session_not_found(id))?;
        data.session(id)?;
        if let Some(record) = &record {
            if record.session_id != id || record.tenant_id != *tenant {
                return Err(StoreError::InvalidInput(
                    "the record message names another session".into(),
                ));
            }
        }
        let row = data.session_mut(id)?;
        let session = &mut row.session;
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
        session.updated_at = now;
        let message = match record {
            Some(record) => Some(data.append(record, now)?.value),
            None => None,
        };
        Ok((data.session(id)?.session.clone(), message))
    }

    async fn delete_session(&self, tenant: &TenantId, id: SessionId) -> StoreResult<ErasureReport> {
        let mut state = self.write();
        let data = state
            .tenants
            .get_mut(tenant)
            .ok_or_else(|| session_not_found(id))?;
        data.session(id)?;
        Ok(data.remove_sessions(&[id]))
    }

    async fn erase_customer(
        &self,
        tenant: &TenantId,
        customer: &UserId,
    ) -> StoreResult<ErasureReport> {
        let mut state = self.write();
        let Some(data) = state.tenants.get_mut(tenant) else {
            return Ok(ErasureReport::default());
        };
        let ids: Vec<SessionId> = data
            .sessions
            .values()
            .filter(|r| r.session.customer_id == *customer)
            .map(|r| r.session.id)
            .collect();
        Ok(data.remove_sessions(&ids))
    }

    async fn purge_sessions(
        &self,
        tenant: &TenantId,
        cutoff: DateTime<Utc>,
    ) -> StoreResult<ErasureReport> {
        let mut state = self.write();
        let Some(data) = state.tenants.get_mut(tenant) else {
            return Ok(ErasureReport::default());
        };
        let ids: Vec<SessionId> = data
            .sessions
            .values()
            .filter(|r| {
                matches!(
                    r.session.status,
                    SessionStatus::Closed | SessionStatus::Resolved
                )
            })
            .filter(|r| r.session.updated_at < cutoff)
            .map(|r| r.session.id)
            .collect();
        Ok(data.remove_sessions(&ids))
    }

    async fn claim_answer(
        &self,
        tenant: &TenantId,
        session: SessionId,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut state = self.write();
        let row = state
            .tenants
            .get_mut(tenant)
            .and_then(|data| data.sessions.get_mut(&session))
            .ok_or_else(|| session_not_found(session))?;
        let free = match &row.answer_claim {
            None => true,
            Some((holder, end)) => holder == owner || *end <= now,
        };
        if free {
            row.answer_claim = Some((owner.to_owned(), until));
        }
        Ok(free)
    }

    async fn release_answer(
        &self,
        tenant: &TenantId,
        session: SessionId,
        owner: &str,
    ) -> StoreResult<()> {
        let mut state = self.write();
        if let Some(row) = state
            .tenants
            .get_mut(tenant)
            .and_then(|data| data.sessions.get_mut(&session))
        {
            if row
                .answer_claim
                .as_ref()
                .is_some_and(|(holder, _)| holder == owner)
            {
                row.answer_claim = None;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl MessageStore for MemoryStore {
    async fn append_message(&self, message: NewMessage) -> StoreResult<Inserted<ChatMessage>> {
        let now = Utc::now();
        let mut state = self.write();
        let data = state
            .tenants
            .get_mut(&message.tenant_id)
            .ok_or_else(|| session_not_found(message.session_id))?;
        data.append(message, now)
    }

    async fn get_message(&self, tenant: &TenantId, id: MessageId) -> StoreResult<ChatMessage> {
        let not_found = || StoreError::not_found("message", id);
        let state = self.read();
        let data = state.tenant(tenant).ok_or_else(not_found)?;
        let (session, seq) = data.message_index.get(&id).ok_or_else(not_found)?;
        let row = data.sessions.get(session).ok_or_else(not_found)?;
        row.message(*seq).cloned().ok_or_else(not_found)
    }

    async fn list_messages(
        &self,
        tenant: &TenantId,
        session: SessionId,
        query: MessageQuery,
    ) -> StoreResult<Vec<ChatMessage>> {
        let limit =
            usize::try_from(clamp_limit(query.limit, MAX_MESSAGE_PAGE)).unwrap_or(usize::MAX);
        let state = self.read();
        let data = state
            .tenant(tenant)
            .ok_or_else(|| session_not_found(session))?;
        let row = data.session(session)?;
        let start = usize::try_from(query.after_seq)
            .unwrap_or(usize::MAX)
            .min(row.messages.len());
        Ok(row.messages[start..]
            .iter()
            .filter(|m| query.include_internal || m.visibility == crate::model::Visibility::Public)
            .take(limit)
            .cloned()
            .collect())
    }

    async fn record_context_sources(
        &self,
        tenant: &TenantId,
        records: Vec<ContextSourceRecord>,
    ) -> StoreResult<()> {
        let mut state = self.write();
        let Some(data) = state.tenants.get_mut(tenant) else {
            return match records.first() {
                Some(record) => Err(StoreError::not_found("message", record.message_id)),
                None => Ok(()),
            };
        };
        // Check every record first so that the call stores all of them or none.
        for record in &records {
            if !data.message_index.contains_key(&record.message_id) {
                return Err(StoreError::not_found("message", record.message_id));
            }
            if record.tenant_id != *tenant {
                return Err(StoreError::InvalidInput(
                    "a context record names another tenant".into(),
                ));
            }
        }
        for record in records {
            let list = data.context.entry(record.message_id).or_default();
            list.retain(|r| r.id != record.id);
            list.push(record);
        }
        Ok(())
    }

    async fn list_context_sources(
        &self,
        tenant: &TenantId,
        message: MessageId,
    ) -> StoreResult<Vec<ContextSourceRecord>> {
        let state = self.read();
        let mut records = state
            .tenant(tenant)
            .and_then(|d| d.context.get(&message))
            .cloned()
            .unwrap_or_default();
        records.sort_by_key(|r| r.rank);
        Ok(records)
    }
}

impl ChatStore for MemoryStore {
    fn capabilities(&self) -> StoreCapabilities {
        StoreCapabilities::new(true, false, false)
    }
}
