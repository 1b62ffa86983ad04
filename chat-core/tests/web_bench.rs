//! Measurements of URL ingest (ignored by default; numbers go to benches/README.md,
//! section "URL ingest"). Run with:
//!
//! `cargo test -p chat-core --release --no-default-features --features web,testing --test web_bench -- --ignored --nocapture`
//!
//! - time per page from submit (fetch start) to the `ready` event, for 200 different pages of
//!   the loopback test server, one at a time, p50/p95/max;
//! - cache-hit latency of `UrlIngestor::load`, and submit-to-ready when the page is cached;
//! - extraction quality on the test pages: needle recall (share of content sentences found)
//!   and boilerplate leakage (share of boilerplate phrases that got through).
//!
//! No packet leaves this machine: see `web_support`.
#![cfg(feature = "web")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // measurement harness

mod web_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chat_core::bus::{BusItem, EventBus, EventKind, InProcessBus, Topic};
use chat_core::ids::{TenantId, UserId};
use chat_core::ingest::web::{UrlIngestor, extract_html};
use chat_core::model::{DocumentStatus, NewSession, SessionKind};
use chat_core::store::{ChatStore, MemoryStore};
use futures::StreamExt;
use web_support::*;

const PAGES: usize = 200;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement; run with --ignored --nocapture in release mode"]
async fn measure_url_ingest() {
    let server = TestServer::start_local().await;
    let store: Arc<dyn ChatStore> = Arc::new(MemoryStore::new());
    let bus: Arc<dyn EventBus> = Arc::new(InProcessBus::default());
    let (fetcher, _) = literal_fetcher(test_config());
    let ingestor = Arc::new(UrlIngestor::with_fetcher(
        Arc::clone(&store),
        Arc::clone(&bus),
        Arc::new(fetcher),
    ));
    let tenant = TenantId::new("bench").unwrap();
    let customer = UserId::new("c").unwrap();

    let mut ready_times = Vec::new();
    let mut cached_ready_times = Vec::new();
    for round in 0..2 {
        let session = store
            .create_session(NewSession::new(
                tenant.clone(),
                SessionKind::Support,
                customer.clone(),
            ))
            .await
            .unwrap();
        let mut sub = bus
            .subscribe(&Topic::session(tenant.clone(), session.id))
            .await
            .unwrap();
        for n in 0..PAGES {
            let started = Instant::now();
            let submitted = ingestor
                .submit(&tenant, session.id, &server.url(&format!("/pages/{n}")))
                .await
                .unwrap();
            loop {
                let Some(BusItem::Event(event)) = sub.next().await else {
                    continue;
                };
                if let EventKind::UrlStatus {
                    document_id,
                    status,
                    ..
                } = &event.kind
                {
                    if *document_id == submitted.document.id && status.is_terminal() {
                        assert_eq!(*status, DocumentStatus::Ready);
                        break;
                    }
                }
            }
            if round == 0 {
                &mut ready_times
            } else {
                &mut cached_ready_times
            }
            .push(started.elapsed());
        }
    }
    let mut hit_times = Vec::new();
    for n in 0..PAGES {
        let url = ingestor
            .fetcher()
            .validate(&server.url(&format!("/pages/{n}")))
            .unwrap();
        let started = Instant::now();
        ingestor.load(&tenant, &url).await.unwrap();
        hit_times.push(started.elapsed());
    }
    for times in [&mut ready_times, &mut cached_ready_times, &mut hit_times] {
        times.sort();
    }
    let counters = ingestor.cache_counters();
    println!("| measurement | n | p50 | p95 | max |");
    println!("|---|---|---|---|---|");
    for (name, times) in [
        ("submit -> ready, page fetched (miss)", &ready_times),
        ("submit -> ready, page cached (hit)", &cached_ready_times),
        ("`UrlIngestor::load`, cache hit", &hit_times),
    ] {
        println!(
            "| {name} | {} | {} | {} | {} |",
            times.len(),
            ms(percentile(times, 50.0)),
            ms(percentile(times, 95.0)),
            ms(*times.last().unwrap())
        );
    }
    println!("cache counters: {counters:?}");
    assert_eq!(counters.misses, PAGES as u64);

    println!();
    println!("| page | needles found | boilerplate leaked | text bytes | extraction time |");
    println!("|---|---|---|---|---|");
    let (mut found_all, mut needles_all, mut leaked_all, mut junk_all) = (0, 0, 0, 0);
    for (name, needles, junk) in quality_cases() {
        let html = String::from_utf8_lossy(&fixture(name)).into_owned();
        let started = Instant::now();
        let text = extract_html(&html, None, 1 << 20).text;
        let took = started.elapsed();
        let found = needles.iter().filter(|n| text.contains(*n)).count();
        let leaked = junk.iter().filter(|j| text.contains(*j)).count();
        println!(
            "| {name} | {found}/{} | {leaked}/{} | {} | {} |",
            needles.len(),
            junk.len(),
            text.len(),
            ms(took)
        );
        found_all += found;
        needles_all += needles.len();
        leaked_all += leaked;
        junk_all += junk.len();
    }
    println!("| all | {found_all}/{needles_all} | {leaked_all}/{junk_all} | | |");
}

/// Pages with the sentences that must be extracted and the boilerplate that must not.
fn quality_cases() -> Vec<(&'static str, Vec<&'static str>, Vec<&'static str>)> {
    vec![
        (
            "article.html",
            vec![
                "Resetting your router",
                "Your Wi-Fi name, password and port forwarding rules are erased.",
                "Write down your broadband user name and password",
                "Find the recessed reset button on the back panel",
                "Press and hold it with a paper clip for fifteen seconds",
                "Wait about three minutes while the router restarts.",
                "If the light stays red",
                "contact support with the serial number printed on the label",
            ],
            vec![
                "We use cookies",
                "Accept",
                "Popular articles",
                "Updating firmware",
                "Products",
                "Contact us",
                "Help >",
                "Share on social media",
                "Related articles",
                "Changing your Wi-Fi password",
                "Was this article helpful",
                "Copyright 2024",
                "Privacy policy",
                "window.analytics",
                "font-family",
            ],
        ),
        (
            "blog.html",
            vec![
                "Five tips for faster checkout",
                "Shoppers abandon carts when checkout takes too long",
                "offer guest checkout",
                "keep the address form short",
                "show shipping costs on the product page",
            ],
            vec![
                "Archive",
                "RSS",
                "3 comments",
                "Great post",
                "We tried guest checkout",
                "Subscribe to our newsletter",
                "Advertisement",
                "powered by Example CMS",
            ],
        ),
        (
            "docs.html",
            vec![
                "API keys",
                "Every request to the API needs a key",
                "Creating a key",
                "store it in a secret manager",
                "curl -H \"Authorization: Bearer $KEY\"",
                "Rotating keys",
                "revoke the old one",
                "Business 50",
            ],
            vec![
                "Overview",
                "Authentication",
                "Rate limits",
                "Previous: Authentication",
                "Next: Rate limits",
                "Internal build id",
            ],
        ),
        (
            "og.html",
            vec![
                "Tarifs de l'abonnement",
                "29,99 euros par mois",
                "Les frais de mise en service sont offerts",
            ],
            vec![],
        ),
    ]
}
