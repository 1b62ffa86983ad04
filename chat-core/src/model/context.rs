//! Records of which context sources backed an AI message.

use serde::{Deserialize, Serialize};

use super::document::ChunkLocator;
use crate::ids::{ContextRecordId, MessageId, SessionId, TenantId};

/// Kind of a context source.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ContextSourceKind {
    /// A knowledge-base article.
    Kb,
    /// A FAQ entry.
    Faq,
    /// A chunk of a document of the session.
    Document,
    /// A chunk of a web page of the session.
    Url,
    /// The platform's own documentation (general chats).
    Platform,
    /// A host-defined source.
    Custom(String),
}

impl ContextSourceKind {
    /// The stable name used in storage and on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Kb => "kb",
            Self::Faq => "faq",
            Self::Document => "document",
            Self::Url => "url",
            Self::Platform => "platform",
            Self::Custom(name) => name,
        }
    }
    /// Parses [`Self::as_str`]'s output; unknown names are custom sources.
    pub fn parse(s: &str) -> Self {
        match s {
            "kb" => Self::Kb,
            "faq" => Self::Faq,
            "document" => Self::Document,
            "url" => Self::Url,
            "platform" => Self::Platform,
            other => Self::Custom(other.to_owned()),
        }
    }
}

/// A source that was given to the AI for one answer, with its score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ContextSourceRecord {
    /// Id.
    pub id: ContextRecordId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// The session.
    pub session_id: SessionId,
    /// The AI message it backed.
    pub message_id: MessageId,
    /// Kind of source.
    pub source_kind: ContextSourceKind,
    /// Stable id of the source.
    pub source_id: String,
    /// Title shown.
    pub title: String,
    /// Where in the source.
    pub locator: Option<ChunkLocator>,
    /// Fused relevance score.
    pub score: f32,
    /// Position `n` in the prompt (`[n]`).
    pub rank: u32,
    /// Whether the answer cited it.
    pub cited: bool,
}

impl ContextSourceRecord {
    /// Builds a record with a fresh id.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        tenant_id: TenantId,
        session_id: SessionId,
        message_id: MessageId,
        source_kind: ContextSourceKind,
        source_id: impl Into<String>,
        title: impl Into<String>,
        score: f32,
        rank: u32,
    ) -> Self {
        Self {
            id: ContextRecordId::new(),
            tenant_id,
            session_id,
            message_id,
            source_kind,
            source_id: source_id.into(),
            title: title.into(),
            locator: None,
            score,
            rank,
            cited: false,
        }
    }
}
