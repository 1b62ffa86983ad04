//! The connection design under load: concurrent writers never surface `SQLITE_BUSY`, one failing
//! write does not spoil the others of its group, readers are not blocked by a long write, and a
//! lock held by another process surfaces as a retryable error.

// Test code: a failed expectation must fail the test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use chat_core::ids::{SessionId, TenantId, UserId};
use chat_core::model::{
    DocumentChunk, KbArticle, NewDocument, NewMessage, NewSession, SenderKind, SessionKind,
};
use chat_core::store::{
    DocumentStore, KnowledgeStore, MessageQuery, MessageStore, SessionStore, StoreError,
};
use chat_storage_sqlite::{SqliteConfig, SqliteStore};
use rusqlite::Connection;

fn tenant() -> TenantId {
    TenantId::new("acme").unwrap()
}

fn customer() -> UserId {
    UserId::new("carla").unwrap()
}

async fn session(store: &SqliteStore) -> SessionId {
    store
        .create_session(NewSession::new(tenant(), SessionKind::Support, customer()))
        .await
        .unwrap()
        .id
}

fn message(session: SessionId, text: String) -> NewMessage {
    NewMessage::new(
        tenant(),
        session,
        SenderKind::Customer,
        Some(customer()),
        text,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_never_see_busy_and_seq_stays_gap_free() {
    const WRITERS: usize = 16;
    const PER_WRITER: usize = 150;
    let store = Arc::new(SqliteStore::open(SqliteConfig::temporary()).await.unwrap());
    let shared = session(&store).await;
    let mut own = Vec::new();
    for _ in 0..WRITERS {
        own.push(session(&store).await);
    }
    let mut tasks = Vec::new();
    for (w, own) in own.into_iter().enumerate() {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            for i in 0..PER_WRITER {
                // Alternate the shared session, the writer's own session and KB upserts.
                store
                    .append_message(message(shared, format!("w{w} m{i}")))
                    .await?;
                store
                    .append_message(message(own, format!("own {i}")))
                    .await?;
                if i % 10 == 0 {
                    store
                        .upsert_article(KbArticle::new(tenant(), format!("w{w} a{i}"), "body text"))
                        .await?;
                }
            }
            Ok::<_, StoreError>(())
        }));
    }
    for task in tasks {
        task.await
            .unwrap()
            .unwrap_or_else(|err| panic!("a concurrent write failed: {err}"));
    }
    let mut seqs = Vec::new();
    let mut after = 0;
    loop {
        let page = store
            .list_messages(&tenant(), shared, MessageQuery::after(after, 1000))
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = last.seq;
        seqs.extend(page.iter().map(|m| m.seq));
    }
    let expected: Vec<u64> = (1..=u64::try_from(WRITERS * PER_WRITER).unwrap()).collect();
    assert_eq!(
        seqs, expected,
        "seq is not strictly increasing and gap-free"
    );
    assert_eq!(
        store.get_session(&tenant(), shared).await.unwrap().last_seq,
        *expected.last().unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_write_does_not_spoil_its_group() {
    // A large group size and many concurrent callers make the writer group jobs together.
    let store = Arc::new(
        SqliteStore::open(SqliteConfig::temporary().max_write_batch(256))
            .await
            .unwrap(),
    );
    let good = session(&store).await;
    let missing = SessionId::new();
    let mut tasks = Vec::new();
    for i in 0..400 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let target = if i % 3 == 0 { missing } else { good };
            (
                i,
                store.append_message(message(target, format!("m{i}"))).await,
            )
        }));
    }
    let mut ok = 0_u64;
    for task in tasks {
        let (i, result) = task.await.unwrap();
        match result {
            Ok(inserted) => {
                assert!(i % 3 != 0, "a message to a missing session was stored");
                assert!(inserted.created);
                ok += 1;
            }
            Err(err) => {
                assert!(i % 3 == 0, "a valid append failed: {err}");
                assert!(err.is_not_found(), "{err}");
            }
        }
    }
    let stored = store
        .list_messages(&tenant(), good, MessageQuery::after(0, 1000))
        .await
        .unwrap();
    assert_eq!(u64::try_from(stored.len()).unwrap(), ok);
    assert!(
        stored.iter().zip(1..).all(|(m, seq)| m.seq == seq),
        "a failed job left a gap or a half write"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readers_are_not_blocked_by_a_long_write() {
    let store = Arc::new(SqliteStore::open(SqliteConfig::temporary()).await.unwrap());
    let id = session(&store).await;
    store
        .append_message(message(id, "before".into()))
        .await
        .unwrap();
    let doc = store
        .insert_document(NewDocument::new(
            tenant(),
            id,
            "big.txt",
            "text/plain",
            1,
            "ab".repeat(32),
        ))
        .await
        .unwrap()
        .value;
    const CHUNKS: usize = 30_000;
    let chunks: Vec<DocumentChunk> = (0..u32::try_from(CHUNKS).unwrap())
        .map(|i| {
            DocumentChunk::new(
                tenant(),
                id,
                doc.id,
                i,
                format!("chunk {i} of a long text about warranties"),
                None,
            )
        })
        .collect();
    let writer = {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            let started = Instant::now();
            store
                .replace_chunks(&tenant(), doc.id, chunks)
                .await
                .unwrap();
            started.elapsed()
        })
    };
    // Read while the write runs; each read must come back quickly and see the committed state.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut reads = 0;
    let mut slowest = Duration::ZERO;
    while !writer.is_finished() {
        let started = Instant::now();
        let messages = store
            .list_messages(&tenant(), id, MessageQuery::after(0, 10))
            .await
            .unwrap();
        slowest = slowest.max(started.elapsed());
        assert_eq!(messages.len(), 1);
        // All or nothing: a reader sees the old state or (once committed) the whole new one.
        let seen = store.list_chunks(&tenant(), doc.id).await.unwrap().len();
        assert!(
            seen == 0 || seen == CHUNKS,
            "saw a partial write: {seen} chunks"
        );
        reads += 1;
    }
    let write_time = writer.await.unwrap();
    assert!(
        reads >= 3,
        "the write ({write_time:?}) was too short to test anything: {reads} reads"
    );
    assert!(
        slowest < write_time / 2,
        "a read took {slowest:?} during a {write_time:?} write: readers were blocked"
    );
    assert_eq!(
        store.list_chunks(&tenant(), doc.id).await.unwrap().len(),
        CHUNKS
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_held_by_another_process_is_retryable_and_reads_go_on() {
    let store =
        SqliteStore::open(SqliteConfig::temporary().busy_timeout(Duration::from_millis(200)))
            .await
            .unwrap();
    let id = session(&store).await;
    let path = store.path().unwrap().to_path_buf();
    let other = Connection::open(&path).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();

    let err = store
        .append_message(message(id, "blocked".into()))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
    assert!(err.is_retryable());
    // Reads do not need the write lock.
    assert_eq!(store.get_session(&tenant(), id).await.unwrap().last_seq, 0);

    other.execute_batch("ROLLBACK").unwrap();
    let ok = store
        .append_message(message(id, "after".into()))
        .await
        .unwrap();
    assert_eq!(
        ok.value.seq, 1,
        "the failed attempt must not have used a seq"
    );
}
