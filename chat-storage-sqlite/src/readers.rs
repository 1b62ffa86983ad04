//! The readers: a small pool of read-only connections used on tokio's blocking threads.
//!
//! A read takes a permit from an async semaphore (waiting without blocking a runtime thread
//! when every connection is busy), then runs on `spawn_blocking` with an idle connection
//! inside a deferred transaction, so that all statements of one call see one snapshot. In WAL
//! mode readers never wait for the writer and the writer never waits for them. A connection
//! goes back to the pool when the work ends, also when it panics (its transaction is rolled
//! back by the drop).

use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::Connection;
use tokio::sync::Semaphore;

use crate::error::{SqliteError, SqliteResult};

/// Pool of read-only connections.
pub(crate) struct Readers {
    idle: Arc<Mutex<Vec<Connection>>>,
    permits: Arc<Semaphore>,
}

/// A connection taken from the pool; returned on drop.
struct Lease {
    conn: Option<Connection>,
    idle: Arc<Mutex<Vec<Connection>>>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(conn);
        }
    }
}

impl Readers {
    /// A pool of these connections.
    pub(crate) fn new(conns: Vec<Connection>) -> Self {
        let permits = Arc::new(Semaphore::new(conns.len()));
        Self {
            idle: Arc::new(Mutex::new(conns)),
            permits,
        }
    }

    /// Runs `work` on a read-only connection, inside one read transaction.
    pub(crate) async fn run<R, F>(&self, work: F) -> SqliteResult<R>
    where
        F: FnOnce(&Connection) -> SqliteResult<R> + Send + 'static,
        R: Send + 'static,
    {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| SqliteError::ReaderTask("the reader pool is closed".into()))?;
        let idle = self.idle.clone();
        tokio::task::spawn_blocking(move || {
            // Declared first so it is released last, after the connection is back.
            let _permit = permit;
            let conn = idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
            let mut lease = Lease { conn, idle };
            let conn = lease
                .conn
                .as_mut()
                .ok_or_else(|| SqliteError::ReaderTask("no idle reader connection".into()))?;
            let tx = conn.transaction()?;
            work(&tx)
        })
        .await
        .map_err(|e| SqliteError::ReaderTask(e.to_string()))?
    }
}
