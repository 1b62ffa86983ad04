//! The REST endpoints of API v1, one file per resource.

pub(crate) mod documents;
pub(crate) mod messages;
pub(crate) mod sessions;
pub(crate) mod support;
pub(crate) mod system;
