//! A heading- and paragraph-aware chunker for the light Markdown the extractor writes.
//!
//! The text is cut into sections at heading lines (`#` to `######`); each section knows its
//! heading path (outermost first). Paragraphs are packed into chunks of about
//! `target_tokens` ([`estimate_tokens`]); consecutive small sections share a chunk (its locator
//! is the path of the first); a section larger than a chunk continues in the next one, which
//! repeats the section's heading line and about `overlap_tokens` of the previous chunk's last
//! paragraphs. A paragraph larger than a chunk is cut at word boundaries (at character
//! boundaries for text without spaces).

use crate::text::estimate_tokens;

/// Bytes per token assumed when cutting text without spaces (matches [`estimate_tokens`]).
const BYTES_PER_TOKEN: usize = 4;

/// A chunk of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PageChunk {
    /// Heading path of the section the chunk starts in (outermost first; empty before the first
    /// heading).
    pub path: Vec<String>,
    /// The text.
    pub text: String,
    /// Estimated tokens.
    pub tokens: u32,
}

struct Section {
    path: Vec<String>,
    heading: Option<String>,
    paragraphs: Vec<String>,
}

fn parse_heading(block: &str) -> Option<(usize, &str)> {
    let level = block.bytes().take_while(|&b| b == b'#').count();
    if (1..=6).contains(&level) && block[level..].starts_with(' ') && !block.contains('\n') {
        Some((level, block[level..].trim()))
    } else {
        None
    }
}

fn sections(text: &str) -> Vec<Section> {
    let mut out = vec![Section {
        path: Vec::new(),
        heading: None,
        paragraphs: Vec::new(),
    }];
    let mut stack: Vec<(usize, String)> = Vec::new();
    for block in text
        .split("\n\n")
        .map(|b| b.trim_matches(['\n', '\r']))
        .filter(|b| !b.trim().is_empty())
    {
        if let Some((level, title)) = parse_heading(block) {
            while stack.last().is_some_and(|(l, _)| *l >= level) {
                stack.pop();
            }
            stack.push((level, title.to_owned()));
            out.push(Section {
                path: stack.iter().map(|(_, t)| t.clone()).collect(),
                heading: Some(block.to_owned()),
                paragraphs: Vec::new(),
            });
        } else if let Some(last) = out.last_mut() {
            last.paragraphs.push(block.to_owned());
        }
    }
    out.retain(|s| s.heading.is_some() || !s.paragraphs.is_empty());
    out
}

/// Cuts a paragraph into pieces of at most `target` tokens.
fn split_long(paragraph: &str, target: u32) -> Vec<String> {
    if estimate_tokens(paragraph) <= target {
        return vec![paragraph.to_owned()];
    }
    let max_bytes = usize::try_from(target)
        .unwrap_or(usize::MAX)
        .saturating_mul(BYTES_PER_TOKEN)
        .max(BYTES_PER_TOKEN);
    let mut pieces = Vec::new();
    let mut current = String::new();
    for word in paragraph.split_inclusive(char::is_whitespace) {
        if !current.is_empty() && estimate_tokens(&format!("{current}{word}")) > target {
            pieces.push(std::mem::take(&mut current).trim().to_owned());
        }
        if word.len() > max_bytes {
            let mut rest = word;
            while rest.len() > max_bytes {
                let mut cut = max_bytes;
                while !rest.is_char_boundary(cut) {
                    cut -= 1;
                }
                pieces.push(rest[..cut].to_owned());
                rest = &rest[cut..];
            }
            current.push_str(rest);
        } else {
            current.push_str(word);
        }
    }
    if !current.trim().is_empty() {
        pieces.push(current.trim().to_owned());
    }
    pieces.retain(|p| !p.is_empty());
    pieces
}

/// Chunks light-Markdown text. At most `max_chunks` chunks are returned.
pub fn chunk_text(
    text: &str,
    target_tokens: u32,
    overlap_tokens: u32,
    max_chunks: usize,
) -> Vec<PageChunk> {
    let target = target_tokens.max(1);
    let overlap = overlap_tokens.min(target / 2);
    let mut chunks: Vec<PageChunk> = Vec::new();
    let mut parts: Vec<String> = Vec::new();
    let mut path: Option<Vec<String>> = None;

    let emit =
        |chunks: &mut Vec<PageChunk>, parts: &mut Vec<String>, path: &mut Option<Vec<String>>| {
            if parts.is_empty() {
                return;
            }
            let text = parts.join("\n\n");
            chunks.push(PageChunk {
                path: path.take().unwrap_or_default(),
                tokens: estimate_tokens(&text),
                text,
            });
            parts.clear();
        };
    let size = |parts: &[String]| estimate_tokens(&parts.join("\n\n"));

    for section in sections(text) {
        let mut first = true;
        for piece in section
            .paragraphs
            .iter()
            .flat_map(|p| split_long(p, target))
            .map(Some)
            .chain(std::iter::once(None))
        {
            // The heading goes with the section's first paragraph (or alone for an empty section).
            let mut block = Vec::new();
            if first {
                block.extend(section.heading.clone());
                first = false;
            }
            block.extend(piece);
            if block.is_empty() {
                continue;
            }
            let mut candidate = parts.clone();
            candidate.extend(block.iter().cloned());
            if !parts.is_empty() && size(&candidate) > target {
                let tail = overlap_tail(&parts, overlap);
                let continuing = path.as_ref() == Some(&section.path)
                    || parts.iter().any(|p| section.heading.as_ref() == Some(p));
                emit(&mut chunks, &mut parts, &mut path);
                if chunks.len() >= max_chunks {
                    return chunks;
                }
                if continuing && !block.iter().any(|b| section.heading.as_ref() == Some(b)) {
                    parts.extend(section.heading.clone());
                    parts.extend(tail);
                }
            }
            if path.is_none() {
                path = Some(section.path.clone());
            }
            parts.extend(block);
        }
    }
    if chunks.len() < max_chunks {
        emit(&mut chunks, &mut parts, &mut path);
    }
    chunks
}

/// The last paragraphs of a chunk that fit in `overlap` tokens (headings excluded).
fn overlap_tail(parts: &[String], overlap: u32) -> Vec<String> {
    let mut tail: Vec<String> = Vec::new();
    let mut tokens = 0;
    for part in parts.iter().rev() {
        if parse_heading(part).is_some() {
            break;
        }
        let t = estimate_tokens(part);
        if tokens + t > overlap {
            break;
        }
        tokens += t;
        tail.insert(0, part.clone());
    }
    tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headings_give_paths_and_small_sections_share_chunks() {
        let text = "intro\n\n# A\n\npara a\n\n## B\n\npara b\n\n# C\n\npara c";
        let chunks = chunk_text(text, 800, 80, 100);
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].path, Vec::<String>::new());
        assert_eq!(chunks[0].text, text);
        let chunks = chunk_text(text, 4, 0, 100);
        let paths: Vec<Vec<String>> = chunks.iter().map(|c| c.path.clone()).collect();
        assert!(
            paths.contains(&vec!["A".to_owned(), "B".to_owned()]),
            "{paths:?}"
        );
        assert!(paths.contains(&vec!["C".to_owned()]), "{paths:?}");
    }

    #[test]
    fn long_sections_split_with_overlap_and_limits() {
        let paragraphs: Vec<String> = (0..40)
            .map(|i| format!("Paragraph number {i} {}", "word ".repeat(60)))
            .collect();
        let text = format!("# Guide\n\n{}", paragraphs.join("\n\n"));
        let chunks = chunk_text(&text, 200, 80, 1000);
        assert!(chunks.len() > 5);
        for chunk in &chunks {
            assert!(chunk.tokens <= 200 + 80, "{}", chunk.tokens);
            assert_eq!(chunk.path, vec!["Guide".to_owned()]);
            assert!(chunk.text.starts_with("# Guide"));
        }
        // Overlap: the last paragraph of a chunk starts the next one.
        let last_of_first = chunks[0].text.rsplit("\n\n").next().unwrap_or_default();
        assert!(chunks[1].text.contains(last_of_first));
        assert_eq!(chunk_text(&text, 200, 80, 3).len(), 3);
        let cjk = "字".repeat(10_000);
        let pieces = chunk_text(&cjk, 100, 0, 1000);
        assert!(pieces.iter().all(|c| c.tokens <= 100));
        assert_eq!(
            pieces.iter().map(|c| c.text.chars().count()).sum::<usize>(),
            10_000
        );
    }
}
