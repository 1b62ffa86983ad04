//! The support-portal demo server as a library, so its pieces are tested like any other code:
//! the command line ([`Args`]), the AI provider chosen from the environment ([`ai`]), the seeded
//! Tasklane knowledge base ([`seed`]), the development login ([`dev_login`]), the web page
//! ([`page`]) and the assembled application ([`app`]).

pub mod ai;
pub mod app;
pub mod args;
pub mod dev_login;
pub mod page;
pub mod seed;

pub use args::{AiMode, Args};
