//! Full-text search: BM25 over the generated `tsvector` columns.
//!
//! User text never reaches a tsquery parser as typed: [`chat_core::text::query_terms`] reduces
//! it to plain words, each word becomes `plainto_tsquery('chat_search', word)` (which accepts
//! any text), and the words are OR-ed with the `chat_tsquery_or` aggregate, so any word matches
//! (the GIN index finds the candidates). Stemming and diacritics folding come from the
//! `chat_search` configuration (English stemmer behind `unaccent`).
//!
//! Ranking is BM25 computed in SQL from the candidates' tsvectors, not `ts_rank_cd`:
//! `ts_rank_cd` has no inverse document frequency and no length normalization against the
//! corpus average, and the conformance suite checks both (a word found everywhere counts for
//! little; a short text beats a long one with the same match). Per query word: the weighted
//! term frequency (each occurrence counts its column's weight: A title, B tags, C body, D
//! plain), saturated with `k1` and normalized by the row's length against the average of the
//! corpus with `b`, times `ln(1 + (N - n + 0.5) / (n + 0.5))`, where N is the corpus size and n
//! the number of candidates holding the word. The corpus is what the search is scoped to (a
//! tenant's articles, a tenant's FAQ entries of one status, a session's ready chunks), so one
//! tenant's data never shifts another's ranking.

use chat_core::text::query_terms;

/// BM25 term-frequency saturation.
pub const BM25_K1: f64 = 1.2;
/// BM25 length normalization.
pub const BM25_B: f64 = 0.75;

/// Column weights of a corpus by tsvector label: `[A, B, C, D]`.
pub(crate) type Weights = [f64; 4];

/// The words of a user query, or `None` when it has none (the search returns nothing).
pub(crate) fn terms(query: &str) -> Option<Vec<String>> {
    let terms = query_terms(query);
    (!terms.is_empty()).then_some(terms)
}

/// The `WITH` chain that ranks a corpus, ending in the CTE `scored (key, score)`.
///
/// `corpus` is a `SELECT` yielding `key`, `len` (the row's word count) and `tsv`, scoped with
/// parameters from `$6` on. Fixed parameters: `$1` the terms (`text[]`), `$2..$5` the weights
/// of labels A to D (`float8`).
pub(crate) fn ranked(corpus: &str) -> String {
    format!(
        "WITH terms AS (
            SELECT plainto_tsquery('chat_search', t) AS q FROM unnest($1::text[]) AS t
        ),
        query AS (SELECT chat_tsquery_or(q) AS q FROM terms),
        lexemes AS (
            SELECT DISTINCT lexeme FROM unnest(to_tsvector('chat_search', array_to_string($1::text[], ' ')))
        ),
        corpus AS NOT MATERIALIZED ({corpus}),
        stats AS (
            SELECT count(*)::float8 AS docs, coalesce(avg(len), 0)::float8 AS avg_len FROM corpus
        ),
        matches AS (
            SELECT c.key, c.len, c.tsv FROM corpus c, query WHERE c.tsv @@ query.q
        ),
        tf AS (
            SELECT m.key, v.lexeme, sum(w.weight) AS tf
            FROM matches m
            CROSS JOIN LATERAL unnest(m.tsv) AS v(lexeme, positions, weights)
            CROSS JOIN LATERAL unnest(v.weights) AS p(label)
            JOIN (VALUES ('A', $2::float8), ('B', $3::float8), ('C', $4::float8), ('D', $5::float8))
                AS w(label, weight) ON w.label = p.label
            WHERE v.lexeme IN (SELECT lexeme FROM lexemes)
            GROUP BY m.key, v.lexeme
        ),
        df AS (SELECT lexeme, count(*)::float8 AS n FROM tf GROUP BY lexeme),
        scored AS (
            SELECT tf.key, sum(
                ln(1 + (s.docs - df.n + 0.5) / (df.n + 0.5))
                * tf.tf * ({k1} + 1)
                / (tf.tf + {k1} * (1 - {b} + {b} * m.len / greatest(s.avg_len, 1)))
            )::float8 AS score
            FROM tf JOIN df USING (lexeme) JOIN matches m USING (key) CROSS JOIN stats s
            GROUP BY tf.key
        )",
        k1 = BM25_K1,
        b = BM25_B,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_without_words_search_nothing() {
        assert_eq!(terms("\"*():-^"), None);
        assert_eq!(terms("refund AND (café*)").unwrap(), ["refund", "café"]);
        let sql = ranked("SELECT 1");
        assert!(sql.contains("1.2") && sql.contains("0.75"), "{sql}");
    }
}
