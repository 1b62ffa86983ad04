//! The offline extractive answerer.

use chat_ai_providers::offline::{FOUND_INTRO, NOTHING_FOUND};
use chat_ai_providers::{OfflineAnswerer, OfflineConfig};
use chat_core::provider::conformance::run;
use chat_core::provider::{
    AiProvider, CompletionChunk, CompletionRequest, ContextPassage, FinishReason, PromptMessage,
};
use futures::StreamExt;

fn passages() -> Vec<ContextPassage> {
    vec![
        ContextPassage::new(
            1,
            "Returns",
            "Returns are free within 30 days of delivery. Items must be unworn and in their original box.",
            0.8,
        ),
        ContextPassage::new(
            2,
            "Shipping",
            "Standard shipping takes 3 to 5 business days. Express shipping arrives the next day.",
            0.7,
        ),
        ContextPassage::new(
            3,
            "Refunds",
            "Refunds are issued to the original payment method within 5 days of receiving the returned item.",
            0.6,
        ),
    ]
}

fn ask(question: &str) -> CompletionRequest {
    CompletionRequest::new(
        "sys",
        vec![
            PromptMessage::user("Hello"),
            PromptMessage::assistant("Hi!"),
            PromptMessage::user(question),
        ],
    )
    .passages(passages())
}

#[tokio::test]
async fn quotes_the_relevant_sentences_with_their_citations() {
    let out = run(
        &OfflineAnswerer::new(),
        ask("Can I return shoes I bought, and how long do I have?"),
    )
    .await;
    assert!(out.error.is_none());
    assert!(out.text.starts_with(FOUND_INTRO), "{}", out.text);
    assert!(
        out.text
            .contains("\"Returns are free within 30 days of delivery.\" [1]"),
        "{}",
        out.text
    );
    assert!(
        !out.text.contains("[2]"),
        "shipping is not about returns: {}",
        out.text
    );
    assert_eq!(out.finish, Some(FinishReason::Stop));
    let usage = out.usage.unwrap();
    assert!(usage.prompt_tokens > 20 && usage.completion_tokens > 5);
}

/// Headings and questions (an FAQ passage's own question) name the topic without answering:
/// the answer quotes the sentences that do.
#[tokio::test]
async fn headings_and_questions_are_not_quoted() {
    let request = ask("Can I get a refund for my annual plan?").passages(vec![
        ContextPassage::new(
            1,
            "Refund policy",
            "# Refund policy\n\n## Annual plans\nAnnual plans get a full refund within 30 days.",
            0.9,
        ),
        ContextPassage::new(
            2,
            "Can I get a refund for my annual plan?",
            "Q: Can I get a refund for my annual plan?\nA: Yes, a refund of an annual plan is possible within 30 days.",
            0.8,
        ),
    ]);
    let out = run(&OfflineAnswerer::new(), request).await;
    assert!(
        out.text
            .contains("\"Annual plans get a full refund within 30 days.\" [1]"),
        "{}",
        out.text
    );
    assert!(
        out.text.contains("A: Yes, a refund of an annual plan"),
        "{}",
        out.text
    );
    assert!(
        !out.text.contains('#'),
        "a heading was quoted: {}",
        out.text
    );
    assert!(
        !out.text.contains("Q: "),
        "a question was quoted: {}",
        out.text
    );
}

/// An answer sentence counts its passage's title (an FAQ's question) at half weight, and
/// sentences that only share a stray word with the question ("take") are left out.
#[tokio::test]
async fn the_title_lends_its_words_and_stray_matches_are_dropped() {
    let request = ask("How long does a refund take?").passages(vec![
        ContextPassage::new(
            1,
            "Calendar sync",
            "Calendar apps can take up to a day to refresh a feed.",
            0.9,
        ),
        ContextPassage::new(
            2,
            "How long does a refund take?",
            "Q: How long does a refund take?\nA: Refunds reach your card within 5 to 10 business days.",
            0.8,
        ),
    ]);
    let out = run(&OfflineAnswerer::new(), request).await;
    assert!(
        out.text
            .contains("\"A: Refunds reach your card within 5 to 10 business days.\" [2]"),
        "{}",
        out.text
    );
    assert!(
        !out.text.contains("[1]"),
        "a stray match was quoted: {}",
        out.text
    );
}

#[tokio::test]
async fn stemming_matches_other_forms_of_a_word() {
    let out = run(&OfflineAnswerer::new(), ask("When will I get refunded?")).await;
    assert!(out.text.contains("[3]"), "refunded ~ Refunds: {}", out.text);
}

#[tokio::test]
async fn says_plainly_when_nothing_is_relevant_and_cites_nothing() {
    for req in [
        ask("How do I reset my password?"),
        ask("?!"),
        CompletionRequest::new("sys", vec![PromptMessage::user("Can I return shoes?")]),
        CompletionRequest::new("sys", vec![]).passages(passages()),
    ] {
        let out = run(&OfflineAnswerer::new(), req).await;
        assert_eq!(out.text, NOTHING_FOUND);
        assert!(!out.text.contains('['));
    }
}

#[tokio::test]
async fn the_same_input_gives_the_same_answer_in_small_deltas() {
    let answerer = OfflineAnswerer::with_config(OfflineConfig::new().delta_chars(10)).unwrap();
    let req = ask("How long does express shipping take, and are returns free?");
    let mut stream = answerer.stream(req.clone()).await.unwrap();
    let mut deltas = Vec::new();
    while let Some(Ok(item)) = stream.next().await {
        if let CompletionChunk::Delta(d) = item {
            deltas.push(d);
        }
    }
    assert!(deltas.len() > 5 && deltas.iter().all(|d| d.chars().count() <= 10));
    assert_eq!(deltas.concat(), answerer.compose(&req));
    for _ in 0..3 {
        assert_eq!(answerer.compose(&req), deltas.concat());
    }
    assert!(deltas.concat().contains("[1]") && deltas.concat().contains("[2]"));
}

#[tokio::test]
async fn limits_the_quotes_and_cuts_long_sentences() {
    let long = format!(
        "The warranty covers {} for two years.",
        "every part ".repeat(60)
    );
    let req = CompletionRequest::new("", vec![PromptMessage::user("warranty years")])
        .passages(vec![ContextPassage::new(4, "Warranty", long, 0.5)]);
    let text = OfflineAnswerer::new().compose(&req);
    assert!(text.contains("…\" [4]"), "{text}");
    assert!(text.chars().count() < 500);
    let one = OfflineAnswerer::with_config(OfflineConfig::new().max_sentences(1)).unwrap();
    assert_eq!(
        one.compose(&ask("returns refunds shipping"))
            .matches('[')
            .count(),
        1
    );
}

#[test]
fn is_named_offline_and_says_so() {
    let a = OfflineAnswerer::new();
    assert_eq!(a.name(), "offline");
    assert!(a.capabilities().offline && a.capabilities().streaming);
    assert!(OfflineAnswerer::with_config(OfflineConfig::new().language("klingon")).is_err());
    assert!(OfflineAnswerer::with_config(OfflineConfig::new().language("German")).is_ok());
}
