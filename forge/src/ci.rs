//! Rerunning failed CI jobs on GitLab and Buildkite, with the same errors and retries
//! as the GitHub client. (GitHub Actions reruns are [`crate::github::GitHub::rerun_failed_jobs`].)
//!
//! Plain reqwest: each service needs one call, and octocrab only speaks GitHub. The
//! URL is built from percent-encoded segments (a GitLab project path `group/sub/project`
//! becomes one `group%2Fsub%2Fproject` segment, as GitLab's API expects). The token goes
//! in a sensitive header value only, never in a URL or a message.

use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue};
use serde::Deserialize;

use crate::error::{ForgeError, Origin};
use crate::retry::{Answer, Call, RetryPolicy, describe_error, send_with_retries};
use crate::token::Token;
use crate::{check_name, encode};

/// gitlab.com, used when no base URL is given.
pub const GITLAB_URL: &str = "https://gitlab.com";
/// Buildkite's REST API.
pub const BUILDKITE_API_URL: &str = "https://api.buildkite.com";
/// The variable a GitLab token is read from by default.
pub const GITLAB_TOKEN_ENV: &str = "GITLAB_TOKEN";
/// The variable a Buildkite API token is read from by default.
pub const BUILDKITE_TOKEN_ENV: &str = "BUILDKITE_API_TOKEN";

/// A job started again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetriedJob {
    /// The new job's id (GitLab: a number; Buildkite: a UUID).
    pub id: String,
    /// Its state as the service reports it (`pending`, `scheduled`…).
    pub state: String,
    /// Where a human can watch it.
    pub web_url: Option<String>,
}

/// Shared plumbing of the two clients.
#[derive(Clone)]
struct Client {
    http: reqwest::Client,
    base_url: String,
    auth: Option<(HeaderName, HeaderValue)>,
    origin: Origin,
    retry: RetryPolicy,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.base_url)
            .field("token_source", &self.origin.token_source)
            .finish_non_exhaustive()
    }
}

impl Client {
    fn new(
        service: &'static str,
        default_env: &'static str,
        base_url: &str,
        token: Option<Token>,
        header: impl Fn(&str) -> (HeaderName, String),
    ) -> Result<Client, ForgeError> {
        let config = |message: String| ForgeError::Config { service, message };
        let base_url = base_url.trim().trim_end_matches('/').to_string();
        let url = reqwest::Url::parse(&base_url)
            .map_err(|e| config(format!("`{base_url}` is not a URL ({e})")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(config(format!("`{base_url}` is not an http(s) URL")));
        }
        let auth = match &token {
            None => None,
            Some(token) => {
                let (name, value) = header(token.expose());
                let mut value = HeaderValue::from_str(&value).map_err(|_| {
                    config("the token holds characters that cannot be sent in a header".into())
                })?;
                value.set_sensitive(true);
                Some((name, value))
            }
        };
        // reqwest is built without a default crypto provider and panics without one.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .user_agent(concat!("medic/", env!("CARGO_PKG_VERSION")))
            .timeout(Duration::from_secs(60))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| config(format!("cannot build the client: {}", describe_error(&e))))?;
        Ok(Client {
            http,
            base_url,
            auth,
            origin: Origin {
                service,
                token_source: token.as_ref().and_then(|t| t.source().map(str::to_string)),
                has_token: token.is_some(),
                default_env: default_env.to_string(),
            },
            retry: RetryPolicy::default(),
        })
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        what: String,
    ) -> Result<serde_json::Value, ForgeError> {
        let request = format!("{method} {path}");
        let url = format!("{}{path}", self.base_url);
        let call = Call {
            origin: &self.origin,
            request: request.clone(),
            what,
            // Both services refuse to retry a job twice (it is no longer failed), so a
            // repeated request cannot start two jobs.
            idempotent: true,
        };
        let answer = send_with_retries(&self.retry, call, || {
            let mut builder = self.http.request(method.clone(), &url);
            if let Some((name, value)) = &self.auth {
                builder = builder.header(name, value);
            }
            async move {
                let response = builder.send().await.map_err(|e| describe_error(&e))?;
                let status = response.status();
                let headers = response.headers().clone();
                let body = response.bytes().await.map_err(|e| describe_error(&e))?;
                Ok(Answer {
                    status,
                    headers,
                    body: body.to_vec(),
                })
            }
        })
        .await?;
        serde_json::from_slice(&answer.body).map_err(|e| ForgeError::BadResponse {
            service: self.origin.service,
            request,
            message: e.to_string(),
        })
    }
}

/// A GitLab client (gitlab.com or self-hosted), authenticated with `PRIVATE-TOKEN`.
#[derive(Debug, Clone)]
pub struct GitLab {
    client: Client,
}

impl GitLab {
    /// A client for the instance at `base_url` (default gitlab.com; no `/api/v4`).
    pub fn new(base_url: Option<&str>, token: Option<Token>) -> Result<GitLab, ForgeError> {
        let client = Client::new(
            "GitLab",
            GITLAB_TOKEN_ENV,
            base_url.unwrap_or(GITLAB_URL),
            token,
            |t| (HeaderName::from_static("private-token"), t.to_string()),
        )?;
        Ok(GitLab { client })
    }

    /// The same client with another retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> GitLab {
        self.client.retry = retry;
        self
    }

    /// `POST /api/v4/projects/{id}/jobs/{job_id}/retry`. `project` is the numeric id or
    /// the path (`group/subgroup/project`).
    pub async fn retry_job(&self, project: &str, job_id: u64) -> Result<RetriedJob, ForgeError> {
        let project = project.trim().trim_matches('/');
        if project.is_empty() {
            return Err(ForgeError::Config {
                service: "GitLab",
                message: "the project is empty: expected its id or its path (group/project)".into(),
            });
        }
        let path = format!("/api/v4/projects/{}/jobs/{job_id}/retry", encode(project));
        let job = self
            .client
            .send(
                reqwest::Method::POST,
                &path,
                format!("the job {job_id} of the project {project}"),
            )
            .await?;
        retried_job(&job, "status", "GitLab", &format!("POST {path}"))
    }
}

/// A Buildkite REST API client, authenticated with a Bearer API access token.
#[derive(Debug, Clone)]
pub struct Buildkite {
    client: Client,
}

impl Buildkite {
    /// A client for `base_url` (default `https://api.buildkite.com`).
    pub fn new(base_url: Option<&str>, token: Option<Token>) -> Result<Buildkite, ForgeError> {
        let client = Client::new(
            "Buildkite",
            BUILDKITE_TOKEN_ENV,
            base_url.unwrap_or(BUILDKITE_API_URL),
            token,
            |t| (reqwest::header::AUTHORIZATION, format!("Bearer {t}")),
        )?;
        Ok(Buildkite { client })
    }

    /// The same client with another retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Buildkite {
        self.client.retry = retry;
        self
    }

    /// `PUT /v2/organizations/{org}/pipelines/{pipeline}/builds/{number}/jobs/{job_id}/retry`.
    pub async fn retry_job(
        &self,
        org: &str,
        pipeline: &str,
        build: u64,
        job_id: &str,
    ) -> Result<RetriedJob, ForgeError> {
        check_name("Buildkite", "organization", org)?;
        check_name("Buildkite", "pipeline", pipeline)?;
        check_name("Buildkite", "job id", job_id)?;
        let path = format!(
            "/v2/organizations/{org}/pipelines/{pipeline}/builds/{build}/jobs/{job_id}/retry"
        );
        let job = self
            .client
            .send(
                reqwest::Method::PUT,
                &path,
                format!("the job {job_id} of build {build} in {org}/{pipeline}"),
            )
            .await?;
        retried_job(&job, "state", "Buildkite", &format!("PUT {path}"))
    }
}

fn retried_job(
    job: &serde_json::Value,
    state_field: &str,
    service: &'static str,
    request: &str,
) -> Result<RetriedJob, ForgeError> {
    #[derive(Deserialize)]
    struct Job {
        id: serde_json::Value,
        web_url: Option<String>,
    }
    let parsed: Job = serde_json::from_value(job.clone()).map_err(|e| ForgeError::BadResponse {
        service,
        request: request.to_string(),
        message: format!("expected a job with an `id`: {e}"),
    })?;
    let id = match parsed.id {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    };
    Ok(RetriedJob {
        id,
        state: job[state_field].as_str().unwrap_or("unknown").to_string(),
        web_url: parsed.web_url,
    })
}
