//! The one error type of this crate, and the reading of an HTTP error answer into it.
//!
//! GitHub, GitLab and Buildkite answer errors the same way at the HTTP level (a status,
//! a few headers, a JSON body with a `message`), so one classifier serves all three.
//! The messages are written for the person who has to fix the problem: which token,
//! which permission, when the rate limit resets. No message ever holds a token: the
//! classifier only sees the answer, never the request's headers.

use std::time::Duration;

use chrono::{DateTime, Utc};
use http::{HeaderMap, StatusCode};
use serde_json::Value;

/// Everything that can go wrong talking to a code host or CI service.
#[derive(Debug, thiserror::Error)]
pub enum ForgeError {
    /// The client cannot be built as configured (a bad base URL).
    #[error("{service}: {message}")]
    Config {
        /// GitHub, GitLab or Buildkite.
        service: &'static str,
        /// What is wrong and what was expected.
        message: String,
    },
    /// 401: no token, or one the service does not accept.
    #[error("{service} answered 401 to {request} ({message}): {hint}")]
    Unauthorized {
        /// GitHub, GitLab or Buildkite.
        service: &'static str,
        /// The request, as `METHOD /path`.
        request: String,
        /// The service's own message.
        message: String,
        /// What to check, naming the environment variable the token came from.
        hint: String,
    },
    /// 403 that is not a rate limit: the token lacks a permission.
    #[error("{service} refused {request} (403 {message}){}", needs.as_ref().map(|n| format!(": the token needs {n}")).unwrap_or_else(|| ": the token lacks a permission for this repository".into()))]
    Forbidden {
        /// GitHub, GitLab or Buildkite.
        service: &'static str,
        /// The request, as `METHOD /path`.
        request: String,
        /// The service's own message.
        message: String,
        /// The scope or permission the service says is needed, when it says.
        needs: Option<String>,
    },
    /// The primary rate limit is used up (`x-ratelimit-remaining: 0`).
    #[error("{service} rate limit exhausted at {request}: it resets at {reset_at} ({}); \
             Medic waits for resets up to {waited_at_most:?}", in_words(*reset_at))]
    RateLimited {
        /// GitHub, GitLab or Buildkite.
        service: &'static str,
        /// The request, as `METHOD /path`.
        request: String,
        /// When the limit resets (`x-ratelimit-reset`).
        reset_at: DateTime<Utc>,
        /// The longest wait the client was allowed.
        waited_at_most: Duration,
    },
    /// A secondary (abuse) rate limit: too many requests too quickly.
    #[error("{service} secondary rate limit at {request} ({message}): {}", match retry_after {
        Some(after) => format!("retry after {} s", after.as_secs()),
        None => "wait at least a minute before retrying".to_string(),
    })]
    SecondaryRateLimited {
        /// GitHub, GitLab or Buildkite.
        service: &'static str,
        /// The request, as `METHOD /path`.
        request: String,
        /// The service's own message.
        message: String,
        /// The `retry-after` header, when sent.
        retry_after: Option<Duration>,
    },
    /// 404: the repository, pull request or job does not exist, or the token cannot see it.
    #[error(
        "{service} answered 404 to {request}: {what} does not exist, or the token cannot see it"
    )]
    NotFound {
        /// GitHub, GitLab or Buildkite.
        service: &'static str,
        /// The request, as `METHOD /path`.
        request: String,
        /// The thing asked for, in the user's words.
        what: String,
    },
    /// 422: the service understood the request and refused it.
    #[error("{service} refused {request} (422): {}", messages.join("; "))]
    Validation {
        /// GitHub, GitLab or Buildkite.
        service: &'static str,
        /// The request, as `METHOD /path`.
        request: String,
        /// The service's `message` then each `errors[].message`.
        messages: Vec<String>,
    },
    /// 5xx, after the retries allowed.
    #[error("{service} failed {request} with {status} after {attempts} attempt{}: {message}", plural(*attempts))]
    Server {
        /// GitHub, GitLab or Buildkite.
        service: &'static str,
        /// The request, as `METHOD /path`.
        request: String,
        /// The last status.
        status: u16,
        /// The service's own message, or the status's reason.
        message: String,
        /// How many times the request was sent.
        attempts: u32,
    },
    /// Any other unexpected status (405 not mergeable, 409 conflict…).
    #[error("{service} answered {status} to {request}: {message}")]
    Status {
        /// GitHub, GitLab or Buildkite.
        service: &'static str,
        /// The request, as `METHOD /path`.
        request: String,
        /// The status.
        status: u16,
        /// The service's own message.
        message: String,
    },
    /// No answer: DNS, connection refused, TLS, timeout.
    #[error("{service} could not be reached for {request} after {attempts} attempt{}: {message}", plural(*attempts))]
    Network {
        /// GitHub, GitLab or Buildkite.
        service: &'static str,
        /// The request, as `METHOD /path`.
        request: String,
        /// What went wrong.
        message: String,
        /// How many times the request was sent.
        attempts: u32,
    },
    /// The answer does not have the documented shape.
    #[error("{service} answered {request} with something unexpected: {message}")]
    BadResponse {
        /// GitHub, GitLab or Buildkite.
        service: &'static str,
        /// The request, as `METHOD /path`.
        request: String,
        /// What did not fit.
        message: String,
    },
    /// GraphQL answered with errors.
    #[error("{service} GraphQL {operation} failed: {}", messages.join("; "))]
    GraphQl {
        /// GitHub.
        service: &'static str,
        /// The mutation or query name.
        operation: String,
        /// Each `errors[].message`.
        messages: Vec<String>,
    },
}

impl ForgeError {
    /// Whether sending the same request again may succeed without a change by the user.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ForgeError::Server { .. }
                | ForgeError::Network { .. }
                | ForgeError::RateLimited { .. }
                | ForgeError::SecondaryRateLimited { .. }
        )
    }

    /// The HTTP status behind the error, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            ForgeError::Unauthorized { .. } => Some(401),
            ForgeError::Forbidden { .. } => Some(403),
            ForgeError::NotFound { .. } => Some(404),
            ForgeError::Validation { .. } => Some(422),
            ForgeError::Server { status, .. } | ForgeError::Status { status, .. } => Some(*status),
            ForgeError::RateLimited { .. } | ForgeError::SecondaryRateLimited { .. } => Some(403),
            _ => None,
        }
    }
}

fn plural(n: u32) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn in_words(at: DateTime<Utc>) -> String {
    let secs = (at - Utc::now()).num_seconds();
    if secs <= 0 {
        "now".into()
    } else if secs < 120 {
        format!("in {secs} s")
    } else {
        format!("in {} min", (secs + 59) / 60)
    }
}

/// Who is asking, for error messages: the service's name and where its token came from.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    /// GitHub, GitLab or Buildkite.
    pub service: &'static str,
    /// The environment variable (or other source) of the token; `None` when there is no token.
    pub token_source: Option<String>,
    /// Whether a token was given at all.
    pub has_token: bool,
    /// The name of the variable to set when there is no token.
    pub default_env: String,
}

/// How a failed answer should be handled by the retry loop.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Give up with this error.
    Fatal(ForgeError),
    /// Worth another attempt after a backoff.
    Transient(ForgeError),
    /// A rate limit: wait this long, if the cap allows, then try again.
    Wait(Duration, ForgeError),
}

/// Reads a non-2xx answer into the error a user should see.
pub(crate) fn classify(
    origin: &Origin,
    request: &str,
    what: &str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    max_wait: Duration,
) -> Failure {
    let service = origin.service;
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let message = service_message(&json, body, status);
    let request = request.to_string();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let retry_after = header("retry-after")
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_secs);
    let exhausted = header("x-ratelimit-remaining") == Some("0");
    let reset_at = header("x-ratelimit-reset")
        .and_then(|v| v.parse::<i64>().ok())
        .and_then(|secs| DateTime::<Utc>::from_timestamp(secs, 0));

    match status.as_u16() {
        401 => {
            let hint = match (&origin.token_source, origin.has_token) {
                (_, false) => format!(
                    "no token was given: set {} to a {service} token",
                    origin.default_env
                ),
                (Some(source), true) => format!("the token in {source} is invalid or expired"),
                (None, true) => "the token is invalid or expired".to_string(),
            };
            Failure::Fatal(ForgeError::Unauthorized {
                service,
                request,
                message,
                hint,
            })
        }
        403 | 429 if exhausted => {
            let reset_at = reset_at.unwrap_or_else(|| Utc::now() + chrono::TimeDelta::seconds(60));
            let wait = (reset_at - Utc::now()).to_std().unwrap_or(Duration::ZERO);
            let error = ForgeError::RateLimited {
                service,
                request,
                reset_at,
                waited_at_most: max_wait,
            };
            if wait <= max_wait {
                // One extra second: the reset is given in whole seconds.
                Failure::Wait(wait + Duration::from_secs(1), error)
            } else {
                Failure::Fatal(error)
            }
        }
        403 | 429 if retry_after.is_some() || is_secondary_limit(&message) || status == 429 => {
            let error = ForgeError::SecondaryRateLimited {
                service,
                request,
                message,
                retry_after,
            };
            // GitHub asks for at least a minute when it sends no retry-after.
            let wait = retry_after.unwrap_or(Duration::from_secs(60));
            if wait <= max_wait {
                Failure::Wait(wait, error)
            } else {
                Failure::Fatal(error)
            }
        }
        403 => {
            // GitHub names what a fine-grained token needs in
            // `x-accepted-github-permissions` and what a classic token needs in
            // `x-accepted-oauth-scopes`.
            let needs = header("x-accepted-github-permissions")
                .filter(|v| !v.is_empty())
                .map(|v| format!("the permission {v}"))
                .or_else(|| {
                    header("x-accepted-oauth-scopes")
                        .filter(|v| !v.is_empty())
                        .map(|v| format!("the scope {v}"))
                });
            Failure::Fatal(ForgeError::Forbidden {
                service,
                request,
                message,
                needs,
            })
        }
        404 => Failure::Fatal(ForgeError::NotFound {
            service,
            request,
            what: what.to_string(),
        }),
        422 => {
            let mut messages = vec![message];
            messages.extend(error_details(&json));
            Failure::Fatal(ForgeError::Validation {
                service,
                request,
                messages,
            })
        }
        500..=599 => Failure::Transient(ForgeError::Server {
            service,
            request,
            status: status.as_u16(),
            message,
            attempts: 1,
        }),
        _ => Failure::Fatal(ForgeError::Status {
            service,
            request,
            status: status.as_u16(),
            message,
        }),
    }
}

/// GitHub documents "You have exceeded a secondary rate limit"; older answers say
/// "abuse detection mechanism".
fn is_secondary_limit(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    lower.contains("secondary rate limit") || lower.contains("abuse")
}

/// The service's `message` (GitHub, GitLab), `error` (GitLab), or the body's first line.
fn service_message(json: &Value, body: &[u8], status: StatusCode) -> String {
    let from_json = ["message", "error"]
        .iter()
        .find_map(|k| match json.get(*k) {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            // GitLab's 422s carry an object of field → messages.
            Some(v @ Value::Object(_)) => Some(v.to_string()),
            _ => None,
        });
    from_json.unwrap_or_else(|| {
        let text = String::from_utf8_lossy(body);
        let line = text.lines().map(str::trim).find(|l| !l.is_empty());
        match line {
            Some(line) if !line.starts_with('<') => line.chars().take(200).collect(),
            _ => status.canonical_reason().unwrap_or("error").to_string(),
        }
    })
}

/// GitHub's `errors[]`: each a string, or an object with a `message` or a
/// `resource`/`field`/`code` triple.
fn error_details(json: &Value) -> Vec<String> {
    let Some(errors) = json.get("errors").and_then(Value::as_array) else {
        return Vec::new();
    };
    errors
        .iter()
        .filter_map(|e| match e {
            Value::String(s) => Some(s.clone()),
            Value::Object(o) => o
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_string)
                .or_else(|| {
                    let part = |k: &str| o.get(k).and_then(Value::as_str).unwrap_or("?");
                    Some(format!(
                        "{}.{}: {}",
                        part("resource"),
                        part("field"),
                        part("code")
                    ))
                }),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Origin {
        Origin {
            service: "GitHub",
            token_source: Some("GITHUB_TOKEN".into()),
            has_token: true,
            default_env: "GITHUB_TOKEN".into(),
        }
    }

    fn run(status: u16, headers: &[(&str, &str)], body: &str) -> Failure {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        classify(
            &origin(),
            "POST /repos/o/r/pulls",
            "the repository o/r",
            StatusCode::from_u16(status).unwrap(),
            &map,
            body.as_bytes(),
            Duration::from_secs(60),
        )
    }

    fn fatal(f: Failure) -> String {
        match f {
            Failure::Fatal(e) => e.to_string(),
            other => panic!("expected a fatal error, got {other:?}"),
        }
    }

    #[test]
    fn validation_lists_githubs_messages() {
        let body = r#"{"message":"Validation Failed","errors":[{"resource":"PullRequest","code":"custom","message":"A pull request already exists for o:fix."},{"resource":"PullRequest","field":"base","code":"invalid"}]}"#;
        assert_eq!(
            fatal(run(422, &[], body)),
            "GitHub refused POST /repos/o/r/pulls (422): Validation Failed; \
             A pull request already exists for o:fix.; PullRequest.base: invalid"
        );
    }

    #[test]
    fn forbidden_names_the_missing_permission() {
        let msg = fatal(run(
            403,
            &[("x-accepted-github-permissions", "pull_requests=write")],
            r#"{"message":"Resource not accessible by personal access token"}"#,
        ));
        assert!(
            msg.ends_with("the token needs the permission pull_requests=write"),
            "{msg}"
        );
    }

    #[test]
    fn a_short_reset_is_waited_for_and_a_long_one_is_not() {
        let soon = (Utc::now().timestamp() + 5).to_string();
        match run(
            403,
            &[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", &soon)],
            "{}",
        ) {
            Failure::Wait(wait, _) => assert!(wait <= Duration::from_secs(7), "{wait:?}"),
            other => panic!("{other:?}"),
        }
        let late = (Utc::now().timestamp() + 3600).to_string();
        let msg = fatal(run(
            403,
            &[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", &late)],
            r#"{"message":"API rate limit exceeded"}"#,
        ));
        assert!(msg.contains("rate limit exhausted"), "{msg}");
        assert!(msg.contains("(in 60 min)"), "{msg}");
    }

    #[test]
    fn html_error_pages_become_the_status_reason() {
        match run(502, &[], "<html><body>Bad gateway</body></html>") {
            Failure::Transient(e) => assert!(e.to_string().ends_with(": Bad Gateway"), "{e}"),
            other => panic!("{other:?}"),
        }
    }
}
