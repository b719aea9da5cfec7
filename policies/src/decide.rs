//! One decision: score, rules, guards, record, each step explained.
//!
//! The order is fixed. The signals are scored into a confidence ([`crate::score`]); the
//! rules are tried in order and the first whose `when` holds gives the outcome (a rule
//! whose expression fails to evaluate is recorded and skipped); then the guards run,
//! each able only to make the outcome less automatic (auto_fix → open_pr → escalate):
//! the kill switch, critical services, circuit breakers, freeze windows, business hours,
//! and last the counted limits (rate limits and the open pull request cap), which are
//! checked and recorded in one atomic ledger step so that concurrent deciders never
//! exceed them. The decision, with every factor, rule tried and guard, is recorded.

use chrono::{DateTime, Datelike, Timelike, Utc};
use medic_engine::expr::{Expr, NeedsStatus};
use medic_engine::store::{LimitCheck, NewDecision, StoreError};
use serde::Serialize;
use serde_json::{Value, json};

use crate::clock::Clock;
use crate::input::DecisionInput;
use crate::ledger::Ledger;
use crate::outcome::Outcome;
use crate::policy::Policy;
use crate::raw::{BreakerScope, LimitedOutcome, Scope};
use crate::score::{Factor, History, Scoring, score};

/// A rule as tried.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleTrace {
    /// Its name.
    pub name: String,
    /// Its condition.
    pub when: String,
    /// Whether it held.
    pub matched: bool,
    /// Why it could not be evaluated, if it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A guard as applied.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GuardTrace {
    /// Which guard, e.g. `kill_switch` or `rate_limit:auto-deploys`.
    pub guard: String,
    /// The outcome before it.
    pub from: Outcome,
    /// The outcome after it (the same when it let the decision through).
    pub to: Outcome,
    /// What it found.
    pub reason: String,
}

impl GuardTrace {
    /// Whether this guard changed the outcome.
    pub fn downgraded(&self) -> bool {
        self.from != self.to
    }
}

/// A decision, explained.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    /// Its id (UUID v7).
    pub id: String,
    /// When it was made.
    pub at: DateTime<Utc>,
    /// The policy's name.
    pub policy: String,
    /// What it was made from.
    pub input: DecisionInput,
    /// The history it read.
    pub history: History,
    /// Every signal with its weight and value.
    pub factors: Vec<Factor>,
    /// The combined confidence.
    pub confidence: f64,
    /// An unresolved decision already handling this fingerprint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handling: Option<String>,
    /// The rules tried, up to the one that matched.
    pub rules: Vec<RuleTrace>,
    /// The rule that matched (`None`: the policy's default applied).
    pub rule: Option<String>,
    /// The outcome the rules gave, before guards.
    pub proposed: Outcome,
    /// Every guard checked, in order.
    pub guards: Vec<GuardTrace>,
    /// The final outcome.
    pub outcome: Outcome,
    /// Why: the rule's reason, then every downgrade's.
    pub reasons: Vec<String>,
}

/// Why a decision could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DecideError {
    /// The ledger (database) failed.
    #[error(transparent)]
    Ledger(#[from] StoreError),
}

/// Makes decisions under one policy.
pub struct Decider<'a> {
    policy: &'a Policy,
    ledger: &'a dyn Ledger,
    clock: &'a dyn Clock,
    expr: Expr,
}

impl std::fmt::Debug for Decider<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Decider({})", self.policy.name)
    }
}

/// The expression context a rule's `when` reads.
pub fn rule_context(
    input: &DecisionInput,
    scoring: &Scoring,
    handling: bool,
    now: DateTime<Utc>,
    timezone: chrono_tz::Tz,
) -> Value {
    let local = now.with_timezone(&timezone);
    let a = &input.analysis;
    let signals: serde_json::Map<String, Value> = scoring
        .factors
        .iter()
        .map(|f| (f.name.to_string(), f.value.map_or(Value::Null, Value::from)))
        .collect();
    let change = input.change.as_ref().map_or(Value::Null, |c| {
        json!({
            "files": c.file_count(),
            "lines": c.lines(),
            "lines_added": c.lines_added,
            "lines_removed": c.lines_removed,
            "paths": c.paths,
            "action": c.action,
        })
    });
    let review = input.review.as_ref().map_or(
        Value::Null,
        |r| json!({ "passed": r.passed, "score": r.score }),
    );
    json!({
        "confidence": scoring.confidence,
        "signals": signals,
        "analysis": {
            "category": a.category,
            "confidence": a.confidence,
            "tool": a.tool,
            "fingerprint": a.fingerprint,
            "severity": a.severity().as_str(),
            "impact": a.impact().as_str(),
            "service": a.service,
            "repository": a.repository,
        },
        "category": a.category,
        "severity": a.severity().as_str(),
        "impact": a.impact().as_str(),
        "service": a.service,
        "repository": a.repository,
        "change": change,
        "review": review,
        "handling": handling,
        "now": {
            "hour": local.hour(),
            "minute": local.minute(),
            "weekday": local.weekday().to_string().to_lowercase(),
            "date": local.format("%Y-%m-%d").to_string(),
            "time": local.format("%H:%M").to_string(),
            "timezone": timezone.name(),
        },
    })
}

/// Whether `n` failures fall within `within` of each other anywhere in `times`
/// (sorted, oldest first).
pub fn breaker_tripped(times: &[DateTime<Utc>], n: u32, within: chrono::TimeDelta) -> bool {
    let n = n.max(1) as usize;
    times.len() >= n
        && times
            .windows(n)
            .any(|w| w[n - 1].signed_duration_since(w[0]) <= within)
}

impl<'a> Decider<'a> {
    /// A decider reading and writing `ledger`, with time from `clock`.
    pub fn new(policy: &'a Policy, ledger: &'a dyn Ledger, clock: &'a dyn Clock) -> Self {
        Decider {
            policy,
            ledger,
            clock,
            expr: Expr::new(),
        }
    }

    /// Decide, record and explain.
    pub async fn decide(&self, input: &DecisionInput) -> Result<Decision, DecideError> {
        let now = self.clock.now();
        let id = uuid::Uuid::now_v7().to_string();
        let a = &input.analysis;
        let history = self
            .ledger
            .history(a.fingerprint.as_deref(), &a.category)
            .await?;
        let scoring = score(input, &history, &self.policy.weights);
        let handling = match &a.fingerprint {
            Some(fp) => {
                self.ledger
                    .handling(fp, now - self.policy.handling_window)
                    .await?
            }
            None => None,
        };
        let ctx = rule_context(
            input,
            &scoring,
            handling.is_some(),
            now,
            self.policy.timezone,
        );
        let (rules, matched) = self.try_rules(&ctx);
        let (rule, proposed, reason) = match matched {
            Some(rule) => (Some(rule.name.clone()), rule.outcome, rule.reason.clone()),
            None => (
                None,
                self.policy.default.outcome,
                self.policy.default.reason.clone(),
            ),
        };
        let mut guards = Vec::new();
        let mut outcome = self
            .static_guards(input, proposed, now, &mut guards)
            .await?;
        outcome = self
            .counted_guards(&id, input, outcome, now, &mut guards)
            .await?;
        let mut reasons = vec![reason];
        reasons.extend(
            guards
                .iter()
                .filter(|g| g.downgraded())
                .map(|g| g.reason.clone()),
        );
        let decision = Decision {
            id,
            at: now,
            policy: self.policy.name.clone(),
            input: input.clone(),
            history,
            factors: scoring.factors,
            confidence: scoring.confidence,
            handling,
            rules,
            rule,
            proposed,
            guards,
            outcome,
            reasons,
        };
        self.ledger
            .record(&NewDecision {
                id: decision.id.clone(),
                fingerprint: a.fingerprint.clone(),
                category: Some(a.category.clone()),
                repository: a.repository.clone(),
                service: a.service.clone(),
                outcome: outcome.as_str().to_string(),
                rule: decision.rule.clone(),
                confidence: decision.confidence,
                record: serde_json::to_value(&decision).unwrap_or(Value::Null),
                created_at: now,
            })
            .await?;
        tracing::info!(
            decision = %decision.id,
            outcome = %outcome,
            confidence = decision.confidence,
            rule = decision.rule.as_deref().unwrap_or("default"),
            "decided"
        );
        Ok(decision)
    }

    fn try_rules(&self, ctx: &Value) -> (Vec<RuleTrace>, Option<&crate::policy::Rule>) {
        let mut traces = Vec::new();
        for rule in &self.policy.rules {
            let result = self
                .expr
                .eval_condition(&rule.when, ctx, NeedsStatus::Success);
            let (matched, error) = match result {
                Ok(m) => (m, None),
                Err(e) => (false, Some(e.message)),
            };
            traces.push(RuleTrace {
                name: rule.name.clone(),
                when: rule.when.clone(),
                matched,
                error,
            });
            if matched {
                return (traces, Some(rule));
            }
        }
        (traces, None)
    }

    async fn static_guards(
        &self,
        input: &DecisionInput,
        mut outcome: Outcome,
        now: DateTime<Utc>,
        out: &mut Vec<GuardTrace>,
    ) -> Result<Outcome, DecideError> {
        let a = &input.analysis;
        let g = &self.policy.guards;
        let apply = |out: &mut Vec<GuardTrace>,
                     outcome: &mut Outcome,
                     guard: String,
                     to: Outcome,
                     reason: String| {
            out.push(GuardTrace {
                guard,
                from: *outcome,
                to,
                reason,
            });
            *outcome = to;
        };
        if let Some(since) = self.ledger.paused().await? {
            let to = if outcome.acts() {
                Outcome::Escalate
            } else {
                outcome
            };
            apply(
                out,
                &mut outcome,
                "kill_switch".into(),
                to,
                format!(
                    "Medic is paused (since {}): every decision goes to a human",
                    since.format("%Y-%m-%d %H:%M UTC")
                ),
            );
        }
        if let Some(service) = &a.service
            && g.critical_services.contains(service)
        {
            let to = match outcome {
                Outcome::AutoFix | Outcome::OpenPr | Outcome::Schedule => Outcome::Escalate,
                other => other,
            };
            apply(
                out,
                &mut outcome,
                "critical_service".into(),
                to,
                format!("`{service}` is a critical service: a human decides its fixes"),
            );
        }
        for breaker in &g.circuit_breakers {
            let value = match breaker.scope {
                BreakerScope::Fingerprint => a.fingerprint.as_deref(),
                BreakerScope::Repository => a.repository.as_deref(),
            };
            let Some(value) = value else { continue };
            let failures = self.ledger.breaker_failures(breaker.scope, value).await?;
            let name = format!("circuit_breaker:{}", breaker.scope.as_str());
            if breaker_tripped(&failures, breaker.failures, breaker.within) {
                let to = if outcome.acts() {
                    Outcome::Escalate
                } else {
                    outcome
                };
                apply(
                    out,
                    &mut outcome,
                    name,
                    to,
                    format!(
                        "{} failed fixes for {} `{value}` within {}: the breaker is open until reset (`medic resume --{} {value}`)",
                        breaker.failures,
                        breaker.scope.as_str(),
                        humanize(breaker.within),
                        breaker.scope.as_str()
                    ),
                );
            } else {
                let same = outcome;
                apply(
                    out,
                    &mut outcome,
                    name,
                    same,
                    format!(
                        "{} failure{} since the last reset",
                        failures.len(),
                        if failures.len() == 1 { "" } else { "s" }
                    ),
                );
            }
        }
        for window in &g.freeze {
            let inside = window.contains(now);
            let to = if inside && outcome == Outcome::AutoFix {
                Outcome::OpenPr
            } else {
                outcome
            };
            let reason = if inside {
                format!(
                    "freeze window `{}` is open: nothing ships automatically",
                    window.name
                )
            } else {
                format!("freeze window `{}` is closed", window.name)
            };
            apply(
                out,
                &mut outcome,
                format!("freeze:{}", window.name),
                to,
                reason,
            );
        }
        if let Some(window) = &g.business_hours {
            let inside = window.contains(now);
            let to = if !inside && outcome == Outcome::AutoFix {
                Outcome::OpenPr
            } else {
                outcome
            };
            let reason = if inside {
                "within business hours".to_string()
            } else {
                "outside business hours: no automatic fix without someone around".to_string()
            };
            apply(out, &mut outcome, "business_hours".into(), to, reason);
        }
        Ok(outcome)
    }

    /// The counted limits an outcome must claim.
    pub fn limit_checks(
        &self,
        input: &DecisionInput,
        outcome: Outcome,
    ) -> Vec<(String, LimitCheck)> {
        let a = &input.analysis;
        let g = &self.policy.guards;
        let counts = match outcome {
            Outcome::AutoFix | Outcome::Schedule => LimitedOutcome::AutoFix,
            Outcome::OpenPr => LimitedOutcome::OpenPr,
            _ => return Vec::new(),
        };
        let mut checks: Vec<(String, LimitCheck)> = g
            .rate_limits
            .iter()
            .filter(|l| l.outcome == counts)
            .map(|l| {
                let value = match l.scope {
                    Scope::Global => "*".to_string(),
                    Scope::Repository => a.repository.clone().unwrap_or_else(|| "unknown".into()),
                    Scope::Service => a.service.clone().unwrap_or_else(|| "unknown".into()),
                    Scope::Action => input
                        .change
                        .as_ref()
                        .and_then(|c| c.action.clone())
                        .unwrap_or_else(|| "unknown".into()),
                };
                let label = format!(
                    "rate limit `{}` ({} per {}{})",
                    l.name,
                    l.max,
                    humanize(l.per),
                    match l.scope {
                        Scope::Global => String::new(),
                        s => format!(" per {} `{value}`", s.as_str()),
                    }
                );
                (
                    label,
                    LimitCheck {
                        key: format!("rate:{}:{}:{value}", l.name, l.scope.as_str()),
                        window_ms: Some(l.per.num_milliseconds()),
                        max: i64::from(l.max),
                    },
                )
            })
            .collect();
        if counts == LimitedOutcome::OpenPr
            && let Some(max) = g.max_open_prs
        {
            checks.push((
                format!("open pull request cap ({max})"),
                LimitCheck {
                    key: "open_prs".to_string(),
                    window_ms: None,
                    max: i64::from(max),
                },
            ));
        }
        checks
    }

    async fn counted_guards(
        &self,
        id: &str,
        input: &DecisionInput,
        mut outcome: Outcome,
        now: DateTime<Utc>,
        out: &mut Vec<GuardTrace>,
    ) -> Result<Outcome, DecideError> {
        loop {
            let checks = self.limit_checks(input, outcome);
            if checks.is_empty() {
                return Ok(outcome);
            }
            let limits: Vec<LimitCheck> = checks.iter().map(|(_, c)| c.clone()).collect();
            match self.ledger.claim(id, &limits, now).await? {
                None => {
                    for (label, _) in checks {
                        out.push(GuardTrace {
                            guard: label_to_guard(&label),
                            from: outcome,
                            to: outcome,
                            reason: format!("{label}: within the limit"),
                        });
                    }
                    return Ok(outcome);
                }
                Some(full) => {
                    let label = checks.get(full).map_or("a limit", |(l, _)| l.as_str());
                    let to = outcome.downgrade();
                    out.push(GuardTrace {
                        guard: label_to_guard(label),
                        from: outcome,
                        to,
                        reason: format!("{label} is reached"),
                    });
                    if to == outcome {
                        return Ok(outcome);
                    }
                    outcome = to;
                }
            }
        }
    }
}

/// `rate limit `x` (…)` → `rate_limit:x`; the cap → `max_open_prs`.
fn label_to_guard(label: &str) -> String {
    match label.split('`').nth(1) {
        Some(name) if label.starts_with("rate limit") => format!("rate_limit:{name}"),
        _ => "max_open_prs".to_string(),
    }
}

fn humanize(d: chrono::TimeDelta) -> String {
    match d.to_std() {
        Ok(d) => humantime::format_duration(d).to_string(),
        Err(_) => format!("{}s", d.num_seconds()),
    }
}

#[cfg(test)]
mod tests;
