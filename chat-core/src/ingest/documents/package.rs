//! Zip packages (DOCX, XLSX, ODS) read under limits. The central directory is checked before
//! anything is inflated: entry count, declared inflated sizes (each and in total), compression
//! ratio and encryption; a zip bomb is refused from its directory alone. While a part is read,
//! a counting reader stops it at its declared size, so a lying directory gets no further (the
//! zip crate, used without its default features and with deflate only, also enforces the
//! declared sizes since version 9).
//!
//! The package type is told from the package's own parts, not from the name: `mimetype` for
//! OpenDocument, the main part's content type in `[Content_Types].xml` for Office Open XML
//! (`infer` reports every one of them as plain zip).

use std::io::{self, BufReader, Cursor, Read};

use quick_xml::events::Event;
use zip::ZipArchive;

use super::{FileType, IngestConfig, IngestError};

/// Largest `[Content_Types].xml` or `mimetype` read while sniffing.
const MAX_SNIFF_PART_BYTES: u64 = 1024 * 1024;

/// An opened zip package whose directory passed the limits.
pub(crate) struct Package<'a> {
    archive: ZipArchive<Cursor<&'a [u8]>>,
    config: &'a IngestConfig,
}

impl std::fmt::Debug for Package<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Package")
            .field("entries", &self.archive.len())
            .finish()
    }
}

/// What a package is, from its own parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PackageKind {
    pub(crate) file_type: FileType,
    /// The main part (DOCX: usually `word/document.xml`).
    pub(crate) main_part: Option<String>,
}

impl<'a> Package<'a> {
    /// Opens a package and checks its central directory against the limits, inflating nothing.
    ///
    /// Errors: `Corrupt` (no readable directory), `TooLarge` (entries, sizes, ratio),
    /// `Encrypted` (password-protected entries).
    pub(crate) fn open(bytes: &'a [u8], config: &'a IngestConfig) -> Result<Self, IngestError> {
        let archive = ZipArchive::new(Cursor::new(bytes)).map_err(|err| {
            IngestError::corrupt(format!("the zip package cannot be read: {err}"))
        })?;
        if archive.len() > config.max_zip_entries {
            return Err(IngestError::too_large(format!(
                "the zip package has {} entries (limit {})",
                archive.len(),
                config.max_zip_entries
            )));
        }
        let mut total: u64 = 0;
        for index in 0..archive.len() {
            let entry = archive.by_index_data(index).map_err(|err| {
                IngestError::corrupt(format!("zip entry {index} cannot be read: {err}"))
            })?;
            if entry.encrypted() {
                return Err(IngestError::Encrypted(
                    "the zip package is password-protected".into(),
                ));
            }
            let size = entry.size();
            total = total.saturating_add(size);
            if total > config.max_inflated_bytes {
                return Err(IngestError::too_large(format!(
                    "the package inflates to more than {} bytes",
                    config.max_inflated_bytes
                )));
            }
            let compressed = entry.compressed_size().max(1);
            if size >= config.ratio_check_min_bytes
                && size / compressed > config.max_compression_ratio
            {
                return Err(IngestError::too_large(format!(
                    "a zip entry is compressed {}:1 (limit {}:1)",
                    size / compressed,
                    config.max_compression_ratio
                )));
            }
        }
        Ok(Self { archive, config })
    }

    /// The index of a part, matched exactly, then ignoring ASCII case (OPC part names are
    /// case-insensitive).
    fn index_of(&self, name: &str) -> Option<usize> {
        let name = name.trim_start_matches('/');
        self.archive.index_for_name(name).or_else(|| {
            self.archive
                .file_names()
                .position(|n| n.is_ok_and(|n| n.eq_ignore_ascii_case(name)))
        })
    }

    /// The names of all parts.
    pub(crate) fn names(&self) -> impl Iterator<Item = String> + '_ {
        self.archive
            .file_names()
            .filter_map(Result::ok)
            .map(std::borrow::Cow::into_owned)
    }

    /// Whether the package has a part.
    pub(crate) fn has(&self, name: &str) -> bool {
        self.index_of(name).is_some()
    }

    /// The declared inflated size of a part.
    pub(crate) fn declared_size(&self, name: &str) -> Option<u64> {
        let index = self.index_of(name)?;
        self.archive.by_index_data(index).ok().map(|e| e.size())
    }

    /// A reader over a part that stops at `limit` inflated bytes and at the part's declared
    /// size, whichever is lower.
    ///
    /// Errors: `Corrupt` when missing or unreadable; `TooLarge` when the declared size is over
    /// `limit`.
    pub(crate) fn part(
        &mut self,
        name: &str,
        limit: u64,
    ) -> Result<impl io::BufRead + '_, IngestError> {
        let index = self
            .index_of(name)
            .ok_or_else(|| IngestError::corrupt(format!("the package has no part {name}")))?;
        let file = self
            .archive
            .by_index(index)
            .map_err(|err| IngestError::corrupt(format!("part {name} cannot be read: {err}")))?;
        let declared = file.size();
        if declared > limit {
            return Err(IngestError::too_large(format!(
                "part {name} inflates to {declared} bytes (limit {limit})"
            )));
        }
        Ok(BufReader::new(Limited {
            inner: file,
            remaining: declared,
            name: name.to_owned(),
        }))
    }

    /// Reads a whole part (for small parts).
    pub(crate) fn read_part(&mut self, name: &str, limit: u64) -> Result<Vec<u8>, IngestError> {
        let mut out = Vec::new();
        self.part(name, limit)?
            .read_to_end(&mut out)
            .map_err(|err| io_error(&err, name))?;
        Ok(out)
    }

    /// The part-size limit of this package's configuration.
    pub(crate) fn part_limit(&self) -> u64 {
        self.config.max_part_bytes
    }

    /// Tells DOCX, XLSX and ODS apart from the package's own parts.
    ///
    /// Errors: `UnsupportedMediaType` for other packages (ODT, PPTX, XLSB, plain zip).
    pub(crate) fn kind(&mut self) -> Result<PackageKind, IngestError> {
        if self.has("mimetype") {
            let raw = self.read_part("mimetype", MAX_SNIFF_PART_BYTES)?;
            let mime = String::from_utf8_lossy(&raw).trim().to_owned();
            if mime == "application/vnd.oasis.opendocument.spreadsheet" {
                return Ok(PackageKind {
                    file_type: FileType::Ods,
                    main_part: Some("content.xml".into()),
                });
            }
            return Err(IngestError::UnsupportedMediaType(format!(
                "OpenDocument files of type {} are not accepted (only spreadsheets)",
                truncate(&mime, 100)
            )));
        }
        if self.has("[Content_Types].xml") {
            let raw = self.read_part("[Content_Types].xml", MAX_SNIFF_PART_BYTES)?;
            return content_types_kind(&raw, self.config.max_xml_depth);
        }
        Err(IngestError::UnsupportedMediaType(
            "zip archives are not accepted".into(),
        ))
    }
}

/// Finds the main part in `[Content_Types].xml`.
fn content_types_kind(xml: &[u8], max_depth: usize) -> Result<PackageKind, IngestError> {
    const DOCX: [&str; 3] = [
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.template.main+xml",
        "application/vnd.ms-word.document.macroEnabled.main+xml",
    ];
    const XLSX: [&str; 3] = [
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml",
        "application/vnd.ms-excel.sheet.macroEnabled.main+xml",
    ];
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut other: Option<String> = None;
    let mut depth = 0usize;
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|err| xml_error(&err, "[Content_Types].xml"))?;
        match event {
            Event::Eof => break,
            Event::DocType(_) => return Err(dtd_refused("[Content_Types].xml")),
            Event::Start(_) => {
                depth += 1;
                if depth > max_depth {
                    return Err(IngestError::corrupt(
                        "[Content_Types].xml is nested too deeply",
                    ));
                }
            }
            Event::End(_) => depth = depth.saturating_sub(1),
            Event::Empty(e) if e.local_name().as_ref() == "Override" => {
                let attr = |key: &str| {
                    e.try_get_attribute(key).ok().flatten().and_then(|a| {
                        a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                            .ok()
                            .map(|v| v.into_owned())
                    })
                };
                let (Some(content_type), Some(part)) = (attr("ContentType"), attr("PartName"))
                else {
                    continue;
                };
                let part = part.trim_start_matches('/').to_owned();
                if DOCX.contains(&content_type.as_str()) {
                    return Ok(PackageKind {
                        file_type: FileType::Docx,
                        main_part: Some(part),
                    });
                }
                if XLSX.contains(&content_type.as_str()) {
                    return Ok(PackageKind {
                        file_type: FileType::Xlsx,
                        main_part: Some(part),
                    });
                }
                if content_type.ends_with(".main+xml") && other.is_none() {
                    other = Some(content_type);
                }
            }
            _ => {}
        }
        buf.clear();
    }
    Err(IngestError::UnsupportedMediaType(match other {
        Some(t) if t.contains("presentationml") => "PowerPoint files are not accepted".into(),
        Some(t) if t.contains("sheet.binary") => {
            "Excel binary workbooks (XLSB) are not accepted".into()
        }
        Some(t) => format!(
            "Office files of type {} are not accepted",
            truncate(&t, 120)
        ),
        None => "the Office package has no document or workbook part".into(),
    }))
}

/// A reader that fails once more than the declared size comes out.
struct Limited<R> {
    inner: R,
    remaining: u64,
    name: String,
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let n64 = u64::try_from(n).unwrap_or(u64::MAX);
        if n64 > self.remaining {
            return Err(io::Error::other(PartTooLarge(self.name.clone())));
        }
        self.remaining -= n64;
        Ok(n)
    }
}

/// A part inflated past its declared size.
#[derive(Debug)]
struct PartTooLarge(String);

impl std::fmt::Display for PartTooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "part {} inflates past its declared size", self.0)
    }
}

impl std::error::Error for PartTooLarge {}

/// Maps an I/O error from a part reader: over the limit is `TooLarge`, anything else `Corrupt`.
pub(crate) fn io_error(err: &io::Error, part: &str) -> IngestError {
    if let Some(inner) = err.get_ref().and_then(|e| e.downcast_ref::<PartTooLarge>()) {
        return IngestError::too_large(inner);
    }
    IngestError::corrupt(format!("{part} cannot be inflated: {err}"))
}

/// Maps an XML error of a part.
pub(crate) fn xml_error(err: &quick_xml::Error, part: &str) -> IngestError {
    match err {
        quick_xml::Error::Io(io) => io_error(io, part),
        other => IngestError::corrupt(format!("{part} is not well-formed XML: {other}")),
    }
}

/// The error for a document type declaration: Office parts never have one, and refusing it
/// rules out entity-expansion attacks (quick-xml does not expand custom entities anyway).
pub(crate) fn dtd_refused(part: &str) -> IngestError {
    IngestError::corrupt(format!(
        "{part} has a document type declaration (DTD), which Office files never have"
    ))
}

fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
