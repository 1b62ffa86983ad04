//! Conformance cases of [`KnowledgeStore`](crate::store::KnowledgeStore): KB articles, FAQ
//! entries, feedback and learning patterns, with full-text ranking on generated corpora.

use std::collections::HashSet;
use std::sync::Arc;

use super::corpus::{Corpus, QUERY_WORDS};
use super::{assert_not_found, at, tenant};
use crate::ids::{ArticleId, FaqId, PatternId, SessionId, TenantId};
use crate::model::{FaqStatus, KbArticle, LearnedFaqEntry};
use crate::store::{ChatStore, FaqFeedback, MAX_SEARCH_RESULTS};

/// Queries full of FTS syntax: each must be accepted as plain words.
pub const SYNTAX_QUERIES: &[&str] = &[
    "\"refund",
    "refund\"",
    "\"refund policy\"",
    "refund AND",
    "refund OR",
    "OR refund",
    "NOT refund",
    "refund NOT",
    "NEAR(refund policy)",
    "NEAR(refund, 2)",
    "refund*",
    "*refund",
    "(refund",
    "refund)",
    "-refund",
    "refund -",
    "^refund",
    "title:refund",
    "body:refund",
    "{title body}: refund",
    "refund + policy",
    "'refund'",
    "refund;--",
    "refund\\",
    "refund%_",
    "refund\u{0}",
    "refund AND café OR (invoice NOT x*)",
];

/// Queries with no word at all: each returns nothing.
pub const EMPTY_QUERIES: &[&str] = &[
    "",
    "   ",
    "\"\"",
    "*",
    "()",
    "-^:",
    "\"*():-^+{}[]'",
    "\u{0}\u{1}",
];

fn article(t: &TenantId, title: &str, body: &str) -> KbArticle {
    let mut article = KbArticle::new(t.clone(), title, body);
    article.created_at = at(0);
    article.updated_at = at(0);
    article
}

fn faq(t: &TenantId, question: &str, answer: &str, status: FaqStatus) -> LearnedFaqEntry {
    let mut entry = LearnedFaqEntry::new(t.clone(), question, answer, status);
    entry.created_at = at(0);
    entry.updated_at = at(0);
    entry
}

async fn article_ids(
    store: &dyn ChatStore,
    t: &TenantId,
    query: &str,
    limit: u32,
) -> Vec<ArticleId> {
    let hits = store.search_articles(t, query, limit).await.unwrap();
    assert!(
        hits.windows(2).all(|w| w[0].score >= w[1].score),
        "results of {query:?} are not best first"
    );
    hits.iter().map(|h| h.article.id).collect()
}

/// Upsert keeps the first `created_at` and replaces the rest; get, list by id with paging and
/// delete; missing ids are `NotFound`; another tenant sees and touches nothing.
pub async fn articles_crud(store: Arc<dyn ChatStore>) {
    let t = tenant("t-kb-crud");
    let first = article(&t, "Refund policy", "Refunds take five days.")
        .tags(vec!["billing".into(), "refunds".into()])
        .url("https://help.example/refunds");
    assert_eq!(store.upsert_article(first.clone()).await.unwrap(), first);
    assert_eq!(store.get_article(&t, first.id).await.unwrap(), first);

    let mut changed = article(&t, "Refund policy (2024)", "Refunds take three days.");
    changed.id = first.id;
    changed.created_at = at(100);
    changed.updated_at = at(200);
    let stored = store.upsert_article(changed.clone()).await.unwrap();
    assert_eq!(
        stored.created_at,
        at(0),
        "upsert keeps the first created_at"
    );
    assert_eq!(stored.updated_at, at(200));
    assert_eq!(stored.title, "Refund policy (2024)");
    assert_eq!(stored.body, "Refunds take three days.");
    assert!(stored.tags.is_empty());
    assert_eq!(stored.url, None);
    assert_eq!(store.get_article(&t, first.id).await.unwrap(), stored);

    let mut ids = vec![first.id];
    for i in 0..4 {
        ids.push(
            store
                .upsert_article(article(&t, &format!("Article {i}"), "text"))
                .await
                .unwrap()
                .id,
        );
    }
    ids.sort();
    let list = |after: Option<ArticleId>, limit: u32| {
        let store = Arc::clone(&store);
        let t = t.clone();
        async move {
            store
                .list_articles(&t, after, limit)
                .await
                .unwrap()
                .iter()
                .map(|a| a.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(list(None, 100).await, ids);
    assert_eq!(list(None, 2).await, ids[..2]);
    assert_eq!(list(Some(ids[1]), 2).await, ids[2..4]);
    assert_eq!(list(Some(ids[3]), 2).await, ids[4..]);
    assert_eq!(list(Some(ids[4]), 2).await, Vec::<ArticleId>::new());

    store.delete_article(&t, ids[2]).await.unwrap();
    assert_not_found(store.get_article(&t, ids[2]).await, "deleted article");
    assert_not_found(
        store.delete_article(&t, ids[2]).await,
        "deleting an article twice",
    );
    assert_not_found(
        store.get_article(&t, ArticleId::new()).await,
        "missing article",
    );
    assert_eq!(list(None, 100).await, [ids[0], ids[1], ids[3], ids[4]]);

    let other = tenant("t-kb-crud-other");
    assert_not_found(
        store.get_article(&other, first.id).await,
        "another tenant's article",
    );
    assert_not_found(
        store.delete_article(&other, first.id).await,
        "deleting another tenant's article",
    );
    assert!(
        store
            .list_articles(&other, None, 100)
            .await
            .unwrap()
            .is_empty()
    );
    let mut intruder = article(&other, "Intruder", "overwrites nothing");
    intruder.id = first.id;
    let _ = store.upsert_article(intruder).await;
    assert_eq!(store.get_article(&t, first.id).await.unwrap(), stored);
}

/// Over a few hundred generated articles, the one holding every query word ranks first, then
/// those holding two, then those holding one; other articles never match; limits hold; the index
/// follows upserts and deletes; another tenant's articles never show.
pub async fn search_articles_ranking(store: Arc<dyn ChatStore>) {
    let t = tenant("t-kb-rank");
    let [a, b, c] = QUERY_WORDS;
    let mut corpus = Corpus::new(11, 400);
    let mut make = |planted: &[&str]| {
        let title = format!("article {}", corpus.text(3, &[]));
        article(&t, &title, &corpus.text(50, planted))
    };
    let mut all = Vec::new();
    let mut two = HashSet::new();
    let mut one = HashSet::new();
    let mut none = Vec::new();
    for i in 0..250 {
        let doc = make(&[]);
        none.push(doc.id);
        all.push(doc);
        if i == 120 {
            let target = make(&QUERY_WORDS);
            all.push(target);
        }
        if i % 12 == 0 {
            let pair: [&str; 2] = [[a, b], [b, c], [a, c]][(i / 12) % 3];
            let doc = make(&pair);
            two.insert(doc.id);
            all.push(doc);
        }
        if i % 25 == 3 || i % 25 == 11 || i % 25 == 19 {
            let word = [a, b, c][i % 3];
            let doc = make(&[word]);
            one.insert(doc.id);
            all.push(doc);
        }
    }
    let target = all
        .iter()
        .find(|d| {
            QUERY_WORDS
                .iter()
                .all(|w| d.body.split(' ').any(|x| x == *w))
        })
        .unwrap()
        .id;
    assert_eq!((two.len(), one.len()), (21, 30));
    for doc in &all {
        store.upsert_article(doc.clone()).await.unwrap();
    }
    let other = tenant("t-kb-rank-other");
    let foreign = article(
        &other,
        "refund invoice warehouse",
        "refund invoice warehouse refund invoice warehouse",
    );
    store.upsert_article(foreign.clone()).await.unwrap();

    let ranked = article_ids(&*store, &t, "refund invoice warehouse", 100).await;
    assert_eq!(
        ranked.len(),
        52,
        "every article with a query word matches, and no other"
    );
    assert_eq!(
        ranked[0], target,
        "the article holding every query word ranks first"
    );
    assert_eq!(
        ranked[1..22].iter().copied().collect::<HashSet<_>>(),
        two,
        "two-word articles rank next"
    );
    assert_eq!(
        ranked[22..].iter().copied().collect::<HashSet<_>>(),
        one,
        "one-word articles rank last"
    );
    let hits = store
        .search_articles(&t, "refund invoice warehouse", 3)
        .await
        .unwrap();
    assert!(
        hits[0].score > hits[1].score,
        "the best hit scores strictly higher"
    );
    assert!(hits.iter().all(|h| h.article.tenant_id == t));

    assert_eq!(
        article_ids(&*store, &t, "WAREHOUSE Invoice refund", 1).await,
        [target]
    );
    let five = article_ids(&*store, &t, "refund invoice warehouse", 5).await;
    assert_eq!(five.len(), 5);
    assert_eq!(five[0], target);
    assert!(five[1..].iter().all(|id| two.contains(id)));
    assert_eq!(
        article_ids(&*store, &t, "article", 1000).await.len(),
        MAX_SEARCH_RESULTS as usize
    );
    assert_eq!(
        article_ids(&*store, &t, "zzzunknownword", 10).await,
        Vec::<ArticleId>::new()
    );
    assert_eq!(
        article_ids(&*store, &other, "refund", 10).await,
        [foreign.id]
    );

    // The index follows changes: a deleted article disappears, an edited one is found by its new text.
    store.delete_article(&t, target).await.unwrap();
    let after_delete = article_ids(&*store, &t, "refund invoice warehouse", 100).await;
    assert_eq!(after_delete.len(), 51);
    assert!(two.contains(&after_delete[0]));
    let mut edited = all.iter().find(|d| d.id == none[0]).unwrap().clone();
    edited.body = format!("{} refund invoice warehouse", edited.body);
    store.upsert_article(edited.clone()).await.unwrap();
    assert_eq!(
        article_ids(&*store, &t, "refund invoice warehouse", 1).await,
        [edited.id]
    );
    edited.body = "nothing to see".into();
    store.upsert_article(edited.clone()).await.unwrap();
    assert!(
        !article_ids(&*store, &t, "refund invoice warehouse", 100)
            .await
            .contains(&edited.id)
    );
}

/// What makes BM25 better than counting words: repeating one query word does not beat holding
/// every query word (saturation), a word found in every article counts for little (IDF), and a
/// short text ranks above a long one with the same match (length normalization).
pub async fn search_articles_bm25_signals(store: Arc<dyn ChatStore>) {
    let t = tenant("t-kb-bm25");
    let mut corpus = Corpus::new(31, 200);
    let mut make = |body_len: usize, planted: &[&str]| {
        article(
            &t,
            &format!("article {}", corpus.text(3, &[])),
            &corpus.text(body_len, planted),
        )
    };
    for _ in 0..60 {
        store.upsert_article(make(30, &[])).await.unwrap();
    }
    // Created and stored so that id or insertion order would favour the wrong answer on a tie.
    let spam = make(30, &["refund"; 10]);
    let common = make(30, &["article"; 5]);
    let long = make(120, &["parcel"]);
    let short = make(5, &["parcel"]);
    let all_words = make(30, &QUERY_WORDS);
    let rare = article(&t, "voucher terms", &corpus.text(30, &[]));
    for a in [&spam, &common, &long, &short, &all_words, &rare] {
        store.upsert_article(a.clone()).await.unwrap();
    }
    let top = |query: &'static str| {
        let store = Arc::clone(&store);
        let t = t.clone();
        async move {
            store
                .search_articles(&t, query, 2)
                .await
                .unwrap()
                .iter()
                .map(|h| h.article.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        top("refund invoice warehouse").await,
        [all_words.id, spam.id],
        "saturation"
    );
    assert_eq!(
        top("article voucher").await[0],
        rare.id,
        "inverse document frequency"
    );
    assert_eq!(
        top("parcel").await,
        [short.id, long.id],
        "length normalization"
    );
}

/// Stemming ("refund" finds "Refunds") and diacritics folding ("cafe" finds "café"), in
/// title, body and tags, without prefix matching.
pub async fn search_articles_stemming_and_diacritics(store: Arc<dyn ChatStore>) {
    let t = tenant("t-kb-stem");
    let refunds = article(
        &t,
        "Refunds and returns",
        "We refunded your order within days.",
    );
    let cafe = article(&t, "Café opening hours", "Our café opens at nine.");
    let shipping = article(&t, "Shipping abroad", "We ship parcels to many countries.");
    let cafeteria = article(&t, "Cafeteria menu", "Lunch is served daily.");
    let naive = article(&t, "Naïve questions", "Answers about the crème brûlée.")
        .tags(vec!["Desserts".into()]);
    for a in [&refunds, &cafe, &shipping, &cafeteria, &naive] {
        store.upsert_article(a.clone()).await.unwrap();
    }
    let cases: &[(&str, &ArticleId)] = &[
        ("refund", &refunds.id),
        ("REFUNDING", &refunds.id),
        ("returned", &refunds.id),
        ("cafe", &cafe.id),
        ("café", &cafe.id),
        ("CAFÉ", &cafe.id),
        ("shipped", &shipping.id),
        ("ships", &shipping.id),
        ("naive", &naive.id),
        ("creme brulee", &naive.id),
        ("dessert", &naive.id),
        ("cafeteria", &cafeteria.id),
    ];
    for (query, expected) in cases {
        let hits = store.search_articles(&t, query, 10).await.unwrap();
        let ids: Vec<ArticleId> = hits.iter().map(|h| h.article.id).collect();
        assert_eq!(ids, [**expected], "query {query:?}");
    }
}

/// Queries full of FTS syntax are plain words (no error); queries without words find nothing.
pub async fn search_articles_query_syntax(store: Arc<dyn ChatStore>) {
    let t = tenant("t-kb-syntax");
    let refund = article(&t, "Refund policy", "How a refund works.");
    let cafe = article(&t, "Café", "Opening hours.");
    store.upsert_article(refund.clone()).await.unwrap();
    store.upsert_article(cafe.clone()).await.unwrap();
    let mut corpus = Corpus::new(5, 100);
    for _ in 0..20 {
        store
            .upsert_article(article(&t, &corpus.text(3, &[]), &corpus.text(30, &[])))
            .await
            .unwrap();
    }
    for query in SYNTAX_QUERIES {
        let hits = store
            .search_articles(&t, query, 10)
            .await
            .unwrap_or_else(|err| panic!("query {query:?} failed: {err}"));
        let ids: Vec<ArticleId> = hits.iter().map(|h| h.article.id).collect();
        if query.contains("café") {
            assert!(
                ids.contains(&refund.id) && ids.contains(&cafe.id),
                "query {query:?} gave {ids:?}"
            );
        } else {
            assert_eq!(ids.first(), Some(&refund.id), "query {query:?}");
        }
    }
    for query in EMPTY_QUERIES {
        let hits = store.search_articles(&t, query, 10).await.unwrap();
        assert!(
            hits.is_empty(),
            "query {query:?} without words found {} articles",
            hits.len()
        );
    }
    let long = "refund ".repeat(5000);
    assert_eq!(
        article_ids(&*store, &t, &long, 10).await.first(),
        Some(&refund.id)
    );
}

/// FAQ entries round-trip with every field; upsert replaces; missing ids are `NotFound`;
/// another tenant sees and touches nothing.
pub async fn faq_crud(store: Arc<dyn ChatStore>) {
    let t = tenant("t-faq-crud");
    let mut entry = faq(
        &t,
        "How do I get a refund?",
        "Open Billing > Refunds.",
        FaqStatus::Candidate,
    );
    entry.confidence = 0.625;
    entry.use_count = 3;
    entry.positive_feedback = 2;
    entry.negative_feedback = 1;
    entry.source_session = Some(SessionId::new());
    assert_eq!(store.upsert_faq(entry.clone()).await.unwrap(), entry);
    assert_eq!(store.get_faq(&t, entry.id).await.unwrap(), entry);

    let mut approved = entry.clone();
    approved.status = FaqStatus::Approved;
    approved.answer = "Billing > Refunds > New request.".into();
    approved.updated_at = at(60);
    assert_eq!(store.upsert_faq(approved.clone()).await.unwrap(), approved);
    assert_eq!(store.get_faq(&t, entry.id).await.unwrap(), approved);

    let other = tenant("t-faq-crud-other");
    assert_not_found(
        store.get_faq(&other, entry.id).await,
        "another tenant's FAQ entry",
    );
    assert_not_found(
        store.delete_faq(&other, entry.id).await,
        "deleting another tenant's FAQ entry",
    );
    let mut intruder = faq(&other, "x", "y", FaqStatus::Rejected);
    intruder.id = entry.id;
    let _ = store.upsert_faq(intruder).await;
    assert_eq!(store.get_faq(&t, entry.id).await.unwrap(), approved);

    store.delete_faq(&t, entry.id).await.unwrap();
    assert_not_found(store.get_faq(&t, entry.id).await, "deleted FAQ entry");
    assert_not_found(
        store.delete_faq(&t, entry.id).await,
        "deleting a FAQ entry twice",
    );
    assert_not_found(store.get_faq(&t, FaqId::new()).await, "missing FAQ entry");
    assert!(
        store
            .search_faq(&t, "refund", None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// FAQ search ranks the entry holding every query word first, filters by status, stems, folds
/// diacritics, accepts FTS syntax and keeps tenants apart.
pub async fn search_faq_ranking(store: Arc<dyn ChatStore>) {
    let t = tenant("t-faq-rank");
    let mut corpus = Corpus::new(23, 300);
    let statuses = [
        FaqStatus::Approved,
        FaqStatus::Candidate,
        FaqStatus::Rejected,
    ];
    let mut approved_hits = HashSet::new();
    for i in 0..200 {
        let planted: Vec<&str> = if i % 10 == 0 {
            vec![QUERY_WORDS[i % 3]]
        } else {
            Vec::new()
        };
        let entry = faq(
            &t,
            &corpus.text(8, &[]),
            &corpus.text(30, &planted),
            statuses[i % 3],
        );
        if !planted.is_empty() && entry.status == FaqStatus::Approved {
            approved_hits.insert(entry.id);
        }
        store.upsert_faq(entry).await.unwrap();
    }
    let target = faq(
        &t,
        &corpus.text(8, &["Refunds"]),
        &corpus.text(30, &["invoices", "warehouses"]),
        FaqStatus::Approved,
    );
    let candidate = faq(
        &t,
        &corpus.text(8, &[]),
        &corpus.text(30, &QUERY_WORDS),
        FaqStatus::Candidate,
    );
    let cafe = faq(&t, "Is the café open?", "Until nine.", FaqStatus::Approved);
    for entry in [&target, &candidate, &cafe] {
        store.upsert_faq((*entry).clone()).await.unwrap();
    }
    store
        .upsert_faq(faq(
            &tenant("t-faq-rank-other"),
            "refund invoice warehouse",
            "refund",
            FaqStatus::Approved,
        ))
        .await
        .unwrap();

    let search = |query: &'static str, status: Option<FaqStatus>| {
        let store = Arc::clone(&store);
        let t = t.clone();
        async move {
            let hits = store.search_faq(&t, query, status, 100).await.unwrap();
            assert!(
                hits.windows(2).all(|w| w[0].score >= w[1].score),
                "FAQ results are not best first"
            );
            assert!(hits.iter().all(|h| h.entry.tenant_id == t));
            hits
        }
    };
    let approved = search("refund invoice warehouse", Some(FaqStatus::Approved)).await;
    assert_eq!(approved[0].entry.id, target.id);
    assert!(
        approved
            .iter()
            .all(|h| h.entry.status == FaqStatus::Approved)
    );
    let rest: HashSet<FaqId> = approved[1..].iter().map(|h| h.entry.id).collect();
    assert_eq!(rest, approved_hits);
    let any = search("refund invoice warehouse", None).await;
    let top: HashSet<FaqId> = any[..2].iter().map(|h| h.entry.id).collect();
    assert_eq!(top, HashSet::from([target.id, candidate.id]));
    assert_eq!(any.len(), 2 + 20);
    let candidates = search("refund invoice warehouse", Some(FaqStatus::Candidate)).await;
    assert_eq!(candidates[0].entry.id, candidate.id);
    assert!(
        candidates
            .iter()
            .all(|h| h.entry.status == FaqStatus::Candidate)
    );
    assert!(
        search("refund invoice warehouse", Some(FaqStatus::Rejected))
            .await
            .iter()
            .all(|h| h.entry.status == FaqStatus::Rejected)
    );
    assert_eq!(
        search("cafe", None)
            .await
            .iter()
            .map(|h| h.entry.id)
            .collect::<Vec<_>>(),
        [cafe.id]
    );
    assert_eq!(
        store
            .search_faq(&t, "REFUNDS Invoices", Some(FaqStatus::Approved), 1)
            .await
            .unwrap()[0]
            .entry
            .id,
        target.id
    );
    for query in SYNTAX_QUERIES {
        store
            .search_faq(&t, query, None, 10)
            .await
            .unwrap_or_else(|err| panic!("query {query:?} failed: {err}"));
    }
    for query in EMPTY_QUERIES {
        assert!(
            store
                .search_faq(&t, query, None, 10)
                .await
                .unwrap()
                .is_empty(),
            "query {query:?}"
        );
    }
}

/// Feedback counts atomically (also under concurrency) and recomputes the confidence exactly
/// as [`LearnedFaqEntry::recompute_confidence`] does.
pub async fn faq_feedback(store: Arc<dyn ChatStore>) {
    let t = tenant("t-faq-feedback");
    let entry = faq(
        &t,
        "Where is my invoice?",
        "Billing > Invoices.",
        FaqStatus::Approved,
    );
    store.upsert_faq(entry.clone()).await.unwrap();
    let mut expected = entry.clone();
    for (feedback, bump) in [
        (FaqFeedback::Used, 0),
        (FaqFeedback::Positive, 1),
        (FaqFeedback::Positive, 1),
        (FaqFeedback::Negative, 2),
        (FaqFeedback::Used, 0),
    ] {
        match bump {
            0 => expected.use_count += 1,
            1 => expected.positive_feedback += 1,
            _ => expected.negative_feedback += 1,
        }
        expected.recompute_confidence();
        let got = store
            .record_faq_feedback(&t, entry.id, feedback)
            .await
            .unwrap();
        assert_eq!(
            (got.use_count, got.positive_feedback, got.negative_feedback),
            (
                expected.use_count,
                expected.positive_feedback,
                expected.negative_feedback
            )
        );
        assert!(
            (got.confidence - expected.confidence).abs() < 1e-6,
            "{} != {}",
            got.confidence,
            expected.confidence
        );
        assert!(got.updated_at >= entry.updated_at);
        assert_eq!(
            (got.question.as_str(), got.status),
            (entry.question.as_str(), FaqStatus::Approved)
        );
    }
    assert_eq!(store.get_faq(&t, entry.id).await.unwrap().use_count, 2);

    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (store, t) = (Arc::clone(&store), t.clone());
        tasks.push(tokio::spawn(async move {
            store
                .record_faq_feedback(&t, entry.id, FaqFeedback::Positive)
                .await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let after = store.get_faq(&t, entry.id).await.unwrap();
    assert_eq!(after.positive_feedback, 22, "concurrent feedback was lost");
    expected.positive_feedback = 22;
    expected.recompute_confidence();
    assert!((after.confidence - expected.confidence).abs() < 1e-6);

    assert_not_found(
        store
            .record_faq_feedback(&t, FaqId::new(), FaqFeedback::Used)
            .await,
        "missing FAQ entry",
    );
    assert_not_found(
        store
            .record_faq_feedback(
                &tenant("t-faq-feedback-other"),
                entry.id,
                FaqFeedback::Negative,
            )
            .await,
        "another tenant's FAQ entry",
    );
    assert_eq!(
        store.get_faq(&t, entry.id).await.unwrap().negative_feedback,
        1
    );
}

/// Patterns count occurrences per key and tenant, list most frequent first above a threshold,
/// and link to (and unlink from) FAQ entries.
pub async fn patterns(store: Arc<dyn ChatStore>) {
    let t = tenant("t-patterns");
    let first = store
        .record_pattern(&t, "refund status", "Where is my refund?")
        .await
        .unwrap();
    assert_eq!(first.occurrences, 1);
    assert_eq!(first.pattern_key, "refund status");
    assert_eq!(first.example, "Where is my refund?");
    assert_eq!(first.faq_id, None);
    assert_eq!(first.tenant_id, t);
    assert!(first.first_seen <= first.last_seen);
    let second = store
        .record_pattern(&t, "refund status", "refund still missing")
        .await
        .unwrap();
    assert_eq!(second.id, first.id);
    assert_eq!(second.occurrences, 2);
    assert_eq!(second.first_seen, first.first_seen);
    assert!(second.last_seen >= first.last_seen);
    assert!(["Where is my refund?", "refund still missing"].contains(&second.example.as_str()));
    assert_eq!(
        store
            .record_pattern(&t, "refund status", "again")
            .await
            .unwrap()
            .occurrences,
        3
    );
    store
        .record_pattern(&t, "reset password", "forgot my password")
        .await
        .unwrap();
    for _ in 0..2 {
        store
            .record_pattern(&t, "invoice copy", "send me the invoice")
            .await
            .unwrap();
    }
    let other = tenant("t-patterns-other");
    assert_eq!(
        store
            .record_pattern(&other, "refund status", "x")
            .await
            .unwrap()
            .occurrences,
        1
    );

    let keys = |min: u32, limit: u32| {
        let store = Arc::clone(&store);
        let t = t.clone();
        async move {
            store
                .list_patterns(&t, min, limit)
                .await
                .unwrap()
                .into_iter()
                .map(|p| (p.pattern_key, p.occurrences))
                .collect::<Vec<_>>()
        }
    };
    let pair = |k: &str, n: u32| (k.to_owned(), n);
    assert_eq!(
        keys(2, 10).await,
        [pair("refund status", 3), pair("invoice copy", 2)]
    );
    assert_eq!(
        keys(1, 10).await,
        [
            pair("refund status", 3),
            pair("invoice copy", 2),
            pair("reset password", 1)
        ]
    );
    assert_eq!(keys(1, 1).await, [pair("refund status", 3)]);
    assert_eq!(keys(4, 10).await, Vec::<(String, u32)>::new());

    let entry = faq(
        &t,
        "Where is my refund?",
        "Billing > Refunds.",
        FaqStatus::Candidate,
    );
    store.upsert_faq(entry.clone()).await.unwrap();
    let linked = store
        .link_pattern(&t, first.id, Some(entry.id))
        .await
        .unwrap();
    assert_eq!(linked.faq_id, Some(entry.id));
    assert_eq!(linked.occurrences, 3);
    assert_eq!(
        store.list_patterns(&t, 3, 10).await.unwrap()[0].faq_id,
        Some(entry.id)
    );
    assert_eq!(
        store.link_pattern(&t, first.id, None).await.unwrap().faq_id,
        None
    );
    assert_not_found(
        store.link_pattern(&t, PatternId::new(), None).await,
        "missing pattern",
    );
    assert_not_found(
        store.link_pattern(&other, first.id, None).await,
        "another tenant's pattern",
    );
    assert_eq!(store.list_patterns(&other, 1, 10).await.unwrap().len(), 1);
}
