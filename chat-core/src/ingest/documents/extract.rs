//! The extraction pipeline without storage: sniff, extract (in the worker or in-process, as
//! the configuration says), chunk. The ingestor and the `extract` example both run it.

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use super::chunk::{Chunk, chunk};
use super::extraction::{Budget, Extraction};
use super::worker::{extract_in_worker, extract_with_pdftotext};
use super::{FileType, IngestConfig, IngestError, PdfBackend, docx, pdf, sheets, sniff, text};
use crate::model::Metadata;

/// Extra wall-clock time granted to an in-process extraction past its own deadline before
/// the caller stops waiting (the extractor checks the deadline itself and stops soon after).
const IN_PROCESS_GRACE: Duration = Duration::from_secs(1);

/// Extracts in this process, with panic isolation and the cooperative time limit. Used by the
/// worker, and by hosts that opted in to in-process extraction.
///
/// Errors: see [`IngestError`]; a parser panic is `Corrupt`.
pub fn extract_in_process(
    bytes: &[u8],
    file_type: FileType,
    config: &IngestConfig,
) -> Result<Extraction, IngestError> {
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
        let mut budget = Budget::new(config);
        match file_type {
            FileType::Pdf => pdf::extract(bytes, &mut budget),
            FileType::Docx => docx::extract(bytes, &mut budget),
            FileType::Xlsx | FileType::Xls | FileType::Ods => {
                sheets::extract(bytes, file_type, &mut budget)
            }
            FileType::Txt | FileType::Md => text::extract(bytes, file_type, &mut budget),
        }
    }));
    outcome.unwrap_or_else(|payload| {
        let detail = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(IngestError::corrupt(format!(
            "the {file_type} parser failed on this file: {detail}"
        )))
    })
}

/// A processed document: its type, facts and chunks.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Processed {
    /// The sniffed type.
    pub file_type: FileType,
    /// Pages or sheets, when known.
    pub page_count: Option<u32>,
    /// Non-fatal findings.
    pub warnings: Vec<String>,
    /// Facts about the file.
    pub metadata: Metadata,
    /// The chunks, in order.
    pub chunks: Vec<Chunk>,
}

/// Sniffs, extracts and chunks documents under an [`IngestConfig`]. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Extractor {
    config: Arc<IngestConfig>,
}

impl Extractor {
    /// An extractor with these settings.
    pub fn new(config: IngestConfig) -> Self {
        Self {
            config: Arc::new(config),
        }
    }

    /// The settings.
    pub fn config(&self) -> &IngestConfig {
        &self.config
    }

    /// Tells the real type of a file from its bytes and checks its size (see [`sniff()`]).
    ///
    /// Errors: `InvalidInput`, `TooLarge`, `UnsupportedMediaType`, `Encrypted`, `Corrupt`.
    pub fn sniff(&self, bytes: &[u8], filename: &str) -> Result<FileType, IngestError> {
        sniff::sniff(bytes, filename, &self.config)
    }

    /// Extracts the text of a file of a known type: in the worker process for the types the
    /// configuration sends there, with `pdftotext` when configured, otherwise in-process on a
    /// blocking thread with panic isolation and the time limit.
    ///
    /// Errors: see [`IngestError`]; `Unavailable` when the type needs the worker and none is
    /// configured (and in-process extraction was not opted in).
    pub async fn extract(
        &self,
        bytes: Arc<[u8]>,
        file_type: FileType,
    ) -> Result<Extraction, IngestError> {
        let config = &self.config;
        if file_type == FileType::Pdf
            && let PdfBackend::Pdftotext { program } = &config.pdf_backend
        {
            return extract_with_pdftotext(program, &bytes, config).await;
        }
        if !config.allow_in_process {
            if let Some(worker) = config
                .worker
                .as_ref()
                .filter(|w| w.formats.contains(&file_type))
            {
                return extract_in_worker(worker, &bytes, file_type, config).await;
            }
            if file_type.needs_isolation() {
                return Err(IngestError::Unavailable(format!(
                    "{file_type} files are extracted in a worker process and none is configured \
                     (set IngestConfig::worker, or allow_in_process for trusted files)"
                )));
            }
        }
        let config = Arc::clone(&self.config);
        let limit = config.extraction_timeout + IN_PROCESS_GRACE;
        let task =
            tokio::task::spawn_blocking(move || extract_in_process(&bytes, file_type, &config));
        match tokio::time::timeout(limit, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(IngestError::corrupt(format!(
                "the {file_type} parser failed: {join}"
            ))),
            Err(_) => Err(IngestError::Timeout(format!(
                "extraction took longer than {} s",
                self.config.extraction_timeout.as_secs_f64()
            ))),
        }
    }

    /// Sniffs, extracts and chunks a file.
    ///
    /// Errors: those of [`sniff`](Self::sniff) and [`extract`](Self::extract).
    pub async fn process(
        &self,
        bytes: Arc<[u8]>,
        filename: &str,
    ) -> Result<Processed, IngestError> {
        let file_type = self.sniff(&bytes, filename)?;
        let extraction = self.extract(bytes, file_type).await?;
        Ok(self.chunk(extraction))
    }

    /// Chunks an extraction with the configured size and overlap.
    pub fn chunk(&self, extraction: Extraction) -> Processed {
        let chunks = chunk(
            &extraction.blocks,
            self.config.chunk_target_tokens,
            self.config.chunk_overlap_tokens,
        );
        Processed {
            file_type: extraction.file_type,
            page_count: extraction.page_count,
            warnings: extraction.warnings,
            metadata: extraction.metadata,
            chunks,
        }
    }
}
