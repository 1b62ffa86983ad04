//! Two nodes (two stores with their own pools, two buses, two engines) on one schema of the
//! PostgreSQL test server: concurrent start-up, gap-free `seq` under concurrent appends,
//! atomic auto-assignment, and cross-node delivery through LISTEN/NOTIFY, also across a killed
//! listener connection.

// Test code: a failed expectation must fail the test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chat_core::bus::{BusItem, ChatEvent, EventBus, EventKind, Topic};
use chat_core::engine::{CreateSession, PostMessage, SubscriptionItem};
use chat_core::ids::{MessageId, TenantId, UserId};
use chat_core::model::{
    Agent, AgentAvailability, AgentRole, NewMessage, NewSession, SenderKind, SessionKind,
    SessionPatch, SessionStatus,
};
use chat_core::store::{ChatStore, MessageQuery, MessageStore, SessionStore, SupportStore};
use chat_core::{ChatEngine, Principal, Role};
use chat_storage_postgres::{PgBusConfig, PgEventBus, PgStore, SCHEMA_VERSION};
use futures::StreamExt;
use support::{TestSchema, postgres_url};

/// Nodes in the append race.
const NODES: usize = 2;
/// Writers per node in the append race.
const WRITERS_PER_NODE: usize = 4;
/// Messages per writer in the append race.
const MESSAGES_PER_WRITER: u64 = 500;

fn tenant() -> TenantId {
    TenantId::new("t-cluster").unwrap()
}

fn schema() -> Option<TestSchema> {
    postgres_url().map(TestSchema::new)
}

/// Waits for `what` up to 20 s.
async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), future)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_starting_at_once_migrate_once() {
    let Some(schema) = schema() else { return };
    let (a, b) = tokio::join!(schema.store(), schema.store());
    assert_eq!(a.schema_version().await.unwrap(), SCHEMA_VERSION);
    assert_eq!(b.schema_version().await.unwrap(), SCHEMA_VERSION);
    let (client, connection) = schema
        .url
        .parse::<tokio_postgres::Config>()
        .unwrap()
        .connect(tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let sql = format!(
        "SELECT count(*) FROM \"{}\".chat_schema_migrations",
        schema.name
    );
    let applied: i64 = client.query_one(&sql, &[]).await.unwrap().get(0);
    assert_eq!(applied, SCHEMA_VERSION, "each migration recorded once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_four_writers_each_get_gap_free_seqs() {
    let Some(schema) = schema() else { return };
    let nodes: Vec<PgStore> = futures::future::join_all((0..NODES).map(|_| schema.store())).await;
    let t = tenant();
    let session = nodes[0]
        .create_session(NewSession::new(
            t.clone(),
            SessionKind::Support,
            UserId::new("c").unwrap(),
        ))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for (n, node) in nodes.iter().enumerate() {
        for w in 0..WRITERS_PER_NODE {
            let (node, t, id) = (node.clone(), t.clone(), session.id);
            tasks.push(tokio::spawn(async move {
                let mut seqs = Vec::new();
                for i in 0..MESSAGES_PER_WRITER {
                    let message = NewMessage::new(
                        t.clone(),
                        id,
                        SenderKind::Customer,
                        None,
                        format!("n{n} w{w} m{i}"),
                    );
                    // Every other message carries a client key: both append paths race.
                    let message = if i % 2 == 0 {
                        message.client_msg_id(Some(format!("n{n}-w{w}-{i}")))
                    } else {
                        message
                    };
                    let stored = node.append_message(message).await.unwrap();
                    assert!(stored.created);
                    seqs.push(stored.value.seq);
                }
                seqs
            }));
        }
    }
    let mut all = HashSet::new();
    for task in tasks {
        let seqs = task.await.unwrap();
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "a writer's seqs went down"
        );
        for seq in seqs {
            assert!(all.insert(seq), "seq {seq} assigned twice");
        }
    }
    let total = (NODES * WRITERS_PER_NODE) as u64 * MESSAGES_PER_WRITER;
    assert_eq!(all, (1..=total).collect::<HashSet<u64>>(), "gap-free");
    for node in &nodes {
        assert_eq!(
            node.get_session(&t, session.id).await.unwrap().last_seq,
            total
        );
    }
    let mut after = 0;
    loop {
        let page = nodes[1]
            .list_messages(&t, session.id, MessageQuery::after(after, 1000))
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        for (i, m) in page.iter().enumerate() {
            assert_eq!(m.seq, after + 1 + i as u64);
        }
        after = last.seq;
    }
    assert_eq!(after, total);
}

/// Queued chats in the assignment race.
const QUEUED: usize = 200;
/// Agents in the assignment race.
const AGENTS: usize = 10;
/// Capacity of each agent: less than the queue, so capacity is what stops the race.
const CAPACITY: u32 = 15;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_auto_assign_200_chats_atomically() {
    let Some(schema) = schema() else { return };
    let t = tenant();
    let stores = [schema.store().await, schema.store().await];
    let engines: Vec<ChatEngine> = stores
        .iter()
        .map(|s| {
            ChatEngine::builder()
                .store(Arc::new(s.clone()))
                .build()
                .unwrap()
        })
        .collect();
    for i in 0..AGENTS {
        let agent = Agent::new(
            t.clone(),
            UserId::new(format!("agent-{i}")).unwrap(),
            format!("Agent {i}"),
            AgentRole::Agent,
        )
        .availability(AgentAvailability::Online)
        .max_concurrent(CAPACITY);
        stores[i % 2].upsert_agent(agent).await.unwrap();
    }
    for i in 0..QUEUED {
        let store = &stores[i % 2];
        let session = store
            .create_session(NewSession::new(
                t.clone(),
                SessionKind::Support,
                UserId::new(format!("c-{i}")).unwrap(),
            ))
            .await
            .unwrap();
        store
            .update_session(
                &t,
                session.id,
                SessionPatch::default().status(SessionStatus::WaitingForAgent),
                None,
            )
            .await
            .unwrap();
    }
    let capacity = AGENTS * CAPACITY as usize;
    // Two assigners per node; each runs until the agents are full (a round may stop early
    // when another node took the chat it tried).
    let mut tasks = Vec::new();
    for k in 0..4 {
        let (engine, store, t) = (engines[k % 2].clone(), stores[k % 2].clone(), t.clone());
        tasks.push(tokio::spawn(async move {
            let mut won = 0;
            for _ in 0..1000 {
                won += engine.assign_queued(&t).await.unwrap();
                let mut load = 0;
                for i in 0..AGENTS {
                    let id = UserId::new(format!("agent-{i}")).unwrap();
                    load += store.agent_load(&t, &id).await.unwrap() as usize;
                }
                if load >= capacity {
                    break;
                }
            }
            won
        }));
    }
    let mut won = 0;
    for task in tasks {
        won += task.await.unwrap();
    }
    assert_eq!(won, capacity, "assignments reported by the nodes");
    let mut per_agent: HashMap<UserId, usize> = HashMap::new();
    let mut assigned = 0;
    let mut queued = 0;
    let page = stores[0]
        .list_sessions(
            &t,
            &chat_core::model::SessionFilter::scoped(chat_core::model::SessionScope::All)
                .limit(500),
        )
        .await
        .unwrap();
    assert_eq!(page.sessions.len(), QUEUED);
    for session in &page.sessions {
        let assignments = stores[1].list_assignments(&t, session.id).await.unwrap();
        match session.status {
            SessionStatus::Assigned => {
                assigned += 1;
                assert_eq!(assignments.len(), 1, "chat {} assigned twice", session.id);
                let agent = assignments[0].agent_id.clone();
                assert_eq!(session.assigned_agent.as_ref(), Some(&agent));
                *per_agent.entry(agent).or_default() += 1;
            }
            SessionStatus::WaitingForAgent => {
                queued += 1;
                assert!(assignments.is_empty());
            }
            other => panic!("unexpected status {other:?}"),
        }
    }
    assert_eq!(assigned, capacity);
    assert_eq!(queued, QUEUED - capacity);
    assert_eq!(per_agent.len(), AGENTS);
    for (agent, n) in per_agent {
        assert_eq!(n, CAPACITY as usize, "load of {agent}");
        assert_eq!(stores[0].agent_load(&t, &agent).await.unwrap(), CAPACITY);
    }
}

/// Two buses on one schema; B's listener has a name of its own to be found and killed.
async fn buses(schema: &TestSchema, a: &PgStore, b: &PgStore) -> (PgEventBus, PgEventBus, String) {
    let listener = format!("listener-{}", &schema.name[schema.name.len() - 12..]);
    let bus_a = PgEventBus::start(a, PgBusConfig::default()).await.unwrap();
    let config = PgBusConfig::default()
        .listener_application_name(listener.clone())
        .reconnect_backoff(Duration::from_millis(20), Duration::from_millis(500));
    let bus_b = PgEventBus::start(b, config).await.unwrap();
    (bus_a, bus_b, listener)
}

/// Terminates the backends with this `application_name`; returns how many.
async fn kill_listener(schema: &TestSchema, application_name: &str) -> i64 {
    let (client, connection) = schema
        .url
        .parse::<tokio_postgres::Config>()
        .unwrap()
        .connect(tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .query_one(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE application_name = $1",
            &[&application_name],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_larger_than_notify_allows_cross_nodes() {
    let Some(schema) = schema() else { return };
    let (a, b) = (schema.store().await, schema.store().await);
    let (bus_a, bus_b, _) = buses(&schema, &a, &b).await;
    let t = tenant();
    let session = a
        .create_session(NewSession::new(
            t.clone(),
            SessionKind::Support,
            UserId::new("c").unwrap(),
        ))
        .await
        .unwrap();
    let topic = Topic::session(t.clone(), session.id);
    let mut sub = bus_b.subscribe(&topic).await.unwrap();
    // Another topic's subscriber hears nothing of it.
    let other = Topic::session(t.clone(), chat_core::ids::SessionId::new());
    let mut other_sub = bus_b.subscribe(&other).await.unwrap();

    let small = Arc::new(ChatEvent::ephemeral(
        t.clone(),
        session.id,
        EventKind::AiDelta {
            message_id: MessageId::new(),
            delta: "hi".into(),
        },
    ));
    let big_ephemeral = Arc::new(ChatEvent::ephemeral(
        t.clone(),
        session.id,
        EventKind::AiDelta {
            message_id: MessageId::new(),
            delta: "é".repeat(20_000),
        },
    ));
    let stored = a
        .append_message(NewMessage::new(
            t.clone(),
            session.id,
            SenderKind::Customer,
            None,
            "x".repeat(30_000),
        ))
        .await
        .unwrap()
        .value;
    let big_durable = Arc::new(ChatEvent::durable(stored));
    for event in [&small, &big_ephemeral, &big_durable] {
        bus_a.publish(&topic, Arc::clone(event)).await.unwrap();
    }
    for expected in [&small, &big_ephemeral, &big_durable] {
        match within("an event on node B", sub.next()).await.unwrap() {
            BusItem::Event(got) => assert_eq!(&got, expected),
            other => panic!("expected an event, got {other:?}"),
        }
    }
    // Only the large ephemeral event went through the payload table.
    let client = schema_client(&schema).await;
    let rows: i64 = client
        .query_one(
            &format!("SELECT count(*) FROM \"{}\".chat_bus_payloads", schema.name),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 1);
    assert!(
        tokio::time::timeout(Duration::from_millis(300), other_sub.next())
            .await
            .is_err(),
        "another topic's subscriber heard the events"
    );
    bus_b.shutdown();
    assert!(
        bus_b.subscribe(&topic).await.is_err(),
        "a shut down bus subscribes"
    );
}

async fn schema_client(schema: &TestSchema) -> tokio_postgres::Client {
    let (client, connection) = schema
        .url
        .parse::<tokio_postgres::Config>()
        .unwrap()
        .connect(tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

/// Messages posted on node A in the delivery test.
const STREAM: usize = 300;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn subscriber_on_b_gets_every_message_of_a_once_in_order_across_a_killed_listener() {
    let Some(schema) = schema() else { return };
    let (a, b) = (schema.store().await, schema.store().await);
    let (bus_a, bus_b, listener) = buses(&schema, &a, &b).await;
    let engine = |store: &PgStore, bus: &PgEventBus| {
        ChatEngine::builder()
            .store(Arc::new(store.clone()) as Arc<dyn ChatStore>)
            .bus(Arc::new(bus.clone()) as Arc<dyn EventBus>)
            .build()
            .unwrap()
    };
    let (node_a, node_b) = (engine(&a, &bus_a), engine(&b, &bus_b));
    let customer = Principal::new(tenant(), UserId::new("cust").unwrap(), Role::Customer);
    let session = node_a
        .create_session(&customer, CreateSession::new(SessionKind::Support))
        .await
        .unwrap();
    let mut subscription = node_b.subscribe(&customer, session.id, 0).await.unwrap();
    // A raw subscription on B's bus shows the Lagged signal the reconnect sends.
    let mut raw = bus_b
        .subscribe(&Topic::session(tenant(), session.id))
        .await
        .unwrap();

    let poster = {
        let (node_a, customer) = (node_a.clone(), customer.clone());
        tokio::spawn(async move {
            for i in 0..STREAM {
                node_a
                    .post_message(
                        &customer,
                        session.id,
                        PostMessage::new(format!("message {i}")).client_msg_id(format!("k{i}")),
                    )
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
        })
    };

    let mut seqs = Vec::new();
    let mut contents = Vec::new();
    let mut killed = 0;
    while contents.len() < STREAM {
        let item = within("the next event on node B", subscription.next())
            .await
            .expect("the subscription ended")
            .unwrap();
        let SubscriptionItem::Event(event) = item else {
            continue;
        };
        let Some(seq) = event.seq else { continue };
        seqs.push(seq);
        if let EventKind::MessageCreated { message } = &event.kind {
            contents.push(message.content.clone());
        }
        // Kill B's listener twice in the middle of the stream.
        if (contents.len() == STREAM / 3 || contents.len() == 2 * STREAM / 3)
            && killed < 2
            && seqs.len() == contents.len()
        {
            assert_eq!(kill_listener(&schema, &listener).await, 1, "one listener");
            killed += 1;
        }
    }
    poster.await.unwrap();
    assert_eq!(killed, 2);
    let expected: Vec<u64> = (1..=seqs.len() as u64).collect();
    assert_eq!(seqs, expected, "every seq once, in order");
    let expected: Vec<String> = (0..STREAM).map(|i| format!("message {i}")).collect();
    assert_eq!(contents, expected);
    let last = b.get_session(&tenant(), session.id).await.unwrap().last_seq;
    assert_eq!(last, *seqs.last().unwrap());

    let mut lagged = 0;
    while let Ok(Some(item)) = tokio::time::timeout(Duration::from_millis(200), raw.next()).await {
        if matches!(item, BusItem::Lagged { .. }) {
            lagged += 1;
        }
    }
    assert!(
        lagged >= 2,
        "each reconnect tells subscribers they lagged ({lagged})"
    );
    within("B's listener back up", async {
        while !bus_b.is_connected() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    // Nothing arrives twice afterwards either.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), subscription.next())
            .await
            .is_err()
    );
}

/// A customer writes through node A while A's AI answer streams, then through node B: B waits
/// for A's answer claim and answers only after A's answer is stored (never two at once).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_never_answer_one_session_at_the_same_time() {
    use chat_core::engine::AnswerConfig;
    use chat_core::provider::FinishReason;
    use chat_core::testing::{MockProvider, MockReply};

    let Some(schema) = schema() else { return };
    let (a, b) = (schema.store().await, schema.store().await);
    let (bus_a, bus_b, _) = buses(&schema, &a, &b).await;
    let slow = Arc::new(
        MockProvider::new("node-a").repeat(
            MockReply::new()
                .delta("From A.")
                .delay(Duration::from_millis(500))
                .finish(FinishReason::Stop),
        ),
    );
    let fast = Arc::new(MockProvider::new("node-b").repeat(MockReply::answer(["From B."])));
    let mut config = AnswerConfig::default();
    config.claim_poll = Duration::from_millis(20);
    let engine = |store: &PgStore, bus: &PgEventBus, provider: Arc<MockProvider>| {
        ChatEngine::builder()
            .store(Arc::new(store.clone()) as Arc<dyn ChatStore>)
            .bus(Arc::new(bus.clone()) as Arc<dyn EventBus>)
            .provider(provider)
            .answer_config(config.clone())
            .build()
            .unwrap()
    };
    let (node_a, node_b) = (
        engine(&a, &bus_a, slow.clone()),
        engine(&b, &bus_b, fast.clone()),
    );
    let customer = Principal::new(tenant(), UserId::new("cust").unwrap(), Role::Customer);
    let session = node_a
        .create_session(&customer, CreateSession::new(SessionKind::Support))
        .await
        .unwrap();
    let mut sub = node_a.subscribe(&customer, session.id, 0).await.unwrap();
    node_a
        .post_message(&customer, session.id, PostMessage::new("first, through A"))
        .await
        .unwrap();
    let mut answers = Vec::new();
    let mut asked_b = false;
    while answers.len() < 2 {
        let item = within("events", sub.next()).await.unwrap().unwrap();
        let SubscriptionItem::Event(event) = item else {
            continue;
        };
        match &event.kind {
            EventKind::AiDelta { .. } if !asked_b => {
                asked_b = true;
                node_b
                    .post_message(&customer, session.id, PostMessage::new("second, through B"))
                    .await
                    .unwrap();
            }
            EventKind::AiCompleted { message } => answers.push(message.content.clone()),
            _ => {}
        }
    }
    assert_eq!(answers, ["From A.", "From B."]);
    let b_request = &fast.requests()[0];
    assert!(
        b_request
            .messages
            .iter()
            .any(|m| m.content.contains("From A.")),
        "B answered after A's answer was stored: {:?}",
        b_request.messages
    );
    assert_eq!(
        b_request.messages.last().unwrap().content,
        "second, through B"
    );
    assert_eq!(slow.calls(), 1);
}
