//! Errors of building a provider, and the mapping of vendors' error responses and error events
//! to [`ProviderError`] kinds (HTTP status and body kept as fields).

use std::time::{Duration, SystemTime};

use chat_core::provider::ProviderError;
use reqwest::header::HeaderMap;

/// A provider configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The base URL does not parse or cannot carry a path.
    #[error("invalid base URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as configured.
        url: String,
        /// Why it was refused.
        reason: String,
    },
    /// An extra header has an invalid name or value.
    #[error("invalid header {name:?}")]
    InvalidHeader {
        /// The header name as configured (its value is never shown).
        name: String,
    },
    /// A required setting is empty (model, deployment, API key...).
    #[error("setting `{0}` must not be empty")]
    Empty(&'static str),
    /// A setting has a value this crate cannot use.
    #[error("invalid setting `{setting}`: {reason}")]
    Invalid {
        /// Which setting.
        setting: &'static str,
        /// Why it was refused.
        reason: String,
    },
    /// Two providers of a failover chain share a name.
    #[error("provider name {0:?} appears twice in the chain")]
    DuplicateProvider(String),
    /// The HTTP client could not be built (TLS setup).
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

/// Markers of a context-window overflow in the vendors' error messages and codes (lowercased):
/// OpenAI and Azure `context_length_exceeded` / "maximum context length", vLLM and OpenRouter
/// "maximum context length", Anthropic "prompt is too long" / "exceed context limit", Gemini
/// "input token count ... exceeds the maximum", llama.cpp and LM Studio "context size" /
/// "context length", Ollama "context window".
const CONTEXT_MARKERS: &[&str] = &[
    "context_length_exceeded",
    "context length",
    "context_length",
    "context window",
    "context size",
    "context limit",
    "prompt is too long",
    "input token count",
    "too many tokens",
    "reduce the length of the messages",
];

/// True when an error body or message says the prompt does not fit the context window.
pub(crate) fn is_context_length(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    CONTEXT_MARKERS.iter().any(|m| lower.contains(m))
}

/// The kind of an error response, from its HTTP status and body.
///
/// | status | kind |
/// |---|---|
/// | 400, 413, 422 | `ContextLengthExceeded` when the body says so, else `InvalidRequest` |
/// | 401, 402, 403 | `Auth` (402: the account cannot pay; another provider may still answer) |
/// | 404 | `ModelNotFound` |
/// | 408, 409, 425, 5xx, 529 | `Server` (transient) |
/// | 429 | `RateLimited` with `retry_after` |
/// | other 4xx | `InvalidRequest` |
/// | anything else | `Protocol` (redirects are not followed, so API keys never leave for another host) |
pub(crate) fn from_status(
    status: u16,
    body: String,
    retry_after: Option<Duration>,
) -> ProviderError {
    match status {
        400 | 413 | 422 if is_context_length(&body) => {
            ProviderError::ContextLengthExceeded { status, body }
        }
        401..=403 => ProviderError::Auth { status, body },
        404 => ProviderError::ModelNotFound { status, body },
        408 | 409 | 425 | 500..=599 => ProviderError::Server { status, body },
        429 => ProviderError::RateLimited {
            status,
            body,
            retry_after,
        },
        400..=499 => ProviderError::InvalidRequest { status, body },
        _ => ProviderError::Protocol(format!(
            "unexpected HTTP status {status}: {}",
            snippet(&body)
        )),
    }
}

/// The kind of an error reported inside a stream (an error event), from the vendor's numeric
/// code when it has one, else from its error type name (`rate_limit_error`,
/// `overloaded_error`, `RESOURCE_EXHAUSTED`, ...). Unknown mid-stream errors count as transient
/// server errors. `status` is the numeric code when it is an HTTP status, else 0.
pub(crate) fn from_event(code: Option<u16>, kind: &str, body: String) -> ProviderError {
    if let Some(code) = code.filter(|c| (400..=599).contains(c)) {
        return from_status(code, body, None);
    }
    let kind = kind.to_ascii_lowercase();
    let status = 0;
    if kind.contains("rate_limit") || kind.contains("resource_exhausted") || kind.contains("quota")
    {
        ProviderError::RateLimited {
            status,
            body,
            retry_after: None,
        }
    } else if kind.contains("auth")
        || kind.contains("permission")
        || kind.contains("unauthenticated")
    {
        ProviderError::Auth { status, body }
    } else if kind.contains("not_found") {
        ProviderError::ModelNotFound { status, body }
    } else if kind.contains("invalid") || kind.contains("bad_request") {
        if is_context_length(&body) {
            ProviderError::ContextLengthExceeded { status, body }
        } else {
            ProviderError::InvalidRequest { status, body }
        }
    } else if is_context_length(&body) {
        ProviderError::ContextLengthExceeded { status, body }
    } else {
        ProviderError::Server { status, body }
    }
}

/// The wait a 429/503 response asks for: `retry-after-ms` (OpenAI, Azure), then `Retry-After`
/// as seconds or as an HTTP-date (RFC 9110: IMF-fixdate, RFC 850 or asctime, parsed by
/// `httpdate`). A date in the past is no wait.
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = text("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        return secs_f64(ms / 1000.0);
    }
    let value = text("retry-after")?;
    if let Ok(secs) = value.parse::<f64>() {
        return secs_f64(secs);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A non-negative finite number of seconds as a duration (at most a day: anything longer is a
/// broken header, and the failover caps waits far below it anyway).
pub(crate) fn secs_f64(secs: f64) -> Option<Duration> {
    const DAY: f64 = 86_400.0;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(DAY)))
}

/// The start of a body for an error message (never the whole of a large body).
pub(crate) fn snippet(body: &str) -> &str {
    const MAX: usize = 200;
    if body.len() <= MAX {
        return body;
    }
    let mut end = MAX;
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    &body[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn statuses_map_to_kinds_and_keep_status_and_body() {
        let cases: &[(u16, &str, &str)] = &[
            (400, "bad field", "invalid_request"),
            (
                400,
                r#"{"error":{"code":"context_length_exceeded"}}"#,
                "context_length",
            ),
            (401, "no key", "auth"),
            (402, "no credits", "auth"),
            (403, "forbidden", "auth"),
            (404, "no model", "model_not_found"),
            (408, "slow", "server"),
            (413, "prompt is too long: 300000 tokens", "context_length"),
            (418, "teapot", "invalid_request"),
            (429, "slow down", "rate_limited"),
            (500, "boom", "server"),
            (503, "busy", "server"),
            (529, "overloaded", "server"),
            (302, "moved", "protocol"),
        ];
        for (status, body, kind) in cases {
            let e = from_status(*status, (*body).to_owned(), None);
            assert_eq!(e.kind_name(), *kind, "{status} {body}");
            if *kind != "protocol" {
                assert_eq!(e.status(), Some(*status));
                assert_eq!(e.body(), Some(*body));
            }
        }
    }

    #[test]
    fn vendor_context_messages_are_recognised() {
        for msg in [
            "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.",
            "prompt is too long: 208310 tokens > 200000 maximum",
            "input length and `max_tokens` exceed context limit: 199000 + 8192 > 200000",
            "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
            "the request exceeds the available context size, try increasing it",
        ] {
            assert!(is_context_length(msg), "{msg}");
        }
        assert!(!is_context_length("temperature must be between 0 and 2"));
    }

    #[test]
    fn event_errors_map_by_code_then_type() {
        assert_eq!(
            from_event(None, "overloaded_error", "x".into()).kind_name(),
            "server"
        );
        assert_eq!(
            from_event(None, "rate_limit_error", "x".into()).kind_name(),
            "rate_limited"
        );
        assert_eq!(
            from_event(None, "authentication_error", "x".into()).kind_name(),
            "auth"
        );
        assert_eq!(
            from_event(None, "invalid_request_error", "prompt is too long".into()).kind_name(),
            "context_length"
        );
        assert_eq!(from_event(Some(429), "", "x".into()).status(), Some(429));
        assert_eq!(from_event(Some(502), "", "x".into()).kind_name(), "server");
        assert_eq!(from_event(Some(7), "weird", "x".into()).status(), Some(0));
    }

    #[test]
    fn retry_after_reads_seconds_milliseconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480); // 2015-10-21 07:28:00 UTC
        assert_eq!(
            retry_after(&headers(&[("retry-after", "7")]), now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after", "1.5")]), now),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            retry_after(
                &headers(&[("retry-after-ms", "250"), ("retry-after", "9")]),
                now
            ),
            Some(Duration::from_millis(250))
        );
        let date = "Wed, 21 Oct 2015 07:28:30 GMT";
        assert_eq!(
            retry_after(&headers(&[("retry-after", date)]), now),
            Some(Duration::from_secs(30))
        );
        let rfc850 = "Wednesday, 21-Oct-15 07:28:10 GMT";
        assert_eq!(
            retry_after(&headers(&[("retry-after", rfc850)]), now),
            Some(Duration::from_secs(10))
        );
        let past = "Wed, 21 Oct 2015 07:00:00 GMT";
        assert_eq!(
            retry_after(&headers(&[("retry-after", past)]), now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")]), now), None);
        assert_eq!(retry_after(&headers(&[("retry-after", "-3")]), now), None);
        assert_eq!(retry_after(&headers(&[]), now), None);
    }

    #[test]
    fn snippet_cuts_at_a_char_boundary() {
        let long = "é".repeat(300);
        let s = snippet(&long);
        assert!(s.len() <= 200 && s.chars().all(|c| c == 'é'));
    }
}
