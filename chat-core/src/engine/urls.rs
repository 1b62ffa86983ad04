//! Submitting URLs to a session: authorization here, the pipeline in
//! [`UrlIngestor`](crate::ingest::web::UrlIngestor).

use std::sync::{Arc, OnceLock};

use super::{ChatEngine, ChatEngineBuilder, ChatError, ChatResult};
use crate::auth::Principal;
use crate::ids::SessionId;
use crate::ingest::web::{SubmittedUrl, UrlIngestor, WebConfig, WebError};
use crate::model::Visibility;

/// The engine's URL ingestor: the one given to the builder, or one with the default settings
/// made on first use.
#[derive(Debug, Default)]
pub(super) struct UrlIngestSlot {
    configured: Option<Arc<UrlIngestor>>,
    default: OnceLock<Result<Arc<UrlIngestor>, String>>,
}

impl UrlIngestSlot {
    pub(super) fn new(configured: Option<Arc<UrlIngestor>>) -> Self {
        Self {
            configured,
            default: OnceLock::new(),
        }
    }
}

impl ChatEngineBuilder {
    /// The URL ingestor (default: one with [`WebConfig::default`] over the engine's store and
    /// bus, made on first use).
    pub fn url_ingestor(mut self, ingestor: Arc<UrlIngestor>) -> Self {
        self.url_ingestor = Some(ingestor);
        self
    }
}

impl ChatEngine {
    /// The URL ingestor.
    ///
    /// Errors: `Unavailable` when the default one cannot be set up (TLS configuration).
    pub fn url_ingestor(&self) -> ChatResult<Arc<UrlIngestor>> {
        let slot = &self.inner.urls;
        if let Some(ingestor) = &slot.configured {
            return Ok(Arc::clone(ingestor));
        }
        slot.default
            .get_or_init(|| {
                UrlIngestor::new(
                    Arc::clone(self.store()),
                    Arc::clone(self.bus()),
                    WebConfig::default(),
                )
                .map(Arc::new)
                .map_err(|e| e.to_string())
            })
            .clone()
            .map_err(|e| ChatError::unavailable(format!("URL ingest is not available: {e}")))
    }

    /// Submits a URL to a session: authorizes (the caller must be allowed to post publicly in
    /// the session), validates the URL (no network traffic yet), records it as a pending
    /// document and returns at once; fetching, extraction and indexing run in the background
    /// and report `url_status` events. The same URL twice in a session returns the first record.
    ///
    /// Errors: `NotFound`, `Forbidden` (not the caller's session, or a closed one),
    /// `InvalidInput` (malformed or refused URL), `TooLarge` (URL too long), `Unavailable`.
    pub async fn submit_url(
        &self,
        principal: &Principal,
        session_id: SessionId,
        url: &str,
    ) -> ChatResult<SubmittedUrl> {
        self.postable_session(principal, session_id, Visibility::Public)
            .await?;
        let ingestor = self.url_ingestor()?;
        Ok(ingestor
            .submit(&principal.tenant_id, session_id, url)
            .await?)
    }
}

impl From<WebError> for ChatError {
    fn from(err: WebError) -> Self {
        match err {
            WebError::Store(store) => store.into(),
            WebError::UrlTooLong { .. } => Self::TooLarge(err.to_string()),
            WebError::RateLimited { retry_after, .. } => Self::RateLimited {
                message: err.to_string(),
                retry_after: Some(retry_after),
            },
            WebError::UnsupportedContentType(_) | WebError::PdfNotHandled => {
                Self::UnsupportedMediaType(err.to_string())
            }
            ref e if e.is_refusal() => Self::InvalidInput(err.to_string()),
            other => Self::Unavailable {
                message: "URL ingest failed".into(),
                source: Some(Box::new(other)),
            },
        }
    }
}
