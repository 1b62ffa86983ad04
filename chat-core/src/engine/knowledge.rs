//! Knowledge base and FAQ operations.

use chrono::Utc;

use super::{ChatEngine, ChatError, ChatResult, validate};
use crate::auth::{self, Principal};
use crate::ids::ArticleId;
use crate::model::{FaqStatus, KbArticle, LearnedFaqEntry, ScoredArticle, ScoredFaq};

impl ChatEngine {
    /// Inserts or replaces a KB article of the caller's tenant.
    ///
    /// Errors: `Forbidden` unless manager or admin; `InvalidInput` (empty title or body, control
    /// characters); `TooLarge`.
    pub async fn upsert_article(
        &self,
        principal: &Principal,
        mut article: KbArticle,
    ) -> ChatResult<KbArticle> {
        self.require_knowledge_manager(principal)?;
        let config = self.config();
        article.title = article.title.trim().to_owned();
        if article.title.is_empty() || article.body.trim().is_empty() {
            return Err(ChatError::InvalidInput(
                "an article needs a title and a body".into(),
            ));
        }
        validate::short_text("title", &article.title, config.max_article_title_len)?;
        validate::long_text("body", &article.body, config.max_article_bytes)?;
        if article.tags.len() > config.max_tags {
            return Err(ChatError::TooLarge(format!(
                "at most {} tags",
                config.max_tags
            )));
        }
        for tag in &article.tags {
            validate::short_text("tag", tag, 64)?;
        }
        if let Some(url) = &article.url {
            validate::short_text("url", url, 2048)?;
        }
        article.tenant_id = principal.tenant_id.clone();
        article.updated_at = Utc::now();
        Ok(self.store().upsert_article(article).await?)
    }

    /// Deletes a KB article.
    ///
    /// Errors: `Forbidden` unless manager or admin; `NotFound`.
    pub async fn delete_article(&self, principal: &Principal, id: ArticleId) -> ChatResult<()> {
        self.require_knowledge_manager(principal)?;
        Ok(self
            .store()
            .delete_article(&principal.tenant_id, id)
            .await?)
    }

    /// Searches the tenant's KB, best first. Any text is accepted as a query.
    ///
    /// Errors: `Unavailable` on storage failure.
    pub async fn search_articles(
        &self,
        principal: &Principal,
        query: &str,
        limit: u32,
    ) -> ChatResult<Vec<ScoredArticle>> {
        let limit = limit.clamp(1, self.config().max_search_results);
        Ok(self
            .store()
            .search_articles(&principal.tenant_id, query, limit)
            .await?)
    }

    /// Inserts or replaces a FAQ entry of the caller's tenant.
    ///
    /// Errors: `Forbidden` unless manager or admin; `InvalidInput`; `TooLarge`.
    pub async fn upsert_faq(
        &self,
        principal: &Principal,
        mut entry: LearnedFaqEntry,
    ) -> ChatResult<LearnedFaqEntry> {
        self.require_knowledge_manager(principal)?;
        let config = self.config();
        entry.question = entry.question.trim().to_owned();
        if entry.question.is_empty() || entry.answer.trim().is_empty() {
            return Err(ChatError::InvalidInput(
                "a FAQ entry needs a question and an answer".into(),
            ));
        }
        validate::long_text("question", &entry.question, config.max_article_title_len)?;
        validate::long_text("answer", &entry.answer, config.max_article_bytes)?;
        if !(0.0..=1.0).contains(&entry.confidence) {
            return Err(ChatError::InvalidInput(
                "confidence must be between 0 and 1".into(),
            ));
        }
        entry.tenant_id = principal.tenant_id.clone();
        entry.updated_at = Utc::now();
        Ok(self.store().upsert_faq(entry).await?)
    }

    /// Searches the FAQ, best first. Customers see approved entries only; staff may ask for a
    /// status (`None`: all).
    ///
    /// Errors: `Unavailable` on storage failure.
    pub async fn search_faq(
        &self,
        principal: &Principal,
        query: &str,
        status: Option<FaqStatus>,
        limit: u32,
    ) -> ChatResult<Vec<ScoredFaq>> {
        let status = if principal.is_staff() {
            status
        } else {
            Some(FaqStatus::Approved)
        };
        let limit = limit.clamp(1, self.config().max_search_results);
        Ok(self
            .store()
            .search_faq(&principal.tenant_id, query, status, limit)
            .await?)
    }

    fn require_knowledge_manager(&self, principal: &Principal) -> ChatResult<()> {
        if auth::can_manage_knowledge(principal) {
            Ok(())
        } else {
            Err(ChatError::Forbidden(
                "only managers and admins change the knowledge base".into(),
            ))
        }
    }
}
