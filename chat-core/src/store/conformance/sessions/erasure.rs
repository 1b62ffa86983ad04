//! Deleting sessions with everything they hold (one, a customer's, the retention purge).

use super::*;

/// Deleting a session removes its messages, documents, chunks, context records and
/// assignments, and reports its blob keys.
pub async fn delete_cascades(store: Arc<dyn ChatStore>) {
    let t = tenant("t-cascade");
    let session = new_session(&*store, &t, "c").await;
    let keep = new_session(&*store, &t, "c").await;
    let keep_msg = say(&*store, &keep, "stays").await;
    let message = say(&*store, &session, "refund please").await;
    let record = ContextSourceRecord::new(
        t.clone(),
        session.id,
        message.id,
        ContextSourceKind::Kb,
        "kb-1",
        "Refunds",
        0.9,
        1,
    );
    store
        .record_context_sources(&t, vec![record])
        .await
        .unwrap();
    let doc = store
        .insert_document(
            NewDocument::new(t.clone(), session.id, "a.txt", "text/plain", 10, "aa")
                .blob_key("blob/a"),
        )
        .await
        .unwrap()
        .value;
    let doc_no_blob = store
        .insert_document(NewDocument::new(
            t.clone(),
            session.id,
            "b.txt",
            "text/plain",
            10,
            "bb",
        ))
        .await
        .unwrap()
        .value;
    let chunk = DocumentChunk::new(t.clone(), session.id, doc.id, 0, "refund policy text", None);
    store.replace_chunks(&t, doc.id, vec![chunk]).await.unwrap();
    store
        .update_document(
            &t,
            doc.id,
            DocumentPatch::default().status(DocumentStatus::Ready),
        )
        .await
        .unwrap();
    let agent = Agent::new(t.clone(), user("agent-c"), "Agent C", AgentRole::Agent)
        .availability(AgentAvailability::Online);
    store.upsert_agent(agent).await.unwrap();
    store
        .assign_session(AssignRequest::new(
            t.clone(),
            session.id,
            AssignTarget::Agent(user("agent-c")),
            AssignmentKind::Manual,
        ))
        .await
        .unwrap();
    assert_eq!(store.agent_load(&t, &user("agent-c")).await.unwrap(), 1);

    let report = store.delete_session(&t, session.id).await.unwrap();
    assert_eq!(report.sessions, vec![session.id]);
    assert_eq!(report.blob_keys, vec!["blob/a".to_owned()]);

    assert_not_found(store.get_session(&t, session.id).await, "deleted session");
    assert_not_found(
        store.get_message(&t, message.id).await,
        "message of a deleted session",
    );
    assert_not_found(
        store
            .list_messages(&t, session.id, MessageQuery::after(0, 100))
            .await,
        "messages of a deleted session",
    );
    assert_not_found(
        store.get_document(&t, doc.id).await,
        "document of a deleted session",
    );
    assert_not_found(
        store.get_document(&t, doc_no_blob.id).await,
        "document of a deleted session",
    );
    assert!(
        store
            .list_documents(&t, session.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.list_chunks(&t, doc.id).await.unwrap().is_empty());
    assert!(
        store
            .search_chunks(&t, session.id, "refund", 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .list_context_sources(&t, message.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .list_assignments(&t, session.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.active_assignment(&t, session.id).await.unwrap(), None);
    assert_eq!(store.agent_load(&t, &user("agent-c")).await.unwrap(), 0);
    assert_not_found(store.delete_session(&t, session.id).await, "deleting twice");
    // The other session is untouched.
    assert_eq!(store.get_message(&t, keep_msg.id).await.unwrap(), keep_msg);
    assert_eq!(store.get_session(&t, keep.id).await.unwrap().last_seq, 1);
}

/// Erasing a customer removes all their sessions (and only theirs) and reports the blobs.
pub async fn erase_customer(store: Arc<dyn ChatStore>) {
    let t = tenant("t-erase");
    let x1 = new_session(&*store, &t, "x").await;
    let x2 = new_session(&*store, &t, "x").await;
    let y = new_session(&*store, &t, "y").await;
    let m1 = say(&*store, &x1, "my address is 1 Main St").await;
    say(&*store, &x2, "hello").await;
    let ym = say(&*store, &y, "hi").await;
    for (session, sha, key) in [
        (&x1, "s1", Some("k1")),
        (&x1, "s2", None),
        (&x2, "s3", Some("k3")),
        (&y, "s4", Some("k4")),
    ] {
        let mut doc = NewDocument::new(t.clone(), session.id, "f.pdf", "application/pdf", 1, sha);
        if let Some(key) = key {
            doc = doc.blob_key(key);
        }
        store.insert_document(doc).await.unwrap();
    }

    let report = store.erase_customer(&t, &user("x")).await.unwrap();
    assert_eq!(sorted(report.sessions.clone()), sorted(vec![x1.id, x2.id]));
    let mut keys = report.blob_keys.clone();
    keys.sort();
    assert_eq!(keys, ["k1", "k3"]);
    assert_not_found(store.get_session(&t, x1.id).await, "erased session");
    assert_not_found(store.get_session(&t, x2.id).await, "erased session");
    assert_not_found(store.get_message(&t, m1.id).await, "erased message");
    assert!(store.list_documents(&t, x1.id).await.unwrap().is_empty());
    assert!(
        store
            .list_sessions(
                &t,
                &SessionFilter::scoped(SessionScope::Customer(user("x")))
            )
            .await
            .unwrap()
            .sessions
            .is_empty()
    );
    assert_eq!(store.get_message(&t, ym.id).await.unwrap(), ym);
    assert_eq!(store.list_documents(&t, y.id).await.unwrap().len(), 1);
    assert_eq!(
        store.erase_customer(&t, &user("x")).await.unwrap(),
        ErasureReport::default()
    );
}

/// Purging removes closed and resolved sessions last updated before the cutoff, nothing else.
pub async fn purge_sessions(store: Arc<dyn ChatStore>) {
    let t = tenant("t-purge");
    let set = |status| SessionPatch::default().status(status);
    let closed_old = new_session(&*store, &t, "c").await;
    store
        .update_session(&t, closed_old.id, set(SessionStatus::Closed), None)
        .await
        .unwrap();
    store
        .insert_document(
            NewDocument::new(t.clone(), closed_old.id, "a", "text/plain", 1, "x")
                .blob_key("old-blob"),
        )
        .await
        .unwrap();
    let resolved_old = new_session(&*store, &t, "c").await;
    store
        .update_session(&t, resolved_old.id, set(SessionStatus::Resolved), None)
        .await
        .unwrap();
    let open_old = new_session(&*store, &t, "c").await;
    let queued_old = new_session(&*store, &t, "c").await;
    store
        .update_session(&t, queued_old.id, set(SessionStatus::WaitingForAgent), None)
        .await
        .unwrap();

    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    let cutoff = chrono::Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    let closed_new = new_session(&*store, &t, "c").await;
    store
        .update_session(&t, closed_new.id, set(SessionStatus::Closed), None)
        .await
        .unwrap();

    let before_all = closed_old.created_at - chrono::Duration::seconds(1);
    assert_eq!(
        store.purge_sessions(&t, before_all).await.unwrap(),
        ErasureReport::default()
    );

    let report = store.purge_sessions(&t, cutoff).await.unwrap();
    assert_eq!(
        sorted(report.sessions),
        sorted(vec![closed_old.id, resolved_old.id])
    );
    assert_eq!(report.blob_keys, ["old-blob"]);
    assert_not_found(store.get_session(&t, closed_old.id).await, "purged session");
    assert_not_found(
        store.get_session(&t, resolved_old.id).await,
        "purged session",
    );
    for kept in [open_old.id, queued_old.id, closed_new.id] {
        store.get_session(&t, kept).await.unwrap();
    }
    assert_eq!(
        store.purge_sessions(&t, cutoff).await.unwrap(),
        ErasureReport::default()
    );
}
