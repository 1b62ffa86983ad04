//! The HTTP side shared by the clients: one `reqwest` client per provider (rustls, connection
//! pool, no redirects), the request with its deadlines, and error responses turned into
//! [`ProviderError`]s.

use std::time::{Duration, SystemTime};

use chat_core::provider::{ProviderError, TimeoutPhase};
use futures::StreamExt;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use tokio::time::Instant;
use url::Url;

use crate::error::{ConfigError, retry_after};
use crate::http_settings::HttpSettings;
use crate::sse::{BodyLimits, BodyStream};

/// Turns an error response (status, body, `Retry-After`) into the vendor's error kind.
pub(crate) type Classify<'a> = &'a (dyn Fn(u16, String, Option<Duration>) -> ProviderError + Sync);

/// An HTTP client bound to one provider's settings and headers.
#[derive(Clone)]
pub(crate) struct Transport {
    client: reqwest::Client,
    settings: HttpSettings,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Header values (keys) are never shown; only the settings.
        f.debug_struct("Transport")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// A sensitive header value (never printed by the HTTP client's own `Debug`).
pub(crate) fn secret_header(value: &str, name: &str) -> Result<HeaderValue, ConfigError> {
    let mut v = HeaderValue::from_str(value).map_err(|_| ConfigError::InvalidHeader {
        name: name.to_owned(),
    })?;
    v.set_sensitive(true);
    Ok(v)
}

impl Transport {
    /// A client with `settings`; `headers` go on every request (auth and vendor headers),
    /// followed by the configured extra headers.
    pub(crate) fn new(
        settings: &HttpSettings,
        mut headers: HeaderMap,
    ) -> Result<Self, ConfigError> {
        for (name, value) in &settings.extra_headers {
            let header = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| ConfigError::InvalidHeader { name: name.clone() })?;
            headers.insert(header, secret_header(value, name)?);
        }
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let client = reqwest::Client::builder()
            // Set once here rather than cloned into every request.
            .default_headers(headers)
            .connect_timeout(settings.connect_timeout)
            // API keys travel in headers that a redirect would carry to another host.
            .redirect(reqwest::redirect::Policy::none())
            .tcp_nodelay(true)
            .user_agent(concat!("chat-ai-providers/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ConfigError::Client(e.to_string()))?;
        Ok(Self {
            client,
            settings: settings.clone(),
        })
    }

    /// Sends `body` to `url` and waits for the response headers; a success becomes the body
    /// stream, anything else the vendor's error.
    pub(crate) async fn open(
        &self,
        url: Url,
        body: Vec<u8>,
        classify: Classify<'_>,
    ) -> Result<BodyStream, ProviderError> {
        let started = Instant::now();
        let total_deadline = started + self.settings.total_timeout;
        let first_byte_deadline = (started + self.settings.first_byte_timeout).min(total_deadline);
        let send = self.client.post(url).body(body).send();
        let response = match tokio::time::timeout_at(first_byte_deadline, send).await {
            Err(_) => {
                return Err(ProviderError::Timeout {
                    phase: deadline_phase(total_deadline, TimeoutPhase::FirstByte),
                });
            }
            Ok(Err(e)) => return Err(send_error(&e)),
            Ok(Ok(response)) => response,
        };
        let status = response.status().as_u16();
        let is_json = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.trim_start()
                    .to_ascii_lowercase()
                    .starts_with("application/json")
            });
        if response.status().is_success() && !is_json {
            let limits = BodyLimits {
                first_byte_deadline,
                between_chunks: self.settings.between_chunks_timeout,
                total_deadline,
                max_bytes: self.settings.max_response_bytes,
            };
            return Ok(BodyStream::new(response.bytes_stream().boxed(), limits));
        }
        let wait = retry_after(response.headers(), SystemTime::now());
        let text = self.read_error_body(response, total_deadline).await;
        if status < 300 {
            // A JSON body on a stream request: some servers report errors this way.
            return Err(match serde_json::from_str::<serde_json::Value>(&text) {
                Ok(v) if v.get("error").is_some() => crate::error::from_event(
                    v["error"]["code"]
                        .as_u64()
                        .and_then(|c| u16::try_from(c).ok()),
                    v["error"]["type"]
                        .as_str()
                        .or(v["error"]["status"].as_str())
                        .unwrap_or(""),
                    text,
                ),
                _ => ProviderError::Protocol(format!(
                    "expected an event stream, got JSON: {}",
                    crate::error::snippet(&text)
                )),
            });
        }
        Err(classify(status, text, wait))
    }

    /// Reads at most `max_error_body_bytes` of an error body (lossy UTF-8), within the total
    /// deadline; what cannot be read in time is left out.
    async fn read_error_body(&self, response: reqwest::Response, deadline: Instant) -> String {
        let max = self.settings.max_error_body_bytes;
        let mut body = Vec::new();
        let mut stream = response.bytes_stream();
        let read = async {
            while let Some(Ok(chunk)) = stream.next().await {
                let room = max.saturating_sub(body.len());
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if body.len() >= max {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout_at(deadline, read).await;
        String::from_utf8_lossy(&body).into_owned()
    }
}

fn deadline_phase(total_deadline: Instant, phase: TimeoutPhase) -> TimeoutPhase {
    if Instant::now() >= total_deadline {
        TimeoutPhase::Total
    } else {
        phase
    }
}

/// A failure to send the request or get the response headers.
fn send_error(e: &reqwest::Error) -> ProviderError {
    if e.is_connect() {
        if e.is_timeout() {
            ProviderError::Timeout {
                phase: TimeoutPhase::Connect,
            }
        } else {
            ProviderError::Connection(describe(e))
        }
    } else if e.is_timeout() {
        ProviderError::Timeout {
            phase: TimeoutPhase::FirstByte,
        }
    } else {
        // The connection was made but closed or reset before the response headers.
        ProviderError::Interrupted(describe(e))
    }
}

/// The error with its causes (keys never travel in URLs here, so the URL may show).
fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// A piece of an endpoint path.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Part<'a> {
    /// A configured path (`/chat/completions`, `v1/messages`), split on `/`.
    Path(&'a str),
    /// One segment naming something (a model, a deployment), percent-encoded so that it
    /// cannot change the path.
    Name(&'a str),
}

/// The base URL with `parts` appended to its own path.
pub(crate) fn endpoint(base: &Url, parts: &[Part<'_>]) -> Result<Url, ProviderError> {
    let mut url = base.clone();
    {
        let mut segments = url.path_segments_mut().map_err(|()| {
            ProviderError::Protocol(format!("base URL {base} cannot carry a path"))
        })?;
        segments.pop_if_empty();
        for part in parts {
            match part {
                Part::Path(path) => {
                    segments.extend(path.split('/').filter(|p| !p.is_empty()));
                }
                Part::Name(name) => {
                    segments.push(name);
                }
            }
        }
    }
    Ok(url)
}

/// Parses a configured base URL (http or https only).
pub(crate) fn parse_base_url(text: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(text).map_err(|e| ConfigError::InvalidUrl {
        url: text.to_owned(),
        reason: e.to_string(),
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(ConfigError::InvalidUrl {
            url: text.to_owned(),
            reason: "must be an http(s) URL".into(),
        });
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_keeps_the_base_path_and_encodes_names() {
        let base = parse_base_url("https://example.test/api/v1/").unwrap();
        let url = endpoint(&base, &[Part::Path("/chat/completions")]).unwrap();
        assert_eq!(url.as_str(), "https://example.test/api/v1/chat/completions");
        let gemini = parse_base_url("https://example.test").unwrap();
        let url = endpoint(
            &gemini,
            &[
                Part::Path("v1beta/models"),
                Part::Name("../x?y#z:streamGenerateContent"),
            ],
        )
        .unwrap();
        assert_eq!(
            url.path(),
            "/v1beta/models/..%2Fx%3Fy%23z:streamGenerateContent"
        );
        assert!(url.query().is_none());
    }

    #[test]
    fn base_urls_must_be_http() {
        assert!(parse_base_url("ftp://example.test").is_err());
        assert!(parse_base_url("not a url").is_err());
        assert!(parse_base_url("mailto:a@b").is_err());
        assert!(parse_base_url("http://127.0.0.1:11434/v1").is_ok());
    }
}
