//! The URL ingest error: one variant per way a URL can be refused or fail, each with a stable
//! [`code`](WebError::code) that reaches clients in `url_status` events and the example's output.

use std::net::IpAddr;
use std::time::Duration;

use crate::store::StoreError;

/// Error of URL validation, fetching, extraction and caching.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebError {
    /// The text is not an absolute URL.
    #[error("not a valid URL: {0}")]
    InvalidUrl(String),
    /// The URL is longer than `max_url_len`.
    #[error("URL is {len} bytes long; the limit is {max}")]
    UrlTooLong {
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Only `http` and `https` are fetched.
    #[error("scheme `{0}` is not allowed; only http and https are")]
    SchemeNotAllowed(String),
    /// User name or password in the URL.
    #[error("URLs with credentials are not allowed")]
    CredentialsInUrl,
    /// A port other than the default ones (and the configured extra ones).
    #[error("port {0} is not allowed")]
    PortNotAllowed(u16),
    /// The host is, or resolves to, an address in a blocked range (SSRF guard).
    #[error("{host} is or resolves to a blocked address ({addr}: {range})")]
    BlockedAddress {
        /// The host as written in the URL.
        host: String,
        /// The refused address.
        addr: IpAddr,
        /// Name of the blocked range (`loopback`, `private`, `link-local`, ...).
        range: &'static str,
    },
    /// The socket gate (a test or deployment hook) refused the connection.
    #[error("connection to {0} refused by the socket gate")]
    GateRefused(std::net::SocketAddr),
    /// The host name could not be resolved, or resolved to nothing.
    #[error("cannot resolve {host}: {message}")]
    Resolve {
        /// The host.
        host: String,
        /// Why.
        message: String,
    },
    /// The TCP connection failed.
    #[error("cannot connect to {host}: {message}")]
    Connect {
        /// The host.
        host: String,
        /// Why.
        message: String,
    },
    /// The TLS handshake failed.
    #[error("TLS handshake with {host} failed: {message}")]
    Tls {
        /// The host.
        host: String,
        /// Why.
        message: String,
    },
    /// The server broke the HTTP protocol, or the connection dropped mid-response.
    #[error("HTTP error: {0}")]
    Protocol(String),
    /// A time limit ran out.
    #[error("{phase} timed out after {after:?}")]
    Timeout {
        /// What was running (`connect`, `fetch`).
        phase: &'static str,
        /// The limit.
        after: Duration,
    },
    /// The body is larger than `max_body_bytes`.
    #[error("the page is larger than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// More redirects than `max_redirects`.
    #[error("more than {max} redirects")]
    TooManyRedirects {
        /// The limit.
        max: usize,
    },
    /// A redirect leads back to a URL already visited.
    #[error("redirect loop at {0}")]
    RedirectLoop(String),
    /// A redirect without a usable `Location`.
    #[error("bad redirect: {0}")]
    BadRedirect(String),
    /// robots.txt of the site disallows the URL for our user agent.
    #[error("robots.txt disallows {0}")]
    RobotsDisallowed(String),
    /// The server answered with an error status.
    #[error("the server answered HTTP {status}")]
    HttpStatus {
        /// The status code.
        status: u16,
    },
    /// The content type is not one the pipeline reads.
    #[error("content type `{0}` is not supported")]
    UnsupportedContentType(String),
    /// The per-host rate limit would make the request wait past its deadline.
    #[error("rate limited for {host}; retry in {retry_after:?}")]
    RateLimited {
        /// The host.
        host: String,
        /// When a slot is free.
        retry_after: Duration,
    },
    /// The page has no readable text.
    #[error("the page has no readable text")]
    NoContent,
    /// The URL failed recently and the failure is still cached (negative cache).
    #[error("{reason} (cached failure)")]
    CachedFailure {
        /// Code of the original failure.
        code: String,
        /// Its message.
        reason: String,
    },
    /// The URL is a PDF and no document pipeline is configured to take it.
    #[error("the URL is a PDF; PDF links need the document pipeline, which is not configured")]
    PdfNotHandled,
    /// Storage failed.
    #[error("storage failed: {0}")]
    Store(#[from] StoreError),
    /// The TLS client could not be set up.
    #[error("TLS setup failed: {0}")]
    TlsSetup(String),
    /// JavaScript rendering failed in the browser (feature `js-render`): Chromium could not be
    /// started, crashed, or the page could not be loaded or read.
    #[error("rendering failed: {0}")]
    Render(String),
    /// The document pipeline could not read a linked PDF (encrypted, corrupt, image only...).
    #[error("the linked PDF cannot be read: {message}")]
    Document {
        /// The document pipeline's code (`encrypted`, `corrupt`, `timeout`, ...).
        code: String,
        /// Its message.
        message: String,
    },
}

impl WebError {
    /// The stable machine-readable code.
    pub fn code(&self) -> &str {
        match self {
            Self::InvalidUrl(_) => "invalid_url",
            Self::UrlTooLong { .. } => "url_too_long",
            Self::SchemeNotAllowed(_) => "scheme_not_allowed",
            Self::CredentialsInUrl => "credentials_in_url",
            Self::PortNotAllowed(_) => "port_not_allowed",
            Self::BlockedAddress { .. } => "blocked_address",
            Self::GateRefused(_) => "gate_refused",
            Self::Resolve { .. } => "dns_failed",
            Self::Connect { .. } => "connect_failed",
            Self::Tls { .. } => "tls_failed",
            Self::Protocol(_) => "protocol_error",
            Self::Timeout { .. } => "timeout",
            Self::TooLarge { .. } => "too_large",
            Self::TooManyRedirects { .. } => "too_many_redirects",
            Self::RedirectLoop(_) => "redirect_loop",
            Self::BadRedirect(_) => "bad_redirect",
            Self::RobotsDisallowed(_) => "robots_disallowed",
            Self::HttpStatus { .. } => "http_status",
            Self::UnsupportedContentType(_) | Self::PdfNotHandled => "unsupported_media_type",
            Self::RateLimited { .. } => "rate_limited",
            Self::NoContent => "no_content",
            Self::CachedFailure { code, .. } => code,
            Self::Store(_) => "store_failed",
            Self::TlsSetup(_) => "tls_setup_failed",
            Self::Render(_) => "render_failed",
            Self::Document { code, .. } => code,
        }
    }

    /// True when the URL was refused by policy (validation, SSRF guard, robots.txt) rather than
    /// failing on the way: the command-line example exits non-zero on these.
    pub fn is_refusal(&self) -> bool {
        match self {
            Self::InvalidUrl(_)
            | Self::UrlTooLong { .. }
            | Self::SchemeNotAllowed(_)
            | Self::CredentialsInUrl
            | Self::PortNotAllowed(_)
            | Self::BlockedAddress { .. }
            | Self::GateRefused(_)
            | Self::RobotsDisallowed(_) => true,
            Self::CachedFailure { code, .. } => {
                matches!(
                    code.as_str(),
                    "blocked_address" | "gate_refused" | "robots_disallowed"
                )
            }
            _ => false,
        }
    }

    /// True when the failure is about the page and worth caching for a short time (negative
    /// cache); validation refusals and storage failures are not cached.
    pub fn is_cacheable_failure(&self) -> bool {
        matches!(
            self,
            Self::Resolve { .. }
                | Self::Connect { .. }
                | Self::Tls { .. }
                | Self::Protocol(_)
                | Self::Timeout { .. }
                | Self::TooLarge { .. }
                | Self::TooManyRedirects { .. }
                | Self::RedirectLoop(_)
                | Self::BadRedirect(_)
                | Self::RobotsDisallowed(_)
                | Self::HttpStatus { .. }
                | Self::UnsupportedContentType(_)
                | Self::NoContent
                | Self::Document { .. }
        )
    }

    /// True when trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Resolve { .. }
            | Self::Connect { .. }
            | Self::Timeout { .. }
            | Self::RateLimited { .. }
            | Self::Render(_) => true,
            Self::HttpStatus { status } => *status >= 500 || *status == 429,
            Self::Store(err) => err.is_retryable(),
            _ => false,
        }
    }
}
