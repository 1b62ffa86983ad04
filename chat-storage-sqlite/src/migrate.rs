//! Versioned schema migrations.
//!
//! Each migration is a file `migrations/NNN_name.sql` compiled in with `include_str!`. The
//! database's `PRAGMA user_version` holds the newest applied version. At open, inside one
//! `BEGIN IMMEDIATE` transaction, the writer applies the missing migrations in order, records
//! each in `chat_schema_migrations` and sets `user_version`; a database already up to date is
//! left untouched, and one newer than this code is refused.

use chrono::Utc;
use rusqlite::{Connection, TransactionBehavior, params};

use crate::codec::nanos;
use crate::error::{SqliteError, SqliteResult};

/// One migration.
struct Migration {
    version: i64,
    name: &'static str,
    sql: &'static str,
}

/// Every migration, oldest first; versions are consecutive from 1.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sql: include_str!("../migrations/001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "answer_claims",
        sql: include_str!("../migrations/002_answer_claims.sql"),
    },
];

/// Newest schema version this code knows.
pub const SCHEMA_VERSION: i64 = 2;

const LEDGER: &str = "CREATE TABLE IF NOT EXISTS chat_schema_migrations (
    version    INTEGER PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    applied_at INTEGER NOT NULL
)";

/// Reads the schema version of a database.
pub(crate) fn schema_version(conn: &Connection) -> SqliteResult<i64> {
    Ok(conn.pragma_query_value(None, "user_version", |row| row.get(0))?)
}

/// Brings the schema up to [`SCHEMA_VERSION`]; returns the versions applied now.
pub(crate) fn migrate(conn: &mut Connection) -> SqliteResult<Vec<i64>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let current = schema_version(&tx)?;
    if current > SCHEMA_VERSION {
        return Err(SqliteError::SchemaTooNew {
            found: current,
            supported: SCHEMA_VERSION,
        });
    }
    let mut applied = Vec::new();
    for migration in MIGRATIONS.iter().filter(|m| m.version > current) {
        let fail = |source| SqliteError::Migration {
            version: migration.version,
            name: migration.name,
            source,
        };
        tx.execute_batch(LEDGER).map_err(fail)?;
        tx.execute_batch(migration.sql).map_err(fail)?;
        tx.execute(
            "INSERT INTO chat_schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            params![migration.version, migration.name, nanos(Utc::now())?],
        )
        .map_err(fail)?;
        // PRAGMA takes no bound parameters; the value is our own integer constant.
        tx.execute_batch(&format!("PRAGMA user_version = {}", migration.version))
            .map_err(fail)?;
        applied.push(migration.version);
    }
    tx.commit()?;
    if !applied.is_empty() {
        tracing::info!(versions = ?applied, "sqlite schema migrated");
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_consecutive_and_end_at_schema_version() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i64::try_from(i).unwrap() + 1, "{}", m.name);
        }
        assert_eq!(MIGRATIONS.last().map(|m| m.version), Some(SCHEMA_VERSION));
    }

    #[test]
    fn an_older_database_is_upgraded_in_place() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(MIGRATIONS[0].sql).unwrap();
        conn.execute_batch("PRAGMA user_version = 1").unwrap();
        conn.execute(
            "INSERT INTO chat_sessions (id, tenant_id, kind, status, customer_id, created_at, updated_at)
             VALUES (x'01', 't', 'support', 'open', 'c', 0, 0)",
            [],
        )
        .unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), vec![2]);
        let (count, owner): (i64, Option<String>) = conn
            .query_row(
                "SELECT COUNT(*), MAX(answer_owner) FROM chat_sessions",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .unwrap();
        assert_eq!((count, owner), (1, None));
    }

    #[test]
    fn migrate_twice_is_a_no_op_and_newer_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), vec![1, 2]);
        assert!(migrate(&mut conn).unwrap().is_empty());
        assert_eq!(schema_version(&conn).unwrap(), SCHEMA_VERSION);
        conn.execute_batch("PRAGMA user_version = 99").unwrap();
        let err = migrate(&mut conn).unwrap_err();
        assert!(
            matches!(err, SqliteError::SchemaTooNew { found: 99, .. }),
            "{err}"
        );
    }
}
