//! Cache of fetched web pages.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Metadata;
use crate::ids::TenantId;

/// Outcome cached for a URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
#[non_exhaustive]
pub enum UrlCacheStatus {
    /// Fetched and extracted.
    Ok,
    /// Failed (negative cache entry, kept for a short time).
    Failed {
        /// Stable error code.
        code: String,
        /// Human-readable reason.
        reason: String,
    },
}

/// A cached page, keyed by the SHA-256 of its normalized URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UrlCacheEntry {
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// SHA-256 of the normalized URL, lowercase hex.
    pub url_hash: String,
    /// The normalized URL.
    pub url: String,
    /// The URL after redirects.
    pub final_url: Option<String>,
    /// Page title.
    pub title: Option<String>,
    /// Extracted main text.
    pub text: String,
    /// Description, canonical URL, language, OpenGraph.
    pub metadata: Metadata,
    /// Entity tag for revalidation.
    pub etag: Option<String>,
    /// Last-Modified for revalidation.
    pub last_modified: Option<String>,
    /// Success or negative entry.
    pub status: UrlCacheStatus,
    /// Fetch time.
    pub fetched_at: DateTime<Utc>,
    /// Expiry time.
    pub expires_at: DateTime<Utc>,
}

impl UrlCacheEntry {
    /// A successful entry with empty text and metadata.
    pub fn new(
        tenant_id: TenantId,
        url_hash: impl Into<String>,
        url: impl Into<String>,
        fetched_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Self {
        Self {
            tenant_id,
            url_hash: url_hash.into(),
            url: url.into(),
            final_url: None,
            title: None,
            text: String::new(),
            metadata: Metadata::new(),
            etag: None,
            last_modified: None,
            status: UrlCacheStatus::Ok,
            fetched_at,
            expires_at,
        }
    }
}
