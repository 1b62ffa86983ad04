//! Small text helpers shared by the engine and the stores.

/// Rough token count of a text (about four bytes per token for English prose, at least one
/// per word). Good enough for budgets; providers report the real counts.
pub fn estimate_tokens(text: &str) -> u32 {
    let by_bytes = text.len().div_ceil(4);
    let by_words = text.split_whitespace().count();
    u32::try_from(by_bytes.max(by_words)).unwrap_or(u32::MAX)
}

/// Longest search query accepted, in bytes; longer input is cut at a character boundary.
pub const MAX_QUERY_BYTES: usize = 1024;
/// Most terms taken from a search query.
pub const MAX_QUERY_TERMS: usize = 32;

/// English function words left out of a search query when it has other words: they occur in
/// nearly every document, so with "any word matches" they would make every query score the whole
/// index ("how do I export my data" is about "export" and "data"). A small fixed list (data, not
/// an algorithm); stores still index these words, so a query of nothing else still finds them.
pub const STOP_WORDS: &[&str] = &[
    "a", "about", "am", "an", "and", "are", "as", "at", "be", "been", "being", "but", "by", "can",
    "could", "did", "do", "does", "doing", "for", "from", "had", "has", "have", "hello", "hi",
    "how", "i", "if", "in", "into", "is", "it", "its", "me", "my", "of", "on", "or", "our",
    "please", "so", "than", "that", "the", "their", "them", "then", "there", "these", "they",
    "this", "those", "to", "was", "we", "were", "what", "when", "where", "which", "who", "why",
    "will", "with", "would", "you", "your",
];

/// Splits user text into plain search terms: runs of letters and digits, lowercased, at most
/// [`MAX_QUERY_TERMS`], duplicates removed, [`STOP_WORDS`] left out unless nothing else is left.
/// Query syntax (quotes, `AND`, `*`, parentheses, column filters) is thereby reduced to words, so
/// stores can build their own query from the terms without any chance of a syntax error.
pub fn query_terms(query: &str) -> Vec<String> {
    let mut end = query.len().min(MAX_QUERY_BYTES);
    while !query.is_char_boundary(end) {
        end -= 1;
    }
    let mut terms: Vec<String> = Vec::new();
    for word in query[..end].split(|c: char| !c.is_alphanumeric()) {
        if word.is_empty() {
            continue;
        }
        let term = word.to_lowercase();
        if !terms.contains(&term) {
            terms.push(term);
            if terms.len() == MAX_QUERY_TERMS {
                break;
            }
        }
    }
    if terms.iter().any(|t| !STOP_WORDS.contains(&t.as_str())) {
        terms.retain(|t| !STOP_WORDS.contains(&t.as_str()));
    }
    terms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_terms_drop_syntax() {
        assert_eq!(
            query_terms("\"refund\" AND (café*) OR -x:y"),
            ["refund", "café", "x", "y"]
        );
        assert_eq!(query_terms("How do I export my data?"), ["export", "data"]);
        assert_eq!(
            query_terms("how do I"),
            ["how", "do", "i"],
            "nothing else: kept"
        );
        assert!(query_terms("*()\"").is_empty());
        assert_eq!(query_terms("a a A").len(), 1);
        let long = "é".repeat(2000);
        assert_eq!(query_terms(&long).len(), 1);
    }

    #[test]
    fn token_estimate_is_reasonable() {
        assert_eq!(estimate_tokens(""), 0);
        assert_eq!(estimate_tokens("a b c d e"), 5);
        assert_eq!(estimate_tokens(&"x".repeat(400)), 100);
    }
}
