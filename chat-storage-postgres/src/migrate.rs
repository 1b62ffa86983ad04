//! Versioned schema migrations.
//!
//! Each migration is a file `migrations/NNN_name.sql` compiled in with `include_str!`. The
//! ledger table `chat_schema_migrations` in the store's schema records the applied versions.
//! At start, one transaction takes a transaction-scoped advisory lock keyed by the schema
//! name, creates the schema when missing, and applies the missing migrations in order, so
//! two nodes starting at once apply each migration exactly once (the second waits for the
//! first, then finds nothing to do). A schema newer than this code is refused.
//!
//! The `unaccent` extension (needed by the full-text configuration) is database-wide; it is
//! created beforehand, when missing, in its own transaction under a database-wide advisory
//! lock, in the configured `unaccent_schema` (never the store's schema, which a test may drop).

use deadpool_postgres::Client;

use crate::error::{PgError, PgResult};

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
        name: "bus_payloads",
        sql: include_str!("../migrations/002_bus_payloads.sql"),
    },
    Migration {
        version: 3,
        name: "answer_claims",
        sql: include_str!("../migrations/003_answer_claims.sql"),
    },
];

/// Newest schema version this code knows.
pub const SCHEMA_VERSION: i64 = 3;

const LEDGER: &str = "CREATE TABLE IF NOT EXISTS chat_schema_migrations (
    version    BIGINT PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)";

/// Advisory lock key of the database-wide extension step ("chat-ext" in ASCII).
const EXTENSION_LOCK: i64 = 0x6368_6174_2d65_7874;

/// Advisory lock key of one schema's migrations: FNV-1a of the schema name, so every node
/// computes the same key and different schemas migrate in parallel.
pub(crate) fn schema_lock_key(schema: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in b"chat-engine-migrate:".iter().chain(schema.as_bytes()) {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    i64::from_ne_bytes(hash.to_ne_bytes())
}

/// Creates `unaccent` when the database lacks it.
async fn ensure_unaccent(client: &mut Client, unaccent_schema: &str) -> PgResult<()> {
    let installed = client
        .query_opt("SELECT 1 FROM pg_extension WHERE extname = 'unaccent'", &[])
        .await?
        .is_some();
    if installed {
        return Ok(());
    }
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&EXTENSION_LOCK])
        .await?;
    // The schema name is a checked identifier (see `PgConfig::validate`).
    tx.batch_execute(&format!(
        "CREATE EXTENSION IF NOT EXISTS unaccent SCHEMA \"{unaccent_schema}\""
    ))
    .await
    .map_err(PgError::Unaccent)?;
    tx.commit().await?;
    tracing::info!(schema = unaccent_schema, "created the unaccent extension");
    Ok(())
}

/// The schema version recorded in the ledger (0 when there is none).
pub(crate) async fn schema_version(client: &Client, schema: &str) -> PgResult<i64> {
    let exists = client
        .query_opt(
            "SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = 'chat_schema_migrations'",
            &[&schema],
        )
        .await?
        .is_some();
    if !exists {
        return Ok(0);
    }
    let row = client
        .query_one(
            "SELECT coalesce(max(version), 0) FROM chat_schema_migrations",
            &[],
        )
        .await?;
    Ok(row.try_get(0)?)
}

/// Brings the schema up to [`SCHEMA_VERSION`]; returns the versions applied now.
pub(crate) async fn migrate(
    client: &mut Client,
    schema: &str,
    unaccent_schema: &str,
) -> PgResult<Vec<i64>> {
    ensure_unaccent(client, unaccent_schema).await?;
    let tx = client.transaction().await?;
    tx.execute(
        "SELECT pg_advisory_xact_lock($1)",
        &[&schema_lock_key(schema)],
    )
    .await?;
    // The schema name is a checked identifier (see `PgConfig::validate`).
    tx.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS \"{schema}\"; SET LOCAL search_path TO \"{schema}\"; {LEDGER}"
    ))
    .await?;
    let current: i64 = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM chat_schema_migrations",
            &[],
        )
        .await?
        .try_get(0)?;
    if current > SCHEMA_VERSION {
        return Err(PgError::SchemaTooNew {
            found: current,
            supported: SCHEMA_VERSION,
        });
    }
    let mut applied = Vec::new();
    for migration in MIGRATIONS.iter().filter(|m| m.version > current) {
        let fail = |source| PgError::Migration {
            version: migration.version,
            name: migration.name,
            source,
        };
        tx.batch_execute(migration.sql).await.map_err(fail)?;
        tx.execute(
            "INSERT INTO chat_schema_migrations (version, name) VALUES ($1, $2)",
            &[&migration.version, &migration.name],
        )
        .await
        .map_err(fail)?;
        applied.push(migration.version);
    }
    tx.commit().await?;
    if !applied.is_empty() {
        tracing::info!(schema, versions = ?applied, "postgres schema migrated");
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
    fn lock_keys_differ_by_schema_and_are_stable() {
        assert_eq!(schema_lock_key("chat"), schema_lock_key("chat"));
        assert_ne!(schema_lock_key("chat"), schema_lock_key("chat2"));
        assert_ne!(schema_lock_key("chat"), EXTENSION_LOCK);
    }
}
