//! Plain text and Markdown: encoding detection and decoding, then blocks anchored by line
//! ranges (TXT) or heading paths (MD).
//!
//! Encoding detection, in order: a byte-order mark; the NUL pattern of UTF-16 without a BOM
//! (every other byte zero in ASCII-heavy text); valid UTF-8; for short input, a CJK encoding
//! whose decoding is clean and entirely CJK (chardetng reads a 4-byte Shift_JIS word as
//! Windows-1252); otherwise chardetng's guess, decoded with encoding_rs.

use chardetng::{EncodingDetector, Iso2022JpDetection, Utf8Detection};
use encoding_rs::{BIG5, EUC_JP, EUC_KR, Encoding, GBK, SHIFT_JIS, UTF_8, UTF_16BE, UTF_16LE};

use super::extraction::{Anchor, Budget, Extraction, HeadingPath};
use super::{FileType, IngestConfig, IngestError};

/// Bytes examined for encoding detection and the text check.
const SAMPLE_BYTES: usize = 64 * 1024;
/// Share of control characters (per mille) above which decoded bytes are binary, not text.
const MAX_CONTROL_PER_MILLE: usize = 5;
/// Longest paragraph of a text file kept as one block, in lines.
const MAX_BLOCK_LINES: u32 = 40;

/// Detects the encoding of text bytes (see the module docs) and the length of its BOM.
pub(crate) fn detect_encoding(bytes: &[u8], config: &IngestConfig) -> (&'static Encoding, usize) {
    if let Some((encoding, bom)) = Encoding::for_bom(bytes) {
        return (encoding, bom);
    }
    let sample = &bytes[..bytes.len().min(SAMPLE_BYTES)];
    if let Some(encoding) = utf16_by_nul_pattern(sample) {
        return (encoding, 0);
    }
    if valid_utf8_prefix(sample, sample.len() < bytes.len()) {
        return (UTF_8, 0);
    }
    let non_ascii = sample.iter().filter(|b| !b.is_ascii()).count();
    if non_ascii < config.short_text_bytes
        && let Some(encoding) = short_cjk(sample)
    {
        return (encoding, 0);
    }
    let mut detector = EncodingDetector::new(Iso2022JpDetection::Deny);
    detector.feed(sample, sample.len() == bytes.len());
    (detector.guess(None, Utf8Detection::Allow), 0)
}

/// UTF-16 without a BOM: ASCII-range text has a zero in every other byte.
fn utf16_by_nul_pattern(sample: &[u8]) -> Option<&'static Encoding> {
    let pairs = sample.len() / 2;
    if pairs < 2 {
        return None;
    }
    let (mut even, mut odd) = (0usize, 0usize);
    for pair in sample.chunks_exact(2) {
        even += usize::from(pair[0] == 0);
        odd += usize::from(pair[1] == 0);
    }
    // At least 40% of the units look like ASCII, and the other half of the bytes is not zero.
    if odd * 10 >= pairs * 4 && even * 10 <= pairs {
        Some(UTF_16LE)
    } else if even * 10 >= pairs * 4 && odd * 10 <= pairs {
        Some(UTF_16BE)
    } else {
        None
    }
}

/// Valid UTF-8, allowing a character cut at the end of a sample.
fn valid_utf8_prefix(sample: &[u8], cut: bool) -> bool {
    match std::str::from_utf8(sample) {
        Ok(_) => true,
        Err(err) => cut && err.error_len().is_none() && sample.len() - err.valid_up_to() < 4,
    }
}

/// Short legacy input: a CJK encoding whose decoding has no errors and whose non-ASCII
/// characters are all CJK, when most of the text is non-ASCII.
fn short_cjk(sample: &[u8]) -> Option<&'static Encoding> {
    let visible = sample.iter().filter(|b| !b.is_ascii_whitespace()).count();
    let non_ascii = sample.iter().filter(|b| !b.is_ascii()).count();
    if non_ascii * 2 < visible {
        return None;
    }
    [SHIFT_JIS, EUC_JP, GBK, EUC_KR, BIG5]
        .into_iter()
        .find(|encoding| {
            let (text, malformed) = encoding
                .decode_without_bom_handling_and_without_replacement(sample)
                .map_or((std::borrow::Cow::Borrowed(""), true), |t| (t, false));
            !malformed && text.chars().filter(|c| !c.is_ascii()).all(is_cjk)
        })
}

fn is_cjk(c: char) -> bool {
    matches!(c,
        '\u{3000}'..='\u{303F}' // CJK punctuation
        | '\u{3040}'..='\u{30FF}' // kana
        | '\u{3400}'..='\u{4DBF}' | '\u{4E00}'..='\u{9FFF}' // ideographs
        | '\u{AC00}'..='\u{D7AF}' // Hangul
        | '\u{FF00}'..='\u{FFEF}') // full- and half-width forms
}

/// Decodes the start of the file when it is text (few control characters once decoded);
/// `None` when it is binary data.
pub(crate) fn decode_sample(bytes: &[u8], config: &IngestConfig) -> Option<String> {
    let (encoding, bom) = detect_encoding(bytes, config);
    let end = bytes.len().min(SAMPLE_BYTES + bom);
    let (text, _) = encoding.decode_without_bom_handling(&bytes[bom..end]);
    is_text(&text).then(|| text.into_owned())
}

fn is_text(text: &str) -> bool {
    let mut total = 0usize;
    let mut control = 0usize;
    for c in text.chars() {
        total += 1;
        if c.is_control() && !matches!(c, '\t' | '\n' | '\r' | '\u{000C}' | '\u{001B}') {
            control += 1;
        }
    }
    control * 1000 <= total * MAX_CONTROL_PER_MILLE
}

/// Names the markup language when decoded text is HTML or XML, which are not accepted as text.
pub(crate) fn looks_like_markup(text: &str) -> Option<&'static str> {
    let mut rest = text.trim_start_matches(['\u{FEFF}', ' ', '\t', '\r', '\n']);
    // Skip leading comments, as browsers do.
    while let Some(after) = rest.strip_prefix("<!--") {
        rest = after
            .split_once("-->")
            .map_or("", |(_, tail)| tail)
            .trim_start();
    }
    let head: String = rest
        .chars()
        .take(64)
        .collect::<String>()
        .to_ascii_lowercase();
    const HTML: [&str; 8] = [
        "<!doctype html",
        "<html",
        "<head",
        "<body",
        "<script",
        "<iframe",
        "<meta",
        "<svg",
    ];
    if HTML.iter().any(|p| head.starts_with(p)) {
        return Some("HTML");
    }
    if head.starts_with("<?xml") || head.starts_with("<!doctype") {
        return Some("XML");
    }
    None
}

/// Decodes a whole text file.
///
/// Errors: `UnsupportedMediaType` when it is binary data after all.
pub(crate) fn decode(
    bytes: &[u8],
    config: &IngestConfig,
) -> Result<(String, &'static str), IngestError> {
    let (encoding, bom) = detect_encoding(bytes, config);
    let (text, _) = encoding.decode_without_bom_handling(&bytes[bom..]);
    if !is_text(&text) {
        return Err(IngestError::UnsupportedMediaType(
            "the file is binary data, not a document".into(),
        ));
    }
    Ok((text.into_owned(), encoding.name()))
}

/// Extracts a TXT or MD file.
pub(crate) fn extract(
    bytes: &[u8],
    file_type: FileType,
    budget: &mut Budget<'_>,
) -> Result<Extraction, IngestError> {
    let (text, encoding) = decode(bytes, budget.config)?;
    let mut out = Extraction::new(file_type);
    out.metadata.insert("encoding".into(), encoding.into());
    if file_type == FileType::Md {
        markdown_blocks(&text, budget, &mut out)?;
    } else {
        text_blocks(&text, budget, &mut out)?;
    }
    Ok(out)
}

/// Paragraphs (split at blank lines, and every [`MAX_BLOCK_LINES`] lines) with line ranges.
fn text_blocks(
    text: &str,
    budget: &mut Budget<'_>,
    out: &mut Extraction,
) -> Result<(), IngestError> {
    let mut para = String::new();
    let mut start = 0u32;
    let mut last = 0u32;
    for (index, line) in text.lines().enumerate() {
        let number = u32::try_from(index + 1).unwrap_or(u32::MAX);
        if line.trim().is_empty() || number.saturating_sub(start) >= MAX_BLOCK_LINES {
            flush_lines(&mut para, start, last, budget, out)?;
        }
        if !line.trim().is_empty() {
            if para.is_empty() {
                start = number;
            }
            para.push_str(line);
            para.push('\n');
            last = number;
        }
    }
    flush_lines(&mut para, start, last, budget, out)
}

fn flush_lines(
    para: &mut String,
    start: u32,
    end: u32,
    budget: &mut Budget<'_>,
    out: &mut Extraction,
) -> Result<(), IngestError> {
    if !para.is_empty() {
        budget.push(out, para, Anchor::Lines { start, end })?;
        para.clear();
    }
    Ok(())
}

/// Paragraphs under their heading path (ATX `#` and setext headings; not inside code fences).
fn markdown_blocks(
    text: &str,
    budget: &mut Budget<'_>,
    out: &mut Extraction,
) -> Result<(), IngestError> {
    let mut path = HeadingPath::default();
    let mut para = String::new();
    let mut fence: Option<&str> = None;
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0usize;
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if let Some(marker) = fence {
            para.push_str(line);
            para.push('\n');
            if trimmed.starts_with(marker) {
                fence = None;
            }
            i += 1;
            continue;
        }
        if indent <= 3 && (trimmed.starts_with("```") || trimmed.starts_with("~~~")) {
            fence = Some(&trimmed[..3]);
            para.push_str(line);
            para.push('\n');
            i += 1;
            continue;
        }
        if let Some((level, title)) = atx_heading(line) {
            flush_heading(&mut para, &path, budget, out)?;
            path.enter(level, title);
            para.push_str(line);
            para.push('\n');
            i += 1;
            continue;
        }
        let underline = lines.get(i + 1).and_then(|next| setext_level(next));
        if let Some(level) = underline
            && !trimmed.is_empty()
            && indent <= 3
            && para.trim().is_empty()
        {
            flush_heading(&mut para, &path, budget, out)?;
            path.enter(level, trimmed);
            para.push_str(line);
            para.push('\n');
            i += 2;
            continue;
        }
        if trimmed.is_empty() {
            flush_heading(&mut para, &path, budget, out)?;
        } else {
            para.push_str(line);
            para.push('\n');
        }
        i += 1;
    }
    flush_heading(&mut para, &path, budget, out)
}

fn flush_heading(
    para: &mut String,
    path: &HeadingPath,
    budget: &mut Budget<'_>,
    out: &mut Extraction,
) -> Result<(), IngestError> {
    if !para.trim().is_empty() {
        budget.push(out, para, path.anchor())?;
    }
    para.clear();
    Ok(())
}

/// `## Title ##` -> (2, "Title").
fn atx_heading(line: &str) -> Option<(u8, &str)> {
    let trimmed = line.trim_start();
    if line.len() - trimmed.len() > 3 {
        return None;
    }
    let hashes = trimmed.bytes().take_while(|b| *b == b'#').count();
    if !(1..=6).contains(&hashes) {
        return None;
    }
    let rest = &trimmed[hashes..];
    if !(rest.is_empty() || rest.starts_with([' ', '\t'])) {
        return None;
    }
    let title = rest.trim().trim_end_matches('#').trim_end();
    (!title.is_empty()).then(|| (u8::try_from(hashes).unwrap_or(6), title))
}

/// `===` under a line makes it a level-1 heading, `---` level 2.
fn setext_level(line: &str) -> Option<u8> {
    let t = line.trim();
    if t.len() >= 2 && t.bytes().all(|b| b == b'=') {
        Some(1)
    } else if t.len() >= 2 && t.bytes().all(|b| b == b'-') {
        Some(2)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> IngestConfig {
        IngestConfig::default()
    }

    #[test]
    fn encodings() {
        assert_eq!(detect_encoding("héllo".as_bytes(), &cfg()).0, UTF_8);
        assert_eq!(detect_encoding(b"\xEF\xBB\xBFhi", &cfg()), (UTF_8, 3));
        assert_eq!(detect_encoding(b"\xFF\xFEh\0i\0", &cfg()), (UTF_16LE, 2));
        assert_eq!(detect_encoding(b"h\0e\0l\0l\0o\0", &cfg()).0, UTF_16LE);
        assert_eq!(detect_encoding(b"\0h\0e\0l\0l\0o", &cfg()).0, UTF_16BE);
        let (sjis, _, _) = SHIFT_JIS.encode("日本");
        assert_eq!(sjis.len(), 4);
        assert_eq!(detect_encoding(&sjis, &cfg()).0, SHIFT_JIS);
        let (latin, _, _) =
            encoding_rs::WINDOWS_1252.encode("Le café est très bon, merci beaucoup à vous.");
        assert_eq!(detect_encoding(&latin, &cfg()).0, encoding_rs::WINDOWS_1252);
        let (short_latin, _, _) = encoding_rs::WINDOWS_1252.encode("café");
        assert_eq!(
            detect_encoding(&short_latin, &cfg()).0,
            encoding_rs::WINDOWS_1252
        );
    }

    #[test]
    fn markup_and_binary() {
        assert_eq!(
            looks_like_markup("  <!-- x --> <!DOCTYPE html><html>"),
            Some("HTML")
        );
        assert_eq!(looks_like_markup("<?xml version='1.0'?><a/>"), Some("XML"));
        assert_eq!(looks_like_markup("# Title\n<b>x</b>"), None);
        assert!(decode_sample(&[0u8, 1, 2, 3, 200, 17, 5, 9, 0, 0, 3], &cfg()).is_none());
        assert!(decode_sample(b"plain words\n", &cfg()).is_some());
    }

    #[test]
    fn markdown_headings() {
        let c = cfg();
        let mut budget = Budget::new(&c);
        let md =
            "intro\n\n# A\npara a\n\n## B\n```\n# not a heading\n```\n\nSetext\n======\ntext s\n";
        let out = extract(md.as_bytes(), FileType::Md, &mut budget).unwrap();
        let anchors: Vec<_> = out
            .blocks
            .iter()
            .map(|b| (b.text.clone(), b.anchor.clone()))
            .collect();
        let path = |p: &[&str]| Anchor::Heading {
            path: p.iter().map(|s| s.to_string()).collect(),
        };
        assert_eq!(anchors[0], ("intro".into(), path(&[])));
        assert_eq!(anchors[1], ("# A\npara a".into(), path(&["A"])));
        assert_eq!(anchors[2].1, path(&["A", "B"]));
        assert!(anchors[2].0.contains("# not a heading"));
        assert_eq!(anchors[3], ("Setext\ntext s".into(), path(&["Setext"])));
    }

    #[test]
    fn text_line_ranges() {
        let c = cfg();
        let mut budget = Budget::new(&c);
        let out = extract(b"one\ntwo\n\n\nthree\n", FileType::Txt, &mut budget).unwrap();
        assert_eq!(out.blocks[0].anchor, Anchor::Lines { start: 1, end: 2 });
        assert_eq!(out.blocks[1].anchor, Anchor::Lines { start: 5, end: 5 });
    }
}
