//! Full-text search of the in-memory store: an analyzer (diacritics folding, lowercasing,
//! English stemming) and Okapi BM25 ranking over a corpus chosen by the caller.
//!
//! Stemming uses `rust-stemmers` (the Snowball English algorithm, "Porter2") and folding uses
//! `unicode-normalization` (canonical decomposition, then combining marks dropped): both are
//! well-kept implementations of published algorithms, so the memory store finds what SQLite's
//! `porter unicode61 remove_diacritics 2` tokenizer finds ("refund" matches "Refunds", "cafe"
//! matches "café").

use std::collections::HashMap;

use rust_stemmers::{Algorithm, Stemmer};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use crate::text::query_terms;

/// BM25 term-frequency saturation.
const BM25_K1: f64 = 1.2;
/// BM25 length normalization.
const BM25_B: f64 = 0.75;

/// The analyzed form of one searchable text: how often each term occurs, and how many terms
/// it has in all.
#[derive(Debug, Clone, Default)]
pub(super) struct TermCounts {
    counts: HashMap<String, u32>,
    len: u32,
}

impl TermCounts {
    /// Analyzes the given fields as one text.
    pub(super) fn of<'a>(fields: impl IntoIterator<Item = &'a str>) -> Self {
        let stemmer = Stemmer::create(Algorithm::English);
        let mut out = Self::default();
        for field in fields {
            for word in fold(field).split(|c: char| !c.is_alphanumeric()) {
                if word.is_empty() {
                    continue;
                }
                let term = stemmer.stem(word).into_owned();
                *out.counts.entry(term).or_insert(0) += 1;
                out.len = out.len.saturating_add(1);
            }
        }
        out
    }

    fn tf(&self, term: &str) -> u32 {
        self.counts.get(term).copied().unwrap_or(0)
    }
}

/// Lowercases and removes diacritics (NFD, combining marks dropped).
fn fold(text: &str) -> String {
    text.nfd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The analyzed terms of a user query: plain words only (see [`query_terms`]), folded and
/// stemmed like the indexed text, without duplicates.
pub(super) fn analyze_query(query: &str) -> Vec<String> {
    let stemmer = Stemmer::create(Algorithm::English);
    let mut terms: Vec<String> = Vec::new();
    for raw in query_terms(query) {
        for word in fold(&raw).split(|c: char| !c.is_alphanumeric()) {
            if word.is_empty() {
                continue;
            }
            let term = stemmer.stem(word).into_owned();
            if !terms.contains(&term) {
                terms.push(term);
            }
        }
    }
    terms
}

/// Ranks a corpus against analyzed query terms with BM25: any document holding at least one
/// term is a hit (plain words are alternatives, as in a natural-language question), best first;
/// ties keep the corpus order. Returns at most `limit` hits with their scores.
pub(super) fn rank<T>(
    corpus: Vec<(&TermCounts, T)>,
    terms: &[String],
    limit: usize,
) -> Vec<(T, f64)> {
    if terms.is_empty() || corpus.is_empty() {
        return Vec::new();
    }
    #[allow(clippy::cast_precision_loss)] // corpus sizes and lengths are far below 2^52
    let n = corpus.len() as f64;
    let total_len: f64 = corpus.iter().map(|(tc, _)| f64::from(tc.len)).sum();
    let avg_len = (total_len / n).max(1.0);
    let idf: Vec<f64> = terms
        .iter()
        .map(|term| {
            #[allow(clippy::cast_precision_loss)]
            let df = corpus.iter().filter(|(tc, _)| tc.tf(term) > 0).count() as f64;
            // The "plus one" form of IDF stays positive even for terms in most documents.
            (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
        })
        .collect();
    let mut hits: Vec<(T, f64)> = corpus
        .into_iter()
        .filter_map(|(tc, item)| {
            let norm = BM25_K1 * (1.0 - BM25_B + BM25_B * f64::from(tc.len) / avg_len);
            let score: f64 = terms
                .iter()
                .zip(&idf)
                .map(|(term, idf)| {
                    let tf = f64::from(tc.tf(term));
                    if tf == 0.0 {
                        0.0
                    } else {
                        idf * tf * (BM25_K1 + 1.0) / (tf + norm)
                    }
                })
                .sum();
            (score > 0.0).then_some((item, score))
        })
        .collect();
    hits.sort_by(|a, b| b.1.total_cmp(&a.1));
    hits.truncate(limit);
    hits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn analyzer_folds_and_stems() {
        let tc = TermCounts::of(["Refunds for the Café", "RUNNING"]);
        assert_eq!(tc.tf("refund"), 1);
        assert_eq!(tc.tf("cafe"), 1);
        assert_eq!(tc.tf("run"), 1);
        assert_eq!(tc.len, 5);
        // "and" is a stop word next to other words; a query of stop words only keeps them.
        assert_eq!(analyze_query("\"refunding\" AND café*"), ["refund", "cafe"]);
        assert_eq!(analyze_query("and the"), ["and", "the"]);
        assert!(analyze_query("*()\"-^:").is_empty());
    }

    #[test]
    fn bm25_prefers_all_terms_and_rare_terms() {
        let docs = [
            TermCounts::of(["apple banana cherry"]),
            TermCounts::of(["apple apple apple"]),
            TermCounts::of(["banana filler filler"]),
            TermCounts::of(["nothing here at all"]),
        ];
        let corpus = docs.iter().enumerate().map(|(i, d)| (d, i)).collect();
        let hits = rank(corpus, &analyze_query("apple cherry"), 10);
        let order: Vec<usize> = hits.iter().map(|h| h.0).collect();
        assert_eq!(order, [0, 1]);
        assert!(hits[0].1 > hits[1].1);
        let corpus = docs.iter().enumerate().map(|(i, d)| (d, i)).collect();
        assert_eq!(rank(corpus, &analyze_query("apple banana"), 1).len(), 1);
    }
}
