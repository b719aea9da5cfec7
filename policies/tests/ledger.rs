//! The decider against the real store: the ledger contract on every backend, racing
//! deciders that must never exceed a limit, learning from outcomes, and a randomized
//! property test that no sequence of decisions exceeds any configured limit.

mod common;

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use medic_engine::store::{BreakerField, LimitCheck, Store};
use medic_policies::ledger::{Ledger, MemoryLedger, PAUSED_KEY, breaker_reset_key};
use medic_policies::raw::BreakerScope;
use medic_policies::{Analysis, Decider, DecisionInput, FixedClock, Level, Outcome, Policy};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap()
}

fn input(repository: &str, fingerprint: &str) -> DecisionInput {
    let mut a = Analysis::new("lint", 1.0);
    a.severity = Some(Level::Low);
    a.impact = Some(Level::Low);
    a.repository = Some(repository.into());
    a.fingerprint = Some(fingerprint.into());
    DecisionInput::from_analysis(a)
}

fn policy(yaml: &str) -> Policy {
    medic_policies::load_str(yaml, Path::new("test.yaml")).unwrap_or_else(|d| panic!("{d:?}"))
}

#[tokio::test]
async fn claims_count_a_sliding_window_and_refuse_without_recording() {
    for (backend, store, _, _guard) in common::stores().await {
        let hour = LimitCheck {
            key: "rate:a:global:*".into(),
            window_ms: Some(3_600_000),
            max: 2,
        };
        let other = LimitCheck {
            key: "rate:b:global:*".into(),
            window_ms: Some(3_600_000),
            max: 100,
        };
        let both = [other.clone(), hour.clone()];
        assert_eq!(
            store.claim_limits("d1", &both, t0()).await.unwrap(),
            None,
            "{backend}"
        );
        let later = t0() + TimeDelta::minutes(30);
        assert_eq!(store.claim_limits("d2", &both, later).await.unwrap(), None);
        assert_eq!(
            store.claim_limits("d3", &both, later).await.unwrap(),
            Some(1),
            "{backend}"
        );
        assert_eq!(
            store.limit_count(&other, later).await.unwrap(),
            2,
            "{backend}: refused claim recorded nothing"
        );
        // The first event leaves the window exactly one hour after it was recorded.
        let hour_on = t0() + TimeDelta::hours(1);
        assert_eq!(
            store.limit_count(&hour, hour_on).await.unwrap(),
            1,
            "{backend}"
        );
        assert_eq!(
            store.claim_limits("d4", &both, hour_on).await.unwrap(),
            None,
            "{backend}"
        );
    }
}

#[tokio::test]
async fn outcomes_resolve_open_slots_feed_history_and_cannot_be_reported_twice() {
    for (backend, store, _, _guard) in common::stores().await {
        let p = policy(
            "rules:\n  - { name: all, when: 'true', outcome: open_pr, reason: r }\nguards:\n  max_open_prs: 1\n",
        );
        let clock = FixedClock::new(t0());
        let decider = Decider::new(&p, &store, &clock);
        let first = decider.decide(&input("acme/api", "fp1")).await.unwrap();
        assert_eq!(first.outcome, Outcome::OpenPr, "{backend}");
        let second = decider.decide(&input("acme/api", "fp2")).await.unwrap();
        assert_eq!(second.outcome, Outcome::Escalate, "{backend}: cap of 1");
        store
            .record_outcome(&first.id, "success", Some("merged"), t0())
            .await
            .unwrap();
        let err = store
            .record_outcome(&first.id, "failure", None, t0())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("already"), "{backend}: {err}");
        let third = decider.decide(&input("acme/api", "fp1")).await.unwrap();
        assert_eq!(
            third.outcome,
            Outcome::OpenPr,
            "{backend}: the merged PR freed its slot"
        );
        assert_eq!(third.history.fingerprint_successes, 1, "{backend}");
        assert_eq!(third.history.category_successes, 1, "{backend}");
        let stored = store.decision(&first.id[..20]).await.unwrap();
        assert_eq!(stored.result.as_deref(), Some("success"));
        assert_eq!(stored.record["rule"], "all");
        let (fps, cats) = store.outcome_stats().await.unwrap();
        assert_eq!(fps.len(), 1, "{backend}");
        assert_eq!((fps[0].key.as_str(), fps[0].counts.successes), ("fp1", 1));
        assert_eq!((cats[0].key.as_str(), cats[0].counts.failures), ("lint", 0));
    }
}

#[tokio::test]
async fn switches_and_breaker_resets_are_kept() {
    for (backend, store, _, _guard) in common::stores().await {
        assert_eq!(Ledger::paused(&store).await.unwrap(), None, "{backend}");
        store
            .set_decider_state(PAUSED_KEY, Some("alice"), t0())
            .await
            .unwrap();
        assert_eq!(
            Ledger::paused(&store).await.unwrap(),
            Some(t0()),
            "{backend}"
        );
        store
            .set_decider_state(PAUSED_KEY, None, t0())
            .await
            .unwrap();
        assert_eq!(Ledger::paused(&store).await.unwrap(), None, "{backend}");

        let p = policy(
            "rules:\n  - { name: all, when: 'true', outcome: auto_fix, reason: r }\nguards:\n  circuit_breakers: [{ scope: repository, failures: 2, within: 1h }]\n",
        );
        let clock = FixedClock::new(t0());
        let decider = Decider::new(&p, &store, &clock);
        for minute in [0, 10] {
            clock.set(t0() + TimeDelta::minutes(minute));
            let d = decider.decide(&input("acme/web", "fp")).await.unwrap();
            assert_eq!(d.outcome, Outcome::AutoFix, "{backend}");
            store
                .record_outcome(&d.id, "failure", None, clock.now_for_tests())
                .await
                .unwrap();
        }
        let times = store
            .failure_times(BreakerField::Repository, "acme/web", t0())
            .await
            .unwrap();
        assert_eq!(times.len(), 2, "{backend}");
        let d = decider.decide(&input("acme/web", "fp")).await.unwrap();
        assert_eq!(d.outcome, Outcome::Escalate, "{backend}: breaker open");
        clock.set(t0() + TimeDelta::minutes(20));
        store
            .set_decider_state(
                &breaker_reset_key(BreakerScope::Repository, "acme/web"),
                Some("reset"),
                t0() + TimeDelta::minutes(15),
            )
            .await
            .unwrap();
        let d = decider.decide(&input("acme/web", "fp")).await.unwrap();
        assert_eq!(
            d.outcome,
            Outcome::AutoFix,
            "{backend}: reset closes the breaker"
        );
    }
}

/// A `FixedClock`'s time, through the trait (so the test reads naturally).
trait NowForTests {
    fn now_for_tests(&self) -> DateTime<Utc>;
}

impl NowForTests for FixedClock {
    fn now_for_tests(&self) -> DateTime<Utc> {
        medic_policies::Clock::now(self)
    }
}

/// Eight stores released at once by a barrier, claiming one slot, fifty times over:
/// exactly one claim wins each round. Without the atomic check-and-record this fails
/// within a few rounds.
async fn claim_race(url: &str, backend: &str) {
    const ROUNDS: usize = 50;
    let barrier = Arc::new(tokio::sync::Barrier::new(8));
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let store = Store::connect(url).await.unwrap();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            let mut won = vec![false; ROUNDS];
            for (round, won) in won.iter_mut().enumerate() {
                let check = LimitCheck {
                    key: format!("rate:race:global:{round}"),
                    window_ms: Some(3_600_000),
                    max: 1,
                };
                barrier.wait().await;
                let id = format!("w{worker}-r{round}");
                *won = store
                    .claim_limits(&id, &[check], t0())
                    .await
                    .unwrap()
                    .is_none();
            }
            won
        }));
    }
    let mut winners = vec![0; ROUNDS];
    for t in tasks {
        for (round, won) in t.await.unwrap().into_iter().enumerate() {
            winners[round] += usize::from(won);
        }
    }
    assert!(
        winners.iter().all(|w| *w == 1),
        "{backend}: winners per round {winners:?}"
    );
}

/// Eight deciders, each with its own connection pool, race on one database. Whatever
/// the interleaving, the limits hold exactly.
async fn race(url: &str, backend: &str) {
    const LIMIT: usize = 3;
    const PRS: usize = 2;
    let p = Arc::new(policy(&format!(
        "rules:\n  - {{ name: all, when: 'true', outcome: auto_fix, reason: r }}\nguards:\n  rate_limits:\n    - {{ name: auto, outcome: auto_fix, max: {LIMIT}, per: 1h }}\n    - {{ name: prs, outcome: open_pr, max: {PRS}, per: 1h, scope: repository }}\n"
    )));
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let store = Store::connect(url).await.unwrap();
        let p = p.clone();
        tasks.push(tokio::spawn(async move {
            let clock = FixedClock::new(t0());
            let decider = Decider::new(&p, &store, &clock);
            let mut outcomes = Vec::new();
            for i in 0..4 {
                let d = decider
                    .decide(&input("acme/api", &format!("w{worker}-{i}")))
                    .await
                    .unwrap();
                outcomes.push(d.outcome);
            }
            outcomes
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let count = |o: Outcome| all.iter().filter(|x| **x == o).count();
    assert_eq!(all.len(), 32);
    assert_eq!(count(Outcome::AutoFix), LIMIT, "{backend}: {all:?}");
    assert_eq!(count(Outcome::OpenPr), PRS, "{backend}: {all:?}");
    assert_eq!(count(Outcome::Escalate), 32 - LIMIT - PRS, "{backend}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_racing_deciders_never_exceed_a_limit_on_postgres() {
    let Some(url) = common::postgres_url().await else {
        eprintln!("MEDIC_TEST_POSTGRES_URL is not set: the Postgres race is skipped");
        return;
    };
    for _ in 0..3 {
        let url = common::postgres_url().await.unwrap_or_else(|| url.clone());
        claim_race(&url, "postgres").await;
        race(&url, "postgres").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_racing_deciders_never_exceed_a_limit_on_sqlite() {
    let (_store, _dir, url) = common::sqlite_store().await;
    claim_race(&url, "sqlite").await;
    race(&url, "sqlite").await;
}

/// Every window of every limit, checked against the events a ledger recorded: no
/// `per`-long window ever holds more than `max` events.
fn assert_within(times: &[DateTime<Utc>], max: usize, per: TimeDelta, what: &str) {
    for (i, start) in times.iter().enumerate() {
        let inside = times[i..]
            .iter()
            .take_while(|t| t.signed_duration_since(*start) < per)
            .count();
        assert!(
            inside <= max,
            "{what}: {inside} events within {per} from {start}, max {max}"
        );
    }
}

/// Property: for random limits, random inputs and random time steps, no sequence of
/// decisions exceeds any configured rate limit or the open pull request cap. Seeds are
/// fixed so a failure reproduces; the seed is in the message.
#[tokio::test]
async fn no_sequence_of_decisions_exceeds_any_limit() {
    let scopes = ["global", "repository", "service", "action"];
    for seed in 0..200u64 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut limits = Vec::new();
        for i in 0..rng.usize(1..4) {
            let outcome = if rng.bool() { "auto_fix" } else { "open_pr" };
            let max = rng.u32(0..4);
            let minutes = rng.i64(1..120);
            let scope = scopes[rng.usize(..scopes.len())];
            limits.push((format!("l{i}"), outcome, max, minutes, scope));
        }
        let cap = rng.bool().then(|| rng.u32(0..4));
        let mut yaml = String::from(
            "rules:\n  - { name: pr, when: \"category == 'docs'\", outcome: open_pr, reason: r }\n  - { name: all, when: 'true', outcome: auto_fix, reason: r }\nguards:\n  rate_limits:\n",
        );
        for (name, outcome, max, minutes, scope) in &limits {
            yaml.push_str(&format!(
                "    - {{ name: {name}, outcome: {outcome}, max: {max}, per: {minutes}m, scope: {scope} }}\n"
            ));
        }
        if let Some(cap) = cap {
            yaml.push_str(&format!("  max_open_prs: {cap}\n"));
        }
        let p = policy(&yaml);
        let ledger = MemoryLedger::new();
        let clock = FixedClock::new(t0());
        let decider = Decider::new(&p, &ledger, &clock);
        let mut open_ids = Vec::new();
        let mut made = Vec::new();
        for step in 0..60 {
            clock.advance(TimeDelta::seconds(rng.i64(0..900)));
            let mut i = input(["a", "b"][rng.usize(..2)], &format!("fp{step}"));
            i.analysis.category = if rng.u8(..4) == 0 {
                "docs".into()
            } else {
                "lint".into()
            };
            i.analysis.service = Some(["s1", "s2"][rng.usize(..2)].into());
            i.change = Some(medic_policies::Change {
                action: Some(["x", "y"][rng.usize(..2)].into()),
                lines_added: 1,
                ..Default::default()
            });
            let d = decider.decide(&i).await.unwrap();
            made.push((d.at, i.clone(), d.outcome));
            if d.outcome == Outcome::OpenPr {
                open_ids.push(d.id.clone());
            }
            // Now and then a pull request is merged, freeing a slot of the cap.
            if !open_ids.is_empty() && rng.u8(..5) == 0 {
                let id = open_ids.remove(rng.usize(..open_ids.len()));
                ledger.resolve(&id);
            }
            if let Some(cap) = cap {
                assert!(
                    open_ids.len() <= cap as usize,
                    "seed {seed}: {} open PRs, cap {cap}",
                    open_ids.len()
                );
            }
        }
        // Judge by the outcomes themselves, not the ledger's bookkeeping.
        for (name, outcome, max, minutes, scope) in &limits {
            let counted = if *outcome == "auto_fix" {
                Outcome::AutoFix
            } else {
                Outcome::OpenPr
            };
            let mut groups: std::collections::BTreeMap<String, Vec<DateTime<Utc>>> =
                Default::default();
            for (at, i, o) in &made {
                if *o != counted {
                    continue;
                }
                let a = &i.analysis;
                let key = match *scope {
                    "repository" => a.repository.clone(),
                    "service" => a.service.clone(),
                    "action" => i.change.as_ref().and_then(|c| c.action.clone()),
                    _ => None,
                };
                groups.entry(key.unwrap_or_default()).or_default().push(*at);
            }
            for (key, times) in groups {
                assert_within(
                    &times,
                    *max as usize,
                    TimeDelta::minutes(*minutes),
                    &format!("seed {seed}, limit {name} ({outcome}), {scope} `{key}`"),
                );
            }
        }
    }
}
