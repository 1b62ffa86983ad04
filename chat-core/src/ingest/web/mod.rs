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
//! - [`UrlIngestor`]: cache, document records, status events.
//!
//! Fetched text is untrusted: it reaches prompts fenced as data, never as instructions.

mod cache;
pub mod charset;
pub mod chunk;
mod client;
mod config;
mod error;
pub mod extract;
mod fetch;
pub mod guard;
mod ingestor;
mod politeness;
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
pub use resolve::{HostResolver, LoopbackOnlyGate, SocketGate, SystemResolver};
pub use validate::{normalize, url_hash, validate_url};
