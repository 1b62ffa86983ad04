//! FTS5 search: stemming and diacritics folding, ranking, index sync through the triggers,
//! and user text that looks like FTS5 syntax.

// Test code: a failed expectation must fail the test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use chat_core::ids::{TenantId, UserId};
use chat_core::model::{
    DocumentChunk, DocumentStatus, FaqStatus, KbArticle, LearnedFaqEntry, NewDocument, NewSession,
    SessionKind,
};
use chat_core::store::{DocumentPatch, DocumentStore, KnowledgeStore, SessionStore};
use chat_storage_sqlite::{SqliteConfig, SqliteStore};
use rusqlite::Connection;

fn tenant(name: &str) -> TenantId {
    TenantId::new(name).unwrap()
}

async fn store() -> SqliteStore {
    SqliteStore::open(SqliteConfig::temporary()).await.unwrap()
}

async fn titles(store: &SqliteStore, t: &TenantId, query: &str) -> Vec<String> {
    store
        .search_articles(t, query, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|hit| hit.article.title)
        .collect()
}

/// Runs FTS5's own integrity check, which with rank 1 also compares the index with the
/// content table: it fails if a trigger missed a change.
fn assert_fts_in_sync(path: &Path) {
    let conn = Connection::open(path).unwrap();
    for table in [
        "kb_articles_fts",
        "faq_entries_fts",
        "chat_document_chunks_fts",
    ] {
        conn.execute(
            &format!("INSERT INTO {table} ({table}, rank) VALUES ('integrity-check', 1)"),
            [],
        )
        .unwrap_or_else(|err| panic!("{table} is out of sync with its content: {err}"));
    }
}

#[tokio::test]
async fn stemming_and_diacritics_folding() {
    let store = store().await;
    let t = tenant("acme");
    store
        .upsert_article(KbArticle::new(
            t.clone(),
            "Refunds",
            "How we pay money back.",
        ))
        .await
        .unwrap();
    store
        .upsert_article(KbArticle::new(
            t.clone(),
            "Our café",
            "Opening hours of the coffee place.",
        ))
        .await
        .unwrap();
    store
        .upsert_article(KbArticle::new(
            t.clone(),
            "Shipping",
            "Parcels leave daily.",
        ))
        .await
        .unwrap();
    assert_eq!(titles(&store, &t, "refund").await, ["Refunds"]);
    assert_eq!(titles(&store, &t, "refunding").await, ["Refunds"]);
    assert_eq!(titles(&store, &t, "cafe").await, ["Our café"]);
    assert_eq!(titles(&store, &t, "CAFÉ").await, ["Our café"]);
    assert!(titles(&store, &t, "warranty").await.is_empty());
}

#[tokio::test]
async fn all_terms_rank_first_and_title_outweighs_body() {
    let store = store().await;
    let t = tenant("acme");
    let filler = "general text about the store and its many services for customers";
    for i in 0..40 {
        store
            .upsert_article(KbArticle::new(t.clone(), format!("Article {i}"), filler))
            .await
            .unwrap();
    }
    store
        .upsert_article(KbArticle::new(
            t.clone(),
            "Passwords",
            format!("{filler} reset your account here"),
        ))
        .await
        .unwrap();
    store
        .upsert_article(KbArticle::new(
            t.clone(),
            "Account basics",
            format!("{filler} profile"),
        ))
        .await
        .unwrap();
    store
        .upsert_article(KbArticle::new(
            t.clone(),
            "Reset the password of an account",
            filler,
        ))
        .await
        .unwrap();
    let hits = store
        .search_articles(&t, "how do I reset my account password", 10)
        .await
        .unwrap();
    assert_eq!(hits[0].article.title, "Reset the password of an account");
    assert!(
        hits.windows(2).all(|w| w[0].score >= w[1].score),
        "not best first"
    );
    assert!(
        hits.iter().all(|h| h.score > 0.0),
        "scores are higher-is-better and positive"
    );

    // The same word in a title beats it in a body.
    store
        .upsert_article(KbArticle::new(
            t.clone(),
            "Invoices",
            format!("{filler} billing"),
        ))
        .await
        .unwrap();
    store
        .upsert_article(KbArticle::new(
            t.clone(),
            "Billing",
            format!("{filler} invoices"),
        ))
        .await
        .unwrap();
    assert_eq!(titles(&store, &t, "billing").await[0], "Billing");
    // Tags are searched too.
    store
        .upsert_article(
            KbArticle::new(t.clone(), "Delivery times", filler).tags(vec!["logistics".into()]),
        )
        .await
        .unwrap();
    assert_eq!(titles(&store, &t, "logistics").await, ["Delivery times"]);
}

#[tokio::test]
async fn faq_question_outweighs_answer_and_status_filters() {
    let store = store().await;
    let t = tenant("acme");
    let in_question = LearnedFaqEntry::new(
        t.clone(),
        "How do refunds work?",
        "Ask support.",
        FaqStatus::Approved,
    );
    let in_answer = LearnedFaqEntry::new(
        t.clone(),
        "Can I return shoes?",
        "Yes, refunds are paid in 5 days.",
        FaqStatus::Approved,
    );
    let candidate = LearnedFaqEntry::new(
        t.clone(),
        "Refund for a gift?",
        "Not yet reviewed.",
        FaqStatus::Candidate,
    );
    for entry in [&in_question, &in_answer, &candidate] {
        store.upsert_faq(entry.clone()).await.unwrap();
    }
    let hits = store
        .search_faq(&t, "refund", Some(FaqStatus::Approved), 10)
        .await
        .unwrap();
    let ids: Vec<_> = hits.iter().map(|h| h.entry.id).collect();
    assert_eq!(ids, [in_question.id, in_answer.id]);
    assert_eq!(
        store
            .search_faq(&t, "refund", None, 10)
            .await
            .unwrap()
            .len(),
        3
    );
}

#[tokio::test]
async fn fts_index_follows_updates_and_deletes() {
    // A database in a directory of the test's own, so it outlives the store for the check.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chat.db");
    let store = SqliteStore::open(SqliteConfig::new(&path)).await.unwrap();
    let t = tenant("acme");
    let mut article = KbArticle::new(t.clone(), "Refund policy", "Money back within 30 days.");
    store.upsert_article(article.clone()).await.unwrap();
    assert_eq!(titles(&store, &t, "refund").await.len(), 1);
    article.title = "Shipping policy".into();
    article.body = "Parcels leave daily.".into();
    store.upsert_article(article.clone()).await.unwrap();
    assert!(
        titles(&store, &t, "refund").await.is_empty(),
        "the old text is still indexed"
    );
    assert_eq!(titles(&store, &t, "parcel").await, ["Shipping policy"]);
    store.delete_article(&t, article.id).await.unwrap();
    assert!(
        titles(&store, &t, "parcel").await.is_empty(),
        "a deleted article is still indexed"
    );

    let mut entry = LearnedFaqEntry::new(
        t.clone(),
        "Where is my parcel?",
        "Track it online.",
        FaqStatus::Approved,
    );
    store.upsert_faq(entry.clone()).await.unwrap();
    entry.question = "How do I pay?".into();
    store.upsert_faq(entry.clone()).await.unwrap();
    assert!(
        store
            .search_faq(&t, "parcel", None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.search_faq(&t, "pay", None, 10).await.unwrap().len(),
        1
    );
    store
        .record_faq_feedback(&t, entry.id, chat_core::store::FaqFeedback::Positive)
        .await
        .unwrap();
    assert_eq!(
        store.search_faq(&t, "pay", None, 10).await.unwrap().len(),
        1
    );
    store.delete_faq(&t, entry.id).await.unwrap();
    assert!(
        store
            .search_faq(&t, "pay", None, 10)
            .await
            .unwrap()
            .is_empty()
    );

    let session = store
        .create_session(NewSession::new(
            t.clone(),
            SessionKind::Support,
            UserId::new("carla").unwrap(),
        ))
        .await
        .unwrap();
    let doc = store
        .insert_document(NewDocument::new(
            t.clone(),
            session.id,
            "a.txt",
            "text/plain",
            10,
            "ab".repeat(32),
        ))
        .await
        .unwrap()
        .value;
    store
        .update_document(
            &t,
            doc.id,
            DocumentPatch::default().status(DocumentStatus::Ready),
        )
        .await
        .unwrap();
    let chunk = |text: &str, ordinal| {
        DocumentChunk::new(t.clone(), session.id, doc.id, ordinal, text, None)
    };
    store
        .replace_chunks(
            &t,
            doc.id,
            vec![chunk("warranty terms", 0), chunk("battery life", 1)],
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .search_chunks(&t, session.id, "warranty", 10)
            .await
            .unwrap()
            .len(),
        1
    );
    store
        .replace_chunks(&t, doc.id, vec![chunk("screen size", 0)])
        .await
        .unwrap();
    assert!(
        store
            .search_chunks(&t, session.id, "warranty", 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .search_chunks(&t, session.id, "screen", 10)
            .await
            .unwrap()
            .len(),
        1
    );
    store.delete_document(&t, doc.id).await.unwrap();
    assert!(
        store
            .search_chunks(&t, session.id, "screen", 10)
            .await
            .unwrap()
            .is_empty()
    );

    // Chunks removed with their session (cascade) leave the index too.
    let doc = store
        .insert_document(NewDocument::new(
            t.clone(),
            session.id,
            "b.txt",
            "text/plain",
            10,
            "cd".repeat(32),
        ))
        .await
        .unwrap()
        .value;
    store
        .replace_chunks(
            &t,
            doc.id,
            vec![DocumentChunk::new(
                t.clone(),
                session.id,
                doc.id,
                0,
                "orphan",
                None,
            )],
        )
        .await
        .unwrap();
    store.delete_session(&t, session.id).await.unwrap();

    store.close().await.unwrap();
    assert_fts_in_sync(&path);
}

#[tokio::test]
async fn fts_syntax_in_user_text_never_errors() {
    let store = store().await;
    let t = tenant("acme");
    store
        .upsert_article(KbArticle::new(
            t.clone(),
            "Refund policy",
            "Money back near the end.",
        ))
        .await
        .unwrap();
    store
        .upsert_faq(LearnedFaqEntry::new(
            t.clone(),
            "Refund?",
            "Yes.",
            FaqStatus::Approved,
        ))
        .await
        .unwrap();
    let session = store
        .create_session(NewSession::new(
            t.clone(),
            SessionKind::Support,
            UserId::new("carla").unwrap(),
        ))
        .await
        .unwrap();
    let queries = [
        "\"",
        "\"refund",
        "refund\"\"",
        "AND",
        "refund AND",
        "OR OR",
        "NOT refund",
        "NEAR(refund money)",
        "NEAR",
        "*",
        "refund*",
        "(",
        ")",
        "(refund",
        "-refund",
        "^refund",
        "title:refund",
        "body:",
        ":",
        "{title body}: refund",
        "refund + money",
        "'",
        "'; DROP TABLE kb_articles; --",
        "\u{0}",
        "x²",
        "🙂",
        "\\",
        "%_",
        "",
    ];
    for query in queries {
        let hits = store
            .search_articles(&t, query, 10)
            .await
            .unwrap_or_else(|e| panic!("{query:?}: {e}"));
        if query.to_lowercase().contains("refund") {
            assert_eq!(
                hits.len(),
                1,
                "{query:?} should still find the article by its words"
            );
        }
        store
            .search_faq(&t, query, None, 10)
            .await
            .unwrap_or_else(|e| panic!("{query:?}: {e}"));
        store
            .search_chunks(&t, session.id, query, 10)
            .await
            .unwrap_or_else(|e| panic!("{query:?}: {e}"));
    }
    assert!(
        store
            .search_articles(&t, "*()\"-^:", 10)
            .await
            .unwrap()
            .is_empty(),
        "no words, no results"
    );
    let long = "refund ".repeat(5000);
    assert_eq!(store.search_articles(&t, &long, 10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn search_is_scoped_by_tenant_session_and_document_status() {
    let store = store().await;
    let (a, b) = (tenant("a"), tenant("b"));
    store
        .upsert_article(KbArticle::new(a.clone(), "Refunds", "A's article"))
        .await
        .unwrap();
    assert!(titles(&store, &b, "refund").await.is_empty());

    let customer = UserId::new("carla").unwrap();
    let s1 = store
        .create_session(NewSession::new(
            a.clone(),
            SessionKind::Support,
            customer.clone(),
        ))
        .await
        .unwrap();
    let s2 = store
        .create_session(NewSession::new(a.clone(), SessionKind::Support, customer))
        .await
        .unwrap();
    let doc = store
        .insert_document(NewDocument::new(
            a.clone(),
            s1.id,
            "a.txt",
            "text/plain",
            10,
            "ef".repeat(32),
        ))
        .await
        .unwrap()
        .value;
    store
        .replace_chunks(
            &a,
            doc.id,
            vec![DocumentChunk::new(
                a.clone(),
                s1.id,
                doc.id,
                0,
                "warranty",
                None,
            )],
        )
        .await
        .unwrap();
    assert!(
        store
            .search_chunks(&a, s1.id, "warranty", 10)
            .await
            .unwrap()
            .is_empty(),
        "pending documents are not searched"
    );
    store
        .update_document(
            &a,
            doc.id,
            DocumentPatch::default().status(DocumentStatus::Ready),
        )
        .await
        .unwrap();
    let hits = store
        .search_chunks(&a, s1.id, "warranty", 10)
        .await
        .unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].filename, "a.txt");
    assert!(
        store
            .search_chunks(&a, s2.id, "warranty", 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .search_chunks(&b, s1.id, "warranty", 10)
            .await
            .unwrap()
            .is_empty()
    );
}
