//! DOCX: the main document, headers, footers, footnotes and endnotes streamed with quick-xml
//! over the size-limited zip reader of [`Package`].
//!
//! Not docx-rs: measured with docx-rs 0.4.22, it loops forever on about one in ten mutated DOCX
//! files (and on an XLSX passed as DOCX), panics on corrupt deflate data and inflates zip
//! bombs fully (2.3 GB, or an abort that cannot be caught). Streaming the XML ourselves keeps
//! memory at one XML event plus the text, time linear in the part size, and every limit ours.
//!
//! What is kept: paragraphs in order; headings (by style, through `styles.xml`, or outline
//! level) as heading paths; list items as `- ` lines indented by level; tables as blocks of
//! rows, one per line, cells joined by ` | `; text of hyperlinks, fields and text boxes; line breaks and tabs. What is
//! left out: tracked deletions (`w:del`, `w:moveFrom`), field instructions, and the
//! fallback copy of alternate content (it repeats the choice).

use std::collections::{HashMap, HashSet};
use std::io::BufRead;

use quick_xml::events::{BytesStart, Event};

use super::extraction::{Anchor, Budget, Extraction, HeadingPath};
use super::package::{Package, dtd_refused, xml_error};
use super::{FileType, IngestError};

/// Cell separator of table rows.
const CELL_SEPARATOR: &str = " | ";
/// A table is one block of rows (one per line), emitted in pieces of about this size so a huge
/// table never piles up in memory before the text limit sees it.
const TABLE_BLOCK_BYTES: usize = 16 * 1024;

/// Extracts a DOCX package.
///
/// Errors: `Corrupt` (missing or malformed parts), `TooLarge` (part or text limits),
/// `Timeout`.
pub(crate) fn extract(bytes: &[u8], budget: &mut Budget<'_>) -> Result<Extraction, IngestError> {
    let mut package = Package::open(bytes, budget.config)?;
    let kind = package.kind()?;
    if kind.file_type != FileType::Docx {
        return Err(IngestError::UnsupportedMediaType(format!(
            "expected a DOCX file, found {}",
            kind.file_type
        )));
    }
    let main = kind.main_part.unwrap_or_else(|| "word/document.xml".into());
    let dir = main.rsplit_once('/').map_or("", |(d, _)| d).to_owned();
    let prefix = if dir.is_empty() {
        String::new()
    } else {
        format!("{dir}/")
    };
    let styles = read_styles(&mut package, &format!("{prefix}styles.xml"), budget)?;

    let mut out = Extraction::new(FileType::Docx);
    let mut walker = Walker::new(&styles, Section::Body);
    walk_part(&mut package, &main, &mut walker, budget, &mut out)?;

    let names: Vec<String> = package_names(&package, &prefix);
    for (section, pattern) in [(Section::Header, "header"), (Section::Footer, "footer")] {
        for name in names.iter().filter(|n| part_matches(n, &prefix, pattern)) {
            let mut walker = Walker::new(&styles, section);
            walk_part(&mut package, name, &mut walker, budget, &mut out)?;
        }
    }
    for name in ["footnotes.xml", "endnotes.xml"] {
        let full = format!("{prefix}{name}");
        if package.has(&full) {
            let mut walker = Walker::new(&styles, Section::Notes);
            walk_part(&mut package, &full, &mut walker, budget, &mut out)?;
        }
    }
    Ok(out)
}

fn package_names(package: &Package<'_>, prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = package.names().filter(|n| n.starts_with(prefix)).collect();
    names.sort();
    names
}

/// `word/header2.xml` for pattern `header`.
fn part_matches(name: &str, prefix: &str, pattern: &str) -> bool {
    name.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix(pattern))
        .and_then(|rest| rest.strip_suffix(".xml"))
        .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
}

fn walk_part(
    package: &mut Package<'_>,
    name: &str,
    walker: &mut Walker<'_>,
    budget: &mut Budget<'_>,
    out: &mut Extraction,
) -> Result<(), IngestError> {
    let limit = package.part_limit();
    let reader = package.part(name, limit)?;
    walker.run(reader, name, budget, out)
}

/// What paragraph styles mean for the text: heading levels (from names like "heading 2",
/// "Title", or an outline level) and list styles (with numbering), following `basedOn`.
#[derive(Debug, Default)]
struct Styles {
    headings: HashMap<String, u8>,
    lists: HashSet<String>,
}

#[derive(Debug, Default)]
struct StyleInfo {
    level: Option<u8>,
    based_on: Option<String>,
    list: bool,
}

/// Reads `styles.xml`.
fn read_styles(
    package: &mut Package<'_>,
    name: &str,
    budget: &mut Budget<'_>,
) -> Result<Styles, IngestError> {
    if !package.has(name) {
        return Ok(Styles::default());
    }
    let reader = package.part(name, budget.config.max_loaded_part_bytes)?;
    let mut xml = quick_xml::Reader::from_reader(reader);
    let mut buf = Vec::new();
    let mut raw: HashMap<String, StyleInfo> = HashMap::new();
    let mut current: Option<String> = None;
    let mut depth = 0usize;
    loop {
        budget.tick()?;
        let event = xml
            .read_event_into(&mut buf)
            .map_err(|e| xml_error(&e, name))?;
        let element = match &event {
            Event::Eof => break,
            Event::DocType(_) => return Err(dtd_refused(name)),
            Event::Start(e) => {
                depth += 1;
                if depth > budget.config.max_xml_depth {
                    return Err(IngestError::corrupt(format!("{name} is nested too deeply")));
                }
                Some(e)
            }
            Event::Empty(e) => Some(e),
            Event::End(e) => {
                depth = depth.saturating_sub(1);
                if e.local_name().as_ref() == "style" {
                    current = None;
                }
                None
            }
            _ => None,
        };
        let Some(e) = element else {
            buf.clear();
            continue;
        };
        let local = e.local_name();
        if local.as_ref() == "style" {
            current = attr(e, "styleId");
            if let Some(id) = &current {
                raw.entry(id.clone()).or_default();
            }
        } else if let Some(info) = current.as_ref().and_then(|id| raw.get_mut(id)) {
            match local.as_ref() {
                "name" if info.level.is_none() => {
                    info.level = attr(e, "val").and_then(|v| heading_level_of_name(&v))
                }
                "outlineLvl" => {
                    if let Some(level) = attr(e, "val")
                        .and_then(|v| v.parse::<u8>().ok())
                        .filter(|l| *l < 9)
                    {
                        info.level = Some(level + 1);
                    }
                }
                "basedOn" => info.based_on = attr(e, "val"),
                "numPr" => info.list = true,
                _ => {}
            }
        }
        buf.clear();
    }
    let mut styles = Styles::default();
    for id in raw.keys() {
        let mut at = id.as_str();
        let mut level = None;
        let mut list = false;
        // Follow `basedOn` a few steps (cycles end there).
        for _ in 0..8 {
            let Some(info) = raw.get(at) else { break };
            list |= info.list;
            level = level.or(info.level);
            match &info.based_on {
                Some(parent) if level.is_none() || !list => at = parent,
                _ => break,
            }
        }
        if let Some(level) = level {
            styles.headings.insert(id.clone(), level);
        } else if list {
            styles.lists.insert(id.clone());
        }
    }
    Ok(styles)
}

/// "heading 3" -> 3, "Title" -> 0.
fn heading_level_of_name(name: &str) -> Option<u8> {
    let lower = name.trim().to_ascii_lowercase();
    if lower == "title" {
        return Some(0);
    }
    let n = lower.strip_prefix("heading")?.trim().parse::<u8>().ok()?;
    (1..=9).contains(&n).then_some(n)
}

/// The value of an attribute by local name (prefixes vary between producers).
fn attr(e: &BytesStart<'_>, local: &str) -> Option<String> {
    e.attributes().flatten().find_map(|a| {
        let key = a.key.as_ref();
        let key_local = key.rsplit_once(':').map_or(key, |(_, l)| l);
        (key_local == local)
            .then(|| {
                a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                    .ok()
                    .map(|v| v.into_owned())
            })
            .flatten()
    })
}

/// Which part is being walked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Body,
    Header,
    Footer,
    Notes,
}

/// A paragraph being read.
#[derive(Debug, Default)]
struct Para {
    text: String,
    style_level: Option<u8>,
    list_level: Option<usize>,
}

/// A table being read.
#[derive(Debug, Default)]
struct Table {
    cells: Vec<String>,
    cell: String,
    /// Finished rows not yet emitted, one per line.
    rows: String,
}

/// The streaming state over one part.
struct Walker<'s> {
    styles: &'s Styles,
    section: Section,
    headings: HeadingPath,
    paras: Vec<Para>,
    tables: Vec<Table>,
    /// Depth at which a skipped subtree (deletion, field instruction, fallback) started.
    skip_from: Option<usize>,
    in_text: bool,
    in_ppr: bool,
    depth: usize,
}

impl<'s> Walker<'s> {
    fn new(styles: &'s Styles, section: Section) -> Self {
        Self {
            styles,
            section,
            headings: HeadingPath::default(),
            paras: Vec::new(),
            tables: Vec::new(),
            skip_from: None,
            in_text: false,
            in_ppr: false,
            depth: 0,
        }
    }

    fn anchor(&self) -> Anchor {
        match self.section {
            Section::Body => self.headings.anchor(),
            Section::Header => Anchor::Heading {
                path: vec!["Header".into()],
            },
            Section::Footer => Anchor::Heading {
                path: vec!["Footer".into()],
            },
            Section::Notes => Anchor::Heading {
                path: vec!["Notes".into()],
            },
        }
    }

    fn run(
        &mut self,
        reader: impl BufRead,
        part: &str,
        budget: &mut Budget<'_>,
        out: &mut Extraction,
    ) -> Result<(), IngestError> {
        let mut xml = quick_xml::Reader::from_reader(reader);
        let mut buf = Vec::new();
        loop {
            budget.tick()?;
            let event = xml
                .read_event_into(&mut buf)
                .map_err(|e| xml_error(&e, part))?;
            match event {
                Event::Eof => break,
                Event::DocType(_) => return Err(dtd_refused(part)),
                Event::Start(e) => {
                    self.depth += 1;
                    if self.depth > budget.config.max_xml_depth {
                        return Err(IngestError::corrupt(format!("{part} is nested too deeply")));
                    }
                    if self.skip_from.is_none() {
                        self.start(&e, false, budget, out)?;
                    }
                }
                Event::Empty(e) if self.skip_from.is_none() => self.start(&e, true, budget, out)?,
                Event::End(e) => {
                    if self.skip_from == Some(self.depth) {
                        self.skip_from = None;
                    } else if self.skip_from.is_none() {
                        self.end(e.local_name().as_ref(), budget, out)?;
                    }
                    self.depth = self.depth.saturating_sub(1);
                }
                Event::Text(t) if self.in_text && self.skip_from.is_none() => {
                    let text = t.xml10_content();
                    self.push_text(&text);
                }
                Event::CData(t) if self.in_text && self.skip_from.is_none() => {
                    let text: &str = t.as_ref();
                    self.push_text(text);
                }
                Event::GeneralRef(r) if self.in_text && self.skip_from.is_none() => {
                    let c = resolve_entity(&r).ok_or_else(|| {
                        IngestError::corrupt(format!(
                            "{part} uses an undefined entity &{};",
                            r.xml10_content()
                        ))
                    })?;
                    self.push_text(c.encode_utf8(&mut [0u8; 4]));
                }
                Event::GeneralRef(r)
                    if self.skip_from.is_none() && resolve_entity(&r).is_none() =>
                {
                    return Err(IngestError::corrupt(format!(
                        "{part} uses an undefined entity &{};",
                        r.xml10_content()
                    )));
                }
                _ => {}
            }
            buf.clear();
        }
        // Unclosed paragraphs or tables mean a truncated part.
        if !self.paras.is_empty() || !self.tables.is_empty() {
            return Err(IngestError::corrupt(format!(
                "{part} ends in the middle of the document"
            )));
        }
        Ok(())
    }

    fn push_text(&mut self, text: &str) {
        if let Some(p) = self.paras.last_mut() {
            p.text.push_str(text);
        }
    }

    fn start(
        &mut self,
        e: &BytesStart<'_>,
        empty: bool,
        budget: &mut Budget<'_>,
        out: &mut Extraction,
    ) -> Result<(), IngestError> {
        match e.local_name().as_ref() {
            "del" | "moveFrom" | "instrText" | "delText" | "Fallback" if !empty => {
                self.skip_from = Some(self.depth);
            }
            "p" => {
                self.paras.push(Para::default());
                if empty {
                    self.end("p", budget, out)?;
                }
            }
            "pPr" => self.in_ppr = !empty,
            "pStyle" if self.in_ppr => {
                if let (Some(p), Some(id)) = (self.paras.last_mut(), attr(e, "val")) {
                    p.style_level = self
                        .styles
                        .headings
                        .get(&id)
                        .copied()
                        .or_else(|| heading_level_of_name(&id));
                    if self.styles.lists.contains(&id) && p.list_level.is_none() {
                        p.list_level = Some(0);
                    }
                }
            }
            "outlineLvl" if self.in_ppr => {
                if let (Some(p), Some(level)) = (
                    self.paras.last_mut(),
                    attr(e, "val").and_then(|v| v.parse::<u8>().ok()),
                ) && level < 9
                {
                    p.style_level = Some(level + 1);
                }
            }
            "ilvl" if self.in_ppr => {
                if let Some(p) = self.paras.last_mut() {
                    p.list_level = Some(
                        attr(e, "val")
                            .and_then(|v| v.parse::<usize>().ok())
                            .unwrap_or(0)
                            .min(8),
                    );
                }
            }
            "numPr" if self.in_ppr => {
                if let Some(p) = self.paras.last_mut()
                    && p.list_level.is_none()
                {
                    p.list_level = Some(0);
                }
            }
            "t" => self.in_text = !empty,
            "tab" if !self.in_ppr => self.push_text("\t"),
            "br" | "cr" => self.push_text("\n"),
            "noBreakHyphen" => self.push_text("-"),
            "tbl" => self.tables.push(Table::default()),
            _ => {}
        }
        Ok(())
    }

    fn end(
        &mut self,
        name: &str,
        budget: &mut Budget<'_>,
        out: &mut Extraction,
    ) -> Result<(), IngestError> {
        match name {
            "t" => self.in_text = false,
            "pPr" => self.in_ppr = false,
            "p" => {
                if let Some(para) = self.paras.pop() {
                    self.finish_paragraph(para, budget, out)?;
                }
            }
            "tc" => {
                if let Some(table) = self.tables.last_mut() {
                    let cell = std::mem::take(&mut table.cell);
                    table
                        .cells
                        .push(cell.split_whitespace().collect::<Vec<_>>().join(" "));
                }
            }
            "tr" => {
                let depth = self.tables.len();
                let anchor = self.anchor();
                let Some(table) = self.tables.last_mut() else {
                    return Ok(());
                };
                let row = std::mem::take(&mut table.cells).join(CELL_SEPARATOR);
                if depth > 1 {
                    // A nested table's row becomes text of the enclosing cell.
                    let outer = &mut self.tables[depth - 2];
                    outer.cell.push_str(&row);
                    outer.cell.push(' ');
                } else if row.chars().any(|c| !matches!(c, ' ' | '|')) {
                    table.rows.push_str(&row);
                    table.rows.push('\n');
                    if table.rows.len() >= TABLE_BLOCK_BYTES {
                        let rows = std::mem::take(&mut table.rows);
                        budget.push(out, &rows, anchor)?;
                    }
                }
            }
            "tbl" => {
                if let Some(table) = self.tables.pop()
                    && !table.rows.is_empty()
                {
                    budget.push(out, &table.rows, self.anchor())?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn finish_paragraph(
        &mut self,
        para: Para,
        budget: &mut Budget<'_>,
        out: &mut Extraction,
    ) -> Result<(), IngestError> {
        // A paragraph inside a table cell (not inside a text box within it) is cell text.
        if let Some(table) = self.tables.last_mut()
            && self.paras.is_empty()
        {
            if !table.cell.is_empty() {
                table.cell.push(' ');
            }
            table.cell.push_str(&para.text);
            return Ok(());
        }
        let text = para.text.trim();
        if text.is_empty() {
            return Ok(());
        }
        if let Some(level) = para.style_level
            && self.section == Section::Body
        {
            self.headings.enter(level, text);
        }
        let text = match para.list_level {
            Some(level) if para.style_level.is_none() => format!("{}- {text}", "  ".repeat(level)),
            _ => text.to_owned(),
        };
        budget.push(out, &text, self.anchor())
    }
}

/// The five predefined XML entities and character references; `None` for anything else
/// (custom entities are never expanded).
fn resolve_entity(r: &quick_xml::events::BytesRef<'_>) -> Option<char> {
    if let Ok(Some(c)) = r.resolve_char_ref() {
        return Some(c);
    }
    match r.xml10_content().as_ref() {
        "lt" => Some('<'),
        "gt" => Some('>'),
        "amp" => Some('&'),
        "apos" => Some('\''),
        "quot" => Some('"'),
        _ => None,
    }
}
