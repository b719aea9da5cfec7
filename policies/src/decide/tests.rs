//! Rules and every guard, with an in-memory ledger and a hand-set clock.

use std::path::Path;

use chrono::{TimeDelta, TimeZone, Utc};

use super::*;
use crate::clock::FixedClock;
use crate::input::{Analysis, Change, Level, Review};
use crate::ledger::MemoryLedger;

/// Monday 2026-11-23 10:00 UTC.
fn monday_morning() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap()
}

fn analysis(category: &str, confidence: f64, severity: Level, impact: Level) -> DecisionInput {
    let mut a = Analysis::new(category, confidence);
    a.severity = Some(severity);
    a.impact = Some(impact);
    a.fingerprint = Some(format!("{category}:fp"));
    a.repository = Some("acme/api".into());
    a.service = Some("api".into());
    DecisionInput::from_analysis(a)
}

/// A confident lint fix: auto_fix under the default policy.
fn confident() -> DecisionInput {
    analysis("lint", 1.0, Level::Low, Level::Low)
}

fn policy(yaml: &str) -> Policy {
    crate::policy::load_str(yaml, Path::new("test.yaml")).unwrap_or_else(|d| panic!("{d:?}"))
}

const AUTO_ONLY: &str =
    "rules:\n  - { name: all, when: 'true', outcome: auto_fix, reason: always }\n";

fn with_guards(guards: &str) -> Policy {
    policy(&format!("{AUTO_ONLY}guards:\n{guards}"))
}

async fn decide(
    p: &Policy,
    ledger: &MemoryLedger,
    clock: &FixedClock,
    input: &DecisionInput,
) -> Decision {
    Decider::new(p, ledger, clock).decide(input).await.unwrap()
}

#[tokio::test]
async fn default_matrix() {
    use Level::*;
    let p = Policy::default_policy();
    let clock = FixedClock::new(monday_morning());
    // (category, certainty, severity, impact, history successes, expected)
    // With no change and no history: confidence = (0.4 c + 0.15 + 0.1 i) / 0.8.
    let cases = [
        ("lint", 1.0, Low, Low, 0, Outcome::AutoFix), // 0.8125 → confident-mild
        ("lint", 1.0, Medium, Medium, 40, Outcome::AutoFix), // history ≈ 1 → ≥ 0.9
        ("test", 1.0, High, Low, 0, Outcome::AutoFix), // 0.8125, high sev, low impact
        ("test", 1.0, High, Medium, 0, Outcome::Escalate), // 0.76, no rule: default
        ("test", 0.9, Medium, Medium, 0, Outcome::Schedule), // 0.7125
        ("test", 0.2, Low, Low, 0, Outcome::Escalate), // 0.4125 < 0.6
        ("build", 1.0, Critical, High, 40, Outcome::Escalate), // whatever the confidence
        ("flaky", 0.1, Low, Low, 0, Outcome::Retry),
        ("infrastructure", 0.9, High, High, 0, Outcome::Retry),
    ];
    for (category, certainty, severity, impact, successes, expected) in cases {
        let ledger = MemoryLedger::new();
        ledger.set_history(History {
            fingerprint_successes: successes,
            category_successes: successes,
            ..History::default()
        });
        let input = analysis(category, certainty, severity, impact);
        let d = decide(&p, &ledger, &clock, &input).await;
        assert_eq!(
            d.outcome, expected,
            "{category} {certainty} {severity:?}/{impact:?}: confidence {:.3}, rule {:?}",
            d.confidence, d.rule
        );
    }
}

#[tokio::test]
async fn an_already_handled_fingerprint_is_ignored() {
    let p = Policy::default_policy();
    let ledger = MemoryLedger::new();
    ledger.set_handling(Some("earlier".into()));
    let d = decide(
        &p,
        &ledger,
        &FixedClock::new(monday_morning()),
        &confident(),
    )
    .await;
    assert_eq!(d.outcome, Outcome::Ignore);
    assert_eq!(d.rule.as_deref(), Some("already-handled"));
    assert_eq!(d.handling.as_deref(), Some("earlier"));
}

#[tokio::test]
async fn the_first_matching_rule_wins_and_the_trace_stops_there() {
    let p = policy(
        "rules:\n  - { name: a, when: 'confidence > 2', outcome: ignore, reason: never }\n  - { name: b, when: \"category == 'lint'\", outcome: retry, reason: lint }\n  - { name: c, when: 'true', outcome: escalate, reason: all }\n",
    );
    let d = decide(
        &p,
        &MemoryLedger::new(),
        &FixedClock::new(monday_morning()),
        &confident(),
    )
    .await;
    assert_eq!(d.outcome, Outcome::Retry);
    assert_eq!(d.reasons, ["lint"]);
    let tried: Vec<(&str, bool)> = d
        .rules
        .iter()
        .map(|r| (r.name.as_str(), r.matched))
        .collect();
    assert_eq!(tried, [("a", false), ("b", true)]);
}

#[tokio::test]
async fn a_rule_that_fails_to_evaluate_is_skipped_and_explained() {
    let p = policy(
        "rules:\n  - { name: bad, when: \"'x' + 1 > 0\", outcome: auto_fix, reason: r }\ndefault: { outcome: escalate, reason: fallback }\n",
    );
    let d = decide(
        &p,
        &MemoryLedger::new(),
        &FixedClock::new(monday_morning()),
        &confident(),
    )
    .await;
    assert_eq!(d.outcome, Outcome::Escalate);
    assert!(d.rules[0].error.is_some(), "{:?}", d.rules);
    assert_eq!(d.reasons, ["fallback"]);
}

#[tokio::test]
async fn rules_read_the_change_and_the_review() {
    let p = policy(
        "rules:\n  - { name: rejected, when: 'review and not review.passed', outcome: open_pr, reason: review failed }\n  - { name: big, when: 'change.lines > 500', outcome: escalate, reason: too big }\n  - { name: rest, when: 'true', outcome: auto_fix, reason: fine }\n",
    );
    let (ledger, clock) = (MemoryLedger::new(), FixedClock::new(monday_morning()));
    let mut input = confident();
    input.review = Some(Review {
        passed: false,
        score: Some(0.2),
    });
    assert_eq!(
        decide(&p, &ledger, &clock, &input).await.outcome,
        Outcome::OpenPr
    );
    input.review = Some(Review {
        passed: true,
        score: None,
    });
    input.change = Some(Change {
        lines_added: 600,
        ..Change::default()
    });
    assert_eq!(
        decide(&p, &ledger, &clock, &input).await.outcome,
        Outcome::Escalate
    );
    input.change = Some(Change {
        lines_added: 6,
        ..Change::default()
    });
    assert_eq!(
        decide(&p, &ledger, &clock, &input).await.outcome,
        Outcome::AutoFix
    );
}

#[tokio::test]
async fn the_kill_switch_sends_everything_that_acts_to_a_human() {
    let p = policy(AUTO_ONLY);
    let ledger = MemoryLedger::new();
    let clock = FixedClock::new(monday_morning());
    ledger.set_paused(Some(monday_morning() - TimeDelta::hours(1)));
    let d = decide(&p, &ledger, &clock, &confident()).await;
    assert_eq!(d.outcome, Outcome::Escalate);
    assert_eq!(d.guards[0].guard, "kill_switch");
    assert!(d.reasons[1].contains("paused"), "{:?}", d.reasons);
    ledger.set_paused(None);
    assert_eq!(
        decide(&p, &ledger, &clock, &confident()).await.outcome,
        Outcome::AutoFix
    );
}

#[tokio::test]
async fn critical_services_always_get_a_human_but_may_retry() {
    let p = policy(
        "rules:\n  - { name: flaky, when: \"category == 'flaky'\", outcome: retry, reason: r }\n  - { name: all, when: 'true', outcome: auto_fix, reason: a }\nguards:\n  critical_services: [api]\n",
    );
    let (ledger, clock) = (MemoryLedger::new(), FixedClock::new(monday_morning()));
    let d = decide(&p, &ledger, &clock, &confident()).await;
    assert_eq!(d.outcome, Outcome::Escalate);
    assert!(d.reasons[1].contains("critical service"), "{:?}", d.reasons);
    let flaky = analysis("flaky", 1.0, Level::Low, Level::Low);
    assert_eq!(
        decide(&p, &ledger, &clock, &flaky).await.outcome,
        Outcome::Retry
    );
    let mut other = confident();
    other.analysis.service = Some("docs".into());
    assert_eq!(
        decide(&p, &ledger, &clock, &other).await.outcome,
        Outcome::AutoFix
    );
}

#[tokio::test]
async fn a_circuit_breaker_trips_on_n_failures_within_the_window() {
    let p =
        with_guards("  circuit_breakers:\n    - { scope: fingerprint, failures: 3, within: 1h }\n");
    let now = monday_morning();
    let (ledger, clock) = (MemoryLedger::new(), FixedClock::new(now));
    let fp = "lint:fp";
    // Three failures, but spread over more than an hour: closed.
    for minutes in [0, 40, 90] {
        ledger.add_failure(
            BreakerScope::Fingerprint,
            fp,
            now - TimeDelta::minutes(200 - minutes),
        );
    }
    assert_eq!(
        decide(&p, &ledger, &clock, &confident()).await.outcome,
        Outcome::AutoFix
    );
    // A fourth, 5 minutes after the third: the last three within 55 minutes. The breaker
    // stays open after the window has passed, until reset.
    ledger.add_failure(BreakerScope::Fingerprint, fp, now - TimeDelta::minutes(105));
    let d = decide(&p, &ledger, &clock, &confident()).await;
    assert_eq!(d.outcome, Outcome::Escalate);
    assert!(d.reasons[1].contains("until reset"), "{:?}", d.reasons);
    clock.advance(TimeDelta::days(7));
    assert_eq!(
        decide(&p, &ledger, &clock, &confident()).await.outcome,
        Outcome::Escalate
    );
    // Another fingerprint is not affected.
    let mut other = confident();
    other.analysis.fingerprint = Some("other".into());
    assert_eq!(
        decide(&p, &ledger, &clock, &other).await.outcome,
        Outcome::AutoFix
    );
}

#[test]
fn breaker_tripped_needs_n_failures_close_together() {
    let t = monday_morning();
    let at = |m: i64| t + TimeDelta::minutes(m);
    let hour = TimeDelta::hours(1);
    assert!(!breaker_tripped(&[], 1, hour));
    assert!(breaker_tripped(&[at(0)], 1, hour));
    assert!(!breaker_tripped(&[at(0), at(61)], 2, hour));
    assert!(
        breaker_tripped(&[at(0), at(60)], 2, hour),
        "the window is inclusive"
    );
    assert!(breaker_tripped(&[at(0), at(100), at(130)], 2, hour));
}

#[tokio::test]
async fn freeze_windows_turn_auto_fix_into_a_pull_request() {
    let p = with_guards(
        "  freeze:\n    - { name: weekend, cron: '0 18 * * FRI', duration: 62h, timezone: Europe/Paris }\n",
    );
    let ledger = MemoryLedger::new();
    // Saturday noon in Paris.
    let clock = FixedClock::new(Utc.with_ymd_and_hms(2026, 11, 28, 11, 0, 0).unwrap());
    let d = decide(&p, &ledger, &clock, &confident()).await;
    assert_eq!(d.outcome, Outcome::OpenPr);
    assert!(d.reasons[1].contains("weekend"), "{:?}", d.reasons);
    clock.set(monday_morning());
    assert_eq!(
        decide(&p, &ledger, &clock, &confident()).await.outcome,
        Outcome::AutoFix
    );
}

#[tokio::test]
async fn outside_business_hours_auto_fix_becomes_a_pull_request() {
    let p =
        with_guards("  business_hours: { cron: '0 9 * * MON-FRI', duration: 9h, timezone: UTC }\n");
    let ledger = MemoryLedger::new();
    let clock = FixedClock::new(monday_morning());
    assert_eq!(
        decide(&p, &ledger, &clock, &confident()).await.outcome,
        Outcome::AutoFix
    );
    clock.advance(TimeDelta::hours(10)); // 20:00
    let d = decide(&p, &ledger, &clock, &confident()).await;
    assert_eq!(d.outcome, Outcome::OpenPr);
    assert_eq!(
        d.guards.last().map(|g| g.guard.as_str()),
        Some("business_hours")
    );
}

#[tokio::test]
async fn rate_limits_slide_and_downgrade_step_by_step() {
    let p = with_guards(
        "  rate_limits:\n    - { name: auto, outcome: auto_fix, max: 2, per: 1h }\n    - { name: prs, outcome: open_pr, max: 1, per: 1h, scope: repository }\n",
    );
    let (ledger, clock) = (MemoryLedger::new(), FixedClock::new(monday_morning()));
    let mut outcomes = Vec::new();
    for _ in 0..4 {
        outcomes.push(decide(&p, &ledger, &clock, &confident()).await.outcome);
        clock.advance(TimeDelta::minutes(1));
    }
    use Outcome::*;
    assert_eq!(outcomes, [AutoFix, AutoFix, OpenPr, Escalate]);
    // Another repository has its own pull request budget, but shares the global one.
    let mut other = confident();
    other.analysis.repository = Some("acme/web".into());
    assert_eq!(decide(&p, &ledger, &clock, &other).await.outcome, OpenPr);
    // Just over an hour after the first two (at minutes 0 and 1), the automatic budget is
    // back; the pull request of minute 2 still counts.
    clock.set(monday_morning() + TimeDelta::minutes(61));
    assert_eq!(
        decide(&p, &ledger, &clock, &confident()).await.outcome,
        AutoFix
    );
    let d = decide(&p, &ledger, &clock, &confident()).await;
    assert_eq!(d.outcome, AutoFix, "{:?}", d.guards);
    let d = decide(&p, &ledger, &clock, &confident()).await;
    assert_eq!(d.outcome, Escalate, "{:?}", d.guards);
    assert_eq!(d.guards.len(), 2);
    assert_eq!(d.guards[0].guard, "rate_limit:auto");
    assert_eq!(d.guards[1].guard, "rate_limit:prs");
}

#[tokio::test]
async fn the_open_pull_request_cap_frees_up_when_outcomes_arrive() {
    let p = policy(
        "rules:\n  - { name: all, when: 'true', outcome: open_pr, reason: r }\nguards:\n  max_open_prs: 2\n",
    );
    let (ledger, clock) = (MemoryLedger::new(), FixedClock::new(monday_morning()));
    let first = decide(&p, &ledger, &clock, &confident()).await;
    assert_eq!(first.outcome, Outcome::OpenPr);
    assert_eq!(
        decide(&p, &ledger, &clock, &confident()).await.outcome,
        Outcome::OpenPr
    );
    let d = decide(&p, &ledger, &clock, &confident()).await;
    assert_eq!(d.outcome, Outcome::Escalate);
    assert!(
        d.reasons[1].contains("open pull request cap (2)"),
        "{:?}",
        d.reasons
    );
    clock.advance(TimeDelta::days(30));
    assert_eq!(
        decide(&p, &ledger, &clock, &confident()).await.outcome,
        Outcome::Escalate,
        "no window: only outcomes free a slot"
    );
    ledger.resolve(&first.id);
    assert_eq!(
        decide(&p, &ledger, &clock, &confident()).await.outcome,
        Outcome::OpenPr
    );
}

#[tokio::test]
async fn limits_scoped_per_service_and_action() {
    let p = with_guards(
        "  rate_limits:\n    - { name: per-service, outcome: auto_fix, max: 1, per: 1h, scope: service }\n    - { name: per-action, outcome: auto_fix, max: 1, per: 1h, scope: action }\n",
    );
    let (ledger, clock) = (MemoryLedger::new(), FixedClock::new(monday_morning()));
    let with = |service: &str, action: &str| {
        let mut i = confident();
        i.analysis.service = Some(service.into());
        i.change = Some(Change {
            action: Some(action.into()),
            lines_added: 1,
            ..Change::default()
        });
        i
    };
    assert_eq!(
        decide(&p, &ledger, &clock, &with("a", "x")).await.outcome,
        Outcome::AutoFix
    );
    assert_eq!(
        decide(&p, &ledger, &clock, &with("a", "y")).await.outcome,
        Outcome::OpenPr,
        "service a used"
    );
    assert_eq!(
        decide(&p, &ledger, &clock, &with("b", "x")).await.outcome,
        Outcome::OpenPr,
        "action x used"
    );
    assert_eq!(
        decide(&p, &ledger, &clock, &with("b", "y")).await.outcome,
        Outcome::AutoFix
    );
}

#[tokio::test]
async fn a_refused_claim_records_nothing() {
    // Two auto_fix limits: when the second is full, the first must not be charged.
    let p = with_guards(
        "  rate_limits:\n    - { name: wide, outcome: auto_fix, max: 10, per: 1h }\n    - { name: narrow, outcome: auto_fix, max: 1, per: 1h }\n",
    );
    let (ledger, clock) = (MemoryLedger::new(), FixedClock::new(monday_morning()));
    for _ in 0..3 {
        decide(&p, &ledger, &clock, &confident()).await;
    }
    assert_eq!(ledger.event_times("rate:wide:global:*").len(), 1);
    assert_eq!(ledger.event_times("rate:narrow:global:*").len(), 1);
}

#[tokio::test]
async fn every_decision_is_recorded_with_its_explanation() {
    let p = Policy::default_policy();
    let ledger = MemoryLedger::new();
    let d = decide(
        &p,
        &ledger,
        &FixedClock::new(monday_morning()),
        &confident(),
    )
    .await;
    let stored = ledger.decisions();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].id, d.id);
    assert_eq!(stored[0].outcome, d.outcome.as_str());
    let record = &stored[0].record;
    assert_eq!(record["factors"].as_array().map(Vec::len), Some(4));
    assert_eq!(record["factors"][0]["name"], "certainty");
    assert_eq!(record["factors"][0]["weight"], 0.4);
    assert_eq!(record["rule"], d.rule.clone().unwrap());
}

/// Rules read `now` in the policy's time zone: 10:00 UTC is 11:00 in Paris in November.
#[tokio::test]
async fn rules_read_now_in_the_policys_time_zone() {
    let rules = "rules:\n  - { name: late, when: 'now.hour == 11 and now.timezone == \"Europe/Paris\"', outcome: schedule, reason: after eleven in Paris }\n";
    let clock = FixedClock::new(monday_morning());
    let ledger = MemoryLedger::new();
    let paris = policy(&format!("timezone: Europe/Paris\n{rules}"));
    let d = decide(&paris, &ledger, &clock, &confident()).await;
    assert_eq!(d.outcome, Outcome::Schedule);
    // Without a zone, `now` is UTC (10:00): the rule does not match.
    let utc = policy(rules);
    let d = decide(&utc, &ledger, &clock, &confident()).await;
    assert_eq!(d.outcome, Outcome::Escalate);
}
