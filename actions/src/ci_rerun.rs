//! `ci.rerun`: carry out the rerun that `generate-fix` asks for, on whichever CI ran the
//! job: GitHub Actions (rerun the run's failed jobs), GitLab (retry the job) or
//! Buildkite (retry the job). The cheapest remedy for flaky and infrastructure failures,
//! with no code change.

use async_trait::async_trait;
use medic_engine::action::{
    Action, ErrorKind, OutputDoc, Outputs, StepContext, StepError, StepOutcome,
};
use medic_forge::Token;
use medic_forge::ci::{BUILDKITE_TOKEN_ENV, Buildkite, GITLAB_TOKEN_ENV, GitLab};
use medic_remediate::RerunRequest;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::github::{client, step_error};
use crate::support::{config_error, masked_error, masked_outputs};

/// The `ci.rerun` action.
#[derive(Debug, Clone, Copy, Default)]
pub struct CiRerun;

/// `with:` of a `ci.rerun` step.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CiRerunConfig {
    /// What to rerun: the `rerun` output of a `generate-fix` step, e.g.
    /// `{provider: github, host: github.com, owner: acme, repo: api, run_id: 30433642}`,
    /// `{provider: gitlab, host: gitlab.com, project: group/app, job_id: 8}` or
    /// `{provider: buildkite, org: acme, pipeline: app, build: 12, job_id: "0184…"}`.
    pub request: RerunRequest,
    /// GitHub's API for `github` requests (default https://api.github.com, or
    /// https://HOST/api/v3 for an Enterprise host).
    #[serde(default)]
    pub github_api: Option<String>,
    /// GitLab's base URL (default `https://<host>` of the request).
    #[serde(default)]
    pub gitlab_url: Option<String>,
    /// Buildkite's API (default https://api.buildkite.com).
    #[serde(default)]
    pub buildkite_api: Option<String>,
}

#[async_trait]
impl Action for CiRerun {
    type Config = CiRerunConfig;
    const NAME: &'static str = "ci.rerun";
    const DESCRIPTION: &'static str = "Reruns a failed CI job where it ran: the failed jobs \
        of a GitHub Actions run, a GitLab job, or a Buildkite job. Takes the `rerun` output \
        of `generate-fix` as it is. Tokens come from the step's env: GITHUB_TOKEN, \
        GITLAB_TOKEN, BUILDKITE_API_TOKEN (never logged). Refusals fail the step with the \
        service's reason; 5xx answers and lost connections are retried with backoff. In a \
        dry run nothing is rerun.";
    const EXAMPLE: &'static str = r#"rerun:
  uses: ci.rerun
  needs: [fix]
  if: "{{ steps.fix.outputs.rerun }}"
  with:
    request: "{{ steps.fix.outputs.rerun }}"
"#;
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc {
            name: "provider",
            kind: "string",
            description: "github, gitlab or buildkite.",
        },
        OutputDoc {
            name: "call",
            kind: "string",
            description: "The API call made (or, in a dry run, that would be made).",
        },
        OutputDoc {
            name: "web_url",
            kind: "string",
            description: "Where to watch the new job, when the service says (null otherwise).",
        },
    ];

    async fn run(
        &self,
        config: CiRerunConfig,
        ctx: &StepContext,
    ) -> Result<StepOutcome, StepError> {
        rerun(config, ctx)
            .await
            .map(|outputs| StepOutcome::Success(masked_outputs(&ctx.masker, outputs)))
            .map_err(|e| masked_error(&ctx.masker, e))
    }
}

async fn rerun(config: CiRerunConfig, ctx: &StepContext) -> Result<Outputs, StepError> {
    let token = |var: &str| Token::from_env(var, |k| ctx.env.get(k).cloned());
    let (provider, call) = match &config.request {
        RerunRequest::Github {
            owner,
            repo,
            run_id,
            job_id,
            ..
        } => {
            let run_id = run_id.ok_or_else(|| {
                config_error(format!(
                    "`request`: a GitHub rerun needs the run's id (job {} alone is not enough): give the run's URL to generate-fix",
                    job_id.map_or_else(|| "?".to_string(), |j| j.to_string())
                ))
            })?;
            (
                "github",
                format!("POST /repos/{owner}/{repo}/actions/runs/{run_id}/rerun-failed-jobs"),
            )
        }
        RerunRequest::Gitlab {
            project, job_id, ..
        } => (
            "gitlab",
            format!("POST /api/v4/projects/{project}/jobs/{job_id}/retry"),
        ),
        RerunRequest::Buildkite {
            org,
            pipeline,
            build,
            job_id,
        } => {
            let job = job_id.as_deref().ok_or_else(|| {
                config_error("`request`: a Buildkite retry needs the job: give the job's URL (…/builds/N#<job id>) to generate-fix")
            })?;
            (
                "buildkite",
                format!(
                    "PUT /v2/organizations/{org}/pipelines/{pipeline}/builds/{build}/jobs/{job}/retry"
                ),
            )
        }
    };
    let mut outputs = Outputs::new();
    outputs.insert("provider".into(), json!(provider));
    outputs.insert("call".into(), json!(call));
    outputs.insert("web_url".into(), Value::Null);
    if ctx.dry_run {
        ctx.log(format!("dry run: would call {call}"));
        return Ok(outputs);
    }
    match &config.request {
        RerunRequest::Github {
            owner,
            repo,
            run_id: Some(run_id),
            ..
        } => {
            client(config.github_api.as_deref(), None, ctx)?
                .rerun_failed_jobs(owner, repo, *run_id)
                .await
                .map_err(step_error)?;
            outputs.insert(
                "web_url".into(),
                json!(format!(
                    "https://github.com/{owner}/{repo}/actions/runs/{run_id}"
                )),
            );
        }
        RerunRequest::Gitlab {
            host,
            project,
            job_id,
        } => {
            let base = config
                .gitlab_url
                .clone()
                .unwrap_or_else(|| format!("https://{host}"));
            let job = GitLab::new(Some(&base), token(GITLAB_TOKEN_ENV))
                .map_err(step_error)?
                .retry_job(project, *job_id)
                .await
                .map_err(step_error)?;
            outputs.insert("web_url".into(), json!(job.web_url));
        }
        RerunRequest::Buildkite {
            org,
            pipeline,
            build,
            job_id: Some(job),
        } => {
            let job = Buildkite::new(config.buildkite_api.as_deref(), token(BUILDKITE_TOKEN_ENV))
                .map_err(step_error)?
                .retry_job(org, pipeline, *build, job)
                .await
                .map_err(step_error)?;
            outputs.insert("web_url".into(), json!(job.web_url));
        }
        // Refused above for want of an id.
        _ => {
            return Err(StepError::new(
                ErrorKind::Internal,
                "rerun request without an id",
            ));
        }
    }
    ctx.log(format!("called {call}"));
    Ok(outputs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::support::test_context;
    use medic_forge::standin::StandIn;

    fn config(request: Value, extra: Value) -> CiRerunConfig {
        let mut with = json!({ "request": request });
        if let (Some(with), Value::Object(extra)) = (with.as_object_mut(), extra) {
            with.extend(extra);
        }
        serde_json::from_value(with).unwrap()
    }

    #[tokio::test]
    async fn reruns_a_github_run_through_the_api() {
        let server = StandIn::start("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let ctx = test_context(&[], dir.path());
        let request = json!({"provider": "github", "host": "github.com", "owner": "acme", "repo": "api", "run_id": 30433642});
        let StepOutcome::Success(out) = CiRerun
            .run(config(request, json!({"github_api": server.url()})), &ctx)
            .await
            .unwrap()
        else {
            panic!("the rerun succeeds");
        };
        assert_eq!(out["provider"], "github");
        let calls = server.calls();
        assert!(
            calls.iter().any(|c| c.method == "POST"
                && c.path == "/repos/acme/api/actions/runs/30433642/rerun-failed-jobs"
                && c.status == 201),
            "{calls:?}"
        );
        server.shutdown().await;
    }

    #[tokio::test]
    async fn a_dry_run_calls_nothing_and_a_request_without_an_id_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut ctx = test_context(&[], dir.path());
        ctx.dry_run = true;
        let gitlab = json!({"provider": "gitlab", "host": "gitlab.example.com", "project": "group/app", "job_id": 8});
        let StepOutcome::Success(out) = CiRerun.run(config(gitlab, json!({})), &ctx).await.unwrap()
        else {
            panic!("a dry run succeeds");
        };
        assert_eq!(out["call"], "POST /api/v4/projects/group/app/jobs/8/retry");
        let buildkite =
            json!({"provider": "buildkite", "org": "acme", "pipeline": "app", "build": 12});
        let err = CiRerun
            .run(config(buildkite, json!({})), &ctx)
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Config);
        assert!(err.message.contains("needs the job"), "{}", err.message);
    }
}
