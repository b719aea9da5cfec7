//! The provider layer's errors. Every message says what went wrong and what to do
//! about it; none carries the API key, the prompt or an unsanitized provider message
//! (see [`super::scrub`]).

use std::time::Duration;

/// Why a provider call, or building a provider, failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProviderError {
    /// The configuration is wrong (a bad `base_url`, `timeout`, price or budget).
    #[error("AI provider config: `{field}`: {message}")]
    Config {
        /// The field at fault.
        field: &'static str,
        /// What is wrong and what was expected.
        message: String,
    },
    /// The API key's environment variable is not set.
    #[error(
        "no API key for {provider}: set the environment variable {var} (or name another one with `api_key_env`)"
    )]
    MissingKey {
        /// The variable to set.
        var: String,
        /// The provider's name.
        provider: &'static str,
    },
    /// The run's budget is spent; no call was made.
    #[error(
        "the AI budget is spent: {used} of {limit} {what} used; raise `budget.max_{what}` to allow more"
    )]
    BudgetSpent {
        /// `calls`, `tokens` or `cost_usd`.
        what: &'static str,
        /// What was used so far.
        used: String,
        /// The limit.
        limit: String,
    },
    /// The provider answered with an error status that retrying does not fix, or
    /// retries ran out.
    #[error("the AI provider answered HTTP {status}: {message}")]
    Http {
        /// The HTTP status.
        status: u16,
        /// The provider's own message (scrubbed) and what to check.
        message: String,
    },
    /// The provider kept refusing for rate or quota reasons.
    #[error(
        "the AI provider is rate limiting{}: {message}",
        retry_after.map(|d| format!(" (it asks to wait {}s)", d.as_secs().max(1))).unwrap_or_default()
    )]
    RateLimited {
        /// How long the provider asked to wait, if it said.
        retry_after: Option<Duration>,
        /// The provider's message (scrubbed) and what to do.
        message: String,
    },
    /// No answer within the configured `timeout`, on every attempt.
    #[error(
        "the AI provider did not answer within {}s ({attempts} attempts); raise `timeout` or try later",
        after.as_secs_f64()
    )]
    Timeout {
        /// The per-call timeout.
        after: Duration,
        /// Attempts made.
        attempts: u32,
    },
    /// The provider could not be reached (DNS, refused connection, TLS).
    #[error("cannot reach the AI provider: {0}")]
    Network(String),
    /// The provider answered, but not with what was asked for.
    #[error("the AI provider's answer is unusable: {0}")]
    BadAnswer(String),
}

impl ProviderError {
    /// Whether the error is the user's configuration (missing key, bad config) rather
    /// than the provider or the network: callers map it to exit code 2 or a `config`
    /// step error.
    pub fn is_config(&self) -> bool {
        matches!(
            self,
            ProviderError::Config { .. } | ProviderError::MissingKey { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_say_what_to_do() {
        let e = ProviderError::MissingKey {
            var: "OPENAI_API_KEY".into(),
            provider: "openai",
        };
        assert!(
            e.to_string()
                .contains("set the environment variable OPENAI_API_KEY")
        );
        assert!(e.is_config());
        let e = ProviderError::BudgetSpent {
            what: "calls",
            used: "2".into(),
            limit: "2".into(),
        };
        assert_eq!(
            e.to_string(),
            "the AI budget is spent: 2 of 2 calls used; raise `budget.max_calls` to allow more"
        );
        assert!(!e.is_config());
        let e = ProviderError::RateLimited {
            retry_after: Some(Duration::from_secs(90)),
            message: "slow down".into(),
        };
        assert!(e.to_string().contains("wait 90s"), "{e}");
        let e = ProviderError::Timeout {
            after: Duration::from_millis(1500),
            attempts: 2,
        };
        assert!(e.to_string().contains("within 1.5s (2 attempts)"), "{e}");
    }
}
