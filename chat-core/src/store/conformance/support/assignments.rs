//! Agents, manual assignment, transfer, release and the queue.

use super::*;
use crate::model::{assignment_message, release_message};

/// Agents round-trip; upsert replaces all but `last_assigned_at`; availability and capacity
/// change; missing agents are `NotFound`; another tenant sees none.
pub async fn agents_crud(store: Arc<dyn ChatStore>) {
    let t = tenant("t-agents");
    let mut ann = agent(&t, "ann", AgentRole::Agent, 3).teams(vec!["billing".into(), "de".into()]);
    ann.last_assigned_at = Some(at(10));
    assert_eq!(store.upsert_agent(ann.clone()).await.unwrap(), ann);
    assert_eq!(store.get_agent(&t, &user("ann")).await.unwrap(), ann);
    let bob = agent(&t, "bob", AgentRole::Manager, 8);
    store.upsert_agent(bob.clone()).await.unwrap();

    let mut renamed = agent(&t, "ann", AgentRole::Manager, 4);
    renamed.display_name = "Ann B.".into();
    renamed.last_assigned_at = None;
    let stored = store.upsert_agent(renamed).await.unwrap();
    assert_eq!(stored.display_name, "Ann B.");
    assert_eq!(stored.role, AgentRole::Manager);
    assert_eq!(stored.max_concurrent, 4);
    assert!(stored.teams.is_empty());
    assert_eq!(
        stored.last_assigned_at,
        Some(at(10)),
        "upsert keeps last_assigned_at"
    );
    assert_eq!(store.get_agent(&t, &user("ann")).await.unwrap(), stored);
    assert_eq!(
        store.list_agents(&t).await.unwrap(),
        vec![stored.clone(), bob]
    );

    let away = store
        .set_agent_availability(&t, &user("ann"), AgentAvailability::Away, None)
        .await
        .unwrap();
    assert_eq!(away.availability, AgentAvailability::Away);
    assert_eq!(away.max_concurrent, 4);
    let offline = store
        .set_agent_availability(&t, &user("ann"), AgentAvailability::Offline, Some(9))
        .await
        .unwrap();
    assert_eq!(
        (offline.availability, offline.max_concurrent),
        (AgentAvailability::Offline, 9)
    );
    assert_eq!(
        (offline.display_name.as_str(), offline.role),
        ("Ann B.", AgentRole::Manager)
    );
    assert_eq!(store.get_agent(&t, &user("ann")).await.unwrap(), offline);
    // Becoming available starts the idle time.
    let online = store
        .set_agent_availability(&t, &user("ann"), AgentAvailability::Online, None)
        .await
        .unwrap();
    assert_eq!(online.availability, AgentAvailability::Online);
    assert!(online.last_assigned_at.is_some_and(|since| since > at(10)));
    let offline = store
        .set_agent_availability(&t, &user("ann"), AgentAvailability::Offline, None)
        .await
        .unwrap();
    assert_eq!(offline.last_assigned_at, online.last_assigned_at);

    assert_not_found(store.get_agent(&t, &user("nobody")).await, "missing agent");
    assert_not_found(
        store
            .set_agent_availability(&t, &user("nobody"), AgentAvailability::Online, None)
            .await,
        "availability of a missing agent",
    );
    let other = tenant("t-agents-other");
    assert_not_found(
        store.get_agent(&other, &user("ann")).await,
        "another tenant's agent",
    );
    assert_not_found(
        store
            .set_agent_availability(&other, &user("ann"), AgentAvailability::Online, None)
            .await,
        "another tenant's agent",
    );
    assert!(store.list_agents(&other).await.unwrap().is_empty());
    store
        .upsert_agent(agent(&other, "ann", AgentRole::Agent, 1))
        .await
        .unwrap();
    assert_eq!(store.get_agent(&t, &user("ann")).await.unwrap(), offline);
    assert_eq!(
        store
            .get_agent(&other, &user("ann"))
            .await
            .unwrap()
            .max_concurrent,
        1
    );
}

/// A manual assignment sets the session to `assigned`, records a system message with the next
/// `seq`, counts against the agent's load; a transfer ends the previous assignment.
pub async fn manual_assign_and_transfer(store: Arc<dyn ChatStore>) {
    let t = tenant("t-assign");
    store
        .upsert_agent(agent(&t, "ann", AgentRole::Agent, 2))
        .await
        .unwrap();
    store
        .upsert_agent(agent(&t, "bob", AgentRole::Agent, 2))
        .await
        .unwrap();
    let session = queued(&*store, &t).await;
    assert_eq!(store.active_assignment(&t, session.id).await.unwrap(), None);

    let request = to(&t, session.id, "ann", AssignmentKind::Manual)
        .assigned_by(Some(user("lead")))
        .note(Some("VIP customer".into()));
    let outcome = store.assign_session(request).await.unwrap();
    let first = outcome.assignment.clone();
    assert_eq!(first.agent_id, user("ann"));
    assert_eq!(first.session_id, session.id);
    assert_eq!(first.tenant_id, t);
    assert_eq!(first.kind, AssignmentKind::Manual);
    assert_eq!(first.assigned_by, Some(user("lead")));
    assert_eq!(first.note.as_deref(), Some("VIP customer"));
    assert_eq!(first.ended_at, None);
    assert_eq!(outcome.previous, None);
    assert_eq!(outcome.session.status, SessionStatus::Assigned);
    assert_eq!(outcome.session.assigned_agent, Some(user("ann")));
    assert_eq!(outcome.session.last_seq, 1);
    assert_eq!(outcome.message.seq, 1);
    assert_eq!(outcome.message.sender, SenderKind::System);
    assert_eq!(outcome.message.content, "Agent ann joined the chat");
    // The message carries the assignment as the model's helper records it: public, so the
    // staff note stays out of it.
    assert_eq!(
        outcome.message.metadata.system_event,
        assignment_message(&first, "Agent ann")
            .metadata
            .system_event
    );
    match &outcome.message.metadata.system_event {
        Some(SystemEvent::AssignmentChanged { assignment }) => {
            assert_eq!(assignment.id, first.id);
            assert_eq!(
                assignment.note, None,
                "a public message leaks the staff note"
            );
        }
        other => panic!("expected an assignment event, got {other:?}"),
    }
    assert_eq!(
        store.get_session(&t, session.id).await.unwrap(),
        outcome.session
    );
    assert_eq!(
        store.get_message(&t, outcome.message.id).await.unwrap(),
        outcome.message
    );
    assert_eq!(
        store.active_assignment(&t, session.id).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(store.agent_load(&t, &user("ann")).await.unwrap(), 1);
    assert_eq!(store.agent_load(&t, &user("bob")).await.unwrap(), 0);

    let transfer = to(&t, session.id, "bob", AssignmentKind::Transfer)
        .note(Some("billing question".into()))
        .replace_existing(true);
    let moved = store.assign_session(transfer).await.unwrap();
    let previous = moved
        .previous
        .clone()
        .expect("the transfer ends the previous assignment");
    assert_eq!(previous.id, first.id);
    assert!(previous.ended_at.is_some());
    assert_eq!(moved.assignment.agent_id, user("bob"));
    assert_eq!(moved.assignment.kind, AssignmentKind::Transfer);
    assert_eq!(moved.session.assigned_agent, Some(user("bob")));
    assert_eq!(moved.message.seq, 2);
    assert_eq!(moved.message.content, "Chat transferred to Agent bob");
    assert_eq!(store.agent_load(&t, &user("ann")).await.unwrap(), 0);
    assert_eq!(store.agent_load(&t, &user("bob")).await.unwrap(), 1);
    assert_eq!(
        store.active_assignment(&t, session.id).await.unwrap(),
        Some(moved.assignment.clone())
    );
    let history = store.list_assignments(&t, session.id).await.unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].id, first.id);
    assert!(history[0].ended_at.is_some());
    assert_eq!(history[1], moved.assignment);

    let escalation = to(&t, session.id, "ann", AssignmentKind::Escalation).replace_existing(true);
    let escalated = store.assign_session(escalation).await.unwrap();
    assert_eq!(escalated.message.content, "Chat escalated to Agent ann");
    assert_eq!(escalated.message.seq, 3);
    assert_eq!(
        store.list_assignments(&t, session.id).await.unwrap().len(),
        3
    );
    assert_eq!(store.get_session(&t, session.id).await.unwrap().last_seq, 3);
    assert!(
        store
            .list_assignments(&t, SessionId::new())
            .await
            .unwrap()
            .is_empty()
    );
}

/// Assignment refuses, with `Conflict` and no change: an assigned session without
/// `replace_existing`, an agent at capacity (unless capacity is not enforced), a closed
/// session; and with `NotFound`: a missing session or agent.
pub async fn assign_conflicts(store: Arc<dyn ChatStore>) {
    let t = tenant("t-assign-conflict");
    store
        .upsert_agent(agent(&t, "ann", AgentRole::Agent, 1))
        .await
        .unwrap();
    store
        .upsert_agent(agent(&t, "bob", AgentRole::Agent, 1))
        .await
        .unwrap();
    let first = queued(&*store, &t).await;
    let second = queued(&*store, &t).await;
    store
        .assign_session(to(&t, first.id, "ann", AssignmentKind::Manual))
        .await
        .unwrap();

    assert_conflict(
        store
            .assign_session(to(&t, first.id, "bob", AssignmentKind::Manual))
            .await,
        "already assigned",
    );
    assert_eq!(
        store
            .get_session(&t, first.id)
            .await
            .unwrap()
            .assigned_agent,
        Some(user("ann"))
    );
    assert_conflict(
        store
            .assign_session(to(&t, second.id, "ann", AssignmentKind::Manual))
            .await,
        "agent at capacity",
    );
    assert_eq!(
        store.get_session(&t, second.id).await.unwrap().status,
        SessionStatus::WaitingForAgent
    );
    assert_eq!(store.get_session(&t, second.id).await.unwrap().last_seq, 0);
    let over = store
        .assign_session(to(&t, second.id, "ann", AssignmentKind::Manual).enforce_capacity(false))
        .await
        .unwrap();
    assert_eq!(over.assignment.agent_id, user("ann"));
    assert_eq!(store.agent_load(&t, &user("ann")).await.unwrap(), 2);

    let closed = new_session(&*store, &t, "c").await;
    store
        .update_session(
            &t,
            closed.id,
            SessionPatch::default().status(SessionStatus::Closed),
            None,
        )
        .await
        .unwrap();
    assert_conflict(
        store
            .assign_session(to(&t, closed.id, "bob", AssignmentKind::Manual))
            .await,
        "closed session",
    );
    assert_conflict(
        store.assign_session(auto(&t, closed.id, None, false)).await,
        "closed session (auto)",
    );
    assert_eq!(
        store.get_session(&t, closed.id).await.unwrap().status,
        SessionStatus::Closed
    );

    assert_not_found(
        store
            .assign_session(to(&t, SessionId::new(), "bob", AssignmentKind::Manual))
            .await,
        "missing session",
    );
    let third = queued(&*store, &t).await;
    assert_not_found(
        store
            .assign_session(to(&t, third.id, "nobody", AssignmentKind::Manual))
            .await,
        "missing agent",
    );
    assert_eq!(store.active_assignment(&t, third.id).await.unwrap(), None);
    let other = tenant("t-assign-conflict-other");
    assert_not_found(
        store
            .assign_session(to(&other, third.id, "bob", AssignmentKind::Manual))
            .await,
        "another tenant's session",
    );
    let foreign = queued(&*store, &other).await;
    assert_not_found(
        store
            .assign_session(to(&other, foreign.id, "bob", AssignmentKind::Manual))
            .await,
        "another tenant's agent",
    );
}

/// Release ends the active assignment, sets the status, clears the assignee, frees capacity and
/// records a system message; without an assignment it records the status change.
pub async fn release(store: Arc<dyn ChatStore>) {
    let t = tenant("t-release");
    store
        .upsert_agent(agent(&t, "ann", AgentRole::Agent, 1))
        .await
        .unwrap();
    let session = queued(&*store, &t).await;
    let assigned = store
        .assign_session(to(&t, session.id, "ann", AssignmentKind::Manual))
        .await
        .unwrap();
    let request = ReleaseRequest::new(t.clone(), session.id, SessionStatus::Resolved)
        .released_by(Some(user("ann")))
        .reason(Some("solved".into()));
    let released = store.release_session(request).await.unwrap();
    let ended = released.ended.clone().expect("the active assignment ended");
    assert_eq!(ended.id, assigned.assignment.id);
    assert!(ended.ended_at.is_some());
    assert_eq!(released.session.status, SessionStatus::Resolved);
    assert_eq!(released.session.assigned_agent, None);
    assert_eq!(released.session.last_seq, 2);
    assert_eq!(released.message.seq, 2);
    assert_eq!(released.message.content, "Chat resolved");
    let expected = release_message(
        t.clone(),
        session.id,
        Some(&ended),
        SessionStatus::Resolved,
        session.kind,
        Some("solved".into()),
    );
    assert_eq!(
        released.message.metadata.system_event,
        expected.metadata.system_event
    );
    assert_eq!(
        store.get_session(&t, session.id).await.unwrap(),
        released.session
    );
    assert_eq!(store.active_assignment(&t, session.id).await.unwrap(), None);
    assert_eq!(
        store.list_assignments(&t, session.id).await.unwrap(),
        vec![ended]
    );
    assert_eq!(store.agent_load(&t, &user("ann")).await.unwrap(), 0);
    // The end of an assignment starts the agent's idle time.
    let idle_since = store
        .get_agent(&t, &user("ann"))
        .await
        .unwrap()
        .last_assigned_at;
    assert!(
        idle_since.is_some_and(|since| since >= assigned.assignment.started_at),
        "last_assigned_at after the release: {idle_since:?}"
    );
    // The freed capacity takes the next chat.
    let next = queued(&*store, &t).await;
    assert_eq!(
        store
            .assign_session(auto(&t, next.id, None, false))
            .await
            .unwrap()
            .assignment
            .agent_id,
        user("ann")
    );

    let handback = store
        .release_session(ReleaseRequest::new(
            t.clone(),
            session.id,
            SessionStatus::Open,
        ))
        .await
        .unwrap();
    assert_eq!(handback.ended, None);
    assert_eq!(handback.session.status, SessionStatus::Open);
    assert_eq!(handback.message.seq, 3);
    assert_eq!(
        handback.message.content,
        "Chat handed back to the assistant"
    );
    assert_eq!(
        handback.message.metadata.system_event,
        Some(SystemEvent::SessionUpdated {
            status: SessionStatus::Open,
            session_kind: session.kind,
            reason: None
        })
    );

    assert_not_found(
        store
            .release_session(ReleaseRequest::new(
                t.clone(),
                SessionId::new(),
                SessionStatus::Closed,
            ))
            .await,
        "missing session",
    );
    assert_not_found(
        store
            .release_session(ReleaseRequest::new(
                tenant("t-release-other"),
                next.id,
                SessionStatus::Closed,
            ))
            .await,
        "another tenant's session",
    );
    assert_eq!(
        store.get_session(&t, next.id).await.unwrap().status,
        SessionStatus::Assigned
    );
}

/// The queue holds only sessions waiting for an agent, oldest first, up to the limit, per tenant.
pub async fn queued_sessions(store: Arc<dyn ChatStore>) {
    let t = tenant("t-queue");
    store
        .upsert_agent(agent(&t, "ann", AgentRole::Agent, 5))
        .await
        .unwrap();
    let q1 = queued(&*store, &t).await;
    new_session(&*store, &t, "c").await;
    let q2 = queued(&*store, &t).await;
    let q3 = queued(&*store, &t).await;
    let q4 = queued(&*store, &t).await;
    store
        .assign_session(to(&t, q3.id, "ann", AssignmentKind::Manual))
        .await
        .unwrap();
    queued(&*store, &tenant("t-queue-other")).await;

    let ids = |limit: u32| {
        let store = Arc::clone(&store);
        let t = t.clone();
        async move {
            store
                .queued_sessions(&t, limit)
                .await
                .unwrap()
                .iter()
                .map(|s| s.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(ids(10).await, [q1.id, q2.id, q4.id]);
    assert_eq!(ids(2).await, [q1.id, q2.id]);
    assert!(
        store
            .queued_sessions(&tenant("t-queue-nobody"), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let all = store.queued_sessions(&t, 10).await.unwrap();
    assert!(
        all.iter()
            .all(|s| s.status == SessionStatus::WaitingForAgent && s.tenant_id == t)
    );
}

/// Another tenant can neither read a tenant's assignments nor count its agents' load.
pub async fn support_tenant_isolation(store: Arc<dyn ChatStore>) {
    let t = tenant("t-support-iso");
    let other = tenant("t-support-iso-other");
    store
        .upsert_agent(agent(&t, "ann", AgentRole::Agent, 5))
        .await
        .unwrap();
    let session = queued(&*store, &t).await;
    store
        .assign_session(to(&t, session.id, "ann", AssignmentKind::Manual))
        .await
        .unwrap();
    assert_eq!(
        store.active_assignment(&other, session.id).await.unwrap(),
        None
    );
    assert!(
        store
            .list_assignments(&other, session.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.agent_load(&other, &user("ann")).await.unwrap(), 0);
    assert!(store.list_agents(&other).await.unwrap().is_empty());
    assert_eq!(store.agent_load(&t, &user("ann")).await.unwrap(), 1);
    assert!(
        store
            .active_assignment(&t, session.id)
            .await
            .unwrap()
            .is_some()
    );
}
