//! The GitHub client: the REST and GraphQL calls the open-pr flow, comments, reruns and
//! outcome tracking need, on octocrab.
//!
//! Requests go through octocrab's raw `_get`/`_post`/`_put`/`_patch` (its auth, base
//! URL, timeouts and TLS) so that this module sees every status and header: rate-limit
//! headers, `retry-after` and `x-accepted-github-permissions` turn into the messages of
//! [`ForgeError`], and [`RetryPolicy`] decides what is sent again. Answers are read
//! into octocrab's typed models. The base URL is configurable: api.github.com, GitHub
//! Enterprise (`https://HOST/api/v3`) or the local stand-in.

mod model;

use std::time::Duration;

use http::{Method, StatusCode};
use octocrab::Octocrab;
use octocrab::models::IssueState;
use octocrab::service::middleware::retry::RetryConfig;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// octocrab's models of what the client returns, so that callers need not depend on octocrab.
pub use octocrab::models::{Label, Repository, issues::Comment, pulls::PullRequest};

pub use model::{
    AutoMergeOutcome, ChecksSummary, MergeMethod, MergeResult, NewPull, PullOutcome, PullState,
    PullUpdate,
};

use crate::error::{ForgeError, Origin};
use crate::retry::{Answer, Call, RetryPolicy, describe_error, send_with_retries};
use crate::token::Token;
use crate::{check_name, encode};

/// api.github.com, used when no base URL is given.
pub const DEFAULT_API_URL: &str = "https://api.github.com";
/// The variable a GitHub token is read from unless a step names another.
pub const DEFAULT_TOKEN_ENV: &str = "GITHUB_TOKEN";
const SERVICE: &str = "GitHub";

/// A GitHub (or GitHub Enterprise, or stand-in) API client.
#[derive(Clone)]
pub struct GitHub {
    rest: Octocrab,
    // GitHub Enterprise serves GraphQL at /api/graphql, beside /api/v3, and octocrab
    // joins every path to its base: a second client rooted at /api reaches it.
    graphql: Octocrab,
    base_url: String,
    origin: Origin,
    retry: RetryPolicy,
}

impl std::fmt::Debug for GitHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHub")
            .field("base_url", &self.base_url)
            .field("token_source", &self.origin.token_source)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl GitHub {
    /// A client for `base_url` (default api.github.com; GitHub Enterprise is
    /// `https://HOST/api/v3`), authenticated with `token` when given. Must be called
    /// inside a tokio runtime (octocrab spawns its connection pool there).
    pub fn new(base_url: Option<&str>, token: Option<Token>) -> Result<GitHub, ForgeError> {
        if tokio::runtime::Handle::try_current().is_err() {
            // octocrab would panic; say what is wrong instead.
            return Err(ForgeError::Config {
                service: SERVICE,
                message: "the client must be built inside a tokio runtime".into(),
            });
        }
        // octocrab uses the process's rustls provider when one is installed; make sure
        // it is ring, as everywhere else in Medic (a no-op when `medic` installed it).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let base_url = base_url
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .unwrap_or(DEFAULT_API_URL)
            .trim_end_matches('/')
            .to_string();
        let config = |message: String| ForgeError::Config {
            service: SERVICE,
            message,
        };
        let parsed: http::Uri = base_url
            .parse()
            .map_err(|e| config(format!("`{base_url}` is not a URL ({e}); expected e.g. https://api.github.com or https://HOST/api/v3")))?;
        if !matches!(parsed.scheme_str(), Some("http" | "https")) || parsed.host().is_none() {
            return Err(config(format!(
                "`{base_url}` is not an http(s) URL; expected e.g. https://api.github.com or https://HOST/api/v3"
            )));
        }
        let graphql_base = match base_url.strip_suffix("/v3") {
            Some(api) if api.ends_with("/api") => api.to_string(),
            _ => base_url.clone(),
        };
        let build = |base: &str| {
            let mut builder = Octocrab::builder()
                .base_uri(base)
                .map_err(|e| config(format!("`{base}`: {}", describe_error(&e))))?
                // Retries are ours (RetryPolicy): octocrab's would retry POSTs on 5xx and
                // hide rate-limit headers from the messages.
                .add_retry_config(RetryConfig::None)
                .set_connect_timeout(Some(Duration::from_secs(10)))
                .set_read_timeout(Some(Duration::from_secs(60)));
            if let Some(token) = &token {
                builder = builder.personal_token(token.expose().to_string());
            }
            builder
                .build()
                .map_err(|e| config(format!("cannot build the client: {}", describe_error(&e))))
        };
        Ok(GitHub {
            rest: build(&base_url)?,
            graphql: build(&graphql_base)?,
            origin: Origin {
                service: SERVICE,
                token_source: token.as_ref().and_then(|t| t.source().map(str::to_string)),
                has_token: token.is_some(),
                default_env: DEFAULT_TOKEN_ENV.to_string(),
            },
            base_url,
            retry: RetryPolicy::default(),
        })
    }

    /// The same client with another retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> GitHub {
        self.retry = retry;
        self
    }

    /// Names the variable that a 401 without a token tells the user to set (default
    /// `GITHUB_TOKEN`), for callers that read the token from another one.
    pub fn with_token_env(mut self, env_var: &str) -> GitHub {
        self.origin.default_env = env_var.to_string();
        self
    }

    /// The API base URL requests go to.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `GET /repos/{owner}/{repo}`: the repository (its default branch, its merge settings).
    pub async fn get_repo(&self, owner: &str, repo: &str) -> Result<Repository, ForgeError> {
        let path = repo_path(owner, repo)?;
        let what = format!("the repository {owner}/{repo}");
        self.json(Method::GET, &path, None, &what, true).await
    }

    /// Every pull request (open, closed or merged) whose head is `owner:branch`.
    pub async fn find_pulls_by_head(
        &self,
        owner: &str,
        repo: &str,
        branch: &str,
    ) -> Result<Vec<PullRequest>, ForgeError> {
        let path = format!(
            "{}/pulls?state=all&per_page=100&head={}",
            repo_path(owner, repo)?,
            encode(&format!("{owner}:{branch}"))
        );
        let what = format!("the repository {owner}/{repo}");
        self.json(Method::GET, &path, None, &what, true).await
    }

    /// `GET /repos/{owner}/{repo}/pulls/{number}`.
    pub async fn get_pull(
        &self,
        owner: &str,
        repo: &str,
        number: u64,
    ) -> Result<PullRequest, ForgeError> {
        let path = format!("{}/pulls/{number}", repo_path(owner, repo)?);
        self.json(
            Method::GET,
            &path,
            None,
            &pull_what(owner, repo, number),
            true,
        )
        .await
    }

    /// Opens a pull request. GitHub refuses (422) a second open one for the same head.
    pub async fn create_pull(
        &self,
        owner: &str,
        repo: &str,
        pull: &NewPull,
    ) -> Result<PullRequest, ForgeError> {
        let path = format!("{}/pulls", repo_path(owner, repo)?);
        let body = serde_json::to_value(pull).unwrap_or_default();
        // A retried create after a lost answer meets the 422 "already exists", never a
        // duplicate: safe to send again.
        self.json(
            Method::POST,
            &path,
            Some(&body),
            &format!("the repository {owner}/{repo}"),
            true,
        )
        .await
    }

    /// Changes a pull request's title, body, state (close or reopen) or base.
    pub async fn update_pull(
        &self,
        owner: &str,
        repo: &str,
        number: u64,
        update: &PullUpdate,
    ) -> Result<PullRequest, ForgeError> {
        let path = format!("{}/pulls/{number}", repo_path(owner, repo)?);
        let body = serde_json::to_value(update).unwrap_or_default();
        self.json(
            Method::PATCH,
            &path,
            Some(&body),
            &pull_what(owner, repo, number),
            true,
        )
        .await
    }

    /// Adds labels to an issue or pull request (creating unknown labels, as GitHub does);
    /// returns all of its labels.
    pub async fn add_labels(
        &self,
        owner: &str,
        repo: &str,
        issue_number: u64,
        labels: &[String],
    ) -> Result<Vec<Label>, ForgeError> {
        let path = format!("{}/issues/{issue_number}/labels", repo_path(owner, repo)?);
        let body = json!({ "labels": labels });
        self.json(
            Method::POST,
            &path,
            Some(&body),
            &issue_what(owner, repo, issue_number),
            true,
        )
        .await
    }

    /// Asks users and teams (slugs) to review a pull request.
    pub async fn request_reviewers(
        &self,
        owner: &str,
        repo: &str,
        number: u64,
        users: &[String],
        teams: &[String],
    ) -> Result<PullRequest, ForgeError> {
        let path = format!(
            "{}/pulls/{number}/requested_reviewers",
            repo_path(owner, repo)?
        );
        let body = json!({ "reviewers": users, "team_reviewers": teams });
        self.json(
            Method::POST,
            &path,
            Some(&body),
            &pull_what(owner, repo, number),
            true,
        )
        .await
    }

    /// Posts a comment on an issue or pull request. Not retried after a 5xx or a lost
    /// answer: GitHub may have posted it, and a second would be posted twice.
    pub async fn comment(
        &self,
        owner: &str,
        repo: &str,
        issue_number: u64,
        body: &str,
    ) -> Result<Comment, ForgeError> {
        let path = format!("{}/issues/{issue_number}/comments", repo_path(owner, repo)?);
        let body = json!({ "body": body });
        self.json(
            Method::POST,
            &path,
            Some(&body),
            &issue_what(owner, repo, issue_number),
            false,
        )
        .await
    }

    /// Turns on auto-merge (GraphQL `enablePullRequestAutoMerge`), so GitHub merges the
    /// pull request once its required checks pass. When the repository does not allow
    /// auto-merge, or the pull request can already be merged, says so instead of failing:
    /// the caller may then use [`GitHub::checks`] and [`GitHub::merge_pull`].
    pub async fn enable_auto_merge(
        &self,
        pull: &PullRequest,
        method: MergeMethod,
    ) -> Result<AutoMergeOutcome, ForgeError> {
        let node_id = pull
            .node_id
            .as_deref()
            .ok_or_else(|| ForgeError::BadResponse {
                service: SERVICE,
                request: format!("pull request #{}", pull.number),
                message: "the pull request has no node_id, which GraphQL needs".into(),
            })?;
        let query = "mutation($pullRequestId: ID!, $mergeMethod: PullRequestMergeMethod) { \
            enablePullRequestAutoMerge(input: {pullRequestId: $pullRequestId, mergeMethod: $mergeMethod}) { \
            pullRequest { number autoMergeRequest { mergeMethod enabledAt } } } }";
        let body = json!({
            "query": query,
            "variables": { "pullRequestId": node_id, "mergeMethod": method.graphql_name() },
        });
        let answer = self
            .send(
                &self.graphql,
                Method::POST,
                "/graphql",
                Some(&body),
                &format!("pull request #{}", pull.number),
                true,
            )
            .await?;
        let value: Value = parse(&answer, "POST /graphql")?;
        let messages: Vec<String> = value
            .get("errors")
            .and_then(Value::as_array)
            .map(|errors| {
                errors
                    .iter()
                    .filter_map(|e| e.get("message").and_then(Value::as_str))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        if messages.is_empty() {
            return Ok(AutoMergeOutcome::Enabled { method });
        }
        let joined = messages.join("; ");
        let lower = joined.to_ascii_lowercase();
        if lower.contains("auto merge is not allowed")
            || lower.contains("auto-merge is not allowed")
        {
            Ok(AutoMergeOutcome::NotAllowed { reason: joined })
        } else if lower.contains("clean status") {
            Ok(AutoMergeOutcome::AlreadyMergeable { reason: joined })
        } else {
            Err(ForgeError::GraphQl {
                service: SERVICE,
                operation: "enablePullRequestAutoMerge".into(),
                messages,
            })
        }
    }

    /// The check runs of a commit (`GET /commits/{ref}/check-runs`, every page): which
    /// passed, which failed, which are still running.
    pub async fn checks(
        &self,
        owner: &str,
        repo: &str,
        git_ref: &str,
    ) -> Result<ChecksSummary, ForgeError> {
        let base = format!(
            "{}/commits/{}/check-runs",
            repo_path(owner, repo)?,
            encode(git_ref)
        );
        let what = format!("the commit {git_ref} in {owner}/{repo}");
        let mut summary = ChecksSummary::default();
        let mut seen = 0u64;
        for page in 1.. {
            let path = format!("{base}?per_page=100&page={page}");
            let list: octocrab::models::checks::ListCheckRuns =
                self.json(Method::GET, &path, None, &what, true).await?;
            let count = list.check_runs.len() as u64;
            seen += count;
            for run in list.check_runs {
                summary.add(run.name, run.conclusion.as_deref());
            }
            if count == 0 || seen >= list.total_count {
                break;
            }
        }
        Ok(summary)
    }

    /// `PUT /pulls/{number}/merge`. With `sha`, GitHub merges only if the head is still
    /// that commit (409 otherwise), so what was checked is what is merged.
    pub async fn merge_pull(
        &self,
        owner: &str,
        repo: &str,
        number: u64,
        method: MergeMethod,
        sha: Option<&str>,
    ) -> Result<MergeResult, ForgeError> {
        let path = format!("{}/pulls/{number}/merge", repo_path(owner, repo)?);
        let mut body = json!({ "merge_method": method.rest_name() });
        if let Some(sha) = sha {
            body["sha"] = Value::String(sha.to_string());
        }
        let merge: octocrab::models::pulls::Merge = self
            .json(
                Method::PUT,
                &path,
                Some(&body),
                &pull_what(owner, repo, number),
                true,
            )
            .await?;
        Ok(MergeResult {
            merged: merge.merged,
            sha: merge.sha,
            message: merge.message.unwrap_or_default(),
        })
    }

    /// What became of a pull request: still open, merged (when, as which commit) or
    /// closed without merging.
    pub async fn pull_outcome(
        &self,
        owner: &str,
        repo: &str,
        number: u64,
    ) -> Result<PullOutcome, ForgeError> {
        let pull = self.get_pull(owner, repo, number).await?;
        Ok(outcome_of(&pull))
    }

    /// Reruns the failed jobs of a GitHub Actions workflow run (201 Created).
    pub async fn rerun_failed_jobs(
        &self,
        owner: &str,
        repo: &str,
        run_id: u64,
    ) -> Result<(), ForgeError> {
        let path = format!(
            "{}/actions/runs/{run_id}/rerun-failed-jobs",
            repo_path(owner, repo)?
        );
        // A second rerun request for the same run is refused while it runs: harmless.
        self.send(
            &self.rest,
            Method::POST,
            &path,
            Some(&json!({})),
            &format!("the workflow run {run_id} in {owner}/{repo}"),
            true,
        )
        .await
        .map(|_| ())
    }

    async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        what: &str,
        idempotent: bool,
    ) -> Result<T, ForgeError> {
        let request = format!("{method} {}", strip_query(path));
        let answer = self
            .send(&self.rest, method, path, body, what, idempotent)
            .await?;
        parse(&answer, &request)
    }

    async fn send(
        &self,
        client: &Octocrab,
        method: Method,
        path: &str,
        body: Option<&Value>,
        what: &str,
        idempotent: bool,
    ) -> Result<Answer, ForgeError> {
        let call = Call {
            origin: &self.origin,
            request: format!("{method} {}", strip_query(path)),
            what: what.to_string(),
            idempotent,
        };
        send_with_retries(&self.retry, call, || {
            let method = method.clone();
            async move {
                let response = match method {
                    Method::GET => client._get(path).await,
                    Method::POST => client._post(path, body).await,
                    Method::PUT => client._put(path, body).await,
                    Method::PATCH => client._patch(path, body).await,
                    _ => client._delete(path, body).await,
                }
                .map_err(|e| describe_error(&e))?;
                let status = response.status();
                let headers = response.headers().clone();
                let body = client
                    .body_to_string(response)
                    .await
                    .map_err(|e| describe_error(&e))?;
                Ok(Answer {
                    status,
                    headers,
                    body: body.into_bytes(),
                })
            }
        })
        .await
    }
}

/// What a pull request's state says about its fate.
pub fn outcome_of(pull: &PullRequest) -> PullOutcome {
    match (&pull.merged_at, &pull.state) {
        (Some(at), _) => PullOutcome::Merged {
            at: *at,
            sha: pull.merge_commit_sha.clone(),
        },
        (None, Some(IssueState::Closed)) => PullOutcome::Closed { at: pull.closed_at },
        _ => PullOutcome::Open,
    }
}

fn parse<T: DeserializeOwned>(answer: &Answer, request: &str) -> Result<T, ForgeError> {
    let body: &[u8] = if answer.body.is_empty() || answer.status == StatusCode::NO_CONTENT {
        b"null"
    } else {
        &answer.body
    };
    serde_json::from_slice(body).map_err(|e| ForgeError::BadResponse {
        service: SERVICE,
        request: request.to_string(),
        message: e.to_string(),
    })
}

fn strip_query(path: &str) -> &str {
    path.split('?').next().unwrap_or(path)
}

fn repo_path(owner: &str, repo: &str) -> Result<String, ForgeError> {
    check_name(SERVICE, "owner", owner)?;
    check_name(SERVICE, "repository", repo)?;
    Ok(format!("/repos/{}/{}", encode(owner), encode(repo)))
}

fn pull_what(owner: &str, repo: &str, number: u64) -> String {
    format!("the pull request {owner}/{repo}#{number}")
}

fn issue_what(owner: &str, repo: &str, number: u64) -> String {
    format!("the issue or pull request {owner}/{repo}#{number}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_a_runtime_is_an_error_not_a_panic() {
        let err = GitHub::new(None, None).unwrap_err();
        assert!(err.to_string().contains("tokio runtime"), "{err}");
    }

    #[tokio::test]
    async fn bad_base_urls_are_config_errors() {
        let err = GitHub::new(Some("ftp://example.com"), None).unwrap_err();
        assert!(err.to_string().contains("is not an http(s) URL"), "{err}");
        let err = GitHub::new(Some("not a url"), None).unwrap_err();
        assert!(err.to_string().contains("expected e.g."), "{err}");
    }

    #[tokio::test]
    async fn enterprise_graphql_lives_beside_v3() {
        let gh = GitHub::new(Some("https://ghe.example.com/api/v3/"), None).unwrap();
        assert_eq!(gh.base_url(), "https://ghe.example.com/api/v3");
        assert!(format!("{gh:?}").contains("ghe.example.com"));
    }

    #[test]
    fn names_are_checked_before_any_request() {
        let err = repo_path("octo org", "r").unwrap_err();
        assert_eq!(
            err.to_string(),
            "GitHub: `octo org` is not a valid owner name (letters, digits, `-`, `_` and `.`)"
        );
    }
}
