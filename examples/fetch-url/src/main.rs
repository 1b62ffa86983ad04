//! `fetch-url URL... [--allow-loopback]`: runs the URL ingest pipeline (validation, SSRF guard,
//! robots.txt, fetch, extraction, cache, chunking) on each URL and prints one JSON line per
//! URL: `{"url", "final_url", "title", "metadata", "text", "chunks", "cache"}`, or
//! `{"url", "code", "message"}` when it fails. Exit status: 0 when every URL was read, 2 when
//! at least one was refused (validation, SSRF guard, robots.txt), 1 for other failures.
//!
//! `--allow-loopback` lets the guard pass loopback addresses on any port, for trying the tool
//! against a local server. The cache is an in-memory store: a URL given twice is a cache hit
//! the second time.

use std::process::ExitCode;
use std::sync::Arc;

use chat_core::bus::InProcessBus;
use chat_core::ids::TenantId;
use chat_core::ingest::web::{LoadOutcome, UrlIngestor, WebConfig, WebError};
use chat_core::store::MemoryStore;
use serde_json::{Value, json};

const USAGE: &str = "usage: fetch-url URL... [--allow-loopback]";

fn error_line(url: &str, err: &WebError) -> Value {
    json!({ "url": url, "code": err.code(), "message": err.to_string() })
}

async fn run(ingestor: &UrlIngestor, tenant: &TenantId, raw: &str) -> Result<Value, WebError> {
    let url = ingestor.fetcher().validate(raw)?;
    Ok(match ingestor.load(tenant, &url).await? {
        LoadOutcome::Page(page) => {
            let chunks: Vec<Value> = ingestor
                .chunk(&page)
                .into_iter()
                .map(|c| json!({ "path": c.path, "tokens": c.tokens, "text": c.text }))
                .collect();
            json!({
                "url": page.url,
                "final_url": page.final_url,
                "title": page.title,
                "metadata": page.metadata,
                "text": page.text,
                "chunks": chunks,
                "cache": page.cache.as_str(),
            })
        }
        LoadOutcome::Pdf(pdf) => json!({
            "url": url.as_str(),
            "final_url": pdf.final_url,
            "title": null,
            "metadata": { "media_type": "application/pdf", "bytes": pdf.body.len() },
            "text": "",
            "chunks": [],
            "cache": "miss",
        }),
        _ => return Err(WebError::UnsupportedContentType("unknown outcome".into())),
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut urls = Vec::new();
    let mut allow_loopback = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--allow-loopback" => allow_loopback = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            flag if flag.starts_with("--") => {
                eprintln!("unknown option {flag}\n{USAGE}");
                return ExitCode::from(64);
            }
            _ => urls.push(arg),
        }
    }
    if urls.is_empty() {
        eprintln!("{USAGE}");
        return ExitCode::from(64);
    }
    let config = WebConfig::default()
        .allow_loopback(allow_loopback)
        .allow_any_port(allow_loopback);
    let ingestor = match UrlIngestor::new(
        Arc::new(MemoryStore::new()),
        Arc::new(InProcessBus::default()),
        config,
    ) {
        Ok(ingestor) => ingestor,
        Err(err) => {
            eprintln!("cannot set up the fetcher: {err}");
            return ExitCode::FAILURE;
        }
    };
    let tenant = match TenantId::new("fetch-url") {
        Ok(tenant) => tenant,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::FAILURE;
        }
    };
    let (mut refused, mut failed) = (false, false);
    for url in &urls {
        let line = match run(&ingestor, &tenant, url).await {
            Ok(line) => line,
            Err(err) => {
                refused |= err.is_refusal();
                failed |= !err.is_refusal();
                error_line(url, &err)
            }
        };
        println!("{line}");
    }
    if refused {
        ExitCode::from(2)
    } else if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
