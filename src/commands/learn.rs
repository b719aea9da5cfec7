//! `medic outcome`, `medic stats`, `medic pause` and `medic resume`: what the decider
//! learns and the switches a human holds.

use std::process::ExitCode;

use chrono::Utc;
use medic_policies::ledger::{PAUSED_KEY, breaker_reset_key};
use medic_policies::raw::BreakerScope;
use medic_policies::score::{History, history_signal};
use serde_json::json;

use super::{open_store, print_json};
use crate::cli::{OutcomeResult, Output};
use crate::{CmdResult, Failure, Globals};

fn who() -> String {
    std::env::var("MEDIC_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "someone".to_string())
}

/// `medic outcome <decision> success|failure`.
pub async fn outcome(
    decision: &str,
    result: OutcomeResult,
    reason: Option<&str>,
    g: &Globals,
) -> CmdResult {
    let store = open_store(g).await?;
    let record = store.decision(decision).await?;
    let result = match result {
        OutcomeResult::Success => "success",
        OutcomeResult::Failure => "failure",
    };
    store
        .record_outcome(&record.id, result, reason, Utc::now())
        .await?;
    eprintln!(
        "recorded {result} for decision {} ({} on {})",
        record.id,
        record.outcome,
        record.fingerprint.as_deref().unwrap_or("no fingerprint")
    );
    Ok(ExitCode::SUCCESS)
}

/// `medic stats`.
pub async fn stats(output: Output, g: &Globals) -> CmdResult {
    let store = open_store(g).await?;
    let (fingerprints, categories) = store.outcome_stats().await?;
    let paused = store.decider_state(PAUSED_KEY).await?;
    let rate = |s: i64, f: i64| {
        if s + f == 0 {
            0.0
        } else {
            s as f64 / (s + f) as f64
        }
    };
    // The history signal a new decision in this category, with no fingerprint history,
    // would read.
    let category_signal = |s: i64, f: i64| {
        history_signal(&History {
            category_successes: u64::try_from(s).unwrap_or(0),
            category_failures: u64::try_from(f).unwrap_or(0),
            ..History::default()
        })
    };
    if output == Output::Json {
        let rows = |rows: &[medic_engine::store::KeyedCounts], signal: bool| {
            rows.iter()
                .map(|r| {
                    let (s, f) = (r.counts.successes, r.counts.failures);
                    let mut v =
                        json!({"key": r.key, "successes": s, "failures": f, "rate": rate(s, f)});
                    if signal {
                        v["history_signal"] = json!(category_signal(s, f));
                    }
                    v
                })
                .collect::<Vec<_>>()
        };
        print_json(&json!({
            "paused": paused.as_ref().map(|(by, at)| json!({"by": by, "since": at})),
            "fingerprints": rows(&fingerprints, false),
            "categories": rows(&categories, true),
        }));
        return Ok(ExitCode::SUCCESS);
    }
    if let Some((by, at)) = &paused {
        println!(
            "PAUSED since {} ({by}): every decision goes to a human\n",
            at.format("%Y-%m-%d %H:%M UTC")
        );
    }
    if fingerprints.is_empty() && categories.is_empty() {
        eprintln!("no outcomes reported yet (`medic outcome <decision> success|failure`)");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<40} {:>8} {:>8} {:>6} {:>8}",
        "CATEGORY", "SUCCESS", "FAILURE", "RATE", "SIGNAL"
    );
    for r in &categories {
        let (s, f) = (r.counts.successes, r.counts.failures);
        println!(
            "{:<40} {:>8} {:>8} {:>5.0}% {:>8.2}",
            r.key,
            s,
            f,
            rate(s, f) * 100.0,
            category_signal(s, f)
        );
    }
    println!();
    println!(
        "{:<40} {:>8} {:>8} {:>6}",
        "FINGERPRINT", "SUCCESS", "FAILURE", "RATE"
    );
    for r in &fingerprints {
        let (s, f) = (r.counts.successes, r.counts.failures);
        println!(
            "{:<40} {:>8} {:>8} {:>5.0}%",
            r.key,
            s,
            f,
            rate(s, f) * 100.0
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `medic pause`.
pub async fn pause(reason: Option<&str>, g: &Globals) -> CmdResult {
    let store = open_store(g).await?;
    let value = match reason {
        Some(r) => format!("{}: {r}", who()),
        None => who(),
    };
    store
        .set_decider_state(PAUSED_KEY, Some(&value), Utc::now())
        .await?;
    eprintln!("paused: every decision now goes to a human (`medic resume` to lift)");
    Ok(ExitCode::SUCCESS)
}

/// `medic resume`.
pub async fn resume(fingerprint: Option<&str>, repository: Option<&str>, g: &Globals) -> CmdResult {
    let store = open_store(g).await?;
    let breaker = match (fingerprint, repository) {
        (Some(f), _) => Some((BreakerScope::Fingerprint, f)),
        (None, Some(r)) => Some((BreakerScope::Repository, r)),
        (None, None) => None,
    };
    match breaker {
        Some((scope, value)) => {
            if value.trim().is_empty() {
                return Err(Failure::usage(format!(
                    "--{} needs a value",
                    scope.as_str()
                )));
            }
            store
                .set_decider_state(&breaker_reset_key(scope, value), Some(&who()), Utc::now())
                .await?;
            eprintln!(
                "circuit breaker reset for {} `{value}`: failures before now no longer count",
                scope.as_str()
            );
        }
        None => {
            store
                .set_decider_state(PAUSED_KEY, None, Utc::now())
                .await?;
            eprintln!("resumed: decisions follow the policy again");
        }
    }
    Ok(ExitCode::SUCCESS)
}
