//! Conformance cases of [`DocumentStore`](crate::store::DocumentStore): documents, chunks and
//! chunk search.

use std::sync::Arc;

use super::corpus::{Corpus, QUERY_WORDS};
use super::knowledge::{EMPTY_QUERIES, SYNTAX_QUERIES};
use super::{assert_invalid, assert_not_found, new_session, tenant};
use crate::ids::{ChunkId, DocumentId, SessionId, TenantId};
use crate::model::{
    ChatDocument, ChunkLocator, DocumentChunk, DocumentStatus, Metadata, NewDocument,
};
use crate::store::{ChatStore, DocumentPatch};

fn pdf(t: &TenantId, session: SessionId, sha: &str) -> NewDocument {
    NewDocument::new(
        t.clone(),
        session,
        "report.pdf",
        "application/pdf",
        2048,
        sha,
    )
}

async fn ready_document(
    store: &dyn ChatStore,
    t: &TenantId,
    session: SessionId,
    name: &str,
    texts: &[String],
) -> ChatDocument {
    let doc = store
        .insert_document(NewDocument::new(
            t.clone(),
            session,
            name,
            "text/plain",
            100,
            format!("sha-{name}"),
        ))
        .await
        .unwrap()
        .value;
    let chunks = texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            DocumentChunk::new(
                t.clone(),
                session,
                doc.id,
                u32::try_from(i).unwrap(),
                text.clone(),
                None,
            )
        })
        .collect();
    store.replace_chunks(t, doc.id, chunks).await.unwrap();
    store
        .update_document(
            t,
            doc.id,
            DocumentPatch::default().status(DocumentStatus::Ready),
        )
        .await
        .unwrap()
}

/// A new document is pending with every field kept; the same SHA-256 in a session returns the
/// first document; sessions are listed oldest first; missing sessions are `NotFound`.
pub async fn insert_and_get(store: Arc<dyn ChatStore>) {
    let t = tenant("t-doc-insert");
    let session = new_session(&*store, &t, "c").await;
    let new = pdf(&t, session.id, "ab12")
        .blob_key("blobs/0001")
        .source_url("https://example.com/report.pdf");
    let inserted = store.insert_document(new.clone()).await.unwrap();
    assert!(inserted.created);
    let doc = inserted.value;
    assert_eq!(doc.id, new.id);
    assert_eq!(doc.tenant_id, t);
    assert_eq!(doc.session_id, session.id);
    assert_eq!(doc.filename, "report.pdf");
    assert_eq!(doc.media_type, "application/pdf");
    assert_eq!(doc.size, 2048);
    assert_eq!(doc.sha256, "ab12");
    assert_eq!(
        doc.source_url.as_deref(),
        Some("https://example.com/report.pdf")
    );
    assert_eq!(doc.blob_key.as_deref(), Some("blobs/0001"));
    assert_eq!(doc.status, DocumentStatus::Pending);
    assert_eq!(doc.page_count, None);
    assert_eq!(doc.chunk_count, 0);
    assert!(doc.warnings.is_empty());
    assert!(doc.metadata.is_empty());
    assert_eq!(store.get_document(&t, doc.id).await.unwrap(), doc);

    let dup = store
        .insert_document(pdf(&t, session.id, "ab12"))
        .await
        .unwrap();
    assert!(
        !dup.created,
        "the same SHA-256 in a session is the same document"
    );
    assert_eq!(dup.value, doc);
    let second = store
        .insert_document(pdf(&t, session.id, "cd34"))
        .await
        .unwrap()
        .value;
    let other_session = new_session(&*store, &t, "c").await;
    let elsewhere = store
        .insert_document(pdf(&t, other_session.id, "ab12"))
        .await
        .unwrap();
    assert!(
        elsewhere.created,
        "the same bytes in another session are another document"
    );

    assert_eq!(
        store.list_documents(&t, session.id).await.unwrap(),
        vec![doc.clone(), second]
    );
    assert_eq!(
        store.list_documents(&t, other_session.id).await.unwrap(),
        vec![elsewhere.value]
    );
    assert!(
        store
            .list_documents(&t, SessionId::new())
            .await
            .unwrap()
            .is_empty()
    );
    assert_not_found(
        store.insert_document(pdf(&t, SessionId::new(), "ee")).await,
        "document of a missing session",
    );
    assert_not_found(
        store.get_document(&t, DocumentId::new()).await,
        "missing document",
    );

    let other = tenant("t-doc-insert-other");
    assert_not_found(
        store.insert_document(pdf(&other, session.id, "ff")).await,
        "document in another tenant's session",
    );
    assert_not_found(
        store.get_document(&other, doc.id).await,
        "another tenant's document",
    );
    assert!(
        store
            .list_documents(&other, session.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.list_documents(&t, session.id).await.unwrap().len(), 2);
}

/// A patch changes exactly the fields it names and bumps `updated_at`.
pub async fn update_document(store: Arc<dyn ChatStore>) {
    let t = tenant("t-doc-update");
    let session = new_session(&*store, &t, "c").await;
    let doc = store
        .insert_document(pdf(&t, session.id, "01"))
        .await
        .unwrap()
        .value;

    let processing = store
        .update_document(
            &t,
            doc.id,
            DocumentPatch::default().status(DocumentStatus::Processing { progress: 40 }),
        )
        .await
        .unwrap();
    assert_eq!(
        processing.status,
        DocumentStatus::Processing { progress: 40 }
    );
    assert!(processing.updated_at >= doc.updated_at);
    assert_eq!(processing.created_at, doc.created_at);

    let mut metadata = Metadata::new();
    metadata.insert("author".into(), serde_json::json!("Ann"));
    metadata.insert("sheets".into(), serde_json::json!(["Q1", "Q2"]));
    let patch = DocumentPatch::default()
        .status(DocumentStatus::Ready)
        .page_count(12)
        .warnings(vec!["page 3 has no text layer (scanned?)".into()])
        .metadata(metadata.clone())
        .blob_key("blobs/9");
    let ready = store.update_document(&t, doc.id, patch).await.unwrap();
    assert_eq!(ready.status, DocumentStatus::Ready);
    assert_eq!(ready.page_count, Some(12));
    assert_eq!(ready.warnings, ["page 3 has no text layer (scanned?)"]);
    assert_eq!(ready.metadata, metadata);
    assert_eq!(ready.blob_key.as_deref(), Some("blobs/9"));
    assert_eq!(
        (ready.filename.as_str(), ready.sha256.as_str(), ready.size),
        ("report.pdf", "01", 2048)
    );
    assert_eq!(store.get_document(&t, doc.id).await.unwrap(), ready);

    // An empty patch keeps everything.
    let same = store
        .update_document(&t, doc.id, DocumentPatch::default())
        .await
        .unwrap();
    assert_eq!(
        (same.status.clone(), same.page_count, same.warnings.clone()),
        (
            ready.status.clone(),
            ready.page_count,
            ready.warnings.clone()
        )
    );
    let failed = DocumentStatus::Failed {
        code: "encrypted".into(),
        reason: "the PDF is password protected".into(),
    };
    let doc_failed = store
        .update_document(&t, doc.id, DocumentPatch::default().status(failed.clone()))
        .await
        .unwrap();
    assert_eq!(doc_failed.status, failed);
    assert_eq!(store.get_document(&t, doc.id).await.unwrap().status, failed);

    assert_not_found(
        store
            .update_document(&t, DocumentId::new(), DocumentPatch::default())
            .await,
        "missing document",
    );
    assert_not_found(
        store
            .update_document(
                &tenant("t-doc-update-other"),
                doc.id,
                DocumentPatch::default().status(DocumentStatus::Ready),
            )
            .await,
        "another tenant's document",
    );
    assert_eq!(store.get_document(&t, doc.id).await.unwrap().status, failed);
}

/// Chunks are replaced as a whole, listed by ordinal with their locators, counted on the
/// document; a chunk naming another document is refused and changes nothing.
pub async fn chunks(store: Arc<dyn ChatStore>) {
    let t = tenant("t-chunks");
    let session = new_session(&*store, &t, "c").await;
    let doc = store
        .insert_document(pdf(&t, session.id, "01"))
        .await
        .unwrap()
        .value;
    let other_doc = store
        .insert_document(pdf(&t, session.id, "02"))
        .await
        .unwrap()
        .value;
    let locators = [
        Some(ChunkLocator::Page {
            page: 1,
            end_page: None,
        }),
        Some(ChunkLocator::Page {
            page: 2,
            end_page: Some(3),
        }),
        Some(ChunkLocator::Sheet {
            sheet: "Prices".into(),
            first_row: 1,
            last_row: 40,
        }),
        Some(ChunkLocator::Heading {
            path: vec!["Billing".into(), "Refunds".into()],
        }),
        Some(ChunkLocator::Lines { start: 10, end: 20 }),
        None,
    ];
    let made: Vec<DocumentChunk> = locators
        .iter()
        .enumerate()
        .map(|(i, loc)| {
            DocumentChunk::new(
                t.clone(),
                session.id,
                doc.id,
                u32::try_from(i).unwrap(),
                format!("chunk text {i}"),
                loc.clone(),
            )
        })
        .collect();
    // Given out of order.
    let mut shuffled = made.clone();
    shuffled.reverse();
    shuffled.swap(0, 2);
    assert_eq!(store.replace_chunks(&t, doc.id, shuffled).await.unwrap(), 6);
    assert_eq!(store.list_chunks(&t, doc.id).await.unwrap(), made);
    assert_eq!(store.get_document(&t, doc.id).await.unwrap().chunk_count, 6);

    let replacement: Vec<DocumentChunk> = (0..2)
        .map(|i| DocumentChunk::new(t.clone(), session.id, doc.id, i, format!("new {i}"), None))
        .collect();
    assert_eq!(
        store
            .replace_chunks(&t, doc.id, replacement.clone())
            .await
            .unwrap(),
        2
    );
    assert_eq!(store.list_chunks(&t, doc.id).await.unwrap(), replacement);
    assert_eq!(store.get_document(&t, doc.id).await.unwrap().chunk_count, 2);

    let mut wrong = replacement.clone();
    wrong.push(DocumentChunk::new(
        t.clone(),
        session.id,
        other_doc.id,
        2,
        "elsewhere",
        None,
    ));
    assert_invalid(
        store.replace_chunks(&t, doc.id, wrong).await,
        "a chunk of another document",
    );
    assert_eq!(store.list_chunks(&t, doc.id).await.unwrap(), replacement);
    assert!(
        store
            .list_chunks(&t, other_doc.id)
            .await
            .unwrap()
            .is_empty()
    );

    assert_eq!(
        store.replace_chunks(&t, doc.id, Vec::new()).await.unwrap(),
        0
    );
    assert!(store.list_chunks(&t, doc.id).await.unwrap().is_empty());
    assert_eq!(store.get_document(&t, doc.id).await.unwrap().chunk_count, 0);

    assert_not_found(
        store
            .replace_chunks(&t, DocumentId::new(), Vec::new())
            .await,
        "chunks of a missing document",
    );
    let other = tenant("t-chunks-other");
    let foreign = vec![DocumentChunk::new(
        other.clone(),
        session.id,
        doc.id,
        0,
        "x",
        None,
    )];
    assert_not_found(
        store.replace_chunks(&other, doc.id, foreign).await,
        "chunks of another tenant's document",
    );
    assert!(store.list_chunks(&other, doc.id).await.unwrap().is_empty());
    assert!(
        store
            .list_chunks(&t, DocumentId::new())
            .await
            .unwrap()
            .is_empty()
    );
}

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

/// Deleting a document removes it and its chunks and returns its blob key.
pub async fn delete_document(store: Arc<dyn ChatStore>) {
    let t = tenant("t-doc-delete");
    let session = new_session(&*store, &t, "c").await;
    let with_blob = ready_document(
        &*store,
        &t,
        session.id,
        "a.txt",
        &["refund text".to_owned()],
    )
    .await;
    store
        .update_document(
            &t,
            with_blob.id,
            DocumentPatch::default().blob_key("blobs/a"),
        )
        .await
        .unwrap();
    let without = store
        .insert_document(pdf(&t, session.id, "zz"))
        .await
        .unwrap()
        .value;

    assert_not_found(
        store
            .delete_document(&tenant("t-doc-delete-other"), with_blob.id)
            .await,
        "another tenant's document",
    );
    assert_eq!(
        store
            .delete_document(&t, with_blob.id)
            .await
            .unwrap()
            .as_deref(),
        Some("blobs/a")
    );
    assert_not_found(
        store.get_document(&t, with_blob.id).await,
        "deleted document",
    );
    assert!(
        store
            .list_chunks(&t, with_blob.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .search_chunks(&t, session.id, "refund", 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.delete_document(&t, without.id).await.unwrap(), None);
    assert_not_found(
        store.delete_document(&t, without.id).await,
        "deleting twice",
    );
    assert!(
        store
            .list_documents(&t, session.id)
            .await
            .unwrap()
            .is_empty()
    );
    // The same bytes may be uploaded again once deleted.
    assert!(
        store
            .insert_document(pdf(&t, session.id, "zz"))
            .await
            .unwrap()
            .created
    );
}
