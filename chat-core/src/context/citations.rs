//! Parsing and checking the `[n]` citation markers of an answer.

/// The citations of an answer after checking them against the passages given.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CitationCheck {
    /// The answer with markers of unknown passages removed.
    pub text: String,
    /// Passage numbers cited, in order of first appearance, each once.
    pub cited: Vec<u32>,
    /// Numbers cited that no passage has (removed from `text`).
    pub dropped: Vec<u32>,
}

/// Finds `[n]` and `[n, m, ...]` markers; keeps those with `1 <= n <= passages`, removes the
/// others from the text.
pub fn parse_citations(answer: &str, passages: u32) -> CitationCheck {
    let mut text = String::with_capacity(answer.len());
    let mut cited = Vec::new();
    let mut dropped = Vec::new();
    let mut rest = answer;
    while let Some(open) = rest.find('[') {
        text.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find(']').filter(|&c| c <= 24) else {
            text.push('[');
            rest = after;
            continue;
        };
        let inner = &after[..close];
        let numbers: Option<Vec<u32>> = inner
            .split(',')
            .map(|n| n.trim().parse::<u32>().ok())
            .collect();
        match numbers {
            Some(numbers) if !numbers.is_empty() => {
                let (keep, bad): (Vec<u32>, Vec<u32>) =
                    numbers.into_iter().partition(|&n| n >= 1 && n <= passages);
                for n in &keep {
                    if !cited.contains(n) {
                        cited.push(*n);
                    }
                }
                for n in bad {
                    if !dropped.contains(&n) {
                        dropped.push(n);
                    }
                }
                if !keep.is_empty() {
                    let list: Vec<String> = keep.iter().map(u32::to_string).collect();
                    text.push('[');
                    text.push_str(&list.join(", "));
                    text.push(']');
                } else if text.ends_with(' ')
                    && after[close + 1..].starts_with(['.', ',', ';', ':', '!', '?', ' '])
                {
                    text.pop();
                }
            }
            _ => {
                text.push('[');
                text.push_str(inner);
                text.push(']');
            }
        }
        rest = &after[close + 1..];
    }
    text.push_str(rest);
    CitationCheck {
        text,
        cited,
        dropped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_known_and_drops_unknown_citations() {
        let check = parse_citations(
            "Refunds take 5 days [1]. Invoices are monthly [2, 7]. Ask us [9].",
            3,
        );
        assert_eq!(check.cited, [1, 2]);
        assert_eq!(check.dropped, [7, 9]);
        assert_eq!(
            check.text,
            "Refunds take 5 days [1]. Invoices are monthly [2]. Ask us."
        );
    }

    #[test]
    fn leaves_other_brackets_alone() {
        let check = parse_citations("Use [Settings] > [Billing] and see [0] or [ 2 ][3", 2);
        assert_eq!(check.cited, [2]);
        assert_eq!(check.dropped, [0]);
        assert_eq!(check.text, "Use [Settings] > [Billing] and see or [2][3");
    }
}
