//! The context engine (DESIGN section 6): query every source in parallel within a time budget,
//! normalize scores per source, fuse them (weighted reciprocal-rank fusion), deduplicate, pack
//! into a token budget and number the passages for the prompt; afterwards, check the answer's
//! `[n]` citations against what was given.

mod builtin;
mod citations;
mod fusion;

use std::fmt::Debug;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use builtin::{DocumentContext, FaqContext, KbContext};
pub use citations::{CitationCheck, parse_citations};
pub use fusion::{ContextBudget, PackedContext, PackedPassage, fuse};

use crate::ids::{SessionId, TenantId};
use crate::model::{ChunkLocator, ContextSourceKind, SessionKind};

/// What the sources are asked.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ContextQuery {
    /// Tenant.
    pub tenant_id: TenantId,
    /// The session being answered.
    pub session_id: SessionId,
    /// Its kind (general chats use other sources).
    pub session_kind: SessionKind,
    /// The question, condensed with the recent conversation.
    pub text: String,
}

impl ContextQuery {
    /// Builds a query.
    pub fn new(
        tenant_id: TenantId,
        session_id: SessionId,
        session_kind: SessionKind,
        text: impl Into<String>,
    ) -> Self {
        Self {
            tenant_id,
            session_id,
            session_kind,
            text: text.into(),
        }
    }
}

/// One candidate passage from a source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ContextCandidate {
    /// Kind of source.
    pub source_kind: ContextSourceKind,
    /// Stable id within the kind (article id, chunk id, FAQ id, URL...).
    pub source_id: String,
    /// Title to show.
    pub title: String,
    /// The passage text (untrusted data).
    pub text: String,
    /// Where in the source.
    pub locator: Option<ChunkLocator>,
    /// Link, when there is one.
    pub url: Option<String>,
    /// The source's own score; higher is better; only comparable within one source's results.
    pub score: f64,
}

impl ContextCandidate {
    /// Builds a candidate.
    pub fn new(
        source_kind: ContextSourceKind,
        source_id: impl Into<String>,
        title: impl Into<String>,
        text: impl Into<String>,
        score: f64,
    ) -> Self {
        Self {
            source_kind,
            source_id: source_id.into(),
            title: title.into(),
            text: text.into(),
            locator: None,
            url: None,
            score,
        }
    }
    /// Sets the locator.
    pub fn locator(mut self, locator: Option<ChunkLocator>) -> Self {
        self.locator = locator;
        self
    }
    /// Sets the link.
    pub fn url(mut self, url: Option<String>) -> Self {
        self.url = url;
        self
    }
}

/// Error of a context source. A failing source is left out of the answer, not fatal.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ContextError {
    /// The source cannot answer now.
    #[error("context source unavailable: {0}")]
    Unavailable(String),
    /// Any other failure.
    #[error("context source error: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<crate::store::StoreError> for ContextError {
    fn from(err: crate::store::StoreError) -> Self {
        Self::Backend(Box::new(err))
    }
}

/// A place the engine looks for context. KB, FAQ and session documents are built in; a host
/// adds its own (its existing knowledge base) by implementing this.
#[async_trait]
pub trait ContextSource: Send + Sync + Debug + 'static {
    /// Short name for logs and weights (`kb`, `faq`, `documents`, ...).
    fn name(&self) -> &str;

    /// Weight of this source in the fusion (default 1.0).
    fn weight(&self) -> f64 {
        1.0
    }

    /// Whether the source serves sessions of this kind.
    fn serves(&self, kind: SessionKind) -> bool {
        let _ = kind;
        true
    }

    /// Up to `limit` candidates for the query, best first.
    ///
    /// Errors: any [`ContextError`]; the engine logs it and answers from the other sources.
    async fn retrieve(
        &self,
        query: &ContextQuery,
        limit: u32,
    ) -> Result<Vec<ContextCandidate>, ContextError>;
}
