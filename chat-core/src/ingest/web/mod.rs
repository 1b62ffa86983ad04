//! URL ingest: SSRF-guarded fetching, robots.txt, per-host rate limits, main-content
//! extraction, caching, chunking, and the [`UrlIngestor`] service that runs the pipeline
//! (DESIGN sections 5 and 12).
//!
//! Layers, bottom up:
//! - [`guard`]: the blocked address ranges and the [`AddressPolicy`];
//! - [`validate_url`], [`normalize`], [`url_hash`]: URL checks before any traffic, and the
//!   cache key;
//! - [`HostResolver`] and [`SocketGate`]: the hooks around the connector (tests inject a
//!   rebinding resolver and a loopback-only gate);
//! - [`WebFetcher`]: one guarded, polite GET with manual redirects and limits;
//! - [`charset`], [`extract`], [`chunk`]: bytes to text, main content, chunks;
//! - [`UrlIngestor`]: cache, document records, status events;
//! - with feature `js-render`: `JsRenderer` renders pages whose plain fetch yields almost no
//!   text in headless Chromium, every request of the browser going through a per-render proxy
//!   that applies the same guard (see the `render` and `proxy` modules for the design).
//!
//! Fetched text is untrusted: it reaches prompts fenced as data, never as instructions.

#[cfg(feature = "js-render")]
mod browser;
mod cache;
pub mod charset;
pub mod chunk;
mod client;
mod config;
#[cfg(feature = "documents")]
mod documents;
mod error;
pub mod extract;
mod fetch;
pub mod guard;
mod ingestor;
mod politeness;
#[cfg(feature = "js-render")]
mod proxy;
#[cfg(feature = "js-render")]
mod render;
mod resolve;
mod validate;

pub use cache::{CacheCounters, CacheOutcome, CacheStats};
pub use chunk::{PageChunk, chunk_text};
pub use config::WebConfig;
pub use error::WebError;
pub use extract::{ExtractedPage, PageMetadata, extract_html, extract_plain};
pub use fetch::{FetchOutcome, FetchedPage, FetchedPdf, Validators, WebFetcher, WebFetcherBuilder};
pub use guard::{AddressPolicy, blocked_range};
pub use ingestor::{
    LoadOutcome, LoadedPage, PdfHandoff, SubmittedUrl, URL_MEDIA_TYPE, UrlIngestor,
};
#[cfg(feature = "js-render")]
pub use proxy::BlockedRequest;
#[cfg(feature = "js-render")]
pub use render::{CLEANUP_TIMEOUT, JsRenderer, RenderConfig, RenderStats, RenderedPage};
pub use resolve::{HostResolver, LoopbackOnlyGate, SocketGate, SystemResolver};
pub use validate::{normalize, url_hash, validate_url};
