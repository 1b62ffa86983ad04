//! Engine limits and settings.

use serde::{Deserialize, Serialize};

/// Limits of the engine. Every limit is a named setting; the defaults are in the table below.
///
/// | setting | default | what |
/// |---|---|---|
/// | `max_message_bytes` | 16 KiB | longest message content (UTF-8 bytes) |
/// | `max_client_msg_id_len` | 128 | longest idempotency key |
/// | `max_title_len` | 200 | longest session title (bytes) |
/// | `default_page_size` | 50 | messages per page when the caller gives no limit |
/// | `max_page_size` | 200 | most messages per page |
/// | `replay_batch` | 256 | messages read per store call while a subscriber catches up |
/// | `max_article_bytes` | 1 MiB | longest KB article body or FAQ answer |
/// | `max_article_title_len` | 500 | longest KB article title or FAQ question |
/// | `max_tags` | 32 | most tags per article |
/// | `max_search_results` | 50 | most results of a knowledge search |
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct EngineConfig {
    /// Longest message content in bytes.
    pub max_message_bytes: usize,
    /// Longest `client_msg_id`.
    pub max_client_msg_id_len: usize,
    /// Longest session title in bytes.
    pub max_title_len: usize,
    /// Default message page size.
    pub default_page_size: u32,
    /// Largest message page size.
    pub max_page_size: u32,
    /// Messages read per store call during catch-up.
    pub replay_batch: u32,
    /// Longest KB body / FAQ answer in bytes.
    pub max_article_bytes: usize,
    /// Longest KB title / FAQ question in bytes.
    pub max_article_title_len: usize,
    /// Most tags per article.
    pub max_tags: usize,
    /// Most results of a knowledge search.
    pub max_search_results: u32,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            max_message_bytes: 16 * 1024,
            max_client_msg_id_len: 128,
            max_title_len: 200,
            default_page_size: 50,
            max_page_size: 200,
            replay_batch: 256,
            max_article_bytes: 1024 * 1024,
            max_article_title_len: 500,
            max_tags: 32,
            max_search_results: 50,
        }
    }
}

impl EngineConfig {
    /// Sets the longest message content in bytes.
    pub fn max_message_bytes(mut self, bytes: usize) -> Self {
        self.max_message_bytes = bytes;
        self
    }
    /// Sets the largest message page.
    pub fn max_page_size(mut self, size: u32) -> Self {
        self.max_page_size = size.max(1);
        self
    }
    /// Sets the catch-up batch size.
    pub fn replay_batch(mut self, batch: u32) -> Self {
        self.replay_batch = batch.max(1);
        self
    }
}
