//! What an extractor produces: the document's text as blocks, each anchored where it sits
//! (page, sheet row, heading path, line range), plus counts and warnings. The chunker turns
//! blocks into chunks; the worker sends an [`Extraction`] over its pipe as JSON.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::normalize::normalize;
use super::{FileType, IngestConfig, IngestError};
use crate::model::Metadata;

/// Where a block of text sits in its document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Anchor {
    /// A page (1-based).
    Page {
        /// The page.
        page: u32,
    },
    /// A spreadsheet row (1-based).
    Row {
        /// Sheet name.
        sheet: String,
        /// Row number.
        row: u32,
    },
    /// A section under a heading path (outermost first); empty before the first heading.
    Heading {
        /// Heading path.
        path: Vec<String>,
    },
    /// Lines of a text file (1-based, inclusive).
    Lines {
        /// First line.
        start: u32,
        /// Last line.
        end: u32,
    },
}

/// A piece of text (a paragraph, a table row, a sheet row) with its anchor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Block {
    /// Normalized text, never empty.
    pub text: String,
    /// Where it sits.
    pub anchor: Anchor,
}

/// The text of a document and what was learned while extracting it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Extraction {
    /// The type it was extracted as.
    pub file_type: FileType,
    /// Text blocks in reading order.
    pub blocks: Vec<Block>,
    /// Pages (PDF) or sheets (workbooks), when known.
    pub page_count: Option<u32>,
    /// Non-fatal findings, such as "no text layer (scanned?)".
    pub warnings: Vec<String>,
    /// Facts about the file (encoding, sheet names, backend).
    pub metadata: Metadata,
}

impl Extraction {
    /// An empty extraction of a type.
    pub fn new(file_type: FileType) -> Self {
        Self {
            file_type,
            blocks: Vec::new(),
            page_count: None,
            warnings: Vec::new(),
            metadata: Metadata::new(),
        }
    }

    /// Total bytes of text.
    pub fn text_bytes(&self) -> usize {
        self.blocks.iter().map(|b| b.text.len()).sum()
    }
}

/// How often (in work units) the clock is read.
const CLOCK_EVERY: u32 = 1024;

/// The limits of one extraction while it runs: a deadline checked cooperatively by every
/// extractor loop, and the extracted-text budget.
#[derive(Debug)]
pub(crate) struct Budget<'a> {
    pub(crate) config: &'a IngestConfig,
    deadline: Instant,
    text_bytes: usize,
    ticks: u32,
}

impl<'a> Budget<'a> {
    pub(crate) fn new(config: &'a IngestConfig) -> Self {
        let deadline = Instant::now()
            .checked_add(config.extraction_timeout)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400));
        Self {
            config,
            deadline,
            text_bytes: 0,
            ticks: 0,
        }
    }

    /// Counts one unit of work; every [`CLOCK_EVERY`] units, fails past the deadline.
    pub(crate) fn tick(&mut self) -> Result<(), IngestError> {
        self.ticks = self.ticks.wrapping_add(1);
        if self.ticks % CLOCK_EVERY == 0 {
            self.check_time()?;
        }
        Ok(())
    }

    /// Fails past the deadline.
    pub(crate) fn check_time(&self) -> Result<(), IngestError> {
        if Instant::now() > self.deadline {
            return Err(IngestError::Timeout(format!(
                "extraction took longer than {} s",
                self.config.extraction_timeout.as_secs_f64()
            )));
        }
        Ok(())
    }

    /// Normalizes `text` and, when anything is left, appends it as a block, counting it
    /// against the text budget.
    pub(crate) fn push(
        &mut self,
        out: &mut Extraction,
        text: &str,
        anchor: Anchor,
    ) -> Result<(), IngestError> {
        self.tick()?;
        let text = normalize(text);
        if text.is_empty() {
            return Ok(());
        }
        self.text_bytes = self.text_bytes.saturating_add(text.len());
        if self.text_bytes > self.config.max_text_bytes {
            return Err(IngestError::too_large(format!(
                "the document has more than {} bytes of text",
                self.config.max_text_bytes
            )));
        }
        out.blocks.push(Block { text, anchor });
        Ok(())
    }
}

/// The path of headings above the current point of a document.
#[derive(Debug, Default, Clone)]
pub(crate) struct HeadingPath {
    stack: Vec<(u8, String)>,
}

impl HeadingPath {
    /// Enters a heading of `level` (1 = outermost): deeper or equal headings are closed.
    pub(crate) fn enter(&mut self, level: u8, title: &str) {
        while self.stack.last().is_some_and(|(l, _)| *l >= level) {
            self.stack.pop();
        }
        let title = normalize(title).replace('\n', " ");
        self.stack.push((level, title));
    }

    /// The current path, outermost first.
    pub(crate) fn path(&self) -> Vec<String> {
        self.stack.iter().map(|(_, t)| t.clone()).collect()
    }

    /// The anchor of text under the current path.
    pub(crate) fn anchor(&self) -> Anchor {
        Anchor::Heading { path: self.path() }
    }
}
