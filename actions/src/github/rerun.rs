//! `github.rerun-failed-jobs`: rerun the failed jobs of a GitHub Actions workflow run,
//! the cheapest remedy for a flaky failure.

use async_trait::async_trait;
use medic_engine::action::{Action, OutputDoc, Outputs, StepContext, StepError, StepOutcome};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::{client, split_repository, step_error};
use crate::support::{masked_error, masked_outputs};

/// The `github.rerun-failed-jobs` action.
#[derive(Debug, Clone, Copy, Default)]
pub struct RerunFailedJobs;

/// `with:` of a `github.rerun-failed-jobs` step.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RerunConfig {
    /// The repository, `owner/name`.
    pub repository: String,
    /// The workflow run's id (the number in `.../actions/runs/<id>`).
    pub run_id: u64,
    /// The API base URL: `https://api.github.com` (default), `https://HOST/api/v3` for
    /// GitHub Enterprise, or a local stand-in.
    #[serde(default)]
    pub api_url: Option<String>,
    /// The env variable holding the token (default `GITHUB_TOKEN`), usually a workflow
    /// secret. The token needs write access to Actions.
    #[serde(default)]
    pub token_env: Option<String>,
}

#[async_trait]
impl Action for RerunFailedJobs {
    type Config = RerunConfig;
    const NAME: &'static str = "github.rerun-failed-jobs";
    const DESCRIPTION: &'static str = "Reruns the failed jobs (and the jobs that depend on \
        them) of a GitHub Actions workflow run. The token is read from the step's env \
        (`token_env`, default `GITHUB_TOKEN`) and never logged. A refusal (401, 403, 404, \
        rate limit) fails the step with the `failed` kind and GitHub's reason; 5xx answers \
        and lost connections are retried with backoff, then fail with `network` or `failed`. \
        Under `--dry-run` nothing is rerun; the step says what it would rerun.";
    const EXAMPLE: &'static str = r#"rerun:
  uses: github.rerun-failed-jobs
  with:
    repository: acme/api
    run_id: 30433642
"#;
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc {
            name: "run_id",
            kind: "number",
            description: "The workflow run whose failed jobs were rerun.",
        },
        OutputDoc {
            name: "dry_run",
            kind: "boolean",
            description: "True when nothing was rerun.",
        },
    ];

    async fn run(&self, config: RerunConfig, ctx: &StepContext) -> Result<StepOutcome, StepError> {
        rerun(config, ctx)
            .await
            .map(|outputs| StepOutcome::Success(masked_outputs(&ctx.masker, outputs)))
            .map_err(|e| masked_error(&ctx.masker, e))
    }
}

async fn rerun(config: RerunConfig, ctx: &StepContext) -> Result<Outputs, StepError> {
    let (owner, repo) = split_repository(&config.repository)?;
    let mut outputs = Outputs::new();
    outputs.insert("run_id".into(), Value::from(config.run_id));
    if ctx.dry_run {
        ctx.log(format!(
            "dry run: would rerun the failed jobs of run {} in {owner}/{repo}",
            config.run_id
        ));
        outputs.insert("dry_run".into(), Value::Bool(true));
        return Ok(outputs);
    }
    let github = client(config.api_url.as_deref(), config.token_env.as_deref(), ctx)?;
    github
        .rerun_failed_jobs(&owner, &repo, config.run_id)
        .await
        .map_err(step_error)?;
    ctx.log(format!(
        "rerunning the failed jobs of run {} in {owner}/{repo}",
        config.run_id
    ));
    outputs.insert("dry_run".into(), Value::Bool(false));
    Ok(outputs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::support::{example_config, test_context};
    use medic_engine::action::ErrorKind;
    use medic_forge::standin::{StandIn, StandInOptions};

    const CANARY: &str = "ghp_CANARY_rerun_e99a18c428cb38d5";

    fn config(api_url: &str) -> RerunConfig {
        RerunConfig {
            repository: "acme/api".into(),
            run_id: 30433642,
            api_url: Some(api_url.into()),
            token_env: None,
        }
    }

    #[test]
    fn example_config_parses() {
        assert_eq!(example_config::<RerunFailedJobs>().run_id, 30433642);
    }

    #[tokio::test]
    async fn reruns_with_the_token_from_the_env() {
        let server = StandIn::start_with(
            "127.0.0.1:0".parse().unwrap(),
            StandInOptions {
                token: Some(CANARY.into()),
                ..StandInOptions::default()
            },
        )
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut ctx = test_context(&[CANARY], dir.path());
        ctx.env.insert("GITHUB_TOKEN".into(), CANARY.into());
        let StepOutcome::Success(out) = RerunFailedJobs
            .run(config(server.url()), &ctx)
            .await
            .unwrap()
        else {
            panic!("expected success");
        };
        assert_eq!(out["run_id"], 30433642);
        assert_eq!(out["dry_run"], false);
        let calls = server.calls();
        assert_eq!(calls.len(), 1);
        assert_eq!(
            calls[0].path,
            "/repos/acme/api/actions/runs/30433642/rerun-failed-jobs"
        );
        assert_eq!(calls[0].status, 201);

        ctx.env.insert("GITHUB_TOKEN".into(), "ghp_wrong".into());
        let err = RerunFailedJobs
            .run(config(server.url()), &ctx)
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Failed);
        assert!(
            err.message.contains("the token in GITHUB_TOKEN is invalid"),
            "{}",
            err.message
        );
    }

    #[tokio::test]
    async fn a_dry_run_reruns_nothing() {
        let server = StandIn::start("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut ctx = test_context(&[], dir.path());
        ctx.dry_run = true;
        let StepOutcome::Success(out) = RerunFailedJobs
            .run(config(server.url()), &ctx)
            .await
            .unwrap()
        else {
            panic!("expected success");
        };
        assert_eq!(out["dry_run"], true);
        assert!(server.calls().is_empty());
        let mut bad = config(server.url());
        bad.repository = "acme".into();
        let err = RerunFailedJobs.run(bad, &ctx).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Config);
    }
}
