//! Personal data (DESIGN section 12): export everything of a customer, erase it (records and
//! stored file bytes), and purge closed sessions after a retention period.

use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::{ChatEngine, ChatError, ChatResult};
use crate::auth::{Principal, Role};
use crate::ids::UserId;
use crate::model::{
    ChatDocument, ChatMessage, ChatSession, MAX_SESSION_PAGE, SessionFilter, SessionScope,
};
use crate::store::{ErasureReport, MAX_MESSAGE_PAGE, MessageQuery};

/// One session of an export, with everything in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SessionExport {
    /// The session.
    pub session: ChatSession,
    /// Its messages in `seq` order (internal notes only in an admin's export).
    pub messages: Vec<ChatMessage>,
    /// Its documents (metadata; the bytes stay in the blob store).
    pub documents: Vec<ChatDocument>,
}

/// Everything stored about one customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CustomerExport {
    /// The customer.
    pub customer_id: UserId,
    /// When the export was made.
    pub exported_at: chrono::DateTime<Utc>,
    /// Their sessions, newest first.
    pub sessions: Vec<SessionExport>,
}

impl ChatEngine {
    /// Exports everything stored about a customer. The customer may export their own data
    /// (internal notes left out); an admin may export anyone's in the tenant (with notes).
    ///
    /// Errors: `Forbidden` for anyone else.
    pub async fn export_customer(
        &self,
        principal: &Principal,
        customer: &UserId,
    ) -> ChatResult<CustomerExport> {
        let include_internal = self.require_self_or_admin(principal, customer)?;
        let store = self.store();
        let tenant = &principal.tenant_id;
        let mut sessions = Vec::new();
        let mut cursor = None;
        loop {
            let filter = SessionFilter::scoped(SessionScope::Customer(customer.clone()))
                .limit(MAX_SESSION_PAGE)
                .cursor(cursor);
            let page = store.list_sessions(tenant, &filter).await?;
            for session in page.sessions {
                let mut messages = Vec::new();
                let mut after = 0;
                loop {
                    let query = MessageQuery::after(after, MAX_MESSAGE_PAGE)
                        .include_internal(include_internal);
                    let batch = store.list_messages(tenant, session.id, query).await?;
                    let full = batch.len() == MAX_MESSAGE_PAGE as usize;
                    after = batch.last().map_or(after, |m| m.seq);
                    messages.extend(batch);
                    if !full {
                        break;
                    }
                }
                let documents = store.list_documents(tenant, session.id).await?;
                sessions.push(SessionExport {
                    session,
                    messages,
                    documents,
                });
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        tracing::info!(sessions = sessions.len(), "customer data exported");
        Ok(CustomerExport {
            customer_id: customer.clone(),
            exported_at: Utc::now(),
            sessions,
        })
    }

    /// Erases a customer: their sessions with every message, document, chunk, context record and
    /// assignment, and the stored bytes of their documents. The customer may erase their own
    /// data; an admin anyone's in the tenant.
    ///
    /// Errors: `Forbidden` for anyone else; `Unavailable` on storage failure (a retry finishes
    /// the job: what was erased stays erased).
    pub async fn erase_customer(
        &self,
        principal: &Principal,
        customer: &UserId,
    ) -> ChatResult<ErasureReport> {
        self.require_self_or_admin(principal, customer)?;
        let report = self
            .store()
            .erase_customer(&principal.tenant_id, customer)
            .await?;
        self.delete_blobs(&report.blob_keys).await;
        tracing::info!(
            sessions = report.sessions.len(),
            blobs = report.blob_keys.len(),
            "customer erased"
        );
        Ok(report)
    }

    /// Deletes the tenant's closed and resolved sessions not updated for `retention`, with their
    /// stored bytes. Admins only.
    ///
    /// Errors: `Forbidden` for anyone but an admin; `InvalidInput` for a retention that does
    /// not fit a date.
    pub async fn purge_sessions(
        &self,
        principal: &Principal,
        retention: std::time::Duration,
    ) -> ChatResult<ErasureReport> {
        if principal.role != Role::Admin {
            return Err(ChatError::Forbidden("only admins purge sessions".into()));
        }
        let retention = chrono::Duration::from_std(retention)
            .map_err(|_| ChatError::InvalidInput("retention is too long".into()))?;
        let cutoff = Utc::now()
            .checked_sub_signed(retention)
            .ok_or_else(|| ChatError::InvalidInput("retention is too long".into()))?;
        let report = self
            .store()
            .purge_sessions(&principal.tenant_id, cutoff)
            .await?;
        self.delete_blobs(&report.blob_keys).await;
        tracing::info!(sessions = report.sessions.len(), "sessions purged");
        Ok(report)
    }

    /// Returns whether internal notes are included (admins).
    fn require_self_or_admin(&self, principal: &Principal, customer: &UserId) -> ChatResult<bool> {
        match principal.role {
            Role::Admin => Ok(true),
            Role::Customer if &principal.user_id == customer => Ok(false),
            _ => Err(ChatError::Forbidden(
                "only the customer or an admin can do this".into(),
            )),
        }
    }

    /// Deletes stored document bytes; a failure is logged (the records are gone already, so the
    /// bytes are unreachable; an operator can sweep them).
    async fn delete_blobs(&self, keys: &[String]) {
        #[cfg(feature = "documents")]
        if let Ok(ingestor) = self.document_ingestor() {
            for key in keys {
                if let Err(err) = ingestor.blobs().delete(key).await {
                    tracing::warn!(error = %err, "stored document bytes could not be deleted");
                }
            }
            return;
        }
        if !keys.is_empty() {
            tracing::warn!(
                blobs = keys.len(),
                "documents had stored bytes but no blob store is configured"
            );
        }
    }
}
