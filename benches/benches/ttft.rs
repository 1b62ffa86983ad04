//! The engine's own overhead on AI time to first token: from the moment `post_message` accepted
//! a customer message to the moment the first `ai_delta` of the answer reaches a subscriber, with
//! an instantly answering mock provider, over 10,000 answers. The path measured: the answer task
//! starts, reads the session and recent messages, asks the KB/FAQ/document sources (full-text
//! search over 300 seeded articles), builds the prompt, calls the provider, publishes the delta.
//!
//! Baseline in the same run: the delivery of the customer's own `message_created` event
//! (post accepted -> event received), i.e. the bus and wake-up cost every event pays.
//!
//! Two knowledge bases: `synthetic` (300 generated articles over a shared vocabulary, so that
//! every question matches most of them: the search's worst case) and `help-center` (the
//! support-portal's seeded 38 articles and 24 approved FAQ entries, asked the realistic
//! questions below).
//!
//! Run: `cargo bench -p chat-benches --bench ttft` (ANSWERS=n overrides).

// A benchmark harness aborts on a failed setup step; that is its error handling.
#![allow(clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use chat_benches::corpus;
use chat_benches::setup::{self, Backend};
use chat_core::bus::EventKind;
use chat_core::engine::{CreateSession, PostMessage, SubscriptionItem};
use chat_core::model::{FaqStatus, KbArticle, LearnedFaqEntry, SessionKind};
use chat_core::testing::{MockProvider, MockReply};
use chat_core::{ChatEngine, Role};
use futures::StreamExt;
use hdrhistogram::Histogram;
use support_portal::seed::KnowledgeSeed;

const SESSIONS: usize = 100;

fn main() {
    let smoke = !std::env::args().any(|a| a == "--bench");
    let answers: usize = std::env::var("ANSWERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if smoke { 200 } else { 10_000 });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "| knowledge base | store | answers | post -> first ai_delta p50 | p99 | post -> message_created p50 (baseline) | p99 | p99 ratio |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for kb in [Knowledge::Synthetic, Knowledge::HelpCenter] {
        for backend in [Backend::Memory, Backend::Sqlite] {
            runtime.block_on(run(kb, backend, answers));
        }
    }
}

/// The knowledge base the answers draw on.
#[derive(Debug, Clone, Copy)]
enum Knowledge {
    Synthetic,
    HelpCenter,
}

/// Customer questions about the help center's product (none copied from its FAQ).
const HELP_CENTER_QUESTIONS: &[&str] = &[
    "how do I get my money back for the yearly subscription",
    "where do I find last month's invoice",
    "our VAT number is missing on the invoice",
    "can we pay by bank transfer in euros",
    "how do I move from Team to Business",
    "SSO login fails with a SAML error",
    "set up Okta provisioning for our users",
    "I lost access to my authenticator app",
    "our API token stopped working",
    "we get 429 errors from the API",
    "slack notifications do not show up in our channel",
    "import our board from Trello",
    "download all our projects as CSV",
    "what happens to our data after we cancel",
    "how big can an uploaded file be",
    "the app is very slow today",
    "does the mobile app work offline",
    "how do I invite a client as a guest",
    "do guests need a paid seat",
    "sync tasks to my Outlook calendar",
    "how do I reset my password",
    "delete our workspace permanently",
    "set up a recurring task every Monday",
    "track time on tasks and export timesheets",
];

async fn seed(engine: &ChatEngine, kb: Knowledge) -> Vec<String> {
    let admin = setup::principal("admin", Role::Admin);
    match kb {
        Knowledge::Synthetic => {
            for a in corpus::articles(300, 11) {
                engine
                    .upsert_article(
                        &admin,
                        KbArticle::new(admin.tenant_id.clone(), a.title, a.body),
                    )
                    .await
                    .expect("article");
            }
            corpus::queries(64, 3)
        }
        Knowledge::HelpCenter => {
            let seed = KnowledgeSeed::tasklane().expect("the portal's seed parses");
            for a in seed.articles {
                engine
                    .upsert_article(
                        &admin,
                        KbArticle::new(admin.tenant_id.clone(), a.title, a.body).tags(a.tags),
                    )
                    .await
                    .expect("article");
            }
            for f in seed.faq {
                let entry = LearnedFaqEntry::new(
                    admin.tenant_id.clone(),
                    f.question,
                    f.answer,
                    FaqStatus::Approved,
                );
                engine.upsert_faq(&admin, entry).await.expect("faq");
            }
            HELP_CENTER_QUESTIONS
                .iter()
                .map(|q| q.to_string())
                .collect()
        }
    }
}

async fn run(kb: Knowledge, backend: Backend, answers: usize) {
    let (store, _dir) = backend.open().await;
    let provider = MockProvider::new("mock").repeat(MockReply::answer([
        "Refunds take five days [1].",
        " Anything else?",
    ]));
    let engine = ChatEngine::builder()
        .store(store)
        .provider(Arc::new(provider))
        .build()
        .expect("engine");
    let questions = seed(&engine, kb).await;

    let mut sessions = Vec::new();
    for i in 0..SESSIONS {
        let customer = setup::principal(&format!("customer-{i}"), Role::Customer);
        let session = engine
            .create_session(&customer, CreateSession::new(SessionKind::Support))
            .await
            .expect("session");
        let mut sub = engine
            .subscribe(&customer, session.id, 0)
            .await
            .expect("subscribe");
        while !matches!(
            sub.next().await,
            Some(Ok(SubscriptionItem::CaughtUp { .. }))
        ) {}
        sessions.push((customer, session.id, sub));
    }

    let mut first_delta = Histogram::<u64>::new(3).expect("histogram");
    let mut delivered = Histogram::<u64>::new(3).expect("histogram");
    for i in 0..answers {
        let (customer, session, sub) = &mut sessions[i % SESSIONS];
        let question = &questions[i % questions.len()];
        engine
            .post_message(customer, *session, PostMessage::new(question.as_str()))
            .await
            .expect("posted");
        let accepted = Instant::now();
        let mut saw_created = false;
        let mut saw_delta = false;
        loop {
            let item = tokio::time::timeout(Duration::from_secs(5), sub.next())
                .await
                .expect("event in time");
            let Some(Ok(SubscriptionItem::Event(event))) = item else {
                eprintln!("the subscription ended: {item:?}");
                std::process::exit(1);
            };
            match &event.kind {
                EventKind::MessageCreated { .. } if !saw_created => {
                    saw_created = true;
                    delivered
                        .record(accepted.elapsed().as_nanos() as u64)
                        .expect("record");
                }
                EventKind::AiDelta { .. } if !saw_delta => {
                    saw_delta = true;
                    first_delta
                        .record(accepted.elapsed().as_nanos() as u64)
                        .expect("record");
                }
                EventKind::AiCompleted { .. } => break,
                _ => {}
            }
        }
    }
    let us = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "| {} | {} | {} | {:.0} µs | {:.0} µs | {:.0} µs | {:.0} µs | {:.1}x |",
        match kb {
            Knowledge::Synthetic => "synthetic (300 articles)",
            Knowledge::HelpCenter => "help-center (38 articles, 24 FAQs)",
        },
        backend.name(),
        answers,
        us(&first_delta, 0.5),
        us(&first_delta, 0.99),
        us(&delivered, 0.5),
        us(&delivered, 0.99),
        us(&first_delta, 0.99) / us(&delivered, 0.99).max(0.001),
    );
}
