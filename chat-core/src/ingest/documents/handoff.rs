//! PDFs that URLs lead to: [`Extractor`] implements the URL pipeline's
//! [`PdfHandoff`], so a host that runs both features gives its `UrlIngestor` the same
//! extraction (worker, limits, page locators) as uploads:
//! `UrlIngestor::new(store, bus, web_config)?.pdf_handoff(Arc::new(extractor))`.

use std::sync::Arc;

use async_trait::async_trait;

use super::ingestor::document_chunks;
use super::{Extractor, FileType, IngestError};
use crate::ingest::web::{FetchedPdf, PdfHandoff, WebError};
use crate::model::{ChatDocument, DocumentChunk};

#[async_trait]
impl PdfHandoff for Extractor {
    async fn extract_pdf(
        &self,
        document: &ChatDocument,
        pdf: FetchedPdf,
    ) -> Result<Vec<DocumentChunk>, WebError> {
        let bytes: Arc<[u8]> = pdf.body.into();
        let file_type = self
            .sniff(&bytes, "download.pdf")
            .map_err(|e| self.web_error(e))?;
        if file_type != FileType::Pdf {
            return Err(WebError::UnsupportedContentType(format!(
                "a {file_type} file served as a PDF"
            )));
        }
        let extraction = self
            .extract(bytes, file_type)
            .await
            .map_err(|e| self.web_error(e))?;
        // No chunks (a scanned PDF) makes the URL pipeline report "no readable text".
        Ok(document_chunks(document, self.chunk(extraction).chunks))
    }
}

impl Extractor {
    /// The URL pipeline's nearest error; the ingest code stays in the message.
    fn web_error(&self, err: IngestError) -> WebError {
        match err {
            IngestError::TooLarge(_) => WebError::TooLarge {
                limit: self.config().max_upload_bytes,
            },
            IngestError::Timeout(_) => WebError::Timeout {
                phase: "PDF extraction",
                after: self.config().extraction_timeout,
            },
            IngestError::Store(err) => WebError::Store(err),
            other => WebError::UnsupportedContentType(format!("{}: {other}", other.code())),
        }
    }
}
