//! URL validation (before any network traffic) and normalization (the cache key).

use sha2::{Digest, Sha256};
use url::{Host, Url};

use super::config::WebConfig;
use super::error::WebError;
use super::guard::AddressPolicy;

/// Parses and checks a URL: absolute, `http`/`https`, no credentials, an allowed port, at most
/// `max_url_len` bytes, and, for IP-literal hosts, an address the guard allows. The result is
/// normalized (see [`normalize`]). Host names are checked later, when they are resolved.
///
/// Errors: `UrlTooLong`, `InvalidUrl`, `SchemeNotAllowed`, `CredentialsInUrl`,
/// `PortNotAllowed`, `BlockedAddress`.
pub fn validate_url(
    raw: &str,
    config: &WebConfig,
    policy: &AddressPolicy,
) -> Result<Url, WebError> {
    let raw = raw.trim();
    if raw.len() > config.max_url_len {
        return Err(WebError::UrlTooLong {
            len: raw.len(),
            max: config.max_url_len,
        });
    }
    let url = Url::parse(raw).map_err(|e| WebError::InvalidUrl(format!("{e}")))?;
    check_parsed(url, config, policy)
}

/// The checks of [`validate_url`] on an already parsed URL (redirect targets).
///
/// Errors: as [`validate_url`].
pub(crate) fn check_parsed(
    mut url: Url,
    config: &WebConfig,
    policy: &AddressPolicy,
) -> Result<Url, WebError> {
    if url.as_str().len() > config.max_url_len {
        return Err(WebError::UrlTooLong {
            len: url.as_str().len(),
            max: config.max_url_len,
        });
    }
    let scheme = url.scheme();
    if scheme != "http" && scheme != "https" {
        return Err(WebError::SchemeNotAllowed(scheme.to_owned()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(WebError::CredentialsInUrl);
    }
    if let Some(port) = url.port() {
        if !config.port_allowed(scheme, port) {
            return Err(WebError::PortNotAllowed(port));
        }
    }
    let ip = match url.host() {
        None | Some(Host::Domain("")) => {
            return Err(WebError::InvalidUrl("the URL has no host".into()));
        }
        Some(Host::Domain(_)) => None,
        Some(Host::Ipv4(v4)) => Some(std::net::IpAddr::V4(v4)),
        Some(Host::Ipv6(v6)) => Some(std::net::IpAddr::V6(v6)),
    };
    if let Some(ip) = ip {
        policy.check(ip).map_err(|range| WebError::BlockedAddress {
            host: host_label(&url),
            addr: ip,
            range,
        })?;
    }
    url.set_fragment(None);
    Ok(url)
}

/// The normalized form of a URL: scheme and host lowercased, the default port and the fragment
/// removed, the query kept. The URL parser already lowercases, drops default ports and
/// percent-encodes consistently; this also drops the fragment.
pub fn normalize(url: &Url) -> String {
    let mut url = url.clone();
    url.set_fragment(None);
    url.into()
}

/// The cache key of a URL: lowercase hex SHA-256 of its normalized form.
pub fn url_hash(url: &Url) -> String {
    hex::encode(Sha256::digest(normalize(url).as_bytes()))
}

/// The host of a URL as text (IPv6 in brackets), for messages and rate-limit keys.
pub(crate) fn host_label(url: &Url) -> String {
    match url.host() {
        Some(host) => host.to_string(),
        None => String::new(),
    }
}

/// The origin (`scheme://host:port`) a robots.txt and a rate limit apply to.
pub(crate) fn origin_key(url: &Url) -> String {
    format!(
        "{}://{}:{}",
        url.scheme(),
        host_label(url),
        url.port_or_known_default().unwrap_or(0)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalization_lowercases_and_drops_default_port_and_fragment() {
        let config = WebConfig::default();
        let policy = AddressPolicy::strict();
        let a = validate_url("HTTPS://Example.COM:443/a/b?q=1#frag", &config, &policy).unwrap();
        assert_eq!(normalize(&a), "https://example.com/a/b?q=1");
        let b = validate_url("https://example.com/a/b?q=1", &config, &policy).unwrap();
        assert_eq!(url_hash(&a), url_hash(&b));
        let c = validate_url("https://example.com/a/b?q=2", &config, &policy).unwrap();
        assert_ne!(url_hash(&a), url_hash(&c));
        assert_eq!(url_hash(&a).len(), 64);
        assert_eq!(
            normalize(&validate_url("http://example.com", &config, &policy).unwrap()),
            "http://example.com/"
        );
    }

    #[test]
    fn bad_urls_are_refused_with_specific_errors() {
        let config = WebConfig::default().max_url_len(100);
        let policy = AddressPolicy::strict();
        let cases: &[(&str, &str)] = &[
            ("not a url", "invalid_url"),
            ("/relative/path", "invalid_url"),
            ("ftp://example.com/", "scheme_not_allowed"),
            ("file:///etc/passwd", "scheme_not_allowed"),
            ("gopher://example.com/", "scheme_not_allowed"),
            ("javascript:alert(1)", "scheme_not_allowed"),
            ("data:text/html,hi", "scheme_not_allowed"),
            ("http://user:pw@example.com/", "credentials_in_url"),
            ("http://user@example.com/", "credentials_in_url"),
            ("http://example.com:8080/", "port_not_allowed"),
            ("https://example.com:80/", "port_not_allowed"),
            ("http://example.com:22/", "port_not_allowed"),
        ];
        for (url, code) in cases {
            let err = validate_url(url, &config, &policy).unwrap_err();
            assert_eq!(err.code(), *code, "{url}: {err}");
        }
        let long = format!("http://example.com/{}", "a".repeat(100));
        assert_eq!(
            validate_url(&long, &config, &policy).unwrap_err().code(),
            "url_too_long"
        );
        let ok = WebConfig::default().extra_port(8080);
        assert!(validate_url("http://example.com:8080/", &ok, &policy).is_ok());
    }
}
