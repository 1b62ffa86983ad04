//! Identifiers. Records created by the engine get UUID v7 ids (they sort by creation time);
//! tenants and users are named by the host, so their ids are validated strings.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Longest accepted tenant or user id, in bytes.
pub const MAX_EXTERNAL_ID_LEN: usize = 128;

/// Error returned when a string is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} id: {reason}")]
pub struct InvalidId {
    /// Which kind of id was being parsed.
    pub kind: &'static str,
    /// Why it was refused.
    pub reason: &'static str,
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new time-ordered (v7) id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
            /// Wraps an existing UUID.
            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }
            /// The underlying UUID.
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0)
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s)
                    .map(Self)
                    .map_err(|_| InvalidId { kind: $kind, reason: "not a UUID" })
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }
    };
}

uuid_id!(
    /// A chat session.
    SessionId, "session"
);
uuid_id!(
    /// A message in a session.
    MessageId, "message"
);
uuid_id!(
    /// An uploaded document (or a fetched page) of a session.
    DocumentId, "document"
);
uuid_id!(
    /// One chunk of a document.
    ChunkId, "chunk"
);
uuid_id!(
    /// A knowledge-base article.
    ArticleId, "article"
);
uuid_id!(
    /// A learned FAQ entry.
    FaqId, "faq"
);
uuid_id!(
    /// A learning pattern (a recurring question).
    PatternId, "pattern"
);
uuid_id!(
    /// A support assignment (one agent holding one session for a while).
    AssignmentId, "assignment"
);
uuid_id!(
    /// An AI usage record.
    UsageId, "usage"
);
uuid_id!(
    /// A record of a context source that backed an AI message.
    ContextRecordId, "context record"
);

macro_rules! external_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Validates and wraps a host-provided id: 1 to [`MAX_EXTERNAL_ID_LEN`] bytes,
            /// no control characters, no surrounding whitespace.
            pub fn new(id: impl Into<String>) -> Result<Self, InvalidId> {
                let id = id.into();
                let err = |reason| InvalidId { kind: $kind, reason };
                if id.is_empty() {
                    return Err(err("empty"));
                }
                if id.len() > MAX_EXTERNAL_ID_LEN {
                    return Err(err("longer than 128 bytes"));
                }
                if id.chars().any(char::is_control) {
                    return Err(err("contains control characters"));
                }
                if id.trim() != id {
                    return Err(err("has surrounding whitespace"));
                }
                Ok(Self(id))
            }
            /// The id as a string.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({:?})"), self.0)
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::new(s).map_err(serde::de::Error::custom)
            }
        }
    };
}

external_id!(
    /// The host's tenant (workspace, organization). Every record belongs to one.
    TenantId, "tenant"
);
external_id!(
    /// A user of the host: customer, agent, manager or admin.
    UserId, "user"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_ids_are_validated() {
        assert!(TenantId::new("acme").is_ok());
        assert_eq!(TenantId::new("").unwrap_err().reason, "empty");
        assert!(UserId::new("a\nb").is_err());
        assert!(UserId::new(" a").is_err());
        assert!(UserId::new("x".repeat(129)).is_err());
        assert!(serde_json::from_str::<UserId>("\"\"").is_err());
    }

    #[test]
    fn uuid_ids_sort_by_creation() {
        let a = SessionId::new();
        let b = SessionId::new();
        assert!(a < b);
        assert_eq!(a, a.to_string().parse().unwrap());
        assert!("nope".parse::<SessionId>().is_err());
    }
}
