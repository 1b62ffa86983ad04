//! Text normalization applied to every extracted block: line endings, control characters (no
//! NUL ever reaches the store), invisible characters, ligatures, runs of spaces, blank lines,
//! and words hyphenated across a line break.

/// Normalizes extracted text.
///
/// - `\r\n`, `\r` and form feeds become `\n`; other control characters (NUL included) are
///   dropped, tabs are kept (they separate spreadsheet cells);
/// - soft hyphens, zero-width characters and byte-order marks are dropped; typographic
///   ligatures (`ﬁ`) are spelled out;
/// - runs of horizontal white space become one space (one tab when the run has a tab);
///   lines are trimmed; more than one blank line in a row becomes one;
/// - a word split by a hyphen at the end of a line is joined, when it is safe: a lowercase
///   letter before the hyphen, a lowercase letter starting the next line, and no digit or
///   second hyphen around it (`exam-\nple` becomes `example`; `well-\nKnown`, `2019-\n2020`
///   and `--\n` stay).
pub(crate) fn normalize(input: &str) -> String {
    if is_clean(input) {
        return input.to_owned();
    }
    normalize_full(input)
}

/// True when normalizing would not change the text: ASCII without control characters other
/// than single tabs and line breaks, no runs of white space, no white space at line ends, no
/// hyphen at a line end, at most one blank line in a row. (Most spreadsheet rows and many
/// paragraphs; checking is much cheaper than rebuilding.)
fn is_clean(input: &str) -> bool {
    let bytes = input.as_bytes();
    let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else {
        return true;
    };
    if !bytes.is_ascii() || first.is_ascii_whitespace() || last.is_ascii_whitespace() {
        return false;
    }
    let mut prev = 0u8;
    let mut newlines = 0u8;
    for &b in bytes {
        match b {
            b'\n' => {
                newlines += 1;
                if newlines > 2 || matches!(prev, b' ' | b'\t' | b'-') {
                    return false;
                }
            }
            b' ' | b'\t' if matches!(prev, b' ' | b'\t' | b'\n') => return false,
            b' ' | b'\t' => newlines = 0,
            0..=0x1F | 0x7F => return false,
            _ => newlines = 0,
        }
        prev = b;
    }
    true
}

fn normalize_full(input: &str) -> String {
    let cleaned = clean_chars(input);
    let mut lines: Vec<String> = Vec::new();
    let mut blank_run = 0usize;
    for raw in cleaned.split('\n') {
        let line = collapse_spaces(raw);
        if line.is_empty() {
            blank_run += 1;
            if blank_run == 1 && !lines.is_empty() {
                lines.push(String::new());
            }
            continue;
        }
        blank_run = 0;
        if let Some(prev) = lines.last_mut()
            && joinable_hyphen(prev, &line)
        {
            prev.pop();
            prev.push_str(&line);
            continue;
        }
        lines.push(line);
    }
    while lines.last().is_some_and(String::is_empty) {
        lines.pop();
    }
    lines.join("\n")
}

fn clean_chars(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    let mut chars = input.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() != Some(&'\n') {
                    out.push('\n');
                }
            }
            '\n' | '\u{000C}' | '\u{2028}' | '\u{2029}' => out.push('\n'),
            '\t' => out.push('\t'),
            '\u{00AD}' | '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' => {}
            '\u{FB00}' => out.push_str("ff"),
            '\u{FB01}' => out.push_str("fi"),
            '\u{FB02}' => out.push_str("fl"),
            '\u{FB03}' => out.push_str("ffi"),
            '\u{FB04}' => out.push_str("ffl"),
            '\u{FB05}' | '\u{FB06}' => out.push_str("st"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

fn collapse_spaces(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut pending: Option<char> = None;
    for c in line.chars() {
        if c == '\t' {
            pending = Some('\t');
        } else if c.is_whitespace() {
            if pending.is_none() {
                pending = Some(' ');
            }
        } else {
            if let Some(sep) = pending.take()
                && (!out.is_empty() || sep == '\t')
            {
                out.push(sep);
            }
            out.push(c);
        }
    }
    // A trailing tab keeps an empty last cell visible; trailing spaces go.
    if pending == Some('\t') && !out.is_empty() {
        out.push('\t');
    }
    out
}

fn joinable_hyphen(prev: &str, next: &str) -> bool {
    let mut back = prev.chars().rev();
    if back.next() != Some('-') {
        return false;
    }
    let before = back.next();
    let before2 = back.next();
    let after = next.chars().next();
    matches!(before, Some(b) if b.is_lowercase())
        && matches!(after, Some(a) if a.is_lowercase())
        && !matches!(before2, Some('-'))
        && !prev.contains('\t')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_line_endings() {
        assert_eq!(normalize("a\0b\r\nc\rd\u{0007}e"), "ab\nc\nde");
        assert_eq!(normalize("\u{FEFF}of\u{FB01}ce\u{00AD}s"), "offices");
        assert!(!normalize("x\0\0y").contains('\0'));
    }

    #[test]
    fn spaces_and_blank_lines() {
        assert_eq!(normalize("  a \u{00A0}  b  \n\n\n\n c \n\n"), "a b\n\nc");
        assert_eq!(normalize("x\t\ty"), "x\ty");
        assert_eq!(normalize("a\t \t b\t"), "a\tb\t");
        assert_eq!(normalize("\tb"), "\tb");
    }

    #[test]
    fn clean_text_takes_the_fast_path_unchanged() {
        for clean in [
            "a b",
            "row\tvalue\t3.5",
            "one\ntwo\n\nthree",
            "x-y z",
            "a\tb\tc\nd\te",
        ] {
            assert!(is_clean(clean), "{clean:?}");
            assert_eq!(normalize_full(clean), clean);
        }
        for dirty in [
            " a",
            "a ",
            "a  b",
            "a\n\n\nb",
            "exam-\nple",
            "a \nb",
            "a\n b",
            "a\t\tb",
            "café",
            "a\rb",
            "\ta",
        ] {
            assert!(!is_clean(dirty), "{dirty:?}");
        }
    }

    #[test]
    fn hyphenation() {
        assert_eq!(normalize("the exam-\nple works"), "the example works");
        assert_eq!(normalize("well-\nKnown"), "well-\nKnown");
        assert_eq!(normalize("2019-\n2020"), "2019-\n2020");
        assert_eq!(normalize("a --\nb"), "a --\nb");
        assert_eq!(normalize("e- \n  mail"), "email");
    }
}
