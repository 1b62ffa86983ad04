//! The host's knowledge base and what the engine learns from resolved chats.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{ArticleId, FaqId, PatternId, SessionId, TenantId};

/// A knowledge-base article of the host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct KbArticle {
    /// Id.
    pub id: ArticleId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// Title.
    pub title: String,
    /// Body (plain text or Markdown).
    pub body: String,
    /// Tags (searched too).
    pub tags: Vec<String>,
    /// Public link to the article.
    pub url: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last update.
    pub updated_at: DateTime<Utc>,
}

impl KbArticle {
    /// A new article with a fresh id, stamped now.
    pub fn new(tenant_id: TenantId, title: impl Into<String>, body: impl Into<String>) -> Self {
        let now = Utc::now();
        Self {
            id: ArticleId::new(),
            tenant_id,
            title: title.into(),
            body: body.into(),
            tags: Vec::new(),
            url: None,
            created_at: now,
            updated_at: now,
        }
    }
    /// Sets the tags.
    pub fn tags(mut self, tags: Vec<String>) -> Self {
        self.tags = tags;
        self
    }
    /// Sets the link.
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }
}

/// An article found by search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ScoredArticle {
    /// The article.
    pub article: KbArticle,
    /// Relevance; higher is better (not comparable across stores).
    pub score: f64,
}

impl ScoredArticle {
    /// Builds a result.
    pub fn new(article: KbArticle, score: f64) -> Self {
        Self { article, score }
    }
}

/// Review state of a learned FAQ entry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FaqStatus {
    /// Proposed from a resolved chat; not yet used for answers.
    #[default]
    Candidate,
    /// Used for answers.
    Approved,
    /// Turned down; kept so that it is not proposed again.
    Rejected,
}

impl FaqStatus {
    /// The stable name used in storage and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Candidate => "candidate",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
        }
    }
    /// Parses [`Self::as_str`]'s output.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "candidate" => Some(Self::Candidate),
            "approved" => Some(Self::Approved),
            "rejected" => Some(Self::Rejected),
            _ => None,
        }
    }
}

/// A question/answer pair, seeded by the host or learned from resolved chats.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LearnedFaqEntry {
    /// Id.
    pub id: FaqId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// The question.
    pub question: String,
    /// The answer.
    pub answer: String,
    /// Review state.
    pub status: FaqStatus,
    /// Confidence in 0..=1; grows with reuse and positive feedback.
    pub confidence: f32,
    /// Times used in an answer.
    pub use_count: u32,
    /// Positive feedback count.
    pub positive_feedback: u32,
    /// Negative feedback count.
    pub negative_feedback: u32,
    /// The session it was learned from.
    pub source_session: Option<SessionId>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last update.
    pub updated_at: DateTime<Utc>,
}

impl LearnedFaqEntry {
    /// A new entry with a fresh id, stamped now.
    pub fn new(
        tenant_id: TenantId,
        question: impl Into<String>,
        answer: impl Into<String>,
        status: FaqStatus,
    ) -> Self {
        let now = Utc::now();
        Self {
            id: FaqId::new(),
            tenant_id,
            question: question.into(),
            answer: answer.into(),
            status,
            confidence: 0.5,
            use_count: 0,
            positive_feedback: 0,
            negative_feedback: 0,
            source_session: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// Recomputes `confidence` from the counters: the lower bound of the Wilson score interval
    /// (95%) of positive feedback, nudged up by reuse. Stores call this when they count feedback,
    /// so every backend computes the same value.
    pub fn recompute_confidence(&mut self) {
        let pos = f64::from(self.positive_feedback);
        let n = pos + f64::from(self.negative_feedback);
        let base = if n == 0.0 {
            0.5
        } else {
            let z = 1.96_f64;
            let p = pos / n;
            let denom = 1.0 + z * z / n;
            let centre = p + z * z / (2.0 * n);
            let margin = z * ((p * (1.0 - p) + z * z / (4.0 * n)) / n).sqrt();
            (centre - margin) / denom
        };
        let reuse = (f64::from(self.use_count).ln_1p() / 100.0).min(0.1);
        self.confidence = (base + reuse).clamp(0.0, 1.0) as f32;
    }
}

/// A FAQ entry found by search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ScoredFaq {
    /// The entry.
    pub entry: LearnedFaqEntry,
    /// Relevance; higher is better (not comparable across stores).
    pub score: f64,
}

impl ScoredFaq {
    /// Builds a result.
    pub fn new(entry: LearnedFaqEntry, score: f64) -> Self {
        Self { entry, score }
    }
}

/// A recurring question, counted across chats; a candidate FAQ once frequent enough.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LearningPattern {
    /// Id.
    pub id: PatternId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// Normalized key of the question (lowercased, stemmed terms).
    pub pattern_key: String,
    /// A representative question as asked.
    pub example: String,
    /// How many times it was seen.
    pub occurrences: u32,
    /// The FAQ entry it became, if any.
    pub faq_id: Option<FaqId>,
    /// First seen.
    pub first_seen: DateTime<Utc>,
    /// Last seen.
    pub last_seen: DateTime<Utc>,
}

impl LearningPattern {
    /// A pattern seen once, at `seen_at`, with a fresh id.
    pub fn new(
        tenant_id: TenantId,
        pattern_key: impl Into<String>,
        example: impl Into<String>,
        seen_at: DateTime<Utc>,
    ) -> Self {
        Self {
            id: PatternId::new(),
            tenant_id,
            pattern_key: pattern_key.into(),
            example: example.into(),
            occurrences: 1,
            faq_id: None,
            first_seen: seen_at,
            last_seen: seen_at,
        }
    }
}
