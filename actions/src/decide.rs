//! `decide`: turn an analysis (and a proposed change and its review) into one outcome
//! that later steps branch on, recorded and explained in the store.

use async_trait::async_trait;
use medic_engine::action::{
    Action, ErrorKind, OutputDoc, Outputs, StepContext, StepError, StepOutcome,
};
use medic_policies::{
    Analysis, Change, Decider, DecisionInput, MemoryLedger, Policy, Review, SystemClock,
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

/// The `decide` action.
#[derive(Debug, Clone, Copy, Default)]
pub struct Decide;

/// `with:` of a `decide` step.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DecideConfig {
    /// The analysed failure, usually `{{ steps.analyze.outputs }}`: category, confidence
    /// (0 to 1), and optionally tool, fingerprint, severity, impact, service, repository.
    pub analysis: Analysis,
    /// The proposed change: files, lines_added, lines_removed, paths, action.
    #[serde(default)]
    pub change: Option<Change>,
    /// The change's review: passed, score.
    #[serde(default)]
    pub review: Option<Review>,
    /// A policy file, relative to the folder the run started from (default: the
    /// built-in default policy).
    #[serde(default)]
    pub policy: Option<String>,
}

#[async_trait]
impl Action for Decide {
    type Config = DecideConfig;
    const NAME: &'static str = "decide";
    const DESCRIPTION: &'static str = "Decides what to do about an analysed failure: \
        auto_fix, open_pr, retry, schedule, escalate or ignore. Confidence is a weighted mean \
        of the analysis' certainty, the history of past fixes, the change's size and the \
        impact; the policy's rules (first match wins) give the outcome and its reason, and \
        guards (kill switch, critical services, circuit breakers, freeze windows, business \
        hours, rate limits, open pull request cap) may make it less automatic. The decision \
        is recorded with every factor; `medic outcome` reports how it went. In a dry run \
        nothing is recorded or counted.";
    const EXAMPLE: &'static str = r#"decide:
  uses: decide
  needs: [analyze]
  with:
    analysis: "{{ steps.analyze.outputs }}"
    change: { files: 1, lines_added: 3, lines_removed: 1 }
    policy: policies/default.yaml
"#;
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc {
            name: "outcome",
            kind: "string",
            description: "auto_fix, open_pr, retry, schedule, escalate or ignore.",
        },
        OutputDoc {
            name: "confidence",
            kind: "number",
            description: "The combined confidence, 0 to 1.",
        },
        OutputDoc {
            name: "factors",
            kind: "list",
            description: "Every signal: name, weight, value, contribution, detail.",
        },
        OutputDoc {
            name: "reasons",
            kind: "list",
            description: "Why: the rule's reason, then every guard's downgrade.",
        },
        OutputDoc {
            name: "rule",
            kind: "string",
            description: "The rule that matched, or `default`.",
        },
        OutputDoc {
            name: "decision_id",
            kind: "string",
            description: "The recorded decision, for `medic outcome`.",
        },
    ];

    async fn run(&self, config: DecideConfig, ctx: &StepContext) -> Result<StepOutcome, StepError> {
        let policy = match &config.policy {
            None => Policy::default_policy(),
            Some(path) => {
                let path = ctx.base_dir.join(path);
                medic_policies::load_file(&path).map_err(|diags| {
                    let first = diags.first().map_or_else(String::new, |d| {
                        format!(": {}:{}:{}: {}", d.file.display(), d.line, d.col, d.message)
                    });
                    StepError::new(
                        ErrorKind::Config,
                        format!(
                            "policy {} has {} problem{}{first} (`medic validate` shows them all)",
                            path.display(),
                            diags.len(),
                            if diags.len() == 1 { "" } else { "s" }
                        ),
                    )
                })?
            }
        };
        let input = DecisionInput {
            analysis: config.analysis,
            change: config.change,
            review: config.review,
        };
        let clock = SystemClock;
        let memory = MemoryLedger::new();
        let decision = match (&ctx.store, ctx.dry_run) {
            (Some(store), false) => Decider::new(&policy, store, &clock).decide(&input).await,
            // A dry run decides on an empty in-memory ledger: nothing is recorded or counted.
            (_, true) => Decider::new(&policy, &memory, &clock).decide(&input).await,
            (None, false) => {
                return Err(StepError::new(
                    ErrorKind::Internal,
                    "the decide action needs the run's store to record decisions",
                ));
            }
        }
        .map_err(|e| StepError::new(ErrorKind::Internal, e.to_string()))?;
        ctx.log(format!(
            "{} (confidence {:.2}, rule {}){}",
            decision.outcome,
            decision.confidence,
            decision.rule.as_deref().unwrap_or("default"),
            if ctx.dry_run {
                " [dry run: not recorded]"
            } else {
                ""
            }
        ));
        for reason in &decision.reasons {
            ctx.log(format!("  {reason}"));
        }
        let mut outputs = Outputs::new();
        outputs.insert("outcome".into(), json!(decision.outcome));
        outputs.insert("confidence".into(), json!(decision.confidence));
        outputs.insert("factors".into(), json!(decision.factors));
        outputs.insert("reasons".into(), json!(decision.reasons));
        outputs.insert(
            "rule".into(),
            Value::String(decision.rule.unwrap_or_else(|| "default".into())),
        );
        outputs.insert("decision_id".into(), Value::String(decision.id));
        Ok(StepOutcome::Success(outputs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::support::test_context;
    use medic_engine::store::Store;

    #[test]
    fn example_config_parses() {
        // The analyze action's outputs, as the runtime would pass them.
        let ctx = json!({"steps": {"analyze": {"outputs": {
            "category": "lint", "confidence": 0.9, "tool": "eslint", "fingerprint": "fp"
        }}}});
        let config = crate::support::example_config_rendered::<Decide>(&ctx);
        assert_eq!(config.analysis.tool.as_deref(), Some("eslint"));
        assert_eq!(config.policy.as_deref(), Some("policies/default.yaml"));
        assert_eq!(config.change.map(|c| c.lines()), Some(4));
    }

    fn lint() -> DecideConfig {
        serde_json::from_value(json!({
            "analysis": {"category": "lint", "confidence": 1.0, "severity": "low", "impact": "low",
                         "fingerprint": "fp", "repository": "acme/api"}
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn decides_records_and_outputs_the_explanation() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(dir.path().join("m.db").to_str().unwrap())
            .await
            .unwrap();
        let ctx = test_context(&[], dir.path()).with_store(store.clone());
        let StepOutcome::Success(out) = Decide.run(lint(), &ctx).await.unwrap() else {
            panic!("decide must succeed");
        };
        assert_eq!(out["outcome"], "auto_fix");
        assert_eq!(out["rule"], "confident-mild");
        assert_eq!(out["factors"].as_array().map(Vec::len), Some(4));
        let id = out["decision_id"].as_str().unwrap();
        assert_eq!(store.decision(id).await.unwrap().outcome, "auto_fix");
        // The same fingerprint again is already being handled.
        let StepOutcome::Success(again) = Decide.run(lint(), &ctx).await.unwrap() else {
            panic!("decide must succeed");
        };
        assert_eq!(again["outcome"], "ignore");
    }

    #[tokio::test]
    async fn a_dry_run_records_nothing_and_a_bad_policy_is_a_config_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut ctx = test_context(&[], dir.path());
        ctx.dry_run = true;
        let StepOutcome::Success(out) = Decide.run(lint(), &ctx).await.unwrap() else {
            panic!("decide must succeed");
        };
        assert_eq!(out["outcome"], "auto_fix");
        std::fs::write(dir.path().join("p.yaml"), "rules: [{ name: a }]\n").unwrap();
        let mut config = lint();
        config.policy = Some("p.yaml".into());
        let err = Decide.run(config, &ctx).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Config);
        assert!(err.message.contains("p.yaml"), "{}", err.message);
        ctx.dry_run = false;
        let err = Decide.run(lint(), &ctx).await.unwrap_err();
        assert!(err.message.contains("store"), "{}", err.message);
    }
}
