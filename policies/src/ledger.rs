//! The decider's memory: history, switches, breaker failures and rate-limit claims.
//!
//! [`Ledger`] is what a decision reads and writes. The durable implementation is the
//! engine's [`Store`] (SQLite or Postgres), whose [`Store::claim_limits`] is atomic
//! across processes; [`MemoryLedger`] keeps the same state in memory for
//! `medic policy test` and for tests.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use medic_engine::store::{BreakerField, LimitCheck, NewDecision, Store, StoreError};

use crate::raw::BreakerScope;
use crate::score::History;

/// The kill switch's key in the decider state.
pub const PAUSED_KEY: &str = "paused";

/// The key under which a breaker's last reset is kept.
pub fn breaker_reset_key(scope: BreakerScope, value: &str) -> String {
    format!("breaker_reset:{}:{value}", scope.as_str())
}

/// What the decider reads and writes.
#[async_trait]
pub trait Ledger: Send + Sync {
    /// Reported outcomes for a fingerprint and a category.
    async fn history(
        &self,
        fingerprint: Option<&str>,
        category: &str,
    ) -> Result<History, StoreError>;
    /// When the kill switch was set, if it is set.
    async fn paused(&self) -> Result<Option<DateTime<Utc>>, StoreError>;
    /// An unresolved acting decision about `fingerprint` made since `since`.
    async fn handling(
        &self,
        fingerprint: &str,
        since: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError>;
    /// When failures were reported for decisions in this breaker scope since the last
    /// reset, oldest first.
    async fn breaker_failures(
        &self,
        scope: BreakerScope,
        value: &str,
    ) -> Result<Vec<DateTime<Utc>>, StoreError>;
    /// Check and record limits atomically; the index of the first full one, if any.
    async fn claim(
        &self,
        decision_id: &str,
        checks: &[LimitCheck],
        now: DateTime<Utc>,
    ) -> Result<Option<usize>, StoreError>;
    /// Keep a decision.
    async fn record(&self, decision: &NewDecision) -> Result<(), StoreError>;
}

/// The acting outcomes whose unresolved decisions mean "already being handled".
const HANDLING_OUTCOMES: &[&str] = &["auto_fix", "open_pr", "retry", "schedule"];

#[async_trait]
impl Ledger for Store {
    async fn history(
        &self,
        fingerprint: Option<&str>,
        category: &str,
    ) -> Result<History, StoreError> {
        let (fp, cat) = self.outcome_counts(fingerprint, Some(category)).await?;
        let n = |x: i64| u64::try_from(x).unwrap_or(0);
        Ok(History {
            fingerprint_successes: n(fp.successes),
            fingerprint_failures: n(fp.failures),
            category_successes: n(cat.successes),
            category_failures: n(cat.failures),
        })
    }

    async fn paused(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(self.decider_state(PAUSED_KEY).await?.map(|(_, at)| at))
    }

    async fn handling(
        &self,
        fingerprint: &str,
        since: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        self.unresolved_decision(fingerprint, HANDLING_OUTCOMES, since)
            .await
    }

    async fn breaker_failures(
        &self,
        scope: BreakerScope,
        value: &str,
    ) -> Result<Vec<DateTime<Utc>>, StoreError> {
        let since = self
            .decider_state(&breaker_reset_key(scope, value))
            .await?
            .map_or(DateTime::<Utc>::UNIX_EPOCH, |(_, at)| at);
        let field = match scope {
            BreakerScope::Fingerprint => BreakerField::Fingerprint,
            BreakerScope::Repository => BreakerField::Repository,
        };
        self.failure_times(field, value, since).await
    }

    async fn claim(
        &self,
        decision_id: &str,
        checks: &[LimitCheck],
        now: DateTime<Utc>,
    ) -> Result<Option<usize>, StoreError> {
        self.claim_limits(decision_id, checks, now).await
    }

    async fn record(&self, decision: &NewDecision) -> Result<(), StoreError> {
        self.insert_decision(decision).await
    }
}

/// One limit event in memory.
#[derive(Debug, Clone)]
struct Event {
    key: String,
    decision: String,
    at: DateTime<Utc>,
    resolved: bool,
}

#[derive(Debug, Default)]
struct Memory {
    history: History,
    paused: Option<DateTime<Utc>>,
    handling: Option<String>,
    failures: HashMap<(BreakerScope, String), Vec<DateTime<Utc>>>,
    events: Vec<Event>,
    decisions: Vec<NewDecision>,
}

/// A ledger in memory: set its state by hand, read back what was recorded.
#[derive(Debug, Default)]
pub struct MemoryLedger(Mutex<Memory>);

impl MemoryLedger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut Memory) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Set the history every decision reads.
    pub fn set_history(&self, history: History) {
        self.with(|m| m.history = history);
    }

    /// Set or lift the kill switch.
    pub fn set_paused(&self, since: Option<DateTime<Utc>>) {
        self.with(|m| m.paused = since);
    }

    /// Say that the fingerprint of every decision is already handled by `decision`.
    pub fn set_handling(&self, decision: Option<String>) {
        self.with(|m| m.handling = decision);
    }

    /// Add a reported failure in a breaker scope.
    pub fn add_failure(&self, scope: BreakerScope, value: &str, at: DateTime<Utc>) {
        self.with(|m| {
            m.failures
                .entry((scope, value.to_string()))
                .or_default()
                .push(at)
        });
    }

    /// Resolve every limit event of a decision (its pull request was closed).
    pub fn resolve(&self, decision: &str) {
        self.with(|m| {
            for e in m.events.iter_mut().filter(|e| e.decision == decision) {
                e.resolved = true;
            }
        });
    }

    /// Every decision recorded so far.
    pub fn decisions(&self) -> Vec<NewDecision> {
        self.with(|m| m.decisions.clone())
    }

    /// Times of the events recorded under `key`, oldest first.
    pub fn event_times(&self, key: &str) -> Vec<DateTime<Utc>> {
        self.with(|m| {
            m.events
                .iter()
                .filter(|e| e.key == key)
                .map(|e| e.at)
                .collect()
        })
    }

    /// Every key with recorded events.
    pub fn event_keys(&self) -> Vec<String> {
        self.with(|m| {
            let mut keys: Vec<String> = m.events.iter().map(|e| e.key.clone()).collect();
            keys.sort();
            keys.dedup();
            keys
        })
    }
}

fn count(events: &[Event], check: &LimitCheck, now: DateTime<Utc>) -> i64 {
    events
        .iter()
        .filter(|e| e.key == check.key)
        .filter(|e| match check.window_ms {
            Some(w) => {
                let age = now.signed_duration_since(e.at).num_milliseconds();
                (0..w).contains(&age)
            }
            None => !e.resolved,
        })
        .count() as i64
}

#[async_trait]
impl Ledger for MemoryLedger {
    async fn history(&self, _: Option<&str>, _: &str) -> Result<History, StoreError> {
        Ok(self.with(|m| m.history))
    }

    async fn paused(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(self.with(|m| m.paused))
    }

    async fn handling(&self, _: &str, _: DateTime<Utc>) -> Result<Option<String>, StoreError> {
        Ok(self.with(|m| m.handling.clone()))
    }

    async fn breaker_failures(
        &self,
        scope: BreakerScope,
        value: &str,
    ) -> Result<Vec<DateTime<Utc>>, StoreError> {
        Ok(self.with(|m| {
            let mut times = m
                .failures
                .get(&(scope, value.to_string()))
                .cloned()
                .unwrap_or_default();
            times.sort();
            times
        }))
    }

    async fn claim(
        &self,
        decision_id: &str,
        checks: &[LimitCheck],
        now: DateTime<Utc>,
    ) -> Result<Option<usize>, StoreError> {
        Ok(self.with(|m| {
            if let Some(full) = checks
                .iter()
                .position(|c| count(&m.events, c, now) >= c.max)
            {
                return Some(full);
            }
            for c in checks {
                m.events.push(Event {
                    key: c.key.clone(),
                    decision: decision_id.to_string(),
                    at: now,
                    resolved: false,
                });
            }
            None
        }))
    }

    async fn record(&self, decision: &NewDecision) -> Result<(), StoreError> {
        self.with(|m| m.decisions.push(decision.clone()));
        Ok(())
    }
}
