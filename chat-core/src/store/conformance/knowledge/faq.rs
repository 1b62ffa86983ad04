//! Learned FAQ and learning-pattern cases.

use super::*;

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
