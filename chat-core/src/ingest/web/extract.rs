//! Main-content extraction from HTML with scraper (html5ever), by explicit rules, plus page
//! metadata (title, description, canonical URL, language, OpenGraph).
//!
//! The rules, in order:
//! 1. The content root is the first `<main>` (or `role="main"`) element when it holds at least a
//!    quarter of the page's text; else the `<article>` with the most text when it holds at
//!    least a quarter; else `<body>`.
//! 2. Under the root these elements are dropped with everything inside them:
//!    - by tag: `script`, `style`, `noscript`, `template`, `nav`, `aside`, `footer`, `form`,
//!      `button`, `select`, `input`, `textarea`, `iframe`, `frame`, `object`, `embed`, `canvas`,
//!      `svg`, `dialog`, `menu`, and `header` unless it is inside an `<article>` (an article's
//!      own title block);
//!    - hidden ones: the `hidden` attribute, `aria-hidden="true"`, an inline style with
//!      `display:none` or `visibility:hidden`;
//!    - by ARIA role: `navigation`, `banner`, `contentinfo`, `complementary`, `search`,
//!      `dialog`, `alertdialog`, `menu`, `menubar`, `toolbar`;
//!    - by class or id: when a word of it (split at `-`, `_`, spaces, camel case is not split)
//!      is one of [`BOILERPLATE_WORDS`] (`sidebar`, `cookie`, `consent`, `breadcrumb`, `share`,
//!      `related`, `comments`, `newsletter`, `ad`, ...), unless the element holds more than
//!      half of the root's text (then it is a layout wrapper such as `with-sidebar`, not the
//!      sidebar itself);
//!    - link lists: a `ul`, `ol`, `div`, `section`, `table` or `td` with less than 2,000
//!      characters of which more than 60 % are link text.
//! 3. What remains is written as light Markdown: headings as `#` lines, list items as `- `,
//!    paragraphs separated by blank lines, `<pre>` kept verbatim, whitespace collapsed.
//!
//! The output is untrusted text from the web: callers fence it as data in prompts.

use std::collections::{BTreeMap, HashMap};

use ego_tree::iter::Edge;
use ego_tree::{NodeId, NodeRef};
use scraper::{ElementRef, Html, Node, Selector};
use serde_json::Value;
use url::Url;

use crate::model::Metadata;

/// Words of class and id attributes that mark boilerplate.
pub const BOILERPLATE_WORDS: &[&str] = &[
    "nav",
    "navbar",
    "navigation",
    "menu",
    "menubar",
    "sidebar",
    "footer",
    "masthead",
    "breadcrumb",
    "breadcrumbs",
    "cookie",
    "cookies",
    "consent",
    "gdpr",
    "banner",
    "ad",
    "ads",
    "advert",
    "adverts",
    "advertisement",
    "sponsor",
    "sponsored",
    "promo",
    "share",
    "sharing",
    "social",
    "related",
    "recommended",
    "comment",
    "comments",
    "newsletter",
    "subscribe",
    "signup",
    "popup",
    "modal",
    "overlay",
    "skip",
    "toolbar",
    "pagination",
    "pager",
    "widget",
    "sitemap",
];

const DROPPED_TAGS: &[&str] = &[
    "script", "style", "noscript", "template", "nav", "aside", "footer", "form", "button",
    "select", "input", "textarea", "iframe", "frame", "frameset", "object", "embed", "canvas",
    "svg", "dialog", "menu", "head", "link", "meta",
];

const BOILERPLATE_ROLES: &[&str] = &[
    "navigation",
    "banner",
    "contentinfo",
    "complementary",
    "search",
    "dialog",
    "alertdialog",
    "menu",
    "menubar",
    "toolbar",
];

const BLOCK_TAGS: &[&str] = &[
    "p",
    "div",
    "section",
    "article",
    "main",
    "header",
    "ul",
    "ol",
    "li",
    "pre",
    "blockquote",
    "table",
    "thead",
    "tbody",
    "tfoot",
    "tr",
    "dl",
    "dt",
    "dd",
    "figure",
    "figcaption",
    "br",
    "hr",
    "address",
    "details",
    "summary",
    "body",
    "center",
    "fieldset",
    "caption",
];

const LINK_LIST_TAGS: &[&str] = &["ul", "ol", "div", "section", "table", "td"];
/// Longest block considered for the link-list rule.
const LINK_LIST_MAX_CHARS: usize = 2000;
/// Link-text share above which a short block is a link list.
const LINK_LIST_DENSITY: f64 = 0.6;
/// Longest metadata value kept, in characters.
const MAX_META_CHARS: usize = 1000;
/// Most OpenGraph properties kept.
const MAX_OG_PROPERTIES: usize = 50;

/// Metadata of a page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PageMetadata {
    /// `<meta name="description">`, else `og:description`.
    pub description: Option<String>,
    /// `<link rel="canonical">`, resolved against the page URL (http/https only).
    pub canonical_url: Option<String>,
    /// `<html lang>`, else `Content-Language` in a meta tag, else `og:locale`.
    pub language: Option<String>,
    /// `og:*` properties (first value of each).
    pub open_graph: BTreeMap<String, String>,
}

impl PageMetadata {
    /// As a JSON object (`description`, `canonical_url`, `language`, `open_graph`).
    pub fn to_json(&self) -> Metadata {
        let mut map = Metadata::new();
        let mut put = |key: &str, value: &Option<String>| {
            if let Some(v) = value {
                map.insert(key.into(), Value::String(v.clone()));
            }
        };
        put("description", &self.description);
        put("canonical_url", &self.canonical_url);
        put("language", &self.language);
        if !self.open_graph.is_empty() {
            let og = self
                .open_graph
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            map.insert("open_graph".into(), Value::Object(og));
        }
        map
    }
}

/// What extraction found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExtractedPage {
    /// `<title>`, else `og:title`, else the first `<h1>`.
    pub title: Option<String>,
    /// The main text as light Markdown (see the module docs).
    pub text: String,
    /// Description, canonical URL, language, OpenGraph.
    pub metadata: PageMetadata,
}

/// Extracts the main content and metadata of an HTML document. `base` resolves relative
/// links; `max_text_bytes` caps the text (cut at a character boundary).
pub fn extract_html(html: &str, base: Option<&Url>, max_text_bytes: usize) -> ExtractedPage {
    let doc = Html::parse_document(cap_nesting(html, MAX_NESTING));
    let metadata = metadata(&doc, base);
    let title = first_text(&doc, "title")
        .or_else(|| metadata.open_graph.get("og:title").cloned())
        .or_else(|| first_text(&doc, "h1"));
    let lengths = text_lengths(&doc);
    let root = content_root(&doc, &lengths);
    let text = root.map(|root| render(root, &lengths)).unwrap_or_default();
    ExtractedPage {
        title,
        text: truncate(text, max_text_bytes),
        metadata,
    }
}

/// Turns a plain-text page into the same light Markdown: paragraphs separated by blank lines,
/// lines trimmed, a leading `#` escaped.
pub fn extract_plain(text: &str, max_text_bytes: usize) -> ExtractedPage {
    let mut out = String::new();
    for paragraph in text.split("\n\n") {
        let lines: Vec<&str> = paragraph
            .lines()
            .map(str::trim_end)
            .filter(|l| !l.trim().is_empty())
            .collect();
        if lines.is_empty() {
            continue;
        }
        push_block(&mut out, &escape_paragraph(&lines.join("\n")));
    }
    ExtractedPage {
        title: None,
        text: truncate(out, max_text_bytes),
        metadata: PageMetadata::default(),
    }
}

/// Deepest tag nesting parsed; the document is cut where a cheap scan estimates it deeper.
pub const MAX_NESTING: usize = 512;

/// Elements that never hold others, or that the parser closes by itself when the next one
/// starts: not counted as nesting.
const NOT_NESTING: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr", "param", "keygen", "p", "li", "dt", "dd", "option", "optgroup", "tr", "td", "th",
    "thead", "tbody", "tfoot", "colgroup", "caption", "rb", "rt", "rp", "html", "head", "body",
];

/// Elements whose content is raw text (no tags inside).
const RAW_TEXT: &[&str] = &[
    "script",
    "style",
    "textarea",
    "title",
    "xmp",
    "noembed",
    "noframes",
    "plaintext",
];

/// The HTML parser (html5ever) checks the stack of open elements on every tag, so deeply
/// nested markup (say 50,000 unclosed `<div>`s, or `<b>`s) costs quadratic time. This scan
/// estimates the nesting depth (start tags minus end tags, leaving out void and self-closing
/// elements and those the parser closes implicitly, skipping comments and raw text) and cuts
/// the document where the estimate passes `max_depth`; what comes before is still extracted.
pub fn cap_nesting(html: &str, max_depth: usize) -> &str {
    let bytes = html.as_bytes();
    let mut depth: usize = 0;
    let mut i = 0;
    while let Some(offset) = bytes[i..].iter().position(|&b| b == b'<') {
        let start = i + offset;
        let rest = &bytes[start + 1..];
        if rest.starts_with(b"!--") {
            i = find_from(bytes, start + 4, b"-->").map_or(bytes.len(), |e| e + 3);
            continue;
        }
        let closing = rest.first() == Some(&b'/');
        let name_start = start + 1 + usize::from(closing);
        let name_len = bytes[name_start..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric())
            .count();
        if name_len == 0 || !bytes[name_start].is_ascii_alphabetic() {
            i = start + 1;
            continue;
        }
        let name = html[name_start..name_start + name_len].to_ascii_lowercase();
        let tag_end = bytes[name_start..]
            .iter()
            .position(|&b| b == b'>')
            .map_or(bytes.len(), |e| name_start + e);
        let self_closing = bytes.get(tag_end.wrapping_sub(1)) == Some(&b'/');
        i = (tag_end + 1).min(bytes.len());
        if closing {
            if !NOT_NESTING.contains(&name.as_str()) {
                depth = depth.saturating_sub(1);
            }
            continue;
        }
        if RAW_TEXT.contains(&name.as_str()) && !self_closing {
            let close = format!("</{name}");
            i = find_from_ignore_case(bytes, i, close.as_bytes()).unwrap_or(bytes.len());
            continue;
        }
        if self_closing || NOT_NESTING.contains(&name.as_str()) {
            continue;
        }
        depth += 1;
        if depth > max_depth {
            return &html[..start];
        }
    }
    html
}

fn find_from(haystack: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

fn find_from_ignore_case(haystack: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
        .map(|p| p + from)
}

fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

fn selector(css: &str) -> Option<Selector> {
    Selector::parse(css).ok()
}

fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn clip(text: String) -> String {
    match text.char_indices().nth(MAX_META_CHARS) {
        Some((i, _)) => text[..i].to_owned(),
        None => text,
    }
}

fn first_text(doc: &Html, css: &str) -> Option<String> {
    let sel = selector(css)?;
    let text = collapse(&doc.select(&sel).next()?.text().collect::<String>());
    (!text.is_empty()).then(|| clip(text))
}

fn meta_content(doc: &Html, css: &str) -> Option<String> {
    let sel = selector(css)?;
    doc.select(&sel)
        .filter_map(|e| e.attr("content"))
        .map(collapse)
        .find(|v| !v.is_empty())
        .map(clip)
}

fn metadata(doc: &Html, base: Option<&Url>) -> PageMetadata {
    let mut open_graph = BTreeMap::new();
    if let Some(sel) = selector("meta[property]") {
        for el in doc.select(&sel) {
            let (Some(prop), Some(content)) = (el.attr("property"), el.attr("content")) else {
                continue;
            };
            let prop = prop.trim().to_ascii_lowercase();
            if prop.starts_with("og:")
                && open_graph.len() < MAX_OG_PROPERTIES
                && !open_graph.contains_key(&prop)
            {
                open_graph.insert(prop, clip(collapse(content)));
            }
        }
    }
    let description = meta_content(doc, "meta[name=description], meta[name=Description]")
        .or_else(|| open_graph.get("og:description").cloned());
    let canonical_url = selector("link[rel][href]").and_then(|sel| {
        doc.select(&sel)
            .filter(|e| {
                e.attr("rel").is_some_and(|r| {
                    r.split_whitespace()
                        .any(|t| t.eq_ignore_ascii_case("canonical"))
                })
            })
            .filter_map(|e| e.attr("href"))
            .filter_map(|href| match base {
                Some(base) => base.join(href.trim()).ok(),
                None => Url::parse(href.trim()).ok(),
            })
            .find(|u| matches!(u.scheme(), "http" | "https"))
            .map(|u| clip(u.to_string()))
    });
    let language = selector("html[lang]")
        .and_then(|sel| {
            doc.select(&sel)
                .next()
                .and_then(|e| e.attr("lang"))
                .map(|l| l.trim().to_owned())
        })
        .filter(|l| !l.is_empty())
        .or_else(|| {
            meta_content(
                doc,
                "meta[http-equiv=content-language], meta[http-equiv=Content-Language]",
            )
        })
        .or_else(|| open_graph.get("og:locale").cloned())
        .map(clip);
    PageMetadata {
        description,
        canonical_url,
        language,
        open_graph,
    }
}

/// Visible text length and link-text length of every element, in one pass (no recursion, so
/// deeply nested hostile markup cannot overflow the stack).
struct Lengths {
    text: HashMap<NodeId, usize>,
    links: HashMap<NodeId, usize>,
}

fn text_lengths(doc: &Html) -> Lengths {
    let mut text = HashMap::new();
    let mut links = HashMap::new();
    // (node, text so far, link text so far)
    let mut stack: Vec<(NodeId, usize, usize)> = Vec::new();
    let mut invisible = 0usize;
    let mut in_link = 0usize;
    for edge in doc.tree.root().traverse() {
        match edge {
            Edge::Open(node) => match node.value() {
                Node::Element(el) => {
                    let name = el.name();
                    if matches!(name, "script" | "style" | "noscript" | "template") {
                        invisible += 1;
                    }
                    if name == "a" {
                        in_link += 1;
                    }
                    stack.push((node.id(), 0, 0));
                }
                Node::Text(t) if invisible == 0 => {
                    if let Some(top) = stack.last_mut() {
                        let n = t.trim().chars().count();
                        top.1 += n;
                        if in_link > 0 {
                            top.2 += n;
                        }
                    }
                }
                _ => {}
            },
            Edge::Close(node) => {
                if let Node::Element(el) = node.value() {
                    let name = el.name();
                    if matches!(name, "script" | "style" | "noscript" | "template") {
                        invisible = invisible.saturating_sub(1);
                    }
                    if name == "a" {
                        in_link = in_link.saturating_sub(1);
                    }
                    if let Some((id, t, l)) = stack.pop() {
                        text.insert(id, t);
                        links.insert(id, l);
                        if let Some(parent) = stack.last_mut() {
                            parent.1 += t;
                            parent.2 += l;
                        }
                    }
                }
            }
        }
    }
    Lengths { text, links }
}

fn content_root<'a>(doc: &'a Html, lengths: &Lengths) -> Option<ElementRef<'a>> {
    let len = |e: &ElementRef<'_>| lengths.text.get(&e.id()).copied().unwrap_or(0);
    let body = selector("body").and_then(|s| doc.select(&s).next())?;
    let total = len(&body).max(1);
    let main = selector("main, [role=main]").and_then(|s| doc.select(&s).next());
    if let Some(main) = main.filter(|m| len(m) * 4 >= total) {
        return Some(main);
    }
    let article = selector("article").and_then(|s| doc.select(&s).max_by_key(|a| len(a)));
    if let Some(article) = article.filter(|a| len(a) * 4 >= total) {
        return Some(article);
    }
    Some(body)
}

fn words(attr: &str) -> impl Iterator<Item = String> + '_ {
    attr.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
}

/// Whether an element under the root is dropped (module docs, rule 2).
fn is_boilerplate(node: NodeRef<'_, Node>, root_len: usize, lengths: &Lengths) -> bool {
    let Node::Element(el) = node.value() else {
        return false;
    };
    let name = el.name();
    if DROPPED_TAGS.contains(&name) {
        return true;
    }
    if name == "header" {
        let in_article = node
            .ancestors()
            .any(|a| matches!(a.value(), Node::Element(e) if e.name() == "article"));
        if !in_article {
            return true;
        }
    }
    if el.attr("hidden").is_some()
        || el
            .attr("aria-hidden")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    {
        return true;
    }
    if let Some(style) = el.attr("style") {
        let style: String = style
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_lowercase();
        if style.contains("display:none") || style.contains("visibility:hidden") {
            return true;
        }
    }
    if let Some(role) = el.attr("role") {
        if role
            .split_whitespace()
            .any(|r| BOILERPLATE_ROLES.contains(&r.to_ascii_lowercase().as_str()))
        {
            return true;
        }
    }
    let len = lengths.text.get(&node.id()).copied().unwrap_or(0);
    let marked = el
        .attr("class")
        .into_iter()
        .chain(el.attr("id"))
        .any(|attr| words(attr).any(|w| BOILERPLATE_WORDS.contains(&w.as_str())));
    if marked && len * 2 <= root_len {
        return true;
    }
    if LINK_LIST_TAGS.contains(&name) && len > 0 && len < LINK_LIST_MAX_CHARS {
        let links = lengths.links.get(&node.id()).copied().unwrap_or(0);
        // Lengths are character counts well below 2^52, exact in f64.
        #[allow(clippy::cast_precision_loss)]
        let density = links as f64 / len as f64;
        if density > LINK_LIST_DENSITY {
            return true;
        }
    }
    false
}

/// Writer of the light Markdown output.
#[derive(Default)]
struct Writer {
    out: String,
    paragraph: String,
    heading: Option<usize>,
    pre: usize,
    list_item: bool,
}

impl Writer {
    fn text(&mut self, text: &str) {
        if self.pre > 0 {
            self.paragraph.push_str(text);
            return;
        }
        for word in text.split_whitespace() {
            if !self.paragraph.is_empty() && !self.paragraph.ends_with(' ') {
                self.paragraph.push(' ');
            }
            self.paragraph.push_str(word);
        }
        if text.ends_with(char::is_whitespace)
            && !self.paragraph.is_empty()
            && !self.paragraph.ends_with(' ')
        {
            self.paragraph.push(' ');
        }
    }

    fn flush(&mut self) {
        let raw = std::mem::take(&mut self.paragraph);
        let text = if self.pre > 0 {
            raw.trim_matches('\n').to_owned()
        } else {
            raw.trim().to_owned()
        };
        if text.is_empty() {
            return;
        }
        let block = match self.heading {
            Some(level) => format!("{} {}", "#".repeat(level), text),
            None if self.list_item => format!("- {text}"),
            None => escape_paragraph(&text),
        };
        push_block(&mut self.out, &block);
    }
}

fn push_block(out: &mut String, block: &str) {
    if !out.is_empty() {
        out.push_str("\n\n");
    }
    out.push_str(block);
}

/// A paragraph that starts like a Markdown heading is escaped so the chunker does not take it
/// for one.
fn escape_paragraph(text: &str) -> String {
    if text.starts_with('#') {
        format!("\\{text}")
    } else {
        text.to_owned()
    }
}

fn heading_level(name: &str) -> Option<usize> {
    match name {
        "h1" => Some(1),
        "h2" => Some(2),
        "h3" => Some(3),
        "h4" => Some(4),
        "h5" => Some(5),
        "h6" => Some(6),
        _ => None,
    }
}

fn render(root: ElementRef<'_>, lengths: &Lengths) -> String {
    let root_len = lengths.text.get(&root.id()).copied().unwrap_or(0);
    let mut w = Writer::default();
    let mut skipping: Option<NodeId> = None;
    for edge in root.traverse() {
        match edge {
            Edge::Open(node) => {
                if skipping.is_some() {
                    continue;
                }
                match node.value() {
                    Node::Element(el) => {
                        if node.id() != root.id() && is_boilerplate(node, root_len, lengths) {
                            skipping = Some(node.id());
                            continue;
                        }
                        let name = el.name();
                        if let Some(level) = heading_level(name) {
                            w.flush();
                            w.heading = Some(level);
                        } else if name == "pre" {
                            w.flush();
                            w.pre += 1;
                        } else if name == "li" {
                            w.flush();
                            w.list_item = true;
                        } else if matches!(name, "td" | "th") {
                            w.text(" ");
                        } else if BLOCK_TAGS.contains(&name) && w.pre == 0 {
                            w.flush();
                        }
                    }
                    Node::Text(t) => w.text(t),
                    _ => {}
                }
            }
            Edge::Close(node) => {
                if let Some(id) = skipping {
                    if id == node.id() {
                        skipping = None;
                    }
                    continue;
                }
                if let Node::Element(el) = node.value() {
                    let name = el.name();
                    if heading_level(name).is_some() {
                        w.flush();
                        w.heading = None;
                    } else if name == "pre" {
                        w.flush();
                        w.pre = w.pre.saturating_sub(1);
                    } else if name == "li" {
                        w.flush();
                        w.list_item = false;
                    } else if BLOCK_TAGS.contains(&name) && w.pre == 0 {
                        w.flush();
                    }
                }
            }
        }
    }
    w.flush();
    w.out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boilerplate_is_dropped_and_structure_kept() {
        let html = r#"<html lang="en"><head><title> The  Title </title>
            <meta name="description" content="About things">
            <meta property="og:title" content="OG title"><meta property="og:type" content="article">
            <link rel="canonical" href="/canonical"></head>
            <body><header><h1>Site name</h1></header>
            <nav><a href="/">Home</a></nav>
            <div class="with-sidebar"><div id="cookie-banner">We use cookies</div>
            <article><header><h1>Article heading</h1></header>
            <p>First   paragraph with <b>bold</b> text.</p><h2>Section</h2><ul><li>one</li><li>two</li></ul>
            <script>var x = 1;</script><div class="share-buttons">Share this</div>
            <p style="display: none">hidden text</p><pre>line 1
  line 2</pre></article>
            <aside>Sidebar stuff</aside></div><footer>Copyright</footer></body></html>"#;
        let base = Url::parse("https://example.com/a/b").unwrap();
        let page = extract_html(html, Some(&base), 1 << 20);
        assert_eq!(page.title.as_deref(), Some("The Title"));
        assert_eq!(
            page.text,
            "# Article heading\n\nFirst paragraph with bold text.\n\n## Section\n\n- one\n\n- two\n\nline 1\n  line 2"
        );
        assert_eq!(page.metadata.description.as_deref(), Some("About things"));
        assert_eq!(
            page.metadata.canonical_url.as_deref(),
            Some("https://example.com/canonical")
        );
        assert_eq!(page.metadata.language.as_deref(), Some("en"));
        assert_eq!(
            page.metadata.open_graph.get("og:type").map(String::as_str),
            Some("article")
        );
    }

    #[test]
    fn link_lists_and_wrappers() {
        let html = r#"<body><div class="layout has-sidebar"><p>Main text that is long enough to be the bulk of the page content here.</p>
            <ul><li><a href="/1">Link one</a></li><li><a href="/2">Link two</a></li></ul></div></body>"#;
        let page = extract_html(html, None, 1 << 20);
        assert_eq!(
            page.text,
            "Main text that is long enough to be the bulk of the page content here."
        );
    }

    #[test]
    fn deep_nesting_is_cut_and_fast() {
        let started = std::time::Instant::now();
        let html = format!(
            "<p>before</p>{}<p>deep</p>{}",
            "<div>".repeat(50_000),
            "</div>".repeat(50_000)
        );
        let page = extract_html(&html, None, 1 << 20);
        assert_eq!(page.text, "before");
        let bold = format!("<p>x{}", "<b>y".repeat(100_000));
        let page = extract_html(&bold, None, 1 << 20);
        assert!(page.text.starts_with("x y y"), "{}", &page.text[..20]);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "{:?}",
            started.elapsed()
        );
        // Flat markup, comments and scripts do not count as nesting.
        let flat = format!(
            "{}<!-- <div><div> --><script>if (a<b) {{ x('<div>') }}</script>",
            "<p>para</p><br><img src=x>".repeat(5000)
        );
        assert_eq!(cap_nesting(&flat, 3), flat);
        assert_eq!(cap_nesting("<div><div><div><div>x", 3), "<div><div><div>");
        assert_eq!(
            cap_nesting("<div></div><div></div><div/><div>x", 1),
            "<div></div><div></div><div/><div>x"
        );
    }

    #[test]
    fn plain_text_and_limits() {
        let page = extract_plain("# not a heading\nline two\n\n\n\nsecond para", 1 << 20);
        assert_eq!(page.text, "\\# not a heading\nline two\n\nsecond para");
        let page = extract_plain(&"é".repeat(100), 11);
        assert_eq!(page.text.len(), 10);
    }
}
