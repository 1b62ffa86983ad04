//! The page cache's counters and outcome names. The entries live in the store
//! ([`UrlCacheStore`](crate::store::UrlCacheStore)), keyed by the SHA-256 of the normalized URL.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// How a page was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CacheOutcome {
    /// Served from a fresh cache entry, without network traffic.
    Hit,
    /// Fetched (no entry, an expired one without validators, or a changed page).
    Miss,
    /// An expired entry confirmed by the server (HTTP 304) and extended.
    Revalidated,
}

impl CacheOutcome {
    /// The stable name (`hit`, `miss`, `revalidated`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hit => "hit",
            Self::Miss => "miss",
            Self::Revalidated => "revalidated",
        }
    }
}

/// A snapshot of the cache counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CacheCounters {
    /// Fresh entries served.
    pub hits: u64,
    /// Pages fetched.
    pub misses: u64,
    /// Entries confirmed with 304.
    pub revalidated: u64,
    /// Cached failures served (they also count as hits).
    pub negative_hits: u64,
}

/// Live counters, shared by the host (read) and the ingestor (write).
#[derive(Debug, Default)]
pub struct CacheStats {
    hits: AtomicU64,
    misses: AtomicU64,
    revalidated: AtomicU64,
    negative_hits: AtomicU64,
}

impl CacheStats {
    /// The current values.
    pub fn snapshot(&self) -> CacheCounters {
        CacheCounters {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            revalidated: self.revalidated.load(Ordering::Relaxed),
            negative_hits: self.negative_hits.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn count(&self, outcome: CacheOutcome) {
        let counter = match outcome {
            CacheOutcome::Hit => &self.hits,
            CacheOutcome::Miss => &self.misses,
            CacheOutcome::Revalidated => &self.revalidated,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_negative_hit(&self) {
        self.hits.fetch_add(1, Ordering::Relaxed);
        self.negative_hits.fetch_add(1, Ordering::Relaxed);
    }
}
