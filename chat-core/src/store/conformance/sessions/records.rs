//! Creating, reading, updating and listing sessions.

use super::*;

/// A created session is open, empty and reads back equal; a duplicate id is a conflict.
pub async fn create_and_get(store: Arc<dyn ChatStore>) {
    let t = tenant("t-create");
    let mut metadata = Metadata::new();
    metadata.insert(
        "ticket".into(),
        serde_json::json!({"id": 42, "tags": ["billing"]}),
    );
    let new = NewSession::new(t.clone(), SessionKind::General, user("cust-1"))
        .title("Where is my parcel?")
        .metadata(metadata.clone());
    let created = store.create_session(new.clone()).await.unwrap();
    assert_eq!(created.id, new.id);
    assert_eq!(created.tenant_id, t);
    assert_eq!(created.kind, SessionKind::General);
    assert_eq!(created.status, SessionStatus::Open);
    assert_eq!(created.customer_id, user("cust-1"));
    assert_eq!(created.title.as_deref(), Some("Where is my parcel?"));
    assert_eq!(created.assigned_agent, None);
    assert_eq!(created.last_seq, 0);
    assert_eq!(created.metadata, metadata);
    assert!(created.created_at <= created.updated_at);
    assert_eq!(store.get_session(&t, created.id).await.unwrap(), created);

    assert_conflict(
        store.create_session(new).await,
        "creating a session id twice",
    );
    let plain = new_session(&*store, &t, "cust-2").await;
    assert_eq!(plain.title, None);
    assert!(plain.metadata.is_empty());
    assert_eq!(plain.kind, SessionKind::Support);
}

/// Reading, updating or deleting a missing session is `NotFound`.
pub async fn not_found(store: Arc<dyn ChatStore>) {
    let t = tenant("t-nf");
    new_session(&*store, &t, "c").await;
    let missing = SessionId::new();
    assert_not_found(store.get_session(&t, missing).await, "get_session");
    assert_not_found(
        store
            .update_session(
                &t,
                missing,
                SessionPatch::default().status(SessionStatus::Closed),
                None,
            )
            .await,
        "update_session",
    );
    assert_not_found(store.delete_session(&t, missing).await, "delete_session");
    // Unknown tenant too.
    assert_not_found(
        store.get_session(&tenant("t-nobody"), missing).await,
        "get_session of an unknown tenant",
    );
}

/// Another tenant can neither see, change, list, erase, purge nor overwrite a session.
pub async fn tenant_isolation(store: Arc<dyn ChatStore>) {
    let a = tenant("t-iso-a");
    let b = tenant("t-iso-b");
    let session = new_session(&*store, &a, "shared-customer").await;
    let (closed, _) = store
        .update_session(
            &a,
            session.id,
            SessionPatch::default().status(SessionStatus::Closed),
            None,
        )
        .await
        .unwrap();

    assert_not_found(
        store.get_session(&b, session.id).await,
        "get from another tenant",
    );
    assert_not_found(
        store
            .update_session(
                &b,
                session.id,
                SessionPatch::default().title(Some("x".into())),
                None,
            )
            .await,
        "update from another tenant",
    );
    let record = NewMessage::new(
        b.clone(),
        session.id,
        crate::model::SenderKind::System,
        None,
        "x",
    );
    assert!(
        store
            .update_session(&b, session.id, SessionPatch::default(), Some(record))
            .await
            .is_err()
    );
    assert_not_found(
        store.delete_session(&b, session.id).await,
        "delete from another tenant",
    );
    let page = store
        .list_sessions(&b, &SessionFilter::default())
        .await
        .unwrap();
    assert!(
        page.sessions.is_empty(),
        "another tenant's listing shows {:?}",
        page.sessions
    );
    assert_eq!(
        store
            .erase_customer(&b, &user("shared-customer"))
            .await
            .unwrap(),
        ErasureReport::default()
    );
    let far_future = chrono::Utc::now() + chrono::Duration::days(365);
    assert_eq!(
        store.purge_sessions(&b, far_future).await.unwrap(),
        ErasureReport::default()
    );
    // The same id created in another tenant must not touch the first tenant's row.
    let mut again =
        NewSession::new(b.clone(), SessionKind::General, user("intruder")).title("intruder");
    again.id = session.id;
    let _ = store.create_session(again).await;

    assert_eq!(store.get_session(&a, session.id).await.unwrap(), closed);
    let page = store
        .list_sessions(&a, &SessionFilter::default())
        .await
        .unwrap();
    assert_eq!(page.sessions, vec![closed]);
}

/// A patch changes exactly the fields it names, bumps `updated_at`, and its record message
/// takes the next `seq` in the same call.
pub async fn update_patch_and_record(store: Arc<dyn ChatStore>) {
    let t = tenant("t-update");
    let session = new_session(&*store, &t, "c").await;
    say(&*store, &session, "hello").await;
    let before = store.get_session(&t, session.id).await.unwrap();

    let mut metadata = Metadata::new();
    metadata.insert("priority".into(), serde_json::json!("high"));
    let patch = SessionPatch::default()
        .status(SessionStatus::WaitingForAgent)
        .kind(SessionKind::General)
        .title(Some("Billing".into()))
        .assigned_agent(Some(user("agent-1")))
        .metadata(metadata.clone());
    let event = SystemEvent::SessionUpdated {
        status: SessionStatus::WaitingForAgent,
        session_kind: SessionKind::General,
        reason: Some("customer asked".into()),
    };
    let record = NewMessage::system(t.clone(), session.id, "Waiting for an agent", event.clone());
    let (updated, message) = store
        .update_session(&t, session.id, patch, Some(record.clone()))
        .await
        .unwrap();
    assert_eq!(updated.status, SessionStatus::WaitingForAgent);
    assert_eq!(updated.kind, SessionKind::General);
    assert_eq!(updated.title.as_deref(), Some("Billing"));
    assert_eq!(updated.assigned_agent, Some(user("agent-1")));
    assert_eq!(updated.metadata, metadata);
    assert_eq!(updated.customer_id, before.customer_id);
    assert_eq!(updated.created_at, before.created_at);
    assert!(updated.updated_at >= before.updated_at);
    assert_eq!(updated.last_seq, 2);
    let message = message.expect("the record message is returned");
    assert_eq!(message.id, record.id);
    assert_eq!(message.seq, 2);
    assert_eq!(message.sender, crate::model::SenderKind::System);
    assert_eq!(message.content, "Waiting for an agent");
    assert_eq!(message.metadata.system_event, Some(event));
    assert_eq!(store.get_message(&t, message.id).await.unwrap(), message);
    assert_eq!(store.get_session(&t, session.id).await.unwrap(), updated);

    // Clearing optional fields; an empty patch without record changes nothing but the time.
    let (cleared, none) = store
        .update_session(
            &t,
            session.id,
            SessionPatch::default().title(None).assigned_agent(None),
            None,
        )
        .await
        .unwrap();
    assert_eq!(none, None);
    assert_eq!(cleared.title, None);
    assert_eq!(cleared.assigned_agent, None);
    assert_eq!(cleared.status, SessionStatus::WaitingForAgent);
    assert_eq!(cleared.metadata, metadata);
    assert_eq!(cleared.last_seq, 2);
    let (same, _) = store
        .update_session(&t, session.id, SessionPatch::default(), None)
        .await
        .unwrap();
    assert_eq!(same.status, cleared.status);
    assert_eq!(same.title, cleared.title);
    assert_eq!(same.last_seq, 2);

    // A record naming another session is refused and changes nothing.
    let other = new_session(&*store, &t, "c2").await;
    let wrong = NewMessage::system(
        t.clone(),
        other.id,
        "x",
        SystemEvent::SessionUpdated {
            status: SessionStatus::Closed,
            session_kind: SessionKind::Support,
            reason: None,
        },
    );
    assert_invalid(
        store
            .update_session(
                &t,
                session.id,
                SessionPatch::default().status(SessionStatus::Closed),
                Some(wrong),
            )
            .await,
        "a record message of another session",
    );
    assert_eq!(
        store.get_session(&t, session.id).await.unwrap().status,
        SessionStatus::WaitingForAgent
    );
    assert_eq!(store.get_session(&t, other.id).await.unwrap().last_seq, 0);
}

/// Listing is newest first, in pages whose cursors neither skip nor repeat.
pub async fn list_paging(store: Arc<dyn ChatStore>) {
    let t = tenant("t-page");
    let mut created = Vec::new();
    for i in 0..7 {
        created.push(new_session(&*store, &t, &format!("c{i}")).await.id);
    }
    let newest_first: Vec<SessionId> = created.iter().rev().copied().collect();

    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = Vec::new();
    loop {
        let page = store
            .list_sessions(&t, &SessionFilter::default().limit(3).cursor(cursor))
            .await
            .unwrap();
        pages.push(page.sessions.len());
        seen.extend(page.sessions.iter().map(|s| s.id));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
        assert!(pages.len() < 10, "paging does not end");
    }
    assert_eq!(pages, [3, 3, 1]);
    assert_eq!(seen, newest_first);

    // A page that ends exactly at the last session has no next cursor.
    let first = store
        .list_sessions(&t, &SessionFilter::default().limit(4))
        .await
        .unwrap();
    assert!(first.next_cursor.is_some());
    let last = store
        .list_sessions(
            &t,
            &SessionFilter::default().limit(3).cursor(first.next_cursor),
        )
        .await
        .unwrap();
    assert_eq!(
        last.sessions.iter().map(|s| s.id).collect::<Vec<_>>(),
        newest_first[4..]
    );
    assert_eq!(last.next_cursor, None);
    let all = store
        .list_sessions(&t, &SessionFilter::default().limit(7))
        .await
        .unwrap();
    assert_eq!(all.sessions.len(), 7);
    assert_eq!(all.next_cursor, None);
    // Limit 0 is clamped to 1.
    let one = store
        .list_sessions(&t, &SessionFilter::default().limit(0))
        .await
        .unwrap();
    assert_eq!(
        one.sessions.iter().map(|s| s.id).collect::<Vec<_>>(),
        newest_first[..1]
    );
}

/// Scope, status, kind and assignee filters, alone and combined.
pub async fn list_filters(store: Arc<dyn ChatStore>) {
    let t = tenant("t-filter");
    let set = |status: SessionStatus, agent: Option<&str>| {
        SessionPatch::default()
            .status(status)
            .assigned_agent(agent.map(user))
    };
    let alice_open = new_session(&*store, &t, "alice").await;
    let alice_queued = new_session(&*store, &t, "alice").await;
    store
        .update_session(
            &t,
            alice_queued.id,
            set(SessionStatus::WaitingForAgent, None),
            None,
        )
        .await
        .unwrap();
    let bob_assigned = new_session(&*store, &t, "bob").await;
    store
        .update_session(
            &t,
            bob_assigned.id,
            set(SessionStatus::Assigned, Some("agent-x")),
            None,
        )
        .await
        .unwrap();
    let bob_general = store
        .create_session(NewSession::new(
            t.clone(),
            SessionKind::General,
            user("bob"),
        ))
        .await
        .unwrap();
    let carol_other_agent = new_session(&*store, &t, "carol").await;
    store
        .update_session(
            &t,
            carol_other_agent.id,
            set(SessionStatus::Assigned, Some("agent-y")),
            None,
        )
        .await
        .unwrap();
    let carol_resolved = new_session(&*store, &t, "carol").await;
    store
        .update_session(
            &t,
            carol_resolved.id,
            set(SessionStatus::Resolved, None),
            None,
        )
        .await
        .unwrap();

    let ids = |filter: SessionFilter| {
        let store = Arc::clone(&store);
        let t = t.clone();
        async move {
            store
                .list_sessions(&t, &filter)
                .await
                .unwrap()
                .sessions
                .into_iter()
                .map(|s| s.id)
                .collect::<Vec<_>>()
        }
    };
    let customer = |name: &str| SessionFilter::scoped(SessionScope::Customer(user(name)));
    let agent = |name: &str| SessionFilter::scoped(SessionScope::Agent(user(name)));

    assert_eq!(
        ids(customer("alice")).await,
        [alice_queued.id, alice_open.id]
    );
    assert_eq!(
        ids(customer("bob")).await,
        [bob_general.id, bob_assigned.id]
    );
    assert_eq!(ids(customer("nobody")).await, Vec::<SessionId>::new());
    assert_eq!(
        ids(agent("agent-x")).await,
        [bob_assigned.id, alice_queued.id]
    );
    assert_eq!(
        ids(agent("agent-y")).await,
        [carol_other_agent.id, alice_queued.id]
    );
    assert_eq!(ids(SessionFilter::default()).await.len(), 6);
    assert_eq!(
        ids(SessionFilter::default().status(SessionStatus::Assigned)).await,
        [carol_other_agent.id, bob_assigned.id]
    );
    assert_eq!(
        ids(SessionFilter::default().kind(SessionKind::General)).await,
        [bob_general.id]
    );
    assert_eq!(
        ids(SessionFilter::default().assigned_to(user("agent-y"))).await,
        [carol_other_agent.id]
    );
    assert_eq!(
        ids(customer("carol").status(SessionStatus::Resolved)).await,
        [carol_resolved.id]
    );
    assert_eq!(
        ids(customer("bob").kind(SessionKind::Support)).await,
        [bob_assigned.id]
    );
    assert_eq!(
        ids(agent("agent-x").status(SessionStatus::WaitingForAgent)).await,
        [alice_queued.id]
    );
    assert_eq!(
        ids(customer("alice").assigned_to(user("agent-x"))).await,
        Vec::<SessionId>::new()
    );
    // Paging inside a filter.
    let page = store
        .list_sessions(&t, &customer("carol").limit(1))
        .await
        .unwrap();
    assert_eq!(page.sessions[0].id, carol_resolved.id);
    let next = store
        .list_sessions(&t, &customer("carol").limit(1).cursor(page.next_cursor))
        .await
        .unwrap();
    assert_eq!(next.sessions[0].id, carol_other_agent.id);
    assert_eq!(next.next_cursor, None);
}
