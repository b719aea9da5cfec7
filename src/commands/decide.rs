//! `medic decide`, `medic policy test` and `medic policy schema`.

use std::path::Path;
use std::process::ExitCode;

use medic_policies::cases::{CaseResult, parse_cases, run_cases};
use medic_policies::{Decider, Decision, DecisionInput, Policy, SystemClock};
use serde::de::DeserializeOwned;
use serde_json::json;

use super::{open_store, print_json};
use crate::cli::{DecisionArgs, Output};
use crate::commands::validate::render_file_diagnostics;
use crate::{CmdResult, Failure, Globals};

/// Largest JSON input read (an analysis is a few kilobytes).
const MAX_INPUT_BYTES: u64 = 4 * 1024 * 1024;

fn read_json<T: DeserializeOwned>(path: &Path, what: &str) -> Result<T, Failure> {
    let meta = std::fs::metadata(path)
        .map_err(|e| Failure::usage(format!("--{what} {}: {e}", path.display())))?;
    if meta.len() > MAX_INPUT_BYTES {
        return Err(Failure::usage(format!(
            "--{what} {}: {} bytes is more than the {} MB an input may have",
            path.display(),
            meta.len(),
            MAX_INPUT_BYTES / (1024 * 1024)
        )));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::usage(format!("--{what} {}: {e}", path.display())))?;
    serde_json::from_str(&text)
        .map_err(|e| Failure::usage(format!("--{what} {}: {e}", path.display())))
}

/// Load a policy file, printing its diagnostics when it is invalid.
pub fn load_policy(path: Option<&Path>, g: &Globals) -> Result<Policy, Failure> {
    let Some(path) = path else {
        return Ok(Policy::default_policy());
    };
    medic_policies::load_file(path).map_err(|diags| {
        eprint!("{}", render_file_diagnostics(path, &diags, g.color));
        Failure::usage(format!("{} is not a valid policy", path.display()))
    })
}

/// `medic decide`.
pub async fn decide(args: DecisionArgs, g: &Globals) -> CmdResult {
    let input = DecisionInput {
        analysis: read_json(&args.analysis, "analysis")?,
        change: args
            .change
            .as_deref()
            .map(|p| read_json(p, "change"))
            .transpose()?,
        review: args
            .review
            .as_deref()
            .map(|p| read_json(p, "review"))
            .transpose()?,
    };
    let policy = load_policy(args.policy.as_deref(), g)?;
    let store = open_store(g).await?;
    let clock = SystemClock;
    let decision = Decider::new(&policy, &store, &clock)
        .decide(&input)
        .await
        .map_err(|e| Failure::failed(e.to_string()))?;
    if args.output == Output::Json {
        print_json(&json!(decision));
    } else if args.explain {
        print!("{}", explain(&decision));
    } else {
        println!("{}", decision.outcome);
        for reason in &decision.reasons {
            eprintln!("  {reason}");
        }
        eprintln!(
            "decision {} (confidence {:.2}); `medic decide --explain` shows why",
            decision.id, decision.confidence
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn num(x: Option<f64>, digits: usize) -> String {
    x.map_or_else(|| "–".to_string(), |v| format!("{v:.digits$}"))
}

/// A decision for a terminal: outcome, factors, rules, guards, reasons.
pub fn explain(d: &Decision) -> String {
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    line(format!("outcome     {}", d.outcome));
    line(format!("decision    {}", d.id));
    line(format!("policy      {}", d.policy));
    line(format!("confidence  {:.3}", d.confidence));
    line(String::new());
    line(format!(
        "{:<12} {:>6} {:>6} {:>7}  {}",
        "FACTOR", "WEIGHT", "VALUE", "SHARE", "FROM"
    ));
    for f in &d.factors {
        line(format!(
            "{:<12} {:>6.2} {:>6} {:>7}  {}",
            f.name,
            f.weight,
            num(f.value, 2),
            if f.value.is_some() {
                format!("{:.3}", f.contribution)
            } else {
                "–".to_string()
            },
            f.detail
        ));
    }
    line(format!(
        "{:<12} {:>6} {:>6} {:>7.3}",
        "confidence", "", "", d.confidence
    ));
    line(String::new());
    line("RULES (first match wins)".to_string());
    for r in &d.rules {
        let mark = if r.matched { "✔" } else { "✘" };
        let tail = match (&r.error, r.matched) {
            (Some(e), _) => format!("  (error: {e})"),
            (None, true) => format!("  → {}", d.proposed),
            (None, false) => String::new(),
        };
        line(format!("  {mark} {:<22} {}{tail}", r.name, r.when));
    }
    if d.rule.is_none() {
        line(format!(
            "  no rule matched: the policy's default → {}",
            d.proposed
        ));
    }
    line(String::new());
    line("GUARDS".to_string());
    if d.guards.is_empty() {
        line("  (none apply to this outcome)".to_string());
    }
    for g in &d.guards {
        if g.downgraded() {
            line(format!(
                "  ↓ {:<28} {} → {}: {}",
                g.guard, g.from, g.to, g.reason
            ));
        } else {
            line(format!("  ✔ {:<28} {}", g.guard, g.reason));
        }
    }
    line(String::new());
    line("REASONS".to_string());
    for r in &d.reasons {
        line(format!("  - {r}"));
    }
    out
}

/// `medic policy test <policy> <cases>`.
pub async fn policy_test(policy: &Path, cases: &Path, output: Output, g: &Globals) -> CmdResult {
    let policy = load_policy(Some(policy), g)?;
    let text = std::fs::read_to_string(cases)
        .map_err(|e| Failure::usage(format!("{}: {e}", cases.display())))?;
    let cases_file =
        parse_cases(&text).map_err(|e| Failure::usage(format!("{}: {e}", cases.display())))?;
    let results = run_cases(&policy, &cases_file).await;
    let failed = results.iter().filter(|r| !r.passed).count();
    if output == Output::Json {
        print_json(&json!({
            "cases": results.len(),
            "failed": failed,
            "results": results.iter().map(|r| json!({
                "name": r.name,
                "passed": r.passed,
                "expected": r.expected,
                "actual": r.actual,
                "confidence": r.decision.confidence,
                "rule": r.decision.rule,
            })).collect::<Vec<_>>(),
        }));
    } else {
        for r in &results {
            print_case(r);
        }
        println!(
            "{} case{}, {} passed, {} failed",
            results.len(),
            if results.len() == 1 { "" } else { "s" },
            results.len() - failed,
            failed
        );
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn print_case(r: &CaseResult) {
    if r.passed {
        println!("✔ {}", r.name);
        return;
    }
    let d = &r.decision;
    println!("✘ {}", r.name);
    println!("    - expected: {}", r.expected);
    println!("    + actual:   {}", r.actual);
    println!(
        "      confidence {:.3}, rule {}, proposed {}{}",
        d.confidence,
        d.rule.as_deref().unwrap_or("default"),
        d.proposed,
        d.guards
            .iter()
            .filter(|g| g.downgraded())
            .map(|g| format!(", {} → {} by {}", g.from, g.to, g.guard))
            .collect::<String>()
    );
}

/// `medic policy schema`.
pub fn policy_schema() -> CmdResult {
    print_json(&medic_policies::policy::policy_schema());
    Ok(ExitCode::SUCCESS)
}
