//! Automatic routing and concurrent assignment.

use super::*;

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
