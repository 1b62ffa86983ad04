//! Chunk search.

use super::*;

/// Chunk search ranks by relevance within one session's ready documents only: pending,
/// processing and failed documents, other sessions and other tenants never show.
pub async fn search_chunks(store: Arc<dyn ChatStore>) {
    let t = tenant("t-chunk-search");
    let session = new_session(&*store, &t, "c").await;
    let other_session = new_session(&*store, &t, "c").await;
    let mut corpus = Corpus::new(41, 300);
    let [a, b, c] = QUERY_WORDS;
    let mut texts: Vec<String> = Vec::new();
    for i in 0..200 {
        let planted: Vec<&str> = match i % 20 {
            0 => vec![a, b],
            5 => vec![c],
            _ => Vec::new(),
        };
        texts.push(corpus.text(40, &planted));
    }
    let target_ordinal = 137;
    texts[target_ordinal] = corpus.text(40, &["Refunds", "invoices", "warehouses"]);
    let manual = ready_document(&*store, &t, session.id, "manual.txt", &texts).await;

    let all_words = vec![corpus.text(40, &QUERY_WORDS)];
    let pending = store
        .insert_document(NewDocument::new(
            t.clone(),
            session.id,
            "pending.txt",
            "text/plain",
            1,
            "p",
        ))
        .await
        .unwrap()
        .value;
    let pending_chunk = DocumentChunk::new(
        t.clone(),
        session.id,
        pending.id,
        0,
        all_words[0].clone(),
        None,
    );
    store
        .replace_chunks(&t, pending.id, vec![pending_chunk.clone()])
        .await
        .unwrap();
    let failed = ready_document(&*store, &t, session.id, "failed.txt", &all_words).await;
    let failure = DocumentStatus::Failed {
        code: "corrupt".into(),
        reason: "bad".into(),
    };
    store
        .update_document(&t, failed.id, DocumentPatch::default().status(failure))
        .await
        .unwrap();
    let elsewhere =
        ready_document(&*store, &t, other_session.id, "elsewhere.txt", &all_words).await;
    let other = tenant("t-chunk-search-other");
    let foreign_session = new_session(&*store, &other, "c").await;
    ready_document(
        &*store,
        &other,
        foreign_session.id,
        "foreign.txt",
        &all_words,
    )
    .await;

    let hits = store
        .search_chunks(&t, session.id, "refund invoice warehouse", 100)
        .await
        .unwrap();
    assert_eq!(
        hits.len(),
        1 + 20,
        "the target plus every chunk with a query word"
    );
    assert_eq!(
        hits[0].chunk.ordinal,
        u32::try_from(target_ordinal).unwrap()
    );
    assert_eq!(hits[0].chunk.document_id, manual.id);
    assert_eq!(hits[0].filename, "manual.txt");
    assert!(hits[0].score > hits[1].score);
    assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
    assert!(
        hits[1..11].iter().all(|h| h.chunk.ordinal % 20 == 0),
        "two-word chunks rank above one-word chunks"
    );
    assert!(
        hits.iter()
            .all(|h| h.chunk.document_id == manual.id && h.chunk.session_id == session.id)
    );
    assert_eq!(
        store
            .search_chunks(&t, session.id, "refund invoice warehouse", 3)
            .await
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        store
            .search_chunks(&t, other_session.id, "refunds", 10)
            .await
            .unwrap()[0]
            .chunk
            .document_id,
        elsewhere.id
    );
    assert!(
        store
            .search_chunks(&other, session.id, "refund", 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .search_chunks(&t, SessionId::new(), "refund", 10)
            .await
            .unwrap()
            .is_empty()
    );
    for query in SYNTAX_QUERIES {
        store
            .search_chunks(&t, session.id, query, 10)
            .await
            .unwrap_or_else(|err| panic!("query {query:?} failed: {err}"));
    }
    for query in EMPTY_QUERIES {
        assert!(
            store
                .search_chunks(&t, session.id, query, 10)
                .await
                .unwrap()
                .is_empty(),
            "query {query:?}"
        );
    }

    // Readiness decides: the pending document joins once ready, the manual leaves while reprocessed.
    store
        .update_document(
            &t,
            pending.id,
            DocumentPatch::default().status(DocumentStatus::Ready),
        )
        .await
        .unwrap();
    let top = store
        .search_chunks(&t, session.id, "refund invoice warehouse", 2)
        .await
        .unwrap();
    let top_ids: Vec<ChunkId> = top.iter().map(|h| h.chunk.id).collect();
    assert!(top_ids.contains(&pending_chunk.id));
    assert_eq!(
        top.iter()
            .find(|h| h.chunk.id == pending_chunk.id)
            .unwrap()
            .filename,
        "pending.txt"
    );
    store
        .update_document(
            &t,
            manual.id,
            DocumentPatch::default().status(DocumentStatus::Processing { progress: 10 }),
        )
        .await
        .unwrap();
    let only = store
        .search_chunks(&t, session.id, "refund invoice warehouse", 100)
        .await
        .unwrap();
    assert_eq!(
        only.iter().map(|h| h.chunk.id).collect::<Vec<_>>(),
        [pending_chunk.id]
    );
    // Replacing chunks re-indexes them.
    let fresh = DocumentChunk::new(
        t.clone(),
        session.id,
        pending.id,
        0,
        "nothing relevant",
        None,
    );
    store
        .replace_chunks(&t, pending.id, vec![fresh])
        .await
        .unwrap();
    assert!(
        store
            .search_chunks(&t, session.id, "refund", 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .search_chunks(&t, session.id, "relevant", 10)
            .await
            .unwrap()
            .len(),
        1
    );
}
