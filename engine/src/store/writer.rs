//! The per-step writes on SQLite, on a connection of their own called in place.
//!
//! sqlx runs each SQLite connection on a thread of its own: a query is a message to
//! that thread and every statement's result a message back, each waking the task, and
//! its pool hands out its idle connections in turn, so each one finds its page cache
//! stale (another connection wrote since) and reads the pages again. An attempt's
//! start and end are written once per step and a chain of short steps waits on each of
//! them: through sqlx one took about 200 µs on a two-core machine, here about 90.
//!
//! The transaction runs on the calling thread, without waiting for a lock: when another
//! connection holds the write lock (another process, or the pool's connections writing
//! something else) or another task is using this connection, it is handed to the
//! blocking pool, which waits as long as the store's busy timeout allows, so that a
//! busy database never stalls the async runtime.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, Transaction, TransactionBehavior};

use super::{Result, StoreError};

/// The SQLite connection for the per-step writes.
pub(super) struct SqliteWriter {
    conn: Arc<Mutex<Connection>>,
    busy_timeout: Duration,
}

impl SqliteWriter {
    /// Open `path`, an existing, migrated database, with the pool's settings.
    pub(super) fn open(path: &Path, busy_timeout: Duration) -> Result<SqliteWriter> {
        // Not SQLite's own mutex: the connection is only ever used under ours.
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)?;
        // The same durability as the pool's connections: WAL (a property of the file,
        // set by the pool), NORMAL sync, enforced foreign keys (both per connection).
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        Ok(SqliteWriter {
            conn: Arc::new(Mutex::new(conn)),
            busy_timeout,
        })
    }

    /// Run `work` in one `BEGIN IMMEDIATE` transaction and commit it; roll back if it
    /// fails. Returns once the transaction is committed or rolled back.
    pub(super) async fn transaction<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(&Transaction<'_>) -> rusqlite::Result<T> + Send + 'static,
    {
        if let Some(done) = self.try_in_place(&work) {
            return Ok(done?);
        }
        let (conn, wait) = (Arc::clone(&self.conn), self.busy_timeout);
        let waited = tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().unwrap_or_else(PoisonError::into_inner);
            commit(&mut conn, wait, &work)
        })
        .await;
        match waited {
            Ok(done) => Ok(done?),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // The runtime is shutting down: the transaction never began.
            Err(e) => Err(StoreError::Stopped(e.to_string())),
        }
    }

    /// `work`'s transaction on this thread, or `None` when it would have to wait: for
    /// another task using the connection, or for another connection's write lock.
    fn try_in_place<T>(
        &self,
        work: &impl Fn(&Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Option<rusqlite::Result<T>> {
        let mut conn = match self.conn.try_lock() {
            Ok(conn) => conn,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return None,
        };
        match commit(&mut conn, Duration::ZERO, work) {
            Err(e) if is_busy(&e) => None,
            done => Some(done),
        }
    }
}

/// One transaction on `conn`, waiting at most `wait` for another writer's lock. A
/// panic in `work` unwinds through the transaction's drop, which rolls it back: the
/// connection is sound even when its mutex is poisoned.
fn commit<T>(
    conn: &mut MutexGuard<'_, Connection>,
    wait: Duration,
    work: &impl Fn(&Transaction<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    conn.busy_timeout(wait)?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let value = work(&tx)?;
    tx.commit()?;
    Ok(value)
}

fn is_busy(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_write_waits_for_another_writer_without_blocking_the_runtime() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (x INTEGER)")
            .unwrap();
        let writer = SqliteWriter::open(&path, Duration::from_secs(10)).unwrap();
        let (locked, release) = (std::sync::mpsc::channel(), std::sync::mpsc::channel());
        let holder = std::thread::spawn(move || {
            let mut other = Connection::open(&path).unwrap();
            let tx = other
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .unwrap();
            tx.execute("INSERT INTO t VALUES (1)", []).unwrap();
            locked.0.send(()).unwrap();
            // Bounded, so that a write wrongly waiting in place fails the test, not hangs it.
            let _ = release.1.recv_timeout(Duration::from_secs(2));
            tx.commit().unwrap();
        });
        locked.1.recv().unwrap();

        let write = writer.transaction(|tx| tx.execute("INSERT INTO t VALUES (2)", []));
        tokio::pin!(write);
        // On this single-threaded runtime a write that waited in place would hold the
        // timer back until the lock is released, and finish first.
        tokio::select! {
            biased;
            done = &mut write => panic!("the write did not wait for the lock: {done:?}"),
            () = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
        let _ = release.0.send(());
        assert_eq!(write.await.unwrap(), 1);
        holder.join().unwrap();
        let count: i64 = writer
            .transaction(|tx| tx.query_row("SELECT count(*) FROM t", [], |r| r.get(0)))
            .await
            .unwrap();
        assert_eq!(count, 2);
    }
}
