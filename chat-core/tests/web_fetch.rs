//! The fetcher and extractor against a loopback test server: extraction, charsets, metadata,
//! robots.txt, redirects, SSRF refusals on redirect, limits and content types.
//!
//! No packet leaves this machine: see `web_support` (a loopback-only socket gate in every
//! fetcher, test resolvers instead of DNS).
#![cfg(feature = "web")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers: a failed step fails the test

mod web_support;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chat_core::ingest::web::{
    FetchOutcome, FetchedPage, WebConfig, WebError, WebFetcher, extract_html,
};
use web_support::*;

async fn fetch(fetcher: &WebFetcher, url: &str) -> Result<FetchOutcome, WebError> {
    let url = fetcher.validate(url)?;
    fetcher.fetch(&url, None).await
}

async fn page(fetcher: &WebFetcher, url: &str) -> FetchedPage {
    match fetch(fetcher, url).await {
        Ok(FetchOutcome::Page(page)) => page,
        other => panic!("{url}: expected a page, got {other:?}"),
    }
}

async fn code(fetcher: &WebFetcher, url: &str) -> String {
    match fetch(fetcher, url).await {
        Err(err) => err.code().to_owned(),
        Ok(other) => panic!("{url}: expected an error, got {other:?}"),
    }
}

fn text_of(page: &FetchedPage) -> String {
    let html = String::from_utf8_lossy(&page.body);
    extract_html(
        &html,
        url::Url::parse(&page.final_url).ok().as_ref(),
        1 << 20,
    )
    .text
}

#[tokio::test]
async fn article_keeps_content_and_drops_boilerplate() {
    let server = TestServer::start_local().await;
    let (fetcher, _) = literal_fetcher(test_config());
    let page = page(&fetcher, &server.url("/article")).await;
    let html = String::from_utf8_lossy(&page.body).into_owned();
    let base = url::Url::parse(&page.final_url).ok();
    let extracted = extract_html(&html, base.as_ref(), 1 << 20);
    let text = &extracted.text;
    for needle in [
        "# Resetting your router",
        "## Before you start",
        "### If the light stays red",
        "- Press and hold it with a paper clip",
        "contact support with the serial number",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    for junk in [
        "cookies",
        "Popular articles",
        "Products",
        "Copyright",
        "Related articles",
        "Share on",
        "helpful",
        "window.analytics",
        "Routers",
    ] {
        assert!(!text.contains(junk), "boilerplate {junk:?} in:\n{text}");
    }
    assert_eq!(
        extracted.title.as_deref(),
        Some("Resetting your router | Example Support")
    );
    assert_eq!(
        extracted.metadata.description.as_deref(),
        Some("How to reset the Example X200 router to factory settings.")
    );
    assert_eq!(
        extracted.metadata.canonical_url,
        Some(server.url("/help/reset-router"))
    );
    assert_eq!(extracted.metadata.language.as_deref(), Some("en-GB"));
}

#[tokio::test]
async fn opengraph_and_meta_language() {
    let server = TestServer::start_local().await;
    let (fetcher, _) = literal_fetcher(test_config());
    let page = page(&fetcher, &server.url("/og")).await;
    let extracted = extract_html(&String::from_utf8_lossy(&page.body), None, 1 << 20);
    let og = &extracted.metadata.open_graph;
    assert_eq!(
        og.get("og:title").map(String::as_str),
        Some("Tarifs 2024 de l'abonnement Fibre")
    );
    assert_eq!(
        og.get("og:site_name").map(String::as_str),
        Some("Exemple Télécom")
    );
    assert_eq!(
        og.get("og:image").map(String::as_str),
        Some("https://example.com/tarifs.png")
    );
    assert_eq!(og.len(), 7);
    // No <title>: the OpenGraph title stands in; no <html lang>: the meta tag.
    assert_eq!(
        extracted.title.as_deref(),
        Some("Tarifs 2024 de l'abonnement Fibre")
    );
    assert_eq!(
        extracted.metadata.description.as_deref(),
        Some("Les prix de l'abonnement Fibre pour 2024.")
    );
    assert_eq!(extracted.metadata.language.as_deref(), Some("fr"));
    assert!(extracted.text.contains("29,99 euros par mois"));
}

#[tokio::test]
async fn legacy_charsets_are_decoded() {
    use chat_core::ingest::web::charset::{CharsetSource, decode};
    let server = TestServer::start_local().await;
    let (fetcher, _) = literal_fetcher(test_config());

    let legacy = page(&fetcher, &server.url("/legacy-1252")).await;
    assert_eq!(legacy.charset, None);
    let (html, name, source) = decode(&legacy.body, legacy.charset.as_deref(), true, None);
    assert_eq!((name, source), ("windows-1252", CharsetSource::Meta));
    assert!(
        html.contains(
            "Rücksendung ist für Sie kostenlos – wir erstatten den Kaufpreis in Euro (€)"
        )
    );

    let sjis = page(&fetcher, &server.url("/shift-jis")).await;
    let (html, name, source) = decode(&sjis.body, sjis.charset.as_deref(), true, Some("jp"));
    assert_eq!((name, source), ("Shift_JIS", CharsetSource::Detected));
    let text = extract_html(&html, None, 1 << 20).text;
    assert!(
        text.contains("ご注文の商品は三営業日以内に発送いたします"),
        "{text}"
    );

    let plain = page(&fetcher, &server.url("/plain")).await;
    assert_eq!(
        (plain.media_type.as_str(), plain.charset.as_deref()),
        ("text/plain", Some("utf-8"))
    );
}

#[tokio::test]
async fn js_only_page_yields_almost_no_text() {
    let server = TestServer::start_local().await;
    let (fetcher, _) = literal_fetcher(test_config());
    let page = page(&fetcher, &server.url("/js-only")).await;
    let text = text_of(&page);
    assert!(!text.contains("Rendered by script"));
    assert!(text.len() < 20, "{text:?}");
}

#[tokio::test]
async fn robots_txt_is_honoured_and_cached() {
    let server = TestServer::start_local().await;
    let (fetcher, _) = literal_fetcher(test_config());
    assert_eq!(
        code(&fetcher, &server.url("/private/secret")).await,
        "robots_disallowed"
    );
    assert_eq!(server.hits("/private/secret"), 0);
    page(&fetcher, &server.url("/article")).await;
    assert_eq!(
        server.hits("/robots.txt"),
        1,
        "robots.txt is cached per origin"
    );

    let (polite_off, _) = literal_fetcher(test_config().respect_robots(false));
    page(&polite_off, &server.url("/private/secret")).await;
}

#[tokio::test]
async fn unreachable_or_failing_robots_disallow_and_4xx_allows() {
    let (fetcher, _) = literal_fetcher(test_config());
    let missing = robots_status_server(404).await;
    page(&fetcher, &format!("http://{missing}/page")).await;
    for status in [500, 503, 429] {
        let failing = robots_status_server(status).await;
        assert_eq!(
            code(&fetcher, &format!("http://{failing}/page")).await,
            "robots_disallowed",
            "robots.txt {status}"
        );
    }
    // Nothing listens there: robots.txt is unreachable, so the page is not fetched either.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    assert_eq!(
        code(&fetcher, &format!("http://127.0.0.1:{port}/page")).await,
        "robots_disallowed"
    );
}

#[tokio::test]
async fn redirects_chain_limit_and_loop() {
    let server = TestServer::start_local().await;
    let (fetcher, _) = literal_fetcher(test_config());
    let chained = page(&fetcher, &server.url("/redirect/1")).await;
    assert_eq!(chained.final_url, server.url("/article"));
    assert_eq!(chained.redirects.len(), 3);
    assert_eq!(
        code(&fetcher, &server.url("/chain/0")).await,
        "too_many_redirects"
    );
    assert_eq!(server.hits("/chain/5"), 1);
    assert_eq!(server.hits("/chain/6"), 0, "at most 5 hops are followed");
    assert_eq!(
        code(&fetcher, &server.url("/loop/a")).await,
        "redirect_loop"
    );
    assert_eq!(
        code(&fetcher, &server.url("/to-ftp")).await,
        "scheme_not_allowed"
    );
}

#[tokio::test]
async fn redirects_into_blocked_ranges_are_refused() {
    // The server listens on 127.0.0.2, which the allowlist admits; loopback in general is not.
    let server = TestServer::start(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))).await;
    let config = test_config()
        .allow_loopback(false)
        .allow_network("127.0.0.2/32".parse().expect("net"));
    let resolver = Arc::new(MapResolver::default().with("metadata.test", &["169.254.169.254"]));
    let (fetcher, gate) = fetcher(config, resolver);
    page(&fetcher, &server.url("/article")).await;
    let err = fetch(&fetcher, &server.url("/to-metadata"))
        .await
        .expect_err("metadata");
    assert_blocked(&err, "link-local");
    let err = fetch(&fetcher, &server.url("/to-metadata-name"))
        .await
        .expect_err("metadata by name");
    assert_blocked(&err, "link-local");
    let err = fetch(&fetcher, &server.url("/to-loopback"))
        .await
        .expect_err("loopback");
    assert_blocked(&err, "loopback");
    assert_eq!(
        server.hits("/article"),
        1,
        "the refused redirect target was never requested"
    );
    // The guard refused before any socket: the gate only ever saw the allowed server.
    assert!(
        gate.asked().iter().all(|a| a.ip() == server.addr.ip()),
        "{:?}",
        gate.asked()
    );
}

#[tokio::test]
async fn slow_endpoint_times_out() {
    let server = TestServer::start_local().await;
    let (fetcher, _) = literal_fetcher(test_config().total_timeout(Duration::from_millis(500)));
    let started = Instant::now();
    let err = fetch(&fetcher, &server.url("/slow"))
        .await
        .expect_err("slow");
    assert!(
        matches!(err, WebError::Timeout { phase: "fetch", .. }),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn huge_pages_are_cut_off() {
    let server = TestServer::start_local().await;
    let (fetcher, _) = literal_fetcher(test_config());
    assert_eq!(code(&fetcher, &server.url("/huge")).await, "too_large");
    assert_eq!(
        code(&fetcher, &server.url("/huge-declared")).await,
        "too_large"
    );
    let (small, _) = literal_fetcher(test_config().max_body_bytes(1000));
    assert_eq!(code(&small, &server.url("/article")).await, "too_large");
}

#[tokio::test]
async fn content_types_and_statuses() {
    let server = TestServer::start_local().await;
    let (fetcher, _) = literal_fetcher(test_config());
    assert_eq!(
        code(&fetcher, &server.url("/binary")).await,
        "unsupported_media_type"
    );
    assert_eq!(
        code(&fetcher, &server.url("/image")).await,
        "unsupported_media_type"
    );
    assert_eq!(server.hits("/binary"), 1);
    match fetch(&fetcher, &server.url("/pdf")).await {
        Ok(FetchOutcome::Pdf(pdf)) => assert!(pdf.body.starts_with(b"%PDF-")),
        other => panic!("expected a PDF, got {other:?}"),
    }
    assert_eq!(
        page(&fetcher, &server.url("/untyped")).await.media_type,
        "text/html"
    );
    let err = fetch(&fetcher, &server.url("/missing"))
        .await
        .expect_err("404");
    assert!(matches!(err, WebError::HttpStatus { status: 404 }), "{err}");
    let err = fetch(&fetcher, &server.url("/500")).await.expect_err("500");
    assert!(matches!(err, WebError::HttpStatus { status: 500 }), "{err}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn per_host_rate_limit_spaces_requests() {
    let server = TestServer::start_local().await;
    let (fetcher, _) = literal_fetcher(test_config().per_host_interval(Duration::from_millis(300)));
    let started = Instant::now();
    for _ in 0..3 {
        page(&fetcher, &server.url("/article")).await;
    }
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "{:?}",
        started.elapsed()
    );
    let (impatient, _) = literal_fetcher(
        test_config()
            .per_host_interval(Duration::from_secs(60))
            .total_timeout(Duration::from_secs(1)),
    );
    page(&impatient, &server.url("/article")).await;
    assert_eq!(
        code(&impatient, &server.url("/article")).await,
        "rate_limited"
    );
}

#[tokio::test]
async fn loopback_is_refused_unless_allowed() {
    let server = TestServer::start_local().await;
    let (strict, gate) = literal_fetcher(test_config().allow_loopback(false));
    assert_eq!(
        code(&strict, &server.url("/article")).await,
        "blocked_address"
    );
    assert!(gate.asked().is_empty());
    assert_eq!(server.hits("/article"), 0);
    let resolver = Arc::new(MapResolver::default().with("localhost", &["127.0.0.1"]));
    let (strict, gate) = fetcher(WebConfig::default().allow_any_port(true), resolver);
    assert_eq!(
        code(
            &strict,
            &format!("http://localhost:{}/article", server.addr.port())
        )
        .await,
        "blocked_address"
    );
    assert!(gate.asked().is_empty());
}
