//! Table tests of a policy (`medic policy test`): inputs → expected outcome.
//!
//! A cases file lists decisions to make and what each must give, like `opa test`. Each
//! case runs on a fresh in-memory ledger, so cases do not affect each other; a case can
//! set the history, the kill switch, "already handled" and the time.
//!
//! ```yaml
//! cases:
//!   - name: confident lint fix
//!     analysis: { category: lint, confidence: 0.95, severity: low, impact: low }
//!     expect: auto_fix
//!     reason: very high confidence   # optional: a reason must contain this text
//! ```

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::clock::FixedClock;
use crate::decide::{Decider, Decision};
use crate::input::{Analysis, Change, DecisionInput, Review};
use crate::ledger::MemoryLedger;
use crate::outcome::Outcome;
use crate::policy::Policy;
use crate::score::History;

/// A cases file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CasesFile {
    /// The cases, run in order.
    pub cases: Vec<Case>,
}

/// One case.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// What the case checks.
    pub name: String,
    /// The analysis.
    pub analysis: Analysis,
    /// The proposed change.
    #[serde(default)]
    pub change: Option<Change>,
    /// Its review.
    #[serde(default)]
    pub review: Option<Review>,
    /// Reported outcomes the history signal reads (default: none).
    #[serde(default)]
    pub history: Option<History>,
    /// Whether Medic is paused.
    #[serde(default)]
    pub paused: bool,
    /// Whether the fingerprint is already being handled.
    #[serde(default)]
    pub handling: bool,
    /// When the decision is made (RFC 3339; default Monday 2026-11-23 10:00 UTC, inside
    /// usual business hours).
    #[serde(default)]
    pub now: Option<DateTime<Utc>>,
    /// The outcome it must give.
    pub expect: Outcome,
    /// Text one of its reasons must contain.
    #[serde(default)]
    pub reason: Option<String>,
    /// The rule that must match (`default` for none).
    #[serde(default)]
    pub rule: Option<String>,
}

/// A case's result.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    /// The case's name.
    pub name: String,
    /// Whether it gave what was expected.
    pub passed: bool,
    /// What was expected, in words (`auto_fix`, `auto_fix, reason ~ "…"`).
    pub expected: String,
    /// What it gave.
    pub actual: String,
    /// The decision, for the explanation of a failure.
    pub decision: Decision,
}

/// The default time of a case: Monday 2026-11-23 10:00 UTC.
pub fn default_now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0)
        .single()
        .unwrap_or_default()
}

/// Read a cases file's text (YAML).
pub fn parse_cases(source: &str) -> Result<CasesFile, String> {
    let root = medic_engine::yaml::parse(source).map_err(|e| e.to_string())?;
    serde_json::from_value(root.to_json()).map_err(|e| e.to_string())
}

/// Run every case against `policy`.
pub async fn run_cases(policy: &Policy, cases: &CasesFile) -> Vec<CaseResult> {
    let mut out = Vec::new();
    for case in &cases.cases {
        let ledger = MemoryLedger::new();
        if let Some(h) = case.history {
            ledger.set_history(h);
        }
        let now = case.now.unwrap_or_else(default_now);
        if case.paused {
            ledger.set_paused(Some(now));
        }
        if case.handling {
            ledger.set_handling(Some("an earlier decision".into()));
        }
        let clock = FixedClock::new(now);
        let input = DecisionInput {
            analysis: case.analysis.clone(),
            change: case.change.clone(),
            review: case.review.clone(),
        };
        // A memory ledger cannot fail.
        let Ok(decision) = Decider::new(policy, &ledger, &clock).decide(&input).await else {
            continue;
        };
        let rule = decision.rule.clone().unwrap_or_else(|| "default".into());
        let mut passed = decision.outcome == case.expect;
        let mut expected = case.expect.to_string();
        let mut actual = decision.outcome.to_string();
        if let Some(want) = &case.rule {
            passed &= &rule == want;
            expected.push_str(&format!(", rule {want}"));
            actual.push_str(&format!(", rule {rule}"));
        }
        if let Some(text) = &case.reason {
            passed &= decision.reasons.iter().any(|r| r.contains(text.as_str()));
            expected.push_str(&format!(", reason ~ {text:?}"));
            actual.push_str(&format!(", reasons {:?}", decision.reasons));
        }
        out.push(CaseResult {
            name: case.name.clone(),
            passed,
            expected,
            actual,
            decision,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shipped policy passes its shipped cases.
    #[tokio::test]
    async fn the_default_policy_passes_its_cases() {
        let cases = parse_cases(include_str!("../default.cases.yaml")).unwrap();
        assert!(cases.cases.len() >= 12);
        let results = run_cases(&Policy::default_policy(), &cases).await;
        assert_eq!(results.len(), cases.cases.len());
        let failed: Vec<String> = results
            .iter()
            .filter(|r| !r.passed)
            .map(|r| format!("{}: expected {}, got {}", r.name, r.expected, r.actual))
            .collect();
        assert!(failed.is_empty(), "{failed:#?}");
    }

    #[tokio::test]
    async fn a_wrong_expectation_fails_and_says_what_happened() {
        let cases = parse_cases(
            "cases:\n  - name: c\n    analysis: { category: lint, confidence: 0.1 }\n    expect: auto_fix\n    reason: nope\n",
        )
        .unwrap();
        let r = &run_cases(&Policy::default_policy(), &cases).await[0];
        assert!(!r.passed);
        assert_eq!(r.expected, "auto_fix, reason ~ \"nope\"");
        assert!(r.actual.starts_with("escalate, reasons"), "{}", r.actual);
    }

    #[test]
    fn unknown_fields_in_cases_are_refused() {
        let err = parse_cases("cases:\n  - name: c\n    analysis: { category: x, confidence: 1 }\n    expected: ignore\n")
            .unwrap_err();
        assert!(err.contains("expected"), "{err}");
    }
}
