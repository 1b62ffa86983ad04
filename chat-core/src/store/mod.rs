//! Storage: the traits every backend implements (SQLite, PostgreSQL, in-memory), grouped by
//! concern, and the [`ChatStore`] super-trait the engine holds as `Arc<dyn ChatStore>`.
//!
//! Rules every implementation follows (checked by the conformance suite in
//! `chat_core::store::conformance`, feature `testing`):
//! - every query is scoped by tenant: a record of another tenant is `NotFound`;
//! - `seq` is assigned inside the insert transaction, strictly increasing and gap-free per session;
//! - appending a `client_msg_id` already used in the session returns the first message;
//! - search is the store's own full-text index, so data and index never drift; user text is
//!   treated as plain words (no query syntax), and results are ranked best first.

#[cfg(feature = "testing")]
pub mod conformance;
mod error;
mod memory;

use std::fmt::Debug;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use error::StoreError;
pub use memory::MemoryStore;

use crate::ids::{ArticleId, DocumentId, FaqId, MessageId, PatternId, SessionId, TenantId, UserId};
use crate::model::{
    Agent, AgentAvailability, AiUsageRecord, AssignRequest, AssignmentOutcome, ChatDocument,
    ChatMessage, ChatSession, ContextSourceRecord, DocumentChunk, DocumentStatus, FaqStatus,
    KbArticle, LearnedFaqEntry, LearningPattern, Metadata, NewDocument, NewMessage, NewSession,
    ScoredArticle, ScoredChunk, ScoredFaq, SessionFilter, SessionPage, SessionPatch, SessionStatus,
    SupportAssignment, UrlCacheEntry, UsageAggregate,
};

/// Result of the storage traits.
pub type StoreResult<T> = Result<T, StoreError>;

/// Largest page of messages a store returns.
pub const MAX_MESSAGE_PAGE: u32 = 1000;
/// Largest number of search results a store returns.
pub const MAX_SEARCH_RESULTS: u32 = 100;

/// A value that was either inserted now or found already there (idempotent inserts).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Inserted<T> {
    /// The stored value (the first one, when it already existed).
    pub value: T,
    /// True when this call inserted it.
    pub created: bool,
}

impl<T> Inserted<T> {
    /// Builds an outcome.
    pub fn new(value: T, created: bool) -> Self {
        Self { value, created }
    }
}

/// What a backend supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StoreCapabilities {
    /// Ranked full-text search with stemming.
    pub full_text_search: bool,
    /// Safe for several engine nodes at once (shared database, cross-node atomic claims).
    pub multi_node: bool,
    /// Data survives a restart.
    pub durable: bool,
}

impl StoreCapabilities {
    /// Builds a capability set.
    pub fn new(full_text_search: bool, multi_node: bool, durable: bool) -> Self {
        Self {
            full_text_search,
            multi_node,
            durable,
        }
    }
}

/// Which messages to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct MessageQuery {
    /// Only messages with `seq` greater than this.
    pub after_seq: u64,
    /// Page size (clamped to 1..=[`MAX_MESSAGE_PAGE`]).
    pub limit: u32,
    /// Include internal notes (staff only).
    pub include_internal: bool,
}

impl MessageQuery {
    /// Messages after `after_seq`, at most `limit`, internal notes included.
    pub fn after(after_seq: u64, limit: u32) -> Self {
        Self {
            after_seq,
            limit,
            include_internal: true,
        }
    }
    /// Whether to include internal notes.
    pub fn include_internal(mut self, include: bool) -> Self {
        self.include_internal = include;
        self
    }
}

/// A partial update of a document. `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct DocumentPatch {
    /// New status.
    pub status: Option<DocumentStatus>,
    /// Pages or sheets.
    pub page_count: Option<u32>,
    /// Replaces the warnings.
    pub warnings: Option<Vec<String>>,
    /// Replaces the metadata.
    pub metadata: Option<Metadata>,
    /// Sets the blob key.
    pub blob_key: Option<String>,
}

impl DocumentPatch {
    /// Sets the status.
    pub fn status(mut self, status: DocumentStatus) -> Self {
        self.status = Some(status);
        self
    }
    /// Sets the page or sheet count.
    pub fn page_count(mut self, count: u32) -> Self {
        self.page_count = Some(count);
        self
    }
    /// Replaces the warnings.
    pub fn warnings(mut self, warnings: Vec<String>) -> Self {
        self.warnings = Some(warnings);
        self
    }
    /// Replaces the metadata.
    pub fn metadata(mut self, metadata: Metadata) -> Self {
        self.metadata = Some(metadata);
        self
    }
    /// Sets the blob key.
    pub fn blob_key(mut self, key: impl Into<String>) -> Self {
        self.blob_key = Some(key.into());
        self
    }
}

/// Feedback on a FAQ entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FaqFeedback {
    /// The entry was used in an answer.
    Used,
    /// The customer found the answer helpful.
    Positive,
    /// The customer did not.
    Negative,
}

/// Ends a session's active assignment (resolve, hand back to the AI).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ReleaseRequest {
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// The session.
    pub session_id: SessionId,
    /// Status after the release (`resolved`, `open`, `closed`).
    pub status_after: SessionStatus,
    /// Who releases it.
    pub released_by: Option<UserId>,
    /// Why.
    pub reason: Option<String>,
}

impl ReleaseRequest {
    /// Builds a request.
    pub fn new(tenant_id: TenantId, session_id: SessionId, status_after: SessionStatus) -> Self {
        Self {
            tenant_id,
            session_id,
            status_after,
            released_by: None,
            reason: None,
        }
    }
    /// Sets who releases it.
    pub fn released_by(mut self, by: Option<UserId>) -> Self {
        self.released_by = by;
        self
    }
    /// Sets the reason.
    pub fn reason(mut self, reason: Option<String>) -> Self {
        self.reason = reason;
        self
    }
}

/// What a release changed.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ReleaseOutcome {
    /// The assignment that ended, if there was one.
    pub ended: Option<SupportAssignment>,
    /// The session after the change.
    pub session: ChatSession,
    /// The system message recording it.
    pub message: ChatMessage,
}

impl ReleaseOutcome {
    /// Builds an outcome.
    pub fn new(
        ended: Option<SupportAssignment>,
        session: ChatSession,
        message: ChatMessage,
    ) -> Self {
        Self {
            ended,
            session,
            message,
        }
    }
}

/// What an erasure or purge removed; the caller deletes the listed blobs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ErasureReport {
    /// Sessions removed (with their messages, documents, chunks, context records, assignments).
    pub sessions: Vec<SessionId>,
    /// Blob keys of the removed documents.
    pub blob_keys: Vec<String>,
}

impl ErasureReport {
    /// Builds a report.
    pub fn new(sessions: Vec<SessionId>, blob_keys: Vec<String>) -> Self {
        Self {
            sessions,
            blob_keys,
        }
    }
}

/// Sessions.
#[async_trait]
pub trait SessionStore: Send + Sync + Debug + 'static {
    /// Creates a session (status `open`, `last_seq` 0).
    ///
    /// Errors: `Conflict` if the id exists.
    async fn create_session(&self, session: NewSession) -> StoreResult<ChatSession>;

    /// Reads a session.
    ///
    /// Errors: `NotFound` when missing or of another tenant.
    async fn get_session(&self, tenant: &TenantId, id: SessionId) -> StoreResult<ChatSession>;

    /// Lists sessions matching the filter, newest first, one page at a time.
    ///
    /// Errors: backend failures only.
    async fn list_sessions(
        &self,
        tenant: &TenantId,
        filter: &SessionFilter,
    ) -> StoreResult<SessionPage>;

    /// Applies a patch and, in the same transaction, appends `record` (a system message that
    /// records the change and takes the next `seq`).
    ///
    /// Errors: `NotFound`.
    async fn update_session(
        &self,
        tenant: &TenantId,
        id: SessionId,
        patch: SessionPatch,
        record: Option<NewMessage>,
    ) -> StoreResult<(ChatSession, Option<ChatMessage>)>;

    /// Deletes a session with everything that belongs to it.
    ///
    /// Errors: `NotFound`.
    async fn delete_session(&self, tenant: &TenantId, id: SessionId) -> StoreResult<ErasureReport>;

    /// Deletes every session of a customer with everything that belongs to them.
    ///
    /// Errors: backend failures only (no sessions is an empty report).
    async fn erase_customer(
        &self,
        tenant: &TenantId,
        customer: &UserId,
    ) -> StoreResult<ErasureReport>;

    /// Deletes the sessions of the tenant that are `closed` or `resolved` and were last updated
    /// before `cutoff`.
    ///
    /// Errors: backend failures only.
    async fn purge_sessions(
        &self,
        tenant: &TenantId,
        cutoff: DateTime<Utc>,
    ) -> StoreResult<ErasureReport>;

    /// Claims the right to produce the AI answer of a session for `owner` (a token unique to one
    /// engine node) until `until`: true when the session had no claim, an expired one (its end
    /// at or before `now`), or one of `owner` (then moved to `until`); false when another owner
    /// holds a live claim. This is what keeps "one answer per session at a time" across nodes.
    ///
    /// Errors: `NotFound`.
    async fn claim_answer(
        &self,
        tenant: &TenantId,
        session: SessionId,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// Gives up `owner`'s answer claim; no-op when the session has no claim or another owner's.
    ///
    /// Errors: backend failures only (a missing session is fine).
    async fn release_answer(
        &self,
        tenant: &TenantId,
        session: SessionId,
        owner: &str,
    ) -> StoreResult<()>;
}

/// Messages and the context records of AI messages.
#[async_trait]
pub trait MessageStore: Send + Sync + Debug + 'static {
    /// Appends a message, assigning the next `seq` in the same transaction and bumping the
    /// session's `last_seq` and `updated_at`. A `client_msg_id` already used in the session
    /// returns the stored message with `created == false`.
    ///
    /// Errors: `NotFound` when the session is missing or of another tenant.
    async fn append_message(&self, message: NewMessage) -> StoreResult<Inserted<ChatMessage>>;

    /// Reads a message.
    ///
    /// Errors: `NotFound`.
    async fn get_message(&self, tenant: &TenantId, id: MessageId) -> StoreResult<ChatMessage>;

    /// Messages of a session with `seq > after_seq`, in `seq` order.
    ///
    /// Errors: `NotFound` when the session is missing.
    async fn list_messages(
        &self,
        tenant: &TenantId,
        session: SessionId,
        query: MessageQuery,
    ) -> StoreResult<Vec<ChatMessage>>;

    /// Stores the context records of an AI message.
    ///
    /// Errors: `NotFound` when the message is missing.
    async fn record_context_sources(
        &self,
        tenant: &TenantId,
        records: Vec<ContextSourceRecord>,
    ) -> StoreResult<()>;

    /// The context records of a message, by rank.
    ///
    /// Errors: backend failures only.
    async fn list_context_sources(
        &self,
        tenant: &TenantId,
        message: MessageId,
    ) -> StoreResult<Vec<ContextSourceRecord>>;
}

/// Documents of sessions and their searchable chunks.
#[async_trait]
pub trait DocumentStore: Send + Sync + Debug + 'static {
    /// Records a document (status `pending`); if the session already has a document with the
    /// same SHA-256, returns that one with `created == false`.
    ///
    /// Errors: `NotFound` when the session is missing.
    async fn insert_document(&self, document: NewDocument) -> StoreResult<Inserted<ChatDocument>>;

    /// Reads a document.
    ///
    /// Errors: `NotFound`.
    async fn get_document(&self, tenant: &TenantId, id: DocumentId) -> StoreResult<ChatDocument>;

    /// The documents of a session, oldest first.
    ///
    /// Errors: backend failures only.
    async fn list_documents(
        &self,
        tenant: &TenantId,
        session: SessionId,
    ) -> StoreResult<Vec<ChatDocument>>;

    /// Updates status, counts, warnings or metadata.
    ///
    /// Errors: `NotFound`.
    async fn update_document(
        &self,
        tenant: &TenantId,
        id: DocumentId,
        patch: DocumentPatch,
    ) -> StoreResult<ChatDocument>;

    /// Replaces the chunks of a document (and their index entries) and sets `chunk_count`.
    ///
    /// Errors: `NotFound`; `InvalidInput` when a chunk names another document.
    async fn replace_chunks(
        &self,
        tenant: &TenantId,
        document: DocumentId,
        chunks: Vec<DocumentChunk>,
    ) -> StoreResult<u32>;

    /// The chunks of a document, by ordinal.
    ///
    /// Errors: backend failures only.
    async fn list_chunks(
        &self,
        tenant: &TenantId,
        document: DocumentId,
    ) -> StoreResult<Vec<DocumentChunk>>;

    /// Full-text search over the chunks of one session's ready documents, best first.
    ///
    /// Errors: backend failures only; any query text is accepted.
    async fn search_chunks(
        &self,
        tenant: &TenantId,
        session: SessionId,
        query: &str,
        limit: u32,
    ) -> StoreResult<Vec<ScoredChunk>>;

    /// Deletes a document and its chunks; returns its blob key.
    ///
    /// Errors: `NotFound`.
    async fn delete_document(
        &self,
        tenant: &TenantId,
        id: DocumentId,
    ) -> StoreResult<Option<String>>;
}

/// Knowledge base, learned FAQ and learning patterns.
#[async_trait]
pub trait KnowledgeStore: Send + Sync + Debug + 'static {
    /// Inserts or replaces an article by id (keeps the first `created_at`).
    ///
    /// Errors: backend failures only.
    async fn upsert_article(&self, article: KbArticle) -> StoreResult<KbArticle>;

    /// Reads an article.
    ///
    /// Errors: `NotFound`.
    async fn get_article(&self, tenant: &TenantId, id: ArticleId) -> StoreResult<KbArticle>;

    /// Deletes an article.
    ///
    /// Errors: `NotFound`.
    async fn delete_article(&self, tenant: &TenantId, id: ArticleId) -> StoreResult<()>;

    /// Articles by id, after `after` (for paging through all of them).
    ///
    /// Errors: backend failures only.
    async fn list_articles(
        &self,
        tenant: &TenantId,
        after: Option<ArticleId>,
        limit: u32,
    ) -> StoreResult<Vec<KbArticle>>;

    /// Full-text search over title, body and tags, best first.
    ///
    /// Errors: backend failures only; any query text is accepted.
    async fn search_articles(
        &self,
        tenant: &TenantId,
        query: &str,
        limit: u32,
    ) -> StoreResult<Vec<ScoredArticle>>;

    /// Inserts or replaces a FAQ entry by id.
    ///
    /// Errors: backend failures only.
    async fn upsert_faq(&self, entry: LearnedFaqEntry) -> StoreResult<LearnedFaqEntry>;

    /// Reads a FAQ entry.
    ///
    /// Errors: `NotFound`.
    async fn get_faq(&self, tenant: &TenantId, id: FaqId) -> StoreResult<LearnedFaqEntry>;

    /// Deletes a FAQ entry.
    ///
    /// Errors: `NotFound`.
    async fn delete_faq(&self, tenant: &TenantId, id: FaqId) -> StoreResult<()>;

    /// Full-text search over question and answer, best first; only entries of `status` when given.
    ///
    /// Errors: backend failures only; any query text is accepted.
    async fn search_faq(
        &self,
        tenant: &TenantId,
        query: &str,
        status: Option<FaqStatus>,
        limit: u32,
    ) -> StoreResult<Vec<ScoredFaq>>;

    /// Counts feedback atomically and recomputes the confidence
    /// ([`LearnedFaqEntry::recompute_confidence`]).
    ///
    /// Errors: `NotFound`.
    async fn record_faq_feedback(
        &self,
        tenant: &TenantId,
        id: FaqId,
        feedback: FaqFeedback,
    ) -> StoreResult<LearnedFaqEntry>;

    /// Counts one more occurrence of a pattern (creating it the first time).
    ///
    /// Errors: backend failures only.
    async fn record_pattern(
        &self,
        tenant: &TenantId,
        pattern_key: &str,
        example: &str,
    ) -> StoreResult<LearningPattern>;

    /// Patterns seen at least `min_occurrences` times, most frequent first.
    ///
    /// Errors: backend failures only.
    async fn list_patterns(
        &self,
        tenant: &TenantId,
        min_occurrences: u32,
        limit: u32,
    ) -> StoreResult<Vec<LearningPattern>>;

    /// Links a pattern to the FAQ entry made from it.
    ///
    /// Errors: `NotFound`.
    async fn link_pattern(
        &self,
        tenant: &TenantId,
        pattern: PatternId,
        faq: Option<FaqId>,
    ) -> StoreResult<LearningPattern>;
}

/// Agents and assignments.
#[async_trait]
pub trait SupportStore: Send + Sync + Debug + 'static {
    /// Inserts or replaces an agent (keeps `last_assigned_at`).
    ///
    /// Errors: backend failures only.
    async fn upsert_agent(&self, agent: Agent) -> StoreResult<Agent>;

    /// Reads an agent.
    ///
    /// Errors: `NotFound`.
    async fn get_agent(&self, tenant: &TenantId, id: &UserId) -> StoreResult<Agent>;

    /// All agents of the tenant, by id.
    ///
    /// Errors: backend failures only.
    async fn list_agents(&self, tenant: &TenantId) -> StoreResult<Vec<Agent>>;

    /// Sets availability and, when given, capacity.
    ///
    /// Errors: `NotFound`.
    async fn set_agent_availability(
        &self,
        tenant: &TenantId,
        id: &UserId,
        availability: AgentAvailability,
        max_concurrent: Option<u32>,
    ) -> StoreResult<Agent>;

    /// Assigns a session atomically (see [`AssignRequest`]). Safe under concurrency, across
    /// nodes for multi-node stores: a session is never held by two active assignments, and an
    /// agent never holds more than `max_concurrent` when capacity is enforced.
    ///
    /// Errors: `NotFound` (session, agent); `Conflict` when the session is already assigned and
    /// `replace_existing` is false, when the agent is at capacity or not online for `Auto`, when
    /// no agent is free for `Auto`, or when the session is closed.
    async fn assign_session(&self, request: AssignRequest) -> StoreResult<AssignmentOutcome>;

    /// Ends the active assignment, if any, sets the status, clears the assignee and appends the
    /// system message, in one transaction.
    ///
    /// Errors: `NotFound`.
    async fn release_session(&self, request: ReleaseRequest) -> StoreResult<ReleaseOutcome>;

    /// The session's active assignment.
    ///
    /// Errors: backend failures only.
    async fn active_assignment(
        &self,
        tenant: &TenantId,
        session: SessionId,
    ) -> StoreResult<Option<SupportAssignment>>;

    /// All assignments of a session, oldest first.
    ///
    /// Errors: backend failures only.
    async fn list_assignments(
        &self,
        tenant: &TenantId,
        session: SessionId,
    ) -> StoreResult<Vec<SupportAssignment>>;

    /// Number of active assignments of an agent.
    ///
    /// Errors: backend failures only.
    async fn agent_load(&self, tenant: &TenantId, agent: &UserId) -> StoreResult<u32>;

    /// Sessions waiting for an agent, oldest first.
    ///
    /// Errors: backend failures only.
    async fn queued_sessions(&self, tenant: &TenantId, limit: u32)
    -> StoreResult<Vec<ChatSession>>;
}

/// Cache of fetched pages.
#[async_trait]
pub trait UrlCacheStore: Send + Sync + Debug + 'static {
    /// Reads an entry (expired ones too: the caller revalidates them).
    ///
    /// Errors: backend failures only.
    async fn get_cached_url(
        &self,
        tenant: &TenantId,
        url_hash: &str,
    ) -> StoreResult<Option<UrlCacheEntry>>;

    /// Inserts or replaces an entry.
    ///
    /// Errors: backend failures only.
    async fn put_cached_url(&self, entry: UrlCacheEntry) -> StoreResult<()>;

    /// Deletes entries (of every tenant) that expired before `now`; returns how many.
    ///
    /// Errors: backend failures only.
    async fn purge_expired_urls(&self, now: DateTime<Utc>) -> StoreResult<u64>;
}

/// AI usage.
#[async_trait]
pub trait UsageStore: Send + Sync + Debug + 'static {
    /// Stores one record.
    ///
    /// Errors: backend failures only.
    async fn record_usage(&self, record: AiUsageRecord) -> StoreResult<()>;

    /// Sums per UTC day and provider for records in `[from, to)`, by day then provider.
    ///
    /// Errors: backend failures only.
    async fn usage_by_day(
        &self,
        tenant: &TenantId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<UsageAggregate>>;
}

/// Everything the engine needs from storage.
pub trait ChatStore:
    SessionStore
    + MessageStore
    + DocumentStore
    + KnowledgeStore
    + SupportStore
    + UrlCacheStore
    + UsageStore
{
    /// What this backend supports.
    fn capabilities(&self) -> StoreCapabilities;
}

/// Clamps a requested page size to `1..=max`.
pub fn clamp_limit(limit: u32, max: u32) -> u32 {
    limit.clamp(1, max)
}
