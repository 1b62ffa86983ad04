//! Answer claims: one AI answer per session at a time, across nodes.

use super::*;
use crate::store::conformance::{StoreFactory, at, open, second_handle};

/// A claim is exclusive until it ends or is released; its holder may extend it.
pub async fn answer_claims(store: Arc<dyn ChatStore>) {
    let t = tenant("t-claims");
    let session = new_session(&*store, &t, "c").await;
    let claim = |owner: &'static str, now: i64, until: i64| {
        let store = Arc::clone(&store);
        let t = t.clone();
        async move {
            store
                .claim_answer(&t, session.id, owner, at(now), at(until))
                .await
                .unwrap()
        }
    };
    assert!(claim("node-a", 0, 60).await, "a free session is claimed");
    assert!(
        !claim("node-b", 10, 70).await,
        "a live claim of another node refuses"
    );
    assert!(
        claim("node-a", 20, 120).await,
        "the holder extends its claim"
    );
    assert!(
        !claim("node-b", 100, 160).await,
        "the extension holds past the first end"
    );
    // Releasing someone else's claim does nothing.
    store
        .release_answer(&t, session.id, "node-b")
        .await
        .unwrap();
    assert!(!claim("node-b", 100, 160).await);
    store
        .release_answer(&t, session.id, "node-a")
        .await
        .unwrap();
    assert!(
        claim("node-b", 100, 160).await,
        "released: another node may claim"
    );
    // An expired claim (a node died) is taken over at its end.
    assert!(!claim("node-a", 159, 200).await);
    assert!(claim("node-a", 160, 220).await, "expired at its end");
    // Releasing twice, or a session without a claim, is fine.
    store
        .release_answer(&t, session.id, "node-a")
        .await
        .unwrap();
    store
        .release_answer(&t, session.id, "node-a")
        .await
        .unwrap();

    // Claims are per session and per tenant.
    let other = new_session(&*store, &t, "c").await;
    assert!(
        store
            .claim_answer(&t, other.id, "node-c", at(161), at(220))
            .await
            .unwrap()
    );
    assert_not_found(
        store
            .claim_answer(&tenant("t-claims-other"), session.id, "x", at(0), at(1))
            .await,
        "a claim in another tenant",
    );
    assert_not_found(
        store
            .claim_answer(&t, SessionId::new(), "x", at(0), at(1))
            .await,
        "a claim on a missing session",
    );
    store
        .release_answer(&tenant("t-claims-other"), session.id, "node-b")
        .await
        .unwrap();
}

/// Many nodes racing for one session: exactly one wins.
pub async fn concurrent_answer_claims(factory: &dyn StoreFactory) {
    let store = open(factory).await;
    let second = second_handle(factory, &store).await;
    let t = tenant("t-claims-race");
    let session = new_session(&*store, &t, "c").await;
    let mut tasks = Vec::new();
    for i in 0..16 {
        let handle = if i % 2 == 0 {
            Arc::clone(&store)
        } else {
            Arc::clone(&second)
        };
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            handle
                .claim_answer(&t, session.id, &format!("node-{i}"), at(0), at(60))
                .await
                .unwrap()
        }));
    }
    let mut won = 0;
    for task in tasks {
        won += usize::from(task.await.unwrap());
    }
    assert_eq!(won, 1, "exactly one node holds the claim");
}
