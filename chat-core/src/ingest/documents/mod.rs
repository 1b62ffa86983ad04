//! Document ingest: validation, text extraction, chunking.
