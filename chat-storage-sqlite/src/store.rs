//! [`SqliteStore`]: opening, the connection layout, and the routing of calls to the writer
//! thread or the reader pool.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chat_core::store::{ChatStore, StoreCapabilities, StoreResult};
use rusqlite::{Connection, OpenFlags};

use crate::config::{DatabaseLocation, SqliteConfig};
use crate::error::{SqliteError, SqliteResult};
use crate::migrate;
use crate::readers::Readers;
use crate::writer::Writer;

/// File name of the database inside the directory of a temporary store.
const TEMPORARY_FILE_NAME: &str = "chat.db";

/// The SQLite store. Cheap to clone (an `Arc`); every clone shares the writer thread and the
/// reader pool.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    writer: Writer,
    readers: Option<Readers>,
    path: Option<PathBuf>,
    config: SqliteConfig,
    /// Set by [`SqliteStore::close`]; reads check it (writes find the writer gone).
    closed: AtomicBool,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.inner.path)
            .field("readers", &self.inner.config.reader_count)
            .field("max_write_batch", &self.inner.config.max_write_batch)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating when allowed) the database, applies the pending migrations in one
    /// transaction, starts the writer thread and opens the readers. The blocking work runs on
    /// tokio's blocking pool.
    ///
    /// Errors: [`SqliteError::Config`] for unusable settings, [`SqliteError::SchemaTooNew`]
    /// when the database was written by a newer version, [`SqliteError::Migration`],
    /// I/O and SQLite errors.
    pub async fn open(config: SqliteConfig) -> SqliteResult<Self> {
        config.validate()?;
        tokio::task::spawn_blocking(move || Self::open_blocking(config))
            .await
            .map_err(|e| SqliteError::ReaderTask(e.to_string()))?
    }

    fn open_blocking(config: SqliteConfig) -> SqliteResult<Self> {
        let (path, temp_dir) = match &config.location {
            DatabaseLocation::File(path) => {
                if config.create_if_missing {
                    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                        std::fs::create_dir_all(parent)?;
                    }
                }
                (Some(path.clone()), None)
            }
            DatabaseLocation::Temporary => {
                let dir = tempfile::Builder::new().prefix("chat-sqlite-").tempdir()?;
                (Some(dir.path().join(TEMPORARY_FILE_NAME)), Some(dir))
            }
            DatabaseLocation::Memory => (None, None),
        };
        let mut writer_conn = open_writer(path.as_deref(), &config)?;
        migrate::migrate(&mut writer_conn)?;
        let readers = match &path {
            Some(path) if config.reader_count > 0 => {
                let conns = (0..config.reader_count)
                    .map(|_| open_reader(path, &config))
                    .collect::<SqliteResult<Vec<_>>>()?;
                Some(Readers::new(conns))
            }
            _ => None,
        };
        let writer = Writer::spawn(
            writer_conn,
            config.max_write_batch,
            config.write_queue_capacity,
            temp_dir,
        )?;
        tracing::debug!(path = ?path, readers = config.reader_count, "sqlite store opened");
        Ok(Self {
            inner: Arc::new(Inner {
                writer,
                readers,
                path,
                config,
                closed: AtomicBool::new(false),
            }),
        })
    }

    /// The database file, when the store has one.
    pub fn path(&self) -> Option<&Path> {
        self.inner.path.as_deref()
    }

    /// The settings the store was opened with.
    pub fn config(&self) -> &SqliteConfig {
        &self.inner.config
    }

    /// The schema version of the open database.
    ///
    /// Errors: SQLite errors.
    pub async fn schema_version(&self) -> SqliteResult<i64> {
        self.read_raw(migrate::schema_version).await
    }

    /// Stops taking calls, finishes the queued writes, closes the writer connection and waits
    /// for its thread (a temporary database is deleted then). Calls made after this, through
    /// any clone, fail with `Unavailable`. Without `close`, the same happens in the background
    /// once the last clone is dropped.
    ///
    /// Errors: [`SqliteError::WriterGone`] when the writer thread had panicked.
    pub async fn close(&self) -> SqliteResult<()> {
        self.inner.closed.store(true, Ordering::Release);
        self.inner.writer.close().await
    }

    /// Runs `work` in a write transaction on the writer thread; returns after commit.
    pub(crate) async fn write<R, F>(&self, work: F) -> StoreResult<R>
    where
        F: FnOnce(&Connection) -> SqliteResult<R> + Send + 'static,
        R: Send + 'static,
    {
        Ok(self.inner.writer.run(work).await?)
    }

    /// Runs `work` in a read transaction on a reader (the writer thread when there are none).
    pub(crate) async fn read<R, F>(&self, work: F) -> StoreResult<R>
    where
        F: FnOnce(&Connection) -> SqliteResult<R> + Send + 'static,
        R: Send + 'static,
    {
        Ok(self.read_raw(work).await?)
    }

    async fn read_raw<R, F>(&self, work: F) -> SqliteResult<R>
    where
        F: FnOnce(&Connection) -> SqliteResult<R> + Send + 'static,
        R: Send + 'static,
    {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(SqliteError::WriterGone("the store is closed"));
        }
        match &self.inner.readers {
            Some(readers) => readers.run(work).await,
            None => self.inner.writer.run(work).await,
        }
    }
}

impl ChatStore for SqliteStore {
    fn capabilities(&self) -> StoreCapabilities {
        let durable = self.inner.config.location != DatabaseLocation::Memory;
        StoreCapabilities::new(true, false, durable)
    }
}

fn open_writer(path: Option<&Path>, config: &SqliteConfig) -> SqliteResult<Connection> {
    let conn = match path {
        Some(path) => {
            let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            if config.create_if_missing {
                flags |= OpenFlags::SQLITE_OPEN_CREATE;
            }
            Connection::open_with_flags(path, flags)?
        }
        None => Connection::open_in_memory()?,
    };
    conn.busy_timeout(config.busy_timeout)?;
    if path.is_some() {
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(SqliteError::Config(format!(
                "the database refused WAL mode (journal_mode is {mode})"
            )));
        }
    }
    conn.pragma_update(None, "synchronous", config.synchronous.pragma_value())?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "wal_autocheckpoint", config.wal_autocheckpoint_pages)?;
    Ok(conn)
}

fn open_reader(path: &Path, config: &SqliteConfig) -> SqliteResult<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(config.busy_timeout)?;
    conn.pragma_update(None, "query_only", "ON")?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The writer connection checkpoints after the configured WAL size (SQLite's default is
    /// 1,000 pages; ours is smaller, see `DEFAULT_WAL_AUTOCHECKPOINT_PAGES`).
    #[tokio::test]
    async fn the_writer_uses_the_configured_autocheckpoint() {
        let pragma = |conn: &Connection| -> SqliteResult<u32> {
            Ok(conn.pragma_query_value(None, "wal_autocheckpoint", |row| row.get(0))?)
        };
        let store = SqliteStore::open(SqliteConfig::temporary()).await.unwrap();
        assert_eq!(
            store.write(pragma).await.unwrap(),
            crate::DEFAULT_WAL_AUTOCHECKPOINT_PAGES
        );
        store.close().await.unwrap();
        let custom = SqliteConfig::temporary().wal_autocheckpoint_pages(321);
        let store = SqliteStore::open(custom).await.unwrap();
        assert_eq!(store.write(pragma).await.unwrap(), 321);
        store.close().await.unwrap();
    }
}
