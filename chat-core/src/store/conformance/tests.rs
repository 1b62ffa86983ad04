//! The completeness guard of the suite (the suite itself runs against the in-memory store in
//! `chat-core/tests/memory_store.rs`).

use super::CASES;

/// The storage traits' source: the list of methods to cover.
const TRAITS: &str = include_str!("../mod.rs");

/// The source files of the case modules (a module may span several files).
const MODULES: &[(&str, &str)] = &[
    ("sessions", include_str!("sessions/records.rs")),
    ("sessions", include_str!("sessions/erasure.rs")),
    ("sessions", include_str!("sessions/claims.rs")),
    ("messages", include_str!("messages.rs")),
    ("documents", include_str!("documents/records.rs")),
    ("documents", include_str!("documents/search.rs")),
    ("knowledge", include_str!("knowledge/articles.rs")),
    ("knowledge", include_str!("knowledge/faq.rs")),
    ("support", include_str!("support/assignments.rs")),
    ("support", include_str!("support/routing.rs")),
    ("url_cache", include_str!("url_cache.rs")),
    ("usage", include_str!("usage.rs")),
    ("chat_store", include_str!("chat_store.rs")),
];

/// Names of the `async fn`s declared in a source text.
fn async_fns(source: &str, prefix: &str) -> Vec<String> {
    source
        .lines()
        .filter_map(|line| line.trim_start().strip_prefix(prefix))
        .filter_map(|rest| rest.split('(').next())
        .map(|name| name.split('<').next().unwrap_or(name).trim().to_owned())
        .collect()
}

/// The body of `pub async fn name` in a module source: up to the next case or the end.
fn case_body<'a>(source: &'a str, name: &str) -> Option<&'a str> {
    let start = source.find(&format!("pub async fn {name}("))?;
    let rest = &source[start + 1..];
    let end = rest.find("\npub async fn ").map_or(rest.len(), |i| i + 1);
    Some(&rest[..end])
}

#[test]
fn every_store_method_is_covered_by_a_case() {
    let methods = async_fns(TRAITS, "async fn ");
    assert!(
        methods.len() >= 40,
        "parsed only {} trait methods: {methods:?}",
        methods.len()
    );
    let uncovered: Vec<&String> = methods
        .iter()
        .filter(|m| !CASES.iter().any(|c| c.methods.contains(&m.as_str())))
        .collect();
    assert!(
        uncovered.is_empty(),
        "store methods no conformance case covers: {uncovered:?}"
    );
    let unknown: Vec<String> = CASES
        .iter()
        .flat_map(|c| c.methods.iter().map(move |m| (c, m)))
        .filter(|(_, m)| !methods.iter().any(|name| name == *m) && **m != "capabilities")
        .map(|(c, m)| format!("{}::{} names {m}", c.module, c.name))
        .collect();
    assert!(
        unknown.is_empty(),
        "cases name methods the traits do not have: {unknown:?}"
    );
}

#[test]
fn every_case_calls_the_methods_it_names() {
    let mut problems = Vec::new();
    for case in CASES {
        let body = MODULES
            .iter()
            .filter(|(module, _)| *module == case.module)
            .find_map(|(_, source)| case_body(source, case.name));
        let Some(body) = body else {
            problems.push(format!(
                "{}::{} is not a `pub async fn` of its module's files",
                case.module, case.name
            ));
            continue;
        };
        for method in case.methods {
            if !body.contains(&format!(".{method}(")) {
                problems.push(format!(
                    "{}::{} names {method} but never calls it",
                    case.module, case.name
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn every_case_function_is_in_the_list() {
    let mut orphans = Vec::new();
    for (module, source) in MODULES {
        for name in async_fns(source, "pub async fn ") {
            if !CASES.iter().any(|c| c.module == *module && c.name == name) {
                orphans.push(format!("{module}::{name}"));
            }
        }
    }
    assert!(
        orphans.is_empty(),
        "case functions the macro never runs: {orphans:?}"
    );
    let modules: Vec<&str> = MODULES.iter().map(|(m, _)| *m).collect();
    for case in CASES {
        assert!(
            modules.contains(&case.module),
            "module {} missing from MODULES",
            case.module
        );
    }
}
