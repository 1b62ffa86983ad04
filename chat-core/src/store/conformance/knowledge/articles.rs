//! Knowledge-base article cases.

use super::*;

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
