//! Cache of fetched pages (`chat_url_cache`), keyed by tenant and URL hash.

use async_trait::async_trait;
use chat_core::ids::TenantId;
use chat_core::model::UrlCacheEntry;
use chat_core::store::{StoreResult, UrlCacheStore};
use chrono::{DateTime, Utc};
use tokio_postgres::Row;

use crate::codec::{self, bound, external, from_json, get, json, stored_time};
use crate::error::PgResult;
use crate::store::PgStore;

fn entry_from_row(row: &Row) -> PgResult<UrlCacheEntry> {
    let mut entry = UrlCacheEntry::new(
        external(row, "tenant_id")?,
        get::<String>(row, "url_hash")?,
        get::<String>(row, "url")?,
        get(row, "fetched_at")?,
        get(row, "expires_at")?,
    );
    entry.final_url = get(row, "final_url")?;
    entry.title = get(row, "title")?;
    entry.text = get(row, "text")?;
    entry.metadata = from_json(row, "metadata")?;
    entry.etag = get(row, "etag")?;
    entry.last_modified = get(row, "last_modified")?;
    entry.status = from_json(row, "status")?;
    Ok(entry)
}

async fn put(store: &PgStore, entry: &UrlCacheEntry) -> PgResult<()> {
    let client = store.client().await?;
    codec::exec(
        &client,
        "INSERT INTO chat_url_cache (tenant_id, url_hash, url, final_url, title, text, metadata, etag,
             last_modified, status, fetched_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         ON CONFLICT (tenant_id, url_hash) DO UPDATE SET url = excluded.url, final_url = excluded.final_url,
             title = excluded.title, text = excluded.text, metadata = excluded.metadata, etag = excluded.etag,
             last_modified = excluded.last_modified, status = excluded.status,
             fetched_at = excluded.fetched_at, expires_at = excluded.expires_at",
        &[
            &entry.tenant_id.as_str(),
            &entry.url_hash,
            &entry.url,
            &entry.final_url,
            &entry.title,
            &entry.text,
            &json(&entry.metadata),
            &entry.etag,
            &entry.last_modified,
            &json(&entry.status),
            &stored_time(entry.fetched_at)?,
            &stored_time(entry.expires_at)?,
        ],
    )
    .await?;
    Ok(())
}

#[async_trait]
impl UrlCacheStore for PgStore {
    async fn get_cached_url(
        &self,
        tenant: &TenantId,
        url_hash: &str,
    ) -> StoreResult<Option<UrlCacheEntry>> {
        self.run(|| async move {
            let client = self.client().await?;
            codec::first(
                &client,
                "SELECT tenant_id, url_hash, url, final_url, title, text, metadata, etag, last_modified, status,
                     fetched_at, expires_at
                 FROM chat_url_cache WHERE tenant_id = $1 AND url_hash = $2",
                &[&tenant.as_str(), &url_hash],
                entry_from_row,
            )
            .await
        })
        .await
    }

    async fn put_cached_url(&self, entry: UrlCacheEntry) -> StoreResult<()> {
        self.run(|| put(self, &entry)).await
    }

    async fn purge_expired_urls(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let now = bound(now);
        self.run(|| async move {
            let client = self.client().await?;
            // Every tenant at once, by design of the trait (a maintenance sweep).
            codec::exec(
                &client,
                "DELETE FROM chat_url_cache WHERE expires_at < $1",
                &[&now],
            )
            .await
        })
        .await
    }
}
