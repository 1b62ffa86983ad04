//! Knowledge: KB articles (`kb_articles`), learned FAQ entries (`faq_entries`), both searched
//! through their generated tsvectors (see `search`), and learning patterns
//! (`learning_patterns`).

use async_trait::async_trait;
use chat_core::ids::{ArticleId, FaqId, PatternId, TenantId};
use chat_core::model::{
    FaqStatus, KbArticle, LearnedFaqEntry, LearningPattern, ScoredArticle, ScoredFaq,
};
use chat_core::store::{FaqFeedback, KnowledgeStore, MAX_SEARCH_RESULTS, StoreResult, clamp_limit};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use uuid::Uuid;

use crate::codec::{
    self, UuidKey, count, external, from_json, get, id, json, name, now, opt_id, opt_key,
    stored_time, word_count,
};
use crate::error::{PgError, PgResult};
use crate::search::{self, Weights};
use crate::store::PgStore;

/// BM25 weights of an article: title (A) 4, tags (B) 2, body (C) 1, as SQLite's.
const KB_WEIGHTS: Weights = [4.0, 2.0, 1.0, 1.0];
/// BM25 weights of a FAQ entry: question (A) 3, answer (B) 1, as SQLite's.
const FAQ_WEIGHTS: Weights = [3.0, 1.0, 1.0, 1.0];
/// Largest page of articles or patterns a listing returns.
pub const MAX_LIST_PAGE: u32 = 1000;

const ARTICLE_COLUMNS: &str =
    "a.id, a.tenant_id, a.title, a.body, a.tags, a.url, a.created_at, a.updated_at";
const FAQ_COLUMNS: &str = "f.id, f.tenant_id, f.question, f.answer, f.status, f.confidence, f.use_count, \
     f.positive_feedback, f.negative_feedback, f.source_session, f.created_at, f.updated_at";
const PATTERN_COLUMNS: &str =
    "id, tenant_id, pattern_key, example, occurrences, faq_id, first_seen, last_seen";

fn article_from_row(row: &Row) -> PgResult<KbArticle> {
    let mut article = KbArticle::new(
        external(row, "tenant_id")?,
        get::<String>(row, "title")?,
        get::<String>(row, "body")?,
    );
    article.id = id(row, "id")?;
    article.tags = from_json(row, "tags")?;
    article.url = get(row, "url")?;
    article.created_at = get(row, "created_at")?;
    article.updated_at = get(row, "updated_at")?;
    Ok(article)
}

fn faq_from_row(row: &Row) -> PgResult<LearnedFaqEntry> {
    let mut entry = LearnedFaqEntry::new(
        external(row, "tenant_id")?,
        get::<String>(row, "question")?,
        get::<String>(row, "answer")?,
        name(row, "status")?,
    );
    entry.id = id(row, "id")?;
    entry.confidence = get(row, "confidence")?;
    entry.use_count = count(row, "use_count")?;
    entry.positive_feedback = count(row, "positive_feedback")?;
    entry.negative_feedback = count(row, "negative_feedback")?;
    entry.source_session = opt_id(row, "source_session")?;
    entry.created_at = get(row, "created_at")?;
    entry.updated_at = get(row, "updated_at")?;
    Ok(entry)
}

fn pattern_from_row(row: &Row) -> PgResult<LearningPattern> {
    let mut pattern = LearningPattern::new(
        external(row, "tenant_id")?,
        get::<String>(row, "pattern_key")?,
        get::<String>(row, "example")?,
        get(row, "first_seen")?,
    );
    pattern.id = id(row, "id")?;
    pattern.occurrences = count(row, "occurrences")?;
    pattern.faq_id = opt_id(row, "faq_id")?;
    pattern.last_seen = get(row, "last_seen")?;
    Ok(pattern)
}

async fn load_article<C: GenericClient>(
    client: &C,
    tenant: &TenantId,
    id: ArticleId,
) -> PgResult<KbArticle> {
    let sql =
        format!("SELECT {ARTICLE_COLUMNS} FROM kb_articles a WHERE a.tenant_id = $1 AND a.id = $2");
    codec::first(
        client,
        &sql,
        &[&tenant.as_str(), &id.key()],
        article_from_row,
    )
    .await?
    .ok_or_else(|| PgError::not_found("article", id))
}

async fn upsert_article(store: &PgStore, article: &KbArticle) -> PgResult<KbArticle> {
    let client = store.client().await?;
    let tags = article.tags.join(" ");
    codec::exec(
        &client,
        "INSERT INTO kb_articles (id, tenant_id, title, body, tags, url, created_at, updated_at, search_len)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (tenant_id, id) DO UPDATE SET title = excluded.title, body = excluded.body,
             tags = excluded.tags, url = excluded.url, updated_at = excluded.updated_at,
             search_len = excluded.search_len",
        &[
            &article.id.key(),
            &article.tenant_id.as_str(),
            &article.title,
            &article.body,
            &json(&article.tags),
            &article.url,
            &stored_time(article.created_at)?,
            &stored_time(article.updated_at)?,
            &word_count(&[&article.title, &article.body, &tags]),
        ],
    )
    .await?;
    load_article(&client, &article.tenant_id, article.id).await
}

async fn search_articles(
    store: &PgStore,
    tenant: &TenantId,
    query: &str,
    limit: u32,
) -> PgResult<Vec<ScoredArticle>> {
    let Some(terms) = search::terms(query) else {
        return Ok(Vec::new());
    };
    let ranked = search::ranked(
        "SELECT id AS key, search_len AS len, search AS tsv FROM kb_articles WHERE tenant_id = $6",
    );
    let sql = format!(
        "{ranked}
         SELECT {ARTICLE_COLUMNS}, scored.score AS score
         FROM scored JOIN kb_articles a ON a.tenant_id = $6 AND a.id = scored.key
         ORDER BY scored.score DESC, a.id LIMIT $7"
    );
    let [a, b, c, d] = KB_WEIGHTS;
    let limit = i64::from(clamp_limit(limit, MAX_SEARCH_RESULTS));
    let client = store.client().await?;
    codec::all(
        &client,
        &sql,
        &[&terms, &a, &b, &c, &d, &tenant.as_str(), &limit],
        |row| {
            Ok(ScoredArticle::new(
                article_from_row(row)?,
                get(row, "score")?,
            ))
        },
    )
    .await
}

async fn load_faq<C: GenericClient>(
    client: &C,
    tenant: &TenantId,
    id: FaqId,
    for_update: bool,
) -> PgResult<LearnedFaqEntry> {
    let lock = if for_update { " FOR UPDATE" } else { "" };
    let sql = format!(
        "SELECT {FAQ_COLUMNS} FROM faq_entries f WHERE f.tenant_id = $1 AND f.id = $2{lock}"
    );
    codec::first(client, &sql, &[&tenant.as_str(), &id.key()], faq_from_row)
        .await?
        .ok_or_else(|| PgError::not_found("faq entry", id))
}

async fn upsert_faq(store: &PgStore, entry: &LearnedFaqEntry) -> PgResult<LearnedFaqEntry> {
    let client = store.client().await?;
    codec::exec(
        &client,
        "INSERT INTO faq_entries (id, tenant_id, question, answer, status, confidence, use_count, positive_feedback,
             negative_feedback, source_session, created_at, updated_at, search_len)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
         ON CONFLICT (tenant_id, id) DO UPDATE SET question = excluded.question, answer = excluded.answer,
             status = excluded.status, confidence = excluded.confidence, use_count = excluded.use_count,
             positive_feedback = excluded.positive_feedback, negative_feedback = excluded.negative_feedback,
             source_session = excluded.source_session, created_at = excluded.created_at,
             updated_at = excluded.updated_at, search_len = excluded.search_len",
        &[
            &entry.id.key(),
            &entry.tenant_id.as_str(),
            &entry.question,
            &entry.answer,
            &entry.status.as_str(),
            &entry.confidence,
            &i64::from(entry.use_count),
            &i64::from(entry.positive_feedback),
            &i64::from(entry.negative_feedback),
            &opt_key(entry.source_session.as_ref()),
            &stored_time(entry.created_at)?,
            &stored_time(entry.updated_at)?,
            &word_count(&[&entry.question, &entry.answer]),
        ],
    )
    .await?;
    load_faq(&client, &entry.tenant_id, entry.id, false).await
}

async fn search_faq(
    store: &PgStore,
    tenant: &TenantId,
    query: &str,
    status: Option<FaqStatus>,
    limit: u32,
) -> PgResult<Vec<ScoredFaq>> {
    let Some(terms) = search::terms(query) else {
        return Ok(Vec::new());
    };
    // `$7` is NULL when every status is wanted; the corpus is the entries searched.
    let ranked = search::ranked(
        "SELECT id AS key, search_len AS len, search AS tsv FROM faq_entries
         WHERE tenant_id = $6 AND ($7::text IS NULL OR status = $7)",
    );
    let sql = format!(
        "{ranked}
         SELECT {FAQ_COLUMNS}, scored.score AS score
         FROM scored JOIN faq_entries f ON f.tenant_id = $6 AND f.id = scored.key
         ORDER BY scored.score DESC, f.id LIMIT $8"
    );
    let [a, b, c, d] = FAQ_WEIGHTS;
    let limit = i64::from(clamp_limit(limit, MAX_SEARCH_RESULTS));
    let status = status.map(FaqStatus::as_str);
    let client = store.client().await?;
    codec::all(
        &client,
        &sql,
        &[&terms, &a, &b, &c, &d, &tenant.as_str(), &status, &limit],
        |row| Ok(ScoredFaq::new(faq_from_row(row)?, get(row, "score")?)),
    )
    .await
}

async fn record_feedback(
    store: &PgStore,
    tenant: &TenantId,
    id: FaqId,
    feedback: FaqFeedback,
) -> PgResult<LearnedFaqEntry> {
    let mut client = store.client().await?;
    let tx = client.transaction().await?;
    let mut entry = load_faq(&tx, tenant, id, true).await?;
    match feedback {
        FaqFeedback::Used => entry.use_count = entry.use_count.saturating_add(1),
        FaqFeedback::Positive => {
            entry.positive_feedback = entry.positive_feedback.saturating_add(1)
        }
        FaqFeedback::Negative => {
            entry.negative_feedback = entry.negative_feedback.saturating_add(1)
        }
        _ => return Err(PgError::invalid("unsupported feedback kind")),
    }
    entry.recompute_confidence();
    entry.updated_at = now();
    codec::exec(
        &tx,
        "UPDATE faq_entries SET use_count = $1, positive_feedback = $2, negative_feedback = $3, confidence = $4,
             updated_at = $5 WHERE tenant_id = $6 AND id = $7",
        &[
            &i64::from(entry.use_count),
            &i64::from(entry.positive_feedback),
            &i64::from(entry.negative_feedback),
            &entry.confidence,
            &entry.updated_at,
            &tenant.as_str(),
            &id.key(),
        ],
    )
    .await?;
    tx.commit().await?;
    Ok(entry)
}

async fn record_pattern(
    store: &PgStore,
    tenant: &TenantId,
    key: &str,
    example: &str,
) -> PgResult<LearningPattern> {
    let at = now();
    let fresh = LearningPattern::new(tenant.clone(), key, example, at);
    let client = store.client().await?;
    let sql = format!(
        "INSERT INTO learning_patterns AS p (id, tenant_id, pattern_key, example, occurrences, faq_id, first_seen, last_seen)
         VALUES ($1, $2, $3, $4, 1, NULL, $5, $5)
         ON CONFLICT (tenant_id, pattern_key) DO UPDATE SET occurrences = p.occurrences + 1, last_seen = excluded.last_seen
         RETURNING {PATTERN_COLUMNS}"
    );
    codec::first(
        &client,
        &sql,
        &[&fresh.id.key(), &tenant.as_str(), &key, &example, &at],
        pattern_from_row,
    )
    .await?
    .ok_or_else(|| PgError::not_found("pattern", key))
}

async fn link_pattern(
    store: &PgStore,
    tenant: &TenantId,
    pattern: PatternId,
    faq: Option<FaqId>,
) -> PgResult<LearningPattern> {
    let client = store.client().await?;
    if let Some(faq) = faq {
        load_faq(&client, tenant, faq, false).await?;
    }
    let sql = format!(
        "UPDATE learning_patterns SET faq_id = $1 WHERE tenant_id = $2 AND id = $3 RETURNING {PATTERN_COLUMNS}"
    );
    codec::first(
        &client,
        &sql,
        &[&opt_key(faq.as_ref()), &tenant.as_str(), &pattern.key()],
        pattern_from_row,
    )
    .await?
    .ok_or_else(|| PgError::not_found("pattern", pattern))
}

async fn delete_row(
    store: &PgStore,
    table: &'static str,
    entity: &'static str,
    tenant: &TenantId,
    id: Uuid,
) -> PgResult<()> {
    let client = store.client().await?;
    // `table` is one of our own constants, never input.
    let sql = format!("DELETE FROM {table} WHERE tenant_id = $1 AND id = $2");
    if codec::exec(&client, &sql, &[&tenant.as_str(), &id]).await? == 0 {
        return Err(PgError::not_found(entity, id));
    }
    Ok(())
}

#[async_trait]
impl KnowledgeStore for PgStore {
    async fn upsert_article(&self, article: KbArticle) -> StoreResult<KbArticle> {
        self.run(|| upsert_article(self, &article)).await
    }

    async fn get_article(&self, tenant: &TenantId, id: ArticleId) -> StoreResult<KbArticle> {
        self.run(|| async move {
            let client = self.client().await?;
            load_article(&client, tenant, id).await
        })
        .await
    }

    async fn delete_article(&self, tenant: &TenantId, id: ArticleId) -> StoreResult<()> {
        self.run(|| delete_row(self, "kb_articles", "article", tenant, id.key()))
            .await
    }

    async fn list_articles(
        &self,
        tenant: &TenantId,
        after: Option<ArticleId>,
        limit: u32,
    ) -> StoreResult<Vec<KbArticle>> {
        let limit = i64::from(clamp_limit(limit, MAX_LIST_PAGE));
        let after = opt_key(after.as_ref());
        self.run(|| async move {
            let client = self.client().await?;
            let sql = format!(
                "SELECT {ARTICLE_COLUMNS} FROM kb_articles a
                 WHERE a.tenant_id = $1 AND ($2::uuid IS NULL OR a.id > $2) ORDER BY a.id LIMIT $3"
            );
            codec::all(
                &client,
                &sql,
                &[&tenant.as_str(), &after, &limit],
                article_from_row,
            )
            .await
        })
        .await
    }

    async fn search_articles(
        &self,
        tenant: &TenantId,
        query: &str,
        limit: u32,
    ) -> StoreResult<Vec<ScoredArticle>> {
        self.run(|| search_articles(self, tenant, query, limit))
            .await
    }

    async fn upsert_faq(&self, entry: LearnedFaqEntry) -> StoreResult<LearnedFaqEntry> {
        self.run(|| upsert_faq(self, &entry)).await
    }

    async fn get_faq(&self, tenant: &TenantId, id: FaqId) -> StoreResult<LearnedFaqEntry> {
        self.run(|| async move {
            let client = self.client().await?;
            load_faq(&client, tenant, id, false).await
        })
        .await
    }

    async fn delete_faq(&self, tenant: &TenantId, id: FaqId) -> StoreResult<()> {
        self.run(|| delete_row(self, "faq_entries", "faq entry", tenant, id.key()))
            .await
    }

    async fn search_faq(
        &self,
        tenant: &TenantId,
        query: &str,
        status: Option<FaqStatus>,
        limit: u32,
    ) -> StoreResult<Vec<ScoredFaq>> {
        self.run(|| search_faq(self, tenant, query, status, limit))
            .await
    }

    async fn record_faq_feedback(
        &self,
        tenant: &TenantId,
        id: FaqId,
        feedback: FaqFeedback,
    ) -> StoreResult<LearnedFaqEntry> {
        self.run(|| record_feedback(self, tenant, id, feedback))
            .await
    }

    async fn record_pattern(
        &self,
        tenant: &TenantId,
        pattern_key: &str,
        example: &str,
    ) -> StoreResult<LearningPattern> {
        self.run(|| record_pattern(self, tenant, pattern_key, example))
            .await
    }

    async fn list_patterns(
        &self,
        tenant: &TenantId,
        min_occurrences: u32,
        limit: u32,
    ) -> StoreResult<Vec<LearningPattern>> {
        let limit = i64::from(clamp_limit(limit, MAX_LIST_PAGE));
        let min = i64::from(min_occurrences);
        self.run(|| async move {
            let client = self.client().await?;
            let sql = format!(
                "SELECT {PATTERN_COLUMNS} FROM learning_patterns WHERE tenant_id = $1 AND occurrences >= $2
                 ORDER BY occurrences DESC, last_seen DESC, id LIMIT $3"
            );
            codec::all(&client, &sql, &[&tenant.as_str(), &min, &limit], pattern_from_row).await
        })
        .await
    }

    async fn link_pattern(
        &self,
        tenant: &TenantId,
        pattern: PatternId,
        faq: Option<FaqId>,
    ) -> StoreResult<LearningPattern> {
        self.run(|| link_pattern(self, tenant, pattern, faq)).await
    }
}
