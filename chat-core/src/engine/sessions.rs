//! Session operations.

use super::{ChatEngine, ChatError, ChatResult, validate};
use crate::auth::{self, Principal};
use crate::ids::SessionId;
use crate::model::{ChatSession, Metadata, NewSession, SessionFilter, SessionKind, SessionPage};

/// Input of [`ChatEngine::create_session`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CreateSession {
    /// Support or general.
    pub kind: SessionKind,
    /// Optional title.
    pub title: Option<String>,
    /// Host metadata.
    pub metadata: Metadata,
}

impl CreateSession {
    /// A session of this kind, without title or metadata.
    pub fn new(kind: SessionKind) -> Self {
        Self {
            kind,
            title: None,
            metadata: Metadata::new(),
        }
    }
    /// Sets the title.
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }
    /// Sets the metadata.
    pub fn metadata(mut self, metadata: Metadata) -> Self {
        self.metadata = metadata;
        self
    }
}

impl ChatEngine {
    /// Opens a session whose customer is the caller.
    ///
    /// Errors: `Forbidden` for staff (sessions belong to customers); `InvalidInput`/`TooLarge`
    /// for a bad title.
    #[tracing::instrument(level = "debug", skip_all, fields(tenant_id = %principal.tenant_id, user_id = %principal.user_id), err(level = "debug"))]
    pub async fn create_session(
        &self,
        principal: &Principal,
        input: CreateSession,
    ) -> ChatResult<ChatSession> {
        if principal.is_staff() {
            return Err(ChatError::Forbidden(
                "only customers open chat sessions".into(),
            ));
        }
        let title = match input.title {
            Some(title) => {
                let title = title.trim().to_owned();
                validate::short_text("title", &title, self.config().max_title_len)?;
                (!title.is_empty()).then_some(title)
            }
            None => None,
        };
        let mut new = NewSession::new(
            principal.tenant_id.clone(),
            input.kind,
            principal.user_id.clone(),
        )
        .metadata(input.metadata);
        new.title = title;
        let session = self.store().create_session(new).await?;
        tracing::debug!(session_id = %session.id, kind = session.kind.as_str(), "session created");
        Ok(session)
    }

    /// Reads a session the caller may see.
    ///
    /// Errors: `NotFound` (also for another tenant's session); `Forbidden` when the caller may
    /// not see it.
    pub async fn get_session(
        &self,
        principal: &Principal,
        id: SessionId,
    ) -> ChatResult<ChatSession> {
        let session = self.store().get_session(&principal.tenant_id, id).await?;
        if !auth::can_view_session(principal, &session) {
            return Err(ChatError::Forbidden("you may not see this session".into()));
        }
        Ok(session)
    }

    /// Lists the sessions the caller may see, newest first. The caller's scope always applies,
    /// whatever the filter says.
    ///
    /// Errors: `Unavailable` on storage failure.
    pub async fn list_sessions(
        &self,
        principal: &Principal,
        mut filter: SessionFilter,
    ) -> ChatResult<SessionPage> {
        filter.scope = auth::session_scope(principal);
        filter.limit = filter.limit.clamp(1, crate::model::MAX_SESSION_PAGE);
        Ok(self
            .store()
            .list_sessions(&principal.tenant_id, &filter)
            .await?)
    }
}
