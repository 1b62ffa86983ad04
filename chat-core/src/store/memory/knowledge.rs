//! [`KnowledgeStore`] of the in-memory store: KB articles, learned FAQ, learning patterns.

use std::collections::btree_map::Entry;

use async_trait::async_trait;
use chrono::Utc;

use super::search::{TermCounts, analyze_query, rank};
use super::{Indexed, MemoryStore};
use crate::ids::{ArticleId, FaqId, PatternId, TenantId};
use crate::model::{
    FaqStatus, KbArticle, LearnedFaqEntry, LearningPattern, ScoredArticle, ScoredFaq,
};
use crate::store::{
    FaqFeedback, KnowledgeStore, MAX_MESSAGE_PAGE, MAX_SEARCH_RESULTS, StoreError, StoreResult,
    clamp_limit,
};

/// Largest page of articles or patterns returned by one listing.
const MAX_LIST_PAGE: u32 = MAX_MESSAGE_PAGE;

fn article_not_found(id: ArticleId) -> StoreError {
    StoreError::not_found("article", id)
}

fn faq_not_found(id: FaqId) -> StoreError {
    StoreError::not_found("faq entry", id)
}

fn to_usize(limit: u32) -> usize {
    usize::try_from(limit).unwrap_or(usize::MAX)
}

fn index_article(article: KbArticle) -> Indexed<KbArticle> {
    let terms = TermCounts::of(
        [article.title.as_str(), article.body.as_str()]
            .into_iter()
            .chain(article.tags.iter().map(String::as_str)),
    );
    Indexed {
        value: article,
        terms,
    }
}

fn index_faq(entry: LearnedFaqEntry) -> Indexed<LearnedFaqEntry> {
    let terms = TermCounts::of([entry.question.as_str(), entry.answer.as_str()]);
    Indexed {
        value: entry,
        terms,
    }
}

#[async_trait]
impl KnowledgeStore for MemoryStore {
    async fn upsert_article(&self, mut article: KbArticle) -> StoreResult<KbArticle> {
        let mut state = self.write();
        let data = state.tenant_mut(&article.tenant_id);
        if let Some(existing) = data.articles.get(&article.id) {
            article.created_at = existing.value.created_at;
        }
        data.articles
            .insert(article.id, index_article(article.clone()));
        Ok(article)
    }

    async fn get_article(&self, tenant: &TenantId, id: ArticleId) -> StoreResult<KbArticle> {
        let state = self.read();
        state
            .tenant(tenant)
            .and_then(|d| d.articles.get(&id))
            .map(|a| a.value.clone())
            .ok_or_else(|| article_not_found(id))
    }

    async fn delete_article(&self, tenant: &TenantId, id: ArticleId) -> StoreResult<()> {
        let mut state = self.write();
        state
            .tenants
            .get_mut(tenant)
            .and_then(|d| d.articles.remove(&id))
            .map(|_| ())
            .ok_or_else(|| article_not_found(id))
    }

    async fn list_articles(
        &self,
        tenant: &TenantId,
        after: Option<ArticleId>,
        limit: u32,
    ) -> StoreResult<Vec<KbArticle>> {
        let limit = to_usize(clamp_limit(limit, MAX_LIST_PAGE));
        let state = self.read();
        let Some(data) = state.tenant(tenant) else {
            return Ok(Vec::new());
        };
        let range = match after {
            Some(after) => data
                .articles
                .range((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded)),
            None => data.articles.range(..),
        };
        Ok(range.take(limit).map(|(_, a)| a.value.clone()).collect())
    }

    async fn search_articles(
        &self,
        tenant: &TenantId,
        query: &str,
        limit: u32,
    ) -> StoreResult<Vec<ScoredArticle>> {
        let terms = analyze_query(query);
        let limit = to_usize(clamp_limit(limit, MAX_SEARCH_RESULTS));
        let state = self.read();
        let Some(data) = state.tenant(tenant) else {
            return Ok(Vec::new());
        };
        let corpus = data
            .articles
            .values()
            .map(|a| (&a.terms, &a.value))
            .collect();
        Ok(rank(corpus, &terms, limit)
            .into_iter()
            .map(|(a, score)| ScoredArticle::new(a.clone(), score))
            .collect())
    }

    async fn upsert_faq(&self, entry: LearnedFaqEntry) -> StoreResult<LearnedFaqEntry> {
        let mut state = self.write();
        let data = state.tenant_mut(&entry.tenant_id);
        data.faq.insert(entry.id, index_faq(entry.clone()));
        Ok(entry)
    }

    async fn get_faq(&self, tenant: &TenantId, id: FaqId) -> StoreResult<LearnedFaqEntry> {
        let state = self.read();
        state
            .tenant(tenant)
            .and_then(|d| d.faq.get(&id))
            .map(|e| e.value.clone())
            .ok_or_else(|| faq_not_found(id))
    }

    async fn delete_faq(&self, tenant: &TenantId, id: FaqId) -> StoreResult<()> {
        let mut state = self.write();
        state
            .tenants
            .get_mut(tenant)
            .and_then(|d| d.faq.remove(&id))
            .map(|_| ())
            .ok_or_else(|| faq_not_found(id))
    }

    async fn search_faq(
        &self,
        tenant: &TenantId,
        query: &str,
        status: Option<FaqStatus>,
        limit: u32,
    ) -> StoreResult<Vec<ScoredFaq>> {
        let terms = analyze_query(query);
        let limit = to_usize(clamp_limit(limit, MAX_SEARCH_RESULTS));
        let state = self.read();
        let Some(data) = state.tenant(tenant) else {
            return Ok(Vec::new());
        };
        let corpus = data
            .faq
            .values()
            .filter(|e| status.is_none_or(|s| e.value.status == s))
            .map(|e| (&e.terms, &e.value))
            .collect();
        Ok(rank(corpus, &terms, limit)
            .into_iter()
            .map(|(e, score)| ScoredFaq::new(e.clone(), score))
            .collect())
    }

    async fn record_faq_feedback(
        &self,
        tenant: &TenantId,
        id: FaqId,
        feedback: FaqFeedback,
    ) -> StoreResult<LearnedFaqEntry> {
        let now = Utc::now();
        let mut state = self.write();
        let entry = state
            .tenants
            .get_mut(tenant)
            .and_then(|d| d.faq.get_mut(&id))
            .ok_or_else(|| faq_not_found(id))?;
        let value = &mut entry.value;
        let counter = match feedback {
            FaqFeedback::Used => &mut value.use_count,
            FaqFeedback::Positive => &mut value.positive_feedback,
            FaqFeedback::Negative => &mut value.negative_feedback,
        };
        *counter = counter.saturating_add(1);
        value.recompute_confidence();
        value.updated_at = now;
        Ok(value.clone())
    }

    async fn record_pattern(
        &self,
        tenant: &TenantId,
        pattern_key: &str,
        example: &str,
    ) -> StoreResult<LearningPattern> {
        let now = Utc::now();
        let mut state = self.write();
        let data = state.tenant_mut(tenant);
        let pattern = match data.patterns.entry(pattern_key.to_owned()) {
            Entry::Occupied(entry) => {
                let pattern = entry.into_mut();
                pattern.occurrences = pattern.occurrences.saturating_add(1);
                pattern.last_seen = now;
                pattern
            }
            Entry::Vacant(entry) => entry.insert(LearningPattern::new(
                tenant.clone(),
                pattern_key,
                example,
                now,
            )),
        };
        Ok(pattern.clone())
    }

    async fn list_patterns(
        &self,
        tenant: &TenantId,
        min_occurrences: u32,
        limit: u32,
    ) -> StoreResult<Vec<LearningPattern>> {
        let limit = to_usize(clamp_limit(limit, MAX_LIST_PAGE));
        let state = self.read();
        let Some(data) = state.tenant(tenant) else {
            return Ok(Vec::new());
        };
        let mut patterns: Vec<LearningPattern> = data
            .patterns
            .values()
            .filter(|p| p.occurrences >= min_occurrences)
            .cloned()
            .collect();
        // Most frequent first; the key map's order breaks ties.
        patterns.sort_by_key(|p| std::cmp::Reverse(p.occurrences));
        patterns.truncate(limit);
        Ok(patterns)
    }

    async fn link_pattern(
        &self,
        tenant: &TenantId,
        pattern: PatternId,
        faq: Option<FaqId>,
    ) -> StoreResult<LearningPattern> {
        let mut state = self.write();
        let data = state
            .tenants
            .get_mut(tenant)
            .ok_or_else(|| StoreError::not_found("pattern", pattern))?;
        if let Some(faq) = faq {
            if !data.faq.contains_key(&faq) {
                return Err(faq_not_found(faq));
            }
        }
        let found = data
            .patterns
            .values_mut()
            .find(|p| p.id == pattern)
            .ok_or_else(|| StoreError::not_found("pattern", pattern))?;
        found.faq_id = faq;
        Ok(found.clone())
    }
}
