//! `review`: judge a generated fix before anyone is asked to merge it: size, protected
//! paths, a secret scan of the added lines, the verification command run in the
//! worktree. A review that does not pass is not a failure of the step: `passed` is
//! false and the workflow branches on it.

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use medic_engine::action::{Action, OutputDoc, Outputs, StepContext, StepError, StepOutcome};
use medic_remediate::git::{self, Oid, Worktree};
use medic_remediate::review::{self, Options, Verify};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::generate_fix::step_error;
use crate::support::{config_error, masked_error, masked_outputs, parse_duration};

/// The `review` action.
#[derive(Debug, Clone, Copy, Default)]
pub struct Review;

/// The fix to review, as `generate-fix` outputs it (other fields are ignored).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct FixRef {
    /// Whether there is a change.
    #[serde(default)]
    pub fixed: Option<bool>,
    /// The worktree.
    #[serde(default)]
    pub worktree: Option<String>,
    /// The base commit.
    #[serde(default)]
    pub base_sha: Option<String>,
    /// The strategy that made it.
    #[serde(default)]
    pub strategy: Option<String>,
    /// Why there is no fix.
    #[serde(default)]
    pub reason: Option<String>,
}

/// The verification command.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyConfig {
    /// A command line, run with `sh -c` in the worktree; exit 0 means the fix works.
    pub run: String,
    /// Its time budget, e.g. `10m` (default 10m).
    #[serde(default)]
    pub timeout: Option<String>,
}

/// `with:` of a `review` step. Give `fix`, or `worktree` and `base_sha`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewConfig {
    /// The generate-fix step's outputs, `{{ steps.fix.outputs }}`.
    #[serde(default)]
    pub fix: Option<FixRef>,
    /// The worktree to review, relative to the folder the run started from.
    #[serde(default)]
    pub worktree: Option<String>,
    /// The commit the change is measured against.
    #[serde(default)]
    pub base_sha: Option<String>,
    /// Most files a change may touch (default 10).
    #[serde(default = "default_max_files")]
    pub max_files: u64,
    /// Most lines, added plus removed (default 200).
    #[serde(default = "default_max_lines")]
    pub max_lines: u64,
    /// Globs protected besides the defaults (CI configuration, secret-like files, lock
    /// files).
    #[serde(default)]
    pub protected_paths: Vec<String>,
    /// Protected globs this workflow allows anyway (secret-like files stay refused).
    #[serde(default)]
    pub allow_protected: Vec<String>,
    /// The verification command: `{run, timeout}`.
    #[serde(default)]
    pub verify: Option<VerifyConfig>,
    /// Scan the added lines for secrets (default true).
    #[serde(default = "default_true")]
    pub secret_scan: bool,
    /// An AI provider that reviews the diff too (`{kind, model, …}`, as the analyze
    /// action's `ai`); it must answer `{"approve": …, "concerns": […]}`, and an answer
    /// that is not that fails the review.
    #[serde(default)]
    pub model: Option<medic_analyze::provider::ProviderConfig>,
}

fn default_max_files() -> u64 {
    10
}

fn default_max_lines() -> u64 {
    200
}

fn default_true() -> bool {
    true
}

#[async_trait]
impl Action for Review {
    type Config = ReviewConfig;
    const NAME: &'static str = "review";
    const DESCRIPTION: &'static str = "Reviews a generated fix in its worktree: at most \
        `max_files` files and `max_lines` lines; no protected path (CI configuration, \
        secret-like files, lock files, your globs; the timeout recipe may touch CI \
        configuration, dependency recipes lock files); no secret on an added line (a finding \
        names the secret's type and place, never its value); the `verify` command passes in \
        time; optionally an AI provider approves it. Outputs a score from 0 to 1 and every finding. A review that does not pass \
        still succeeds, with `passed: false`. Under `--dry-run` nothing runs.";
    const EXAMPLE: &'static str = r#"review:
  uses: review
  needs: [fix]
  if: "{{ steps.fix.outputs.fixed }}"
  with:
    fix: "{{ steps.fix.outputs }}"
    max_lines: 100
    verify:
      run: cargo test
      timeout: 15m
"#;
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc {
            name: "passed",
            kind: "bool",
            description: "No finding is an error.",
        },
        OutputDoc {
            name: "score",
            kind: "number",
            description: "0 to 1: halved per error, ×0.9 per warning, lower for bigger changes.",
        },
        OutputDoc {
            name: "findings",
            kind: "list",
            description: "`{gate, severity, message, path?, line?}`; gates: size, protected, secrets, test, model.",
        },
        OutputDoc {
            name: "test",
            kind: "object",
            description: "The verification run: `{command, exit_code, timed_out, duration_ms, output_tail}` (sanitized); null without `verify`.",
        },
        OutputDoc {
            name: "review",
            kind: "object",
            description: "`{passed, score}` for `decide`'s `review`.",
        },
    ];

    async fn run(&self, config: ReviewConfig, ctx: &StepContext) -> Result<StepOutcome, StepError> {
        review_step(config, ctx)
            .await
            .map(|outputs| StepOutcome::Success(masked_outputs(&ctx.masker, outputs)))
            .map_err(|e| masked_error(&ctx.masker, e))
    }
}

fn verdict(report: &review::Report) -> Outputs {
    let mut outputs = Outputs::new();
    outputs.insert("passed".into(), json!(report.passed));
    outputs.insert("score".into(), json!(report.score));
    outputs.insert("findings".into(), json!(report.findings));
    outputs.insert("test".into(), json!(report.test));
    outputs.insert(
        "review".into(),
        json!({"passed": report.passed, "score": report.score}),
    );
    outputs
}

async fn review_step(config: ReviewConfig, ctx: &StepContext) -> Result<Outputs, StepError> {
    let model = match config.model.clone() {
        Some(model) => Some(crate::generate_fix::provider(model, ctx, "model")?),
        None => None,
    };
    let fix = config.fix.clone();
    if let Some(FixRef {
        fixed: Some(false),
        reason,
        ..
    }) = &fix
    {
        // Nothing to review: say so in the same shape, so the workflow can branch.
        let report = review::Report {
            passed: false,
            score: 0.0,
            findings: vec![review::Finding {
                gate: "size".into(),
                severity: review::Severity::Error,
                message: format!(
                    "there is no fix to review: {}",
                    reason.as_deref().unwrap_or("generate-fix made no change")
                ),
                path: None,
                line: None,
            }],
            test: None,
        };
        return Ok(verdict(&report));
    }
    let worktree = config
        .worktree
        .clone()
        .or_else(|| fix.as_ref().and_then(|f| f.worktree.clone()))
        .ok_or_else(|| {
            config_error("give `fix` (a generate-fix step's outputs) or `worktree` and `base_sha`")
        })?;
    let base = config
        .base_sha
        .clone()
        .or_else(|| fix.as_ref().and_then(|f| f.base_sha.clone()))
        .ok_or_else(|| config_error("`base_sha` is missing (give it, or `fix`)"))?;
    let base = Oid::from_str(base.trim())
        .map_err(|_| config_error(format!("`base_sha`: `{base}` is not a commit id")))?;
    let path: PathBuf = ctx.base_dir.join(worktree);
    let repo = git::open_worktree(&path).map_err(|e| config_error(format!("`worktree`: {e}")))?;
    let branch = repo
        .head()
        .ok()
        .and_then(|h| h.shorthand().ok().map(str::to_string))
        .unwrap_or_default();
    drop(repo);
    let worktree = Worktree { path, branch, base };
    let verify = match &config.verify {
        Some(verify) => Some(Verify {
            command: verify.run.clone(),
            timeout: match &verify.timeout {
                Some(text) => parse_duration("verify.timeout", text)?,
                None => Duration::from_secs(600),
            },
        }),
        None => None,
    };
    let options = Options {
        max_files: config.max_files,
        max_lines: config.max_lines,
        protected: config.protected_paths.clone(),
        allow_protected: config.allow_protected.clone(),
        strategy: fix.as_ref().and_then(|f| f.strategy.clone()),
        verify,
        secret_scan: config.secret_scan,
    };
    let change = git::diff(&worktree).map_err(step_error)?;
    if ctx.dry_run {
        ctx.log(format!(
            "dry run: would review {} files (+{} -{}) in {}",
            change.files.len(),
            change.lines_added,
            change.lines_removed,
            worktree.path.display()
        ));
        let mut outputs = Outputs::new();
        outputs.insert("dry_run".into(), Value::Bool(true));
        outputs.insert("files".into(), json!(change.files.len()));
        return Ok(outputs);
    }
    let model = model
        .as_ref()
        .map(|m| m as &dyn medic_remediate::model::Model);
    let report = review::review(&worktree, &change, &options, model)
        .await
        .map_err(|e| match e {
            medic_remediate::Error::Invalid(m) => config_error(m),
            other => step_error(other),
        })?;
    ctx.log(format!(
        "review {} (score {:.2}, {} finding{})",
        if report.passed { "passed" } else { "failed" },
        report.score,
        report.findings.len(),
        if report.findings.len() == 1 { "" } else { "s" }
    ));
    for finding in &report.findings {
        ctx.log(format!("  [{}] {}", finding.gate, finding.message));
    }
    Ok(verdict(&report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate_fix::GenerateFix;
    use crate::generate_fix::tests::{analysis, broken_repo};
    use crate::support::test_context;
    use medic_engine::action::ErrorKind;

    const TOKEN: &str = "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";

    async fn run(with: Value, ctx: &StepContext) -> Outputs {
        let config: ReviewConfig = serde_json::from_value(with).unwrap();
        match Review.run(config, ctx).await.unwrap() {
            StepOutcome::Success(outputs) => outputs,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn example_config_parses() {
        let ctx = json!({"steps": {"fix": {"outputs": {"fixed": true, "worktree": "w", "base_sha": "abc", "diff": ""}}}});
        let config = crate::support::example_config_rendered::<Review>(&ctx);
        assert_eq!(config.max_lines, 100);
        assert_eq!(config.verify.unwrap().timeout.as_deref(), Some("15m"));
        assert!(config.secret_scan);
    }

    #[tokio::test]
    async fn reviews_a_generated_fix_and_catches_a_planted_secret() {
        let dir = tempfile::tempdir().unwrap();
        broken_repo(dir.path());
        let ctx = test_context(&[], dir.path());
        let generated = GenerateFix
            .run(
                serde_json::from_value(
                    json!({"repo": "app", "analysis": analysis(), "good": "green"}),
                )
                .unwrap(),
                &ctx,
            )
            .await
            .unwrap();
        let StepOutcome::Success(fix) = generated else {
            panic!()
        };
        let with =
            json!({"fix": fix, "verify": {"run": "grep -q 'a + b' src/calc.rs", "timeout": "1m"}});
        let out = run(with.clone(), &ctx).await;
        assert_eq!(out["passed"], true, "{out:?}");
        assert_eq!(out["test"]["exit_code"], 0);
        let review: medic_policies::Review = serde_json::from_value(out["review"].clone()).unwrap();
        assert!(review.passed && review.score.unwrap() > 0.9);

        // A secret slipped into the worktree fails the review, and never shows.
        let worktree = PathBuf::from(fix["worktree"].as_str().unwrap());
        std::fs::write(
            worktree.join("src/config.rs"),
            format!("pub const TOKEN: &str = \"{TOKEN}\";\n"),
        )
        .unwrap();
        let out = run(with, &ctx).await;
        assert_eq!(out["passed"], false);
        let text = serde_json::to_string(&out).unwrap();
        assert!(!text.contains(TOKEN), "{text}");
        let finding = out["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["gate"] == "secrets")
            .unwrap();
        assert_eq!(finding["path"], "src/config.rs");
        assert_eq!(finding["line"], 1);
    }

    #[tokio::test]
    async fn no_fix_is_a_failed_review_and_a_missing_worktree_a_config_error() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = test_context(&[], dir.path());
        let out = run(
            json!({"fix": {"fixed": false, "reason": "nothing to revert"}}),
            &ctx,
        )
        .await;
        assert_eq!(out["passed"], false);
        assert!(
            out["findings"][0]["message"]
                .as_str()
                .unwrap()
                .contains("nothing to revert")
        );
        for (with, expected) in [
            (json!({}), "give `fix`"),
            (json!({"worktree": "w"}), "`base_sha`"),
            (
                json!({"worktree": "w", "base_sha": "zz"}),
                "not a commit id",
            ),
            (
                json!({"worktree": "w", "base_sha": "0123456789012345678901234567890123456789"}),
                "`worktree`",
            ),
        ] {
            let config: ReviewConfig = serde_json::from_value(with).unwrap();
            let err = Review.run(config, &ctx).await.unwrap_err();
            assert_eq!(err.kind, ErrorKind::Config, "{}", err.message);
            assert!(err.message.contains(expected), "{}", err.message);
        }
    }
}
