//! Measures persisted messages per second with and without group commit.
//!
//! `cargo run --release -p chat-storage-sqlite --example write_throughput [messages]`
//!
//! Scenarios: one writer appending to one session, and 8 concurrent writers over 64 sessions;
//! each with `max_write_batch` 1 (no group commit) and the default. Every run uses a fresh
//! temporary database.

// A measuring tool: a failure should stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Instant;

use chat_core::ids::{SessionId, TenantId, UserId};
use chat_core::model::{NewMessage, NewSession, SenderKind, SessionKind};
use chat_core::store::{MessageStore, SessionStore};
use chat_storage_sqlite::{DEFAULT_MAX_WRITE_BATCH, SqliteConfig, SqliteStore};

async fn run(batch: usize, writers: usize, sessions: usize, messages: usize) -> f64 {
    let store = Arc::new(
        SqliteStore::open(SqliteConfig::temporary().max_write_batch(batch))
            .await
            .unwrap(),
    );
    let tenant = TenantId::new("bench").unwrap();
    let customer = UserId::new("customer").unwrap();
    let mut ids: Vec<SessionId> = Vec::new();
    for _ in 0..sessions {
        let new = NewSession::new(tenant.clone(), SessionKind::Support, customer.clone());
        ids.push(store.create_session(new).await.unwrap().id);
    }
    let ids = Arc::new(ids);
    let per_writer = messages / writers;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let (store, ids, tenant, customer) = (
            Arc::clone(&store),
            Arc::clone(&ids),
            tenant.clone(),
            customer.clone(),
        );
        tasks.push(tokio::spawn(async move {
            for i in 0..per_writer {
                let session = ids[(w + i * writers) % ids.len()];
                let text = format!("message {i} from writer {w}: where is my parcel?");
                let message = NewMessage::new(
                    tenant.clone(),
                    session,
                    SenderKind::Customer,
                    Some(customer.clone()),
                    text,
                )
                .client_msg_id(Some(format!("w{w}-{i}")));
                store.append_message(message).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    store.close().await.unwrap();
    #[allow(clippy::cast_precision_loss)]
    let rate = (per_writer * writers) as f64 / elapsed;
    rate
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let messages: usize = std::env::args()
        .nth(1)
        .map_or(20_000, |n| n.parse().expect("a message count"));
    println!("| scenario | max_write_batch | messages/s |");
    println!("|---|---|---|");
    for (name, writers, sessions) in [
        ("1 session, 1 writer", 1, 1),
        ("64 sessions, 8 writers", 8, 64),
    ] {
        for batch in [1, DEFAULT_MAX_WRITE_BATCH] {
            let rate = run(batch, writers, sessions, messages).await;
            println!("| {name} | {batch} | {rate:.0} |");
        }
    }
}
