//! Small helpers over rusqlite's cached statements, so that every module reads rows the same
//! way (statements are prepared once per connection and reused).

use rusqlite::{Connection, OptionalExtension, Params, Row};

use crate::error::SqliteResult;

/// Every row of a query, decoded.
pub(crate) fn all<T, P, F>(
    conn: &Connection,
    sql: &str,
    params: P,
    decode: F,
) -> SqliteResult<Vec<T>>
where
    P: Params,
    F: FnMut(&Row<'_>) -> rusqlite::Result<T>,
{
    Ok(conn
        .prepare_cached(sql)?
        .query_map(params, decode)?
        .collect::<rusqlite::Result<Vec<T>>>()?)
}

/// The first row of a query, decoded, if there is one.
pub(crate) fn first<T, P, F>(
    conn: &Connection,
    sql: &str,
    params: P,
    decode: F,
) -> SqliteResult<Option<T>>
where
    P: Params,
    F: FnOnce(&Row<'_>) -> rusqlite::Result<T>,
{
    Ok(conn
        .prepare_cached(sql)?
        .query_row(params, decode)
        .optional()?)
}

/// Whether `table` has a row with this id (any tenant: ids are unique across tenants).
/// `table` is one of the crate's own table names, never input.
pub(crate) fn id_taken(conn: &Connection, table: &'static str, id: [u8; 16]) -> SqliteResult<bool> {
    let sql = format!("SELECT 1 FROM {table} WHERE id = ?1");
    Ok(first(conn, &sql, [id], |_| Ok(()))?.is_some())
}
