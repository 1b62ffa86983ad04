//! [`UrlCacheStore`] of the in-memory store.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::MemoryStore;
use crate::ids::TenantId;
use crate::model::UrlCacheEntry;
use crate::store::{StoreResult, UrlCacheStore};

#[async_trait]
impl UrlCacheStore for MemoryStore {
    async fn get_cached_url(
        &self,
        tenant: &TenantId,
        url_hash: &str,
    ) -> StoreResult<Option<UrlCacheEntry>> {
        let state = self.read();
        Ok(state
            .tenant(tenant)
            .and_then(|d| d.url_cache.get(url_hash))
            .cloned())
    }

    async fn put_cached_url(&self, entry: UrlCacheEntry) -> StoreResult<()> {
        let mut state = self.write();
        state
            .tenant_mut(&entry.tenant_id)
            .url_cache
            .insert(entry.url_hash.clone(), entry);
        Ok(())
    }

    async fn purge_expired_urls(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let mut state = self.write();
        let mut removed = 0_u64;
        for data in state.tenants.values_mut() {
            let before = data.url_cache.len();
            data.url_cache.retain(|_, entry| entry.expires_at >= now);
            removed += u64::try_from(before - data.url_cache.len()).unwrap_or(u64::MAX);
        }
        Ok(removed)
    }
}
