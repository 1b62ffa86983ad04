//! Conformance cases of [`DocumentStore`](crate::store::DocumentStore): documents, chunks and
//! chunk search.

use std::sync::Arc;

use super::corpus::{Corpus, QUERY_WORDS};
use super::knowledge::{EMPTY_QUERIES, SYNTAX_QUERIES};
use super::{assert_invalid, assert_not_found, new_session, tenant};
use crate::ids::{ChunkId, DocumentId, SessionId, TenantId};
use crate::model::{
    ChatDocument, ChunkLocator, DocumentChunk, DocumentStatus, Metadata, NewDocument,
};
use crate::store::{ChatStore, DocumentPatch};

mod records;
mod search;

pub use records::*;
pub use search::*;

fn pdf(t: &TenantId, session: SessionId, sha: &str) -> NewDocument {
    NewDocument::new(
        t.clone(),
        session,
        "report.pdf",
        "application/pdf",
        2048,
        sha,
    )
}

async fn ready_document(
    store: &dyn ChatStore,
    t: &TenantId,
    session: SessionId,
    name: &str,
    texts: &[String],
) -> ChatDocument {
    let doc = store
        .insert_document(NewDocument::new(
            t.clone(),
            session,
            name,
            "text/plain",
            100,
            format!("sha-{name}"),
        ))
        .await
        .unwrap()
        .value;
    let chunks = texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            DocumentChunk::new(
                t.clone(),
                session,
                doc.id,
                u32::try_from(i).unwrap(),
                text.clone(),
                None,
            )
        })
        .collect();
    store.replace_chunks(t, doc.id, chunks).await.unwrap();
    store
        .update_document(
            t,
            doc.id,
            DocumentPatch::default().status(DocumentStatus::Ready),
        )
        .await
        .unwrap()
}
