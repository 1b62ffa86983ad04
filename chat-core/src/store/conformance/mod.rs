//! The shared store conformance suite: every storage backend (memory, SQLite, PostgreSQL, a
//! host's own) runs all of it. Compiled with the `testing` feature.
//!
//! # Running the suite
//!
//! Implement [`StoreFactory`] for your backend (or use [`SameStore`] for an in-process store),
//! then, in a test target of your crate (it needs `tokio` with the `macros` and
//! `rt-multi-thread` features as a dev-dependency, and `chat-core` with the `testing` feature):
//!
//! ```ignore
//! mod conformance {
//!     use super::*;
//!     // Any async expression that yields a fresh `impl StoreFactory`; it runs once per case.
//!     chat_core::store_conformance_tests!(async { MyFactory::fresh().await });
//! }
//! ```
//!
//! The macro expands one `#[tokio::test(flavor = "multi_thread", worker_threads = 4)]` per
//! case, grouped in one module per trait (`sessions::create_and_get`, ...). Each case gets its
//! own factory, so each case starts from an empty store: a temporary directory per case for
//! SQLite, a fresh schema per case for PostgreSQL. [`StoreFactory::open`] may be called more than
//! once per case: every call after the first must return another handle on the *same* data, as a
//! second engine node would see it (another pool for PostgreSQL). The suite opens a second
//! handle only when the store declares `multi_node` ([`second_handle`]), and then runs the
//! concurrency cases (gap-free `seq`, idempotent append, auto-assignment) with writers spread
//! over both handles.
//!
//! # What the suite expects beyond the trait docs
//!
//! - Search treats the query's plain words as alternatives (any word matches) and ranks with a
//!   BM25-like score (term saturation, inverse document frequency and length normalization are
//!   each checked), so a natural-language question finds passages that share some of its words,
//!   and a passage holding all of them ranks first.
//! - Input timestamps in the suite are whole seconds ([`at`]), so a backend that stores
//!   microseconds returns them unchanged.
//! - `last_assigned_at` moves when an assignment ends or the agent comes online (as the model
//!   documents it); auto-assignment orders by load, then that time (never set first), then id.
//!
//! # Completeness
//!
//! The list of cases lives in one place, the `@list` arm of [`store_conformance_tests!`](crate::store_conformance_tests): the
//! macro expands it into tests, and into [`CASES`] for the coverage guard in this module's tests,
//! which checks that every `async fn` of the storage traits in `store/mod.rs` is
//! named by some case, and that every case really calls the methods it names.

// Test code: a failed expectation must fail the test, so unwrap, expect and panic are the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod chat_store;
pub mod documents;
pub mod knowledge;
pub mod messages;
pub mod sessions;
pub mod support;
pub mod url_cache;
pub mod usage;

pub mod corpus;

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};

use super::{ChatStore, StoreError, StoreResult};
use crate::ids::{SessionId, TenantId, UserId};
use crate::model::{ChatMessage, ChatSession, NewMessage, NewSession, SenderKind, SessionKind};

/// Opens the store of one conformance case.
#[async_trait]
pub trait StoreFactory: Send + Sync {
    /// A handle on this factory's store: an empty store the first time; later calls return
    /// further handles on the same data (another node of a multi-node deployment).
    ///
    /// Errors: whatever prevents opening the store; the case fails with it.
    async fn open(&self) -> StoreResult<Arc<dyn ChatStore>>;
}

/// A factory for in-process stores: every [`StoreFactory::open`] returns the same store.
#[derive(Debug, Clone)]
pub struct SameStore(Arc<dyn ChatStore>);

impl SameStore {
    /// Wraps a store.
    pub fn new(store: impl ChatStore) -> Self {
        Self(Arc::new(store))
    }
}

#[async_trait]
impl StoreFactory for SameStore {
    async fn open(&self) -> StoreResult<Arc<dyn ChatStore>> {
        Ok(Arc::clone(&self.0))
    }
}

/// Runs a case that needs one store.
pub async fn run_store_case<C, Fut>(factory: &dyn StoreFactory, case: C)
where
    C: FnOnce(Arc<dyn ChatStore>) -> Fut,
    Fut: Future<Output = ()>,
{
    case(open(factory).await).await;
}

/// Opens a store from a factory, failing the case when that is impossible.
pub async fn open(factory: &dyn StoreFactory) -> Arc<dyn ChatStore> {
    factory
        .open()
        .await
        .unwrap_or_else(|err| panic!("the store factory failed to open a store: {err}"))
}

/// A second handle on `first`'s data: a new one from the factory when the store is
/// multi-node, otherwise `first` itself.
pub async fn second_handle(
    factory: &dyn StoreFactory,
    first: &Arc<dyn ChatStore>,
) -> Arc<dyn ChatStore> {
    if first.capabilities().multi_node {
        open(factory).await
    } else {
        Arc::clone(first)
    }
}

/// One case of the suite and the store methods it exercises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaseInfo {
    /// The module (one per trait).
    pub module: &'static str,
    /// The case (an `async fn` of that module).
    pub name: &'static str,
    /// The store methods it exercises.
    pub methods: &'static [&'static str],
}

/// Every case of the suite with the store methods it exercises (the list the macro expands).
pub const CASES: &[CaseInfo] = crate::store_conformance_tests!(@list coverage ());

/// Expands the conformance suite into one `#[tokio::test]` per case; see the
/// [module docs](crate::store::conformance) for how to invoke it.
///
/// The argument is an async expression evaluated once per case; its output implements
/// [`StoreFactory`].
#[macro_export]
macro_rules! store_conformance_tests {
    ($factory:expr $(,)?) => {
        $crate::store_conformance_tests!(@list tests ($factory));
    };
    // The one list of cases: `store` cases take an `Arc<dyn ChatStore>`, `factory` cases a
    // `&dyn StoreFactory`; the brackets name the store methods each case exercises.
    (@list $mode:ident $args:tt) => {
        $crate::store_conformance_tests! { @$mode $args
            sessions {
                store create_and_get [create_session, get_session],
                store not_found [get_session, update_session, delete_session],
                store tenant_isolation [create_session, get_session, list_sessions, update_session, delete_session, erase_customer, purge_sessions],
                store update_patch_and_record [update_session],
                store list_paging [list_sessions],
                store list_filters [list_sessions],
                store delete_cascades [delete_session],
                store erase_customer [erase_customer],
                store purge_sessions [purge_sessions],
                store answer_claims [claim_answer, release_answer],
                factory concurrent_answer_claims [claim_answer],
            }
            messages {
                store append_assigns_seq [append_message, get_message],
                store append_not_found [append_message],
                store idempotent_append [append_message],
                factory concurrent_idempotent_append [append_message],
                factory concurrent_seq_is_gap_free [append_message, list_messages],
                store list_paging [list_messages],
                store get_message_not_found [get_message],
                store context_sources [record_context_sources, list_context_sources],
            }
            documents {
                store insert_and_get [insert_document, get_document, list_documents],
                store update_document [update_document],
                store chunks [replace_chunks, list_chunks],
                store search_chunks [search_chunks],
                store delete_document [delete_document],
            }
            knowledge {
                store articles_crud [upsert_article, get_article, delete_article, list_articles],
                store search_articles_ranking [search_articles],
                store search_articles_bm25_signals [search_articles],
                store search_articles_stemming_and_diacritics [search_articles],
                store search_articles_query_syntax [search_articles],
                store faq_crud [upsert_faq, get_faq, delete_faq],
                store search_faq_ranking [search_faq],
                store faq_feedback [record_faq_feedback],
                store patterns [record_pattern, list_patterns, link_pattern],
            }
            support {
                store agents_crud [upsert_agent, get_agent, list_agents, set_agent_availability],
                store manual_assign_and_transfer [assign_session, active_assignment, list_assignments, agent_load],
                store assign_conflicts [assign_session],
                store auto_assign_routing [assign_session],
                factory concurrent_auto_assign [assign_session, queued_sessions, agent_load],
                factory concurrent_manual_assign [assign_session],
                store release [release_session],
                store queued_sessions [queued_sessions],
                store support_tenant_isolation [active_assignment, list_assignments, agent_load, list_agents],
            }
            url_cache {
                store round_trip [put_cached_url, get_cached_url],
                store purge_expired [purge_expired_urls],
            }
            usage {
                store usage_by_day [record_usage, usage_by_day],
            }
            chat_store {
                store capabilities [capabilities],
            }
        }
    };
    (@tests ($factory:expr) $( $module:ident { $( $kind:ident $case:ident [ $($method:ident),* ] ),* $(,)? } )*) => {
        $(
            mod $module {
                #[allow(unused_imports)]
                use super::*;
                $(
                    #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
                    async fn $case() {
                        let factory = $factory.await;
                        $crate::store_conformance_tests!(@run $kind factory $module $case);
                    }
                )*
            }
        )*
    };
    (@run store $factory:ident $module:ident $case:ident) => {
        $crate::store::conformance::run_store_case(&$factory, $crate::store::conformance::$module::$case).await
    };
    (@run factory $factory:ident $module:ident $case:ident) => {
        $crate::store::conformance::$module::$case(&$factory).await
    };
    (@coverage () $( $module:ident { $( $kind:ident $case:ident [ $($method:ident),* ] ),* $(,)? } )*) => {
        &[ $( $( $crate::store::conformance::CaseInfo {
            module: stringify!($module),
            name: stringify!($case),
            methods: &[ $( stringify!($method) ),* ],
        }, )* )* ]
    };
}

// ---- helpers shared by the cases ----

/// A tenant id (panics on an invalid literal).
pub fn tenant(name: &str) -> TenantId {
    TenantId::new(name).unwrap()
}

/// A user id (panics on an invalid literal).
pub fn user(name: &str) -> UserId {
    UserId::new(name).unwrap()
}

/// A fixed instant, `secs` seconds after 2024-03-01T00:00:00Z (whole seconds: every backend
/// stores them exactly).
pub fn at(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, 1, 0, 0, 0).unwrap() + chrono::Duration::seconds(secs)
}

/// Creates an open support session of `customer`.
pub async fn new_session(store: &dyn ChatStore, tenant: &TenantId, customer: &str) -> ChatSession {
    store
        .create_session(NewSession::new(
            tenant.clone(),
            SessionKind::Support,
            user(customer),
        ))
        .await
        .unwrap()
}

/// Appends a public customer message.
pub async fn say(store: &dyn ChatStore, session: &ChatSession, content: &str) -> ChatMessage {
    let message = NewMessage::new(
        session.tenant_id.clone(),
        session.id,
        SenderKind::Customer,
        Some(session.customer_id.clone()),
        content,
    );
    store.append_message(message).await.unwrap().value
}

/// Fails unless `result` is `NotFound`.
#[track_caller]
pub fn assert_not_found<T: Debug>(result: StoreResult<T>, what: &str) {
    match result {
        Err(StoreError::NotFound { .. }) => {}
        other => panic!("{what}: expected NotFound, got {other:?}"),
    }
}

/// Fails unless `result` is `Conflict`.
#[track_caller]
pub fn assert_conflict<T: Debug>(result: StoreResult<T>, what: &str) {
    match result {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("{what}: expected Conflict, got {other:?}"),
    }
}

/// Fails unless `result` is `InvalidInput`.
#[track_caller]
pub fn assert_invalid<T: Debug>(result: StoreResult<T>, what: &str) {
    match result {
        Err(StoreError::InvalidInput(_)) => {}
        other => panic!("{what}: expected InvalidInput, got {other:?}"),
    }
}

/// Sorted copy of a list of session ids.
pub fn sorted(mut ids: Vec<SessionId>) -> Vec<SessionId> {
    ids.sort();
    ids
}

#[cfg(test)]
mod tests;
