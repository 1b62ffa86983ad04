//! Resume without gap or duplicate while others are posting.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test support: a failed step fails the test

mod common;

use std::sync::Arc;

use chat_core::bus::InProcessBus;
use chat_core::engine::{PostMessage, SessionSubscription, SubscriptionItem};
use chat_core::{EngineConfig, Role};
use common::*;

const WRITERS: u64 = 4;
const PER_WRITER: u64 = 250;
const TOTAL: u64 = WRITERS * PER_WRITER;

/// Reads until `TOTAL`, checking that durable events come exactly once, in order, from `from + 1`.
async fn collect_until_total(mut sub: SessionSubscription, from: u64) -> (Vec<u64>, bool) {
    let mut seqs = Vec::new();
    let mut caught_up = false;
    while !caught_up || seqs.last().copied().unwrap_or(from) < TOTAL {
        match next_item(&mut sub).await {
            SubscriptionItem::Event(event) => {
                let seq = event
                    .seq
                    .expect("only durable events are posted in this test");
                seqs.push(seq);
            }
            SubscriptionItem::CaughtUp { last_seq } => {
                assert!(!caught_up, "CaughtUp is sent once");
                assert_eq!(last_seq, seqs.last().copied().unwrap_or(from));
                caught_up = true;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    (seqs, caught_up)
}

async fn resume_under_load(config: EngineConfig, bus_capacity: usize) {
    let engine = engine_with(config, Arc::new(InProcessBus::new(bus_capacity)));
    let alice = principal("t1", "alice", Role::Customer);
    let manager = principal("t1", "boss", Role::Manager);
    let session = open_session(&engine, &alice).await;

    let early = engine.subscribe(&alice, session.id, 0).await.unwrap();
    let early_reader = tokio::spawn(collect_until_total(early, 0));

    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let (engine, who) = (
            engine.clone(),
            if w % 2 == 0 {
                alice.clone()
            } else {
                manager.clone()
            },
        );
        writers.push(tokio::spawn(async move {
            for i in 0..PER_WRITER {
                engine
                    .post_message(
                        &who,
                        session.id,
                        PostMessage::new(format!("w{w} m{i}")).client_msg_id(format!("w{w}-{i}")),
                    )
                    .await
                    .unwrap();
                if i % 16 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        }));
    }

    // Join several times while posting goes on, each time from what a client would have seen.
    let mut late_readers = Vec::new();
    for _ in 0..5 {
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
        let seen = engine
            .get_session(&alice, session.id)
            .await
            .unwrap()
            .last_seq
            .saturating_sub(7);
        let sub = engine.subscribe(&alice, session.id, seen).await.unwrap();
        late_readers.push((seen, tokio::spawn(collect_until_total(sub, seen))));
    }

    for w in writers {
        w.await.unwrap();
    }
    let (seqs, caught_up) = early_reader.await.unwrap();
    assert!(caught_up);
    assert_eq!(seqs, (1..=TOTAL).collect::<Vec<_>>());
    for (from, reader) in late_readers {
        let (seqs, caught_up) = reader.await.unwrap();
        assert!(caught_up);
        assert_eq!(
            seqs,
            (from + 1..=TOTAL).collect::<Vec<_>>(),
            "resumed from {from}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn resume_has_no_gap_and_no_duplicate_while_others_post() {
    resume_under_load(EngineConfig::default(), 1024).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn resume_survives_lagging_and_small_replay_batches() {
    // A tiny bus buffer makes subscribers lag; a small batch makes the catch-up page.
    resume_under_load(EngineConfig::default().replay_batch(7), 2).await;
}
