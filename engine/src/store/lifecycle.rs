//! A run's own writes: its creation with every step row, and its status changes.
//!
//! On SQLite they run, like the attempts' writes, as one transaction on the store's
//! writer connection (see `writer`). Through sqlx every statement of a transaction is a
//! round trip to the connection's thread: creating a run (begin, three inserts,
//! commit) and ending it (begin, update, insert, commit) took about 1 ms each on a
//! two-core machine, as much as ten steps' own writes. Both backends run the same SQL
//! text: SQLite reads `$1`…`$n` as parameters numbered by first appearance, which a
//! test checks matches their numbers.

use rusqlite::Connection;
use serde_json::Value;

use super::{NewRun, NewStepRun, Pool, Result, RunStatus, StepStatus, Store, json_text, to_millis};

const INSERT_RUN: &str = "INSERT INTO runs (id, workflow, workflow_path, source, inputs, \
     trigger_data, status, created_at, updated_at, owner, lease_until) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $10)";
const INSERT_STEP_RUN: &str = "INSERT INTO step_runs \
     (run_id, step_key, step_id, item_index, status, idempotency_key) \
     VALUES ($1, $2, $3, $4, $5, $6)";
pub(super) const INSERT_EVENT: &str =
    "INSERT INTO events (run_id, step_key, kind, data, at) VALUES ($1, $2, $3, $4, $5)";
/// Takes the lease when it is free, expired or already `owner`'s.
const TAKE_LEASE: &str = "UPDATE runs SET owner = $1, lease_until = $2, updated_at = $3 \
     WHERE id = $4 AND (owner IS NULL OR owner = $1 OR lease_until IS NULL OR lease_until < $3)";
/// Terminal statuses also set `finished_at` and drop the lease.
const SET_RUN_STATUS: &str = "UPDATE runs SET status = $1, error = $2, updated_at = $3, \
     finished_at = CASE WHEN $4 = 1 THEN $3 ELSE NULL END, \
     owner = CASE WHEN $4 = 1 THEN NULL ELSE owner END, \
     lease_until = CASE WHEN $4 = 1 THEN NULL ELSE lease_until END WHERE id = $5";

/// An event row on the writer connection ([`super::insert_event`] is the pool's).
fn insert_event_on_writer(
    tx: &Connection,
    run_id: &str,
    kind: &str,
    data: &str,
    at: i64,
) -> rusqlite::Result<()> {
    tx.prepare_cached(INSERT_EVENT)?.execute(rusqlite::params![
        run_id,
        None::<&str>,
        kind,
        data,
        at
    ])?;
    Ok(())
}

impl Store {
    /// Record a new run and its step instances in one transaction.
    pub async fn create_run(&self, run: &NewRun, steps: &[NewStepRun]) -> Result<()> {
        let now = to_millis(chrono::Utc::now());
        let created = serde_json::json!({"workflow": run.workflow});
        match &self.pool {
            Pool::Sqlite(_, writer) => {
                let (run, steps) = (run.clone(), steps.to_vec());
                let (inputs, trigger) = (json_text(&run.inputs), json_text(&run.trigger));
                let created = json_text(&created);
                writer
                    .transaction(move |tx| {
                        tx.prepare_cached(INSERT_RUN)?.execute(rusqlite::params![
                            run.id,
                            run.workflow,
                            run.workflow_path,
                            run.source,
                            inputs,
                            trigger,
                            RunStatus::Running.as_str(),
                            now,
                            run.owner,
                            run.lease_until.map(to_millis),
                        ])?;
                        let mut insert = tx.prepare_cached(INSERT_STEP_RUN)?;
                        for step in &steps {
                            insert.execute(rusqlite::params![
                                run.id,
                                step.key,
                                step.step_id,
                                step.item_index,
                                StepStatus::Pending.as_str(),
                                step.idempotency_key,
                            ])?;
                        }
                        insert_event_on_writer(tx, &run.id, "run_created", &created, now)
                    })
                    .await
            }
            Pool::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::query(INSERT_RUN)
                    .bind(&run.id)
                    .bind(&run.workflow)
                    .bind(&run.workflow_path)
                    .bind(&run.source)
                    .bind(json_text(&run.inputs))
                    .bind(json_text(&run.trigger))
                    .bind(RunStatus::Running.as_str())
                    .bind(now)
                    .bind(&run.owner)
                    .bind(run.lease_until.map(to_millis))
                    .execute(&mut *tx)
                    .await?;
                insert_step_runs!(&mut *tx, &run.id, steps, "");
                super::insert_event(&mut tx, &run.id, None, "run_created", &created, now).await?;
                tx.commit().await?;
                Ok(())
            }
        }
    }

    /// Take or renew the lease of a run for `owner` until `until`; returns how many rows
    /// changed: 0 when another owner holds an unexpired lease (or there is no such run).
    pub(super) async fn take_lease(
        &self,
        run_id: &str,
        owner: &str,
        until: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64> {
        let (now, until) = (to_millis(chrono::Utc::now()), to_millis(until));
        match &self.pool {
            Pool::Sqlite(_, writer) => {
                let (run_id, owner) = (run_id.to_string(), owner.to_string());
                let n = writer
                    .transaction(move |tx| {
                        tx.prepare_cached(TAKE_LEASE)?
                            .execute(rusqlite::params![owner, until, now, run_id])
                    })
                    .await?;
                Ok(n as u64)
            }
            Pool::Postgres(pool) => Ok(sqlx::query(TAKE_LEASE)
                .bind(owner)
                .bind(until)
                .bind(now)
                .bind(run_id)
                .execute(pool)
                .await?
                .rows_affected()),
        }
    }

    /// Change a run's status; terminal statuses also set `finished_at` and drop the lease.
    pub async fn set_run_status(
        &self,
        run_id: &str,
        status: RunStatus,
        error: Option<&str>,
    ) -> Result<()> {
        let now = to_millis(chrono::Utc::now());
        let terminal = i64::from(status.is_terminal());
        let data: Value = serde_json::json!({"status": status.as_str(), "error": error});
        match &self.pool {
            Pool::Sqlite(_, writer) => {
                let (run_id, error) = (run_id.to_string(), error.map(str::to_string));
                let data = json_text(&data);
                writer
                    .transaction(move |tx| {
                        tx.prepare_cached(SET_RUN_STATUS)?
                            .execute(rusqlite::params![
                                status.as_str(),
                                error,
                                now,
                                terminal,
                                run_id,
                            ])?;
                        insert_event_on_writer(tx, &run_id, "run_status", &data, now)
                    })
                    .await
            }
            Pool::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::query(SET_RUN_STATUS)
                    .bind(status.as_str())
                    .bind(error)
                    .bind(now)
                    .bind(terminal)
                    .bind(run_id)
                    .execute(&mut *tx)
                    .await?;
                super::insert_event(&mut tx, run_id, None, "run_status", &data, now).await?;
                tx.commit().await?;
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SQL shared with Postgres is bound by position on SQLite: each `$n` must be
    /// the n-th parameter SQLite sees.
    #[test]
    fn shared_statements_number_their_parameters_in_order() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE runs (id, workflow, workflow_path, source, inputs, trigger_data, \
             status, created_at, updated_at, owner, lease_until, error, finished_at);
             CREATE TABLE step_runs (run_id, step_key, step_id, item_index, status, idempotency_key);
             CREATE TABLE events (run_id, step_key, kind, data, at);",
        )
        .unwrap();
        for sql in [
            INSERT_RUN,
            INSERT_STEP_RUN,
            INSERT_EVENT,
            TAKE_LEASE,
            SET_RUN_STATUS,
        ] {
            let stmt = conn.prepare(sql).unwrap();
            for i in 1..=stmt.parameter_count() {
                assert_eq!(
                    stmt.parameter_name(i),
                    Some(format!("${i}").as_str()),
                    "{sql}"
                );
            }
        }
    }
}
