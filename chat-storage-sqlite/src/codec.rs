//! How chat-core values are stored in columns and read back.
//!
//! - UUID ids: 16-byte blobs (v7 ids keep their time order as bytes);
//! - tenant and user ids: TEXT, validated again when read;
//! - enums: their stable `as_str` names;
//! - times: INTEGER nanoseconds since the Unix epoch, so values round-trip exactly;
//! - structured values: serde_json text.
//!
//! A stored value that does not decode is reported as a conversion error naming the column
//! (it can only come from a database edited by hand or a bug), never a panic.

use std::fmt;
use std::str::FromStr;

use chat_core::ids::{
    ArticleId, AssignmentId, ChunkId, ContextRecordId, DocumentId, FaqId, InvalidId, MessageId,
    PatternId, SessionId, UsageId,
};
use chat_core::model::{
    AgentAvailability, AgentRole, AssignmentKind, FaqStatus, SenderKind, SessionKind,
    SessionStatus, UsageOutcome, Visibility,
};
use chrono::{DateTime, Utc};
use rusqlite::Row;
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ValueRef};
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::error::{SqliteError, SqliteResult};

/// A stored value that does not decode.
#[derive(Debug)]
struct BadValue(String);

impl fmt::Display for BadValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "stored value does not decode: {}", self.0)
    }
}

impl std::error::Error for BadValue {}

fn bad(detail: impl Into<String>) -> FromSqlError {
    FromSqlError::Other(Box::new(BadValue(detail.into())))
}

/// A time as stored: nanoseconds since the epoch.
pub(crate) fn nanos(time: DateTime<Utc>) -> SqliteResult<i64> {
    time.timestamp_nanos_opt().ok_or_else(|| {
        SqliteError::invalid(format!("time {time} is outside the years 1677..=2262"))
    })
}

/// A time as a query bound: times outside the stored range clamp to its ends.
pub(crate) fn bound_nanos(time: DateTime<Utc>) -> i64 {
    time.timestamp_nanos_opt()
        .unwrap_or(if time < DateTime::UNIX_EPOCH {
            i64::MIN
        } else {
            i64::MAX
        })
}

/// An optional time as stored.
pub(crate) fn opt_nanos(time: Option<DateTime<Utc>>) -> SqliteResult<Option<i64>> {
    time.map(nanos).transpose()
}

/// A count as stored (SQLite integers are signed 64-bit).
pub(crate) fn int(value: u64) -> SqliteResult<i64> {
    i64::try_from(value)
        .map_err(|_| SqliteError::invalid(format!("{value} does not fit a 64-bit signed integer")))
}

/// A value as stored JSON text.
pub(crate) fn json<T: Serialize + ?Sized>(value: &T) -> SqliteResult<String> {
    Ok(serde_json::to_string(value)?)
}

/// Ids stored as 16-byte blobs.
pub(crate) trait UuidKey: Sized {
    /// The blob.
    fn key(&self) -> [u8; 16];
    /// From a stored UUID.
    fn from_stored(id: Uuid) -> Self;
}

macro_rules! uuid_key {
    ($($t:ty),*) => {$(
        impl UuidKey for $t {
            fn key(&self) -> [u8; 16] {
                *self.as_uuid().as_bytes()
            }
            fn from_stored(id: Uuid) -> Self {
                <$t>::from_uuid(id)
            }
        }
    )*};
}

uuid_key!(
    SessionId,
    MessageId,
    DocumentId,
    ChunkId,
    ArticleId,
    FaqId,
    PatternId,
    AssignmentId,
    UsageId,
    ContextRecordId
);

/// The blob of an optional id.
pub(crate) fn opt_key<T: UuidKey>(id: Option<&T>) -> Option<[u8; 16]> {
    id.map(UuidKey::key)
}

/// Enums stored by their stable name.
pub(crate) trait StoredName: Sized {
    /// Parses a stored name.
    fn from_name(name: &str) -> Option<Self>;
}

macro_rules! stored_name {
    ($($t:ty),*) => {$(
        impl StoredName for $t {
            fn from_name(name: &str) -> Option<Self> {
                <$t>::parse(name)
            }
        }
    )*};
}

stored_name!(
    SessionKind,
    SessionStatus,
    SenderKind,
    Visibility,
    AgentRole,
    AgentAvailability,
    AssignmentKind,
    FaqStatus,
    UsageOutcome
);

struct IdCol<T>(T);

impl<T: UuidKey> FromSql for IdCol<T> {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let bytes = <[u8; 16]>::column_result(value)?;
        Ok(Self(T::from_stored(Uuid::from_bytes(bytes))))
    }
}

struct NameCol<T>(T);

impl<T: StoredName> FromSql for NameCol<T> {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let name = value.as_str()?;
        T::from_name(name)
            .map(Self)
            .ok_or_else(|| bad(format!("unknown name {name:?}")))
    }
}

struct ExternalCol<T>(T);

impl<T: FromStr<Err = InvalidId>> FromSql for ExternalCol<T> {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        value
            .as_str()?
            .parse()
            .map(Self)
            .map_err(|e: InvalidId| bad(e.to_string()))
    }
}

struct JsonCol<T>(T);

impl<T: DeserializeOwned> FromSql for JsonCol<T> {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        serde_json::from_str(value.as_str()?)
            .map(Self)
            .map_err(|e| bad(e.to_string()))
    }
}

struct TimeCol(DateTime<Utc>);

impl FromSql for TimeCol {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        Ok(Self(DateTime::from_timestamp_nanos(value.as_i64()?)))
    }
}

struct CountCol<T>(T);

impl<T: TryFrom<i64>> FromSql for CountCol<T> {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let raw = value.as_i64()?;
        T::try_from(raw)
            .map(Self)
            .map_err(|_| FromSqlError::OutOfRange(raw))
    }
}

/// Reads a UUID id column.
pub(crate) fn id<T: UuidKey>(row: &Row<'_>, col: &str) -> rusqlite::Result<T> {
    Ok(row.get::<_, IdCol<T>>(col)?.0)
}

/// Reads a nullable UUID id column.
pub(crate) fn opt_id<T: UuidKey>(row: &Row<'_>, col: &str) -> rusqlite::Result<Option<T>> {
    Ok(row.get::<_, Option<IdCol<T>>>(col)?.map(|c| c.0))
}

/// Reads an enum column.
pub(crate) fn name<T: StoredName>(row: &Row<'_>, col: &str) -> rusqlite::Result<T> {
    Ok(row.get::<_, NameCol<T>>(col)?.0)
}

/// Reads a tenant or user id column.
pub(crate) fn external<T: FromStr<Err = InvalidId>>(
    row: &Row<'_>,
    col: &str,
) -> rusqlite::Result<T> {
    Ok(row.get::<_, ExternalCol<T>>(col)?.0)
}

/// Reads a nullable tenant or user id column.
pub(crate) fn opt_external<T: FromStr<Err = InvalidId>>(
    row: &Row<'_>,
    col: &str,
) -> rusqlite::Result<Option<T>> {
    Ok(row.get::<_, Option<ExternalCol<T>>>(col)?.map(|c| c.0))
}

/// Reads a JSON column.
pub(crate) fn from_json<T: DeserializeOwned>(row: &Row<'_>, col: &str) -> rusqlite::Result<T> {
    Ok(row.get::<_, JsonCol<T>>(col)?.0)
}

/// Reads a nullable JSON column.
pub(crate) fn opt_json<T: DeserializeOwned>(
    row: &Row<'_>,
    col: &str,
) -> rusqlite::Result<Option<T>> {
    Ok(row.get::<_, Option<JsonCol<T>>>(col)?.map(|c| c.0))
}

/// Reads a time column.
pub(crate) fn time(row: &Row<'_>, col: &str) -> rusqlite::Result<DateTime<Utc>> {
    Ok(row.get::<_, TimeCol>(col)?.0)
}

/// Reads a nullable time column.
pub(crate) fn opt_time(row: &Row<'_>, col: &str) -> rusqlite::Result<Option<DateTime<Utc>>> {
    Ok(row.get::<_, Option<TimeCol>>(col)?.map(|c| c.0))
}

/// Reads an unsigned count column.
pub(crate) fn count<T: TryFrom<i64>>(row: &Row<'_>, col: &str) -> rusqlite::Result<T> {
    Ok(row.get::<_, CountCol<T>>(col)?.0)
}

/// Reads a nullable unsigned count column.
pub(crate) fn opt_count<T: TryFrom<i64>>(row: &Row<'_>, col: &str) -> rusqlite::Result<Option<T>> {
    Ok(row.get::<_, Option<CountCol<T>>>(col)?.map(|c| c.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    #[test]
    fn values_round_trip_and_bad_values_are_errors() {
        let conn = Connection::open_in_memory().unwrap();
        let session = SessionId::new();
        let now = Utc::now();
        let (got_id, got_time, got_status): (SessionId, _, SessionStatus) = conn
            .query_row(
                "SELECT ?1 AS id, ?2 AS t, 'assigned' AS s",
                rusqlite::params![session.key(), nanos(now).unwrap()],
                |row| Ok((id(row, "id")?, time(row, "t")?, name(row, "s")?)),
            )
            .unwrap();
        assert_eq!(
            (got_id, got_time, got_status),
            (session, now, SessionStatus::Assigned)
        );
        let err = conn
            .query_row("SELECT 'nope' AS s", [], |row| {
                name::<SessionStatus>(row, "s")
            })
            .unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
        assert!(
            conn.query_row("SELECT -1 AS c", [], |row| count::<u32>(row, "c"))
                .is_err()
        );
        assert!(
            conn.query_row("SELECT '' AS t", [], |row| external::<chat_core::TenantId>(
                row, "t"
            ))
            .is_err()
        );
        let far = DateTime::<Utc>::MAX_UTC;
        assert!(nanos(far).is_err());
    }
}
