#![doc = include_str!("../README.md")]
#![warn(missing_docs, unreachable_pub)]

pub mod auth;
mod config;
mod error;
mod frames;
mod limit;
mod metrics;
mod openapi;
mod rest;
mod router;
mod shutdown;
#[cfg(feature = "socketio")]
pub mod socketio;
mod sse;
mod state;
pub mod ws;

pub use auth::{
    AuthError, AuthRequest, Authenticated, Authenticator, DevAuthenticator, JwtAuthenticator,
};
pub use config::{AdapterConfig, RateLimit};
pub use error::{ApiError, ErrorBody, ErrorDetail};
pub use metrics::Metrics;
pub use openapi::openapi;
pub use router::router;
pub use shutdown::{CLOSE_SERVICE_RESTART, DEFAULT_SHUTDOWN_GRACE, Shutdown};
