//! Persisted message throughput through the engine (validate, authorize, append with seq,
//! publish): one session with one writer, and 64 sessions with 8 concurrent writers. The
//! in-memory store runs in the same process as the baseline; PostgreSQL (a fresh schema at
//! `CHAT_TEST_POSTGRES_URL`, in-process bus) runs beside SQLite when the variable is set.
// A benchmark harness aborts on a failed setup step; that is its error handling.
#![allow(clippy::expect_used)]

use std::time::{Duration, Instant};

use chat_benches::setup::{self, Backend};
use chat_core::Role;
use chat_core::engine::{CreateSession, PostMessage};
use chat_core::model::SessionKind;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn post_message(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("post_message");
    group.throughput(Throughput::Elements(1));
    group.measurement_time(Duration::from_secs(8));

    for backend in Backend::available() {
        let (store, _dir) = runtime.block_on(backend.open());
        let engine = setup::engine(store);
        let customer = setup::principal("customer-0", Role::Customer);
        let session = runtime
            .block_on(engine.create_session(&customer, CreateSession::new(SessionKind::Support)))
            .expect("session");

        group.bench_function(format!("{}/1_session_1_writer", backend.name()), |b| {
            b.to_async(&runtime).iter_custom(|iters| {
                let (engine, customer) = (engine.clone(), customer.clone());
                async move {
                    let start = Instant::now();
                    for i in 0..iters {
                        engine
                            .post_message(
                                &customer,
                                session.id,
                                PostMessage::new(format!("message {i} about my invoice")),
                            )
                            .await
                            .expect("posted");
                    }
                    start.elapsed()
                }
            })
        });

        // 64 sessions of 64 customers; 8 writers, each posting round-robin into its 8 sessions.
        let writers: Vec<_> = (0..8)
            .map(|w| {
                let sessions: Vec<_> = (0..8)
                    .map(|s| {
                        let customer =
                            setup::principal(&format!("customer-{w}-{s}"), Role::Customer);
                        let session = runtime
                            .block_on(engine.create_session(
                                &customer,
                                CreateSession::new(SessionKind::Support),
                            ))
                            .expect("session");
                        (customer, session.id)
                    })
                    .collect();
                sessions
            })
            .collect();
        group.bench_function(format!("{}/64_sessions_8_writers", backend.name()), |b| {
            b.to_async(&runtime).iter_custom(|iters| {
                let (engine, writers) = (engine.clone(), writers.clone());
                async move {
                    let per_writer = iters.div_ceil(8);
                    let start = Instant::now();
                    let tasks: Vec<_> = writers
                        .into_iter()
                        .map(|sessions| {
                            let engine = engine.clone();
                            tokio::spawn(async move {
                                for i in 0..per_writer {
                                    let (customer, session) = &sessions[(i % 8) as usize];
                                    engine
                                        .post_message(
                                            customer,
                                            *session,
                                            PostMessage::new(format!("message {i}")),
                                        )
                                        .await
                                        .expect("posted");
                                }
                            })
                        })
                        .collect();
                    for task in tasks {
                        task.await.expect("writer");
                    }
                    // Scale to the requested count (8 * per_writer >= iters).
                    start
                        .elapsed()
                        .mul_f64(iters as f64 / (per_writer * 8) as f64)
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, post_message);
criterion_main!(benches);
