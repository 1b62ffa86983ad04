//! [`UrlIngestor`]: the URL pipeline as a service. validate -> check cache -> fetch ->
//! extract -> chunk -> index -> ready, with the status persisted on the URL's document record,
//! durable statuses (pending, ready, failed) recorded as system messages (they take a `seq` and
//! replay), and progress published as ephemeral `url_status` events.
//!
//! A submitted URL is a [`ChatDocument`] with `source_url` set and the SHA-256 of the
//! normalized URL as its `sha256`, so the store's per-session deduplication makes a second
//! submission of the same URL return the first record instead of processing it again.
//! Processing runs on a spawned task, off the caller's request path, at most
//! `max_concurrent_jobs` at once.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;
use serde_json::Value;
use tokio::sync::Semaphore;
use url::Url;

use super::cache::{CacheCounters, CacheOutcome, CacheStats};
use super::charset::decode;
use super::chunk::{PageChunk, chunk_text};
use super::config::WebConfig;
use super::error::WebError;
use super::extract::{ExtractedPage, extract_html, extract_plain};
use super::fetch::{FetchOutcome, FetchedPage, FetchedPdf, Validators, WebFetcher};
use super::validate::{host_label, normalize, url_hash};
use crate::bus::{ChatEvent, EventBus, EventKind, Topic};
use crate::ids::{SessionId, TenantId};
use crate::model::{
    ChatDocument, ChunkLocator, DocumentChunk, DocumentStatus, Metadata, NewDocument, NewMessage,
    SessionPatch, SystemEvent, UrlCacheEntry, UrlCacheStatus,
};
use crate::store::{ChatStore, DocumentPatch};

/// Media type recorded for submitted URLs.
pub const URL_MEDIA_TYPE: &str = "text/html";
/// Longest display name of a URL document, in characters.
const MAX_DISPLAY_NAME_CHARS: usize = 200;

/// Takes PDFs that URLs lead to: the document pipeline's entry for fetched bytes.
#[async_trait]
pub trait PdfHandoff: Send + Sync + Debug + 'static {
    /// Extracts a PDF fetched for `document` into chunks (with page locators); the ingestor
    /// stores them and marks the document ready.
    ///
    /// Errors: the PDF cannot be read (encrypted, corrupt, image only...).
    async fn extract_pdf(
        &self,
        document: &ChatDocument,
        pdf: FetchedPdf,
    ) -> Result<Vec<DocumentChunk>, WebError>;
}

/// A page ready for chunking: from the cache or freshly fetched and extracted.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct LoadedPage {
    /// The normalized URL.
    pub url: String,
    /// The URL after redirects.
    pub final_url: String,
    /// Title.
    pub title: Option<String>,
    /// Main text (light Markdown; untrusted).
    pub text: String,
    /// Description, canonical URL, language, OpenGraph, media type, charset.
    pub metadata: Metadata,
    /// Where it came from.
    pub cache: CacheOutcome,
}

/// What [`UrlIngestor::load`] produced.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum LoadOutcome {
    /// An HTML or text page.
    Page(LoadedPage),
    /// A PDF, for the document pipeline.
    Pdf(FetchedPdf),
}

/// Result of [`UrlIngestor::submit`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SubmittedUrl {
    /// The URL's document record.
    pub document: ChatDocument,
    /// False when the session already had this URL (nothing new is processed).
    pub created: bool,
}

/// The URL ingest service.
#[derive(Debug)]
pub struct UrlIngestor {
    store: Arc<dyn ChatStore>,
    bus: Arc<dyn EventBus>,
    fetcher: Arc<WebFetcher>,
    pdf: Option<Arc<dyn PdfHandoff>>,
    stats: CacheStats,
    jobs: Arc<Semaphore>,
    #[cfg(feature = "js-render")]
    renderer: Option<Arc<super::render::JsRenderer>>,
}

impl UrlIngestor {
    /// An ingestor with its own [`WebFetcher`] for `config` (system resolver, no socket gate).
    ///
    /// Errors: as [`WebFetcher`]'s builder.
    pub fn new(
        store: Arc<dyn ChatStore>,
        bus: Arc<dyn EventBus>,
        config: WebConfig,
    ) -> Result<Self, WebError> {
        let fetcher = WebFetcher::builder(config).build()?;
        Ok(Self::with_fetcher(store, bus, Arc::new(fetcher)))
    }

    /// An ingestor around a configured fetcher (custom resolver or socket gate).
    pub fn with_fetcher(
        store: Arc<dyn ChatStore>,
        bus: Arc<dyn EventBus>,
        fetcher: Arc<WebFetcher>,
    ) -> Self {
        let jobs = Arc::new(Semaphore::new(fetcher.config().max_concurrent_jobs.max(1)));
        Self {
            store,
            bus,
            fetcher,
            pdf: None,
            stats: CacheStats::default(),
            jobs,
            #[cfg(feature = "js-render")]
            renderer: None,
        }
    }

    /// Renders HTML pages whose plain fetch yields fewer than `js_render_min_chars` characters
    /// of text with headless Chromium (feature `js-render`), through this ingestor's fetcher
    /// (same guard, resolver and socket gate); the rendered DOM goes through the same
    /// extraction. When rendering fails, the plain result stands (or, without text, the
    /// rendering error is the URL's error). The browser starts on the first render.
    #[cfg(feature = "js-render")]
    pub fn js_render(mut self, config: super::render::RenderConfig) -> Self {
        let renderer = super::render::JsRenderer::new(Arc::clone(&self.fetcher), config);
        self.renderer = Some(Arc::new(renderer));
        self
    }

    /// The JavaScript renderer, when [`js_render`](Self::js_render) set one.
    #[cfg(feature = "js-render")]
    pub fn renderer(&self) -> Option<&Arc<super::render::JsRenderer>> {
        self.renderer.as_ref()
    }

    /// Hands PDFs to the document pipeline (without it, PDF links fail with
    /// `unsupported_media_type`).
    pub fn pdf_handoff(mut self, handoff: Arc<dyn PdfHandoff>) -> Self {
        self.pdf = Some(handoff);
        self
    }

    /// The fetcher.
    pub fn fetcher(&self) -> &Arc<WebFetcher> {
        &self.fetcher
    }

    /// The cache counters.
    pub fn cache_counters(&self) -> CacheCounters {
        self.stats.snapshot()
    }

    /// Deletes expired cache entries (of every tenant); returns how many. Hosts call this
    /// periodically.
    ///
    /// Errors: `Store`.
    pub async fn purge_expired_cache(&self) -> Result<u64, WebError> {
        Ok(self.store.purge_expired_urls(Utc::now()).await?)
    }

    /// Validates the URL, records it as a pending document of the session and starts
    /// processing it in the background. A URL the session already has returns its record
    /// (`created == false`) and starts nothing.
    ///
    /// Errors: the validation errors of [`WebFetcher::validate`]; `Store` (`NotFound` when the
    /// session is missing).
    pub async fn submit(
        self: &Arc<Self>,
        tenant: &TenantId,
        session: SessionId,
        raw_url: &str,
    ) -> Result<SubmittedUrl, WebError> {
        let url = self.fetcher.validate(raw_url)?;
        let normalized = normalize(&url);
        let new = NewDocument::new(
            tenant.clone(),
            session,
            display_name(&url),
            URL_MEDIA_TYPE,
            0,
            url_hash(&url),
        )
        .source_url(normalized.clone());
        let inserted = self.store.insert_document(new).await?;
        let document = inserted.value;
        if inserted.created {
            self.record_status(&document, &normalized, DocumentStatus::Pending)
                .await?;
            let this = Arc::clone(self);
            let job = document.clone();
            tokio::spawn(async move { this.run_job(job, url).await });
        }
        Ok(SubmittedUrl {
            document,
            created: inserted.created,
        })
    }

    /// Validate, check the cache, fetch and extract: the pipeline up to chunking, without a
    /// document record (the command-line example and [`submit`](Self::submit) use it).
    ///
    /// Errors: every [`WebError`] of validation, fetching and extraction; `CachedFailure` while
    /// a recent failure is cached.
    pub async fn load(&self, tenant: &TenantId, url: &Url) -> Result<LoadOutcome, WebError> {
        let hash = url_hash(url);
        let now = Utc::now();
        let cached = self.store.get_cached_url(tenant, &hash).await?;
        let mut validators = None;
        if let Some(entry) = &cached {
            match &entry.status {
                UrlCacheStatus::Failed { code, reason } if entry.expires_at > now => {
                    self.stats.count_negative_hit();
                    return Err(WebError::CachedFailure {
                        code: code.clone(),
                        reason: reason.clone(),
                    });
                }
                UrlCacheStatus::Ok if entry.expires_at > now => {
                    self.stats.count(CacheOutcome::Hit);
                    return Ok(LoadOutcome::Page(page_from_entry(entry, CacheOutcome::Hit)));
                }
                UrlCacheStatus::Ok => {
                    let v = Validators::new(entry.etag.clone(), entry.last_modified.clone());
                    validators = (!v.is_empty()).then_some(v);
                }
                _ => {}
            }
        }
        let fetched = self.fetcher.fetch(url, validators.as_ref()).await;
        let outcome = match fetched {
            Ok(FetchOutcome::NotModified {
                final_url,
                etag,
                last_modified,
            }) => match cached {
                Some(mut entry) => {
                    entry.final_url = Some(final_url);
                    entry.etag = etag.or(entry.etag);
                    entry.last_modified = last_modified.or(entry.last_modified);
                    entry.fetched_at = now;
                    entry.expires_at = now + ttl(self.fetcher.config().cache_ttl);
                    self.store.put_cached_url(entry.clone()).await?;
                    self.stats.count(CacheOutcome::Revalidated);
                    return Ok(LoadOutcome::Page(page_from_entry(
                        &entry,
                        CacheOutcome::Revalidated,
                    )));
                }
                None => Err(WebError::Protocol("304 without a cached copy".into())),
            },
            Ok(FetchOutcome::Pdf(pdf)) => {
                self.stats.count(CacheOutcome::Miss);
                return Ok(LoadOutcome::Pdf(pdf));
            }
            Ok(FetchOutcome::Page(page)) => self.extract_page(tenant, url, page).await,
            Err(err) => Err(err),
        };
        self.stats.count(CacheOutcome::Miss);
        match outcome {
            Ok((entry, page)) => {
                self.store.put_cached_url(entry).await?;
                Ok(LoadOutcome::Page(page))
            }
            Err(err) => {
                if err.is_cacheable_failure() {
                    let mut entry = UrlCacheEntry::new(
                        tenant.clone(),
                        hash,
                        normalize(url),
                        now,
                        now + ttl(self.fetcher.config().negative_cache_ttl),
                    );
                    entry.status = UrlCacheStatus::Failed {
                        code: err.code().to_owned(),
                        reason: err.to_string(),
                    };
                    self.store.put_cached_url(entry).await?;
                }
                Err(err)
            }
        }
    }

    /// Extracts a fetched page; with a renderer, an HTML page with too little text is rendered
    /// and extracted again.
    async fn extract_page(
        &self,
        tenant: &TenantId,
        url: &Url,
        fetched: FetchedPage,
    ) -> Result<(UrlCacheEntry, LoadedPage), WebError> {
        #[cfg(feature = "js-render")]
        if let Some(renderer) = &self.renderer {
            if fetched.media_type != "text/plain" {
                return self.extract_or_render(renderer, tenant, url, fetched).await;
            }
        }
        self.extract(tenant, url, fetched).await
    }

    #[cfg(feature = "js-render")]
    async fn extract_or_render(
        &self,
        renderer: &super::render::JsRenderer,
        tenant: &TenantId,
        url: &Url,
        fetched: FetchedPage,
    ) -> Result<(UrlCacheEntry, LoadedPage), WebError> {
        let min_chars = self.fetcher.config().js_render_min_chars;
        let plain = self.extract(tenant, url, fetched.clone()).await;
        let plain_chars = match &plain {
            Ok((_, page)) => page.text.chars().count(),
            Err(WebError::NoContent) => 0,
            Err(_) => return plain,
        };
        if plain_chars >= min_chars {
            return plain;
        }
        let target = Url::parse(&fetched.final_url).unwrap_or_else(|_| url.clone());
        let rendered = match renderer.render(&target).await {
            Ok(rendered) => rendered,
            Err(err) => {
                tracing::info!(code = err.code(), error = %err, "rendering failed; the plain fetch stands");
                return if plain_chars > 0 { plain } else { Err(err) };
            }
        };
        let page = FetchedPage {
            final_url: rendered.final_url,
            media_type: "text/html".into(),
            charset: Some("utf-8".into()),
            body: rendered.html.into_bytes(),
            ..fetched
        };
        match self.extract(tenant, url, page).await {
            Ok((mut entry, mut page)) if page.text.chars().count() > plain_chars => {
                page.metadata.insert("rendered".into(), Value::Bool(true));
                entry.metadata = page.metadata.clone();
                Ok((entry, page))
            }
            Err(err) if plain_chars == 0 => Err(err),
            _ => plain,
        }
    }

    /// Decodes and extracts a fetched page on a blocking thread (parsing megabytes of HTML
    /// must not stall the async workers); returns the cache entry and the page.
    async fn extract(
        &self,
        tenant: &TenantId,
        url: &Url,
        fetched: FetchedPage,
    ) -> Result<(UrlCacheEntry, LoadedPage), WebError> {
        let max_text = self.fetcher.config().max_text_bytes;
        let base = Url::parse(&fetched.final_url).ok();
        let tld = base
            .as_ref()
            .and_then(|u| u.domain())
            .and_then(|d| d.rsplit('.').next())
            .map(str::to_owned);
        let media_type = fetched.media_type.clone();
        let header_charset = fetched.charset.clone();
        let body = fetched.body;
        let (extracted, charset) = tokio::task::spawn_blocking(move || {
            let is_html = media_type != "text/plain";
            let (text, charset, _) =
                decode(&body, header_charset.as_deref(), is_html, tld.as_deref());
            let page = if is_html {
                extract_html(&text, base.as_ref(), max_text)
            } else {
                extract_plain(&text, max_text)
            };
            (page, charset)
        })
        .await
        .map_err(|e| WebError::Protocol(format!("extraction task failed: {e}")))?;
        let ExtractedPage {
            title,
            text,
            metadata,
            ..
        } = extracted;
        if text.trim().is_empty() {
            return Err(WebError::NoContent);
        }
        let mut meta = metadata.to_json();
        meta.insert("media_type".into(), Value::String(fetched.media_type));
        meta.insert("charset".into(), Value::String(charset.to_owned()));
        let now = Utc::now();
        let mut entry = UrlCacheEntry::new(
            tenant.clone(),
            url_hash(url),
            normalize(url),
            now,
            now + ttl(self.fetcher.config().cache_ttl),
        );
        entry.final_url = Some(fetched.final_url.clone());
        entry.title = title.clone();
        entry.text = text.clone();
        entry.metadata = meta.clone();
        entry.etag = fetched.etag;
        entry.last_modified = fetched.last_modified;
        let page = LoadedPage {
            url: normalize(url),
            final_url: fetched.final_url,
            title,
            text,
            metadata: meta,
            cache: CacheOutcome::Miss,
        };
        Ok((entry, page))
    }

    /// Chunks a loaded page with the configured sizes.
    pub fn chunk(&self, page: &LoadedPage) -> Vec<PageChunk> {
        let config = self.fetcher.config();
        chunk_text(
            &page.text,
            config.chunk_target_tokens,
            config.chunk_overlap_tokens,
            config.max_chunks,
        )
    }

    async fn run_job(self: Arc<Self>, document: ChatDocument, url: Url) {
        let started = Instant::now();
        let normalized = normalize(&url);
        let outcome = match Arc::clone(&self.jobs).acquire_owned().await {
            Ok(_permit) => self.process(&document, &url, &normalized).await,
            Err(_) => Err(WebError::Protocol("the ingestor is shutting down".into())),
        };
        let status = match &outcome {
            Ok(()) => DocumentStatus::Ready,
            Err(err) => DocumentStatus::Failed {
                code: err.code().to_owned(),
                reason: err.to_string(),
            },
        };
        tracing::info!(
            document_id = %document.id,
            session_id = %document.session_id,
            host = %host_label(&url),
            outcome = status.as_str(),
            elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "url ingest job finished"
        );
        if let Err(err) = &outcome {
            // The final status must not be lost when an earlier step failed on the store.
            let patch = DocumentPatch::default().status(status.clone());
            if let Err(store_err) = self
                .store
                .update_document(&document.tenant_id, document.id, patch)
                .await
            {
                tracing::warn!(error = %store_err, "cannot record the failed URL status");
            }
            tracing::debug!(error = %err, "url ingest failed");
        }
        if let Err(err) = self.record_status(&document, &normalized, status).await {
            tracing::warn!(error = %err, "cannot record the URL status message");
        }
    }

    async fn process(
        &self,
        document: &ChatDocument,
        url: &Url,
        normalized: &str,
    ) -> Result<(), WebError> {
        self.progress(document, normalized, 10).await?;
        let chunks = match self.load(&document.tenant_id, url).await? {
            LoadOutcome::Page(page) => {
                self.progress(document, normalized, 60).await?;
                let chunks: Vec<DocumentChunk> = self
                    .chunk(&page)
                    .into_iter()
                    .zip(0u32..)
                    .map(|(chunk, ordinal)| {
                        DocumentChunk::new(
                            document.tenant_id.clone(),
                            document.session_id,
                            document.id,
                            ordinal,
                            chunk.text,
                            Some(ChunkLocator::Heading { path: chunk.path }),
                        )
                    })
                    .collect();
                let mut metadata = page.metadata;
                if let Some(title) = page.title {
                    metadata.insert("title".into(), Value::String(title));
                }
                metadata.insert("final_url".into(), Value::String(page.final_url));
                metadata.insert("cache".into(), Value::String(page.cache.as_str().into()));
                self.store
                    .update_document(
                        &document.tenant_id,
                        document.id,
                        DocumentPatch::default().metadata(metadata),
                    )
                    .await?;
                chunks
            }
            LoadOutcome::Pdf(pdf) => match &self.pdf {
                Some(handoff) => handoff.extract_pdf(document, pdf).await?,
                None => return Err(WebError::PdfNotHandled),
            },
        };
        if chunks.is_empty() {
            return Err(WebError::NoContent);
        }
        self.progress(document, normalized, 90).await?;
        self.store
            .replace_chunks(&document.tenant_id, document.id, chunks)
            .await?;
        self.store
            .update_document(
                &document.tenant_id,
                document.id,
                DocumentPatch::default().status(DocumentStatus::Ready),
            )
            .await?;
        Ok(())
    }

    /// Persists a `processing` status and publishes it as an ephemeral event.
    async fn progress(
        &self,
        document: &ChatDocument,
        url: &str,
        progress: u8,
    ) -> Result<(), WebError> {
        let status = DocumentStatus::Processing { progress };
        self.store
            .update_document(
                &document.tenant_id,
                document.id,
                DocumentPatch::default().status(status.clone()),
            )
            .await?;
        let kind = EventKind::UrlStatus {
            document_id: document.id,
            url: url.to_owned(),
            status,
            message: None,
        };
        let event = ChatEvent::ephemeral(document.tenant_id.clone(), document.session_id, kind);
        self.publish(document, event).await;
        Ok(())
    }

    /// Records a durable status as a system message (it takes a `seq`) and publishes it.
    async fn record_status(
        &self,
        document: &ChatDocument,
        url: &str,
        status: DocumentStatus,
    ) -> Result<(), WebError> {
        let content = match &status {
            DocumentStatus::Pending => format!("Reading {url}"),
            DocumentStatus::Ready => format!("Read {url}"),
            DocumentStatus::Failed { reason, .. } => format!("Could not read {url}: {reason}"),
            DocumentStatus::Processing { progress } => format!("Reading {url} ({progress}%)"),
        };
        let event = SystemEvent::UrlStatus {
            document_id: document.id,
            url: url.to_owned(),
            status,
        };
        let record = NewMessage::system(
            document.tenant_id.clone(),
            document.session_id,
            content,
            event,
        );
        let (_, message) = self
            .store
            .update_session(
                &document.tenant_id,
                document.session_id,
                SessionPatch::default(),
                Some(record),
            )
            .await?;
        if let Some(message) = message {
            self.publish(document, ChatEvent::durable(message)).await;
        }
        Ok(())
    }

    async fn publish(&self, document: &ChatDocument, event: ChatEvent) {
        let topic = Topic::session(document.tenant_id.clone(), document.session_id);
        if let Err(err) = self.bus.publish(&topic, Arc::new(event)).await {
            tracing::warn!(error = %err, "url status publication failed; subscribers catch up from the store");
        }
    }
}

fn ttl(duration: Duration) -> chrono::TimeDelta {
    chrono::TimeDelta::from_std(duration).unwrap_or(chrono::TimeDelta::MAX)
}

fn page_from_entry(entry: &UrlCacheEntry, cache: CacheOutcome) -> LoadedPage {
    LoadedPage {
        url: entry.url.clone(),
        final_url: entry.final_url.clone().unwrap_or_else(|| entry.url.clone()),
        title: entry.title.clone(),
        text: entry.text.clone(),
        metadata: entry.metadata.clone(),
        cache,
    }
}

/// Host and path, for display.
fn display_name(url: &Url) -> String {
    let name = format!("{}{}", host_label(url), url.path());
    match name.char_indices().nth(MAX_DISPLAY_NAME_CHARS) {
        Some((i, _)) => name[..i].to_owned(),
        None => name,
    }
}
