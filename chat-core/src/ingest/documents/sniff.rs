//! The real type of an upload, told from its bytes (never from its name or Content-Type):
//! magic numbers for PDF, zip and OLE containers, the package's own parts for DOCX, XLSX and
//! ODS, and a text check (decodable, few control characters, not HTML or XML) for TXT and MD.
//! The name only chooses between TXT and MD once the bytes are known to be text.

use serde::{Deserialize, Serialize};

use super::package::Package;
use super::text::{decode_sample, looks_like_markup};
use super::{IngestConfig, IngestError};

/// The accepted document types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FileType {
    /// PDF.
    Pdf,
    /// Word (Office Open XML).
    Docx,
    /// Excel (Office Open XML).
    Xlsx,
    /// Excel 97-2003.
    Xls,
    /// OpenDocument spreadsheet.
    Ods,
    /// Plain text.
    Txt,
    /// Markdown.
    Md,
}

impl FileType {
    /// The media type recorded for the document.
    pub fn media_type(self) -> &'static str {
        match self {
            Self::Pdf => "application/pdf",
            Self::Docx => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            Self::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Self::Xls => "application/vnd.ms-excel",
            Self::Ods => "application/vnd.oasis.opendocument.spreadsheet",
            Self::Txt => "text/plain",
            Self::Md => "text/markdown",
        }
    }

    /// Short name (`pdf`, `docx`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pdf => "pdf",
            Self::Docx => "docx",
            Self::Xlsx => "xlsx",
            Self::Xls => "xls",
            Self::Ods => "ods",
            Self::Txt => "txt",
            Self::Md => "md",
        }
    }

    /// Whether its parser cannot be bounded in-process (it may abort the process on a hostile
    /// file), so it runs in the worker process unless in-process extraction was opted in.
    pub fn needs_isolation(self) -> bool {
        matches!(self, Self::Pdf | Self::Xls | Self::Ods)
    }
}

impl std::fmt::Display for FileType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

const PDF_MAGIC: &[u8] = b"%PDF-";
/// PDF readers accept junk before the header; so do we, up to this many bytes.
const PDF_MAGIC_WINDOW: usize = 1024;
const ZIP_MAGIC: &[u8] = b"PK\x03\x04";
const ZIP_EMPTY_MAGIC: &[u8] = b"PK\x05\x06";
const CFB_MAGIC: &[u8] = &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

/// Tells the real type of an upload and checks its size.
///
/// Errors: `InvalidInput` (empty), `TooLarge` (over `max_upload_bytes`, or a zip over its
/// limits), `UnsupportedMediaType` (any other type: executables, HTML, archives, images,
/// binary data), `Encrypted` (password-protected Office files), `Corrupt` (a zip without a
/// readable directory).
pub fn sniff(bytes: &[u8], filename: &str, config: &IngestConfig) -> Result<FileType, IngestError> {
    if bytes.is_empty() {
        return Err(IngestError::InvalidInput("the file is empty".into()));
    }
    let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if size > config.max_upload_bytes {
        return Err(IngestError::too_large(format!(
            "the file has {size} bytes (limit {})",
            config.max_upload_bytes
        )));
    }
    let head = &bytes[..bytes.len().min(PDF_MAGIC_WINDOW)];
    if head.windows(PDF_MAGIC.len()).any(|w| w == PDF_MAGIC) {
        return Ok(FileType::Pdf);
    }
    if bytes.starts_with(ZIP_MAGIC) || bytes.starts_with(ZIP_EMPTY_MAGIC) {
        return Ok(Package::open(bytes, config)?.kind()?.file_type);
    }
    if bytes.starts_with(CFB_MAGIC) {
        return sniff_cfb(bytes);
    }
    if let Some(kind) = infer::get(bytes)
        && kind.matcher_type() != infer::MatcherType::Text
    {
        return Err(IngestError::UnsupportedMediaType(format!(
            "{} files are not accepted",
            kind.mime_type()
        )));
    }
    let Some(sample) = decode_sample(bytes, config) else {
        return Err(IngestError::UnsupportedMediaType(
            "the file is binary data, not a document".into(),
        ));
    };
    if let Some(markup) = looks_like_markup(&sample) {
        return Err(IngestError::UnsupportedMediaType(format!(
            "{markup} files are not accepted"
        )));
    }
    let lower = filename.to_ascii_lowercase();
    if lower.ends_with(".md") || lower.ends_with(".markdown") {
        Ok(FileType::Md)
    } else {
        Ok(FileType::Txt)
    }
}

/// OLE compound files: XLS is accepted; a password-protected DOCX/XLSX is an OLE file with an
/// `EncryptedPackage` stream; anything else (DOC, PPT, MSI) is not accepted.
fn sniff_cfb(bytes: &[u8]) -> Result<FileType, IngestError> {
    let marker: Vec<u8> = "EncryptedPackage"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    if bytes.windows(marker.len()).any(|w| w == marker.as_slice()) {
        return Err(IngestError::Encrypted(
            "the Office file is password-protected".into(),
        ));
    }
    // The header says where the directory starts; a file that ends before it was cut short.
    let sector_shift = bytes
        .get(0x1E..0x20)
        .map(|b| u16::from_le_bytes([b[0], b[1]]));
    let first_dir = bytes
        .get(0x30..0x34)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    match (sector_shift, first_dir) {
        (Some(shift @ 9..=16), Some(dir)) => {
            let dir_offset = (u64::from(dir) + 1) << shift;
            if dir_offset.saturating_add(128) > u64::try_from(bytes.len()).unwrap_or(u64::MAX) {
                return Err(IngestError::corrupt("the Office 97-2003 file is truncated"));
            }
        }
        _ => {
            return Err(IngestError::corrupt(
                "the Office 97-2003 file has a broken header",
            ));
        }
    }
    let workbook: Vec<u8> = "Workbook"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    if infer::doc::is_xls(bytes)
        || bytes
            .windows(workbook.len())
            .any(|w| w == workbook.as_slice())
    {
        return Ok(FileType::Xls);
    }
    let what = if infer::doc::is_doc(bytes) {
        "Word 97-2003 (.doc)"
    } else if infer::doc::is_ppt(bytes) {
        "PowerPoint 97-2003 (.ppt)"
    } else {
        "OLE compound"
    };
    Err(IngestError::UnsupportedMediaType(format!(
        "{what} files are not accepted"
    )))
}
