//! The error of document ingest. Each kind has a stable code that reaches the client in the
//! document's `failed` status or in the upload's error.

use serde::{Deserialize, Serialize};

use crate::store::StoreError;

/// Why a document was refused or could not be processed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// The bytes are not one of the accepted types (PDF, DOCX, XLSX, XLS, ODS, TXT, MD).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Over a size limit (upload, inflated size, ratio, cells, rows, pages, text).
    #[error("{0}")]
    TooLarge(String),
    /// The file is password-protected.
    #[error("{0}")]
    Encrypted(String),
    /// The file is truncated, garbled or not what it claims to be inside.
    #[error("{0}")]
    Corrupt(String),
    /// Extraction ran past its time limit.
    #[error("{0}")]
    Timeout(String),
    /// The input is malformed in a way the client can fix (empty file, bad name).
    #[error("{0}")]
    InvalidInput(String),
    /// Extraction cannot run now (no worker configured, the worker cannot start, storage down).
    #[error("{0}")]
    Unavailable(String),
    /// The store failed.
    #[error("storage failed: {0}")]
    Store(#[from] StoreError),
}

impl IngestError {
    /// The stable code: `unsupported_media_type`, `too_large`, `encrypted`, `corrupt`,
    /// `timeout`, `invalid_input`, `unavailable`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::TooLarge(_) => "too_large",
            Self::Encrypted(_) => "encrypted",
            Self::Corrupt(_) => "corrupt",
            Self::Timeout(_) => "timeout",
            Self::InvalidInput(_) => "invalid_input",
            Self::Unavailable(_) => "unavailable",
            Self::Store(err) if err.is_not_found() => "not_found",
            Self::Store(_) => "unavailable",
        }
    }

    /// True when retrying the same file later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Unavailable(_) => true,
            Self::Store(err) => err.is_retryable(),
            _ => false,
        }
    }

    /// The error as it crosses the worker's pipe.
    pub fn to_wire(&self) -> WireError {
        WireError {
            code: self.code().to_owned(),
            message: self.to_string(),
        }
    }

    pub(crate) fn corrupt(what: impl std::fmt::Display) -> Self {
        Self::Corrupt(what.to_string())
    }

    pub(crate) fn too_large(what: impl std::fmt::Display) -> Self {
        Self::TooLarge(what.to_string())
    }
}

/// An [`IngestError`] as code and message (the worker's error output, the CLI's error line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WireError {
    /// The stable code.
    pub code: String,
    /// The message.
    pub message: String,
}

impl From<WireError> for IngestError {
    fn from(wire: WireError) -> Self {
        let WireError { code, message } = wire;
        match code.as_str() {
            "unsupported_media_type" => Self::UnsupportedMediaType(message),
            "too_large" => Self::TooLarge(message),
            "encrypted" => Self::Encrypted(message),
            "corrupt" => Self::Corrupt(message),
            "timeout" => Self::Timeout(message),
            "invalid_input" => Self::InvalidInput(message),
            _ => Self::Unavailable(message),
        }
    }
}
