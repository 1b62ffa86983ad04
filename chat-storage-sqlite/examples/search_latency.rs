//! Measures KB search latency (p50/p95) over generated articles.
//!
//! `cargo run --release -p chat-storage-sqlite --example search_latency [articles] [queries]`

// A measuring tool: a failure should stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use chat_core::ids::TenantId;
use chat_core::model::KbArticle;
use chat_core::store::KnowledgeStore;
use chat_storage_sqlite::{SqliteConfig, SqliteStore};

/// A small deterministic generator (no dependency needed for made-up words).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        usize::try_from(self.0 >> 33).unwrap() % n
    }
}

fn vocabulary(size: usize) -> Vec<String> {
    const SYLLABLES: [&str; 16] = [
        "ka", "lo", "mi", "re", "tu", "sa", "ne", "po", "vi", "da", "qu", "ze", "fo", "gi", "bu",
        "an",
    ];
    (0..size)
        .map(|i| {
            let (a, b, c) = (i % 16, (i / 16) % 16, (i / 256) % 16);
            format!("{}{}{}", SYLLABLES[a], SYLLABLES[b], SYLLABLES[c])
        })
        .collect()
}

fn text(rng: &mut Lcg, words: &[String], len: usize) -> String {
    (0..len)
        .map(|_| words[rng.below(words.len())].as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let articles: usize = args
        .next()
        .map_or(10_000, |n| n.parse().expect("an article count"));
    let queries: usize = args
        .next()
        .map_or(1_000, |n| n.parse().expect("a query count"));
    let store = SqliteStore::open(SqliteConfig::temporary()).await.unwrap();
    let tenant = TenantId::new("bench").unwrap();
    let words = vocabulary(4000);
    let mut rng = Lcg(7);
    let started = Instant::now();
    for _ in 0..articles {
        let title = text(&mut rng, &words, 6);
        let body = text(&mut rng, &words, 120);
        store
            .upsert_article(KbArticle::new(tenant.clone(), title, body))
            .await
            .unwrap();
    }
    println!("indexed {articles} articles in {:.1?}", started.elapsed());
    let mut times: Vec<Duration> = Vec::with_capacity(queries);
    let mut hits = 0;
    for _ in 0..queries {
        let query = text(&mut rng, &words, 3);
        let started = Instant::now();
        hits += store
            .search_articles(&tenant, &query, 10)
            .await
            .unwrap()
            .len();
        times.push(started.elapsed());
    }
    times.sort();
    let pct = |p: usize| times[(times.len() * p / 100).min(times.len() - 1)];
    println!("| articles | queries | p50 | p95 | p99 | mean hits |");
    println!("|---|---|---|---|---|---|");
    #[allow(clippy::cast_precision_loss)]
    let mean = hits as f64 / queries as f64;
    println!(
        "| {articles} | {queries} | {:.2?} | {:.2?} | {:.2?} | {mean:.1} |",
        pct(50),
        pct(95),
        pct(99)
    );
}
