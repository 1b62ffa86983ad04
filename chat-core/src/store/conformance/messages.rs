//! Conformance cases of [`MessageStore`](crate::store::MessageStore).

use std::collections::HashSet;
use std::sync::Arc;

use super::{StoreFactory, assert_not_found, new_session, open, say, second_handle, tenant, user};
use crate::ids::{MessageId, SessionId};
use crate::model::{
    ChunkLocator, Citation, ContextSourceKind, ContextSourceRecord, MessageMetadata, NewMessage,
    SenderKind, TokenUsage, Visibility,
};
use crate::store::{ChatStore, MAX_MESSAGE_PAGE, MessageQuery};

/// Concurrent writers in [`concurrent_seq_is_gap_free`].
pub const SEQ_WRITERS: u64 = 8;
/// Messages per writer in [`concurrent_seq_is_gap_free`].
pub const SEQ_MESSAGES_PER_WRITER: u64 = 500;
/// Concurrent retries in [`concurrent_idempotent_append`].
pub const IDEMPOTENT_RETRIES: usize = 16;

/// Appends get `seq` 1, 2, 3..., bump the session, and read back with every field.
pub async fn append_assigns_seq(store: Arc<dyn ChatStore>) {
    let t = tenant("t-append");
    let session = new_session(&*store, &t, "cust").await;
    let first = say(&*store, &session, "hello").await;
    assert_eq!(first.seq, 1);
    let after_first = store.get_session(&t, session.id).await.unwrap();
    assert_eq!(after_first.last_seq, 1);
    assert!(after_first.updated_at >= session.updated_at);

    let mut metadata = MessageMetadata::default();
    metadata.citations.push(Citation {
        index: 1,
        source_kind: ContextSourceKind::Kb,
        source_id: "kb-7".into(),
        title: "Refunds".into(),
        locator: Some(ChunkLocator::Page {
            page: 3,
            end_page: Some(4),
        }),
        url: Some("https://help.example/refunds".into()),
        snippet: Some("Refunds take 5 days".into()),
        score: 0.75,
    });
    metadata.confidence = Some(0.5);
    metadata.provider = Some("offline".into());
    metadata.model = Some("extractive".into());
    metadata.usage = Some(TokenUsage::new(120, 30));
    metadata.offline = true;
    metadata
        .extra
        .insert("host_key".into(), serde_json::json!([1, "two"]));
    let ai = NewMessage::new(
        t.clone(),
        session.id,
        SenderKind::Ai,
        None,
        "Refunds take 5 days [1].",
    )
    .metadata(metadata.clone())
    .client_msg_id(Some("ai-1".into()));
    let second = store.append_message(ai.clone()).await.unwrap();
    assert!(second.created);
    let second = second.value;
    assert_eq!(second.id, ai.id);
    assert_eq!(second.tenant_id, t);
    assert_eq!(second.session_id, session.id);
    assert_eq!(second.seq, 2);
    assert_eq!(second.sender, SenderKind::Ai);
    assert_eq!(second.sender_id, None);
    assert_eq!(second.visibility, Visibility::Public);
    assert_eq!(second.content, "Refunds take 5 days [1].");
    assert_eq!(second.metadata, metadata);
    assert_eq!(second.client_msg_id.as_deref(), Some("ai-1"));
    assert!(second.created_at >= first.created_at);

    let note = NewMessage::new(
        t.clone(),
        session.id,
        SenderKind::Agent,
        Some(user("agent")),
        "internal: vip",
    )
    .visibility(Visibility::Internal);
    let third = store.append_message(note).await.unwrap().value;
    assert_eq!(third.seq, 3);
    assert_eq!(third.visibility, Visibility::Internal);
    assert_eq!(third.sender_id, Some(user("agent")));

    for message in [&first, &second, &third] {
        assert_eq!(&store.get_message(&t, message.id).await.unwrap(), message);
    }
    let session_after = store.get_session(&t, session.id).await.unwrap();
    assert_eq!(session_after.last_seq, 3);
    assert!(session_after.updated_at >= after_first.updated_at);
    // Sessions count separately.
    let other = new_session(&*store, &t, "cust").await;
    assert_eq!(say(&*store, &other, "x").await.seq, 1);
}

/// Appending to a missing session or one of another tenant is `NotFound` and stores nothing.
pub async fn append_not_found(store: Arc<dyn ChatStore>) {
    let t = tenant("t-append-nf");
    let missing = NewMessage::new(t.clone(), SessionId::new(), SenderKind::Customer, None, "x");
    assert_not_found(
        store.append_message(missing).await,
        "append to a missing session",
    );
    let session = new_session(&*store, &t, "c").await;
    let intruder = NewMessage::new(
        tenant("t-append-other"),
        session.id,
        SenderKind::Customer,
        None,
        "x",
    )
    .client_msg_id(Some("k".into()));
    assert_not_found(
        store.append_message(intruder).await,
        "append to another tenant's session",
    );
    assert_eq!(store.get_session(&t, session.id).await.unwrap().last_seq, 0);
    assert!(
        store
            .list_messages(&t, session.id, MessageQuery::after(0, 10))
            .await
            .unwrap()
            .is_empty()
    );
}

/// The same `client_msg_id` in a session returns the first message; other sessions and
/// other keys are independent.
pub async fn idempotent_append(store: Arc<dyn ChatStore>) {
    let t = tenant("t-idem");
    let session = new_session(&*store, &t, "c").await;
    let make = |content: &str, key: &str| {
        NewMessage::new(
            t.clone(),
            session.id,
            SenderKind::Customer,
            Some(user("c")),
            content,
        )
        .client_msg_id(Some(key.to_owned()))
    };
    let first = store.append_message(make("first", "k-1")).await.unwrap();
    assert!(first.created);
    let retry = store
        .append_message(make("retried with other text", "k-1"))
        .await
        .unwrap();
    assert!(!retry.created);
    assert_eq!(retry.value, first.value);
    let other_key = store.append_message(make("second", "k-2")).await.unwrap();
    assert!(other_key.created);
    assert_eq!(other_key.value.seq, 2);
    let no_key = say(&*store, &session, "no key").await;
    assert_eq!(no_key.seq, 3);
    let again = store.append_message(make("again", "k-2")).await.unwrap();
    assert!(!again.created);
    assert_eq!(again.value.seq, 2);
    let after = store.get_session(&t, session.id).await.unwrap();
    assert_eq!(after.last_seq, 3);
    assert_eq!(
        store
            .list_messages(&t, session.id, MessageQuery::after(0, 100))
            .await
            .unwrap()
            .len(),
        3
    );

    let other = new_session(&*store, &t, "c").await;
    let in_other = store
        .append_message(
            NewMessage::new(t.clone(), other.id, SenderKind::Customer, None, "first")
                .client_msg_id(Some("k-1".into())),
        )
        .await
        .unwrap();
    assert!(in_other.created);
    assert_eq!(in_other.value.seq, 1);
    assert_ne!(in_other.value.id, first.value.id);
}

/// Concurrent retries of one `client_msg_id` store one message: every call returns it and
/// exactly one reports `created`.
pub async fn concurrent_idempotent_append(factory: &dyn StoreFactory) {
    let store = open(factory).await;
    let second = second_handle(factory, &store).await;
    let t = tenant("t-idem-race");
    let session = new_session(&*store, &t, "c").await;
    say(&*store, &session, "before").await;
    let mut tasks = Vec::new();
    for i in 0..IDEMPOTENT_RETRIES {
        let handle = if i % 2 == 0 {
            Arc::clone(&store)
        } else {
            Arc::clone(&second)
        };
        let message = NewMessage::new(
            t.clone(),
            session.id,
            SenderKind::Customer,
            Some(user("c")),
            format!("try {i}"),
        )
        .client_msg_id(Some("retry-key".into()));
        tasks.push(tokio::spawn(
            async move { handle.append_message(message).await },
        ));
    }
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap().unwrap());
    }
    assert_eq!(
        outcomes.iter().filter(|o| o.created).count(),
        1,
        "exactly one call creates the message"
    );
    let stored = &outcomes.iter().find(|o| o.created).unwrap().value;
    assert_eq!(stored.seq, 2);
    for outcome in &outcomes {
        assert_eq!(&outcome.value, stored);
    }
    let all = store
        .list_messages(&t, session.id, MessageQuery::after(0, 100))
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(store.get_session(&t, session.id).await.unwrap().last_seq, 2);
}

/// 8 concurrent writers x 500 messages into one session: every `seq` in 1..=4000 exactly
/// once, each writer's messages in its own order, and `last_seq` 4000.
pub async fn concurrent_seq_is_gap_free(factory: &dyn StoreFactory) {
    let store = open(factory).await;
    let second = second_handle(factory, &store).await;
    let t = tenant("t-seq-race");
    let session = new_session(&*store, &t, "c").await;
    let mut tasks = Vec::new();
    for writer in 0..SEQ_WRITERS {
        let handle = if writer % 2 == 0 {
            Arc::clone(&store)
        } else {
            Arc::clone(&second)
        };
        let (t, id) = (t.clone(), session.id);
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for i in 0..SEQ_MESSAGES_PER_WRITER {
                let message = NewMessage::new(
                    t.clone(),
                    id,
                    SenderKind::Customer,
                    None,
                    format!("w{writer} m{i}"),
                )
                .client_msg_id(Some(format!("w{writer}-{i}")));
                let stored = handle.append_message(message).await.unwrap();
                assert!(stored.created);
                seqs.push(stored.value.seq);
            }
            seqs
        }));
    }
    let mut all_seqs = HashSet::new();
    for task in tasks {
        let seqs = task.await.unwrap();
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "one writer's messages got decreasing seqs"
        );
        for seq in seqs {
            assert!(all_seqs.insert(seq), "seq {seq} assigned twice");
        }
    }
    let total = SEQ_WRITERS * SEQ_MESSAGES_PER_WRITER;
    assert_eq!(all_seqs, (1..=total).collect::<HashSet<u64>>());
    assert_eq!(
        store.get_session(&t, session.id).await.unwrap().last_seq,
        total
    );

    // Read back through pages of the largest size: contiguous and in order.
    let mut after = 0;
    let mut read = 0;
    loop {
        let page = store
            .list_messages(&t, session.id, MessageQuery::after(after, u32::MAX))
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        assert!(
            page.len() <= MAX_MESSAGE_PAGE as usize,
            "a page exceeds MAX_MESSAGE_PAGE"
        );
        for message in &page {
            read += 1;
            assert_eq!(message.seq, read);
        }
        after = page.last().unwrap().seq;
    }
    assert_eq!(read, total);
    let capped = store
        .list_messages(&t, session.id, MessageQuery::after(0, 5000))
        .await
        .unwrap();
    assert_eq!(capped.len(), MAX_MESSAGE_PAGE as usize);
}

/// `after_seq`, `limit` and `include_internal` page through a session in `seq` order.
pub async fn list_paging(store: Arc<dyn ChatStore>) {
    let t = tenant("t-msg-page");
    let session = new_session(&*store, &t, "c").await;
    let mut internal = Vec::new();
    for i in 1..=10_u64 {
        let visibility = if i % 3 == 0 {
            Visibility::Internal
        } else {
            Visibility::Public
        };
        if visibility == Visibility::Internal {
            internal.push(i);
        }
        let message = NewMessage::new(
            t.clone(),
            session.id,
            SenderKind::Agent,
            Some(user("a")),
            format!("m{i}"),
        )
        .visibility(visibility);
        assert_eq!(store.append_message(message).await.unwrap().value.seq, i);
    }
    let seqs = |q: MessageQuery| {
        let store = Arc::clone(&store);
        let t = t.clone();
        async move {
            store
                .list_messages(&t, session.id, q)
                .await
                .unwrap()
                .iter()
                .map(|m| m.seq)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        seqs(MessageQuery::after(0, 100)).await,
        (1..=10).collect::<Vec<_>>()
    );
    assert_eq!(seqs(MessageQuery::after(0, 4)).await, [1, 2, 3, 4]);
    assert_eq!(seqs(MessageQuery::after(4, 4)).await, [5, 6, 7, 8]);
    assert_eq!(seqs(MessageQuery::after(8, 4)).await, [9, 10]);
    assert_eq!(seqs(MessageQuery::after(10, 4)).await, Vec::<u64>::new());
    assert_eq!(seqs(MessageQuery::after(500, 4)).await, Vec::<u64>::new());
    assert_eq!(
        seqs(MessageQuery::after(0, 0)).await,
        [1],
        "limit 0 is clamped to 1"
    );
    assert_eq!(
        seqs(MessageQuery::after(0, 100).include_internal(false)).await,
        [1, 2, 4, 5, 7, 8, 10]
    );
    // The limit counts returned (public) messages.
    assert_eq!(
        seqs(MessageQuery::after(1, 3).include_internal(false)).await,
        [2, 4, 5]
    );
    assert_eq!(
        seqs(MessageQuery::after(8, 3).include_internal(false)).await,
        [10]
    );
    let listed = store
        .list_messages(&t, session.id, MessageQuery::after(2, 1))
        .await
        .unwrap();
    assert_eq!(listed[0].content, "m3");
    assert_eq!(listed[0].visibility, Visibility::Internal);
    assert_eq!(internal, [3, 6, 9]);

    assert_not_found(
        store
            .list_messages(&t, SessionId::new(), MessageQuery::after(0, 10))
            .await,
        "missing session",
    );
    assert_not_found(
        store
            .list_messages(
                &tenant("t-msg-page-other"),
                session.id,
                MessageQuery::after(0, 10),
            )
            .await,
        "another tenant's session",
    );
}

/// `get_message` of a missing id or of another tenant's message is `NotFound`.
pub async fn get_message_not_found(store: Arc<dyn ChatStore>) {
    let t = tenant("t-get-msg");
    let session = new_session(&*store, &t, "c").await;
    let message = say(&*store, &session, "hi").await;
    assert_not_found(
        store.get_message(&t, MessageId::new()).await,
        "missing message",
    );
    assert_not_found(
        store
            .get_message(&tenant("t-get-msg-other"), message.id)
            .await,
        "another tenant's message",
    );
    assert_eq!(store.get_message(&t, message.id).await.unwrap(), message);
}

/// Context records round-trip by rank; a missing message is `NotFound` and stores nothing;
/// another tenant sees none of them.
pub async fn context_sources(store: Arc<dyn ChatStore>) {
    let t = tenant("t-ctx");
    let session = new_session(&*store, &t, "c").await;
    say(&*store, &session, "how do refunds work?").await;
    let answer = store
        .append_message(NewMessage::new(
            t.clone(),
            session.id,
            SenderKind::Ai,
            None,
            "See [1] and [2].",
        ))
        .await
        .unwrap()
        .value;
    let mut doc = ContextSourceRecord::new(
        t.clone(),
        session.id,
        answer.id,
        ContextSourceKind::Document,
        "chunk-9",
        "policy.pdf",
        0.5,
        2,
    );
    doc.locator = Some(ChunkLocator::Sheet {
        sheet: "Prices".into(),
        first_row: 2,
        last_row: 9,
    });
    doc.cited = true;
    let mut kb = ContextSourceRecord::new(
        t.clone(),
        session.id,
        answer.id,
        ContextSourceKind::Kb,
        "kb-1",
        "Refunds",
        0.875,
        1,
    );
    kb.cited = true;
    let custom = ContextSourceRecord::new(
        t.clone(),
        session.id,
        answer.id,
        ContextSourceKind::Custom("host-wiki".into()),
        "wiki/42",
        "Wiki page",
        0.25,
        3,
    );
    // Stored out of rank order.
    store
        .record_context_sources(&t, vec![doc.clone(), custom.clone(), kb.clone()])
        .await
        .unwrap();
    assert_eq!(
        store.list_context_sources(&t, answer.id).await.unwrap(),
        vec![kb.clone(), doc, custom]
    );

    let bad = ContextSourceRecord::new(
        t.clone(),
        session.id,
        MessageId::new(),
        ContextSourceKind::Faq,
        "f",
        "F",
        0.1,
        1,
    );
    let good = ContextSourceRecord::new(
        t.clone(),
        session.id,
        answer.id,
        ContextSourceKind::Faq,
        "f",
        "F",
        0.1,
        4,
    );
    assert_not_found(
        store.record_context_sources(&t, vec![good, bad]).await,
        "record for a missing message",
    );
    assert_eq!(
        store
            .list_context_sources(&t, answer.id)
            .await
            .unwrap()
            .len(),
        3,
        "a failed call stored a record"
    );
    assert!(
        store
            .list_context_sources(&t, MessageId::new())
            .await
            .unwrap()
            .is_empty()
    );

    let other = tenant("t-ctx-other");
    assert!(
        store
            .list_context_sources(&other, answer.id)
            .await
            .unwrap()
            .is_empty()
    );
    let foreign = ContextSourceRecord::new(
        other.clone(),
        session.id,
        answer.id,
        ContextSourceKind::Kb,
        "x",
        "X",
        0.1,
        9,
    );
    assert_not_found(
        store.record_context_sources(&other, vec![foreign]).await,
        "record for another tenant's message",
    );
    assert_eq!(
        store.list_context_sources(&t, answer.id).await.unwrap()[0],
        kb
    );
    assert_eq!(
        store
            .list_context_sources(&t, answer.id)
            .await
            .unwrap()
            .len(),
        3
    );
}
