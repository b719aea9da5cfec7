//! The durable store: runs, step instances, attempts, events and approvals.
//!
//! A SQLite file by default (`.medic/medic.db`, zero setup) and Postgres when the database
//! URL starts with `postgres://` (many workers). Both have embedded migrations and share
//! one set of queries: times are BIGINT milliseconds, JSON is TEXT, and parameters are
//! written `$1, $2…` in order of first use, which SQLite reads as numbered parameters.
//! The runtime writes every state change here before acting on it.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Row, SqlitePool};

mod attempts;
mod records;
mod writer;
pub use records::*;

/// A store failure. Messages never contain the database password.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL could not be used.
    #[error("database URL: {0}")]
    Url(String),
    /// The database refused or failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// SQLite refused or failed a per-step write.
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A thread of the store's could not start, or a write handed to a blocking
    /// thread was dropped as the runtime shut down.
    #[error("database thread: {0}")]
    Stopped(String),
    /// Migrations failed.
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored JSON column did not parse.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The thing asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The change conflicts with the current state (e.g. an approval already decided).
    #[error("{0}")]
    Conflict(String),
}

type Result<T> = std::result::Result<T, StoreError>;

#[derive(Clone)]
enum Pool {
    /// The pool for everything but the per-step writes, which have a connection of
    /// their own (see `writer`).
    Sqlite(SqlitePool, Arc<writer::SqliteWriter>),
    Postgres(PgPool),
}

/// Run the same query code on whichever backend this store has. The SQL text is shared;
/// only the pool type differs.
macro_rules! on_pool {
    ($self:expr, $pool:ident => $body:expr) => {
        match &$self.pool {
            Pool::Sqlite($pool, _) => $body,
            Pool::Postgres($pool) => $body,
        }
    };
}

/// A function turning a row of either backend into a record. The bounds say that every
/// column type we read decodes on that backend; writing them once keeps the mappers short.
macro_rules! row_mapper {
    // The same body also maps a row read in place on SQLite's writer connection.
    (fn $name:ident($r:ident) -> $ret:ty $body:block, in place: $lite:ident) => {
        row_mapper!(fn $name($r) -> $ret $body);
        fn $lite($r: &LiteRow<'_, '_>) -> Result<$ret> $body
    };
    (fn $name:ident($r:ident) -> $ret:ty $body:block) => {
        fn $name<R: Row>($r: &R) -> Result<$ret>
        where
            for<'a> &'a str: sqlx::ColumnIndex<R>,
            String: for<'a> sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
            Option<String>: for<'a> sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
            i64: for<'a> sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
            Option<i64>: for<'a> sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
            f64: for<'a> sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
        $body
    };
}

/// A row read with rusqlite on SQLite's writer connection, with sqlx's `try_get`, so
/// that one `row_mapper!` body maps rows of both.
///
/// A column is found among its statement's names, read once per query: rusqlite's
/// lookup by name asks SQLite for every column's name and compares it ignoring case,
/// on every `get`, which was most of the time it took to read a run's hundred steps.
struct LiteRow<'r, 's> {
    row: &'r rusqlite::Row<'s>,
    columns: &'r [String],
}

impl LiteRow<'_, '_> {
    /// Two type parameters, as sqlx's, so that the mappers' `try_get::<T, _>` fit both.
    fn try_get<T: rusqlite::types::FromSql, I: AsRef<str>>(&self, name: I) -> rusqlite::Result<T> {
        let name = name.as_ref();
        match self.columns.iter().position(|c| c == name) {
            Some(index) => self.row.get(index),
            // Spelt otherwise: rusqlite's own lookup, and its error if there is none.
            None => self.row.get(name),
        }
    }
}

// After `on_pool!` and `row_mapper!`, which they use.
mod decisions;
#[cfg(feature = "testing")]
pub mod testing;
mod tracking;
pub use decisions::*;
pub use tracking::*;

/// All rows of one run from `$sql` (whose only parameter is the run id), mapped to records.
macro_rules! rows_of_run {
    ($self:expr, $sql:expr, $run_id:expr, $map:ident) => {
        on_pool!($self, pool => {
            sqlx::query($sql)
                .bind($run_id)
                .fetch_all(pool)
                .await?
                .iter()
                .map($map)
                .collect::<Result<Vec<_>>>()?
        })
    };
}

/// The rows of `sql` (whose only parameter is `key`), read in place on SQLite's writer
/// connection rather than row by row through sqlx (see `SqliteWriter::read`), mapped
/// by `map`.
async fn rows_in_place<T: Send + 'static>(
    writer: &writer::SqliteWriter,
    sql: &'static str,
    key: &str,
    map: fn(&LiteRow<'_, '_>) -> Result<T>,
) -> Result<Vec<T>> {
    let key = key.to_string();
    writer
        .read(move |conn| {
            let mut statement = conn.prepare_cached(sql)?;
            let columns: Vec<String> = statement
                .column_names()
                .into_iter()
                .map(str::to_owned)
                .collect();
            let mut rows = statement.query([key])?;
            let mut mapped = Vec::new();
            while let Some(row) = rows.next()? {
                mapped.push(map(&LiteRow {
                    row,
                    columns: &columns,
                })?);
            }
            Ok(mapped)
        })
        .await
}

/// Step instances per `INSERT`: well under both backends' limits on bound parameters
/// (six per row; 32,766 on SQLite, 65,535 on Postgres).
pub(crate) const STEP_RUNS_PER_INSERT: usize = 1000;

/// Insert `$steps` (`NewStepRun`s) of `$run_id` as pending, with `$tail` after each
/// statement. Many rows per statement: a run of a thousand steps is created in one
/// round trip, not a thousand.
macro_rules! insert_step_runs {
    ($conn:expr, $run_id:expr, $steps:expr, $tail:expr) => {
        for chunk in $steps.chunks($crate::store::STEP_RUNS_PER_INSERT) {
            let mut insert = sqlx::QueryBuilder::new(
                "INSERT INTO step_runs (run_id, step_key, step_id, item_index, status, idempotency_key) ",
            );
            insert.push_values(chunk, |mut row, step| {
                row.push_bind($run_id)
                    .push_bind(&step.key)
                    .push_bind(&step.step_id)
                    .push_bind(step.item_index)
                    .push_bind(StepStatus::Pending.as_str())
                    .push_bind(&step.idempotency_key);
            });
            insert.push($tail);
            insert.build().execute($conn).await?;
        }
    };
}

// After the macros it uses.
mod lifecycle;

/// How long a SQLite write waits for another connection's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Handle to the store. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
    backend: Backend,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({:?})", self.backend)
    }
}

/// Which database a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file.
    Sqlite,
    /// A Postgres server.
    Postgres,
}

fn migrations(backend: Backend) -> Migrator {
    // Each backend has its own set, in the same order with the same versions, then the
    // ones only one backend needs.
    macro_rules! set {
        ($dir:literal) => {
            [
                (
                    20261126000001,
                    "init",
                    include_str!(concat!(
                        "../../migrations/",
                        $dir,
                        "/20261126000001_init.sql"
                    )),
                ),
                (
                    20261126000002,
                    "decisions",
                    include_str!(concat!(
                        "../../migrations/",
                        $dir,
                        "/20261126000002_decisions.sql"
                    )),
                ),
                (
                    20261126000003,
                    "tracking",
                    include_str!(concat!(
                        "../../migrations/",
                        $dir,
                        "/20261126000003_tracking.sql"
                    )),
                ),
            ]
        };
    }
    let set: Vec<(i64, &'static str, &'static str)> = match backend {
        Backend::Sqlite => {
            let mut set = set!("sqlite").to_vec();
            // `attempts.id` without AUTOINCREMENT: one WAL page less per step's commit.
            set.push((
                20261127000004,
                "attempts_rowid",
                include_str!("../../migrations/sqlite/20261127000004_attempts_rowid.sql"),
            ));
            set
        }
        Backend::Postgres => set!("postgres").to_vec(),
    };
    use sqlx::SqlSafeStr;
    Migrator::with_migrations(
        set.into_iter()
            .map(|(version, name, sql)| {
                Migration::new(
                    version,
                    name.into(),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

/// Milliseconds since the epoch.
pub fn to_millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// The time a millisecond count stands for.
pub fn from_millis(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

fn json_text(v: &Value) -> String {
    v.to_string()
}

fn parse_json(text: Option<String>, what: &str) -> Result<Value> {
    match text {
        None => Ok(Value::Null),
        Some(t) => {
            serde_json::from_str(&t).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
        }
    }
}

/// Remove a password from a database URL before it is shown anywhere.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &userinfo[..colon],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

impl Store {
    /// Open (creating when needed) and migrate the store at `url`: `postgres://…` or
    /// `postgresql://…` for Postgres, `sqlite://path` or a plain path for SQLite.
    pub async fn connect(url: &str) -> Result<Store> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let opts = PgConnectOptions::from_str(url)
                .map_err(|e| StoreError::Url(format!("{}: {e}", redact_url(url))))?;
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(opts)
                .await?;
            migrations(Backend::Postgres).run(&pool).await?;
            return Ok(Store {
                pool: Pool::Postgres(pool),
                backend: Backend::Postgres,
            });
        }
        if url == "sqlite::memory:" {
            // The per-step writes have a connection of their own, and a private
            // in-memory database is seen by one connection only.
            return Err(StoreError::Url(
                "an in-memory SQLite store is not supported: give a file path".into(),
            ));
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        if let Some(parent) = Path::new(path)
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent)
                .map_err(|e| StoreError::Url(format!("cannot create {}: {e}", parent.display())))?;
        }
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL in WAL mode: a committed transaction survives a process crash
            // (kill -9); only an OS crash may lose the last commits.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true)
            .pragma(
                "wal_autocheckpoint",
                writer::POOL_AUTOCHECKPOINT.to_string(),
            );
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            // A local file cannot go stale the way a network connection can; the ping
            // before each acquire would be a round trip to the connection's thread.
            .test_before_acquire(false)
            .connect_with(opts)
            .await?;
        migrations(Backend::Sqlite).run(&pool).await?;
        let writer = writer::SqliteWriter::open(Path::new(path), BUSY_TIMEOUT)?;
        Ok(Store {
            pool: Pool::Sqlite(pool, Arc::new(writer)),
            backend: Backend::Sqlite,
        })
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Add step instances discovered while running (the items of a `for_each`).
    /// Existing keys are left untouched, so re-running the expansion is harmless.
    pub async fn add_step_runs(&self, run_id: &str, steps: &[NewStepRun]) -> Result<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            insert_step_runs!(&mut *tx, run_id, steps, " ON CONFLICT (run_id, step_key) DO NOTHING");
            tx.commit().await?;
        });
        Ok(())
    }

    /// One run.
    pub async fn run(&self, id: &str) -> Result<RunRecord> {
        const SQL: &str = "SELECT id, workflow, workflow_path, source, inputs, trigger_data, status, error, \
             created_at, updated_at, finished_at, owner, lease_until, cancel_requested FROM runs WHERE id = $1";
        let row = match &self.pool {
            // Read as each drive starts and at every heartbeat.
            Pool::Sqlite(_, writer) => rows_in_place(writer, SQL, id, run_from_lite_row)
                .await?
                .pop(),
            Pool::Postgres(pool) => {
                let row = sqlx::query(SQL).bind(id).fetch_optional(pool).await?;
                row.map(|r| run_from_row(&r)).transpose()?
            }
        };
        row.ok_or_else(|| StoreError::NotFound(format!("no run with id `{id}`")))
    }

    /// Find a run by a unique prefix of its id (as `git` does with commits).
    pub async fn resolve_run_id(&self, prefix: &str) -> Result<String> {
        if prefix.is_empty() || !prefix.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            return Err(StoreError::NotFound(format!("`{prefix}` is not a run id")));
        }
        let pattern = format!("{prefix}%");
        let ids: Vec<String> = on_pool!(self, pool => {
            sqlx::query("SELECT id FROM runs WHERE id LIKE $1 ORDER BY id LIMIT 2")
                .bind(&pattern)
                .fetch_all(pool)
                .await?
                .iter()
                .map(|r| r.try_get::<String, _>("id"))
                .collect::<std::result::Result<_, _>>()?
        });
        match ids.as_slice() {
            [one] => Ok(one.clone()),
            [] => Err(StoreError::NotFound(format!("no run with id `{prefix}`"))),
            _ => Err(StoreError::NotFound(format!(
                "`{prefix}` matches several runs: give more characters"
            ))),
        }
    }

    /// Recent runs, newest first.
    pub async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>> {
        const SQL: &str = "SELECT id, workflow, workflow_path, source, inputs, trigger_data, status, error, \
             created_at, updated_at, finished_at, owner, lease_until, cancel_requested FROM runs \
             WHERE ($1 IS NULL OR status = $1) AND ($2 IS NULL OR workflow = $2) \
             ORDER BY created_at DESC, id DESC LIMIT $3";
        let status = filter.status.map(|s| s.as_str().to_string());
        Ok(on_pool!(self, pool => {
            sqlx::query(SQL)
                .bind(status)
                .bind(filter.workflow.clone())
                .bind(filter.limit.max(1))
                .fetch_all(pool)
                .await?
                .iter()
                .map(run_from_row)
                .collect::<Result<Vec<_>>>()?
        }))
    }

    /// Every step instance of a run, in insertion order.
    pub async fn step_runs(&self, run_id: &str) -> Result<Vec<StepRunRecord>> {
        const SQL: &str = "SELECT run_id, step_key, step_id, item_index, status, attempts, input, outputs, \
             error_kind, error, idempotency_key, wait, wake_at, started_at, finished_at \
             FROM step_runs WHERE run_id = $1 ORDER BY step_id, item_index, step_key";
        match &self.pool {
            // Loaded whenever a run is driven or resumed.
            Pool::Sqlite(_, writer) => rows_in_place(writer, SQL, run_id, step_from_lite_row).await,
            Pool::Postgres(_) => Ok(rows_of_run!(self, SQL, run_id, step_from_row)),
        }
    }

    /// Every attempt of a run, oldest first.
    pub async fn attempts(&self, run_id: &str) -> Result<Vec<AttemptRecord>> {
        const SQL: &str = "SELECT id, run_id, step_key, attempt, status, input, outputs, logs, exit_code, \
             error_kind, error, started_at, finished_at FROM attempts WHERE run_id = $1 ORDER BY id";
        Ok(rows_of_run!(self, SQL, run_id, attempt_from_row))
    }

    /// The run's events, oldest first.
    pub async fn events(&self, run_id: &str) -> Result<Vec<EventRecord>> {
        const SQL: &str =
            "SELECT id, run_id, step_key, kind, data, at FROM events WHERE run_id = $1 ORDER BY id";
        Ok(on_pool!(self, pool => {
            sqlx::query(SQL)
                .bind(run_id)
                .fetch_all(pool)
                .await?
                .iter()
                .map(|r| -> Result<EventRecord> {
                    Ok(EventRecord {
                        id: r.try_get("id")?,
                        run_id: r.try_get("run_id")?,
                        step_key: r.try_get("step_key")?,
                        kind: r.try_get("kind")?,
                        data: parse_json(r.try_get("data")?, "event data")?,
                        at: from_millis(r.try_get("at")?),
                    })
                })
                .collect::<Result<Vec<_>>>()?
        }))
    }

    /// Set a step's state without an attempt (skipped, cancelled, or finished from a
    /// resolved wait).
    pub async fn set_step(&self, update: &StepUpdate) -> Result<()> {
        let now = to_millis(Utc::now());
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "UPDATE step_runs SET status = $1, outputs = COALESCE($2, outputs), error_kind = $3, error = $4, \
                 wait = NULL, wake_at = NULL, finished_at = $5 WHERE run_id = $6 AND step_key = $7",
            )
            .bind(update.status.as_str())
            .bind(update.outputs.as_ref().map(json_text))
            .bind(update.error_kind.as_deref())
            .bind(update.error.as_deref())
            .bind(if update.status.is_terminal() { Some(now) } else { None })
            .bind(&update.run_id)
            .bind(&update.step_key)
            .execute(&mut *tx)
            .await?;
            let data = serde_json::json!({"status": update.status.as_str(), "reason": update.error});
            insert_event(&mut tx, &update.run_id, Some(&update.step_key), "step_state", &data, now).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Mark attempts left `running` by a dead process as interrupted; their steps will run
    /// again. Returns how many there were.
    pub async fn interrupt_running(&self, run_id: &str) -> Result<u64> {
        let now = to_millis(Utc::now());
        Ok(on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "UPDATE attempts SET status = 'interrupted', finished_at = $1, \
                 error = 'the process running this attempt stopped' WHERE run_id = $2 AND status = 'running'",
            )
            .bind(now)
            .bind(run_id)
            .execute(&mut *tx)
            .await?;
            let n = sqlx::query("UPDATE step_runs SET status = 'pending' WHERE run_id = $1 AND status = 'running'")
                .bind(run_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n > 0 {
                insert_event(&mut tx, run_id, None, "resumed_interrupted", &serde_json::json!({"steps": n}), now)
                    .await?;
            }
            tx.commit().await?;
            n
        }))
    }

    /// Take or renew the lease of a run for `owner` until `until`. Fails with `Conflict`
    /// when another owner holds an unexpired lease, so two processes never drive one run.
    pub async fn acquire_lease(
        &self,
        run_id: &str,
        owner: &str,
        until: DateTime<Utc>,
    ) -> Result<()> {
        let n = self.take_lease(run_id, owner, until).await?;
        if n == 1 {
            Ok(())
        } else {
            let run = self.run(run_id).await?;
            Err(StoreError::Conflict(format!(
                "run {run_id} is being driven by {} (lease until {}); wait for it or stop that process",
                run.owner.unwrap_or_default(),
                run.lease_until.map(|t| t.to_rfc3339()).unwrap_or_default()
            )))
        }
    }

    /// Take the lease from `from`, which is known to be dead (its process is gone).
    pub async fn steal_lease(
        &self,
        run_id: &str,
        from: &str,
        to: &str,
        until: DateTime<Utc>,
    ) -> Result<bool> {
        let now = to_millis(Utc::now());
        let n = on_pool!(self, pool => {
            sqlx::query("UPDATE runs SET owner = $1, lease_until = $2, updated_at = $3 WHERE id = $4 AND owner = $5")
                .bind(to)
                .bind(to_millis(until))
                .bind(now)
                .bind(run_id)
                .bind(from)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(n == 1)
    }

    /// Give the lease back (the process stops driving the run but the run goes on later).
    pub async fn release_lease(&self, run_id: &str, owner: &str) -> Result<()> {
        on_pool!(self, pool => {
            sqlx::query("UPDATE runs SET owner = NULL, lease_until = NULL WHERE id = $1 AND owner = $2")
                .bind(run_id)
                .bind(owner)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Ask the process driving a run to cancel it.
    pub async fn request_cancel(&self, run_id: &str) -> Result<()> {
        let now = to_millis(Utc::now());
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("UPDATE runs SET cancel_requested = 1, updated_at = $1 WHERE id = $2")
                .bind(now)
                .bind(run_id)
                .execute(&mut *tx)
                .await?;
            insert_event(&mut tx, run_id, None, "cancel_requested", &serde_json::json!({}), now).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Approvals of a run, or every pending approval when `run_id` is `None`.
    pub async fn approvals(&self, run_id: Option<&str>) -> Result<Vec<ApprovalRecord>> {
        const SQL: &str = "SELECT run_id, step_key, request, status, decided_by, comment, inputs, created_at, \
             decided_at FROM approvals WHERE ($1 IS NULL AND status = 'pending') OR run_id = $1 \
             ORDER BY created_at, step_key";
        Ok(on_pool!(self, pool => {
            sqlx::query(SQL)
                .bind(run_id)
                .fetch_all(pool)
                .await?
                .iter()
                .map(approval_from_row)
                .collect::<Result<Vec<_>>>()?
        }))
    }

    /// Decide a pending approval. Exactly one decision wins: a second one gets `Conflict`.
    pub async fn decide_approval(&self, decision: &ApprovalDecision) -> Result<()> {
        let now = to_millis(decision.at);
        let n = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let n = sqlx::query(
                "UPDATE approvals SET status = $1, decided_by = $2, comment = $3, inputs = $4, decided_at = $5 \
                 WHERE run_id = $6 AND step_key = $7 AND status = 'pending'",
            )
            .bind(decision.status.as_str())
            .bind(&decision.by)
            .bind(decision.comment.as_deref())
            .bind(json_text(&decision.inputs))
            .bind(now)
            .bind(&decision.run_id)
            .bind(&decision.step_key)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 1 {
                let data = serde_json::json!({"status": decision.status.as_str(), "by": decision.by});
                insert_event(&mut tx, &decision.run_id, Some(&decision.step_key), "approval_decided", &data, now)
                    .await?;
            }
            tx.commit().await?;
            n
        });
        if n == 1 {
            return Ok(());
        }
        let existing = self.approvals(Some(&decision.run_id)).await?;
        match existing.iter().find(|a| a.step_key == decision.step_key) {
            Some(a) => Err(StoreError::Conflict(format!(
                "approval `{}` of run {} was already {} by {}",
                a.step_key,
                a.run_id,
                a.status.as_str(),
                a.decided_by.clone().unwrap_or_default()
            ))),
            None => Err(StoreError::NotFound(format!(
                "run {} has no approval step `{}`",
                decision.run_id, decision.step_key
            ))),
        }
    }

    /// Append an event.
    pub async fn append_event(
        &self,
        run_id: &str,
        step_key: Option<&str>,
        kind: &str,
        data: &Value,
    ) -> Result<()> {
        let now = to_millis(Utc::now());
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            insert_event(&mut tx, run_id, step_key, kind, data, now).await?;
            tx.commit().await?;
        });
        Ok(())
    }
}

async fn insert_event<'c, DB>(
    tx: &mut sqlx::Transaction<'c, DB>,
    run_id: &str,
    step_key: Option<&str>,
    kind: &str,
    data: &Value,
    at: i64,
) -> Result<()>
where
    DB: sqlx::Database,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<&'q str>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
    for<'e> &'e mut <DB as sqlx::Database>::Connection: sqlx::Executor<'e, Database = DB>,
{
    sqlx::query::<DB>(lifecycle::INSERT_EVENT)
        .bind(run_id)
        .bind(step_key)
        .bind(kind)
        .bind(json_text(data))
        .bind(at)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

row_mapper! {
    fn run_from_row(r) -> RunRecord {
    let status: String = r.try_get("status")?;
    Ok(RunRecord {
        id: r.try_get("id")?,
        workflow: r.try_get("workflow")?,
        workflow_path: r.try_get("workflow_path")?,
        source: r.try_get("source")?,
        inputs: parse_json(r.try_get("inputs")?, "run inputs")?,
        trigger: parse_json(r.try_get("trigger_data")?, "run trigger")?,
        status: RunStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("run status `{status}`")))?,
        error: r.try_get("error")?,
        created_at: from_millis(r.try_get("created_at")?),
        updated_at: from_millis(r.try_get("updated_at")?),
        finished_at: r.try_get::<Option<i64>, _>("finished_at")?.map(from_millis),
        owner: r.try_get("owner")?,
        lease_until: r.try_get::<Option<i64>, _>("lease_until")?.map(from_millis),
        cancel_requested: r.try_get::<i64, _>("cancel_requested")? != 0,
    })
    }, in place: run_from_lite_row
}

row_mapper! {
    fn step_from_row(r) -> StepRunRecord {
    let status: String = r.try_get("status")?;
    let wait = parse_json(r.try_get("wait")?, "step wait")?;
    Ok(StepRunRecord {
        run_id: r.try_get("run_id")?,
        step_key: r.try_get("step_key")?,
        step_id: r.try_get("step_id")?,
        item_index: r.try_get("item_index")?,
        status: StepStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("step status `{status}`")))?,
        attempts: u32::try_from(r.try_get::<i64, _>("attempts")?).unwrap_or(0),
        input: parse_json(r.try_get("input")?, "step input")?,
        outputs: parse_json(r.try_get("outputs")?, "step outputs")?,
        error_kind: r.try_get("error_kind")?,
        error: r.try_get("error")?,
        idempotency_key: r.try_get("idempotency_key")?,
        wait: if wait.is_null() {
            None
        } else {
            Some(
                serde_json::from_value(wait)
                    .map_err(|e| StoreError::Corrupt(format!("step wait: {e}")))?,
            )
        },
        wake_at: r.try_get::<Option<i64>, _>("wake_at")?.map(from_millis),
        started_at: r.try_get::<Option<i64>, _>("started_at")?.map(from_millis),
        finished_at: r.try_get::<Option<i64>, _>("finished_at")?.map(from_millis),
    })
    }, in place: step_from_lite_row
}

row_mapper! {
    fn attempt_from_row(r) -> AttemptRecord {
    Ok(AttemptRecord {
        id: r.try_get("id")?,
        run_id: r.try_get("run_id")?,
        step_key: r.try_get("step_key")?,
        attempt: u32::try_from(r.try_get::<i64, _>("attempt")?).unwrap_or(0),
        status: r.try_get("status")?,
        input: parse_json(r.try_get("input")?, "attempt input")?,
        outputs: parse_json(r.try_get("outputs")?, "attempt outputs")?,
        logs: r.try_get::<Option<String>, _>("logs")?.unwrap_or_default(),
        exit_code: r.try_get("exit_code")?,
        error_kind: r.try_get("error_kind")?,
        error: r.try_get("error")?,
        started_at: from_millis(r.try_get("started_at")?),
        finished_at: r.try_get::<Option<i64>, _>("finished_at")?.map(from_millis),
    })
    }
}

row_mapper! {
    fn approval_from_row(r) -> ApprovalRecord {
    let status: String = r.try_get("status")?;
    let request = parse_json(r.try_get("request")?, "approval request")?;
    Ok(ApprovalRecord {
        run_id: r.try_get("run_id")?,
        step_key: r.try_get("step_key")?,
        request: serde_json::from_value(request)
            .map_err(|e| StoreError::Corrupt(format!("approval request: {e}")))?,
        status: ApprovalStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("approval status `{status}`")))?,
        decided_by: r.try_get("decided_by")?,
        comment: r.try_get("comment")?,
        inputs: parse_json(r.try_get("inputs")?, "approval inputs")?,
        created_at: from_millis(r.try_get("created_at")?),
        decided_at: r.try_get::<Option<i64>, _>("decided_at")?.map(from_millis),
    })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Migration 20261127000004 on a SQLite database written before it: the attempts
    /// keep their rows and ids, `attempts` leaves `sqlite_sequence`, and new ids follow
    /// the largest old one.
    #[tokio::test]
    async fn attempts_lose_autoincrement_and_keep_their_rows() {
        const ROWID: i64 = 20261127000004;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        // The schema as it was before the migration, with attempts in it.
        let opts = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .foreign_keys(true);
        let pool = SqlitePool::connect_with(opts).await.unwrap();
        let mut old = migrations(Backend::Sqlite);
        let before: Vec<Migration> = old
            .migrations
            .iter()
            .filter(|m| m.version < ROWID)
            .cloned()
            .collect();
        assert_eq!(before.len() + 1, old.migrations.len());
        old.migrations = before.into();
        old.run(&pool).await.unwrap();
        sqlx::query(
            "INSERT INTO runs (id, workflow, workflow_path, source, inputs, trigger_data, \
             status, created_at, updated_at) VALUES ('r', 'wf', 'wf.yaml', '', '{}', '{}', \
             'running', 1, 1)",
        )
        .execute(&pool)
        .await
        .unwrap();
        // Ids with a gap, and a sequence ahead of them, as AUTOINCREMENT leaves it after
        // the newest row was deleted.
        for (id, key) in [(3, "a"), (7, "b")] {
            sqlx::query(
                "INSERT INTO attempts (id, run_id, step_key, attempt, status, logs, \
                 started_at, finished_at) VALUES ($1, 'r', $2, 1, 'succeeded', 'ran', 10, 20)",
            )
            .bind(id)
            .bind(key)
            .execute(&pool)
            .await
            .unwrap();
        }
        sqlx::query("UPDATE sqlite_sequence SET seq = 9 WHERE name = 'attempts'")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;

        let store = Store::connect(path.to_str().unwrap()).await.unwrap();
        let rows: Vec<_> = store
            .attempts("r")
            .await
            .unwrap()
            .into_iter()
            .map(|a| (a.id, a.step_key, a.status, a.logs, a.finished_at.is_some()))
            .collect();
        assert_eq!(
            rows,
            [
                (3, "a".into(), "succeeded".into(), "ran".into(), true),
                (7, "b".into(), "succeeded".into(), "ran".into(), true),
            ]
        );
        let Pool::Sqlite(pool, _) = &store.pool else {
            unreachable!("a SQLite store")
        };
        let (schema,): (String,) = sqlx::query_as(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'attempts'",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        assert!(!schema.contains("AUTOINCREMENT"), "{schema}");
        assert!(
            schema.contains("REFERENCES runs (id) ON DELETE CASCADE"),
            "{schema}"
        );
        let indexes: Vec<(String,)> = sqlx::query_as(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'attempts'",
        )
        .fetch_all(pool)
        .await
        .unwrap();
        assert_eq!(indexes, [("attempts_run".to_string(),)]);
        let sequences = "SELECT name FROM sqlite_sequence ORDER BY name";
        let names: Vec<(String,)> = sqlx::query_as(sequences).fetch_all(pool).await.unwrap();
        assert!(!names.iter().any(|(n,)| n == "attempts"), "{names:?}");

        // A new attempt follows the largest id; the sequence stays out of it.
        let id = store
            .start_attempt(&AttemptStart {
                run_id: "r".into(),
                step_key: "c".into(),
                attempt: 1,
                input: None,
                at: Utc::now(),
            })
            .await
            .unwrap();
        assert_eq!(id, 8);
        let names: Vec<(String,)> = sqlx::query_as(sequences).fetch_all(pool).await.unwrap();
        assert!(!names.iter().any(|(n,)| n == "attempts"), "{names:?}");
    }
}
