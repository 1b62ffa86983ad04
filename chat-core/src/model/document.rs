//! Documents (uploads and fetched pages) of a session, and their chunks.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Metadata;
use crate::ids::{ChunkId, DocumentId, SessionId, TenantId};

/// Processing status of a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
#[non_exhaustive]
pub enum DocumentStatus {
    /// Accepted, not started.
    Pending,
    /// Being extracted and indexed; `progress` in percent.
    Processing {
        /// 0..=100.
        progress: u8,
    },
    /// Searchable.
    Ready,
    /// Refused or failed.
    Failed {
        /// Stable machine-readable code (`encrypted`, `corrupt`, `unsupported_media_type`, ...).
        code: String,
        /// Human-readable reason.
        reason: String,
    },
}

impl DocumentStatus {
    /// The stable name of the state (`pending`, `processing`, `ready`, `failed`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Processing { .. } => "processing",
            Self::Ready => "ready",
            Self::Failed { .. } => "failed",
        }
    }
    /// True for `ready` and `failed`.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Ready | Self::Failed { .. })
    }
}

/// A file (or fetched page) attached to a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChatDocument {
    /// Id (UUID v7).
    pub id: DocumentId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// The session it was attached to.
    pub session_id: SessionId,
    /// The client's file name (display only; never used as a path).
    pub filename: String,
    /// The sniffed media type.
    pub media_type: String,
    /// Size in bytes of the original.
    pub size: u64,
    /// SHA-256 of the original, lowercase hex.
    pub sha256: String,
    /// The URL it was fetched from, for web pages.
    pub source_url: Option<String>,
    /// Key of the original bytes in the blob store. Internal: never serialized, so it does not
    /// reach clients (stores keep it in their own column).
    #[serde(skip_serializing, default)]
    pub blob_key: Option<String>,
    /// Processing status.
    pub status: DocumentStatus,
    /// Number of pages (PDF) or sheets (spreadsheets), when known.
    pub page_count: Option<u32>,
    /// Number of indexed chunks.
    pub chunk_count: u32,
    /// Non-fatal findings (for example "no text layer (scanned?)").
    pub warnings: Vec<String>,
    /// Extracted metadata (title, author, sheet names...).
    pub metadata: Metadata,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last status change.
    pub updated_at: DateTime<Utc>,
}

impl ChatDocument {
    /// The document a store records from `new` at `now`: status `pending`, no chunks, no
    /// warnings, empty metadata.
    pub fn recorded(new: NewDocument, now: DateTime<Utc>) -> Self {
        Self {
            id: new.id,
            tenant_id: new.tenant_id,
            session_id: new.session_id,
            filename: new.filename,
            media_type: new.media_type,
            size: new.size,
            sha256: new.sha256,
            source_url: new.source_url,
            blob_key: new.blob_key,
            status: DocumentStatus::Pending,
            page_count: None,
            chunk_count: 0,
            warnings: Vec::new(),
            metadata: Metadata::new(),
            created_at: now,
            updated_at: now,
        }
    }
}

/// Input for recording a new document (status `pending`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct NewDocument {
    /// Id to use.
    pub id: DocumentId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// The session.
    pub session_id: SessionId,
    /// Display name.
    pub filename: String,
    /// Sniffed media type.
    pub media_type: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256, lowercase hex.
    pub sha256: String,
    /// Source URL for web pages.
    pub source_url: Option<String>,
    /// Blob key of the stored original.
    pub blob_key: Option<String>,
}

impl NewDocument {
    /// A pending document with a fresh id.
    pub fn new(
        tenant_id: TenantId,
        session_id: SessionId,
        filename: impl Into<String>,
        media_type: impl Into<String>,
        size: u64,
        sha256: impl Into<String>,
    ) -> Self {
        Self {
            id: DocumentId::new(),
            tenant_id,
            session_id,
            filename: filename.into(),
            media_type: media_type.into(),
            size,
            sha256: sha256.into(),
            source_url: None,
            blob_key: None,
        }
    }
    /// Sets the source URL.
    pub fn source_url(mut self, url: impl Into<String>) -> Self {
        self.source_url = Some(url.into());
        self
    }
    /// Sets the blob key.
    pub fn blob_key(mut self, key: impl Into<String>) -> Self {
        self.blob_key = Some(key.into());
        self
    }
}

/// Where a chunk sits in its document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ChunkLocator {
    /// Page range of a paginated document (1-based, inclusive).
    Page {
        /// First page.
        page: u32,
        /// Last page, when the chunk spans several.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        end_page: Option<u32>,
    },
    /// Rows of a spreadsheet sheet (1-based, inclusive).
    Sheet {
        /// Sheet name.
        sheet: String,
        /// First row.
        first_row: u32,
        /// Last row.
        last_row: u32,
    },
    /// A section under a heading path (outermost first).
    Heading {
        /// Heading path.
        path: Vec<String>,
    },
    /// Line range of a text file (1-based, inclusive).
    Lines {
        /// First line.
        start: u32,
        /// Last line.
        end: u32,
    },
}

/// A piece of a document's text, indexed for search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DocumentChunk {
    /// Id.
    pub id: ChunkId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// The session of the document.
    pub session_id: SessionId,
    /// The document.
    pub document_id: DocumentId,
    /// Position in the document, from 0.
    pub ordinal: u32,
    /// The text.
    pub text: String,
    /// Where it sits.
    pub locator: Option<ChunkLocator>,
    /// Approximate token count.
    pub token_count: u32,
}

impl DocumentChunk {
    /// A chunk with a fresh id.
    pub fn new(
        tenant_id: TenantId,
        session_id: SessionId,
        document_id: DocumentId,
        ordinal: u32,
        text: impl Into<String>,
        locator: Option<ChunkLocator>,
    ) -> Self {
        let text = text.into();
        let token_count = crate::text::estimate_tokens(&text);
        Self {
            id: ChunkId::new(),
            tenant_id,
            session_id,
            document_id,
            ordinal,
            text,
            locator,
            token_count,
        }
    }
}

/// A chunk found by search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ScoredChunk {
    /// The chunk.
    pub chunk: DocumentChunk,
    /// The document's display name.
    pub filename: String,
    /// Relevance; higher is better (not comparable across stores).
    pub score: f64,
}

impl ScoredChunk {
    /// Builds a result.
    pub fn new(chunk: DocumentChunk, filename: String, score: f64) -> Self {
        Self {
            chunk,
            filename,
            score,
        }
    }
}
