//! The built-in sources: the tenant's KB, its approved FAQ entries, and the session's documents
//! and fetched pages. All search through the store's full-text index.

use std::sync::Arc;

use async_trait::async_trait;

use super::{ContextCandidate, ContextError, ContextQuery, ContextSource};
use crate::model::{ContextSourceKind, FaqStatus};
use crate::store::ChatStore;

/// The knowledge base.
#[derive(Debug, Clone)]
pub struct KbContext {
    store: Arc<dyn ChatStore>,
}

impl KbContext {
    /// A KB source over the store.
    pub fn new(store: Arc<dyn ChatStore>) -> Self {
        Self { store }
    }
}

#[async_trait]
impl ContextSource for KbContext {
    fn name(&self) -> &str {
        "kb"
    }

    async fn retrieve(
        &self,
        query: &ContextQuery,
        limit: u32,
    ) -> Result<Vec<ContextCandidate>, ContextError> {
        let hits = self
            .store
            .search_articles(&query.tenant_id, &query.text, limit)
            .await?;
        Ok(hits
            .into_iter()
            .map(|hit| {
                let a = hit.article;
                ContextCandidate::new(
                    ContextSourceKind::Kb,
                    a.id.to_string(),
                    a.title,
                    a.body,
                    hit.score,
                )
                .url(a.url)
            })
            .collect())
    }
}

/// Approved FAQ entries.
#[derive(Debug, Clone)]
pub struct FaqContext {
    store: Arc<dyn ChatStore>,
}

impl FaqContext {
    /// A FAQ source over the store.
    pub fn new(store: Arc<dyn ChatStore>) -> Self {
        Self { store }
    }
}

#[async_trait]
impl ContextSource for FaqContext {
    fn name(&self) -> &str {
        "faq"
    }

    async fn retrieve(
        &self,
        query: &ContextQuery,
        limit: u32,
    ) -> Result<Vec<ContextCandidate>, ContextError> {
        let hits = self
            .store
            .search_faq(
                &query.tenant_id,
                &query.text,
                Some(FaqStatus::Approved),
                limit,
            )
            .await?;
        Ok(hits
            .into_iter()
            .map(|hit| {
                let e = hit.entry;
                // Confidence of a learned entry scales its score.
                let score = hit.score * f64::from(0.5 + e.confidence / 2.0);
                ContextCandidate::new(
                    ContextSourceKind::Faq,
                    e.id.to_string(),
                    e.question.clone(),
                    format!("Q: {}\nA: {}", e.question, e.answer),
                    score,
                )
            })
            .collect())
    }
}

/// Chunks of the session's ready documents and fetched pages.
#[derive(Debug, Clone)]
pub struct DocumentContext {
    store: Arc<dyn ChatStore>,
}

impl DocumentContext {
    /// A session-documents source over the store.
    pub fn new(store: Arc<dyn ChatStore>) -> Self {
        Self { store }
    }
}

#[async_trait]
impl ContextSource for DocumentContext {
    fn name(&self) -> &str {
        "documents"
    }

    fn weight(&self) -> f64 {
        // What the customer brought to this chat is the most specific context there is.
        1.2
    }

    async fn retrieve(
        &self,
        query: &ContextQuery,
        limit: u32,
    ) -> Result<Vec<ContextCandidate>, ContextError> {
        let hits = self
            .store
            .search_chunks(&query.tenant_id, query.session_id, &query.text, limit)
            .await?;
        Ok(hits
            .into_iter()
            .map(|hit| {
                let chunk = hit.chunk;
                ContextCandidate::new(
                    ContextSourceKind::Document,
                    chunk.id.to_string(),
                    hit.filename,
                    chunk.text,
                    hit.score,
                )
                .locator(chunk.locator)
            })
            .collect())
    }
}
