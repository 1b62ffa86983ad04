//! The knowledge base of Tasklane, the fictional project-management product of the demo:
//! help-center articles (`seed/articles.json`) and approved FAQ entries (`seed/faq.json`),
//! compiled into the binary and loaded into an empty knowledge base at start.
//!
//! Every record carries a fixed id, so loading is an upsert of the same rows: FAQ entries are
//! written first and articles last, and the knowledge base counts as seeded once it holds an
//! article. A restart after a complete seed changes nothing (and keeps a manager's edits); a
//! restart after an interrupted one writes the same rows again, never duplicates.

use chat_core::ids::{ArticleId, FaqId, InvalidId};
use chat_core::model::{FaqStatus, KbArticle, LearnedFaqEntry};
use chat_core::{ChatEngine, ChatError, Principal, Role, TenantId, UserId};
use serde::Deserialize;
use uuid::Uuid;

/// The articles, as shipped.
pub const ARTICLES_JSON: &str = include_str!("../seed/articles.json");
/// The FAQ entries, as shipped.
pub const FAQ_JSON: &str = include_str!("../seed/faq.json");
/// Confidence given to the curated FAQ entries (learned ones start at 0.5).
pub const SEEDED_FAQ_CONFIDENCE: f32 = 0.9;
/// The user id the seed writes as (a manager, since only managers change the knowledge base).
pub const SEED_USER: &str = "seed";

/// Error of loading the seed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SeedError {
    /// A seed file is not valid JSON of the expected shape.
    #[error("seed file {file} is malformed: {source}")]
    Malformed {
        /// Which file.
        file: &'static str,
        /// The parse error.
        source: serde_json::Error,
    },
    /// Two records share an id.
    #[error("seed id {0} is used twice")]
    DuplicateId(Uuid),
    /// The seed user id was refused.
    #[error(transparent)]
    InvalidId(#[from] InvalidId),
    /// The engine refused a record or the store failed.
    #[error("seeding failed: {0}")]
    Engine(#[from] ChatError),
}

/// One help-center article.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedArticle {
    /// Fixed id.
    pub id: Uuid,
    /// Title.
    pub title: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Public link.
    pub url: Option<String>,
    /// Markdown body.
    pub body: String,
}

/// One approved FAQ entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedFaq {
    /// Fixed id.
    pub id: Uuid,
    /// Question.
    pub question: String,
    /// Answer.
    pub answer: String,
}

/// The parsed seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnowledgeSeed {
    /// Articles.
    pub articles: Vec<SeedArticle>,
    /// FAQ entries.
    pub faq: Vec<SeedFaq>,
}

/// What [`seed_if_empty`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedOutcome {
    /// The knowledge base was empty and now holds the seed.
    Seeded {
        /// Articles written.
        articles: usize,
        /// FAQ entries written.
        faq: usize,
    },
    /// The knowledge base already had articles; nothing was written.
    AlreadyPresent,
}

impl KnowledgeSeed {
    /// The Tasklane seed compiled into the binary.
    ///
    /// Errors: `Malformed`, `DuplicateId`.
    pub fn tasklane() -> Result<Self, SeedError> {
        Self::parse(ARTICLES_JSON, FAQ_JSON)
    }

    /// Parses seed files.
    ///
    /// Errors: `Malformed` for bad JSON or unknown fields, `DuplicateId` when two records share
    /// an id.
    pub fn parse(articles: &str, faq: &str) -> Result<Self, SeedError> {
        let articles: Vec<SeedArticle> =
            serde_json::from_str(articles).map_err(|source| SeedError::Malformed {
                file: "articles.json",
                source,
            })?;
        let faq: Vec<SeedFaq> =
            serde_json::from_str(faq).map_err(|source| SeedError::Malformed {
                file: "faq.json",
                source,
            })?;
        let mut ids: Vec<Uuid> = articles
            .iter()
            .map(|a| a.id)
            .chain(faq.iter().map(|f| f.id))
            .collect();
        ids.sort_unstable();
        if let Some(pair) = ids.windows(2).find(|pair| pair[0] == pair[1]) {
            return Err(SeedError::DuplicateId(pair[0]));
        }
        Ok(Self { articles, faq })
    }
}

/// Loads `seed` into `tenant`'s knowledge base when it holds no article yet, through the
/// engine (so every record is validated like a manager's edit).
///
/// Errors: `Engine` when a record is refused or the store fails.
pub async fn seed_if_empty(
    engine: &ChatEngine,
    tenant: &TenantId,
    seed: &KnowledgeSeed,
) -> Result<SeedOutcome, SeedError> {
    let existing = engine
        .store()
        .list_articles(tenant, None, 1)
        .await
        .map_err(ChatError::from)?;
    if !existing.is_empty() {
        return Ok(SeedOutcome::AlreadyPresent);
    }
    let seeder = Principal::new(tenant.clone(), UserId::new(SEED_USER)?, Role::Manager);
    for item in &seed.faq {
        let mut entry = LearnedFaqEntry::new(
            tenant.clone(),
            item.question.clone(),
            item.answer.clone(),
            FaqStatus::Approved,
        );
        entry.id = FaqId::from_uuid(item.id);
        entry.confidence = SEEDED_FAQ_CONFIDENCE;
        engine.upsert_faq(&seeder, entry).await?;
    }
    for item in &seed.articles {
        let mut article = KbArticle::new(tenant.clone(), item.title.clone(), item.body.clone())
            .tags(item.tags.clone());
        if let Some(url) = &item.url {
            article = article.url(url.clone());
        }
        article.id = ArticleId::from_uuid(item.id);
        engine.upsert_article(&seeder, article).await?;
    }
    Ok(SeedOutcome::Seeded {
        articles: seed.articles.len(),
        faq: seed.faq.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_seed_is_large_enough_and_well_formed() {
        let seed = KnowledgeSeed::tasklane().unwrap();
        assert!(
            seed.articles.len() >= 30,
            "{} articles",
            seed.articles.len()
        );
        assert!(seed.faq.len() >= 20, "{} FAQ entries", seed.faq.len());
        for article in &seed.articles {
            assert!(!article.title.trim().is_empty());
            assert!(
                article.body.split_whitespace().count() >= 80,
                "{} is too short",
                article.title
            );
            assert!(!article.tags.is_empty(), "{} has no tags", article.title);
        }
        for entry in &seed.faq {
            assert!(entry.question.ends_with('?'), "{}", entry.question);
            assert!(
                entry.answer.split_whitespace().count() >= 10,
                "{}",
                entry.question
            );
        }
    }

    #[test]
    fn duplicate_ids_and_unknown_fields_are_refused() {
        let id = "0190a0a0-0000-7000-8000-000000000001";
        let article = format!(r#"[{{"id":"{id}","title":"t","tags":[],"url":null,"body":"b"}}]"#);
        let faq = format!(r#"[{{"id":"{id}","question":"q?","answer":"a"}}]"#);
        assert!(matches!(
            KnowledgeSeed::parse(&article, &faq),
            Err(SeedError::DuplicateId(_))
        ));
        let extra = r#"[{"id":"0190a0a0-0000-7000-8000-000000000002","question":"q?","answer":"a","status":"x"}]"#;
        assert!(matches!(
            KnowledgeSeed::parse("[]", extra),
            Err(SeedError::Malformed {
                file: "faq.json",
                ..
            })
        ));
        assert!(matches!(
            KnowledgeSeed::parse("{", "[]"),
            Err(SeedError::Malformed {
                file: "articles.json",
                ..
            })
        ));
    }
}
