//! rerun: no code change, the failed job runs again. This module only describes the
//! request (which provider, which run or job); the forge client makes the call.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Error;

/// A run or job to run again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "provider", rename_all = "lowercase")]
pub enum RerunRequest {
    /// GitHub Actions: rerun a job (`job_id`), else the failed jobs of a run.
    Github {
        /// API host's web host, `github.com` or a GitHub Enterprise host.
        host: String,
        /// Owner of the repository.
        owner: String,
        /// Repository name.
        repo: String,
        /// The workflow run.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        run_id: Option<u64>,
        /// The job.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        job_id: Option<u64>,
    },
    /// GitLab CI: retry a job.
    Gitlab {
        /// `gitlab.com` or a self-managed host.
        host: String,
        /// The project's full path (`group/sub/project`).
        project: String,
        /// The job.
        job_id: u64,
    },
    /// Buildkite: retry a job, else rebuild the build.
    Buildkite {
        /// Organization slug.
        org: String,
        /// Pipeline slug.
        pipeline: String,
        /// Build number.
        build: u64,
        /// The job's UUID.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        job_id: Option<String>,
    },
}

/// Read a run or job page's URL:
/// `https://github.com/o/r/actions/runs/123[/job/456]`, `https://github.com/o/r/runs/456`
/// (a check run, which is the job), `https://gitlab.com/g/p/-/jobs/456`,
/// `https://buildkite.com/org/pipe/builds/7#<job uuid>`.
pub fn parse_url(url: &str) -> Result<RerunRequest, Error> {
    let bad = |what: &str| {
        Error::Invalid(format!(
            "`{url}`: {what}; expected a GitHub Actions run or job URL (…/actions/runs/<id>[/job/<id>]), \
             a GitLab job URL (…/-/jobs/<id>) or a Buildkite build URL (…/builds/<n>[#<job id>])"
        ))
    };
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| bad("not an http(s) URL"))?;
    let (location, fragment) = match rest.split_once('#') {
        Some((l, f)) => (l, Some(f)),
        None => (rest, None),
    };
    let location = location.split('?').next().unwrap_or(location);
    let mut parts = location.split('/').filter(|p| !p.is_empty());
    let host = parts
        .next()
        .ok_or_else(|| bad("no host"))?
        .to_ascii_lowercase();
    let path: Vec<&str> = parts.collect();
    let number = |text: &str| {
        text.parse::<u64>()
            .map_err(|_| bad(&format!("`{text}` is not a number")))
    };

    if host == "buildkite.com" || host.ends_with(".buildkite.com") {
        return match path.as_slice() {
            [org, pipeline, "builds", build, ..] => Ok(RerunRequest::Buildkite {
                org: org.to_string(),
                pipeline: pipeline.to_string(),
                build: number(build)?,
                job_id: fragment.filter(|f| !f.is_empty()).map(str::to_string),
            }),
            _ => Err(bad("not a build URL")),
        };
    }
    if let Some(dash) = path.iter().position(|p| *p == "-") {
        return match &path[dash + 1..] {
            ["jobs", job, ..] if dash > 0 => Ok(RerunRequest::Gitlab {
                host,
                project: path[..dash].join("/"),
                job_id: number(job)?,
            }),
            _ => Err(bad("not a GitLab job URL")),
        };
    }
    match path.as_slice() {
        [owner, repo, "actions", "runs", run, rest @ ..] => {
            let job_id = match rest {
                ["job" | "jobs", job, ..] => Some(number(job)?),
                [] | ["attempts", ..] => None,
                _ => return Err(bad("unknown run URL")),
            };
            Ok(RerunRequest::Github {
                host,
                owner: owner.to_string(),
                repo: repo.to_string(),
                run_id: Some(number(run)?),
                job_id,
            })
        }
        [owner, repo, "runs", job, ..] => Ok(RerunRequest::Github {
            host,
            owner: owner.to_string(),
            repo: repo.to_string(),
            run_id: None,
            job_id: Some(number(job)?),
        }),
        _ => Err(bad("not a CI run or job URL")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn github(run: Option<u64>, job: Option<u64>, owner: &str, repo: &str) -> RerunRequest {
        RerunRequest::Github {
            host: "github.com".into(),
            owner: owner.into(),
            repo: repo.into(),
            run_id: run,
            job_id: job,
        }
    }

    /// URLs as they appear in real payloads (/work/shared/fixtures: the torchci
    /// workflow_run, the torchci jobs listing, octokit's check_run and buildkite's
    /// job.finished examples) and GitLab's documented job URL form.
    #[test]
    fn parses_run_and_job_urls_of_every_provider() {
        assert_eq!(
            parse_url("https://github.com/clee2000/random-testing/actions/runs/3206737417")
                .unwrap(),
            github(Some(3206737417), None, "clee2000", "random-testing")
        );
        assert_eq!(
            parse_url("https://github.com/pytorch/pytorch/actions/runs/3201497249/jobs/5229540478")
                .unwrap(),
            github(Some(3201497249), Some(5229540478), "pytorch", "pytorch")
        );
        assert_eq!(
            parse_url("https://github.com/iamjpotts/demo_docker_registry_auto_gen_tls/actions/runs/6028130407/job/16354767496").unwrap(),
            github(Some(6028130407), Some(16354767496), "iamjpotts", "demo_docker_registry_auto_gen_tls")
        );
        assert_eq!(
            parse_url("https://github.com/Codertocat/Hello-World/runs/128620228").unwrap(),
            github(None, Some(128620228), "Codertocat", "Hello-World")
        );
        assert_eq!(
            parse_url("https://gitlab.com/gitlab-org/sub/project/-/jobs/456?x=1").unwrap(),
            RerunRequest::Gitlab {
                host: "gitlab.com".into(),
                project: "gitlab-org/sub/project".into(),
                job_id: 456
            }
        );
        assert_eq!(
            parse_url("https://buildkite.com/my-great-org/my-pipeline/builds/1#b63254c0-3271-4a98-8270-7cfbd6c2f14e").unwrap(),
            RerunRequest::Buildkite {
                org: "my-great-org".into(),
                pipeline: "my-pipeline".into(),
                build: 1,
                job_id: Some("b63254c0-3271-4a98-8270-7cfbd6c2f14e".into())
            }
        );
        let json =
            serde_json::to_value(parse_url("https://buildkite.com/o/p/builds/2").unwrap()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"provider": "buildkite", "org": "o", "pipeline": "p", "build": 2})
        );
    }

    #[test]
    fn bad_urls_say_what_was_expected() {
        for url in [
            "github.com/o/r/actions/runs/1",
            "https://github.com/o/r/pull/5",
            "https://github.com/o/r/actions/runs/abc",
            "https://gitlab.com/g/p/-/pipelines/5",
            "https://buildkite.com/o/p",
        ] {
            let err = parse_url(url).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("`{url}`")) && err.contains("expected"),
                "{err}"
            );
        }
    }
}
