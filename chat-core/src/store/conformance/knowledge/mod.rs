//! Conformance cases of [`KnowledgeStore`](crate::store::KnowledgeStore): KB articles, FAQ
//! entries, feedback and learning patterns, with full-text ranking on generated corpora.

use std::collections::HashSet;
use std::sync::Arc;

use super::corpus::{Corpus, QUERY_WORDS};
use super::{assert_not_found, at, tenant};
use crate::ids::{ArticleId, FaqId, PatternId, SessionId, TenantId};
use crate::model::{FaqStatus, KbArticle, LearnedFaqEntry};
use crate::store::{ChatStore, FaqFeedback, MAX_SEARCH_RESULTS};

mod articles;
mod faq;

pub use articles::*;
pub use faq::*;

/// Queries full of FTS syntax: each must be accepted as plain words.
pub const SYNTAX_QUERIES: &[&str] = &[
    "\"refund",
    "refund\"",
    "\"refund policy\"",
    "refund AND",
    "refund OR",
    "OR refund",
    "NOT refund",
    "refund NOT",
    "NEAR(refund policy)",
    "NEAR(refund, 2)",
    "refund*",
    "*refund",
    "(refund",
    "refund)",
    "-refund",
    "refund -",
    "^refund",
    "title:refund",
    "body:refund",
    "{title body}: refund",
    "refund + policy",
    "'refund'",
    "refund;--",
    "refund\\",
    "refund%_",
    "refund\u{0}",
    "refund AND café OR (invoice NOT x*)",
];

/// Queries with no word at all: each returns nothing.
pub const EMPTY_QUERIES: &[&str] = &[
    "",
    "   ",
    "\"\"",
    "*",
    "()",
    "-^:",
    "\"*():-^+{}[]'",
    "\u{0}\u{1}",
];

fn article(t: &TenantId, title: &str, body: &str) -> KbArticle {
    let mut article = KbArticle::new(t.clone(), title, body);
    article.created_at = at(0);
    article.updated_at = at(0);
    article
}

fn faq(t: &TenantId, question: &str, answer: &str, status: FaqStatus) -> LearnedFaqEntry {
    let mut entry = LearnedFaqEntry::new(t.clone(), question, answer, status);
    entry.created_at = at(0);
    entry.updated_at = at(0);
    entry
}

async fn article_ids(
    store: &dyn ChatStore,
    t: &TenantId,
    query: &str,
    limit: u32,
) -> Vec<ArticleId> {
    let hits = store.search_articles(t, query, limit).await.unwrap();
    assert!(
        hits.windows(2).all(|w| w[0].score >= w[1].score),
        "results of {query:?} are not best first"
    );
    hits.iter().map(|h| h.article.id).collect()
}
