//! The domain model (DESIGN section 3). Plain serde types; every record carries its tenant.

mod context;
mod document;
mod knowledge;
mod message;
mod session;
mod support;
mod url_cache;
mod usage;

pub use context::{ContextSourceKind, ContextSourceRecord};
pub use document::{
    ChatDocument, ChunkLocator, DocumentChunk, DocumentStatus, NewDocument, ScoredChunk,
};
pub use knowledge::{
    FaqStatus, KbArticle, LearnedFaqEntry, LearningPattern, ScoredArticle, ScoredFaq,
};
pub use message::{
    ChatMessage, Citation, MessageMetadata, NewMessage, SenderKind, SystemEvent, TokenUsage,
    Visibility,
};
pub use session::{
    ChatSession, MAX_SESSION_PAGE, NewSession, SessionCursor, SessionFilter, SessionKind,
    SessionPage, SessionPatch, SessionScope, SessionStatus,
};
pub use support::{
    Agent, AgentAvailability, AgentRole, AssignRequest, AssignTarget, AssignmentKind,
    AssignmentOutcome, SupportAssignment, assignment_message, release_message,
};
pub use url_cache::{UrlCacheEntry, UrlCacheStatus};
pub use usage::{AiUsageRecord, UsageAggregate, UsageOutcome};

/// Free-form JSON object attached to records by the host.
pub type Metadata = serde_json::Map<String, serde_json::Value>;
