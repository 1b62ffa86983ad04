//! Chunking by structure and size. Blocks of one section (one heading path, one sheet; pages
//! and text lines run on) are packed into chunks of about the target size; a new section
//! starts a new chunk. A block larger than the target is cut at line breaks, then sentence
//! ends, then spaces. Each chunk after the first of its section starts with the last blocks of
//! the previous one, up to the overlap, so a passage cut at a boundary is still found whole.
//! Locators cover exactly the blocks in the chunk (overlap included).

use serde::{Deserialize, Serialize};

use super::extraction::{Anchor, Block};
use crate::model::ChunkLocator;
use crate::text::estimate_tokens;

/// A chunk of a document's text with its locator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Chunk {
    /// The text.
    pub text: String,
    /// Where it sits.
    pub locator: Option<ChunkLocator>,
}

/// A piece of a block no larger than the target.
struct Unit<'a> {
    text: &'a str,
    anchor: &'a Anchor,
    tokens: u32,
}

/// Splits blocks into chunks of about `target_tokens` (at least 1) with `overlap_tokens` of
/// overlap within a section.
pub(crate) fn chunk(blocks: &[Block], target_tokens: u32, overlap_tokens: u32) -> Vec<Chunk> {
    let target = target_tokens.max(1);
    let overlap = overlap_tokens.min(target / 2);
    let units: Vec<Unit<'_>> = blocks
        .iter()
        .flat_map(|block| {
            split_text(&block.text, target)
                .into_iter()
                .map(move |text| Unit {
                    text,
                    anchor: &block.anchor,
                    tokens: estimate_tokens(text),
                })
        })
        .collect();
    let mut chunks = Vec::new();
    let mut current: Vec<&Unit<'_>> = Vec::new();
    let mut tokens = 0u32;
    let mut fresh = 0usize; // units in `current` not carried over as overlap
    for unit in &units {
        let same_section = current
            .last()
            .is_some_and(|last| same_section(last.anchor, unit.anchor));
        if !current.is_empty() && (!same_section || tokens.saturating_add(unit.tokens) > target) {
            if fresh > 0 {
                chunks.push(build(&current));
            }
            if same_section {
                // Carry the tail of the chunk over, up to the overlap.
                let mut carried = Vec::new();
                let mut carried_tokens = 0u32;
                for prev in current.iter().rev() {
                    if carried_tokens.saturating_add(prev.tokens) > overlap
                        || carried_tokens
                            .saturating_add(prev.tokens)
                            .saturating_add(unit.tokens)
                            > target
                    {
                        break;
                    }
                    carried_tokens += prev.tokens;
                    carried.push(*prev);
                }
                carried.reverse();
                current = carried;
                tokens = carried_tokens;
            } else {
                current.clear();
                tokens = 0;
            }
            fresh = 0;
        }
        current.push(unit);
        tokens = tokens.saturating_add(unit.tokens);
        fresh += 1;
    }
    if fresh > 0 {
        chunks.push(build(&current));
    }
    chunks
}

/// Pages and text lines run on; headings and sheets are sections of their own.
fn same_section(a: &Anchor, b: &Anchor) -> bool {
    match (a, b) {
        (Anchor::Page { .. }, Anchor::Page { .. })
        | (Anchor::Lines { .. }, Anchor::Lines { .. }) => true,
        (Anchor::Row { sheet: x, .. }, Anchor::Row { sheet: y, .. }) => x == y,
        (Anchor::Heading { path: x }, Anchor::Heading { path: y }) => x == y,
        _ => false,
    }
}

fn build(units: &[&Unit<'_>]) -> Chunk {
    let separator = match units.first().map(|u| u.anchor) {
        Some(Anchor::Row { .. }) => "\n",
        _ => "\n\n",
    };
    let text = units
        .iter()
        .map(|u| u.text)
        .collect::<Vec<_>>()
        .join(separator);
    Chunk {
        text,
        locator: locator(units),
    }
}

fn locator(units: &[&Unit<'_>]) -> Option<ChunkLocator> {
    let first = units.first()?.anchor;
    Some(match first {
        Anchor::Page { .. } => {
            let pages = units.iter().filter_map(|u| match u.anchor {
                Anchor::Page { page } => Some(*page),
                _ => None,
            });
            let (min, max) = min_max(pages)?;
            ChunkLocator::Page {
                page: min,
                end_page: (max > min).then_some(max),
            }
        }
        Anchor::Row { sheet, .. } => {
            let rows = units.iter().filter_map(|u| match u.anchor {
                Anchor::Row { row, .. } => Some(*row),
                _ => None,
            });
            let (first_row, last_row) = min_max(rows)?;
            ChunkLocator::Sheet {
                sheet: sheet.clone(),
                first_row,
                last_row,
            }
        }
        Anchor::Heading { path } => ChunkLocator::Heading { path: path.clone() },
        Anchor::Lines { .. } => {
            let lines = units.iter().flat_map(|u| match u.anchor {
                Anchor::Lines { start, end } => vec![*start, *end],
                _ => Vec::new(),
            });
            let (start, end) = min_max(lines)?;
            ChunkLocator::Lines { start, end }
        }
    })
}

fn min_max(values: impl Iterator<Item = u32>) -> Option<(u32, u32)> {
    values.fold(None, |acc, v| {
        Some(acc.map_or((v, v), |(lo, hi): (u32, u32)| (lo.min(v), hi.max(v))))
    })
}

/// Cuts text into pieces of at most `target` estimated tokens, preferring line breaks, then
/// sentence ends, then spaces.
fn split_text(text: &str, target: u32) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        if estimate_tokens(rest) <= target {
            pieces.push(rest);
            break;
        }
        let cut = cut_point(rest, target);
        let (head, tail) = rest.split_at(cut);
        let head = head.trim();
        if !head.is_empty() {
            pieces.push(head);
        }
        rest = tail.trim_start();
    }
    pieces
}

/// Where to cut `text` so the head is at most `target` tokens: the byte budget (4 bytes a
/// token) or `target` words, whichever comes first, moved back to a line break, a sentence
/// end or a space in the second half.
fn cut_point(text: &str, target: u32) -> usize {
    let byte_limit = usize::try_from(target)
        .unwrap_or(usize::MAX)
        .saturating_mul(4);
    let mut limit = byte_limit.min(text.len());
    let mut words = 0u32;
    let mut in_word = false;
    for (i, c) in text.char_indices() {
        if i >= limit {
            break;
        }
        if c.is_whitespace() {
            in_word = false;
        } else if !in_word {
            in_word = true;
            words += 1;
            if words > target {
                limit = i;
                break;
            }
        }
    }
    while limit > 0 && !text.is_char_boundary(limit) {
        limit -= 1;
    }
    let window = &text[..limit];
    let floor = limit / 2;
    let candidates = [
        window.rfind('\n').map(|i| i + 1),
        window.rfind(". ").map(|i| i + 2),
        window.rfind(char::is_whitespace).map(|i| i + 1),
    ];
    for candidate in candidates.into_iter().flatten() {
        if candidate > floor && candidate <= limit && text.is_char_boundary(candidate) {
            return candidate;
        }
    }
    if limit == 0 {
        // One character larger than the budget: take it whole.
        text.chars().next().map_or(text.len(), char::len_utf8)
    } else {
        limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(text: &str, anchor: Anchor) -> Block {
        Block {
            text: text.into(),
            anchor,
        }
    }

    #[test]
    fn sections_split_and_sizes_hold() {
        let h = |p: &str| Anchor::Heading {
            path: vec![p.into()],
        };
        let blocks = vec![
            block("alpha one", h("A")),
            block("beta two", h("B")),
            block("beta three", h("B")),
        ];
        let chunks = chunk(&blocks, 800, 100);
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[1].text, "beta two\n\nbeta three");
        assert_eq!(
            chunks[1].locator,
            Some(ChunkLocator::Heading {
                path: vec!["B".into()]
            })
        );

        let long = "word ".repeat(5000);
        let chunks = chunk(&[block(&long, Anchor::Page { page: 3 })], 100, 10);
        assert!(chunks.len() >= 50);
        assert!(chunks.iter().all(|c| estimate_tokens(&c.text) <= 100));
        assert!(chunks.iter().all(|c| c.locator
            == Some(ChunkLocator::Page {
                page: 3,
                end_page: None
            })));
    }

    #[test]
    fn overlap_and_row_ranges() {
        let rows: Vec<Block> = (1..=100)
            .map(|r| {
                block(
                    &format!("row {r}\tvalue {r} with some words"),
                    Anchor::Row {
                        sheet: "S".into(),
                        row: r,
                    },
                )
            })
            .collect();
        let chunks = chunk(&rows, 60, 20);
        assert!(chunks.len() > 5);
        let ranges: Vec<(u32, u32)> = chunks
            .iter()
            .map(|c| match &c.locator {
                Some(ChunkLocator::Sheet {
                    first_row,
                    last_row,
                    ..
                }) => (*first_row, *last_row),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(ranges[0].0, 1);
        assert_eq!(ranges.last().map(|r| r.1), Some(100));
        for pair in ranges.windows(2) {
            assert!(
                pair[1].0 <= pair[0].1,
                "chunks overlap by whole rows: {pair:?}"
            );
            assert!(pair[1].0 > pair[0].0);
        }
        let first_line_of_second = chunks[1].text.lines().next().unwrap_or_default();
        assert!(chunks[0].text.contains(first_line_of_second));
    }

    #[test]
    fn pages_run_on_and_cuts_respect_chars() {
        let blocks = vec![
            block("page one text", Anchor::Page { page: 1 }),
            block("page two text", Anchor::Page { page: 2 }),
        ];
        let chunks = chunk(&blocks, 800, 100);
        assert_eq!(chunks.len(), 1);
        assert_eq!(
            chunks[0].locator,
            Some(ChunkLocator::Page {
                page: 1,
                end_page: Some(2)
            })
        );
        let cjk = "日本語".repeat(2000);
        let pieces = split_text(&cjk, 50);
        assert!(pieces.len() > 10);
        assert_eq!(pieces.concat(), cjk);
    }
}
