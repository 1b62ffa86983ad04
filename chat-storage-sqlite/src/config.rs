//! Configuration of the SQLite store.
//!
//! | setting | default | what it bounds |
//! |---|---|---|
//! | `location` | (required) | a file path, a private temporary file, or memory |
//! | `reader_count` | [`DEFAULT_READER_COUNT`] (4) | read-only connections used in parallel; 0 sends reads to the writer thread |
//! | `busy_timeout` | [`DEFAULT_BUSY_TIMEOUT`] (5 s) | how long a connection waits for a lock held by another process |
//! | `max_write_batch` | [`DEFAULT_MAX_WRITE_BATCH`] (32) | queued writes committed in one transaction (group commit); 1 disables it |
//! | `write_queue_capacity` | [`DEFAULT_WRITE_QUEUE_CAPACITY`] (1024) | writes waiting for the writer before callers wait (back-pressure) |
//! | `wal_autocheckpoint_pages` | [`DEFAULT_WAL_AUTOCHECKPOINT_PAGES`] (200) | WAL pages after which a commit copies the WAL into the database file (a checkpoint, with its fsyncs); 0 turns automatic checkpoints off |
//! | `synchronous` | [`Synchronous::Normal`] | fsync policy: `Normal` survives application crashes, `Full` also power loss |
//! | `create_if_missing` | true | create the database file (and its directory) when absent |

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{SqliteError, SqliteResult};

/// Default number of read-only connections.
pub const DEFAULT_READER_COUNT: usize = 4;
/// Default busy timeout.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Default largest number of writes grouped in one transaction.
pub const DEFAULT_MAX_WRITE_BATCH: usize = 32;
/// Default capacity of the write queue.
pub const DEFAULT_WRITE_QUEUE_CAPACITY: usize = 1024;
/// Default WAL size, in pages, that triggers a checkpoint at the end of a commit.
///
/// SQLite's own default is 1,000 pages (~4 MiB): the commit that crosses it copies the pages
/// and fsyncs the WAL and the database file while every queued write waits. Small, frequent
/// checkpoints keep those stalls short: with the WebSocket load generator at 2,000 messages/s
/// (benches/README.md) the send-to-delivery p99 was 11.4 to 13.8 ms with 1,000 pages, 7.8 ms
/// with 500, 4.6 to 5.1 ms with 200 and 3.7 ms with 100, while larger values (4,000: 22 ms;
/// 10,000: 38 ms) and a background checkpoint thread (18 to 30 ms) were worse. The price is
/// peak write throughput (8 writers: 17.8 k messages/s with 1,000 pages, 13.2 k with 200,
/// 11.5 k with 100); 200 keeps the latency budget with most of the throughput.
pub const DEFAULT_WAL_AUTOCHECKPOINT_PAGES: u32 = 200;
/// Largest accepted number of readers.
pub const MAX_READER_COUNT: usize = 64;
/// Largest accepted write batch.
pub const MAX_WRITE_BATCH: usize = 1024;

/// Where the database lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DatabaseLocation {
    /// A database file (its `-wal` and `-shm` files sit beside it).
    File(PathBuf),
    /// A file in a private temporary directory, removed when the store closes (tests, demos).
    Temporary,
    /// A private in-memory database: no readers (every call goes through the writer thread),
    /// nothing survives the store.
    Memory,
}

/// SQLite `synchronous` setting in WAL mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Synchronous {
    /// fsync at checkpoints only: a commit survives an application crash; the last commits may
    /// be lost (never corrupted) on power loss.
    #[default]
    Normal,
    /// fsync at every commit: commits survive power loss too, at a cost in write throughput.
    Full,
}

impl Synchronous {
    pub(crate) fn pragma_value(self) -> &'static str {
        match self {
            Self::Normal => "NORMAL",
            Self::Full => "FULL",
        }
    }
}

fn default_wal_autocheckpoint_pages() -> u32 {
    DEFAULT_WAL_AUTOCHECKPOINT_PAGES
}

/// Settings of [`crate::SqliteStore`]; see the module docs for the table of defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SqliteConfig {
    /// Where the database lives.
    pub location: DatabaseLocation,
    /// Number of read-only connections (0 = reads go through the writer thread).
    pub reader_count: usize,
    /// How long to wait for a lock held by another connection or process.
    pub busy_timeout: Duration,
    /// Largest number of queued writes committed in one transaction.
    pub max_write_batch: usize,
    /// Writes that may wait for the writer thread before callers wait for room.
    pub write_queue_capacity: usize,
    /// WAL pages after which a commit checkpoints (0: no automatic checkpoints).
    #[serde(default = "default_wal_autocheckpoint_pages")]
    pub wal_autocheckpoint_pages: u32,
    /// fsync policy.
    pub synchronous: Synchronous,
    /// Create the file and its parent directory when missing.
    pub create_if_missing: bool,
}

impl SqliteConfig {
    /// A database file at `path`, with the defaults.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self::at(DatabaseLocation::File(path.into()))
    }

    /// A database in a private temporary directory, removed when the store closes.
    pub fn temporary() -> Self {
        Self::at(DatabaseLocation::Temporary)
    }

    /// A private in-memory database (no reader connections).
    pub fn in_memory() -> Self {
        Self::at(DatabaseLocation::Memory).reader_count(0)
    }

    fn at(location: DatabaseLocation) -> Self {
        Self {
            location,
            reader_count: DEFAULT_READER_COUNT,
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
            max_write_batch: DEFAULT_MAX_WRITE_BATCH,
            write_queue_capacity: DEFAULT_WRITE_QUEUE_CAPACITY,
            wal_autocheckpoint_pages: DEFAULT_WAL_AUTOCHECKPOINT_PAGES,
            synchronous: Synchronous::Normal,
            create_if_missing: true,
        }
    }

    /// Sets the number of read-only connections (0..=[`MAX_READER_COUNT`]).
    pub fn reader_count(mut self, count: usize) -> Self {
        self.reader_count = count;
        self
    }

    /// Sets the busy timeout.
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// Sets the largest write batch (1..=[`MAX_WRITE_BATCH`]; 1 disables group commit).
    pub fn max_write_batch(mut self, max: usize) -> Self {
        self.max_write_batch = max;
        self
    }

    /// Sets the write queue capacity (at least 1).
    pub fn write_queue_capacity(mut self, capacity: usize) -> Self {
        self.write_queue_capacity = capacity;
        self
    }

    /// Sets the WAL size, in pages, after which a commit checkpoints (0: never automatically;
    /// the WAL then grows until the host checkpoints).
    pub fn wal_autocheckpoint_pages(mut self, pages: u32) -> Self {
        self.wal_autocheckpoint_pages = pages;
        self
    }

    /// Sets the fsync policy.
    pub fn synchronous(mut self, synchronous: Synchronous) -> Self {
        self.synchronous = synchronous;
        self
    }

    /// Whether to create a missing database file.
    pub fn create_if_missing(mut self, create: bool) -> Self {
        self.create_if_missing = create;
        self
    }

    /// Checks the settings.
    pub(crate) fn validate(&self) -> SqliteResult<()> {
        if self.reader_count > MAX_READER_COUNT {
            return Err(SqliteError::Config(format!(
                "reader_count {} is above the maximum {MAX_READER_COUNT}",
                self.reader_count
            )));
        }
        if self.location == DatabaseLocation::Memory && self.reader_count != 0 {
            return Err(SqliteError::Config(
                "an in-memory database has no reader connections; set reader_count to 0".into(),
            ));
        }
        if !(1..=MAX_WRITE_BATCH).contains(&self.max_write_batch) {
            return Err(SqliteError::Config(format!(
                "max_write_batch must be in 1..={MAX_WRITE_BATCH}, got {}",
                self.max_write_batch
            )));
        }
        if self.write_queue_capacity == 0 {
            return Err(SqliteError::Config(
                "write_queue_capacity must be at least 1".into(),
            ));
        }
        if let DatabaseLocation::File(path) = &self.location {
            if path.as_os_str().is_empty() {
                return Err(SqliteError::Config("the database path is empty".into()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_validation() {
        let config = SqliteConfig::new("/tmp/x.db");
        assert_eq!(config.reader_count, DEFAULT_READER_COUNT);
        assert!(config.validate().is_ok());
        assert!(SqliteConfig::in_memory().validate().is_ok());
        assert!(
            SqliteConfig::in_memory()
                .reader_count(2)
                .validate()
                .is_err()
        );
        assert!(
            SqliteConfig::temporary()
                .max_write_batch(0)
                .validate()
                .is_err()
        );
        assert!(
            SqliteConfig::temporary()
                .write_queue_capacity(0)
                .validate()
                .is_err()
        );
        assert!(
            SqliteConfig::temporary()
                .reader_count(MAX_READER_COUNT + 1)
                .validate()
                .is_err()
        );
        assert!(SqliteConfig::new("").validate().is_err());
    }
}
