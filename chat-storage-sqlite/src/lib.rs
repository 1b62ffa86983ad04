#![doc = include_str!("../README.md")]
#![warn(missing_docs, unreachable_pub)]

//! # Modules
//!
//! - `config`: [`SqliteConfig`] and its defaults;
//! - `error`: [`SqliteError`] and its mapping onto `chat_core::store::StoreError`;
//! - `migrate`: the versioned migrations of `migrations/NNN_name.sql`;
//! - `writer` / `readers`: the connection layout (one writer thread, a reader pool);
//! - `codec` / `fts` / `query`: column encodings, the FTS5 query builder, row helpers;
//! - one module per storage trait: `sessions`, `messages`, `documents`, `knowledge`,
//!   `support`, `url_cache`, `usage`.

mod codec;
mod config;
mod documents;
mod error;
mod fts;
mod knowledge;
mod messages;
mod migrate;
mod query;
mod readers;
mod sessions;
mod store;
mod support;
mod url_cache;
mod usage;
mod writer;

pub use config::{
    DEFAULT_BUSY_TIMEOUT, DEFAULT_MAX_WRITE_BATCH, DEFAULT_READER_COUNT,
    DEFAULT_WAL_AUTOCHECKPOINT_PAGES, DEFAULT_WRITE_QUEUE_CAPACITY, DatabaseLocation,
    MAX_READER_COUNT, MAX_WRITE_BATCH, SqliteConfig, Synchronous,
};
pub use error::{SqliteError, SqliteResult};
pub use knowledge::MAX_LIST_PAGE;
pub use migrate::SCHEMA_VERSION;
pub use store::SqliteStore;
