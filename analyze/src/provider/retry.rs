//! When to try a call again and how long to wait first.
//!
//! Rate limits (429), overload (Anthropic's 529) and server errors (5xx) pass, and
//! so do dropped connections and timeouts; a refused request (400, 401, 403, 404,
//! 422…) fails the same way every time, so it is never retried. The wait is
//! exponential with jitter (so that many runs hit by the same outage do not retry
//! in step), unless the provider says how long in `Retry-After` (seconds or an HTTP
//! date) or OpenAI's `retry-after-ms`; a provider asking for longer than
//! [`RetryPolicy::max_wait`] is not waited for, since a CI step blocked for minutes
//! is worse than an explanation that comes later.

use std::time::Duration;

use reqwest::header::HeaderMap;

/// Backoff settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The first backoff; doubled on each further attempt.
    pub base: Duration,
    /// The longest backoff.
    pub max_backoff: Duration,
    /// The longest wait honoured from `Retry-After`; a longer one ends the call.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            max_wait: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The backoff before retry number `attempt` (0 for the first retry): the
    /// exponential delay, jittered into its upper half.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32.checked_shl(attempt.min(16)).unwrap_or(u32::MAX))
            .min(self.max_backoff);
        let half = exp / 2;
        half + half.mul_f64(fastrand::f64())
    }
}

/// Whether an HTTP status is worth retrying.
pub fn retryable_status(status: u16) -> bool {
    status == 408 || status == 409 || status == 429 || status >= 500
}

/// How long the provider asked to wait: `retry-after-ms` (OpenAI), then
/// `Retry-After` as seconds or as an HTTP date. `None` when absent or unreadable.
pub fn retry_after(headers: &HeaderMap, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    if let Some(ms) = header(headers, "retry-after-ms").and_then(|v| v.parse::<f64>().ok())
        && ms.is_finite()
        && ms >= 0.0
    {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    let value = header(headers, "retry-after")?;
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(1e9)));
    }
    // IMF-fixdate ("Wed, 21 Oct 2015 07:28:00 GMT") is RFC 2822 with GMT.
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    Some(
        (when.with_timezone(&chrono::Utc) - now)
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name)?.to_str().ok().map(str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn now() -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::parse_from_rfc3339("2015-10-21T07:27:30Z")
            .unwrap()
            .with_timezone(&chrono::Utc)
    }

    #[test]
    fn retry_after_reads_seconds_dates_and_milliseconds() {
        let d = |pairs: &[(&'static str, &str)]| retry_after(&headers(pairs), now());
        assert_eq!(d(&[("retry-after", "7")]), Some(Duration::from_secs(7)));
        assert_eq!(
            d(&[("retry-after", " 1.5 ")]),
            Some(Duration::from_millis(1500))
        );
        // The example date of RFC 9110 §10.2.3, 30 s after `now`.
        assert_eq!(
            d(&[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")]),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            d(&[("retry-after", "Wed, 21 Oct 2015 07:00:00 GMT")]),
            Some(Duration::ZERO),
            "a date in the past means now"
        );
        assert_eq!(
            d(&[("retry-after-ms", "250"), ("retry-after", "9")]),
            Some(Duration::from_millis(250))
        );
        assert_eq!(d(&[("retry-after", "soon")]), None);
        assert_eq!(d(&[("retry-after", "-3")]), None);
        assert_eq!(d(&[]), None);
    }

    #[test]
    fn backoff_doubles_within_jitter_and_is_capped() {
        let p = RetryPolicy {
            base: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            max_wait: Duration::from_secs(5),
        };
        for _ in 0..50 {
            let b0 = p.backoff(0);
            assert!(b0 >= Duration::from_millis(50) && b0 <= Duration::from_millis(100));
            let b2 = p.backoff(2);
            assert!(b2 >= Duration::from_millis(200) && b2 <= Duration::from_millis(400));
            let b9 = p.backoff(40);
            assert!(b9 >= Duration::from_millis(500) && b9 <= Duration::from_secs(1));
        }
    }

    #[test]
    fn only_transient_statuses_are_retried() {
        for s in [408, 409, 429, 500, 502, 503, 504, 529] {
            assert!(retryable_status(s), "{s}");
        }
        for s in [400, 401, 403, 404, 413, 422] {
            assert!(!retryable_status(s), "{s}");
        }
    }
}
