//! The fetcher: one guarded GET with robots.txt, the per-host rate limit, manual redirects
//! (each hop validated and guarded again), the content-type allowlist, the body cap and the
//! time limits.

use std::collections::HashSet;
use std::sync::Arc;

use http::HeaderName;
use http::header::{CONTENT_TYPE, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED, LOCATION};
use tokio::time::Instant;
use url::Url;

use super::client::{Body, HttpClient, read_body};
use super::config::WebConfig;
use super::error::WebError;
use super::guard::AddressPolicy;
use super::politeness::{HostRateLimiter, RobotsCache};
use super::resolve::{HostResolver, SocketGate, SystemResolver};
use super::validate::{check_parsed, normalize, validate_url};

/// Validators of a cached page, sent for conditional revalidation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Validators {
    /// `ETag` of the cached copy.
    pub etag: Option<String>,
    /// `Last-Modified` of the cached copy.
    pub last_modified: Option<String>,
}

impl Validators {
    /// Builds validators.
    pub fn new(etag: Option<String>, last_modified: Option<String>) -> Self {
        Self {
            etag,
            last_modified,
        }
    }
    /// True when there is nothing to revalidate with.
    pub fn is_empty(&self) -> bool {
        self.etag.is_none() && self.last_modified.is_none()
    }
}

/// A fetched HTML or plain-text page.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FetchedPage {
    /// The URL after redirects.
    pub final_url: String,
    /// `text/html`, `application/xhtml+xml` or `text/plain`.
    pub media_type: String,
    /// The `charset` parameter of `Content-Type`, when given.
    pub charset: Option<String>,
    /// The raw body.
    pub body: Vec<u8>,
    /// `ETag`, for later revalidation.
    pub etag: Option<String>,
    /// `Last-Modified`, for later revalidation.
    pub last_modified: Option<String>,
    /// The URLs redirected through, in order.
    pub redirects: Vec<String>,
}

/// A fetched PDF, for the document pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FetchedPdf {
    /// The URL after redirects.
    pub final_url: String,
    /// The PDF bytes.
    pub body: Vec<u8>,
}

/// What a fetch produced.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FetchOutcome {
    /// An HTML or text page.
    Page(FetchedPage),
    /// A PDF: handed to the document pipeline, not extracted here.
    Pdf(FetchedPdf),
    /// The cached copy is still valid (HTTP 304 to a conditional request).
    NotModified {
        /// The URL after redirects.
        final_url: String,
        /// New `ETag`, when the server sent one.
        etag: Option<String>,
        /// New `Last-Modified`, when the server sent one.
        last_modified: Option<String>,
    },
}

/// Builder of a [`WebFetcher`].
#[derive(Debug)]
pub struct WebFetcherBuilder {
    config: WebConfig,
    resolver: Arc<dyn HostResolver>,
    gate: Option<Arc<dyn SocketGate>>,
}

impl WebFetcherBuilder {
    /// The resolver (default: [`SystemResolver`]).
    pub fn resolver(mut self, resolver: Arc<dyn HostResolver>) -> Self {
        self.resolver = resolver;
        self
    }
    /// A gate asked before every socket is opened (default: none).
    pub fn gate(mut self, gate: Arc<dyn SocketGate>) -> Self {
        self.gate = Some(gate);
        self
    }
    /// Builds the fetcher.
    ///
    /// Errors: `TlsSetup`, or `InvalidUrl` for a user agent that is not a header value.
    pub fn build(self) -> Result<WebFetcher, WebError> {
        let policy = AddressPolicy::new(
            self.config.allow_loopback,
            self.config.allowed_networks.clone(),
        );
        let client = HttpClient::new(&self.config, policy, self.resolver, self.gate)?;
        Ok(WebFetcher {
            client,
            robots: RobotsCache::default(),
            limiter: HostRateLimiter::default(),
            config: self.config,
        })
    }
}

/// Fetches pages safely and politely. Share one per process (it holds the robots.txt cache and
/// the rate limiter).
#[derive(Debug)]
pub struct WebFetcher {
    client: HttpClient,
    robots: RobotsCache,
    limiter: HostRateLimiter,
    config: WebConfig,
}

impl WebFetcher {
    /// Starts building a fetcher.
    pub fn builder(config: WebConfig) -> WebFetcherBuilder {
        WebFetcherBuilder {
            config,
            resolver: Arc::new(SystemResolver),
            gate: None,
        }
    }

    /// The settings.
    pub fn config(&self) -> &WebConfig {
        &self.config
    }

    /// The guarded client (the JavaScript renderer's proxy connects through it).
    #[cfg(feature = "js-render")]
    pub(crate) fn client(&self) -> &HttpClient {
        &self.client
    }

    /// Validates a URL without any network traffic (see [`validate_url`]).
    ///
    /// Errors: as [`validate_url`].
    pub fn validate(&self, raw: &str) -> Result<Url, WebError> {
        validate_url(raw, &self.config, self.client.policy())
    }

    /// Fetches a validated URL. With `validators`, the request is conditional and a 304 answer
    /// gives [`FetchOutcome::NotModified`]. Everything, redirects and body included, happens
    /// within `total_timeout`.
    ///
    /// Errors: every [`WebError`] of the guard, politeness, HTTP and limits.
    pub async fn fetch(
        &self,
        url: &Url,
        validators: Option<&Validators>,
    ) -> Result<FetchOutcome, WebError> {
        let deadline = Instant::now() + self.config.total_timeout;
        match tokio::time::timeout_at(deadline, self.fetch_until(url, validators, deadline)).await {
            Ok(result) => result,
            Err(_) => Err(WebError::Timeout {
                phase: "fetch",
                after: self.config.total_timeout,
            }),
        }
    }

    async fn fetch_until(
        &self,
        url: &Url,
        validators: Option<&Validators>,
        deadline: Instant,
    ) -> Result<FetchOutcome, WebError> {
        let config = &self.config;
        let mut headers: Vec<(HeaderName, String)> = Vec::new();
        if let Some(v) = validators {
            if let Some(etag) = &v.etag {
                headers.push((IF_NONE_MATCH, etag.clone()));
            }
            if let Some(date) = &v.last_modified {
                headers.push((IF_MODIFIED_SINCE, date.clone()));
            }
        }
        let mut current = check_parsed(url.clone(), config, self.client.policy())?;
        let mut visited: HashSet<String> = HashSet::from([normalize(&current)]);
        let mut redirects = Vec::new();
        loop {
            let mut interval = config.per_host_interval;
            if config.respect_robots {
                let verdict = self
                    .robots
                    .verdict(&self.client, config, &current, deadline)
                    .await?;
                if !verdict.allowed {
                    return Err(WebError::RobotsDisallowed(current.to_string()));
                }
                interval = interval.max(verdict.crawl_delay.unwrap_or_default());
            }
            self.limiter.acquire(&current, interval, deadline).await?;
            let response = self.client.get(&current, &headers).await?;
            let status = response.status;
            if status.is_redirection() && status.as_u16() != 304 {
                if redirects.len() >= config.max_redirects {
                    return Err(WebError::TooManyRedirects {
                        max: config.max_redirects,
                    });
                }
                let location = response.header(LOCATION).ok_or_else(|| {
                    WebError::BadRedirect(format!("HTTP {status} without Location"))
                })?;
                let next = current.join(&location).map_err(|e| {
                    WebError::BadRedirect(format!("bad Location `{location}`: {e}"))
                })?;
                let next = check_parsed(next, config, self.client.policy())?;
                if !visited.insert(normalize(&next)) {
                    return Err(WebError::RedirectLoop(next.to_string()));
                }
                redirects.push(next.to_string());
                current = next;
                continue;
            }
            let etag = response.header(ETAG);
            let last_modified = response.header(LAST_MODIFIED);
            if status.as_u16() == 304 && validators.is_some() {
                return Ok(FetchOutcome::NotModified {
                    final_url: current.to_string(),
                    etag,
                    last_modified,
                });
            }
            if !status.is_success() {
                return Err(WebError::HttpStatus {
                    status: status.as_u16(),
                });
            }
            let (essence, charset) = parse_content_type(response.header(CONTENT_TYPE).as_deref());
            let kind = match essence.as_str() {
                "text/html" | "application/xhtml+xml" | "text/plain" => Some(essence.clone()),
                "application/pdf" => Some(essence.clone()),
                "" => None,
                other => return Err(WebError::UnsupportedContentType(other.to_owned())),
            };
            let body = match read_body(response, config.max_body_bytes).await? {
                Body::Complete(body) => body,
                Body::Truncated(_) => {
                    return Err(WebError::TooLarge {
                        limit: config.max_body_bytes,
                    });
                }
            };
            let media_type = match kind {
                Some(kind) => kind,
                None => sniff(&body)
                    .ok_or_else(|| WebError::UnsupportedContentType("unknown".into()))?
                    .to_owned(),
            };
            let final_url = current.to_string();
            if media_type == "application/pdf" {
                return Ok(FetchOutcome::Pdf(FetchedPdf {
                    final_url,
                    body: Vec::from(body),
                }));
            }
            return Ok(FetchOutcome::Page(FetchedPage {
                final_url,
                media_type,
                charset,
                body: Vec::from(body),
                etag,
                last_modified,
                redirects,
            }));
        }
    }
}

/// Splits a `Content-Type` value into its lowercased essence and its `charset` parameter.
fn parse_content_type(value: Option<&str>) -> (String, Option<String>) {
    let Some(value) = value else {
        return (String::new(), None);
    };
    let mut parts = value.split(';');
    let essence = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    let charset = parts.find_map(|p| {
        let (name, val) = p.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| val.trim().trim_matches('"').to_owned())
    });
    (essence, charset.filter(|c| !c.is_empty()))
}

/// Guesses the type of a body served without `Content-Type`.
fn sniff(body: &[u8]) -> Option<&'static str> {
    if body.starts_with(b"%PDF-") {
        return Some("application/pdf");
    }
    let head = String::from_utf8_lossy(&body[..body.len().min(1024)]).to_ascii_lowercase();
    let trimmed = head.trim_start_matches(['\u{feff}', ' ', '\t', '\r', '\n']);
    if trimmed.starts_with("<!doctype html")
        || trimmed.starts_with("<html")
        || head.contains("<body")
    {
        return Some("text/html");
    }
    if std::str::from_utf8(body).is_ok() && !body.contains(&0) {
        return Some("text/plain");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_parsing() {
        assert_eq!(
            parse_content_type(Some("Text/HTML; Charset=\"Shift_JIS\"")),
            ("text/html".into(), Some("Shift_JIS".into()))
        );
        assert_eq!(
            parse_content_type(Some("text/plain")),
            ("text/plain".into(), None)
        );
        assert_eq!(parse_content_type(None), (String::new(), None));
    }

    #[test]
    fn sniffing() {
        assert_eq!(sniff(b"%PDF-1.7 ..."), Some("application/pdf"));
        assert_eq!(sniff(b"  <!DOCTYPE html><p>x"), Some("text/html"));
        assert_eq!(sniff(b"plain words"), Some("text/plain"));
        assert_eq!(sniff(&[0u8, 159, 146, 150]), None);
    }
}
