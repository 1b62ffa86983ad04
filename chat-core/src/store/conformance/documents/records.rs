//! Documents and their chunks.

use super::*;

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
