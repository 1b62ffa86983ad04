//! Deterministic generated text for benchmarks: support-style KB articles over a vocabulary with
//! a realistic skew (a few common words, a long tail), and queries drawn from the same words.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

const COMMON: &[&str] = &[
    "account",
    "billing",
    "invoice",
    "refund",
    "password",
    "login",
    "subscription",
    "plan",
    "team",
    "user",
    "settings",
    "email",
    "payment",
    "card",
    "export",
    "import",
    "report",
    "dashboard",
    "integration",
    "webhook",
    "api",
    "token",
    "permission",
    "role",
    "workspace",
    "project",
    "file",
    "upload",
    "download",
    "notification",
    "calendar",
    "timezone",
    "language",
    "security",
    "backup",
    "restore",
    "delete",
    "archive",
    "trial",
    "upgrade",
    "downgrade",
    "cancel",
    "discount",
    "tax",
    "receipt",
    "currency",
    "address",
    "phone",
    "support",
    "ticket",
];

const FILLER: &[&str] = &[
    "the", "a", "to", "and", "of", "in", "your", "you", "can", "is", "for", "on", "with", "from",
    "this", "that", "be", "are", "when", "how", "not", "after", "before", "click", "open",
    "select", "choose", "then", "page", "menu", "button", "new", "change", "update", "check",
    "make", "sure",
];

/// One generated article.
#[derive(Debug, Clone)]
pub struct Article {
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
}

/// A vocabulary of `size` made-up rare terms (so ranking has a long tail to work with).
fn rare_terms(rng: &mut StdRng, size: usize) -> Vec<String> {
    const SYL: &[&str] = &[
        "ka", "lo", "mi", "ran", "tes", "vor", "qui", "zen", "pa", "dri", "nol", "sev",
    ];
    (0..size)
        .map(|_| {
            let n = rng.random_range(2..=4);
            (0..n)
                .map(|_| SYL[rng.random_range(0..SYL.len())])
                .collect()
        })
        .collect()
}

/// `count` articles, the same for the same seed.
pub fn articles(count: usize, seed: u64) -> Vec<Article> {
    let mut rng = StdRng::seed_from_u64(seed);
    let rare = rare_terms(&mut rng, 3000);
    (0..count)
        .map(|_| {
            let title_words = rng.random_range(3..=6);
            let title: Vec<&str> = (0..title_words)
                .map(|_| {
                    if rng.random_bool(0.7) {
                        COMMON[rng.random_range(0..COMMON.len())]
                    } else {
                        &rare[rng.random_range(0..rare.len())]
                    }
                })
                .collect();
            let body_words = rng.random_range(80..=200);
            let body: Vec<&str> = (0..body_words)
                .map(|_| {
                    let r: f64 = rng.random();
                    if r < 0.5 {
                        FILLER[rng.random_range(0..FILLER.len())]
                    } else if r < 0.85 {
                        COMMON[rng.random_range(0..COMMON.len())]
                    } else {
                        &rare[rng.random_range(0..rare.len())]
                    }
                })
                .collect();
            Article {
                title: title.join(" "),
                body: body.join(" "),
            }
        })
        .collect()
}

/// `count` customer-style queries of two to four content words.
pub fn queries(count: usize, seed: u64) -> Vec<String> {
    let mut rng = StdRng::seed_from_u64(seed);
    let rare = rare_terms(&mut StdRng::seed_from_u64(seed ^ 0x5eed), 3000);
    (0..count)
        .map(|_| {
            let n = rng.random_range(2..=4);
            let words: Vec<&str> = (0..n)
                .map(|_| {
                    if rng.random_bool(0.75) {
                        COMMON[rng.random_range(0..COMMON.len())]
                    } else {
                        &rare[rng.random_range(0..rare.len())]
                    }
                })
                .collect();
            format!("how do I {}?", words.join(" "))
        })
        .collect()
}
