//! Conformance cases of [`SessionStore`](crate::store::SessionStore).

use std::sync::Arc;

use super::{
    assert_conflict, assert_invalid, assert_not_found, new_session, say, sorted, tenant, user,
};
use crate::ids::SessionId;
use crate::model::{
    Agent, AgentAvailability, AgentRole, AssignRequest, AssignTarget, AssignmentKind,
    ContextSourceKind, ContextSourceRecord, DocumentChunk, DocumentStatus, Metadata, NewDocument,
    NewMessage, NewSession, SessionFilter, SessionKind, SessionPatch, SessionScope, SessionStatus,
    SystemEvent,
};
use crate::store::{ChatStore, DocumentPatch, ErasureReport, MessageQuery};

mod claims;
mod erasure;
mod records;

pub use claims::*;
pub use erasure::*;
pub use records::*;
