//! Linked PDFs go to the document pipeline (features `web` and `documents`): the
//! [`DocumentIngestor`] is a [`PdfHandoff`], so `UrlIngestor::pdf_handoff(Arc::new(documents))`
//! makes a URL that serves a PDF a document like an uploaded one: sniffed from its bytes,
//! extracted under the document pipeline's limits (in its worker process when configured),
//! chunked with page locators.

use std::sync::Arc;

use async_trait::async_trait;

use super::error::WebError;
use super::fetch::FetchedPdf;
use super::ingestor::PdfHandoff;
use crate::ingest::documents::{DocumentIngestor, FileType, IngestError, document_chunks};
use crate::model::{ChatDocument, DocumentChunk};

#[async_trait]
impl PdfHandoff for DocumentIngestor {
    async fn extract_pdf(
        &self,
        document: &ChatDocument,
        pdf: FetchedPdf,
    ) -> Result<Vec<DocumentChunk>, WebError> {
        let extractor = self.extractor();
        // The bytes decide, as for uploads; only a real PDF is taken from a link.
        let file_type = extractor
            .sniff(&pdf.body, "linked.pdf")
            .map_err(document_error)?;
        if file_type != FileType::Pdf {
            return Err(WebError::UnsupportedContentType(format!(
                "the link was served as a PDF but is {file_type}"
            )));
        }
        let extraction = extractor
            .extract(Arc::from(pdf.body), file_type)
            .await
            .map_err(document_error)?;
        let processed = extractor.chunk(extraction);
        Ok(document_chunks(document, processed.chunks))
    }
}

fn document_error(err: IngestError) -> WebError {
    WebError::Document {
        code: err.code().to_owned(),
        message: err.to_string(),
    }
}
