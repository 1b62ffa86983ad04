#![doc = include_str!("../README.md")]
#![warn(missing_docs, unreachable_pub)]

//! # Modules
//!
//! - `config`: [`PgConfig`] and its defaults;
//! - `error`: [`PgError`] and its mapping onto `chat_core::store::StoreError`;
//! - `migrate`: the versioned migrations of `migrations/NNN_name.sql`, under an advisory lock;
//! - `store`: [`PgStore`], its pool and the retry of rolled-back transactions;
//! - `codec` / `search`: column encodings and query helpers, BM25 full-text ranking;
//! - one module per storage trait: `sessions`, `messages`, `documents`, `knowledge`,
//!   `support`, `url_cache`, `usage`;
//! - `bus`: [`PgEventBus`], the LISTEN/NOTIFY event bus.

mod bus;
mod codec;
mod config;
mod documents;
mod error;
mod knowledge;
mod messages;
mod migrate;
mod search;
mod sessions;
mod store;
mod support;
mod url_cache;
mod usage;

pub use bus::{
    DEFAULT_LISTENER_APPLICATION_NAME, DEFAULT_MAX_INLINE_PAYLOAD, DEFAULT_PAYLOAD_TTL,
    DEFAULT_RECONNECT_MAX, DEFAULT_RECONNECT_MIN, MAX_NOTIFY_PAYLOAD, PgBusConfig, PgEventBus,
};
pub use config::{
    DEFAULT_APPLICATION_NAME, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_RETRIES, DEFAULT_POOL_SIZE,
    DEFAULT_SCHEMA, DEFAULT_STATEMENT_TIMEOUT, DEFAULT_UNACCENT_SCHEMA, DEFAULT_WAIT_TIMEOUT,
    MAX_POOL_SIZE, MAX_RETRIES, MAX_SCHEMA_NAME, PgConfig,
};
pub use error::{PgError, PgResult};
pub use knowledge::MAX_LIST_PAGE;
pub use migrate::SCHEMA_VERSION;
pub use search::{BM25_B, BM25_K1};
pub use store::PgStore;
