//! Conformance cases of [`SupportStore`](crate::store::SupportStore): agents, atomic
//! assignment (manual, transfer, automatic routing), release and the queue.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::{
    StoreFactory, assert_conflict, assert_not_found, at, new_session, open, second_handle, tenant,
    user,
};
use crate::ids::{SessionId, TenantId, UserId};
use crate::model::{
    Agent, AgentAvailability, AgentRole, AssignRequest, AssignTarget, AssignmentKind, ChatSession,
    SenderKind, SessionPatch, SessionStatus, SystemEvent,
};
use crate::store::{ChatStore, ReleaseRequest, StoreError};

/// Queued sessions in [`concurrent_auto_assign`].
pub const RACE_SESSIONS: usize = 40;
/// Agents (each of capacity [`RACE_CAPACITY`]) in [`concurrent_auto_assign`].
pub const RACE_AGENTS: usize = 3;
/// Capacity of each agent in [`concurrent_auto_assign`].
pub const RACE_CAPACITY: u32 = 5;
/// Concurrent assigners in [`concurrent_auto_assign`].
pub const RACE_ASSIGNERS: usize = 8;

fn agent(t: &TenantId, id: &str, role: AgentRole, capacity: u32) -> Agent {
    let mut agent = Agent::new(t.clone(), user(id), format!("Agent {id}"), role)
        .availability(AgentAvailability::Online)
        .max_concurrent(capacity);
    agent.updated_at = at(0);
    agent
}

fn to(t: &TenantId, session: SessionId, agent: &str, kind: AssignmentKind) -> AssignRequest {
    AssignRequest::new(t.clone(), session, AssignTarget::Agent(user(agent)), kind)
}

fn auto(
    t: &TenantId,
    session: SessionId,
    team: Option<&str>,
    managers_only: bool,
) -> AssignRequest {
    AssignRequest::new(
        t.clone(),
        session,
        AssignTarget::Auto {
            team: team.map(str::to_owned),
            managers_only,
        },
        AssignmentKind::Auto,
    )
}

async fn queued(store: &dyn ChatStore, t: &TenantId) -> ChatSession {
    let session = new_session(store, t, "customer").await;
    let patch = SessionPatch::default().status(SessionStatus::WaitingForAgent);
    store
        .update_session(t, session.id, patch, None)
        .await
        .unwrap()
        .0
}

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
    assert_eq!(
        outcome.message.metadata.system_event,
        Some(SystemEvent::AssignmentChanged {
            assignment: first.clone()
        })
    );
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

/// Auto-assignment picks the least loaded online agent with free capacity, ties going to the
/// longest idle (never assigned first); honours teams and `managers_only`; skips away and
/// offline agents; is `Conflict` when nobody is free.
pub async fn auto_assign_routing(store: Arc<dyn ChatStore>) {
    let t = tenant("t-routing");
    let mut ann = agent(&t, "ann", AgentRole::Agent, 2).teams(vec!["billing".into()]);
    ann.last_assigned_at = Some(at(100));
    let mut bob =
        agent(&t, "bob", AgentRole::Agent, 2).teams(vec!["billing".into(), "tech".into()]);
    bob.last_assigned_at = Some(at(50));
    let cid = agent(&t, "cid", AgentRole::Agent, 2);
    let mut max = agent(&t, "max", AgentRole::Manager, 1);
    max.last_assigned_at = Some(at(0));
    let away = agent(&t, "away", AgentRole::Agent, 9).availability(AgentAvailability::Away);
    let off = agent(&t, "off", AgentRole::Manager, 9).availability(AgentAvailability::Offline);
    for a in [ann, bob, cid, max, away, off] {
        store.upsert_agent(a).await.unwrap();
    }
    let mut picks = Vec::new();
    for _ in 0..4 {
        let session = queued(&*store, &t).await;
        let outcome = store
            .assign_session(auto(&t, session.id, Some("billing"), false))
            .await
            .unwrap();
        assert_eq!(outcome.assignment.kind, AssignmentKind::Auto);
        assert_eq!(
            outcome.message.content,
            format!("Agent {} joined the chat", outcome.assignment.agent_id)
        );
        picks.push(outcome.assignment.agent_id.as_str().to_owned());
    }
    // Team billing: bob (idle since 50) before ann (100); then ann, who holds fewer; then both
    // hold one and bob, idle for longer, goes first again.
    assert_eq!(picks, ["bob", "ann", "bob", "ann"]);
    let session = queued(&*store, &t).await;
    assert_conflict(
        store
            .assign_session(auto(&t, session.id, Some("billing"), false))
            .await,
        "billing team full",
    );
    assert_conflict(
        store
            .assign_session(auto(&t, session.id, Some("nope"), false))
            .await,
        "unknown team",
    );
    // No team: cid (never assigned, load 0) and max (load 0, idle since 0): never assigned first.
    let outcome = store
        .assign_session(auto(&t, session.id, None, false))
        .await
        .unwrap();
    assert_eq!(outcome.assignment.agent_id, user("cid"));
    let escalation = store
        .assign_session(auto(&t, session.id, None, true).replace_existing(true))
        .await
        .unwrap();
    assert_eq!(
        escalation.assignment.agent_id,
        user("max"),
        "managers_only picks the online manager"
    );
    assert_eq!(escalation.previous.map(|p| p.agent_id), Some(user("cid")));
    let next = queued(&*store, &t).await;
    assert_conflict(
        store.assign_session(auto(&t, next.id, None, true)).await,
        "the only online manager is full",
    );
    assert_eq!(
        store
            .assign_session(auto(&t, next.id, None, false))
            .await
            .unwrap()
            .assignment
            .agent_id,
        user("cid")
    );
    let last = queued(&*store, &t).await;
    assert_eq!(
        store
            .assign_session(auto(&t, last.id, None, false))
            .await
            .unwrap()
            .assignment
            .agent_id,
        user("cid")
    );
    let none_left = queued(&*store, &t).await;
    assert_conflict(
        store
            .assign_session(auto(&t, none_left.id, None, false))
            .await,
        "every online agent is full",
    );
    assert_eq!(store.agent_load(&t, &user("away")).await.unwrap(), 0);
    assert_eq!(store.agent_load(&t, &user("off")).await.unwrap(), 0);
    assert_eq!(
        store.get_session(&t, none_left.id).await.unwrap().status,
        SessionStatus::WaitingForAgent
    );
}

/// 40 queued sessions, 3 agents of capacity 5, 8 concurrent auto-assigners (spread over two
/// handles on multi-node stores): exactly 15 assignments, no session assigned twice, no agent
/// over capacity, 25 sessions still queued.
pub async fn concurrent_auto_assign(factory: &dyn StoreFactory) {
    let store = open(factory).await;
    let second = second_handle(factory, &store).await;
    let t = tenant("t-assign-race");
    for name in ["ann", "bob", "cid"].iter().take(RACE_AGENTS) {
        store
            .upsert_agent(agent(&t, name, AgentRole::Agent, RACE_CAPACITY))
            .await
            .unwrap();
    }
    for _ in 0..RACE_SESSIONS {
        queued(&*store, &t).await;
    }
    let mut tasks = Vec::new();
    for i in 0..RACE_ASSIGNERS {
        let handle = if i % 2 == 0 {
            Arc::clone(&store)
        } else {
            Arc::clone(&second)
        };
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            let mut won = Vec::new();
            let sessions = handle.queued_sessions(&t, 100).await.unwrap();
            // Each assigner walks the queue from a different place to collide often.
            for k in 0..sessions.len() {
                let session = &sessions[(k + i * 5) % sessions.len()];
                match handle
                    .assign_session(auto(&t, session.id, None, false))
                    .await
                {
                    Ok(outcome) => won.push((session.id, outcome.assignment.agent_id)),
                    Err(StoreError::Conflict(_)) => {}
                    Err(other) => panic!("assignment failed: {other}"),
                }
            }
            won
        }));
    }
    let mut won: Vec<(SessionId, UserId)> = Vec::new();
    for task in tasks {
        won.extend(task.await.unwrap());
    }
    let expected = RACE_AGENTS * RACE_CAPACITY as usize;
    assert_eq!(won.len(), expected, "successful assignments");
    let sessions: HashSet<SessionId> = won.iter().map(|(s, _)| *s).collect();
    assert_eq!(sessions.len(), expected, "a session was assigned twice");
    let mut per_agent: HashMap<&UserId, u32> = HashMap::new();
    for (_, agent) in &won {
        *per_agent.entry(agent).or_insert(0) += 1;
    }
    for name in ["ann", "bob", "cid"] {
        assert_eq!(
            per_agent.get(&user(name)).copied(),
            Some(RACE_CAPACITY),
            "assignments of {name}"
        );
        assert_eq!(
            store.agent_load(&t, &user(name)).await.unwrap(),
            RACE_CAPACITY
        );
    }
    for session in &sessions {
        assert_eq!(store.list_assignments(&t, *session).await.unwrap().len(), 1);
        assert!(
            store
                .active_assignment(&t, *session)
                .await
                .unwrap()
                .is_some()
        );
    }
    let still_queued = store.queued_sessions(&t, 100).await.unwrap();
    assert_eq!(still_queued.len(), RACE_SESSIONS - expected);
    assert!(still_queued.iter().all(|s| !sessions.contains(&s.id)));
}

/// Concurrent manual assignments of one session to different agents: exactly one wins.
pub async fn concurrent_manual_assign(factory: &dyn StoreFactory) {
    let store = open(factory).await;
    let second = second_handle(factory, &store).await;
    let t = tenant("t-assign-race-manual");
    let names: Vec<String> = (0..8).map(|i| format!("agent-{i}")).collect();
    for name in &names {
        store
            .upsert_agent(agent(&t, name, AgentRole::Agent, 3))
            .await
            .unwrap();
    }
    let session = queued(&*store, &t).await;
    let mut tasks = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let handle = if i % 2 == 0 {
            Arc::clone(&store)
        } else {
            Arc::clone(&second)
        };
        let request = to(&t, session.id, name, AssignmentKind::Manual);
        tasks.push(tokio::spawn(
            async move { handle.assign_session(request).await },
        ));
    }
    let mut winners = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(outcome) => winners.push(outcome),
            Err(StoreError::Conflict(_)) => {}
            Err(other) => panic!("assignment failed: {other}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one concurrent assignment wins");
    let session = store.get_session(&t, session.id).await.unwrap();
    assert_eq!(
        session.assigned_agent,
        Some(winners[0].assignment.agent_id.clone())
    );
    assert_eq!(session.last_seq, 1);
    assert_eq!(
        store.list_assignments(&t, session.id).await.unwrap(),
        vec![winners[0].assignment.clone()]
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
    assert_eq!(
        released.message.metadata.system_event,
        Some(SystemEvent::AssignmentChanged {
            assignment: ended.clone()
        })
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
