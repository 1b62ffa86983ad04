//! Knowledge: KB articles (`kb_articles` + `kb_articles_fts`), learned FAQ entries
//! (`faq_entries` + `faq_entries_fts`) and learning patterns (`learning_patterns`).
//!
//! Ranking: bm25 with the title weighted over tags and body, and the question over the
//! answer; scores are the negated bm25 value, so higher is better. bm25's document statistics
//! cover the whole FTS table (every tenant); results are always filtered by tenant.

use async_trait::async_trait;
use chat_core::ids::{ArticleId, FaqId, PatternId, TenantId};
use chat_core::model::{
    FaqStatus, KbArticle, LearnedFaqEntry, LearningPattern, ScoredArticle, ScoredFaq,
};
use chat_core::store::{FaqFeedback, KnowledgeStore, MAX_SEARCH_RESULTS, StoreResult, clamp_limit};
use chrono::Utc;
use rusqlite::{Connection, Row, params};

use crate::codec::{
    UuidKey, count, external, from_json, id, json, name, nanos, opt_id, opt_key, time,
};
use crate::error::{SqliteError, SqliteResult};
use crate::fts::match_expression;
use crate::query;
use crate::store::SqliteStore;

/// bm25 weight of an article's title.
const KB_TITLE_WEIGHT: f64 = 4.0;
/// bm25 weight of an article's body.
const KB_BODY_WEIGHT: f64 = 1.0;
/// bm25 weight of an article's tags.
const KB_TAGS_WEIGHT: f64 = 2.0;
/// bm25 weight of a FAQ question.
const FAQ_QUESTION_WEIGHT: f64 = 3.0;
/// bm25 weight of a FAQ answer.
const FAQ_ANSWER_WEIGHT: f64 = 1.0;
/// Largest page of articles or patterns a listing returns.
pub const MAX_LIST_PAGE: u32 = 1000;

const ARTICLE_COLUMNS: &str =
    "a.id, a.tenant_id, a.title, a.body, a.tags, a.url, a.created_at, a.updated_at";
const FAQ_COLUMNS: &str = "f.id, f.tenant_id, f.question, f.answer, f.status, f.confidence, f.use_count, \
     f.positive_feedback, f.negative_feedback, f.source_session, f.created_at, f.updated_at";
const PATTERN_COLUMNS: &str =
    "id, tenant_id, pattern_key, example, occurrences, faq_id, first_seen, last_seen";

fn article_from_row(row: &Row<'_>) -> rusqlite::Result<KbArticle> {
    let mut article = KbArticle::new(
        external(row, "tenant_id")?,
        row.get::<_, String>("title")?,
        row.get::<_, String>("body")?,
    );
    article.id = id(row, "id")?;
    article.tags = from_json(row, "tags")?;
    article.url = row.get("url")?;
    article.created_at = time(row, "created_at")?;
    article.updated_at = time(row, "updated_at")?;
    Ok(article)
}

fn faq_from_row(row: &Row<'_>) -> rusqlite::Result<LearnedFaqEntry> {
    // Stored from an f32, so the narrowing is exact.
    #[allow(clippy::cast_possible_truncation)]
    let confidence = row.get::<_, f64>("confidence")? as f32;
    let mut entry = LearnedFaqEntry::new(
        external(row, "tenant_id")?,
        row.get::<_, String>("question")?,
        row.get::<_, String>("answer")?,
        name(row, "status")?,
    );
    entry.id = id(row, "id")?;
    entry.confidence = confidence;
    entry.use_count = count(row, "use_count")?;
    entry.positive_feedback = count(row, "positive_feedback")?;
    entry.negative_feedback = count(row, "negative_feedback")?;
    entry.source_session = opt_id(row, "source_session")?;
    entry.created_at = time(row, "created_at")?;
    entry.updated_at = time(row, "updated_at")?;
    Ok(entry)
}

fn pattern_from_row(row: &Row<'_>) -> rusqlite::Result<LearningPattern> {
    let mut pattern = LearningPattern::new(
        external(row, "tenant_id")?,
        row.get::<_, String>("pattern_key")?,
        row.get::<_, String>("example")?,
        time(row, "first_seen")?,
    );
    pattern.id = id(row, "id")?;
    pattern.occurrences = count(row, "occurrences")?;
    pattern.faq_id = opt_id(row, "faq_id")?;
    pattern.last_seen = time(row, "last_seen")?;
    Ok(pattern)
}

fn load_article(conn: &Connection, tenant: &TenantId, id: ArticleId) -> SqliteResult<KbArticle> {
    let sql =
        format!("SELECT {ARTICLE_COLUMNS} FROM kb_articles a WHERE a.tenant_id = ?1 AND a.id = ?2");
    query::first(
        conn,
        &sql,
        params![tenant.as_str(), id.key()],
        article_from_row,
    )?
    .ok_or_else(|| SqliteError::not_found("article", id))
}

fn upsert_article(conn: &Connection, article: &KbArticle) -> SqliteResult<KbArticle> {
    // The FTS update trigger fires only for title, body and tags.
    conn.prepare_cached(
        "INSERT INTO kb_articles (id, tenant_id, title, body, tags, url, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (tenant_id, id) DO UPDATE SET title = excluded.title, body = excluded.body,
             tags = excluded.tags, url = excluded.url, updated_at = excluded.updated_at",
    )?
    .execute(params![
        article.id.key(),
        article.tenant_id.as_str(),
        article.title,
        article.body,
        json(&article.tags)?,
        article.url,
        nanos(article.created_at)?,
        nanos(article.updated_at)?,
    ])?;
    load_article(conn, &article.tenant_id, article.id)
}

fn search_articles(
    conn: &Connection,
    tenant: &TenantId,
    query: &str,
    limit: u32,
) -> SqliteResult<Vec<ScoredArticle>> {
    let Some(expr) = match_expression(query) else {
        return Ok(Vec::new());
    };
    let bm25 = format!(
        "bm25(kb_articles_fts, {KB_TITLE_WEIGHT:?}, {KB_BODY_WEIGHT:?}, {KB_TAGS_WEIGHT:?})"
    );
    let sql = format!(
        "SELECT {ARTICLE_COLUMNS}, -{bm25} AS score FROM kb_articles_fts
         JOIN kb_articles a ON a.pk = kb_articles_fts.rowid
         WHERE kb_articles_fts MATCH ?1 AND a.tenant_id = ?2
         ORDER BY {bm25}, a.pk LIMIT ?3"
    );
    query::all(
        conn,
        &sql,
        params![
            expr,
            tenant.as_str(),
            clamp_limit(limit, MAX_SEARCH_RESULTS)
        ],
        |row| {
            Ok(ScoredArticle::new(
                article_from_row(row)?,
                row.get("score")?,
            ))
        },
    )
}

fn load_faq(conn: &Connection, tenant: &TenantId, id: FaqId) -> SqliteResult<LearnedFaqEntry> {
    let sql =
        format!("SELECT {FAQ_COLUMNS} FROM faq_entries f WHERE f.tenant_id = ?1 AND f.id = ?2");
    query::first(conn, &sql, params![tenant.as_str(), id.key()], faq_from_row)?
        .ok_or_else(|| SqliteError::not_found("faq entry", id))
}

fn upsert_faq(conn: &Connection, entry: &LearnedFaqEntry) -> SqliteResult<()> {
    conn.prepare_cached(
        "INSERT INTO faq_entries (id, tenant_id, question, answer, status, confidence, use_count, positive_feedback,
             negative_feedback, source_session, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
         ON CONFLICT (tenant_id, id) DO UPDATE SET question = excluded.question, answer = excluded.answer,
             status = excluded.status, confidence = excluded.confidence, use_count = excluded.use_count,
             positive_feedback = excluded.positive_feedback, negative_feedback = excluded.negative_feedback,
             source_session = excluded.source_session, created_at = excluded.created_at,
             updated_at = excluded.updated_at",
    )?
    .execute(params![
        entry.id.key(),
        entry.tenant_id.as_str(),
        entry.question,
        entry.answer,
        entry.status.as_str(),
        f64::from(entry.confidence),
        entry.use_count,
        entry.positive_feedback,
        entry.negative_feedback,
        opt_key(entry.source_session.as_ref()),
        nanos(entry.created_at)?,
        nanos(entry.updated_at)?,
    ])?;
    Ok(())
}

fn search_faq(
    conn: &Connection,
    tenant: &TenantId,
    query: &str,
    status: Option<FaqStatus>,
    limit: u32,
) -> SqliteResult<Vec<ScoredFaq>> {
    let Some(expr) = match_expression(query) else {
        return Ok(Vec::new());
    };
    let bm25 = format!("bm25(faq_entries_fts, {FAQ_QUESTION_WEIGHT:?}, {FAQ_ANSWER_WEIGHT:?})");
    // `?3` is NULL when every status is wanted.
    let sql = format!(
        "SELECT {FAQ_COLUMNS}, -{bm25} AS score FROM faq_entries_fts
         JOIN faq_entries f ON f.pk = faq_entries_fts.rowid
         WHERE faq_entries_fts MATCH ?1 AND f.tenant_id = ?2 AND (?3 IS NULL OR f.status = ?3)
         ORDER BY {bm25}, f.pk LIMIT ?4"
    );
    query::all(
        conn,
        &sql,
        params![
            expr,
            tenant.as_str(),
            status.map(FaqStatus::as_str),
            clamp_limit(limit, MAX_SEARCH_RESULTS)
        ],
        |row| Ok(ScoredFaq::new(faq_from_row(row)?, row.get("score")?)),
    )
}

fn record_feedback(
    conn: &Connection,
    tenant: &TenantId,
    id: FaqId,
    feedback: FaqFeedback,
) -> SqliteResult<LearnedFaqEntry> {
    let mut entry = load_faq(conn, tenant, id)?;
    match feedback {
        FaqFeedback::Used => entry.use_count = entry.use_count.saturating_add(1),
        FaqFeedback::Positive => {
            entry.positive_feedback = entry.positive_feedback.saturating_add(1)
        }
        FaqFeedback::Negative => {
            entry.negative_feedback = entry.negative_feedback.saturating_add(1)
        }
        _ => return Err(SqliteError::invalid("unsupported feedback kind")),
    }
    entry.recompute_confidence();
    entry.updated_at = Utc::now();
    // Counters and confidence only: the FTS update trigger does not fire.
    conn.prepare_cached(
        "UPDATE faq_entries SET use_count = ?1, positive_feedback = ?2, negative_feedback = ?3, confidence = ?4,
             updated_at = ?5 WHERE tenant_id = ?6 AND id = ?7",
    )?
    .execute(params![
        entry.use_count,
        entry.positive_feedback,
        entry.negative_feedback,
        f64::from(entry.confidence),
        nanos(entry.updated_at)?,
        tenant.as_str(),
        id.key(),
    ])?;
    Ok(entry)
}

fn load_pattern_by_key(
    conn: &Connection,
    tenant: &TenantId,
    key: &str,
) -> SqliteResult<Option<LearningPattern>> {
    let sql = format!(
        "SELECT {PATTERN_COLUMNS} FROM learning_patterns WHERE tenant_id = ?1 AND pattern_key = ?2"
    );
    query::first(conn, &sql, params![tenant.as_str(), key], pattern_from_row)
}

fn record_pattern(
    conn: &Connection,
    tenant: &TenantId,
    key: &str,
    example: &str,
) -> SqliteResult<LearningPattern> {
    let now = Utc::now();
    let fresh = LearningPattern::new(tenant.clone(), key, example, now);
    conn.prepare_cached(
        "INSERT INTO learning_patterns (id, tenant_id, pattern_key, example, occurrences, faq_id, first_seen, last_seen)
         VALUES (?1, ?2, ?3, ?4, 1, NULL, ?5, ?5)
         ON CONFLICT (tenant_id, pattern_key) DO UPDATE SET occurrences = occurrences + 1, last_seen = excluded.last_seen",
    )?
    .execute(params![fresh.id.key(), tenant.as_str(), key, example, nanos(now)?])?;
    load_pattern_by_key(conn, tenant, key)?.ok_or_else(|| SqliteError::not_found("pattern", key))
}

fn list_patterns(
    conn: &Connection,
    tenant: &TenantId,
    min: u32,
    limit: u32,
) -> SqliteResult<Vec<LearningPattern>> {
    let sql = format!(
        "SELECT {PATTERN_COLUMNS} FROM learning_patterns WHERE tenant_id = ?1 AND occurrences >= ?2
         ORDER BY occurrences DESC, last_seen DESC, id LIMIT ?3"
    );
    query::all(
        conn,
        &sql,
        params![tenant.as_str(), min, clamp_limit(limit, MAX_LIST_PAGE)],
        pattern_from_row,
    )
}

fn link_pattern(
    conn: &Connection,
    tenant: &TenantId,
    pattern: PatternId,
    faq: Option<FaqId>,
) -> SqliteResult<LearningPattern> {
    if let Some(faq) = faq {
        load_faq(conn, tenant, faq)?;
    }
    let sql = format!(
        "UPDATE learning_patterns SET faq_id = ?1 WHERE tenant_id = ?2 AND id = ?3 RETURNING {PATTERN_COLUMNS}"
    );
    query::first(
        conn,
        &sql,
        params![opt_key(faq.as_ref()), tenant.as_str(), pattern.key()],
        pattern_from_row,
    )?
    .ok_or_else(|| SqliteError::not_found("pattern", pattern))
}

fn delete_row(
    conn: &Connection,
    table: &'static str,
    entity: &'static str,
    tenant: &TenantId,
    id: [u8; 16],
    shown: String,
) -> SqliteResult<()> {
    // `table` is one of our own constants, never input.
    let sql = format!("DELETE FROM {table} WHERE tenant_id = ?1 AND id = ?2");
    if conn
        .prepare_cached(&sql)?
        .execute(params![tenant.as_str(), id])?
        == 0
    {
        return Err(SqliteError::not_found(entity, shown));
    }
    Ok(())
}

#[async_trait]
impl KnowledgeStore for SqliteStore {
    async fn upsert_article(&self, article: KbArticle) -> StoreResult<KbArticle> {
        self.write(move |conn| upsert_article(conn, &article)).await
    }

    async fn get_article(&self, tenant: &TenantId, id: ArticleId) -> StoreResult<KbArticle> {
        let tenant = tenant.clone();
        self.read(move |conn| load_article(conn, &tenant, id)).await
    }

    async fn delete_article(&self, tenant: &TenantId, id: ArticleId) -> StoreResult<()> {
        let tenant = tenant.clone();
        self.write(move |conn| {
            delete_row(
                conn,
                "kb_articles",
                "article",
                &tenant,
                id.key(),
                id.to_string(),
            )
        })
        .await
    }

    async fn list_articles(
        &self,
        tenant: &TenantId,
        after: Option<ArticleId>,
        limit: u32,
    ) -> StoreResult<Vec<KbArticle>> {
        let tenant = tenant.clone();
        self.read(move |conn| {
            // Two statements rather than `?2 IS NULL OR ...`, so that both walk the
            // (tenant_id, id) index from the right place.
            let limit = clamp_limit(limit, MAX_LIST_PAGE);
            let (sql, after) = match after {
                Some(after) => ("a.tenant_id = ?1 AND a.id > ?2", after.key()),
                None => ("a.tenant_id = ?1 AND a.id >= ?2", [0; 16]),
            };
            let sql = format!(
                "SELECT {ARTICLE_COLUMNS} FROM kb_articles a WHERE {sql} ORDER BY a.id LIMIT ?3"
            );
            query::all(
                conn,
                &sql,
                params![tenant.as_str(), after, limit],
                article_from_row,
            )
        })
        .await
    }

    async fn search_articles(
        &self,
        tenant: &TenantId,
        query: &str,
        limit: u32,
    ) -> StoreResult<Vec<ScoredArticle>> {
        let (tenant, query) = (tenant.clone(), query.to_owned());
        self.read(move |conn| search_articles(conn, &tenant, &query, limit))
            .await
    }

    async fn upsert_faq(&self, entry: LearnedFaqEntry) -> StoreResult<LearnedFaqEntry> {
        self.write(move |conn| {
            upsert_faq(conn, &entry)?;
            load_faq(conn, &entry.tenant_id, entry.id)
        })
        .await
    }

    async fn get_faq(&self, tenant: &TenantId, id: FaqId) -> StoreResult<LearnedFaqEntry> {
        let tenant = tenant.clone();
        self.read(move |conn| load_faq(conn, &tenant, id)).await
    }

    async fn delete_faq(&self, tenant: &TenantId, id: FaqId) -> StoreResult<()> {
        let tenant = tenant.clone();
        self.write(move |conn| {
            delete_row(
                conn,
                "faq_entries",
                "faq entry",
                &tenant,
                id.key(),
                id.to_string(),
            )
        })
        .await
    }

    async fn search_faq(
        &self,
        tenant: &TenantId,
        query: &str,
        status: Option<FaqStatus>,
        limit: u32,
    ) -> StoreResult<Vec<ScoredFaq>> {
        let (tenant, query) = (tenant.clone(), query.to_owned());
        self.read(move |conn| search_faq(conn, &tenant, &query, status, limit))
            .await
    }

    async fn record_faq_feedback(
        &self,
        tenant: &TenantId,
        id: FaqId,
        feedback: FaqFeedback,
    ) -> StoreResult<LearnedFaqEntry> {
        let tenant = tenant.clone();
        self.write(move |conn| record_feedback(conn, &tenant, id, feedback))
            .await
    }

    async fn record_pattern(
        &self,
        tenant: &TenantId,
        pattern_key: &str,
        example: &str,
    ) -> StoreResult<LearningPattern> {
        let (tenant, key, example) = (tenant.clone(), pattern_key.to_owned(), example.to_owned());
        self.write(move |conn| record_pattern(conn, &tenant, &key, &example))
            .await
    }

    async fn list_patterns(
        &self,
        tenant: &TenantId,
        min_occurrences: u32,
        limit: u32,
    ) -> StoreResult<Vec<LearningPattern>> {
        let tenant = tenant.clone();
        self.read(move |conn| list_patterns(conn, &tenant, min_occurrences, limit))
            .await
    }

    async fn link_pattern(
        &self,
        tenant: &TenantId,
        pattern: PatternId,
        faq: Option<FaqId>,
    ) -> StoreResult<LearningPattern> {
        let tenant = tenant.clone();
        self.write(move |conn| link_pattern(conn, &tenant, pattern, faq))
            .await
    }
}
