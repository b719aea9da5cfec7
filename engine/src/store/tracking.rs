//! What Medic tracks across runs: how often each failure was seen, and the pull
//! requests it opened.
//!
//! Both are shared by every worker on one database, which is why they live here and
//! not in a per-process cache: `seen_count` must agree between two workers analysing
//! the same failure, and a pull request opened by one worker is polled for its outcome
//! by whichever worker runs next.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

use super::{Pool, Result, Store, StoreError, from_millis, to_millis};

/// How often a fingerprint was seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sighting {
    /// The fingerprint.
    pub fingerprint: String,
    /// Sightings so far, the latest included.
    pub count: i64,
    /// The first sighting.
    pub first_seen: DateTime<Utc>,
    /// The latest sighting.
    pub last_seen: DateTime<Utc>,
}

/// Where a pull request Medic opened stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PullState {
    /// Open: its outcome is not known yet.
    Open,
    /// Merged: the fix was accepted.
    Merged,
    /// Closed without merging: the fix was declined.
    Closed,
}

impl PullState {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            PullState::Open => "open",
            PullState::Merged => "merged",
            PullState::Closed => "closed",
        }
    }

    fn parse(text: &str) -> Result<PullState> {
        match text {
            "open" => Ok(PullState::Open),
            "merged" => Ok(PullState::Merged),
            "closed" => Ok(PullState::Closed),
            other => Err(StoreError::Corrupt(format!(
                "unknown pull request state `{other}`"
            ))),
        }
    }
}

/// A pull request Medic opened or updated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PullRecord {
    /// The API it was opened through (`https://api.github.com`, an Enterprise server,
    /// the demo's stand-in), where its fate is polled.
    pub api_url: String,
    /// `owner/name`.
    pub repository: String,
    /// Its number.
    pub number: i64,
    /// Its web address.
    pub url: String,
    /// The fix branch.
    pub branch: String,
    /// The failure it fixes.
    pub fingerprint: Option<String>,
    /// The hash of the proposed diff: a declined fix is not proposed again until this
    /// changes.
    pub fix_hash: Option<String>,
    /// The decision that led to it; its outcome is reported when the pull request is
    /// merged or closed.
    pub decision_id: Option<String>,
    /// The run that opened it.
    pub run_id: Option<String>,
    /// Where it stands.
    pub state: PullState,
    /// When Medic opened it.
    pub opened_at: DateTime<Utc>,
    /// When Medic last wrote this row.
    pub updated_at: DateTime<Utc>,
    /// When it was seen merged or closed.
    pub resolved_at: Option<DateTime<Utc>>,
}

impl Store {
    /// Count one more sighting of `fingerprint` at `at`, atomically, and return the
    /// totals including it.
    pub async fn record_sighting(
        &self,
        fingerprint: &str,
        category: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<Sighting> {
        let at = to_millis(at);
        let row = on_pool!(self, pool => {
            let row = sqlx::query(
                "INSERT INTO fingerprints (fingerprint, category, count, first_seen, last_seen) \
                 VALUES ($1, $2, 1, $3, $3) \
                 ON CONFLICT (fingerprint) DO UPDATE SET count = fingerprints.count + 1, \
                 last_seen = excluded.last_seen, category = COALESCE(excluded.category, fingerprints.category) \
                 RETURNING count, first_seen, last_seen",
            )
            .bind(fingerprint)
            .bind(category)
            .bind(at)
            .fetch_one(pool)
            .await?;
            (
                row.try_get::<i64, _>("count")?,
                row.try_get::<i64, _>("first_seen")?,
                row.try_get::<i64, _>("last_seen")?,
            )
        });
        Ok(Sighting {
            fingerprint: fingerprint.to_string(),
            count: row.0,
            first_seen: from_millis(row.1),
            last_seen: from_millis(row.2),
        })
    }

    /// How often `fingerprint` was seen, without counting a sighting.
    pub async fn sighting(&self, fingerprint: &str) -> Result<Option<Sighting>> {
        let row = on_pool!(self, pool => {
            match sqlx::query(
                "SELECT count, first_seen, last_seen FROM fingerprints WHERE fingerprint = $1",
            )
            .bind(fingerprint)
            .fetch_optional(pool)
            .await?
            {
                Some(row) => Some((
                    row.try_get::<i64, _>("count")?,
                    row.try_get::<i64, _>("first_seen")?,
                    row.try_get::<i64, _>("last_seen")?,
                )),
                None => None,
            }
        });
        Ok(row.map(|(count, first, last)| Sighting {
            fingerprint: fingerprint.to_string(),
            count,
            first_seen: from_millis(first),
            last_seen: from_millis(last),
        }))
    }

    /// Remember a pull request Medic opened or updated. Writing the same repository and
    /// number again updates the row (a second run for the same failure updates its pull
    /// request instead of opening another) and keeps when it was first opened.
    pub async fn upsert_pull(&self, pull: &PullRecord) -> Result<()> {
        on_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO pull_requests (repository, number, url, branch, fingerprint, fix_hash, \
                 decision_id, run_id, state, opened_at, updated_at, resolved_at, api_url) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
                 ON CONFLICT (repository, number) DO UPDATE SET url = excluded.url, api_url = excluded.api_url, \
                 branch = excluded.branch, fingerprint = excluded.fingerprint, \
                 fix_hash = excluded.fix_hash, decision_id = excluded.decision_id, \
                 run_id = excluded.run_id, state = excluded.state, \
                 updated_at = excluded.updated_at, resolved_at = excluded.resolved_at",
            )
            .bind(&pull.repository)
            .bind(pull.number)
            .bind(&pull.url)
            .bind(&pull.branch)
            .bind(&pull.fingerprint)
            .bind(&pull.fix_hash)
            .bind(&pull.decision_id)
            .bind(&pull.run_id)
            .bind(pull.state.as_str())
            .bind(to_millis(pull.opened_at))
            .bind(to_millis(pull.updated_at))
            .bind(pull.resolved_at.map(to_millis))
            .bind(&pull.api_url)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Pull requests in `state` (all when `None`), oldest first.
    pub async fn pulls(&self, state: Option<PullState>) -> Result<Vec<PullRecord>> {
        let rows = on_pool!(self, pool => {
            sqlx::query(
                "SELECT * FROM pull_requests WHERE $1 IS NULL OR state = $1 \
                 ORDER BY opened_at, repository, number",
            )
            .bind(state.map(PullState::as_str))
            .fetch_all(pool)
            .await?
            .iter()
            .map(pull_from_row)
            .collect::<Result<Vec<_>>>()?
        });
        Ok(rows)
    }

    /// Record that a pull request was merged or closed, once: returns false when it was
    /// already resolved (another worker saw it first), so its outcome is reported once.
    pub async fn resolve_pull(
        &self,
        repository: &str,
        number: i64,
        state: PullState,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let at = to_millis(at);
        let changed = on_pool!(self, pool => {
            sqlx::query(
                "UPDATE pull_requests SET state = $1, resolved_at = $2, updated_at = $2 \
                 WHERE repository = $3 AND number = $4 AND state = 'open'",
            )
            .bind(state.as_str())
            .bind(at)
            .bind(repository)
            .bind(number)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(changed == 1)
    }
}

row_mapper! {
fn pull_from_row(r) -> PullRecord {
    Ok(PullRecord {
        api_url: r.try_get("api_url")?,
        repository: r.try_get("repository")?,
        number: r.try_get("number")?,
        url: r.try_get("url")?,
        branch: r.try_get("branch")?,
        fingerprint: r.try_get("fingerprint")?,
        fix_hash: r.try_get("fix_hash")?,
        decision_id: r.try_get("decision_id")?,
        run_id: r.try_get("run_id")?,
        state: PullState::parse(&r.try_get::<String, _>("state")?)?,
        opened_at: from_millis(r.try_get("opened_at")?),
        updated_at: from_millis(r.try_get("updated_at")?),
        resolved_at: r.try_get::<Option<i64>, _>("resolved_at")?.map(from_millis),
    })
}
}
