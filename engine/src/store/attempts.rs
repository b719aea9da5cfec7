//! The per-step writes: an attempt starts, an attempt ends.
//!
//! They run once or twice per step and are the engine's hot path, so each is one
//! round trip: data-modifying CTEs on Postgres (one atomic statement), and on SQLite
//! one transaction on the store's writer connection, called in place (see `writer`).
//! In a chain, the end of one step and the start of the next are written together by
//! [`Store::finish_and_start`]: one commit per step instead of two.
//!
//! An attempt is written once, to its own row: the `events` table keeps what happens to
//! a run as a whole (created, resumed, cancelling, a lease taken over), not a second
//! copy of every attempt's start and end, which cost two more rows, two more index
//! entries and about a third of each step's commit.

use rusqlite::{Connection, named_params, params};

use super::{AttemptEnd, AttemptStart, Pool, Result, StepStatus, Store, json_text, to_millis};

/// The start of an attempt on SQLite: the step becomes `running`, and the attempt row,
/// whose id (its rowid: `id` is the table's `INTEGER PRIMARY KEY`) is returned.
/// The hot statements bind their values by position: binding by name looks every name
/// up in the statement (a tenth of the commit's instructions went to it).
const START_STEP_SQLITE: &str = "UPDATE step_runs SET status = ?1, attempts = ?2, \
     input = ?3, started_at = COALESCE(started_at, ?4), wait = NULL, wake_at = NULL \
     WHERE run_id = ?5 AND step_key = ?6";
const START_ATTEMPT_SQLITE: &str = "INSERT INTO attempts \
     (run_id, step_key, attempt, status, input, started_at) \
     VALUES (?1, ?2, ?3, 'running', ?4, ?5)";
const START_POSTGRES: &str = "WITH s AS (UPDATE step_runs SET status = $1, attempts = $2, input = $3, \
     started_at = COALESCE(started_at, $4), wait = NULL, wake_at = NULL \
     WHERE run_id = $5 AND step_key = $6 RETURNING 1) \
     INSERT INTO attempts (run_id, step_key, attempt, status, input, started_at) \
     VALUES ($5, $6, $2, 'running', $3, $4) RETURNING id";

/// The end of an attempt on SQLite: the attempt row, the step's new state, and a
/// pending approval when the step now waits for one.
const FINISH_ATTEMPT_SQLITE: &str = "UPDATE attempts SET status = ?1, outputs = ?2, \
     logs = ?3, exit_code = ?4, error_kind = ?5, error = ?6, finished_at = ?7 WHERE id = ?8";
const FINISH_STEP_SQLITE: &str = "UPDATE step_runs SET status = ?1, outputs = ?2, \
     error_kind = ?3, error = ?4, wait = ?5, wake_at = ?6, finished_at = ?7 \
     WHERE run_id = ?8 AND step_key = ?9";
const FINISH_APPROVAL_SQLITE: &str = "INSERT INTO approvals \
     (run_id, step_key, request, status, created_at) \
     VALUES (:run_id, :step_key, :request, 'pending', :at) \
     ON CONFLICT (run_id, step_key) DO NOTHING";
const FINISH_POSTGRES: &str = "WITH a AS (UPDATE attempts SET status = $1, outputs = $2, logs = $3, \
     exit_code = $4, error_kind = $5, error = $6, finished_at = $7 WHERE id = $8 RETURNING 1), \
     s AS (UPDATE step_runs SET status = $9, outputs = $2, error_kind = $5, error = $6, wait = $10, \
     wake_at = $11, finished_at = $12 WHERE run_id = $13 AND step_key = $14 RETURNING 1) \
     INSERT INTO approvals (run_id, step_key, request, status, created_at) \
     SELECT $13, $14, $15, 'pending', $7 WHERE $15::text IS NOT NULL \
     ON CONFLICT (run_id, step_key) DO NOTHING";

/// An attempt start, as the values bound to the statements: owned, so that a SQLite
/// write can move to a blocking thread when it has to wait for a lock.
struct StartParams {
    run_id: String,
    step_key: String,
    attempt: i64,
    now: i64,
    input: Option<String>,
}

impl StartParams {
    fn new(start: &AttemptStart) -> Self {
        StartParams {
            run_id: start.run_id.clone(),
            step_key: start.step_key.clone(),
            attempt: i64::from(start.attempt),
            now: to_millis(start.at),
            input: start.input.as_ref().map(json_text),
        }
    }

    /// Write the start in `tx`; returns the attempt's id.
    fn write(&self, tx: &Connection) -> rusqlite::Result<i64> {
        let (run_id, step_key, at) = (&self.run_id, &self.step_key, self.now);
        tx.prepare_cached(START_STEP_SQLITE)?.execute(params![
            StepStatus::Running.as_str(),
            self.attempt,
            self.input,
            at,
            run_id,
            step_key,
        ])?;
        // The new row's id is its rowid: read from the connection rather than with
        // `RETURNING`, which makes SQLite collect the returned rows in a table of its
        // own before the statement ends.
        tx.prepare_cached(START_ATTEMPT_SQLITE)?.execute(params![
            run_id,
            step_key,
            self.attempt,
            self.input,
            at,
        ])?;
        Ok(tx.last_insert_rowid())
    }
}

/// An attempt end, as the values bound to the statements (owned, as [`StartParams`]).
struct FinishParams {
    attempt_id: i64,
    run_id: String,
    step_key: String,
    attempt_status: &'static str,
    step_status: &'static str,
    now: i64,
    outputs: String,
    logs: String,
    exit_code: Option<i64>,
    error_kind: Option<String>,
    error: Option<String>,
    finished_at: Option<i64>,
    wait: Option<String>,
    wake_at: Option<i64>,
    approval: Option<String>,
}

impl FinishParams {
    fn new(end: &AttemptEnd) -> Self {
        let now = to_millis(end.at);
        FinishParams {
            attempt_id: end.attempt_id,
            run_id: end.run_id.clone(),
            step_key: end.step_key.clone(),
            attempt_status: end.attempt_status.as_str(),
            step_status: end.step_status.as_str(),
            now,
            outputs: json_text(&end.outputs),
            logs: end.logs.join("\n"),
            exit_code: end.exit_code,
            error_kind: end.error_kind.clone(),
            error: end.error.clone(),
            finished_at: end.step_status.is_terminal().then_some(now),
            wait: end.wait.as_ref().map(json_text),
            wake_at: end.wake_at.map(to_millis),
            approval: end.approval.as_ref().map(json_text),
        }
    }

    /// Write the end in `tx`.
    fn write(&self, tx: &Connection) -> rusqlite::Result<()> {
        let (run_id, step_key, at) = (&self.run_id, &self.step_key, self.now);
        tx.prepare_cached(FINISH_ATTEMPT_SQLITE)?.execute(params![
            self.attempt_status,
            self.outputs,
            self.logs,
            self.exit_code,
            self.error_kind,
            self.error,
            at,
            self.attempt_id,
        ])?;
        tx.prepare_cached(FINISH_STEP_SQLITE)?.execute(params![
            self.step_status,
            self.outputs,
            self.error_kind,
            self.error,
            self.wait,
            self.wake_at,
            self.finished_at,
            run_id,
            step_key,
        ])?;
        if let Some(request) = &self.approval {
            tx.prepare_cached(FINISH_APPROVAL_SQLITE)?
                .execute(named_params! {
                    ":run_id": run_id, ":step_key": step_key, ":request": request, ":at": at,
                })?;
        }
        Ok(())
    }
}

/// Bind a start's parameters in `$1`…`$6` order onto a Postgres query.
macro_rules! bind_start {
    ($query:expr, $p:expr) => {
        $query
            .bind(StepStatus::Running.as_str())
            .bind($p.attempt)
            .bind(&$p.input)
            .bind($p.now)
            .bind(&$p.run_id)
            .bind(&$p.step_key)
    };
}

/// Bind an end's parameters in `$1`…`$15` order onto a Postgres query.
macro_rules! bind_finish {
    ($query:expr, $p:expr) => {
        $query
            .bind($p.attempt_status)
            .bind(&$p.outputs)
            .bind(&$p.logs)
            .bind($p.exit_code)
            .bind(&$p.error_kind)
            .bind(&$p.error)
            .bind($p.now)
            .bind($p.attempt_id)
            .bind($p.step_status)
            .bind(&$p.wait)
            .bind($p.wake_at)
            .bind($p.finished_at)
            .bind(&$p.run_id)
            .bind(&$p.step_key)
            .bind(&$p.approval)
    };
}

impl Store {
    /// Record that an attempt starts, before it runs: the step becomes `running` and an
    /// attempt row is written with the rendered (masked) input. Returns the attempt id.
    pub async fn start_attempt(&self, start: &AttemptStart) -> Result<i64> {
        self.finish_and_start(&[], start).await
    }

    /// Record how an attempt ended and, atomically with it, the step's new state (and a
    /// pending approval when the step now waits for one).
    pub async fn finish_attempt(&self, end: &AttemptEnd) -> Result<()> {
        let p = FinishParams::new(end);
        match &self.pool {
            Pool::Sqlite(_, writer) => writer.transaction(move |tx| p.write(tx)).await,
            Pool::Postgres(pool) => {
                bind_finish!(sqlx::query(FINISH_POSTGRES), p)
                    .execute(pool)
                    .await?;
                Ok(())
            }
        }
    }

    /// [`Store::finish_attempt`] for `ends`, then [`Store::start_attempt`] for `start`.
    /// On SQLite they are one transaction: in a chain of steps, that is the only write
    /// between two steps.
    pub async fn finish_and_start(&self, ends: &[AttemptEnd], start: &AttemptStart) -> Result<i64> {
        let s = StartParams::new(start);
        match &self.pool {
            Pool::Sqlite(_, writer) => {
                let ends: Vec<FinishParams> = ends.iter().map(FinishParams::new).collect();
                writer
                    .transaction(move |tx| {
                        for end in &ends {
                            end.write(tx)?;
                        }
                        s.write(tx)
                    })
                    .await
            }
            Pool::Postgres(pool) => {
                for end in ends {
                    self.finish_attempt(end).await?;
                }
                let query = bind_start!(sqlx::query_scalar::<_, i64>(START_POSTGRES), s);
                Ok(query.fetch_one(pool).await?)
            }
        }
    }
}
