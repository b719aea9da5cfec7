//! When and how long to wait before sending a request again: one loop shared by the
//! GitHub client and the CI clients, so that every service gets the same rules.
//!
//! 5xx answers and network errors are retried with exponential backoff, but only for
//! requests that are safe to send twice (a second comment would be posted twice). Rate
//! limits are waited out when the reset is near (the cap is configurable) and reported
//! with the reset time otherwise. 401, 403, 404 and 422 are never retried: sending
//! them again cannot change the answer.

use std::future::Future;
use std::time::Duration;

use http::{HeaderMap, StatusCode};

use crate::error::{Failure, ForgeError, Origin, classify};

/// How persistent a client is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Most times one request is sent, the first included.
    pub max_attempts: u32,
    /// Wait before the second attempt; doubled for each later one.
    pub initial_backoff: Duration,
    /// Longest wait between two attempts after a 5xx or network error.
    pub max_backoff: Duration,
    /// Longest wait for a rate limit to reset; a later reset fails at once, with its time.
    pub max_rate_limit_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            max_rate_limit_wait: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// One attempt, no waiting: for tests and for callers with their own retries.
    pub fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            initial_backoff: Duration::ZERO,
            max_backoff: Duration::ZERO,
            max_rate_limit_wait: Duration::ZERO,
        }
    }

    /// The wait after failed attempt number `attempt` (1-based).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// A complete HTTP answer.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// One request as the retry loop and the error messages see it.
pub(crate) struct Call<'a> {
    pub origin: &'a Origin,
    /// `METHOD /path`, for messages.
    pub request: String,
    /// What the request is about, for a 404 (`the pull request o/r#5`).
    pub what: String,
    /// Whether sending it twice is harmless.
    pub idempotent: bool,
}

/// Sends with `send` until a 2xx, a fatal error or the policy's end. `send` returns the
/// answer, or a transport error already described without URL or header values.
pub(crate) async fn send_with_retries<F, Fut>(
    policy: &RetryPolicy,
    call: Call<'_>,
    mut send: F,
) -> Result<Answer, ForgeError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Answer, String>>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        let last = attempt >= policy.max_attempts.max(1);
        let failure = match send().await {
            Ok(answer) if answer.status.is_success() => return Ok(answer),
            Ok(answer) => classify(
                call.origin,
                &call.request,
                &call.what,
                answer.status,
                &answer.headers,
                &answer.body,
                policy.max_rate_limit_wait,
            ),
            Err(message) => Failure::Transient(ForgeError::Network {
                service: call.origin.service,
                request: call.request.clone(),
                message,
                attempts: 1,
            }),
        };
        match failure {
            Failure::Fatal(error) => return Err(error),
            Failure::Transient(error) if last || !call.idempotent => {
                return Err(with_attempts(error, attempt));
            }
            Failure::Transient(error) => {
                let wait = policy.backoff(attempt);
                tracing::warn!(service = call.origin.service, request = %call.request, attempt, ?wait, error = %error, "retrying");
                tokio::time::sleep(wait).await;
            }
            Failure::Wait(_, error) if last => return Err(error),
            Failure::Wait(wait, error) => {
                tracing::warn!(service = call.origin.service, request = %call.request, attempt, ?wait, error = %error, "waiting for a rate limit");
                tokio::time::sleep(wait).await;
            }
        }
    }
}

fn with_attempts(error: ForgeError, n: u32) -> ForgeError {
    match error {
        ForgeError::Server {
            service,
            request,
            status,
            message,
            ..
        } => ForgeError::Server {
            service,
            request,
            status,
            message,
            attempts: n,
        },
        ForgeError::Network {
            service,
            request,
            message,
            ..
        } => ForgeError::Network {
            service,
            request,
            message,
            attempts: n,
        },
        other => other,
    }
}

/// A transport error with its causes, which say why (connection refused, certificate,
/// DNS). Parts holding a URL are left out: a redirect target may be a signed URL.
pub(crate) fn describe_error(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = Some(error);
    while let Some(e) = current {
        let text = e.to_string();
        if !text.contains("://") && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    if parts.is_empty() {
        "request failed".into()
    } else {
        parts.join(": ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let policy = RetryPolicy::default();
        let waits: Vec<_> = (1..=6).map(|n| policy.backoff(n).as_millis()).collect();
        assert_eq!(waits, [500, 1000, 2000, 4000, 8000, 8000]);
    }

    fn origin() -> Origin {
        Origin {
            service: "GitLab",
            token_source: None,
            has_token: true,
            default_env: "GITLAB_TOKEN".into(),
        }
    }

    fn answer(status: u16) -> Result<Answer, String> {
        Ok(Answer {
            status: StatusCode::from_u16(status).unwrap(),
            headers: HeaderMap::new(),
            body: br#"{"message":"boom"}"#.to_vec(),
        })
    }

    fn call(origin: &Origin, idempotent: bool) -> Call<'_> {
        Call {
            origin,
            request: "POST /x".into(),
            what: "x".into(),
            idempotent,
        }
    }

    #[tokio::test]
    async fn retries_5xx_for_idempotent_requests_only() {
        let policy = RetryPolicy {
            initial_backoff: Duration::from_millis(1),
            ..RetryPolicy::default()
        };
        let origin = origin();
        let mut sent = 0;
        let err = send_with_retries(&policy, call(&origin, true), || {
            sent += 1;
            async { answer(503) }
        })
        .await
        .unwrap_err();
        assert_eq!(sent, 4);
        assert_eq!(
            err.to_string(),
            "GitLab failed POST /x with 503 after 4 attempts: boom"
        );

        let mut sent = 0;
        send_with_retries(&policy, call(&origin, false), || {
            sent += 1;
            async { answer(503) }
        })
        .await
        .unwrap_err();
        assert_eq!(sent, 1, "a request that is not idempotent is sent once");
    }

    #[tokio::test]
    async fn never_retries_a_404() {
        let origin = origin();
        let mut sent = 0;
        let err = send_with_retries(&RetryPolicy::default(), call(&origin, true), || {
            sent += 1;
            async { answer(404) }
        })
        .await
        .unwrap_err();
        assert_eq!(sent, 1);
        assert!(matches!(err, ForgeError::NotFound { .. }), "{err}");
    }
}
