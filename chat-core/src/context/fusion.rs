//! Score normalization, fusion, deduplication and packing into a token budget.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::ContextCandidate;
use crate::text::estimate_tokens;

/// How much context an answer gets. Defaults in brackets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct ContextBudget {
    /// Most passages in a prompt [8].
    pub max_passages: usize,
    /// Most tokens of context in a prompt [3000].
    pub max_tokens: u32,
    /// Longest single passage in tokens; longer ones are cut at a sentence end [600].
    pub max_passage_tokens: u32,
    /// The `k` of reciprocal-rank fusion [60].
    pub rrf_k: f64,
    /// Candidates asked of each source [12].
    pub per_source: u32,
}

impl Default for ContextBudget {
    fn default() -> Self {
        Self {
            max_passages: 8,
            max_tokens: 3000,
            max_passage_tokens: 600,
            rrf_k: 60.0,
            per_source: 12,
        }
    }
}

/// A passage chosen for the prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PackedPassage {
    /// The `n` of `[n]`, from 1.
    pub index: u32,
    /// The candidate (text possibly shortened).
    pub candidate: ContextCandidate,
    /// Score normalized within its source, 0..=1.
    pub relevance: f32,
    /// Fused score that ordered the passages.
    pub fused: f64,
}

/// The numbered passages of one answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PackedContext {
    /// Passages, best first, numbered from 1.
    pub passages: Vec<PackedPassage>,
    /// Estimated tokens of all passages.
    pub tokens: u32,
}

impl PackedContext {
    /// The passage numbered `index`.
    pub fn get(&self, index: u32) -> Option<&PackedPassage> {
        self.passages.iter().find(|p| p.index == index)
    }
}

/// Fuses the results of several sources, each given with its weight, best first within each.
///
/// Per source, scores are normalized by that source's best score (0..=1). The fused score is
/// `weight * (rrf + relevance) / 2` where `rrf = (k + 1) / (k + rank)` is reciprocal-rank fusion
/// scaled to 1 for the top rank: rank carries across sources whose raw scores are not
/// comparable, relevance keeps a weak tail from riding on rank alone. Candidates with the same
/// source and id, or the same text, are merged (the better one stays). Passages are then taken
/// best first while they fit the budget.
pub fn fuse(results: Vec<(f64, Vec<ContextCandidate>)>, budget: &ContextBudget) -> PackedContext {
    let mut scored: Vec<(f64, f32, ContextCandidate)> = Vec::new();
    for (weight, candidates) in results {
        let best = candidates.iter().map(|c| c.score).fold(0.0_f64, f64::max);
        for (rank, candidate) in candidates.into_iter().enumerate() {
            let relevance = if best > 0.0 && candidate.score.is_finite() {
                (candidate.score / best).clamp(0.0, 1.0)
            } else {
                0.0
            };
            let rank = rank as f64 + 1.0;
            let rrf = (budget.rrf_k + 1.0) / (budget.rrf_k + rank);
            let fused = weight * (rrf + relevance) / 2.0;
            scored.push((fused, relevance as f32, candidate));
        }
    }
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));

    let mut seen_ids = HashSet::new();
    let mut seen_text = HashSet::new();
    let mut packed = PackedContext::default();
    for (fused, relevance, mut candidate) in scored {
        if packed.passages.len() >= budget.max_passages {
            break;
        }
        let id_key = (
            candidate.source_kind.as_str().to_owned(),
            candidate.source_id.clone(),
        );
        if !seen_ids.insert(id_key) || !seen_text.insert(fingerprint(&candidate.text)) {
            continue;
        }
        candidate.text = shorten(&candidate.text, budget.max_passage_tokens);
        let tokens = estimate_tokens(&candidate.text) + estimate_tokens(&candidate.title) + 4;
        if packed.tokens + tokens > budget.max_tokens {
            continue;
        }
        packed.tokens += tokens;
        let index = u32::try_from(packed.passages.len())
            .unwrap_or(u32::MAX)
            .saturating_add(1);
        packed.passages.push(PackedPassage {
            index,
            candidate,
            relevance,
            fused,
        });
    }
    packed
}

/// The lowercase alphanumeric start of a text: equal for the same passage from two sources.
fn fingerprint(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .take(200)
        .collect()
}

/// Cuts a text to about `max_tokens`, at the last sentence end (or space) before the limit.
fn shorten(text: &str, max_tokens: u32) -> String {
    if estimate_tokens(text) <= max_tokens {
        return text.to_owned();
    }
    let mut end = (max_tokens as usize).saturating_mul(4).min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let head = &text[..end];
    let cut = head
        .rfind(['.', '!', '?', '\n'])
        .filter(|&i| i > end / 2)
        .map(|i| i + 1)
        .or_else(|| head.rfind(' '))
        .unwrap_or(end);
    format!("{}…", head[..cut].trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ContextSourceKind;

    fn cand(kind: ContextSourceKind, id: &str, text: &str, score: f64) -> ContextCandidate {
        ContextCandidate::new(kind, id, id, text, score)
    }

    #[test]
    fn fuses_ranks_across_sources_and_dedupes() {
        let kb = vec![
            cand(ContextSourceKind::Kb, "a", "refund policy text", 12.0),
            cand(ContextSourceKind::Kb, "b", "shipping text", 3.0),
        ];
        let docs = vec![
            cand(
                ContextSourceKind::Document,
                "c",
                "the invoice you uploaded",
                0.9,
            ),
            cand(ContextSourceKind::Document, "d", "Refund policy text!", 0.8),
        ];
        let packed = fuse(vec![(1.0, kb), (1.2, docs)], &ContextBudget::default());
        let ids: Vec<&str> = packed
            .passages
            .iter()
            .map(|p| p.candidate.source_id.as_str())
            .collect();
        // Documents weigh 1.2: "c" first, then "d" (0.8/0.9 of its source's best) before "a";
        // "a" has the same text as "d" and is merged away.
        assert_eq!(ids, ["c", "d", "b"]);
        assert_eq!(
            packed.passages.iter().map(|p| p.index).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        assert!((packed.passages[1].relevance - 0.8 / 0.9).abs() < 1e-6);
        assert!(packed.passages[2].relevance < 0.3);
    }

    #[test]
    fn respects_the_token_budget() {
        let long = "word ".repeat(2000);
        let many: Vec<_> = (0..20)
            .map(|i| {
                cand(
                    ContextSourceKind::Kb,
                    &i.to_string(),
                    &format!("{i} {long}"),
                    1.0,
                )
            })
            .collect();
        let budget = ContextBudget {
            max_tokens: 1300,
            max_passage_tokens: 600,
            ..ContextBudget::default()
        };
        let packed = fuse(vec![(1.0, many)], &budget);
        assert_eq!(packed.passages.len(), 2);
        assert!(packed.tokens <= 1300);
        assert!(
            packed
                .passages
                .iter()
                .all(|p| p.candidate.text.ends_with('…'))
        );
    }
}
