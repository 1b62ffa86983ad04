//! The SSRF guard: a table of address forms that must all be refused, DNS rebinding, mixed
//! answers, and URL forms.
//!
//! No packet leaves this machine: every fetcher here has the loopback-only recording gate of
//! `web_support`, asked right before any socket is opened, and names are answered by test
//! resolvers. The tests also assert that the gate was never even asked about a refused
//! address: the guard refused it first.
#![cfg(feature = "web")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers: a failed step fails the test

mod web_support;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use chat_core::ingest::web::{AddressPolicy, WebConfig, WebError, validate_url};
use web_support::*;

/// Address forms that must all be refused, by URL. Hosts ending in `.test` are answered by the
/// table resolver below.
const REFUSED: &[&str] = &[
    // IPv4 loopback, in every notation the WHATWG host parser accepts.
    "http://127.0.0.1/",
    "http://127.1/",
    "http://127.0.1/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0x7f.1/",
    "http://0x7F.0.0.1/",
    "http://017700000001/",
    "http://0177.0.0.1/",
    "http://0177.1/",
    "http://127.255.255.254/",
    // Private, CGNAT, link-local and cloud metadata.
    "http://10.0.0.1/",
    "http://012.0.0.1/",
    "http://172.16.0.1/",
    "http://172.31.255.255/",
    "http://192.168.1.1/",
    "http://3232235777/",
    "http://100.64.0.1/",
    "http://100.127.255.254/",
    "http://169.254.169.254/",
    "http://0xa9fea9fe/",
    "http://2852039166/",
    "http://0251.0376.0251.0376/",
    // This network, broadcast, multicast, reserved, documentation, benchmarking, IETF.
    "http://0.0.0.0/",
    "http://0/",
    "http://0.1.2.3/",
    "http://255.255.255.255/",
    "http://224.0.0.1/",
    "http://239.255.255.250/",
    "http://240.0.0.1/",
    "http://192.0.2.1/",
    "http://198.51.100.7/",
    "http://203.0.113.9/",
    "http://198.18.0.1/",
    "http://192.0.0.8/",
    "http://192.88.99.1/",
    // IPv6 loopback, unspecified, unique-local, link-local, site-local, multicast.
    "http://[::1]/",
    "http://[0:0:0:0:0:0:0:1]/",
    "http://[::]/",
    "http://[fc00::1]/",
    "http://[fd12:3456:789a::1]/",
    "http://[fe80::1]/",
    "http://[fe80::a9fe:a9fe]/",
    "http://[fec0::1]/",
    "http://[ff02::1]/",
    // IPv4 embedded in IPv6: mapped, translated, compatible, NAT64, 6to4, Teredo.
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[::ffff:10.0.0.1]/",
    "http://[::ffff:0:a9fe:a9fe]/",
    "http://[::127.0.0.1]/",
    "http://[::169.254.169.254]/",
    "http://[64:ff9b::127.0.0.1]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[64:ff9b:1::1]/",
    "http://[2002:7f00:1::1]/",
    "http://[2002:a9fe:a9fe::]/",
    "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",
    // IPv6 documentation, benchmarking, discard, outside global unicast.
    "http://[2001:db8::1]/",
    "http://[3fff::1]/",
    "http://[2001:2::1]/",
    "http://[100::1]/",
    "http://[4000::1]/",
    // Names that resolve into blocked ranges (test resolver below).
    "http://localhost.test/",
    "http://metadata.test/",
    "http://private.test/",
    "http://mapped.test/",
    "http://mixed.test/",
    "http://mixed6.test/",
    "http://HOST.TEST./",
];

fn table_resolver() -> MapResolver {
    MapResolver::default()
        .with("localhost.test", &["127.0.0.1"])
        .with("metadata.test", &["169.254.169.254"])
        .with("private.test", &["10.1.2.3"])
        .with("mapped.test", &["::ffff:192.168.0.1"])
        // One good address does not make a bad one acceptable.
        .with("mixed.test", &["93.184.216.34", "10.0.0.1"])
        .with("mixed6.test", &["2606:4700::1111", "fd00::1"])
        .with("host.test", &["100.64.1.1"])
}

#[tokio::test]
async fn every_blocked_address_form_is_refused() {
    assert!(REFUSED.len() >= 40, "{}", REFUSED.len());
    let resolver = Arc::new(table_resolver());
    let (fetcher, gate) = fetcher(WebConfig::default(), resolver);
    for url in REFUSED {
        let err = match fetcher.validate(url) {
            Err(err) => err,
            Ok(parsed) => fetcher.fetch(&parsed, None).await.expect_err(url),
        };
        assert!(
            matches!(err, WebError::BlockedAddress { .. }),
            "{url}: {err}"
        );
    }
    assert!(
        gate.asked().is_empty(),
        "the gate was asked about {:?}",
        gate.asked()
    );
}

#[test]
fn numeric_hosts_are_normalized_before_the_check() {
    let config = WebConfig::default();
    let open = AddressPolicy::new(
        true,
        vec![
            "0.0.0.0/0".parse().expect("net"),
            "::/0".parse().expect("net"),
        ],
    );
    for (raw, normal) in [
        ("http://2130706433/", "http://127.0.0.1/"),
        ("http://0x7f.1/", "http://127.0.0.1/"),
        ("http://017700000001/", "http://127.0.0.1/"),
        ("http://0177.0.0.1/", "http://127.0.0.1/"),
        ("http://127.1/", "http://127.0.0.1/"),
        ("http://0xa9fea9fe/", "http://169.254.169.254/"),
        ("http://[::ffff:127.0.0.1]/", "http://[::ffff:7f00:1]/"),
    ] {
        assert_eq!(
            validate_url(raw, &config, &open).expect(raw).as_str(),
            normal
        );
    }
}

#[tokio::test]
async fn dns_rebinding_cannot_switch_the_address() {
    // First answer allowed (127.0.0.1 through the allowlist), every later one the metadata
    // address. The host is resolved once per connection and the checked address is the one
    // connected to, so the fetch reaches the test server and the second answer is never used.
    let server = TestServer::start_local().await;
    let config = test_config()
        .allow_loopback(false)
        .allow_network("127.0.0.1/32".parse().expect("net"));
    let resolver = Arc::new(RebindingResolver::new(&[
        &["127.0.0.1"],
        &["169.254.169.254"],
    ]));
    let (fetcher, gate) = fetcher(
        config.clone().respect_robots(false),
        Arc::clone(&resolver) as _,
    );
    let url = fetcher
        .validate(&format!(
            "http://rebind.test:{}/article",
            server.addr.port()
        ))
        .expect("url");
    fetcher
        .fetch(&url, None)
        .await
        .expect("first fetch is allowed");
    assert_eq!(
        resolver.lookups.load(Ordering::SeqCst),
        1,
        "one lookup per connection"
    );
    assert_eq!(
        gate.asked(),
        vec![server.addr],
        "connected to the checked address"
    );
    // The next connection resolves again, gets the rebinding answer, and is refused.
    let err = fetcher.fetch(&url, None).await.expect_err("rebound");
    assert_blocked(&err, "link-local");
    assert_eq!(gate.asked().len(), 1, "no socket for the rebinding answer");

    // Blocked first, then allowed: refused at once.
    let resolver = Arc::new(RebindingResolver::new(&[&["10.0.0.7"], &["127.0.0.1"]]));
    let (fetcher, gate) = web_support::fetcher(config.respect_robots(false), resolver);
    let err = fetcher.fetch(&url, None).await.expect_err("blocked first");
    assert_blocked(&err, "private");
    assert!(gate.asked().is_empty());
    assert_eq!(server.hits("/article"), 1);
}

#[tokio::test]
async fn the_gate_stops_what_a_too_open_policy_lets_through() {
    // A deployment mistake: everything allowed. The loopback-only gate still refuses to open a
    // socket to anything off this machine.
    let config = WebConfig::default()
        .allow_network("0.0.0.0/0".parse().expect("net"))
        .respect_robots(false);
    let (fetcher, gate) = literal_fetcher(config);
    let url = fetcher
        .validate("http://169.254.169.254/")
        .expect("allowed by policy");
    let err = fetcher.fetch(&url, None).await.expect_err("gate");
    assert!(matches!(err, WebError::GateRefused(_)), "{err}");
    assert_eq!(gate.asked().len(), 1);
}

#[test]
fn url_forms_are_refused_before_any_traffic() {
    let config = WebConfig::default();
    let policy = AddressPolicy::strict();
    for (url, code) in [
        ("ftp://example.com/", "scheme_not_allowed"),
        ("file:///etc/passwd", "scheme_not_allowed"),
        ("gopher://example.com:70/", "scheme_not_allowed"),
        ("ws://example.com/", "scheme_not_allowed"),
        ("http://user:secret@example.com/", "credentials_in_url"),
        ("https://:secret@example.com/", "credentials_in_url"),
        ("http://example.com:6379/", "port_not_allowed"),
        ("http://example.com:0/", "port_not_allowed"),
        ("http://", "invalid_url"),
        ("http://exa mple.com/", "invalid_url"),
    ] {
        let err = validate_url(url, &config, &policy).expect_err(url);
        assert_eq!(err.code(), code, "{url}: {err}");
    }
    let long = format!("https://example.com/{}", "a".repeat(3000));
    assert_eq!(
        validate_url(&long, &config, &policy)
            .expect_err("long")
            .code(),
        "url_too_long"
    );
    assert!(validate_url("https://example.com/a?b=c#d", &config, &policy).is_ok());
}
