//! Ingest: documents the customer uploads and web pages they link, turned into searchable chunks.

#[cfg(feature = "documents")]
pub mod documents;
#[cfg(feature = "web")]
pub mod web;
