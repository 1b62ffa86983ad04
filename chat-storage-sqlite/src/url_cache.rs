//! Cache of fetched pages (`chat_url_cache`), keyed by tenant and URL hash.

use async_trait::async_trait;
use chat_core::ids::TenantId;
use chat_core::model::UrlCacheEntry;
use chat_core::store::{StoreResult, UrlCacheStore};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, Row, params};

use crate::codec::{bound_nanos, external, from_json, json, nanos, time};
use crate::error::SqliteResult;
use crate::query;
use crate::store::SqliteStore;

fn entry_from_row(row: &Row<'_>) -> rusqlite::Result<UrlCacheEntry> {
    let mut entry = UrlCacheEntry::new(
        external(row, "tenant_id")?,
        row.get::<_, String>("url_hash")?,
        row.get::<_, String>("url")?,
        time(row, "fetched_at")?,
        time(row, "expires_at")?,
    );
    entry.final_url = row.get("final_url")?;
    entry.title = row.get("title")?;
    entry.text = row.get("text")?;
    entry.metadata = from_json(row, "metadata")?;
    entry.etag = row.get("etag")?;
    entry.last_modified = row.get("last_modified")?;
    entry.status = from_json(row, "status")?;
    Ok(entry)
}

fn get(
    conn: &Connection,
    tenant: &TenantId,
    url_hash: &str,
) -> SqliteResult<Option<UrlCacheEntry>> {
    query::first(
        conn,
        "SELECT tenant_id, url_hash, url, final_url, title, text, metadata, etag, last_modified, status,
             fetched_at, expires_at
         FROM chat_url_cache WHERE tenant_id = ?1 AND url_hash = ?2",
        params![tenant.as_str(), url_hash],
        entry_from_row,
    )
}

fn put(conn: &Connection, entry: &UrlCacheEntry) -> SqliteResult<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO chat_url_cache (tenant_id, url_hash, url, final_url, title, text, metadata, etag,
             last_modified, status, fetched_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        entry.tenant_id.as_str(),
        entry.url_hash,
        entry.url,
        entry.final_url,
        entry.title,
        entry.text,
        json(&entry.metadata)?,
        entry.etag,
        entry.last_modified,
        json(&entry.status)?,
        nanos(entry.fetched_at)?,
        nanos(entry.expires_at)?,
    ])?;
    Ok(())
}

fn purge(conn: &Connection, now: DateTime<Utc>) -> SqliteResult<u64> {
    // Every tenant at once, by design of the trait (a maintenance sweep).
    let removed = conn
        .prepare_cached("DELETE FROM chat_url_cache WHERE expires_at < ?1")?
        .execute(params![bound_nanos(now)])?;
    Ok(u64::try_from(removed).unwrap_or(u64::MAX))
}

#[async_trait]
impl UrlCacheStore for SqliteStore {
    async fn get_cached_url(
        &self,
        tenant: &TenantId,
        url_hash: &str,
    ) -> StoreResult<Option<UrlCacheEntry>> {
        let (tenant, url_hash) = (tenant.clone(), url_hash.to_owned());
        self.read(move |conn| get(conn, &tenant, &url_hash)).await
    }

    async fn put_cached_url(&self, entry: UrlCacheEntry) -> StoreResult<()> {
        self.write(move |conn| put(conn, &entry)).await
    }

    async fn purge_expired_urls(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        self.write(move |conn| purge(conn, now)).await
    }
}
