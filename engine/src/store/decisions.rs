//! What the decider keeps: decisions, rate-limit events, reported outcomes and switches.
//!
//! The decision logic lives in `medic-policies`; this module only stores and counts.
//! The one subtle query is [`Store::claim_limits`]: checking a set of limits and
//! recording the decision against them is a single atomic step, so that any number of
//! deciders sharing a database never exceed a limit. On Postgres each limit's key is
//! serialised with a transaction-scoped advisory lock (taken in key order, so two
//! deciders never wait on each other in a cycle); on SQLite the transaction starts with
//! `BEGIN IMMEDIATE`, which takes the database's write lock before the first read.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::Row;

use super::{Pool, Result, Store, StoreError, from_millis, json_text, parse_json, to_millis};

/// A decision to store.
#[derive(Debug, Clone)]
pub struct NewDecision {
    /// Its id (a UUID v7, so ids sort by time).
    pub id: String,
    /// The analysed failure's fingerprint.
    pub fingerprint: Option<String>,
    /// The failure's category.
    pub category: Option<String>,
    /// The repository it happened in.
    pub repository: Option<String>,
    /// The service it affects.
    pub service: Option<String>,
    /// The final outcome (`auto_fix`, `escalate`…).
    pub outcome: String,
    /// The rule that matched, when one did.
    pub rule: Option<String>,
    /// The combined confidence, 0 to 1.
    pub confidence: f64,
    /// The whole explained decision.
    pub record: Value,
    /// When it was made.
    pub created_at: DateTime<Utc>,
}

/// A stored decision and, once reported, its result.
#[derive(Debug, Clone, Serialize)]
pub struct DecisionRecord {
    /// Its id.
    pub id: String,
    /// The failure's fingerprint.
    pub fingerprint: Option<String>,
    /// The failure's category.
    pub category: Option<String>,
    /// The repository.
    pub repository: Option<String>,
    /// The service.
    pub service: Option<String>,
    /// The final outcome.
    pub outcome: String,
    /// The rule that matched.
    pub rule: Option<String>,
    /// The combined confidence.
    pub confidence: f64,
    /// The whole explained decision.
    pub record: Value,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// `success` or `failure`, once reported.
    pub result: Option<String>,
    /// Why, as reported.
    pub result_reason: Option<String>,
}

/// One limit to check: at most `max` events under `key`, counted over the last
/// `window_ms` milliseconds, or, without a window, among events not yet resolved (an
/// open pull request counts until its outcome is reported).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitCheck {
    /// The limit and scope, e.g. `rate:new-prs:repository:acme/api`.
    pub key: String,
    /// How far back events count; `None` counts unresolved events of any age.
    pub window_ms: Option<i64>,
    /// How many events may be counted before the limit refuses.
    pub max: i64,
}

/// Successes and failures reported for one fingerprint or category.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OutcomeCounts {
    /// Reported successes.
    pub successes: i64,
    /// Reported failures.
    pub failures: i64,
}

/// What a circuit breaker counts failures over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerField {
    /// Failures of decisions about one fingerprint.
    Fingerprint,
    /// Failures of decisions in one repository.
    Repository,
}

/// Per-key totals for `medic stats`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyedCounts {
    /// The fingerprint or category.
    pub key: String,
    /// Its counts.
    #[serde(flatten)]
    pub counts: OutcomeCounts,
}

impl Store {
    /// Store a decision.
    pub async fn insert_decision(&self, d: &NewDecision) -> Result<()> {
        on_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO decisions (id, fingerprint, category, repository, service, outcome, rule, \
                 confidence, record, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(&d.id)
            .bind(&d.fingerprint)
            .bind(&d.category)
            .bind(&d.repository)
            .bind(&d.service)
            .bind(&d.outcome)
            .bind(&d.rule)
            .bind(d.confidence)
            .bind(json_text(&d.record))
            .bind(to_millis(d.created_at))
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// One decision by id or unique id prefix.
    pub async fn decision(&self, id_or_prefix: &str) -> Result<DecisionRecord> {
        let pattern = format!("{}%", id_or_prefix.replace(['%', '_'], ""));
        let rows = on_pool!(self, pool => {
            sqlx::query(
                "SELECT d.*, o.result, o.reason AS result_reason FROM decisions d \
                 LEFT JOIN decision_outcomes o ON o.decision_id = d.id \
                 WHERE d.id LIKE $1 ORDER BY d.id LIMIT 2",
            )
            .bind(&pattern)
            .fetch_all(pool)
            .await?
            .iter()
            .map(decision_from_row)
            .collect::<Result<Vec<_>>>()?
        });
        match rows.len() {
            0 => Err(StoreError::NotFound(format!(
                "no decision with id `{id_or_prefix}`"
            ))),
            1 => Ok(rows.into_iter().next().expect("one row")),
            _ => Err(StoreError::NotFound(format!(
                "`{id_or_prefix}` matches several decisions; give more of the id"
            ))),
        }
    }

    /// Check every limit and, only when all have room, record one event per limit for
    /// `decision_id`, in one atomic step. Returns the index of the first full limit
    /// (recording nothing), or `None` when the events were recorded.
    pub async fn claim_limits(
        &self,
        decision_id: &str,
        checks: &[LimitCheck],
        now: DateTime<Utc>,
    ) -> Result<Option<usize>> {
        if checks.is_empty() {
            return Ok(None);
        }
        let now = to_millis(now);
        // Locks are taken in key order so that two deciders never wait on each other.
        let mut keys: Vec<&str> = checks.iter().map(|c| c.key.as_str()).collect();
        keys.sort_unstable();
        keys.dedup();
        match &self.pool {
            Pool::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                for key in &keys {
                    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                        .bind(*key)
                        .execute(&mut *tx)
                        .await?;
                }
                if let Some(full) = first_full_limit(&mut tx, checks, now).await? {
                    tx.rollback().await?;
                    return Ok(Some(full));
                }
                insert_limit_events(&mut tx, decision_id, checks, now).await?;
                tx.commit().await?;
            }
            Pool::Sqlite(pool, _) => {
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                if let Some(full) = first_full_limit(&mut tx, checks, now).await? {
                    tx.rollback().await?;
                    return Ok(Some(full));
                }
                insert_limit_events(&mut tx, decision_id, checks, now).await?;
                tx.commit().await?;
            }
        }
        Ok(None)
    }

    /// How many events are counted under `key` now (for explanations and tests).
    pub async fn limit_count(&self, check: &LimitCheck, now: DateTime<Utc>) -> Result<i64> {
        let now = to_millis(now);
        match &self.pool {
            Pool::Sqlite(pool, _) => {
                let mut conn = pool.acquire().await?;
                count_events::<sqlx::Sqlite>(&mut conn, check, now).await
            }
            Pool::Postgres(pool) => {
                let mut conn = pool.acquire().await?;
                count_events::<sqlx::Postgres>(&mut conn, check, now).await
            }
        }
    }

    /// Record the result of a decision (`success` or `failure`). A decision has one
    /// result: reporting again is a conflict. Frees the decision's open-limit slots.
    pub async fn record_outcome(
        &self,
        decision_id: &str,
        result: &str,
        reason: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let at = to_millis(at);
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let done = sqlx::query(
                "INSERT INTO decision_outcomes (decision_id, result, reason, at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (decision_id) DO NOTHING",
            )
            .bind(decision_id)
            .bind(result)
            .bind(reason)
            .bind(at)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::Conflict(format!(
                    "decision {decision_id} already has a reported outcome"
                )));
            }
            sqlx::query(
                "UPDATE rate_events SET resolved_at = $1 WHERE decision_id = $2 AND resolved_at IS NULL",
            )
            .bind(at)
            .bind(decision_id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Reported successes and failures of decisions about `fingerprint`, and of
    /// decisions in `category`.
    pub async fn outcome_counts(
        &self,
        fingerprint: Option<&str>,
        category: Option<&str>,
    ) -> Result<(OutcomeCounts, OutcomeCounts)> {
        let sql_fp = "SELECT o.result, COUNT(*) AS n FROM decision_outcomes o \
             JOIN decisions d ON d.id = o.decision_id WHERE d.fingerprint = $1 GROUP BY o.result";
        let sql_cat = "SELECT o.result, COUNT(*) AS n FROM decision_outcomes o \
             JOIN decisions d ON d.id = o.decision_id WHERE d.category = $1 GROUP BY o.result";
        let mut out = [OutcomeCounts::default(); 2];
        for (slot, sql, value) in [(0, sql_fp, fingerprint), (1, sql_cat, category)] {
            let Some(value) = value else { continue };
            let rows: Vec<(String, i64)> = on_pool!(self, pool => {
                sqlx::query(sql)
                    .bind(value)
                    .fetch_all(pool)
                    .await?
                    .iter()
                    .map(|r| Ok((r.try_get::<String, _>("result")?, r.try_get::<i64, _>("n")?)))
                    .collect::<Result<Vec<_>>>()?
            });
            for (result, n) in rows {
                match result.as_str() {
                    "success" => out[slot].successes += n,
                    _ => out[slot].failures += n,
                }
            }
        }
        Ok((out[0], out[1]))
    }

    /// Success and failure totals per fingerprint and per category, most reported first.
    pub async fn outcome_stats(&self) -> Result<(Vec<KeyedCounts>, Vec<KeyedCounts>)> {
        let mut out = (Vec::new(), Vec::new());
        for (column, slot) in [("fingerprint", 0), ("category", 1)] {
            let sql = match column {
                "fingerprint" => {
                    "SELECT d.fingerprint AS k, \
                     SUM(CASE WHEN o.result = 'success' THEN 1 ELSE 0 END) AS s, \
                     SUM(CASE WHEN o.result = 'success' THEN 0 ELSE 1 END) AS f \
                     FROM decision_outcomes o JOIN decisions d ON d.id = o.decision_id \
                     WHERE d.fingerprint IS NOT NULL GROUP BY d.fingerprint ORDER BY COUNT(*) DESC, d.fingerprint"
                }
                _ => {
                    "SELECT d.category AS k, \
                     SUM(CASE WHEN o.result = 'success' THEN 1 ELSE 0 END) AS s, \
                     SUM(CASE WHEN o.result = 'success' THEN 0 ELSE 1 END) AS f \
                     FROM decision_outcomes o JOIN decisions d ON d.id = o.decision_id \
                     WHERE d.category IS NOT NULL GROUP BY d.category ORDER BY COUNT(*) DESC, d.category"
                }
            };
            let rows = on_pool!(self, pool => {
                sqlx::query(sql)
                    .fetch_all(pool)
                    .await?
                    .iter()
                    .map(|r| {
                        Ok(KeyedCounts {
                            key: r.try_get("k")?,
                            counts: OutcomeCounts {
                                successes: r.try_get("s")?,
                                failures: r.try_get("f")?,
                            },
                        })
                    })
                    .collect::<Result<Vec<_>>>()?
            });
            if slot == 0 {
                out.0 = rows;
            } else {
                out.1 = rows;
            }
        }
        Ok(out)
    }

    /// When failures were reported for decisions whose `field` is `value`, since `since`,
    /// oldest first.
    pub async fn failure_times(
        &self,
        field: BreakerField,
        value: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<DateTime<Utc>>> {
        let sql = match field {
            BreakerField::Fingerprint => {
                "SELECT o.at FROM decision_outcomes o JOIN decisions d ON d.id = o.decision_id \
                 WHERE d.fingerprint = $1 AND o.result = 'failure' AND o.at >= $2 ORDER BY o.at"
            }
            BreakerField::Repository => {
                "SELECT o.at FROM decision_outcomes o JOIN decisions d ON d.id = o.decision_id \
                 WHERE d.repository = $1 AND o.result = 'failure' AND o.at >= $2 ORDER BY o.at"
            }
        };
        let times: Vec<i64> = on_pool!(self, pool => {
            sqlx::query(sql)
                .bind(value)
                .bind(to_millis(since))
                .fetch_all(pool)
                .await?
                .iter()
                .map(|r| r.try_get::<i64, _>("at"))
                .collect::<std::result::Result<Vec<_>, _>>()?
        });
        Ok(times.into_iter().map(from_millis).collect())
    }

    /// The newest decision about `fingerprint` since `since` with one of `outcomes` and
    /// no reported result: the failure is already being handled.
    pub async fn unresolved_decision(
        &self,
        fingerprint: &str,
        outcomes: &[&str],
        since: DateTime<Utc>,
    ) -> Result<Option<String>> {
        let rows: Vec<(String, String)> = on_pool!(self, pool => {
            sqlx::query(
                "SELECT d.id, d.outcome FROM decisions d \
                 LEFT JOIN decision_outcomes o ON o.decision_id = d.id \
                 WHERE d.fingerprint = $1 AND d.created_at >= $2 AND o.decision_id IS NULL \
                 ORDER BY d.created_at DESC",
            )
            .bind(fingerprint)
            .bind(to_millis(since))
            .fetch_all(pool)
            .await?
            .iter()
            .map(|r| Ok((r.try_get::<String, _>("id")?, r.try_get::<String, _>("outcome")?)))
            .collect::<Result<Vec<_>>>()?
        });
        Ok(rows
            .into_iter()
            .find(|(_, outcome)| outcomes.contains(&outcome.as_str()))
            .map(|(id, _)| id))
    }

    /// A switch's value and when it was set.
    pub async fn decider_state(&self, key: &str) -> Result<Option<(String, DateTime<Utc>)>> {
        let row: Option<(String, i64)> = on_pool!(self, pool => {
            match sqlx::query("SELECT value, updated_at FROM decider_state WHERE key = $1")
                .bind(key)
                .fetch_optional(pool)
                .await?
            {
                Some(r) => Some((r.try_get("value")?, r.try_get("updated_at")?)),
                None => None,
            }
        });
        Ok(row.map(|(v, at)| (v, from_millis(at))))
    }

    /// Set a switch (`None` removes it).
    pub async fn set_decider_state(
        &self,
        key: &str,
        value: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<()> {
        on_pool!(self, pool => {
            match value {
                Some(value) => {
                    sqlx::query(
                        "INSERT INTO decider_state (key, value, updated_at) VALUES ($1, $2, $3) \
                         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                    )
                    .bind(key)
                    .bind(value)
                    .bind(to_millis(at))
                    .execute(pool)
                    .await?;
                }
                None => {
                    sqlx::query("DELETE FROM decider_state WHERE key = $1")
                        .bind(key)
                        .execute(pool)
                        .await?;
                }
            }
        });
        Ok(())
    }
}

async fn count_events<DB>(
    conn: &mut <DB as sqlx::Database>::Connection,
    check: &LimitCheck,
    now: i64,
) -> Result<i64>
where
    DB: sqlx::Database,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB> + sqlx::Decode<'q, DB>,
    for<'q> <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
    for<'e> &'e mut <DB as sqlx::Database>::Connection: sqlx::Executor<'e, Database = DB>,
    usize: sqlx::ColumnIndex<<DB as sqlx::Database>::Row>,
{
    let row =
        match check.window_ms {
            // A sliding window: events in (now - window, now].
            Some(window) => sqlx::query::<DB>(
                "SELECT COUNT(*) FROM rate_events WHERE scope_key = $1 AND at > $2 AND at <= $3",
            )
            .bind(check.key.as_str())
            .bind(now.saturating_sub(window))
            .bind(now)
            .fetch_one(&mut *conn)
            .await?,
            None => {
                sqlx::query::<DB>(
                    "SELECT COUNT(*) FROM rate_events WHERE scope_key = $1 AND resolved_at IS NULL",
                )
                .bind(check.key.as_str())
                .fetch_one(&mut *conn)
                .await?
            }
        };
    Ok(row.try_get::<i64, _>(0)?)
}

async fn first_full_limit<DB>(
    tx: &mut sqlx::Transaction<'_, DB>,
    checks: &[LimitCheck],
    now: i64,
) -> Result<Option<usize>>
where
    DB: sqlx::Database,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB> + sqlx::Decode<'q, DB>,
    for<'q> <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
    for<'e> &'e mut <DB as sqlx::Database>::Connection: sqlx::Executor<'e, Database = DB>,
    usize: sqlx::ColumnIndex<<DB as sqlx::Database>::Row>,
{
    for (i, check) in checks.iter().enumerate() {
        if count_events::<DB>(&mut **tx, check, now).await? >= check.max {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

async fn insert_limit_events<DB>(
    tx: &mut sqlx::Transaction<'_, DB>,
    decision_id: &str,
    checks: &[LimitCheck],
    now: i64,
) -> Result<()>
where
    DB: sqlx::Database,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
    for<'e> &'e mut <DB as sqlx::Database>::Connection: sqlx::Executor<'e, Database = DB>,
{
    for check in checks {
        sqlx::query::<DB>(
            "INSERT INTO rate_events (scope_key, decision_id, at) VALUES ($1, $2, $3)",
        )
        .bind(check.key.as_str())
        .bind(decision_id)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

row_mapper! {
fn decision_from_row(r) -> DecisionRecord {
    Ok(DecisionRecord {
        id: r.try_get("id")?,
        fingerprint: r.try_get("fingerprint")?,
        category: r.try_get("category")?,
        repository: r.try_get("repository")?,
        service: r.try_get("service")?,
        outcome: r.try_get("outcome")?,
        rule: r.try_get("rule")?,
        confidence: r.try_get("confidence")?,
        record: parse_json(Some(r.try_get("record")?), "decision record")?,
        created_at: from_millis(r.try_get("created_at")?),
        result: r.try_get("result")?,
        result_reason: r.try_get("result_reason")?,
    })
}
}
