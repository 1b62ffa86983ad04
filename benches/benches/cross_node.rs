//! Cross-node delivery latency: a message posted on node A (`ChatEngine::post_message`) until
//! it comes out of a subscription on node B (`ChatEngine::subscribe`), two engines on one
//! PostgreSQL schema with a `PgEventBus` each, at a steady 500 messages/s for 20 s over 10
//! sessions (each post in its own task, as from many clients). In the same run, the single-node baseline: SQLite with the in-process bus, posted
//! and received on one engine. Prints a Markdown table. Needs `CHAT_TEST_POSTGRES_URL`.
//!
//! Run: `cargo bench -p chat-benches --bench cross_node`.
// A benchmark harness aborts on a failed setup step; that is its error handling.
#![allow(clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chat_benches::setup::{self, Backend, PgSchema};
use chat_core::bus::{EventBus, EventKind};
use chat_core::engine::{CreateSession, PostMessage, SubscriptionItem};
use chat_core::model::SessionKind;
use chat_core::store::ChatStore;
use chat_core::{ChatEngine, Role};
use chat_storage_postgres::{PgBusConfig, PgEventBus};
use futures::StreamExt;
use hdrhistogram::Histogram;
use tokio::sync::mpsc;

/// Messages posted per second.
const RATE: u64 = 500;
/// How long messages are posted.
const DURATION: Duration = Duration::from_secs(20);
/// Sessions the messages are spread over (one subscriber each on the receiving node).
const SESSIONS: usize = 10;
/// How long to wait for the last messages after posting ends before counting them lost.
const DRAIN: Duration = Duration::from_secs(30);

/// What one run measured.
struct Outcome {
    name: &'static str,
    posted: u64,
    seconds: f64,
    latency_us: Histogram<u64>,
    lost: u64,
}

/// Posts on `poster` and receives on `receiver`; returns the latencies.
async fn drive(name: &'static str, poster: ChatEngine, receiver: ChatEngine) -> Outcome {
    let mut sessions = Vec::new();
    let (received_tx, mut received_rx) = mpsc::unbounded_channel::<(String, Instant)>();
    for s in 0..SESSIONS {
        let customer = setup::principal(&format!("customer-{s}"), Role::Customer);
        let session = poster
            .create_session(&customer, CreateSession::new(SessionKind::Support))
            .await
            .expect("session");
        let mut subscription = receiver
            .subscribe(&customer, session.id, 0)
            .await
            .expect("subscribe");
        loop {
            match subscription.next().await.expect("item").expect("ok") {
                SubscriptionItem::CaughtUp { .. } => break,
                _ => continue,
            }
        }
        let received_tx = received_tx.clone();
        tokio::spawn(async move {
            while let Some(Ok(item)) = subscription.next().await {
                let SubscriptionItem::Event(event) = item else {
                    continue;
                };
                if let EventKind::MessageCreated { message } = &event.kind
                    && received_tx
                        .send((message.content.clone(), Instant::now()))
                        .is_err()
                {
                    break;
                }
            }
        });
        sessions.push((customer, session.id));
    }
    drop(received_tx);

    let sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::new(Mutex::new(HashMap::new()));
    let total = RATE * DURATION.as_secs();
    let poster_task = {
        let sent = Arc::clone(&sent);
        tokio::spawn(async move {
            // One post per tick, each in its own task (as from many clients), so a slow post
            // does not lower the rate.
            let mut ticks = tokio::time::interval(Duration::from_secs(1) / RATE as u32);
            let start = Instant::now();
            let mut posts = Vec::new();
            for i in 0..total {
                ticks.tick().await;
                let (customer, session) = sessions[i as usize % SESSIONS].clone();
                let content = format!("message {i}");
                sent.lock()
                    .expect("lock")
                    .insert(content.clone(), Instant::now());
                let poster = poster.clone();
                posts.push(tokio::spawn(async move {
                    poster
                        .post_message(&customer, session, PostMessage::new(content))
                        .await
                        .expect("posted");
                }));
            }
            let elapsed = start.elapsed();
            for post in posts {
                post.await.expect("post");
            }
            elapsed
        })
    };
    let mut latency_us = Histogram::<u64>::new(3).expect("histogram");
    let mut received = 0;
    let mut posting = Some(poster_task);
    let mut elapsed = Duration::ZERO;
    loop {
        let next = if posting.is_some() {
            tokio::time::timeout(DURATION + DRAIN, received_rx.recv()).await
        } else {
            tokio::time::timeout(DRAIN, received_rx.recv()).await
        };
        let Ok(Some((content, at))) = next else { break };
        let start = sent.lock().expect("lock").get(&content).copied();
        if let Some(start) = start {
            let us = u64::try_from(at.duration_since(start).as_micros()).unwrap_or(u64::MAX);
            latency_us.record(us.max(1)).expect("record");
            received += 1;
        }
        if received == total {
            break;
        }
        if posting
            .as_ref()
            .is_some_and(tokio::task::JoinHandle::is_finished)
        {
            elapsed = posting.take().expect("task").await.expect("poster");
        }
    }
    if let Some(task) = posting {
        elapsed = task.await.expect("poster");
    }
    Outcome {
        name,
        posted: total,
        seconds: elapsed.as_secs_f64(),
        latency_us,
        lost: total - received,
    }
}

fn engine(store: Arc<dyn ChatStore>, bus: Option<Arc<dyn EventBus>>) -> ChatEngine {
    let builder = ChatEngine::builder().store(store);
    match bus {
        Some(bus) => builder.bus(bus),
        None => builder,
    }
    .build()
    .expect("engine")
}

async fn run() {
    if setup::postgres_url().is_none() {
        eprintln!("CHAT_TEST_POSTGRES_URL is not set: nothing measured");
        return;
    }
    let (sqlite, _dir) = Backend::Sqlite.open().await;
    let single = engine(sqlite, None);
    let baseline = drive("sqlite, one node, in-process bus", single.clone(), single).await;

    let schema = PgSchema::fresh();
    let (a, b) = (schema.store().await, schema.store().await);
    let bus_a = PgEventBus::start(&a, PgBusConfig::default())
        .await
        .expect("bus A");
    let bus_b = PgEventBus::start(&b, PgBusConfig::default())
        .await
        .expect("bus B");
    let node_a = engine(Arc::new(a), Some(Arc::new(bus_a)));
    let node_b = engine(Arc::new(b), Some(Arc::new(bus_b)));
    let cross = drive("postgres, post on A -> subscriber on B", node_a, node_b).await;

    let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    println!("| setup | messages | rate (msg/s) | p50 | p99 | max | lost |");
    println!("|---|---|---|---|---|---|---|");
    for o in [&baseline, &cross] {
        println!(
            "| {} | {} | {:.0} | {:.2} ms | {:.2} ms | {:.2} ms | {} |",
            o.name,
            o.posted,
            o.posted as f64 / o.seconds,
            ms(&o.latency_us, 0.5),
            ms(&o.latency_us, 0.99),
            o.latency_us.max() as f64 / 1000.0,
            o.lost
        );
    }
    println!(
        "postgres / sqlite: p50 x{:.1}, p99 x{:.1}",
        ms(&cross.latency_us, 0.5) / ms(&baseline.latency_us, 0.5),
        ms(&cross.latency_us, 0.99) / ms(&baseline.latency_us, 0.99)
    );
}

fn main() {
    // `cargo bench` passes `--bench`; there is nothing to filter here.
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(run());
}
