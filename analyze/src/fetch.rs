//! Fetching logs from CI systems by the URL a user copies from the browser: a
//! GitHub Actions run or job, a GitLab job (gitlab.com or self-hosted), a
//! Buildkite build.
//!
//! The logic — which URL shapes are understood, which API calls they become,
//! which token each needs, which jobs of a run or build to fetch — lives here and
//! is tested; the HTTP itself goes through the [`Transport`] trait, which the
//! binary implements with its HTTP client. That keeps this crate free of a TLS
//! stack and an async runtime, and lets tests answer with recorded API payloads.
//! Tokens are read through a lookup function (the environment in the binary) and
//! never appear in errors or `Debug` output.

use std::fmt;

use serde_json::Value;

/// The environment variables [`fetch_logs`] reads: the tokens, and
/// `MEDIC_BUILDKITE_API_URL`, which points Buildkite calls at another API base
/// (a proxy, or a local server in tests) instead of `https://api.buildkite.com`.
pub const ENV_VARS: &[&str] = &[
    "GITHUB_TOKEN",
    "GITLAB_TOKEN",
    "CI_JOB_TOKEN",
    "BUILDKITE_API_TOKEN",
    "MEDIC_BUILDKITE_API_URL",
];

/// What a URL points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A GitHub Actions workflow run: all its failed jobs.
    GithubRun {
        /// API base, `https://api.github.com` or `https://HOST/api/v3`.
        api: String,
        /// Repository owner.
        owner: String,
        /// Repository name.
        repo: String,
        /// Run id.
        run_id: u64,
    },
    /// One GitHub Actions job.
    GithubJob {
        /// API base.
        api: String,
        /// Repository owner.
        owner: String,
        /// Repository name.
        repo: String,
        /// Job id.
        job_id: u64,
    },
    /// A GitLab job.
    GitlabJob {
        /// Instance base URL, `https://gitlab.com` or a self-hosted one.
        base: String,
        /// Project path (`group/subgroup/project`).
        project: String,
        /// Job id.
        job_id: u64,
    },
    /// A Buildkite build: its script jobs.
    BuildkiteBuild {
        /// Organization slug.
        org: String,
        /// Pipeline slug.
        pipeline: String,
        /// Build number.
        number: u64,
    },
}

/// Errors fetching logs. None of them contains a token.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The URL is not one we know how to fetch.
    #[error(
        "cannot fetch logs from {url}: expected a GitHub Actions run or job \
         (https://github.com/OWNER/REPO/actions/runs/ID[/job/ID]), a GitLab job \
         (https://HOST/GROUP/PROJECT/-/jobs/ID) or a Buildkite build \
         (https://buildkite.com/ORG/PIPELINE/builds/N)"
    )]
    UnknownUrl {
        /// The URL as given.
        url: String,
    },
    /// The token the API needs is not set.
    #[error("{service} needs a token: set {variable}")]
    MissingToken {
        /// GitHub, GitLab or Buildkite.
        service: &'static str,
        /// The environment variable(s) to set.
        variable: &'static str,
    },
    /// The API answered with an error status.
    #[error("{url} answered HTTP {status}{hint}")]
    Status {
        /// The request URL (no credentials in it).
        url: String,
        /// HTTP status.
        status: u16,
        /// What to check.
        hint: &'static str,
    },
    /// The transport failed (DNS, TLS, timeout).
    #[error("{url}: {message}")]
    Transport {
        /// The request URL.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The API's answer is not what its documentation describes.
    #[error("{url}: unexpected answer: {message}")]
    BadPayload {
        /// The request URL.
        url: String,
        /// What was wrong.
        message: String,
    },
}

/// An HTTP GET to make. Header values may hold a token: `Debug` hides them.
#[derive(Clone, PartialEq, Eq)]
pub struct Request {
    /// The URL.
    pub url: String,
    /// Headers (name, value).
    pub headers: Vec<(String, String)>,
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("Request")
            .field("url", &self.url)
            .field("headers", &names)
            .finish()
    }
}

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code (after following redirects).
    pub status: u16,
    /// Body bytes.
    pub body: Vec<u8>,
}

/// Performs GET requests, following redirects (GitHub answers job logs with a
/// 302 to a signed URL that must be fetched without the token).
pub trait Transport {
    /// Sends the request.
    fn get(&self, request: &Request) -> Result<Response, String>;
}

/// One fetched log.
#[derive(Debug, Clone)]
pub struct FetchedLog {
    /// What it is (job name).
    pub name: String,
    /// The raw log bytes (plain text; pass them to the reader).
    pub bytes: Vec<u8>,
}

/// Parses a CI URL.
pub fn parse_url(url: &str) -> Result<Target, FetchError> {
    let unknown = || FetchError::UnknownUrl {
        url: url.to_string(),
    };
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(unknown)?;
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let (host, path) = rest.split_once('/').ok_or_else(unknown)?;
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let scheme = if url.starts_with("http://") {
        "http"
    } else {
        "https"
    };
    let number = |s: &str| s.parse::<u64>().map_err(|_| unknown());

    if host == "buildkite.com" {
        return match parts.as_slice() {
            [org, pipeline, "builds", n, ..] => Ok(Target::BuildkiteBuild {
                org: org.to_string(),
                pipeline: pipeline.to_string(),
                number: number(n)?,
            }),
            _ => Err(unknown()),
        };
    }
    // GitLab: `/<project path>/-/jobs/<id>` on any host.
    if let Some(dash) = parts.iter().position(|p| *p == "-") {
        if let (["jobs", id, ..], true) = (&parts[dash + 1..], dash >= 2) {
            return Ok(Target::GitlabJob {
                base: format!("{scheme}://{host}"),
                project: parts[..dash].join("/"),
                job_id: number(id)?,
            });
        }
        return Err(unknown());
    }
    // GitHub (github.com or Enterprise Server).
    let api = if host == "github.com" {
        "https://api.github.com".to_string()
    } else {
        format!("{scheme}://{host}/api/v3")
    };
    match parts.as_slice() {
        [owner, repo, "actions", "runs", _run, "job", job, ..] => Ok(Target::GithubJob {
            api,
            owner: owner.to_string(),
            repo: repo.to_string(),
            job_id: number(job)?,
        }),
        [owner, repo, "actions", "runs", run, ..] => Ok(Target::GithubRun {
            api,
            owner: owner.to_string(),
            repo: repo.to_string(),
            run_id: number(run)?,
        }),
        [owner, repo, "runs", job, ..] => Ok(Target::GithubJob {
            api,
            owner: owner.to_string(),
            repo: repo.to_string(),
            job_id: number(job)?,
        }),
        _ => Err(unknown()),
    }
}

/// Fetches the logs a target points at: a job's log, a run's failed jobs (all
/// jobs if none failed), a build's failed script jobs (all script jobs if none
/// failed; waiters, triggers and block steps have no log). `env` looks up
/// `GITHUB_TOKEN`, `GITLAB_TOKEN` (or `CI_JOB_TOKEN`) and `BUILDKITE_API_TOKEN`.
pub fn fetch_logs(
    target: &Target,
    env: &dyn Fn(&str) -> Option<String>,
    transport: &dyn Transport,
) -> Result<Vec<FetchedLog>, FetchError> {
    match target {
        Target::GithubJob {
            api,
            owner,
            repo,
            job_id,
        } => {
            let headers = github_headers(env)?;
            let bytes = get(
                transport,
                &format!("{api}/repos/{owner}/{repo}/actions/jobs/{job_id}/logs"),
                &headers,
                GITHUB_HINT,
            )?;
            Ok(vec![FetchedLog {
                name: format!("job {job_id}"),
                bytes,
            }])
        }
        Target::GithubRun {
            api,
            owner,
            repo,
            run_id,
        } => {
            let headers = github_headers(env)?;
            let url = format!(
                "{api}/repos/{owner}/{repo}/actions/runs/{run_id}/jobs?filter=latest&per_page=100"
            );
            let jobs = get_json(transport, &url, &headers, GITHUB_HINT)?;
            let jobs = jobs["jobs"]
                .as_array()
                .ok_or_else(|| FetchError::BadPayload {
                    url: url.clone(),
                    message: "no `jobs` array".into(),
                })?;
            let failed: Vec<&Value> = jobs
                .iter()
                .filter(|j| matches!(j["conclusion"].as_str(), Some("failure" | "timed_out")))
                .collect();
            let chosen: Vec<&Value> = if failed.is_empty() {
                jobs.iter()
                    .filter(|j| j["conclusion"].as_str() != Some("skipped"))
                    .collect()
            } else {
                failed
            };
            let mut out = Vec::new();
            for job in chosen {
                let Some(id) = job["id"].as_u64() else {
                    continue;
                };
                let bytes = get(
                    transport,
                    &format!("{api}/repos/{owner}/{repo}/actions/jobs/{id}/logs"),
                    &headers,
                    GITHUB_HINT,
                )?;
                out.push(FetchedLog {
                    name: job["name"].as_str().unwrap_or("job").to_string(),
                    bytes,
                });
            }
            Ok(out)
        }
        Target::GitlabJob {
            base,
            project,
            job_id,
        } => {
            let header = match (env("GITLAB_TOKEN"), env("CI_JOB_TOKEN")) {
                (Some(t), _) => ("PRIVATE-TOKEN".to_string(), t),
                (None, Some(t)) => ("JOB-TOKEN".to_string(), t),
                (None, None) => {
                    return Err(FetchError::MissingToken {
                        service: "GitLab",
                        variable: "GITLAB_TOKEN (or CI_JOB_TOKEN inside GitLab CI)",
                    });
                }
            };
            let url = format!(
                "{base}/api/v4/projects/{}/jobs/{job_id}/trace",
                percent_encode(project)
            );
            let bytes = get(transport, &url, &[header], GITLAB_HINT)?;
            Ok(vec![FetchedLog {
                name: format!("{project} job {job_id}"),
                bytes,
            }])
        }
        Target::BuildkiteBuild {
            org,
            pipeline,
            number,
        } => {
            let token = env("BUILDKITE_API_TOKEN").ok_or(FetchError::MissingToken {
                service: "Buildkite",
                variable: "BUILDKITE_API_TOKEN",
            })?;
            let headers = vec![("Authorization".to_string(), format!("Bearer {token}"))];
            let api = env("MEDIC_BUILDKITE_API_URL")
                .unwrap_or_else(|| "https://api.buildkite.com".to_string());
            let url = format!(
                "{}/v2/organizations/{org}/pipelines/{pipeline}/builds/{number}",
                api.trim_end_matches('/')
            );
            let build = get_json(transport, &url, &headers, BUILDKITE_HINT)?;
            let jobs = build["jobs"]
                .as_array()
                .ok_or_else(|| FetchError::BadPayload {
                    url: url.clone(),
                    message: "no `jobs` array".into(),
                })?;
            let scripts: Vec<&Value> = jobs.iter().filter(|j| j["type"] == "script").collect();
            let failed: Vec<&Value> = scripts
                .iter()
                .copied()
                .filter(|j| matches!(j["state"].as_str(), Some("failed" | "timed_out" | "broken")))
                .collect();
            let chosen = if failed.is_empty() { scripts } else { failed };
            let mut out = Vec::new();
            for job in chosen {
                let log_url = match job["raw_log_url"].as_str() {
                    Some(u) => u.to_string(),
                    None => match job["id"].as_str() {
                        Some(id) => format!("{url}/jobs/{id}/log.txt"),
                        None => continue,
                    },
                };
                let bytes = get(transport, &log_url, &headers, BUILDKITE_HINT)?;
                out.push(FetchedLog {
                    name: job["name"].as_str().unwrap_or("job").to_string(),
                    bytes,
                });
            }
            Ok(out)
        }
    }
}

const GITHUB_HINT: &str = " (check GITHUB_TOKEN: it needs `actions: read` on the repository)";
const GITLAB_HINT: &str = " (check GITLAB_TOKEN: it needs the read_api scope on the project)";
const BUILDKITE_HINT: &str =
    " (check BUILDKITE_API_TOKEN: it needs read_builds and read_build_logs)";

fn github_headers(
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>, FetchError> {
    let token = env("GITHUB_TOKEN").ok_or(FetchError::MissingToken {
        service: "GitHub",
        variable: "GITHUB_TOKEN",
    })?;
    Ok(vec![
        ("Authorization".to_string(), format!("Bearer {token}")),
        (
            "Accept".to_string(),
            "application/vnd.github+json".to_string(),
        ),
        ("X-GitHub-Api-Version".to_string(), "2022-11-28".to_string()),
    ])
}

fn get(
    transport: &dyn Transport,
    url: &str,
    headers: &[(String, String)],
    hint: &'static str,
) -> Result<Vec<u8>, FetchError> {
    let request = Request {
        url: url.to_string(),
        headers: headers.to_vec(),
    };
    let response = transport
        .get(&request)
        .map_err(|message| FetchError::Transport {
            url: url.to_string(),
            message,
        })?;
    if !(200..300).contains(&response.status) {
        return Err(FetchError::Status {
            url: url.to_string(),
            status: response.status,
            hint: if matches!(response.status, 401 | 403 | 404) {
                hint
            } else {
                ""
            },
        });
    }
    Ok(response.body)
}

fn get_json(
    transport: &dyn Transport,
    url: &str,
    headers: &[(String, String)],
    hint: &'static str,
) -> Result<Value, FetchError> {
    let body = get(transport, url, headers, hint)?;
    serde_json::from_slice(&body).map_err(|e| FetchError::BadPayload {
        url: url.to_string(),
        message: e.to_string(),
    })
}

/// Percent-encodes a GitLab project path for `/projects/:id`.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::HashMap;

    #[test]
    fn url_shapes() {
        assert_eq!(
            parse_url("https://github.com/acme/app/actions/runs/123/job/456").unwrap(),
            Target::GithubJob {
                api: "https://api.github.com".into(),
                owner: "acme".into(),
                repo: "app".into(),
                job_id: 456
            }
        );
        assert!(matches!(
            parse_url("https://github.com/acme/app/actions/runs/123?pr=5").unwrap(),
            Target::GithubRun { run_id: 123, .. }
        ));
        assert!(matches!(
            parse_url("https://ghe.example.com/acme/app/actions/runs/9").unwrap(),
            Target::GithubRun { ref api, .. } if api == "https://ghe.example.com/api/v3"
        ));
        assert_eq!(
            parse_url("https://gitlab.example.com/group/sub/proj/-/jobs/77").unwrap(),
            Target::GitlabJob {
                base: "https://gitlab.example.com".into(),
                project: "group/sub/proj".into(),
                job_id: 77
            }
        );
        assert_eq!(
            parse_url("https://buildkite.com/my-org/my-pipe/builds/12#job").unwrap(),
            Target::BuildkiteBuild {
                org: "my-org".into(),
                pipeline: "my-pipe".into(),
                number: 12
            }
        );
        for bad in [
            "ftp://github.com/a/b",
            "https://github.com/acme/app/pulls/3",
            "https://buildkite.com/org/pipe",
            "https://github.com/acme/app/actions/runs/notanumber",
            "not a url",
        ] {
            let e = parse_url(bad).unwrap_err().to_string();
            assert!(e.contains("expected a GitHub Actions run"), "{bad}: {e}");
        }
    }

    /// Answers from recorded API payloads, recording every request.
    struct Fake {
        routes: HashMap<String, (u16, Vec<u8>)>,
        seen: RefCell<Vec<Request>>,
    }

    impl Transport for Fake {
        fn get(&self, request: &Request) -> Result<Response, String> {
            self.seen.borrow_mut().push(request.clone());
            match self.routes.get(&request.url) {
                Some((status, body)) => Ok(Response {
                    status: *status,
                    body: body.clone(),
                }),
                None => Ok(Response {
                    status: 404,
                    body: Vec::new(),
                }),
            }
        }
    }

    fn env_with(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| vars.get(k).cloned()
    }

    #[test]
    fn missing_tokens_say_what_to_set() {
        let fake = Fake {
            routes: HashMap::new(),
            seen: RefCell::new(Vec::new()),
        };
        let none = env_with(&[]);
        for (url, var) in [
            ("https://github.com/a/b/actions/runs/1", "GITHUB_TOKEN"),
            ("https://gitlab.com/a/b/-/jobs/1", "GITLAB_TOKEN"),
            ("https://buildkite.com/o/p/builds/1", "BUILDKITE_API_TOKEN"),
        ] {
            let e = fetch_logs(&parse_url(url).unwrap(), &none, &fake).unwrap_err();
            assert!(e.to_string().contains(var), "{e}");
        }
        assert!(fake.seen.borrow().is_empty(), "no request without a token");
    }

    #[test]
    fn buildkite_build_fetches_script_jobs_with_the_token_and_never_leaks_it() {
        let build = include_bytes!("../tests/fixtures/buildkite-get-build.200.json").to_vec();
        let build_json: Value = serde_json::from_slice(&build).unwrap();
        let log_url = build_json["jobs"][0]["raw_log_url"]
            .as_str()
            .unwrap()
            .to_string();
        let fake = Fake {
            routes: HashMap::from([
                (
                    "https://api.buildkite.com/v2/organizations/my-great-org/pipelines/my-pipeline/builds/2"
                        .to_string(),
                    (200, build),
                ),
                (log_url.clone(), (200, b"--- :rspec: RSpec\nFailures:\n".to_vec())),
            ]),
            seen: RefCell::new(Vec::new()),
        };
        let env = env_with(&[(
            "BUILDKITE_API_TOKEN",
            "bkua_0123456789abcdef0123456789abcdef01234567",
        )]);
        let target = parse_url("https://buildkite.com/my-great-org/my-pipeline/builds/2").unwrap();
        let logs = fetch_logs(&target, &env, &fake).unwrap();
        assert_eq!(logs.len(), 1);
        assert_eq!(logs[0].name, "RSpec");
        let seen = fake.seen.borrow();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[1].url, log_url);
        assert!(seen.iter().all(|r| {
            r.headers
                .iter()
                .any(|(n, v)| n == "Authorization" && v.starts_with("Bearer bkua_"))
        }));
        assert!(
            !format!("{:?}", seen[0]).contains("bkua_"),
            "Debug hides tokens"
        );
    }

    #[test]
    fn github_run_fetches_failed_jobs_and_errors_name_the_token() {
        let jobs =
            include_bytes!("../tests/fixtures/github-list-jobs-for-workflow-run.200.json").to_vec();
        let api = "https://api.github.com/repos/octo-org/octo-repo/actions";
        let fake = Fake {
            routes: HashMap::from([
                (
                    format!("{api}/runs/29679449/jobs?filter=latest&per_page=100"),
                    (200, jobs),
                ),
                (
                    format!("{api}/jobs/399444496/logs"),
                    (200, b"log text\n".to_vec()),
                ),
            ]),
            seen: RefCell::new(Vec::new()),
        };
        let env = env_with(&[("GITHUB_TOKEN", "ghs_0123456789abcdefghijABCDEFGHIJ012345")]);
        let target =
            parse_url("https://github.com/octo-org/octo-repo/actions/runs/29679449").unwrap();
        // The recorded run succeeded: with no failed job, every job that ran is fetched.
        let logs = fetch_logs(&target, &env, &fake).unwrap();
        assert_eq!(logs.len(), 1);
        assert_eq!(logs[0].bytes, b"log text\n");
        // A 404 names the token's permission, not its value.
        let missing =
            parse_url("https://github.com/octo-org/octo-repo/actions/runs/1/job/2").unwrap();
        let e = fetch_logs(&missing, &env, &fake).unwrap_err().to_string();
        assert!(e.contains("404") && e.contains("actions: read"), "{e}");
        assert!(!e.contains("ghs_"));
    }

    #[test]
    fn gitlab_job_uses_the_encoded_project_path() {
        let fake = Fake {
            routes: HashMap::from([(
                "https://gitlab.example.com/api/v4/projects/group%2Fsub%2Fproj/jobs/77/trace"
                    .to_string(),
                (
                    200,
                    include_bytes!("../tests/fixtures/gitlab-trace-with-sections.log").to_vec(),
                ),
            )]),
            seen: RefCell::new(Vec::new()),
        };
        let env = env_with(&[("CI_JOB_TOKEN", "job-token-value")]);
        let target = parse_url("https://gitlab.example.com/group/sub/proj/-/jobs/77").unwrap();
        let logs = fetch_logs(&target, &env, &fake).unwrap();
        assert!(String::from_utf8_lossy(&logs[0].bytes).contains("Job succeeded"));
        assert_eq!(fake.seen.borrow()[0].headers[0].0, "JOB-TOKEN");
    }
}
