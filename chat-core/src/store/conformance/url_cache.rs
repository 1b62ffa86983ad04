//! Conformance cases of [`UrlCacheStore`](crate::store::UrlCacheStore).

use std::sync::Arc;

use super::{at, tenant};
use crate::ids::TenantId;
use crate::model::{Metadata, UrlCacheEntry, UrlCacheStatus};
use crate::store::ChatStore;

fn entry(t: &TenantId, hash: &str, expires: i64) -> UrlCacheEntry {
    UrlCacheEntry::new(
        t.clone(),
        hash,
        format!("https://example.com/{hash}"),
        at(0),
        at(expires),
    )
}

/// Entries round-trip with every field, are replaced by a later put, are read even when
/// expired, and are kept per tenant.
pub async fn round_trip(store: Arc<dyn ChatStore>) {
    let t = tenant("t-url");
    let mut page = entry(&t, "h1", 3600);
    page.final_url = Some("https://example.com/h1/".into());
    page.title = Some("Pricing".into());
    page.text = "Plans start at 10 EUR.".into();
    let mut metadata = Metadata::new();
    metadata.insert("description".into(), serde_json::json!("Our plans"));
    metadata.insert(
        "og:image".into(),
        serde_json::json!("https://example.com/i.png"),
    );
    page.metadata = metadata;
    page.etag = Some("\"abc\"".into());
    page.last_modified = Some("Wed, 21 Oct 2015 07:28:00 GMT".into());
    store.put_cached_url(page.clone()).await.unwrap();
    assert_eq!(
        store.get_cached_url(&t, "h1").await.unwrap(),
        Some(page.clone())
    );
    assert_eq!(store.get_cached_url(&t, "h2").await.unwrap(), None);
    let other = tenant("t-url-other");
    assert_eq!(store.get_cached_url(&other, "h1").await.unwrap(), None);

    let mut failed = entry(&t, "h1", 60);
    failed.status = UrlCacheStatus::Failed {
        code: "blocked_address".into(),
        reason: "resolves to 127.0.0.1".into(),
    };
    store.put_cached_url(failed.clone()).await.unwrap();
    assert_eq!(
        store.get_cached_url(&t, "h1").await.unwrap(),
        Some(failed.clone()),
        "a put replaces the entry"
    );

    let mut theirs = entry(&other, "h1", 7200);
    theirs.text = "another tenant's copy".into();
    store.put_cached_url(theirs.clone()).await.unwrap();
    assert_eq!(store.get_cached_url(&t, "h1").await.unwrap(), Some(failed));
    assert_eq!(
        store.get_cached_url(&other, "h1").await.unwrap(),
        Some(theirs)
    );
    // Expired entries are still returned (the caller revalidates them).
    let expired = entry(&t, "old", -10);
    store.put_cached_url(expired.clone()).await.unwrap();
    assert_eq!(
        store.get_cached_url(&t, "old").await.unwrap(),
        Some(expired)
    );
}

/// Purging removes the entries of every tenant that expired before `now`, and reports how many.
pub async fn purge_expired(store: Arc<dyn ChatStore>) {
    let a = tenant("t-url-purge-a");
    let b = tenant("t-url-purge-b");
    for (t, hash, expires) in [
        (&a, "a1", 10),
        (&a, "a2", 20),
        (&a, "a3", 30),
        (&b, "b1", 5),
        (&b, "b2", 40),
    ] {
        store.put_cached_url(entry(t, hash, expires)).await.unwrap();
    }
    assert_eq!(store.purge_expired_urls(at(0)).await.unwrap(), 0);
    assert_eq!(
        store.purge_expired_urls(at(20)).await.unwrap(),
        2,
        "a1 and b1 expired before 20; a2 expires at 20"
    );
    assert_eq!(store.get_cached_url(&a, "a1").await.unwrap(), None);
    assert_eq!(store.get_cached_url(&b, "b1").await.unwrap(), None);
    assert!(store.get_cached_url(&a, "a2").await.unwrap().is_some());
    assert_eq!(store.purge_expired_urls(at(35)).await.unwrap(), 2);
    assert!(store.get_cached_url(&b, "b2").await.unwrap().is_some());
    assert_eq!(store.purge_expired_urls(at(35)).await.unwrap(), 0);
    assert_eq!(store.purge_expired_urls(at(1000)).await.unwrap(), 1);
    assert_eq!(store.get_cached_url(&b, "b2").await.unwrap(), None);
}
