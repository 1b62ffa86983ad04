//! FTS5 query building. User text never reaches `MATCH` as typed: it is reduced to plain
//! words by [`chat_core::text::query_terms`], each word becomes a quoted FTS5 string (so
//! `AND`, `NEAR`, `*`, `-`, `^`, `:` and parentheses are just text), and the words are joined
//! with `OR`. bm25 then ranks the rows holding more (and rarer) query words first.

use chat_core::text::query_terms;

/// The FTS5 `MATCH` expression of a user query; `None` when it holds no word at all.
pub(crate) fn match_expression(query: &str) -> Option<String> {
    let terms = query_terms(query);
    if terms.is_empty() {
        return None;
    }
    let quoted: Vec<String> = terms
        .iter()
        .map(|t| format!("\"{}\"", t.replace('"', "\"\"")))
        .collect();
    Some(quoted.join(" OR "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_becomes_quoted_words() {
        assert_eq!(
            match_expression("refund AND (café*)").as_deref(),
            Some("\"refund\" OR \"café\"")
        );
        assert_eq!(
            match_expression("NEAR(a b) -x ^y col:z").as_deref(),
            Some("\"near\" OR \"b\" OR \"x\" OR \"y\" OR \"col\" OR \"z\"")
        );
        assert_eq!(match_expression("\"*()-^:"), None);
        assert_eq!(match_expression(""), None);
    }
}
