//! Placeholder: implemented by its issue.
