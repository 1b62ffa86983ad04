//! Character set of a fetched page: byte order mark, then the `Content-Type` header, then a
//! `<meta>` declaration in the first 1024 bytes, then detection with chardetng (seeded with the
//! host's top-level domain); decoding with encoding_rs.

use chardetng::{EncodingDetector, Iso2022JpDetection, Utf8Detection};
use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE};

/// How far into an HTML document a `<meta charset>` is looked for (the HTML standard's limit).
pub const META_PRESCAN_BYTES: usize = 1024;

/// Where the encoding came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CharsetSource {
    /// A byte order mark.
    Bom,
    /// The `charset` parameter of `Content-Type`.
    Header,
    /// A `<meta>` tag.
    Meta,
    /// Detection from the bytes.
    Detected,
}

/// Decodes a body to text; returns the text, the encoding's name and where it came from.
/// Malformed sequences become U+FFFD.
pub fn decode(
    body: &[u8],
    header_charset: Option<&str>,
    is_html: bool,
    tld: Option<&str>,
) -> (String, &'static str, CharsetSource) {
    if let Some((encoding, bom_len)) = Encoding::for_bom(body) {
        let (text, _) = encoding.decode_without_bom_handling(&body[bom_len..]);
        return (text.into_owned(), encoding.name(), CharsetSource::Bom);
    }
    let (encoding, source) =
        if let Some(enc) = header_charset.and_then(|l| Encoding::for_label(l.trim().as_bytes())) {
            (enc, CharsetSource::Header)
        } else if let Some(enc) = is_html.then(|| meta_charset(body)).flatten() {
            // A document that could declare itself in ASCII is not UTF-16 (HTML standard).
            let enc = if enc == UTF_16LE || enc == UTF_16BE {
                UTF_8
            } else {
                enc
            };
            (enc, CharsetSource::Meta)
        } else {
            let mut detector = EncodingDetector::new(Iso2022JpDetection::Deny);
            detector.feed(body, true);
            (
                detector.guess(tld.map(str::as_bytes), Utf8Detection::Allow),
                CharsetSource::Detected,
            )
        };
    let (text, _) = encoding.decode_without_bom_handling(body);
    (text.into_owned(), encoding.name(), source)
}

/// The encoding a `<meta charset=...>` or `<meta http-equiv="Content-Type" content="...;
/// charset=...">` in the first [`META_PRESCAN_BYTES`] declares. A simplified form of the HTML
/// standard's prescan: it looks for `charset=` inside `<meta ...>` tags, which is what pages
/// use in practice.
pub fn meta_charset(body: &[u8]) -> Option<&'static Encoding> {
    let head = &body[..body.len().min(META_PRESCAN_BYTES)];
    let lower: Vec<u8> = head.to_ascii_lowercase();
    let mut from = 0;
    while let Some(start) = find(&lower[from..], b"<meta").map(|i| i + from) {
        let end = lower[start..]
            .iter()
            .position(|&b| b == b'>')
            .map_or(lower.len(), |i| start + i);
        let tag = &lower[start..end];
        if let Some(pos) = find(tag, b"charset") {
            let rest = &tag[pos + b"charset".len()..];
            let rest = trim_start(rest);
            if let Some(rest) = rest.strip_prefix(b"=") {
                let rest = trim_start(rest);
                let rest = rest
                    .strip_prefix(b"\"")
                    .or_else(|| rest.strip_prefix(b"'"))
                    .unwrap_or(rest);
                let label_len = rest
                    .iter()
                    .position(|b| {
                        !(b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b':' | b'.'))
                    })
                    .unwrap_or(rest.len());
                if let Some(enc) = Encoding::for_label(&rest[..label_len]) {
                    return Some(enc);
                }
            }
        }
        from = end.max(start + 1);
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn trim_start(bytes: &[u8]) -> &[u8] {
    let skip = bytes.iter().take_while(|b| b.is_ascii_whitespace()).count();
    &bytes[skip..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_wins_over_meta() {
        let body = b"<html><head><meta charset=\"utf-8\"></head><body>caf\xe9</body></html>";
        let (text, name, source) = decode(body, Some("windows-1252"), true, None);
        assert!(text.contains("café"));
        assert_eq!((name, source), ("windows-1252", CharsetSource::Header));
    }

    #[test]
    fn meta_forms_are_found() {
        assert_eq!(
            meta_charset(b"<META CHARSET=Shift_JIS>").map(|e| e.name()),
            Some("Shift_JIS")
        );
        let equiv = b"<meta http-equiv=\"Content-Type\" content=\"text/html; charset=iso-8859-1\">";
        assert_eq!(meta_charset(equiv).map(|e| e.name()), Some("windows-1252"));
        assert_eq!(meta_charset(b"<meta name=x content=y>"), None);
        let late = [vec![b' '; 2000], b"<meta charset=koi8-r>".to_vec()].concat();
        assert_eq!(meta_charset(&late), None);
    }

    #[test]
    fn detection_and_bom() {
        let sjis = encoding_rs::SHIFT_JIS
            .encode("日本語のテキストです。これは文字コードの検出のためのテストです。")
            .0;
        let (text, name, source) = decode(&sjis, None, false, Some("jp"));
        assert_eq!((name, source), ("Shift_JIS", CharsetSource::Detected));
        assert!(text.contains("日本語"));
        let (text, _, source) = decode(b"\xef\xbb\xbfhello", Some("windows-1252"), false, None);
        assert_eq!((text.as_str(), source), ("hello", CharsetSource::Bom));
    }
}
