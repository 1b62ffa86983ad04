//! How chat-core values are stored in columns and read back, and small query helpers.
//!
//! - UUID ids: `UUID`; tenant and user ids: `TEXT`, validated again when read;
//! - enums: their stable `as_str` names;
//! - times: `TIMESTAMPTZ` (microseconds: the store's own clock readings go through [`now`],
//!   so what it returns equals what it stored);
//! - counts: `BIGINT`; structured values: `JSONB`.
//!
//! A stored value that does not decode is a [`PgError::Decode`] naming the column, never a panic.

use std::str::FromStr;

use chat_core::ids::{
    ArticleId, AssignmentId, ChunkId, ContextRecordId, DocumentId, FaqId, InvalidId, MessageId,
    PatternId, SessionId, UsageId,
};
use chat_core::model::{
    AgentAvailability, AgentRole, AssignmentKind, FaqStatus, SenderKind, SessionKind,
    SessionStatus, UsageOutcome, Visibility,
};
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use deadpool_postgres::GenericClient;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_postgres::Row;
use tokio_postgres::types::{Json, ToSql};
use uuid::Uuid;

use crate::error::{PgError, PgResult};

/// Query parameters.
pub(crate) type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// The current time at the database's precision (microseconds).
pub(crate) fn now() -> DateTime<Utc> {
    let now = Utc::now();
    now.duration_trunc(TimeDelta::microseconds(1))
        .unwrap_or(now)
}

/// Earliest time used as a query bound (PostgreSQL's range starts in 4713 BC).
fn min_bound() -> DateTime<Utc> {
    DateTime::from_timestamp(-200_000_000_000, 0).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Latest time used as a query bound (PostgreSQL's range ends in 294276 AD).
fn max_bound() -> DateTime<Utc> {
    DateTime::from_timestamp(9_000_000_000_000, 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// A time as a query bound: times outside the stored range clamp to its ends.
pub(crate) fn bound(time: DateTime<Utc>) -> DateTime<Utc> {
    time.clamp(min_bound(), max_bound())
}

/// A time as stored: refused when outside PostgreSQL's range.
pub(crate) fn stored_time(time: DateTime<Utc>) -> PgResult<DateTime<Utc>> {
    if time < min_bound() || time > max_bound() {
        return Err(PgError::invalid(format!(
            "time {time} is outside the range the database stores"
        )));
    }
    Ok(time)
}

/// A count as stored (BIGINT is signed).
pub(crate) fn int(value: u64) -> PgResult<i64> {
    i64::try_from(value)
        .map_err(|_| PgError::invalid(format!("{value} does not fit a 64-bit signed integer")))
}

/// A value as JSONB.
pub(crate) fn json<T: Serialize + ?Sized>(value: &T) -> Json<&T> {
    Json(value)
}

/// Words of a text, as BM25's document length (runs of letters and digits).
pub(crate) fn word_count(texts: &[&str]) -> i32 {
    let n: usize = texts
        .iter()
        .map(|t| {
            t.split(|c: char| !c.is_alphanumeric())
                .filter(|w| !w.is_empty())
                .count()
        })
        .sum();
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Ids stored as UUIDs.
pub(crate) trait UuidKey: Sized {
    /// The UUID.
    fn key(&self) -> Uuid;
    /// From a stored UUID.
    fn from_stored(id: Uuid) -> Self;
}

macro_rules! uuid_key {
    ($($t:ty),*) => {$(
        impl UuidKey for $t {
            fn key(&self) -> Uuid {
                *self.as_uuid()
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

/// The UUID of an optional id.
pub(crate) fn opt_key<T: UuidKey>(id: Option<&T>) -> Option<Uuid> {
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

fn bad(col: &str, detail: impl std::fmt::Display) -> PgError {
    PgError::Decode(format!("column {col}: {detail}"))
}

/// Reads a plain column.
pub(crate) fn get<'a, T: tokio_postgres::types::FromSql<'a>>(
    row: &'a Row,
    col: &str,
) -> PgResult<T> {
    row.try_get(col).map_err(|e| bad(col, e))
}

/// Reads a UUID id column.
pub(crate) fn id<T: UuidKey>(row: &Row, col: &str) -> PgResult<T> {
    Ok(T::from_stored(get::<Uuid>(row, col)?))
}

/// Reads a nullable UUID id column.
pub(crate) fn opt_id<T: UuidKey>(row: &Row, col: &str) -> PgResult<Option<T>> {
    Ok(get::<Option<Uuid>>(row, col)?.map(T::from_stored))
}

/// Reads an enum column.
pub(crate) fn name<T: StoredName>(row: &Row, col: &str) -> PgResult<T> {
    let value: &str = get(row, col)?;
    T::from_name(value).ok_or_else(|| bad(col, format!("unknown name {value:?}")))
}

/// Reads a tenant or user id column.
pub(crate) fn external<T: FromStr<Err = InvalidId>>(row: &Row, col: &str) -> PgResult<T> {
    get::<&str>(row, col)?.parse().map_err(|e| bad(col, e))
}

/// Reads a nullable tenant or user id column.
pub(crate) fn opt_external<T: FromStr<Err = InvalidId>>(
    row: &Row,
    col: &str,
) -> PgResult<Option<T>> {
    get::<Option<&str>>(row, col)?
        .map(|v| v.parse().map_err(|e| bad(col, e)))
        .transpose()
}

/// Reads a JSONB column.
pub(crate) fn from_json<T: DeserializeOwned>(row: &Row, col: &str) -> PgResult<T> {
    Ok(get::<Json<T>>(row, col)?.0)
}

/// Reads a nullable JSONB column.
pub(crate) fn opt_json<T: DeserializeOwned>(row: &Row, col: &str) -> PgResult<Option<T>> {
    Ok(get::<Option<Json<T>>>(row, col)?.map(|j| j.0))
}

/// Reads an unsigned count column.
pub(crate) fn count<T: TryFrom<i64>>(row: &Row, col: &str) -> PgResult<T> {
    let raw: i64 = get(row, col)?;
    T::try_from(raw).map_err(|_| bad(col, format!("{raw} is out of range")))
}

/// Reads a nullable unsigned count column.
pub(crate) fn opt_count<T: TryFrom<i64>>(row: &Row, col: &str) -> PgResult<Option<T>> {
    get::<Option<i64>>(row, col)?
        .map(|raw| T::try_from(raw).map_err(|_| bad(col, format!("{raw} is out of range"))))
        .transpose()
}

/// Every row of a query (prepared once per connection and cached).
pub(crate) async fn rows<C: GenericClient>(
    client: &C,
    sql: &str,
    params: Params<'_>,
) -> PgResult<Vec<Row>> {
    let statement = client.prepare_cached(sql).await?;
    Ok(client.query(&statement, params).await?)
}

/// The first row of a query, if any.
pub(crate) async fn row<C: GenericClient>(
    client: &C,
    sql: &str,
    params: Params<'_>,
) -> PgResult<Option<Row>> {
    let statement = client.prepare_cached(sql).await?;
    Ok(client.query_opt(&statement, params).await?)
}

/// Runs a statement; returns the rows it touched.
pub(crate) async fn exec<C: GenericClient>(
    client: &C,
    sql: &str,
    params: Params<'_>,
) -> PgResult<u64> {
    let statement = client.prepare_cached(sql).await?;
    Ok(client.execute(&statement, params).await?)
}

/// Every row of a query, decoded.
pub(crate) async fn all<C, T, F>(
    client: &C,
    sql: &str,
    params: Params<'_>,
    decode: F,
) -> PgResult<Vec<T>>
where
    C: GenericClient,
    F: Fn(&Row) -> PgResult<T>,
{
    rows(client, sql, params)
        .await?
        .iter()
        .map(decode)
        .collect()
}

/// The first row of a query, decoded.
pub(crate) async fn first<C, T, F>(
    client: &C,
    sql: &str,
    params: Params<'_>,
    decode: F,
) -> PgResult<Option<T>>
where
    C: GenericClient,
    F: FnOnce(&Row) -> PgResult<T>,
{
    row(client, sql, params)
        .await?
        .as_ref()
        .map(decode)
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_has_microsecond_precision_and_bounds_clamp() {
        assert_eq!(now().timestamp_subsec_nanos() % 1000, 0);
        assert_eq!(bound(DateTime::<Utc>::MAX_UTC), max_bound());
        assert_eq!(bound(DateTime::<Utc>::MIN_UTC), min_bound());
        assert!(stored_time(DateTime::<Utc>::MIN_UTC).is_err());
        assert!(stored_time(DateTime::<Utc>::MAX_UTC).is_ok());
        assert!(int(u64::MAX).is_err());
        assert_eq!(word_count(&["Café opens, at 9!", "a-b"]), 6);
    }
}
