//! PDF text, page by page: pdf-extract (pure Rust, over lopdf) or poppler's `pdftotext`.
//!
//! pdf-extract panics on about one in six mutated PDFs (caught by the caller), but a stack
//! overflow or a failed huge allocation aborts the process and cannot be caught (measured with
//! pdf-extract 0.12.1), so [`extract`] runs in the worker process unless the host opted in to
//! in-process extraction of trusted files. `pdftotext` is a separate program anyway; the host
//! runs it under the same limits as the worker (see [`super::worker`]).

use pdf_extract::{Document, PlainTextOutput};

use super::extraction::{Anchor, Budget, Extraction};
use super::{FileType, IngestError};

/// The warning of a PDF without text.
pub const NO_TEXT_LAYER: &str = "no text layer (scanned?)";

/// Extracts the text of a PDF with pdf-extract, one block per page.
///
/// Errors: `Encrypted` (needs a password), `Corrupt` (not a readable PDF), `TooLarge` (pages,
/// text), `Timeout`.
pub(crate) fn extract(bytes: &[u8], budget: &mut Budget<'_>) -> Result<Extraction, IngestError> {
    let mut doc = Document::load_mem(bytes).map_err(|err| load_error(&err))?;
    if doc.is_encrypted() && doc.decrypt("").is_err() {
        return Err(IngestError::Encrypted(
            "the PDF is password-protected".into(),
        ));
    }
    let pages = doc.get_pages();
    let count = u32::try_from(pages.len()).unwrap_or(u32::MAX);
    if count > budget.config.max_pages {
        return Err(IngestError::too_large(format!(
            "the PDF has {count} pages (limit {})",
            budget.config.max_pages
        )));
    }
    if count == 0 {
        return Err(IngestError::corrupt("the PDF has no pages"));
    }
    let mut out = Extraction::new(FileType::Pdf);
    out.page_count = Some(count);
    out.metadata
        .insert("pdf_backend".into(), "pdf-extract".into());
    let mut unreadable = Vec::new();
    for &number in pages.keys() {
        budget.check_time()?;
        let mut text = String::new();
        let result = {
            let mut output = PlainTextOutput::new(&mut text);
            pdf_extract::output_doc_page(&doc, &mut output, number)
        };
        match result {
            Ok(()) => budget.push(&mut out, &text, Anchor::Page { page: number })?,
            Err(_) => unreadable.push(number),
        }
    }
    finish(&mut out, &unreadable, count)?;
    Ok(out)
}

/// Common end of both backends: unreadable pages become a warning (all of them unreadable is
/// `Corrupt`), and no text at all is the "no text layer" warning.
pub(crate) fn finish(
    out: &mut Extraction,
    unreadable: &[u32],
    count: u32,
) -> Result<(), IngestError> {
    if !unreadable.is_empty() {
        if u32::try_from(unreadable.len()).is_ok_and(|n| n >= count) {
            return Err(IngestError::corrupt("no page of the PDF can be read"));
        }
        let list: Vec<String> = unreadable.iter().take(20).map(u32::to_string).collect();
        out.warnings.push(format!(
            "pages that cannot be read were skipped: {}",
            list.join(", ")
        ));
    }
    if out.blocks.is_empty() {
        out.warnings.push(NO_TEXT_LAYER.into());
    }
    Ok(())
}

fn load_error(err: &pdf_extract::Error) -> IngestError {
    let text = err.to_string();
    if text.to_ascii_lowercase().contains("decrypt")
        || text.to_ascii_lowercase().contains("password")
    {
        IngestError::Encrypted("the PDF is password-protected".into())
    } else {
        IngestError::corrupt(format!("the PDF cannot be read: {text}"))
    }
}

/// Builds the extraction from `pdftotext` output (pages separated by form feeds).
pub(crate) fn from_pdftotext(
    stdout: &[u8],
    budget: &mut Budget<'_>,
) -> Result<Extraction, IngestError> {
    let text = String::from_utf8_lossy(stdout);
    let mut pages: Vec<&str> = text.split('\u{000C}').collect();
    // pdftotext ends every page with a form feed, so the last piece is empty.
    if pages.last().is_some_and(|p| p.trim().is_empty()) && pages.len() > 1 {
        pages.pop();
    }
    let count = u32::try_from(pages.len()).unwrap_or(u32::MAX);
    if count > budget.config.max_pages {
        return Err(IngestError::too_large(format!(
            "the PDF has {count} pages (limit {})",
            budget.config.max_pages
        )));
    }
    let mut out = Extraction::new(FileType::Pdf);
    out.page_count = Some(count);
    out.metadata
        .insert("pdf_backend".into(), "pdftotext".into());
    for (index, page) in pages.iter().enumerate() {
        let number = u32::try_from(index + 1).unwrap_or(u32::MAX);
        budget.push(&mut out, page, Anchor::Page { page: number })?;
    }
    finish(&mut out, &[], count)?;
    Ok(out)
}
