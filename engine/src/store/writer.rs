//! The hot writes on SQLite (an attempt's start and end, and a run's creation, lease
//! and status changes, see `lifecycle`), on a connection of their own called in place.
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
//!
//! SQLite checkpoints the WAL into the database file in whichever connection commits
//! past 1,000 WAL pages, and a checkpoint syncs both files: about 2 ms of fsync every
//! 80 steps or so, on the step path. This connection leaves checkpoints to a thread of
//! its own, told every [`COMMITS_PER_CHECKPOINT`] commits, which copies what it can
//! without waiting for anyone (`PASSIVE`) while steps go on.
//!
//! With `PASSIVE` checkpoints alone the WAL never started over while the store's pool
//! was open: every page had been copied, yet this connection went on appending, so the
//! log grew by every page ever written (42 MB after 1,000 shell steps, without bound in
//! a long-lived `medic serve`), and every commit paid for new pages of file and page
//! cache. So once the copy has caught up with a log past [`RESTART_FRAMES`], the thread
//! follows it with a `RESTART` checkpoint, which lets the next commit write from the
//! start of the file again. A restart holds the write lock while it copies what was
//! committed since the `PASSIVE` one and syncs both files: 1–4 ms on a virtual disk.
//! A commit that met it used to fail its in-place attempt and wait in SQLite's busy
//! handler, whose sleeps (1, 2, then 5 ms) stalled a chain of short steps by 3–6 ms
//! each time, one step in 40. The restart now runs under this connection's mutex, so a
//! commit waits on the mutex for just as long as the restart takes, and it comes once
//! every several hundred commits rather than every [`COMMITS_PER_CHECKPOINT`]. It waits for
//! no one itself: a reader still using the log leaves the restart to the next round. A
//! log that grew large anyway (a long read holding it) is cut back to
//! [`WAL_SIZE_LIMIT`] when it restarts.

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::{Result, StoreError};

/// Commits between two checkpoints: at about a dozen WAL pages a step, under the
/// 1,000 pages at which the pool's connections would checkpoint themselves.
const COMMITS_PER_CHECKPOINT: u32 = 64;
/// Frames of a caught-up log past which it is restarted: 8 MiB of 4 KiB pages, about
/// 700 short steps, and under the [`POOL_AUTOCHECKPOINT`] frames past which every
/// commit of the pool's connections would try a checkpoint of its own.
const RESTART_FRAMES: i64 = 2048;
/// Frames past which a commit of the pool's connections checkpoints the log itself
/// (`wal_autocheckpoint`, SQLite's default 1,000): the checkpoint thread's work, left
/// to them only if it stops keeping up.
pub(super) const POOL_AUTOCHECKPOINT: i64 = 4096;
/// The size a WAL file is cut back to when it restarts (`journal_size_limit`): above
/// what a restart finds, so that the file is not cut and grown again every time.
const WAL_SIZE_LIMIT: i64 = 16 * 1024 * 1024;

/// The SQLite connection for the per-step writes.
pub(super) struct SqliteWriter {
    conn: Arc<Mutex<Connection>>,
    busy_timeout: Duration,
    commits: AtomicU32,
    /// Wakes the checkpoint thread, which ends when this is dropped.
    checkpoint: SyncSender<()>,
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
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)?;
        let conn = Arc::new(Mutex::new(conn));
        Ok(SqliteWriter {
            busy_timeout,
            commits: AtomicU32::new(0),
            checkpoint: checkpoint_thread(path, flags, Arc::clone(&conn))?,
            conn,
        })
    }

    /// Run `work` in one `BEGIN IMMEDIATE` transaction and commit it; roll back if it
    /// fails. Returns once the transaction is committed or rolled back.
    pub(super) async fn transaction<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let value = match self.try_in_place(&work) {
            Some(done) => done?,
            None => self.in_blocking_pool(work).await?,
        };
        let commits = self.commits.fetch_add(1, Ordering::Relaxed) + 1;
        if commits.is_multiple_of(COMMITS_PER_CHECKPOINT) {
            // Full means a wake-up is already pending: that checkpoint will do.
            let _ = self.checkpoint.try_send(());
        }
        Ok(value)
    }

    /// Run `work`, a read, on this connection: in place when the connection is free,
    /// else on the blocking pool once it is. A read in WAL mode takes no lock that a
    /// writer holds. sqlx hands a query's rows over one by one from its connection's
    /// thread, each a wake-up of the reading task: loading a run of 100 steps took
    /// about 1.5 ms that way, a tenth of that here.
    pub(super) async fn read<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        match self.conn.try_lock() {
            Ok(conn) => return work(&conn),
            Err(TryLockError::Poisoned(poisoned)) => return work(&poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => {}
        }
        self.on_blocking_pool(|conn| work(conn)).await
    }

    /// `work`'s transaction on a blocking thread, waiting for locks up to the timeout.
    async fn in_blocking_pool<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let wait = self.busy_timeout;
        self.on_blocking_pool(move |conn| Ok(commit(conn, wait, &work)?))
            .await
    }

    /// `work` on this connection on a blocking thread, once the connection is free.
    async fn on_blocking_pool<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut MutexGuard<'_, Connection>) -> Result<T> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        let waited = tokio::task::spawn_blocking(move || {
            work(&mut conn.lock().unwrap_or_else(PoisonError::into_inner))
        })
        .await;
        match waited {
            Ok(done) => done,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // The runtime is shutting down: `work` never ran.
            Err(e) => Err(StoreError::Stopped(e.to_string())),
        }
    }

    /// `work`'s transaction on this thread, or `None` when it would have to wait: for
    /// another task using the connection, or for another connection's write lock.
    fn try_in_place<T>(
        &self,
        work: &impl Fn(&Connection) -> rusqlite::Result<T>,
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

/// Start the thread that checkpoints the WAL of `path` each time it is told to, on a
/// connection of its own, until the returned sender is dropped. `writer` is the step
/// writes' connection, held while the log restarts.
fn checkpoint_thread(
    path: &Path,
    flags: OpenFlags,
    writer: Arc<Mutex<Connection>>,
) -> Result<SyncSender<()>> {
    let conn = Connection::open_with_flags(path, flags)?;
    // rusqlite waits up to 5 s for a lock by default; a `RESTART` holding the write
    // lock while it waited for a reader would stall every step that long.
    conn.busy_timeout(Duration::ZERO)?;
    let (wake, woken) = sync_channel::<()>(1);
    std::thread::Builder::new()
        .name("medic-checkpoint".into())
        .spawn(move || {
            for () in woken {
                checkpoint_round(&conn, &writer);
            }
        })
        .map_err(|e| StoreError::Stopped(format!("cannot start the checkpoint thread: {e}")))?;
    Ok(wake)
}

/// One round of the checkpoint thread on `conn`: copy what it can, and once it has
/// caught up with a long log, start it over.
fn checkpoint_round(conn: &Connection, writer: &Mutex<Connection>) {
    // A checkpoint that fails or stops short leaves the WAL longer until the next one;
    // nothing is lost.
    match checkpoint(conn, "PASSIVE") {
        Ok(Checkpoint {
            busy: false,
            log,
            copied,
        }) if log == copied && log >= RESTART_FRAMES => {
            if let Err(e) = restart(conn, writer) {
                tracing::debug!(error = %e, "WAL restart failed");
            }
        }
        Ok(_) => {}
        Err(e) => tracing::debug!(error = %e, "WAL checkpoint failed"),
    }
}

/// A `RESTART` checkpoint on `conn`, holding `writer` (the step writes' connection)
/// so that their commits wait on its mutex rather than in SQLite's busy handler.
fn restart(conn: &Connection, writer: &Mutex<Connection>) -> rusqlite::Result<Checkpoint> {
    let _writes_wait = writer.lock().unwrap_or_else(PoisonError::into_inner);
    checkpoint(conn, "RESTART")
}

/// What `PRAGMA wal_checkpoint` reports.
struct Checkpoint {
    /// Another connection was in the way (a `RESTART` could not take its locks).
    busy: bool,
    /// Frames in the log.
    log: i64,
    /// Frames of the log now in the database file.
    copied: i64,
}

/// Run a checkpoint of `mode` on `conn`, a connection without a busy timeout: it waits
/// for no lock.
fn checkpoint(conn: &Connection, mode: &str) -> rusqlite::Result<Checkpoint> {
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| {
        Ok(Checkpoint {
            busy: row.get::<_, i64>(0)? != 0,
            log: row.get(1)?,
            copied: row.get(2)?,
        })
    })
}

/// One `BEGIN IMMEDIATE` transaction on `conn`, waiting at most `wait` for another
/// writer's lock. `BEGIN IMMEDIATE` and `COMMIT` are cached statements: rusqlite's
/// `Transaction` parses both again on every write. If `work` or the commit fails, or a
/// panic in `work` unwinds, the transaction is rolled back on the way out: the
/// connection is sound even when its mutex is poisoned.
fn commit<T>(
    conn: &mut MutexGuard<'_, Connection>,
    wait: Duration,
    work: &impl Fn(&Connection) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    let conn: &Connection = conn;
    conn.busy_timeout(wait)?;
    conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
    let open = RollbackUnlessDone(conn);
    let value = work(conn)?;
    conn.prepare_cached("COMMIT")?.execute([])?;
    drop(open);
    Ok(value)
}

/// Rolls back the open transaction of its connection when dropped, unless the
/// connection is already out of it (committed, or rolled back by SQLite itself).
struct RollbackUnlessDone<'c>(&'c Connection);

impl Drop for RollbackUnlessDone<'_> {
    fn drop(&mut self) {
        if !self.0.is_autocommit() {
            let _ = self.0.execute_batch("ROLLBACK");
        }
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::TransactionBehavior;

    /// A database in WAL mode, as the pool leaves it, with one table `t (column)`;
    /// the folder lives as long as the first value.
    fn wal_database(column: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch(&format!(
                "PRAGMA journal_mode = WAL; CREATE TABLE t ({column})"
            ))
            .unwrap();
        (dir, path)
    }

    #[tokio::test]
    async fn a_write_waits_for_another_writer_without_blocking_the_runtime() {
        let (_dir, path) = wal_database("x INTEGER");
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

    #[tokio::test]
    async fn the_checkpoint_thread_moves_the_wal_into_the_database_file() {
        let (_dir, path) = wal_database("x BLOB");
        let before = std::fs::metadata(&path).unwrap().len();
        let writer = SqliteWriter::open(&path, Duration::from_secs(10)).unwrap();
        for _ in 0..COMMITS_PER_CHECKPOINT {
            writer
                .transaction(|tx| tx.execute("INSERT INTO t VALUES (zeroblob(4000))", []))
                .await
                .unwrap();
        }
        // The commits themselves only append to the WAL; the database file grows when
        // the checkpoint thread copies them in.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::fs::metadata(&path).unwrap().len() < before + 64 * 4000 {
            assert!(
                std::time::Instant::now() < deadline,
                "no checkpoint within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
