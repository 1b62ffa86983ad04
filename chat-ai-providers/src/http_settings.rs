//! Settings shared by the HTTP clients: timeouts, size limits, extra headers, and the
//! [`ApiKey`] wrapper that never shows its value.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// An API key. Its `Debug` shows `ApiKey(***)`, it is never serialized, and the clients mark
/// the header carrying it as sensitive.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key.
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }
    /// The key itself, for building the request header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

impl From<&str> for ApiKey {
    fn from(key: &str) -> Self {
        Self::new(key)
    }
}

impl From<String> for ApiKey {
    fn from(key: String) -> Self {
        Self::new(key)
    }
}

/// Timeouts and limits of a provider's HTTP client; every field is a named setting.
///
/// | setting | default | what |
/// |---|---|---|
/// | `connect_timeout` | 10 s | establishing the TCP (and TLS) connection |
/// | `first_byte_timeout` | 60 s | from sending the request to the first byte of the response body (headers included); models can think long before the first token |
/// | `between_chunks_timeout` | 30 s | longest silence between two reads of the body; keep-alive comments and pings count as activity |
/// | `total_timeout` | 300 s | the whole call, request to end of stream (bounds a server that only sends keep-alives) |
/// | `max_response_bytes` | 8 MiB | longest streamed body accepted |
/// | `max_error_body_bytes` | 64 KiB | longest error body kept in the error |
///
/// Durations are (de)serialized as milliseconds (`connect_timeout_ms`, ...).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct HttpSettings {
    /// Connection timeout.
    #[serde(rename = "connect_timeout_ms", with = "millis")]
    pub connect_timeout: Duration,
    /// First-byte timeout.
    #[serde(rename = "first_byte_timeout_ms", with = "millis")]
    pub first_byte_timeout: Duration,
    /// Between-chunks (idle) timeout.
    #[serde(rename = "between_chunks_timeout_ms", with = "millis")]
    pub between_chunks_timeout: Duration,
    /// Whole-call timeout.
    #[serde(rename = "total_timeout_ms", with = "millis")]
    pub total_timeout: Duration,
    /// Longest streamed body in bytes.
    pub max_response_bytes: usize,
    /// Longest error body kept, in bytes.
    pub max_error_body_bytes: usize,
    /// Extra request headers (`HTTP-Referer` and `X-Title` for OpenRouter, `anthropic-beta`,
    /// a proxy's token...). Their values are treated as secrets: hidden from `Debug`, marked
    /// sensitive on the request.
    pub extra_headers: Vec<(String, String)>,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            first_byte_timeout: Duration::from_secs(60),
            between_chunks_timeout: Duration::from_secs(30),
            total_timeout: Duration::from_secs(300),
            max_response_bytes: 8 * 1024 * 1024,
            max_error_body_bytes: 64 * 1024,
            extra_headers: Vec::new(),
        }
    }
}

impl HttpSettings {
    /// The defaults of the table above.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets the connection timeout.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }
    /// Sets the first-byte timeout.
    pub fn first_byte_timeout(mut self, timeout: Duration) -> Self {
        self.first_byte_timeout = timeout;
        self
    }
    /// Sets the between-chunks timeout.
    pub fn between_chunks_timeout(mut self, timeout: Duration) -> Self {
        self.between_chunks_timeout = timeout;
        self
    }
    /// Sets the whole-call timeout.
    pub fn total_timeout(mut self, timeout: Duration) -> Self {
        self.total_timeout = timeout;
        self
    }
    /// Sets the longest streamed body.
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes;
        self
    }
    /// Sets the longest error body kept.
    pub fn max_error_body_bytes(mut self, bytes: usize) -> Self {
        self.max_error_body_bytes = bytes;
        self
    }
    /// Adds an extra request header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.extra_headers.push((name.into(), value.into()));
        self
    }
}

impl fmt::Debug for HttpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.extra_headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("HttpSettings")
            .field("connect_timeout", &self.connect_timeout)
            .field("first_byte_timeout", &self.first_byte_timeout)
            .field("between_chunks_timeout", &self.between_chunks_timeout)
            .field("total_timeout", &self.total_timeout)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("max_error_body_bytes", &self.max_error_body_bytes)
            .field("extra_headers (values hidden)", &names)
            .finish()
    }
}

/// Durations as whole milliseconds in configuration files.
pub(crate) mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_keys_and_header_values() {
        let key = ApiKey::new("sk-live-SECRET");
        assert_eq!(format!("{key:?}"), "ApiKey(***)");
        let http = HttpSettings::new().header("X-Proxy-Token", "tok-SECRET");
        let shown = format!("{http:?}");
        assert!(
            shown.contains("X-Proxy-Token") && !shown.contains("SECRET"),
            "{shown}"
        );
    }

    #[test]
    fn settings_read_from_json_with_millisecond_durations() {
        let http: HttpSettings =
            serde_json::from_str(r#"{"first_byte_timeout_ms": 1500, "max_response_bytes": 1024}"#)
                .unwrap();
        assert_eq!(http.first_byte_timeout, Duration::from_millis(1500));
        assert_eq!(http.max_response_bytes, 1024);
        assert_eq!(
            http.connect_timeout,
            Duration::from_secs(10),
            "unset fields keep their default"
        );
        let round: HttpSettings =
            serde_json::from_value(serde_json::to_value(&http).unwrap()).unwrap();
        assert_eq!(round, http);
    }
}
