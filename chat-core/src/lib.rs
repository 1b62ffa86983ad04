#![doc = include_str!("../README.md")]
#![warn(missing_docs, unreachable_pub)]

pub mod auth;
pub mod bus;
pub mod context;
pub mod engine;
pub mod ids;
pub mod ingest;
pub mod model;
pub mod provider;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;
pub mod text;

pub use auth::{Principal, Role};
pub use engine::{ChatEngine, ChatEngineBuilder, ChatError, ChatResult, EngineConfig};
pub use ids::{SessionId, TenantId, UserId};
