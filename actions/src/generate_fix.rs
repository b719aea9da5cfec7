//! `generate-fix`: turn an analysed failure into a change in an isolated worktree of a
//! local checkout (or into a rerun request), for `review` and `decide` to judge.
//!
//! The fix's branch is named after the failure's fingerprint, so the same failure
//! always lands in the same worktree; a re-run of the step resets it and starts again.
//! Finding no fix is not a failure of the step: `fixed` is false and `reason` says why.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use medic_analyze::provider::{Provider, ProviderConfig};
use medic_engine::action::{
    Action, ErrorKind, OutputDoc, Outputs, StepContext, StepError, StepOutcome,
};
use medic_remediate::analysis::Failure;
use medic_remediate::git::{self, Checkout, Oid};
use medic_remediate::patch::Globs;
use medic_remediate::recipe::{self, RecipeConfig};
use medic_remediate::strategy::{self, Available, Kind, agent, llm_patch, revert};
use medic_remediate::{Outcome, RerunRequest};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::support::{config_error, masked_error, masked_outputs, parse_duration};

/// The `generate-fix` action.
#[derive(Debug, Clone, Copy, Default)]
pub struct GenerateFix;

/// An external coding agent.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// The command line, run with `sh -c` in the worktree; `{prompt_file}` becomes the
    /// path of a file holding the task, `{worktree}` the worktree's path. E.g.
    /// `aider --yes --message-file {prompt_file}`.
    pub command: String,
    /// Its time budget, e.g. `15m` (default 10m); its whole process group is killed
    /// when it runs out.
    #[serde(default)]
    pub timeout: Option<String>,
    /// The agent's whole environment besides `PATH` and `HOME` (API keys it needs, e.g.
    /// `"{{ secrets.ANTHROPIC_API_KEY }}"`); Medic's own environment is not passed on.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

/// `with:` of a `generate-fix` step.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerateFixConfig {
    /// The local checkout to fix, relative to the folder the run started from. Its
    /// working tree is never touched: the fix is made in a worktree under
    /// `.git/medic-worktrees/<branch>`.
    pub repo: String,
    /// The commit the fix is based on (default `HEAD`; `bad` when given).
    #[serde(default)]
    pub base: Option<String>,
    /// `auto` (default), `revert`, `rerun`, `recipe`, `llm-patch` or `agent`. `auto`
    /// reads the analysis: flaky, infrastructure, network or timeout (without a recipe)
    /// → rerun; dependency → recipe; test with a `good` commit → revert; else llm-patch
    /// when a `model` is configured, else agent when configured, else revert when `good` is given, else no fix.
    #[serde(default)]
    pub strategy: Kind,
    /// The analysed failure, usually `{{ steps.analyze.outputs }}`: category,
    /// fingerprint, tests, locations, key_lines, tool, summary.
    pub analysis: Failure,
    /// revert: the last good commit.
    #[serde(default)]
    pub good: Option<String>,
    /// revert: the first known bad commit (default: `base`).
    #[serde(default)]
    pub bad: Option<String>,
    /// revert: bisect between `good` and `bad` with this command (exit 0 = good),
    /// instead of picking the culprit from the files the analysis names.
    #[serde(default)]
    pub bisect: Option<String>,
    /// revert: the time budget of one bisect run (default 10m; a timeout counts as bad).
    #[serde(default)]
    pub bisect_timeout: Option<String>,
    /// recipe: which recipe and its options (kind, framework, quarantine_file, package,
    /// version, mode, manifest, lock_command, ci_file, job, minutes).
    #[serde(default)]
    pub recipe: Option<RecipeConfig>,
    /// rerun: the URL of the failed run or job (GitHub Actions, GitLab, Buildkite).
    #[serde(default)]
    pub run_url: Option<String>,
    /// rerun: the run or job by ids instead of a URL, e.g.
    /// `{provider: github, host: github.com, owner: o, repo: r, run_id: 1}`.
    #[serde(default)]
    pub rerun: Option<RerunRequest>,
    /// agent: the coding agent to run.
    #[serde(default)]
    pub agent: Option<AgentConfig>,
    /// Globs a generated change may touch (llm-patch, agent), e.g. `["src/**", "tests/**"]`;
    /// default anywhere in the repository.
    #[serde(default)]
    pub allowed_paths: Vec<String>,
    /// The branch prefix (default `medic`): branches are `<prefix>/fix-<fingerprint>`.
    #[serde(default)]
    pub branch_prefix: Option<String>,
    /// Where to make the worktree, relative to the folder the run started from
    /// (default `<repo>/.git/medic-worktrees/<branch>`).
    #[serde(default)]
    pub worktree_dir: Option<String>,
    /// llm-patch: the AI provider asked for a patch (`{kind, model, base_url,
    /// api_key_env, …}`, as the analyze action's `ai`). Its key comes from the step's or
    /// Medic's environment.
    #[serde(default)]
    pub model: Option<ProviderConfig>,
}

#[async_trait]
impl Action for GenerateFix {
    type Config = GenerateFixConfig;
    const NAME: &'static str = "generate-fix";
    const DESCRIPTION: &'static str = "Turns an analysed failure into a change in an isolated \
        git worktree of a local checkout (on the branch `medic/fix-<fingerprint>`, reset when \
        the step runs again), or into a request to rerun the job. Strategies: revert (the \
        culprit between `good` and `bad`, picked from the files the analysis names or by \
        bisecting), rerun, recipe (quarantine a flaky test, pin or bump a dependency, raise a \
        CI timeout) and agent (an external coding agent with a time budget). No fix is not a \
        failure: `fixed` is false and `reason` says why. Under `--dry-run` nothing is created.";
    const EXAMPLE: &'static str = r#"fix:
  uses: generate-fix
  needs: [analyze]
  with:
    repo: .
    analysis: "{{ steps.analyze.outputs }}"
    strategy: revert
    good: v1.4.0
    allowed_paths: ["src/**"]
"#;
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc {
            name: "fixed",
            kind: "bool",
            description: "Whether a change was made.",
        },
        OutputDoc {
            name: "strategy",
            kind: "string",
            description: "The strategy used (`revert`, `rerun`, `recipe:quarantine`, `recipe:dependency`, `recipe:timeout`, `llm-patch`, `agent`).",
        },
        OutputDoc {
            name: "branch",
            kind: "string",
            description: "The fix's branch, `medic/fix-<first 12 characters of the fingerprint>`.",
        },
        OutputDoc {
            name: "worktree",
            kind: "string",
            description: "The worktree holding the change (null without a fix).",
        },
        OutputDoc {
            name: "base_sha",
            kind: "string",
            description: "The commit the change is based on.",
        },
        OutputDoc {
            name: "summary",
            kind: "string",
            description: "One line for a commit title.",
        },
        OutputDoc {
            name: "details",
            kind: "string",
            description: "How the fix was found, for a pull request body.",
        },
        OutputDoc {
            name: "diff",
            kind: "string",
            description: "The unified diff against base_sha.",
        },
        OutputDoc {
            name: "files",
            kind: "list",
            description: "`{path, status, added, removed}` per changed file.",
        },
        OutputDoc {
            name: "lines_added",
            kind: "number",
            description: "Lines added.",
        },
        OutputDoc {
            name: "lines_removed",
            kind: "number",
            description: "Lines removed.",
        },
        OutputDoc {
            name: "fix_hash",
            kind: "string",
            description: "sha256 of the normalized diff: the same change, the same hash.",
        },
        OutputDoc {
            name: "change",
            kind: "object",
            description: "`{files, lines_added, lines_removed, paths, action}` for `decide`'s `change`.",
        },
        OutputDoc {
            name: "rerun",
            kind: "object",
            description: "With the rerun strategy: `{provider, …ids}` of the run or job to rerun.",
        },
        OutputDoc {
            name: "reason",
            kind: "string",
            description: "Why there is no fix (null with one).",
        },
    ];

    async fn run(
        &self,
        config: GenerateFixConfig,
        ctx: &StepContext,
    ) -> Result<StepOutcome, StepError> {
        // The analysis, commands and agent env may hold rendered secrets: mask what leaves.
        generate(config, ctx)
            .await
            .map(|outputs| StepOutcome::Success(masked_outputs(&ctx.masker, outputs)))
            .map_err(|e| masked_error(&ctx.masker, e))
    }
}

/// A step error from the library's.
pub(crate) fn step_error(e: medic_remediate::Error) -> StepError {
    let kind = match &e {
        medic_remediate::Error::Invalid(_) => ErrorKind::Config,
        medic_remediate::Error::GitCli { .. } | medic_remediate::Error::Model(_) => {
            ErrorKind::Network
        }
        medic_remediate::Error::Git { .. } => ErrorKind::Failed,
        medic_remediate::Error::Io { .. } => ErrorKind::Internal,
    };
    StepError::new(kind, e.to_string())
}

async fn generate(config: GenerateFixConfig, ctx: &StepContext) -> Result<Outputs, StepError> {
    let allowed = Globs::new(&config.allowed_paths)
        .map_err(|e| config_error(format!("`allowed_paths`: {e}")))?;
    // Checked first: a missing key is the step's configuration, whatever the strategy.
    let model = match config.model.clone() {
        Some(model) => Some(provider(model, ctx, "model")?),
        None => None,
    };
    let repo_path: PathBuf = ctx.base_dir.join(&config.repo);
    let checkout = Checkout::open(&repo_path).map_err(|e| config_error(format!("`repo`: {e}")))?;
    let base_ref = config
        .bad
        .clone()
        .or_else(|| config.base.clone())
        .unwrap_or_else(|| "HEAD".into());
    let base = checkout.resolve(&base_ref).map_err(|e| {
        config_error(format!(
            "`{}`: {e}",
            if config.bad.is_some() { "bad" } else { "base" }
        ))
    })?;
    let good = match &config.good {
        Some(good) => Some(
            checkout
                .resolve(good)
                .map_err(|e| config_error(format!("`good`: {e}")))?,
        ),
        None => None,
    };
    // The branch is the fix's idempotency key: one failure, one branch, one worktree.
    let fingerprint = if config.analysis.fingerprint.is_empty() {
        medic_remediate::git::fix_hash(&ctx.idempotency_key)[..16].to_string()
    } else {
        config.analysis.fingerprint.clone()
    };
    let branch = git::branch_name(
        config.branch_prefix.as_deref().unwrap_or("medic"),
        &fingerprint,
    );
    let available = Available {
        range: good.is_some(),
        model: config.model.is_some(),
        agent: config.agent.is_some(),
        recipe: config.recipe.is_some(),
        rerun: config.run_url.is_some() || config.rerun.is_some(),
    };
    let kind = match config.strategy {
        Kind::Auto => match strategy::choose(&config.analysis, available) {
            Ok(kind) => kind,
            Err(reason) => return Ok(no_fix(Kind::Auto.as_str(), &branch, base, reason)),
        },
        kind => kind,
    };
    if ctx.dry_run {
        ctx.log(format!(
            "dry run: would make a {} fix on {branch} from {base} in {}",
            kind.as_str(),
            repo_path.display()
        ));
        let mut outputs = no_fix(
            kind.as_str(),
            &branch,
            base,
            "dry run: nothing was changed".into(),
        );
        outputs.insert("dry_run".into(), Value::Bool(true));
        return Ok(outputs);
    }
    if kind == Kind::Rerun {
        let request = match (&config.rerun, &config.run_url) {
            (Some(request), _) => request.clone(),
            (None, Some(url)) => medic_remediate::strategy::rerun::parse_url(url)
                .map_err(|e| config_error(format!("`run_url`: {e}")))?,
            (None, None) => {
                return Ok(no_fix(
                    "rerun",
                    &branch,
                    base,
                    "a rerun needs the run: give `run_url` or `rerun`".into(),
                ));
            }
        };
        ctx.log(format!("rerun requested: {}", json!(request)));
        return Ok(rerun_requested(&branch, base, &request));
    }
    let worktree_dir = config.worktree_dir.as_ref().map(|d| ctx.base_dir.join(d));
    let worktree = checkout
        .create_worktree(&base.to_string(), &branch, worktree_dir.as_deref())
        .map_err(step_error)?;
    ctx.log(format!(
        "worktree {} on {branch} at {base}",
        worktree.path.display()
    ));
    let outcome = match kind {
        Kind::Revert => {
            let Some(good) = good else {
                return Err(config_error(
                    "the revert strategy needs `good`, the last good commit",
                ));
            };
            let verify = match &config.bisect {
                Some(command) => Some(revert::Verify {
                    command: command.clone(),
                    timeout: duration("bisect_timeout", config.bisect_timeout.as_deref())?,
                }),
                None => None,
            };
            revert::run(
                &worktree,
                &config.analysis,
                &revert::Options { good, verify },
            )
            .await
        }
        Kind::Recipe => {
            recipe::run(
                &worktree,
                &config.analysis,
                &config.recipe.clone().unwrap_or_default(),
            )
            .await
        }
        Kind::Agent => {
            let Some(agent) = &config.agent else {
                return Err(config_error(
                    "the agent strategy needs `agent: {command: …}`",
                ));
            };
            let options = agent::Options {
                command: agent.command.clone(),
                timeout: duration("agent.timeout", agent.timeout.as_deref())?,
                env: agent.env.clone(),
                allowed,
            };
            agent::run(&worktree, &config.analysis, &options).await
        }
        Kind::LlmPatch => {
            let Some(model) = &model else {
                return Err(config_error(
                    "the llm-patch strategy needs `model: {kind, model, …}`",
                ));
            };
            let options = llm_patch::Options {
                allowed,
                attempts: 2,
            };
            llm_patch::run(&worktree, &config.analysis, model, &options).await
        }
        // `auto` is resolved and `rerun` answered before a worktree is made.
        Kind::Auto | Kind::Rerun => {
            return Err(StepError::new(
                ErrorKind::Internal,
                format!("strategy `{}` reached the worktree stage", kind.as_str()),
            ));
        }
    }
    .map_err(step_error)?;
    Ok(match outcome {
        Outcome::Fix(fix) => {
            ctx.log(format!(
                "{}: {} ({} files, +{} -{})",
                fix.strategy,
                fix.summary,
                fix.change.files.len(),
                fix.change.lines_added,
                fix.change.lines_removed
            ));
            let mut outputs = Outputs::new();
            outputs.insert("fixed".into(), Value::Bool(true));
            outputs.insert("strategy".into(), json!(fix.strategy));
            outputs.insert("branch".into(), json!(fix.branch));
            outputs.insert("worktree".into(), json!(fix.worktree));
            outputs.insert("base_sha".into(), json!(fix.base));
            outputs.insert("summary".into(), json!(fix.summary));
            outputs.insert("details".into(), json!(fix.details));
            outputs.insert("diff".into(), json!(fix.change.diff));
            outputs.insert("files".into(), json!(fix.change.files));
            outputs.insert("lines_added".into(), json!(fix.change.lines_added));
            outputs.insert("lines_removed".into(), json!(fix.change.lines_removed));
            outputs.insert("fix_hash".into(), json!(fix.change.fix_hash));
            outputs.insert(
                "change".into(),
                json!({
                    "files": fix.change.files.len(),
                    "lines_added": fix.change.lines_added,
                    "lines_removed": fix.change.lines_removed,
                    "paths": fix.change.paths(),
                    "action": fix.strategy,
                }),
            );
            outputs.insert("rerun".into(), Value::Null);
            outputs.insert("reason".into(), Value::Null);
            outputs
        }
        Outcome::NoFix { reason } => {
            ctx.log(format!("no fix: {reason}"));
            let mut outputs = no_fix(kind.as_str(), &branch, base, reason);
            outputs.insert("worktree".into(), json!(worktree.path));
            outputs
        }
        Outcome::Rerun(request) => rerun_requested(&branch, base, &request),
    })
}

/// The provider for a `model`-like field, reading its key from the step's environment
/// first, then Medic's.
pub(crate) fn provider(
    config: ProviderConfig,
    ctx: &StepContext,
    field: &str,
) -> Result<Provider, StepError> {
    let env = ctx.env.clone();
    let lookup = move |k: &str| env.get(k).cloned().or_else(|| std::env::var(k).ok());
    Provider::new(config, &lookup).map_err(|e| config_error(format!("`{field}`: {e}")))
}

fn duration(field: &str, text: Option<&str>) -> Result<Duration, StepError> {
    match text {
        Some(text) => parse_duration(field, text),
        None => Ok(Duration::from_secs(600)),
    }
}

/// Every output, for a step that made no change.
/// The outputs of a rerun: no code change, and the request `ci.rerun` carries out.
fn rerun_requested(branch: &str, base: Oid, request: &RerunRequest) -> Outputs {
    let mut outputs = no_fix(
        "rerun",
        branch,
        base,
        "no code change: the job should run again".into(),
    );
    outputs.insert("rerun".into(), json!(request));
    outputs
}

fn no_fix(strategy: &str, branch: &str, base: Oid, reason: String) -> Outputs {
    let mut outputs = Outputs::new();
    outputs.insert("fixed".into(), Value::Bool(false));
    outputs.insert("strategy".into(), json!(strategy));
    outputs.insert("branch".into(), json!(branch));
    outputs.insert("worktree".into(), Value::Null);
    outputs.insert("base_sha".into(), json!(base.to_string()));
    outputs.insert("summary".into(), Value::Null);
    outputs.insert("details".into(), Value::Null);
    outputs.insert("diff".into(), json!(""));
    outputs.insert("files".into(), json!([]));
    outputs.insert("lines_added".into(), json!(0));
    outputs.insert("lines_removed".into(), json!(0));
    outputs.insert("fix_hash".into(), Value::Null);
    outputs.insert(
        "change".into(),
        json!({"files": 0, "lines_added": 0, "lines_removed": 0, "paths": [], "action": strategy}),
    );
    outputs.insert("rerun".into(), Value::Null);
    outputs.insert("reason".into(), json!(reason));
    outputs
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::support::test_context;
    use std::path::Path;

    /// `git` in `dir`, as a developer would run it.
    pub(crate) fn git(dir: &Path, args: &[&str]) -> String {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["-c", "user.name=Dev", "-c", "user.email=dev@example.com"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// A checkout at `<dir>/app`: green commit (tag `green`), culprit, unrelated, red HEAD.
    pub(crate) fn broken_repo(dir: &Path) -> PathBuf {
        let repo = dir.join("app");
        std::fs::create_dir_all(repo.join("src")).unwrap();
        git(&repo, &["init", "--quiet"]);
        std::fs::write(
            repo.join("src/calc.rs"),
            "pub fn add(a: i32, b: i32) -> i32 { a + b }\n",
        )
        .unwrap();
        git(&repo, &["add", "-A"]);
        git(&repo, &["commit", "--quiet", "-m", "calc"]);
        git(&repo, &["tag", "green"]);
        std::fs::write(
            repo.join("src/calc.rs"),
            "pub fn add(a: i32, b: i32) -> i32 { a - b }\n",
        )
        .unwrap();
        git(&repo, &["commit", "--quiet", "-am", "calc: faster add"]);
        std::fs::write(repo.join("README.md"), "calc\n").unwrap();
        git(&repo, &["add", "-A"]);
        git(&repo, &["commit", "--quiet", "-m", "docs"]);
        repo
    }

    pub(crate) fn analysis() -> Value {
        json!({
            "category": "test", "confidence": 0.9, "fingerprint": "5eed5eed5eed5eed",
            "tool": "cargo", "tests": ["calc::adds"], "locations": ["src/calc.rs:1:40"],
            "key_lines": [{"line": 3, "text": "assertion failed: add(1, 1) == 2", "role": "error"}],
            "report_markdown": "…", "seen_count": 1
        })
    }

    fn config(with: Value) -> GenerateFixConfig {
        serde_json::from_value(with).unwrap()
    }

    async fn outputs(with: Value, ctx: &StepContext) -> Outputs {
        match GenerateFix.run(config(with), ctx).await.unwrap() {
            StepOutcome::Success(outputs) => outputs,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn example_config_parses() {
        let ctx = json!({"steps": {"analyze": {"outputs": analysis()}}});
        let config = crate::support::example_config_rendered::<GenerateFix>(&ctx);
        assert_eq!(config.strategy, Kind::Revert);
        assert_eq!(config.analysis.fingerprint, "5eed5eed5eed5eed");
        assert_eq!(config.good.as_deref(), Some("v1.4.0"));
    }

    #[tokio::test]
    async fn reverts_the_culprit_and_feeds_decide_and_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let repo = broken_repo(dir.path());
        let ctx = test_context(&[], dir.path());
        let with = json!({"repo": "app", "analysis": analysis(), "good": "green"});
        let out = outputs(with.clone(), &ctx).await;
        assert_eq!(out["fixed"], true, "{out:?}");
        assert_eq!(out["strategy"], "revert");
        assert_eq!(out["branch"], "medic/fix-5eed5eed5eed");
        assert_eq!(out["summary"], "Revert \"calc: faster add\"");
        assert_eq!(out["files"][0]["path"], "src/calc.rs");
        assert_eq!(out["base_sha"], git(&repo, &["rev-parse", "HEAD"]));
        let change: medic_policies::Change = serde_json::from_value(out["change"].clone()).unwrap();
        assert_eq!((change.file_count(), change.lines()), (1, 2));
        assert_eq!(change.action.as_deref(), Some("revert"));
        let worktree = PathBuf::from(out["worktree"].as_str().unwrap());
        assert!(worktree.starts_with(repo.join(".git/medic-worktrees")));
        // The user's checkout is untouched; a second run lands on the same branch and fix.
        assert!(
            std::fs::read_to_string(repo.join("src/calc.rs"))
                .unwrap()
                .contains("a - b")
        );
        assert_eq!(git(&repo, &["status", "--porcelain"]), "");
        let again = outputs(with, &ctx).await;
        assert_eq!(again["fix_hash"], out["fix_hash"]);
        assert_eq!(again["worktree"], out["worktree"]);
    }

    #[tokio::test]
    async fn flaky_failures_become_a_rerun_request_and_others_may_have_no_fix() {
        let dir = tempfile::tempdir().unwrap();
        broken_repo(dir.path());
        let ctx = test_context(&[], dir.path());
        let mut flaky = analysis();
        flaky["category"] = json!("flaky");
        let out = outputs(
            json!({"repo": "app", "analysis": flaky,
                   "run_url": "https://github.com/pytorch/pytorch/actions/runs/3201497249/jobs/5229540478"}),
            &ctx,
        )
        .await;
        assert_eq!(out["fixed"], false);
        assert_eq!(out["strategy"], "rerun");
        assert_eq!(
            out["rerun"],
            json!({"provider": "github", "host": "github.com", "owner": "pytorch", "repo": "pytorch",
                   "run_id": 3201497249_u64, "job_id": 5229540478_u64})
        );
        let mut compile = analysis();
        compile["category"] = json!("compile");
        let out = outputs(json!({"repo": "app", "analysis": compile}), &ctx).await;
        assert_eq!(out["fixed"], false);
        assert!(
            out["reason"].as_str().unwrap().contains("`compile`"),
            "{out:?}"
        );
        // A recipe that finds nothing to edit is no fix either, with the reason.
        let mut dependency = analysis();
        dependency["category"] = json!("dependency");
        let out = outputs(json!({"repo": "app", "analysis": dependency}), &ctx).await;
        assert_eq!(out["fixed"], false);
        assert_eq!(
            out["reason"],
            "the dependency recipe needs `package` and `version`"
        );
    }

    /// An OpenAI-compatible server answering with `content` in the API reference
    /// example (analyze/tests/fixtures/ai/openai-chat-completion.200.json).
    fn openai_answering(content: &str) -> String {
        let answer = medic_analyze::testing::openai_answer(content);
        medic_analyze::testing::scripted_server(std::iter::repeat((200, answer))).0
    }

    #[tokio::test]
    async fn auto_asks_the_model_for_a_patch_when_one_is_configured() {
        let dir = tempfile::tempdir().unwrap();
        broken_repo(dir.path());
        let mut ctx = test_context(&[], dir.path());
        ctx.env
            .insert("FIX_AI_KEY".into(), "sk-step-key-0123456789".into());
        let base = openai_answering(
            "```diff\n--- a/src/calc.rs\n+++ b/src/calc.rs\n@@ -1 +1 @@\n-pub fn add(a: i32, b: i32) -> i32 { a - b }\n+pub fn add(a: i32, b: i32) -> i32 { a + b }\n```",
        );
        let mut compile = analysis();
        compile["category"] = json!("compile");
        let out = outputs(
            json!({"repo": "app", "analysis": compile, "allowed_paths": ["src/**"],
                   "model": {"kind": "openai", "model": "gpt-4o-mini", "base_url": base,
                             "api_key_env": "FIX_AI_KEY", "max_retries": 0}}),
            &ctx,
        )
        .await;
        assert_eq!(out["fixed"], true, "{out:?}");
        assert_eq!(out["strategy"], "llm-patch");
        assert_eq!(out["change"]["paths"], json!(["src/calc.rs"]));
    }

    /// A workflow secret handed to an agent, printed by it on failure, reaches neither
    /// the outputs nor the step's log.
    #[tokio::test]
    async fn a_secret_an_agent_prints_is_masked_and_worktree_dir_is_honoured() {
        let dir = tempfile::tempdir().unwrap();
        broken_repo(dir.path());
        let canary = "medic-canary-7f3e9a1c5b";
        let ctx = test_context(&[canary], dir.path());
        let mut compile = analysis();
        compile["category"] = json!("compile");
        let out = outputs(
            json!({"repo": "app", "analysis": compile, "worktree_dir": "wt/fix",
                   "agent": {"command": "echo \"key $AGENT_KEY refused\"; exit 1", "timeout": "30s",
                             "env": {"AGENT_KEY": canary}}}),
            &ctx,
        )
        .await;
        assert_eq!(out["fixed"], false);
        assert_eq!(out["strategy"], "agent");
        let reason = out["reason"].as_str().unwrap();
        assert!(
            reason.starts_with("the agent exited with code 1: key "),
            "{reason}"
        );
        let everything = format!("{out:?}{:?}", ctx.logs());
        assert!(!everything.contains(canary), "{everything}");
        assert!(dir.path().join("wt/fix/src/calc.rs").is_file());
    }

    #[tokio::test]
    async fn a_dry_run_changes_nothing_and_bad_config_is_a_config_error() {
        let dir = tempfile::tempdir().unwrap();
        let repo = broken_repo(dir.path());
        let mut ctx = test_context(&[], dir.path());
        ctx.dry_run = true;
        let out = outputs(
            json!({"repo": "app", "analysis": analysis(), "good": "green"}),
            &ctx,
        )
        .await;
        assert_eq!(out["dry_run"], true);
        assert_eq!(out["strategy"], "revert");
        assert!(!repo.join(".git/medic-worktrees").exists());
        ctx.dry_run = false;
        for (with, expected) in [
            (json!({"repo": "nowhere", "analysis": analysis()}), "`repo`"),
            (
                json!({"repo": "app", "analysis": analysis(), "good": "no-such-ref"}),
                "`good`",
            ),
            (
                json!({"repo": "app", "analysis": analysis(), "strategy": "revert"}),
                "needs `good`",
            ),
            (
                json!({"repo": "app", "analysis": analysis(), "strategy": "rerun", "run_url": "https://example.com/x"}),
                "`run_url`",
            ),
            (
                json!({"repo": "app", "analysis": analysis(), "strategy": "llm-patch"}),
                "needs `model",
            ),
            (
                json!({"repo": "app", "analysis": analysis(),
                       "model": {"kind": "openai", "model": "gpt-4o-mini", "api_key_env": "NO_SUCH_KEY_VAR_FOR_MEDIC"}}),
                "NO_SUCH_KEY_VAR_FOR_MEDIC",
            ),
            (
                json!({"repo": "app", "analysis": analysis(), "allowed_paths": ["a["]}),
                "`allowed_paths`",
            ),
        ] {
            let err = GenerateFix.run(config(with), &ctx).await.unwrap_err();
            assert_eq!(err.kind, ErrorKind::Config, "{}", err.message);
            assert!(err.message.contains(expected), "{}", err.message);
        }
    }
}
