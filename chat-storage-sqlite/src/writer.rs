//! The writer: one connection owned by a dedicated OS thread that runs write jobs in order.
//!
//! Async callers send a job over a bounded tokio channel (waiting for room when the queue is
//! full, never blocking a runtime thread) and await its result on a oneshot. SQLite allows one
//! writer at a time; serializing writes here means they never wait on each other's locks
//! (no `SQLITE_BUSY` between our own writes) and the read-check-write steps of a job (next
//! `seq`, idempotency lookup, capacity check) cannot interleave with another job.
//!
//! Group commit: the thread takes every job already queued (up to `max_write_batch`) and runs
//! them in one `BEGIN IMMEDIATE` transaction, each inside its own `SAVEPOINT`. A job that fails
//! is rolled back to its savepoint alone and answered with its error; the others commit
//! together. Results are sent only after `COMMIT` succeeded, so a caller never acts on a write
//! that is not durable. If the commit fails, every job of the group gets the error; if SQLite
//! itself abandons the transaction mid-group (I/O error, out of memory), the jobs that had
//! succeeded get a retryable (`Unavailable`) error rather than a false success.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::error::{SqliteError, SqliteResult};

/// Why a job that succeeded was not committed.
#[derive(Debug, Clone)]
pub(crate) enum BatchFailure {
    /// `BEGIN`, `RELEASE` or `COMMIT` failed.
    Sqlite(Arc<rusqlite::Error>),
    /// SQLite rolled the whole transaction back after another job's error.
    RolledBack,
}

impl From<BatchFailure> for SqliteError {
    fn from(failure: BatchFailure) -> Self {
        match failure {
            BatchFailure::Sqlite(err) => Self::Transaction(err),
            BatchFailure::RolledBack => {
                Self::WriterGone("the write transaction was rolled back; retry")
            }
        }
    }
}

/// What the writer does with one job once it ran.
struct Completed {
    /// Whether the job succeeded (its changes are kept).
    ok: bool,
    /// Sends the job's result; `Some` when its changes were not committed after all.
    reply: Box<dyn FnOnce(Option<BatchFailure>) + Send>,
}

/// A unit of work for the writer thread.
trait Job: Send {
    /// Runs the job inside the current transaction.
    fn run(self: Box<Self>, conn: &Connection) -> Completed;
    /// Answers the job without running it.
    fn fail(self: Box<Self>, failure: BatchFailure);
}

struct WriteJob<F, R> {
    work: F,
    reply: oneshot::Sender<SqliteResult<R>>,
}

impl<F, R> Job for WriteJob<F, R>
where
    F: FnOnce(&Connection) -> SqliteResult<R> + Send,
    R: Send + 'static,
{
    fn run(self: Box<Self>, conn: &Connection) -> Completed {
        let Self { work, reply } = *self;
        let result = work(conn);
        Completed {
            ok: result.is_ok(),
            reply: Box::new(move |failure| {
                let outcome = match (result, failure) {
                    (Ok(_), Some(failure)) => Err(failure.into()),
                    (result, _) => result,
                };
                // The caller may have stopped waiting; the write stands either way.
                let _ = reply.send(outcome);
            }),
        }
    }

    fn fail(self: Box<Self>, failure: BatchFailure) {
        let _ = self.reply.send(Err(failure.into()));
    }
}

type BoxedJob = Box<dyn Job>;

/// Handle to the writer thread.
pub(crate) struct Writer {
    sender: Mutex<Option<mpsc::Sender<BoxedJob>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Writer {
    /// Starts the writer thread on `conn`. `keep` is dropped by the thread after the
    /// connection is closed (the temporary directory of a temporary database).
    pub(crate) fn spawn<K: Send + 'static>(
        conn: Connection,
        max_batch: usize,
        queue_capacity: usize,
        keep: K,
    ) -> SqliteResult<Self> {
        let (sender, receiver) = mpsc::channel(queue_capacity);
        let thread = std::thread::Builder::new()
            .name("chat-sqlite-writer".into())
            .spawn(move || {
                writer_loop(&conn, receiver, max_batch);
                // Lets SQLite refresh its planner statistics, as recommended before closing.
                if let Err(err) = conn.execute_batch("PRAGMA optimize") {
                    tracing::debug!(%err, "PRAGMA optimize at close failed");
                }
                drop(conn);
                drop(keep);
            })?;
        Ok(Self {
            sender: Mutex::new(Some(sender)),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Runs `work` on the writer connection inside a transaction; returns after commit.
    pub(crate) async fn run<R, F>(&self, work: F) -> SqliteResult<R>
    where
        F: FnOnce(&Connection) -> SqliteResult<R> + Send + 'static,
        R: Send + 'static,
    {
        let sender = self
            .sender
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or(SqliteError::WriterGone("the store is closed"))?;
        let (reply, result) = oneshot::channel();
        let job: BoxedJob = Box::new(WriteJob { work, reply });
        sender
            .send(job)
            .await
            .map_err(|_| SqliteError::WriterGone("the writer thread stopped"))?;
        result
            .await
            .map_err(|_| SqliteError::WriterGone("a write job panicked"))?
    }

    /// Stops taking jobs, lets the thread finish the queued ones and waits for it.
    pub(crate) async fn close(&self) -> SqliteResult<()> {
        drop(
            self.sender
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            tokio::task::spawn_blocking(move || thread.join())
                .await
                .map_err(|e| SqliteError::ReaderTask(e.to_string()))?
                .map_err(|_| SqliteError::WriterGone("the writer thread panicked"))?;
        }
        Ok(())
    }
}

fn writer_loop(conn: &Connection, mut receiver: mpsc::Receiver<BoxedJob>, max_batch: usize) {
    let mut batch: Vec<BoxedJob> = Vec::with_capacity(max_batch);
    while let Some(first) = receiver.blocking_recv() {
        batch.push(first);
        while batch.len() < max_batch {
            match receiver.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        run_batch(conn, batch.drain(..));
    }
}

/// Runs jobs in one transaction with a savepoint each, then commits and answers them.
fn run_batch(conn: &Connection, jobs: impl Iterator<Item = BoxedJob>) {
    let mut pending: Vec<Box<dyn FnOnce(Option<BatchFailure>) + Send>> = Vec::new();
    for job in jobs {
        if conn.is_autocommit() {
            // First job, or SQLite abandoned the transaction: what succeeded before is gone.
            for reply in pending.drain(..) {
                reply(Some(BatchFailure::RolledBack));
            }
            if let Err(err) = exec(conn, "BEGIN IMMEDIATE") {
                job.fail(BatchFailure::Sqlite(Arc::new(err)));
                continue;
            }
        }
        if let Err(err) = exec(conn, "SAVEPOINT job") {
            job.fail(BatchFailure::Sqlite(Arc::new(err)));
            continue;
        }
        match catch_unwind(AssertUnwindSafe(|| job.run(conn))) {
            Ok(done) if done.ok => match exec(conn, "RELEASE job") {
                Ok(()) => pending.push(done.reply),
                Err(err) => {
                    rollback_job(conn);
                    (done.reply)(Some(BatchFailure::Sqlite(Arc::new(err))));
                }
            },
            Ok(done) => {
                rollback_job(conn);
                (done.reply)(None);
            }
            Err(_) => {
                // The job's reply sender was dropped while unwinding: its caller gets an error.
                tracing::error!("a sqlite write job panicked; its changes were rolled back");
                rollback_job(conn);
            }
        }
    }
    if conn.is_autocommit() {
        for reply in pending {
            reply(Some(BatchFailure::RolledBack));
        }
        return;
    }
    match exec(conn, "COMMIT") {
        Ok(()) => {
            for reply in pending {
                reply(None);
            }
        }
        Err(err) => {
            if let Err(rollback) = exec(conn, "ROLLBACK") {
                tracing::debug!(%rollback, "rollback after a failed commit failed");
            }
            let err = Arc::new(err);
            for reply in pending {
                reply(Some(BatchFailure::Sqlite(err.clone())));
            }
        }
    }
}

fn rollback_job(conn: &Connection) {
    if conn.is_autocommit() {
        return;
    }
    if let Err(err) = exec(conn, "ROLLBACK TO job").and_then(|()| exec(conn, "RELEASE job")) {
        tracing::warn!(%err, "rolling back a failed write job failed; abandoning the transaction");
        if let Err(err) = exec(conn, "ROLLBACK") {
            tracing::debug!(%err, "rollback failed");
        }
    }
}

fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(conn: &Connection) -> SqliteResult<Vec<i64>> {
        let mut stmt = conn.prepare("SELECT v FROM t ORDER BY v")?;
        let rows = stmt
            .query_map([], |row| row.get(0))?
            .collect::<rusqlite::Result<Vec<i64>>>()?;
        Ok(rows)
    }

    #[tokio::test]
    async fn a_failed_job_is_rolled_back_alone_and_its_group_commits() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (v INTEGER UNIQUE)")
            .unwrap();
        let writer = Arc::new(Writer::spawn(conn, 16, 16, ()).unwrap());
        // The first job holds the writer until the others are queued behind it, so they
        // run as one group.
        let (open_gate, gate) = std::sync::mpsc::channel::<()>();
        let first = tokio::spawn({
            let writer = Arc::clone(&writer);
            async move {
                writer
                    .run(move |c| {
                        gate.recv()
                            .map_err(|_| SqliteError::invalid("gate dropped"))?;
                        c.execute("INSERT INTO t VALUES (1)", [])?;
                        Ok(())
                    })
                    .await
            }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let group = async {
            tokio::join!(
                writer.run(|c| Ok(c.execute("INSERT INTO t VALUES (2)", [])?)),
                writer.run(|c| Ok(c.execute("INSERT INTO t VALUES (2)", [])?)),
                writer.run(|c| {
                    c.execute("INSERT INTO t VALUES (4)", [])?;
                    Err::<(), _>(SqliteError::invalid("refused after writing"))
                }),
                writer.run(|c| Ok(c.execute("INSERT INTO t VALUES (3)", [])?)),
            )
        };
        let release = async {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            open_gate.send(()).unwrap();
        };
        let ((a, b, c, d), ()) = tokio::join!(group, release);
        first.await.unwrap().unwrap();
        assert_eq!(a.unwrap(), 1);
        let b = chat_core::store::StoreError::from(b.unwrap_err());
        assert!(
            matches!(b, chat_core::store::StoreError::Conflict(_)),
            "{b}"
        );
        assert!(c.is_err());
        assert_eq!(d.unwrap(), 1);
        assert_eq!(writer.run(rows).await.unwrap(), vec![1, 2, 3]);
        writer.close().await.unwrap();
        assert!(
            writer.run(rows).await.is_err(),
            "a closed writer takes no jobs"
        );
    }

    #[tokio::test]
    async fn a_panicking_job_fails_alone() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (v INTEGER UNIQUE)")
            .unwrap();
        let writer = Writer::spawn(conn, 16, 16, ()).unwrap();
        let panicked = writer
            .run(|c| -> SqliteResult<()> {
                c.execute("INSERT INTO t VALUES (7)", [])?;
                panic!("job bug")
            })
            .await;
        assert!(matches!(panicked, Err(SqliteError::WriterGone(_))));
        writer
            .run(|c| Ok(c.execute("INSERT INTO t VALUES (8)", [])?))
            .await
            .unwrap();
        assert_eq!(writer.run(rows).await.unwrap(), vec![8]);
    }
}
