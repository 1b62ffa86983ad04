//! The offline extractive answerer: no model, no network. It quotes the sentences of the
//! numbered context passages that best match the question, with their `[n]` citations, and
//! says plainly when nothing relevant was found.
//!
//! Scoring: the question (the last user message) and every sentence (UAX #29 sentence
//! boundaries, `unicode-segmentation`) are reduced to Snowball stems (`rust-stemmers`) without
//! stop words; a sentence scores the share of the question's IDF weight it covers (terms rare
//! among the passages' sentences weigh more; question terms found nowhere count half in the
//! total, so a sentence matching little of a specific question scores low). A question word in
//! the passage's title but not in the sentence counts half (the answer under an FAQ question
//! rarely repeats it); a sentence must share at least one word of its own. Markdown headings
//! and sentences that are questions are never quoted, and sentences scoring under 60 % of the
//! best are left out. Ties go to the better-retrieved passage, then to the earlier passage and
//! sentence: the same input always gives the same answer.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use chat_core::model::TokenUsage;
use chat_core::provider::{
    AiProvider, CompletionChunk, CompletionRequest, CompletionStream, ContextPassage, FinishReason,
    ProviderCapabilities, ProviderError,
};
use chat_core::text::estimate_tokens;
use futures::StreamExt;
use rust_stemmers::{Algorithm, Stemmer};
use serde::{Deserialize, Serialize};
use unicode_segmentation::UnicodeSegmentation;

use crate::error::ConfigError;

/// What the answer says when no passage matches the question.
pub const NOTHING_FOUND: &str = "I could not find anything relevant to your question in the \
available sources, so I cannot answer it from them. A human agent can help if you ask for one.";

/// Weight of a question term that no sentence contains, relative to a present one.
const ABSENT_TERM_WEIGHT: f32 = 0.5;
/// Share of a question word's weight that a sentence gets when the word is in its passage's
/// title but not in the sentence: the answer under an FAQ question or an article title is
/// about that title's words even when it does not repeat them.
const TITLE_TERM_WEIGHT: f32 = 0.5;
/// Sentences less relevant than this share of the best one are left out: they matched a
/// stray question word ("long", "take") rather than the question.
const RELATIVE_CUTOFF: f32 = 0.6;

/// The line before the quotes.
pub const FOUND_INTRO: &str = "Here is what the available sources say:";

/// Settings of the offline answerer.
///
/// | setting | default | what |
/// |---|---|---|
/// | `language` | `english` | Snowball stemmer (`arabic`, `danish`, `dutch`, `english`, `french`, `german`, `greek`, `hungarian`, `italian`, `norwegian`, `portuguese`, `romanian`, `russian`, `spanish`, `swedish`, `tamil`, `turkish`); stop words are English |
/// | `max_sentences` | 3 | most sentences quoted |
/// | `min_relevance` | 0.25 | least share of the question's weight a sentence must cover |
/// | `max_sentence_chars` | 400 | longer sentences are cut (with `…`) |
/// | `delta_chars` | 24 | characters per streamed delta |
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct OfflineConfig {
    /// Stemmer language.
    pub language: String,
    /// Most sentences quoted.
    pub max_sentences: usize,
    /// Least relevance quoted.
    pub min_relevance: f32,
    /// Longest quoted sentence in characters.
    pub max_sentence_chars: usize,
    /// Characters per delta.
    pub delta_chars: usize,
}

impl Default for OfflineConfig {
    fn default() -> Self {
        Self {
            language: "english".to_owned(),
            max_sentences: 3,
            min_relevance: 0.25,
            max_sentence_chars: 400,
            delta_chars: 24,
        }
    }
}

impl OfflineConfig {
    /// The defaults of the table above.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets the stemmer language.
    pub fn language(mut self, language: impl Into<String>) -> Self {
        self.language = language.into();
        self
    }
    /// Sets the most sentences quoted (at least 1).
    pub fn max_sentences(mut self, n: usize) -> Self {
        self.max_sentences = n.max(1);
        self
    }
    /// Sets the least relevance quoted.
    pub fn min_relevance(mut self, relevance: f32) -> Self {
        self.min_relevance = relevance;
        self
    }
    /// Sets the characters per delta (at least 1).
    pub fn delta_chars(mut self, n: usize) -> Self {
        self.delta_chars = n.max(1);
        self
    }
}

fn algorithm(language: &str) -> Option<Algorithm> {
    Some(match language.to_ascii_lowercase().as_str() {
        "arabic" => Algorithm::Arabic,
        "danish" => Algorithm::Danish,
        "dutch" => Algorithm::Dutch,
        "english" => Algorithm::English,
        "french" => Algorithm::French,
        "german" => Algorithm::German,
        "greek" => Algorithm::Greek,
        "hungarian" => Algorithm::Hungarian,
        "italian" => Algorithm::Italian,
        "norwegian" => Algorithm::Norwegian,
        "portuguese" => Algorithm::Portuguese,
        "romanian" => Algorithm::Romanian,
        "russian" => Algorithm::Russian,
        "spanish" => Algorithm::Spanish,
        "swedish" => Algorithm::Swedish,
        "tamil" => Algorithm::Tamil,
        "turkish" => Algorithm::Turkish,
        _ => return None,
    })
}

/// English function words and question words: they say nothing about the topic.
const STOP_WORDS: &[&str] = &[
    "a", "about", "after", "all", "also", "am", "an", "and", "any", "are", "as", "at", "be",
    "been", "but", "by", "can", "could", "did", "do", "does", "for", "from", "get", "had", "has",
    "have", "he", "her", "hi", "hello", "how", "i", "if", "in", "into", "is", "it", "its", "just",
    "me", "my", "need", "no", "not", "of", "on", "or", "our", "please", "she", "should", "so",
    "some", "than", "thank", "thanks", "that", "the", "their", "them", "then", "there", "these",
    "they", "this", "to", "us", "want", "was", "we", "were", "what", "when", "where", "which",
    "who", "why", "will", "with", "would", "you", "your",
];

/// The offline extractive answerer, named `offline`.
pub struct OfflineAnswerer {
    config: OfflineConfig,
    stemmer: Stemmer,
}

impl fmt::Debug for OfflineAnswerer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OfflineAnswerer")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Default for OfflineAnswerer {
    fn default() -> Self {
        Self {
            config: OfflineConfig::default(),
            stemmer: Stemmer::create(Algorithm::English),
        }
    }
}

/// One candidate sentence.
struct Sentence<'a> {
    passage: &'a ContextPassage,
    position: usize,
    text: String,
    stems: HashSet<String>,
    /// Stems of the passage's title.
    title: Arc<HashSet<String>>,
}

impl OfflineAnswerer {
    /// The answerer with default settings (English).
    pub fn new() -> Self {
        Self::default()
    }

    /// The answerer with `config`. Errors: [`ConfigError::Invalid`] naming `language` when the
    /// language has no stemmer.
    pub fn with_config(config: OfflineConfig) -> Result<Self, ConfigError> {
        let algorithm = algorithm(&config.language).ok_or_else(|| ConfigError::Invalid {
            setting: "language",
            reason: format!("no stemmer for {:?}", config.language),
        })?;
        Ok(Self {
            config,
            stemmer: Stemmer::create(algorithm),
        })
    }

    /// The distinct topic stems of a text.
    fn stems(&self, text: &str) -> HashSet<String> {
        text.split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .filter(|w| !STOP_WORDS.contains(&w.as_str()))
            .map(|w| self.stemmer.stem(&w).into_owned())
            .collect()
    }

    /// The answer text for a request (deterministic).
    pub fn compose(&self, request: &CompletionRequest) -> String {
        let question = self.stems(request.question().unwrap_or(""));
        if question.is_empty() {
            return NOTHING_FOUND.to_owned();
        }
        let sentences: Vec<Sentence<'_>> = request
            .passages
            .iter()
            .flat_map(|passage| {
                let title = Arc::new(self.stems(&passage.title));
                // Headings (Markdown `#` lines) and questions (an FAQ's own question) name a
                // topic without answering anything: they are never quoted.
                passage
                    .text
                    .lines()
                    .filter(|line| !line.trim_start().starts_with('#'))
                    .flat_map(|line| line.unicode_sentences())
                    .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
                    .filter(|s| s.chars().any(char::is_alphanumeric) && !s.ends_with('?'))
                    .enumerate()
                    .map(move |(position, text)| (passage, position, text, Arc::clone(&title)))
            })
            .map(|(passage, position, text, title)| Sentence {
                passage,
                position,
                stems: self.stems(&text),
                text,
                title,
            })
            .collect();
        let n = sentences.len().max(1) as f32;
        let weight = |term: &String| {
            let df = sentences.iter().filter(|s| s.stems.contains(term)).count();
            let idf = (1.0 + n / df.max(1) as f32).ln();
            // A question word found nowhere (often filler: "bought", "long") counts half.
            if df == 0 {
                idf * ABSENT_TERM_WEIGHT
            } else {
                idf
            }
        };
        let weights: Vec<(&String, f32)> = question.iter().map(|t| (t, weight(t))).collect();
        let total: f32 = weights.iter().map(|(_, w)| w).sum();

        let mut scored: Vec<(f32, &Sentence<'_>)> = sentences
            .iter()
            .filter_map(|s| {
                let own: f32 = weights
                    .iter()
                    .filter(|(t, _)| s.stems.contains(*t))
                    .map(|(_, w)| w)
                    .sum();
                let from_title: f32 = weights
                    .iter()
                    .filter(|(t, _)| !s.stems.contains(*t) && s.title.contains(*t))
                    .map(|(_, w)| w * TITLE_TERM_WEIGHT)
                    .sum();
                let covered = own + from_title;
                let relevance = if total > 0.0 { covered / total } else { 0.0 };
                // A sentence must itself share a word with the question.
                (own > 0.0 && relevance >= self.config.min_relevance).then_some((relevance, s))
            })
            .collect();
        scored.sort_by(|(a, sa), (b, sb)| {
            b.total_cmp(a)
                .then(sb.passage.score.total_cmp(&sa.passage.score))
                .then(sa.passage.index.cmp(&sb.passage.index))
                .then(sa.position.cmp(&sb.position))
        });

        let best = scored.first().map_or(0.0, |(relevance, _)| *relevance);
        let mut quoted: Vec<&Sentence<'_>> = Vec::new();
        for (relevance, s) in scored {
            if quoted.len() == self.config.max_sentences || relevance < best * RELATIVE_CUTOFF {
                break;
            }
            if !quoted.iter().any(|q| q.text == s.text) {
                quoted.push(s);
            }
        }
        if quoted.is_empty() {
            return NOTHING_FOUND.to_owned();
        }
        let mut answer = String::from(FOUND_INTRO);
        answer.push('\n');
        for s in quoted {
            answer.push_str(&format!(
                "\n- \"{}\" [{}]",
                self.cut(&s.text),
                s.passage.index
            ));
        }
        answer
    }

    fn cut(&self, text: &str) -> String {
        let max = self.config.max_sentence_chars.max(1);
        match text.char_indices().nth(max) {
            Some((end, _)) => format!("{}…", text[..end].trim_end()),
            None => text.to_owned(),
        }
    }
}

#[async_trait]
impl AiProvider for OfflineAnswerer {
    fn name(&self) -> &str {
        "offline"
    }

    fn default_model(&self) -> &str {
        "extractive"
    }

    fn capabilities(&self) -> ProviderCapabilities {
        ProviderCapabilities::new(1_000_000, 4096, true, true)
    }

    async fn stream(&self, request: CompletionRequest) -> Result<CompletionStream, ProviderError> {
        let answer = self.compose(&request);
        let prompt_tokens = estimate_tokens(&request.system)
            .saturating_add(
                request
                    .messages
                    .iter()
                    .map(|m| estimate_tokens(&m.content))
                    .fold(0, u32::saturating_add),
            )
            .saturating_add(
                request
                    .passages
                    .iter()
                    .map(|p| estimate_tokens(&p.text))
                    .fold(0, u32::saturating_add),
            );
        let usage = TokenUsage::new(prompt_tokens, estimate_tokens(&answer));
        let mut items: Vec<Result<CompletionChunk, ProviderError>> = Vec::new();
        let chars: Vec<char> = answer.chars().collect();
        for piece in chars.chunks(self.config.delta_chars.max(1)) {
            items.push(Ok(CompletionChunk::Delta(piece.iter().collect())));
        }
        items.push(Ok(CompletionChunk::Usage(usage)));
        items.push(Ok(CompletionChunk::Finish(FinishReason::Stop)));
        Ok(futures::stream::iter(items).boxed())
    }
}
