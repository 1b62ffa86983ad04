//! KB search latency over 10,000 generated articles: p50/p95/p99 of 2,000 queries, through the
//! engine (authorization, limits, the store's full-text search). The in-memory store's BM25 runs
//! in the same process as the baseline. Prints a Markdown table.
//!
//! Run: `cargo bench -p chat-benches --bench kb_search` (ARTICLES=n and QUERIES=n override).
// A benchmark harness aborts on a failed setup step; that is its error handling.
#![allow(clippy::expect_used)]

use std::time::Instant;

use chat_benches::corpus;
use chat_benches::setup::{self, Backend};
use chat_core::Role;
use chat_core::model::KbArticle;
use hdrhistogram::Histogram;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing: run a tiny smoke pass then.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let articles = env_usize("ARTICLES", if smoke { 200 } else { 10_000 });
    let queries = env_usize("QUERIES", if smoke { 50 } else { 2_000 });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let corpus = corpus::articles(articles, 42);
    let questions = corpus::queries(queries, 7);

    println!("| store | articles | queries | p50 | p95 | p99 | mean hits |");
    println!("|---|---|---|---|---|---|---|");
    for backend in [Backend::Memory, Backend::Sqlite] {
        runtime.block_on(async {
            let (store, _dir) = backend.open().await;
            let engine = setup::engine(store);
            let admin = setup::principal("admin", Role::Admin);
            let customer = setup::principal("customer", Role::Customer);
            for a in &corpus {
                engine
                    .upsert_article(
                        &admin,
                        KbArticle::new(admin.tenant_id.clone(), &a.title, &a.body),
                    )
                    .await
                    .expect("article stored");
            }
            // Warm up caches (page cache, prepared statements).
            for q in questions.iter().take(50) {
                engine
                    .search_articles(&customer, q, 8)
                    .await
                    .expect("search");
            }
            let mut histogram = Histogram::<u64>::new(3).expect("histogram");
            let mut hits = 0usize;
            for q in &questions {
                let start = Instant::now();
                let found = engine
                    .search_articles(&customer, q, 8)
                    .await
                    .expect("search");
                histogram
                    .record(start.elapsed().as_micros() as u64)
                    .expect("recorded");
                hits += found.len();
            }
            println!(
                "| {} | {} | {} | {:.2} ms | {:.2} ms | {:.2} ms | {:.1} |",
                backend.name(),
                articles,
                queries,
                histogram.value_at_quantile(0.50) as f64 / 1000.0,
                histogram.value_at_quantile(0.95) as f64 / 1000.0,
                histogram.value_at_quantile(0.99) as f64 / 1000.0,
                hits as f64 / queries as f64
            );
        });
    }
}
