//! Document ingest: validation, text extraction, chunking.
//!
//! A customer's upload goes through [`DocumentIngestor`]: its real type is sniffed from the
//! bytes ([`sniff()`]), the original is kept in a [`BlobStore`], a second copy of the same file in
//! the session is recognized by SHA-256, and the text is extracted, chunked with locators
//! (page, sheet and rows, heading path, line range) and indexed in the store, with
//! `document_status` events on the session's topic.
//!
//! Extraction is bounded everywhere: zip packages (DOCX, XLSX, ODS) are checked from their
//! directory before anything is inflated and while inflating; XML is streamed without DTDs or
//! custom entities; workbooks are read cell by cell under cell and row limits; every extractor
//! checks a deadline and runs under `catch_unwind`. Parsers that cannot be bounded in-process
//! (PDF, XLS, ODS) run in a worker process ([`worker`]) with CPU, address-space and wall-clock
//! limits. Every limit is a named setting of [`IngestConfig`].
//!
//! | format | how | locator |
//! |---|---|---|
//! | PDF | pdf-extract (or `pdftotext`) in the worker | pages |
//! | DOCX | quick-xml over the limited zip reader | heading path |
//! | XLSX | calamine's streaming cell reader | sheet and rows |
//! | XLS, ODS | calamine in the worker | sheet and rows |
//! | TXT | BOM, UTF-16, UTF-8, chardetng + encoding_rs | line range |
//! | MD | as TXT, headings tracked | heading path |

mod blob;
mod chunk;
mod config;
mod docx;
mod error;
mod extract;
mod extraction;
mod ingestor;
mod normalize;
mod package;
mod pdf;
mod sheets;
mod sniff;
mod text;
pub mod worker;

pub use blob::{BlobError, BlobStore, FsBlobStore};
pub use chunk::Chunk;
pub use config::{IngestConfig, PdfBackend, WorkerConfig};
pub use error::{IngestError, WireError};
pub use extract::{Extractor, Processed, extract_in_process};
pub use extraction::{Anchor, Block, Extraction};
#[cfg(feature = "web")]
pub(crate) use ingestor::document_chunks;
pub use ingestor::{DocumentIngestor, Upload};
pub use pdf::NO_TEXT_LAYER;
pub use sniff::{FileType, sniff};
