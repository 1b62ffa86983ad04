#![doc = include_str!("../README.md")]
#![warn(missing_docs, unreachable_pub)]

pub mod anthropic;
mod client;
mod error;
pub mod failover;
pub mod gemini;
mod http_settings;
pub mod offline;
pub mod openai;
mod sse;
mod transport;

pub use anthropic::{AnthropicConfig, AnthropicProvider};
pub use error::ConfigError;
pub use failover::{BreakerState, FailoverConfig, FailoverProvider};
pub use gemini::{GeminiConfig, GeminiProvider};
pub use http_settings::{ApiKey, HttpSettings};
pub use offline::{OfflineAnswerer, OfflineConfig};
pub use openai::{MaxTokensField, OpenAiAuth, OpenAiConfig, OpenAiProvider};
