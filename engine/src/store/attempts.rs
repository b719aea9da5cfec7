//! The per-step writes: an attempt starts, an attempt ends.
//!
//! They run once or twice per step and are the engine's hot path, so each is one
//! round trip: data-modifying CTEs on Postgres (one atomic statement), and on SQLite
//! several statements in one query that is a whole transaction (`BEGIN IMMEDIATE; …;
//! COMMIT`; SQLite numbers `$n` across the statements). In a chain, the end of one
//! step and the start of the next are written together by
//! [`Store::finish_and_start`]: one commit per step instead of two.

use std::sync::OnceLock;

use sqlx::{AssertSqlSafe, SqlitePool};

use super::{AttemptEnd, AttemptStart, Pool, Result, StepStatus, Store, json_text, to_millis};

/// The start of an attempt on SQLite: the step becomes `running`, an event, and the
/// attempt row (whose id is returned). Parameters `$1`…`$7`.
const START_SQLITE: &str = "UPDATE step_runs SET status = $1, attempts = $2, input = $3, \
     started_at = COALESCE(started_at, $4), wait = NULL, wake_at = NULL \
     WHERE run_id = $5 AND step_key = $6; \
     INSERT INTO events (run_id, step_key, kind, data, at) VALUES ($5, $6, 'attempt_started', $7, $4); \
     INSERT INTO attempts (run_id, step_key, attempt, status, input, started_at) \
     VALUES ($5, $6, $2, 'running', $3, $4) RETURNING id";
const START_POSTGRES: &str = "WITH s AS (UPDATE step_runs SET status = $1, attempts = $2, input = $3, \
     started_at = COALESCE(started_at, $4), wait = NULL, wake_at = NULL \
     WHERE run_id = $5 AND step_key = $6 RETURNING 1), \
     e AS (INSERT INTO events (run_id, step_key, kind, data, at) \
     VALUES ($5, $6, 'attempt_started', $7, $4) RETURNING 1) \
     INSERT INTO attempts (run_id, step_key, attempt, status, input, started_at) \
     VALUES ($5, $6, $2, 'running', $3, $4) RETURNING id";
#[cfg(test)]
const START_PARAMS: usize = 7;

/// The end of an attempt on SQLite: the attempt row, the step's new state, an event,
/// and a pending approval when the step now waits for one. Parameters `$1`…`$16`.
const FINISH_SQLITE: &str = "UPDATE attempts SET status = $1, outputs = $2, logs = $3, exit_code = $4, \
     error_kind = $5, error = $6, finished_at = $7 WHERE id = $8; \
     UPDATE step_runs SET status = $9, outputs = $2, error_kind = $5, error = $6, wait = $10, \
     wake_at = $11, finished_at = $12 WHERE run_id = $13 AND step_key = $14; \
     INSERT INTO events (run_id, step_key, kind, data, at) VALUES ($13, $14, 'attempt_finished', $15, $7); \
     INSERT INTO approvals (run_id, step_key, request, status, created_at) \
     SELECT $13, $14, $16, 'pending', $7 WHERE $16 IS NOT NULL \
     ON CONFLICT (run_id, step_key) DO NOTHING";
const FINISH_POSTGRES: &str = "WITH a AS (UPDATE attempts SET status = $1, outputs = $2, logs = $3, \
     exit_code = $4, error_kind = $5, error = $6, finished_at = $7 WHERE id = $8 RETURNING 1), \
     s AS (UPDATE step_runs SET status = $9, outputs = $2, error_kind = $5, error = $6, wait = $10, \
     wake_at = $11, finished_at = $12 WHERE run_id = $13 AND step_key = $14 RETURNING 1), \
     e AS (INSERT INTO events (run_id, step_key, kind, data, at) \
     VALUES ($13, $14, 'attempt_finished', $15, $7) RETURNING 1) \
     INSERT INTO approvals (run_id, step_key, request, status, created_at) \
     SELECT $13, $14, $16, 'pending', $7 WHERE $16::text IS NOT NULL \
     ON CONFLICT (run_id, step_key) DO NOTHING";
const FINISH_PARAMS: usize = 16;

/// The SQLite transactions, built once from the statements above.
struct SqliteTransactions {
    start: String,
    finish: String,
    finish_then_start: String,
}

fn sqlite_transactions() -> &'static SqliteTransactions {
    static SQL: OnceLock<SqliteTransactions> = OnceLock::new();
    SQL.get_or_init(|| SqliteTransactions {
        start: format!("BEGIN IMMEDIATE; {START_SQLITE}; COMMIT"),
        finish: format!("BEGIN IMMEDIATE; {FINISH_SQLITE}; COMMIT"),
        finish_then_start: format!(
            "BEGIN IMMEDIATE; {FINISH_SQLITE}; {}; COMMIT",
            shift_parameters(START_SQLITE, FINISH_PARAMS)
        ),
    })
}

/// `sql` with every `$n` renumbered `$(n + by)`, so that two statements' parameters
/// can follow each other in one query.
fn shift_parameters(sql: &str, by: usize) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut rest = sql;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..=dollar]);
        rest = &rest[dollar + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        match rest[..digits].parse::<usize>() {
            Ok(n) => out.push_str(&(n + by).to_string()),
            Err(_) => out.push_str(&rest[..digits]),
        }
        rest = &rest[digits..];
    }
    out.push_str(rest);
    out
}

/// An attempt start, as bound parameters.
struct StartParams<'a> {
    start: &'a AttemptStart,
    now: i64,
    input: Option<String>,
    event: String,
}

impl<'a> StartParams<'a> {
    fn new(start: &'a AttemptStart) -> Self {
        StartParams {
            start,
            now: to_millis(start.at),
            input: start.input.as_ref().map(json_text),
            event: json_text(&serde_json::json!({"attempt": start.attempt})),
        }
    }
}

/// An attempt end, as bound parameters.
struct FinishParams<'a> {
    end: &'a AttemptEnd,
    now: i64,
    outputs: String,
    logs: String,
    finished_at: Option<i64>,
    event: String,
    wait: Option<String>,
    approval: Option<String>,
}

impl<'a> FinishParams<'a> {
    fn new(end: &'a AttemptEnd) -> Self {
        let now = to_millis(end.at);
        FinishParams {
            end,
            now,
            outputs: json_text(&end.outputs),
            logs: end.logs.join("\n"),
            finished_at: end.step_status.is_terminal().then_some(now),
            event: json_text(&serde_json::json!({
                "attempt": end.attempt,
                "status": end.step_status.as_str(),
                "error": end.error,
            })),
            wait: end.wait.as_ref().map(json_text),
            approval: end.approval.as_ref().map(json_text),
        }
    }
}

/// Bind a start's parameters in `$1`…`$7` order onto a query.
macro_rules! bind_start {
    ($query:expr, $p:expr) => {
        $query
            .bind(StepStatus::Running.as_str())
            .bind(i64::from($p.start.attempt))
            .bind(&$p.input)
            .bind($p.now)
            .bind(&$p.start.run_id)
            .bind(&$p.start.step_key)
            .bind(&$p.event)
    };
}

/// Bind an end's parameters in `$1`…`$16` order onto a query.
macro_rules! bind_finish {
    ($query:expr, $p:expr) => {
        $query
            .bind($p.end.attempt_status.as_str())
            .bind(&$p.outputs)
            .bind(&$p.logs)
            .bind($p.end.exit_code)
            .bind($p.end.error_kind.as_deref())
            .bind($p.end.error.as_deref())
            .bind($p.now)
            .bind($p.end.attempt_id)
            .bind($p.end.step_status.as_str())
            .bind(&$p.wait)
            .bind($p.end.wake_at.map(to_millis))
            .bind($p.finished_at)
            .bind(&$p.end.run_id)
            .bind(&$p.end.step_key)
            .bind(&$p.event)
            .bind(&$p.approval)
    };
}

impl Store {
    /// Record that an attempt starts, before it runs: the step becomes `running` and an
    /// attempt row is written with the rendered (masked) input. Returns the attempt id.
    pub async fn start_attempt(&self, start: &AttemptStart) -> Result<i64> {
        let p = StartParams::new(start);
        match &self.pool {
            Pool::Sqlite(pool) => {
                let sql = AssertSqlSafe(sqlite_transactions().start.as_str());
                let query = bind_start!(sqlx::query_scalar::<_, i64>(sql), p);
                let mut tx = OneTrip::acquire(pool).await?;
                // `fetch_all`: a fetch that stops at the first row would never reach COMMIT.
                let ids = query.fetch_all(tx.conn()).await;
                first_id(tx.finish(ids).await?)
            }
            Pool::Postgres(pool) => {
                let query = bind_start!(sqlx::query_scalar::<_, i64>(START_POSTGRES), p);
                Ok(query.fetch_one(pool).await?)
            }
        }
    }

    /// Record how an attempt ended and, atomically with it, the step's new state (and a
    /// pending approval when the step now waits for one).
    pub async fn finish_attempt(&self, end: &AttemptEnd) -> Result<()> {
        let p = FinishParams::new(end);
        match &self.pool {
            Pool::Sqlite(pool) => {
                let sql = AssertSqlSafe(sqlite_transactions().finish.as_str());
                let query = bind_finish!(sqlx::query(sql), p);
                let mut tx = OneTrip::acquire(pool).await?;
                let done = query.execute(tx.conn()).await;
                tx.finish(done).await?;
            }
            Pool::Postgres(pool) => {
                bind_finish!(sqlx::query(FINISH_POSTGRES), p)
                    .execute(pool)
                    .await?;
            }
        }
        Ok(())
    }

    /// [`Store::finish_attempt`] for `ends`, then [`Store::start_attempt`] for `start`.
    /// On SQLite the last end and the start are one transaction and one round trip:
    /// in a chain of steps, that is the only write between two steps.
    pub async fn finish_and_start(&self, ends: &[AttemptEnd], start: &AttemptStart) -> Result<i64> {
        let (Pool::Sqlite(pool), Some((last, earlier))) = (&self.pool, ends.split_last()) else {
            for end in ends {
                self.finish_attempt(end).await?;
            }
            return self.start_attempt(start).await;
        };
        for end in earlier {
            self.finish_attempt(end).await?;
        }
        let (f, s) = (FinishParams::new(last), StartParams::new(start));
        let sql = AssertSqlSafe(sqlite_transactions().finish_then_start.as_str());
        let query = bind_start!(bind_finish!(sqlx::query_scalar::<_, i64>(sql), f), s);
        let mut tx = OneTrip::acquire(pool).await?;
        let ids = query.fetch_all(tx.conn()).await;
        first_id(tx.finish(ids).await?)
    }
}

fn first_id(ids: Vec<i64>) -> Result<i64> {
    Ok(ids.first().copied().ok_or(sqlx::Error::RowNotFound)?)
}

/// A pooled SQLite connection for one query that is a whole transaction by itself.
/// sqlx runs each SQLite connection on its own thread, so `pool.begin()`, the query
/// and `commit()` would be three round trips to it.
///
/// The transaction must never stay open on a connection that goes back to the pool:
/// after an error it is rolled back, and a connection whose query was abandoned
/// midway (the future dropped) is closed instead of reused, which rolls back too.
struct OneTrip(Option<sqlx::pool::PoolConnection<sqlx::Sqlite>>);

impl OneTrip {
    async fn acquire(pool: &SqlitePool) -> Result<OneTrip> {
        Ok(OneTrip(Some(pool.acquire().await?)))
    }

    fn conn(&mut self) -> &mut sqlx::SqliteConnection {
        self.0
            .as_deref_mut()
            .expect("a OneTrip holds its connection until finished")
    }

    /// Hand back the query's result, rolling back first if it failed.
    async fn finish<T>(mut self, result: std::result::Result<T, sqlx::Error>) -> Result<T> {
        if result.is_err() {
            let rolled_back = sqlx::query("ROLLBACK").execute(self.conn()).await;
            if rolled_back.is_ok() {
                self.0.take();
            }
            // Otherwise Drop closes the connection: no transaction was active (the
            // error came before BEGIN took effect) or the connection is broken.
        } else {
            self.0.take();
        }
        Ok(result?)
    }
}

impl Drop for OneTrip {
    fn drop(&mut self) {
        if let Some(conn) = self.0.as_mut() {
            conn.close_on_drop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_shift_past_the_first_statement() {
        assert_eq!(
            shift_parameters("a = $1, b = $12, c = '$', d = $7", 16),
            "a = $17, b = $28, c = '$', d = $23"
        );
        // The combined transaction numbers the start's parameters after the end's.
        let sql = &sqlite_transactions().finish_then_start;
        assert!(sql.contains(&format!("${}", FINISH_PARAMS + START_PARAMS)));
        assert!(!sql.contains(&format!("${}", FINISH_PARAMS + START_PARAMS + 1)));
    }
}
