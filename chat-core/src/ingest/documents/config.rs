//! Limits and settings of document ingest. Every limit is a named setting with a documented
//! default.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::FileType;

const MIB: u64 = 1024 * 1024;

/// Limits and settings of document ingest.
///
/// | setting | default | what |
/// |---|---|---|
/// | `max_upload_bytes` | 25 MiB | largest accepted file |
/// | `max_inflated_bytes` | 200 MiB | sum of the declared inflated sizes of every zip entry (DOCX, XLSX, ODS) |
/// | `max_part_bytes` | 64 MiB | largest single zip entry that is read (document.xml, a sheet, content.xml) |
/// | `max_loaded_part_bytes` | 16 MiB | largest part read whole into memory (XLSX shared strings, styles, workbook; DOCX styles) |
/// | `max_compression_ratio` | 100 | largest inflated/compressed ratio of a zip entry ... |
/// | `ratio_check_min_bytes` | 1 MiB | ... counted only for entries that inflate to at least this much |
/// | `max_zip_entries` | 10,000 | most entries in a zip package |
/// | `max_sheets` | 256 | most sheets read from a workbook |
/// | `max_cells` | 2,000,000 | most non-empty cells read from a workbook |
/// | `max_rows` | 1,000,000 | most non-empty rows read from a workbook |
/// | `max_pages` | 5,000 | most PDF pages read |
/// | `max_text_bytes` | 16 MiB | most extracted text (UTF-8 bytes) |
/// | `max_xml_depth` | 256 | deepest XML element nesting accepted |
/// | `extraction_timeout` | 30 s | wall-clock limit of one extraction (worker killed on overrun) |
/// | `worker_memory_bytes` | 1 GiB | address-space limit (`RLIMIT_AS`) of the worker process |
/// | `max_concurrent_jobs` | 2 | extractions running at once per ingestor |
/// | `chunk_target_tokens` | 800 | chunk size aimed at |
/// | `chunk_overlap_tokens` | 100 | text repeated from the end of the previous chunk (same section) |
/// | `short_text_bytes` | 64 | non-UTF-8 text with fewer non-ASCII bytes than this is "short" for encoding detection |
/// | `worker` | none | the worker process; PDF, XLS and ODS need it unless `allow_in_process` is set |
/// | `allow_in_process` | false | run every parser in this process (trusted input only) |
/// | `pdf_backend` | `pdf-extract` | PDF text extractor |
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct IngestConfig {
    /// Largest accepted file in bytes.
    pub max_upload_bytes: u64,
    /// Sum of the inflated sizes of all zip entries, declared and actual.
    pub max_inflated_bytes: u64,
    /// Largest single zip entry that is read.
    pub max_part_bytes: u64,
    /// Largest part read whole into memory (XLSX shared strings, styles, workbook; DOCX
    /// styles); parts that are streamed (DOCX body, XLSX worksheets) have `max_part_bytes`.
    pub max_loaded_part_bytes: u64,
    /// Largest inflated/compressed ratio of a zip entry.
    pub max_compression_ratio: u64,
    /// Entries smaller than this (inflated) are not held to the ratio limit.
    pub ratio_check_min_bytes: u64,
    /// Most entries in a zip package.
    pub max_zip_entries: usize,
    /// Most sheets read from a workbook.
    pub max_sheets: usize,
    /// Most non-empty cells read from a workbook.
    pub max_cells: u64,
    /// Most non-empty rows read from a workbook.
    pub max_rows: u64,
    /// Most PDF pages read.
    pub max_pages: u32,
    /// Most extracted text in bytes.
    pub max_text_bytes: usize,
    /// Deepest XML nesting accepted.
    pub max_xml_depth: usize,
    /// Wall-clock limit of one extraction.
    #[serde(with = "duration_secs")]
    pub extraction_timeout: Duration,
    /// Address-space limit of the worker process in bytes.
    pub worker_memory_bytes: u64,
    /// Extractions running at once per ingestor.
    pub max_concurrent_jobs: usize,
    /// Chunk size aimed at, in estimated tokens.
    pub chunk_target_tokens: u32,
    /// Tokens repeated from the end of the previous chunk of the same section.
    pub chunk_overlap_tokens: u32,
    /// Threshold of "short" legacy-encoded text, in non-ASCII bytes.
    pub short_text_bytes: usize,
    /// The worker process that runs parsers which cannot be bounded in-process.
    pub worker: Option<WorkerConfig>,
    /// Runs every parser in this process. Only for trusted input: a PDF parser can abort the
    /// whole process on a hostile file (stack overflow, failed huge allocation).
    pub allow_in_process: bool,
    /// The PDF text extractor.
    pub pdf_backend: PdfBackend,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            max_upload_bytes: 25 * MIB,
            max_inflated_bytes: 200 * MIB,
            max_part_bytes: 64 * MIB,
            max_loaded_part_bytes: 16 * MIB,
            max_compression_ratio: 100,
            ratio_check_min_bytes: MIB,
            max_zip_entries: 10_000,
            max_sheets: 256,
            max_cells: 2_000_000,
            max_rows: 1_000_000,
            max_pages: 5_000,
            max_text_bytes: 16 * 1024 * 1024,
            max_xml_depth: 256,
            extraction_timeout: Duration::from_secs(30),
            worker_memory_bytes: 1024 * MIB,
            max_concurrent_jobs: 2,
            chunk_target_tokens: 800,
            chunk_overlap_tokens: 100,
            short_text_bytes: 64,
            worker: None,
            allow_in_process: false,
            pdf_backend: PdfBackend::PdfExtract,
        }
    }
}

impl IngestConfig {
    /// Sets the worker process.
    pub fn worker(mut self, worker: WorkerConfig) -> Self {
        self.worker = Some(worker);
        self
    }
    /// Opts in to running every parser in this process (trusted input only).
    pub fn allow_in_process(mut self, allow: bool) -> Self {
        self.allow_in_process = allow;
        self
    }
    /// Sets the PDF backend.
    pub fn pdf_backend(mut self, backend: PdfBackend) -> Self {
        self.pdf_backend = backend;
        self
    }
    /// Sets the largest accepted upload.
    pub fn max_upload_bytes(mut self, bytes: u64) -> Self {
        self.max_upload_bytes = bytes;
        self
    }
    /// Sets the extraction time limit.
    pub fn extraction_timeout(mut self, timeout: Duration) -> Self {
        self.extraction_timeout = timeout;
        self
    }
    /// Sets the chunk size and overlap, in estimated tokens.
    pub fn chunking(mut self, target_tokens: u32, overlap_tokens: u32) -> Self {
        self.chunk_target_tokens = target_tokens;
        self.chunk_overlap_tokens = overlap_tokens;
        self
    }
    /// Sets the number of extractions running at once.
    pub fn max_concurrent_jobs(mut self, jobs: usize) -> Self {
        self.max_concurrent_jobs = jobs;
        self
    }
}

/// The worker process: a program that calls
/// [`run_worker`](super::worker::run_worker) (for example the `extract` example with
/// `--worker`). It reads the request on stdin and writes the result as JSON on stdout; the host
/// limits its CPU time, address space and wall-clock time and kills it on overrun.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WorkerConfig {
    /// Path of the executable.
    pub program: PathBuf,
    /// Arguments that put it into worker mode.
    pub args: Vec<String>,
    /// The formats extracted in the worker. Default: PDF, XLS and ODS, whose parsers cannot be
    /// bounded in-process; DOCX and XLSX may be added for defense in depth.
    pub formats: Vec<FileType>,
}

impl WorkerConfig {
    /// A worker run as `program args...`, for PDF, XLS and ODS.
    pub fn new(
        program: impl Into<PathBuf>,
        args: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Self {
            program: program.into(),
            args: args.into_iter().map(Into::into).collect(),
            formats: vec![FileType::Pdf, FileType::Xls, FileType::Ods],
        }
    }
    /// Sets the formats extracted in the worker.
    pub fn formats(mut self, formats: impl IntoIterator<Item = FileType>) -> Self {
        self.formats = formats.into_iter().collect();
        self
    }
}

/// The PDF text extractor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PdfBackend {
    /// The pdf-extract crate (pure Rust), run in the worker.
    PdfExtract,
    /// Poppler's `pdftotext` at this path, run as a child process under the same limits as the
    /// worker. Better reading order and de-hyphenation, and faster.
    Pdftotext {
        /// Path of `pdftotext`.
        program: PathBuf,
    },
}

mod duration_secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        value: &Duration,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(value.as_secs_f64())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(deserializer)?;
        Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
    }
}
