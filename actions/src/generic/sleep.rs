//! `sleep`: wait for a duration or until a point in time without holding a task.
//!
//! The action only computes the wake-up time; the engine persists the wait and resumes
//! the step when it is due, so a sleeping run survives a restart and costs nothing.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use medic_engine::action::{Action, OutputDoc, StepContext, StepError, StepOutcome, Wait};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::support::{after, config_error, masked_error, parse_duration};

/// The `sleep` action.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sleep;

/// `with:` of a `sleep` step. Give exactly one of `duration` and `until`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SleepConfig {
    /// How long to wait, e.g. `30s`, `10m`, `1h 30m`.
    #[serde(default)]
    pub duration: Option<String>,
    /// When to wake up, as an RFC 3339 time such as `2026-05-01T08:00:00Z`. A time in the
    /// past wakes up at once.
    #[serde(default)]
    pub until: Option<String>,
}

impl SleepConfig {
    /// The wake-up time, checked.
    fn wake_at(&self, now: DateTime<Utc>) -> Result<DateTime<Utc>, StepError> {
        match (&self.duration, &self.until) {
            (Some(duration), None) => after(now, "duration", parse_duration("duration", duration)?),
            (None, Some(until)) => DateTime::parse_from_rfc3339(until.trim())
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| {
                    config_error(format!(
                        "`until`: `{until}` is not an RFC 3339 time such as \
                         `2026-05-01T08:00:00Z` ({e})"
                    ))
                }),
            (Some(_), Some(_)) => Err(config_error("give either `duration` or `until`, not both")),
            (None, None) => Err(config_error(
                "give `duration` (e.g. `30s`) or `until` (RFC 3339)",
            )),
        }
    }
}

#[async_trait]
impl Action for Sleep {
    type Config = SleepConfig;
    const NAME: &'static str = "sleep";
    const DESCRIPTION: &'static str = "Waits for a duration or until a point in time. The wait \
        is persisted by the engine, so it holds no task, costs nothing and survives restarts.";
    const EXAMPLE: &'static str = r#"cool_down:
  uses: sleep
  with:
    duration: 10m
"#;
    // Set by the engine when it resumes the step.
    const OUTPUTS: &'static [OutputDoc] = &[OutputDoc {
        name: "woke_at",
        kind: "string",
        description: "When the step resumed, as an RFC 3339 time.",
    }];

    async fn run(&self, config: SleepConfig, ctx: &StepContext) -> Result<StepOutcome, StepError> {
        let wake_at = config
            .wake_at(Utc::now())
            .map_err(|e| masked_error(&ctx.masker, e))?;
        ctx.log(format!("sleeping until {}", wake_at.to_rfc3339()));
        Ok(StepOutcome::Suspend(Wait::Until { wake_at }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::support::test_context;
    use chrono::TimeDelta;
    use medic_engine::action::ErrorKind;
    use serde_json::json;

    fn config(value: serde_json::Value) -> SleepConfig {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn example_config_parses() {
        let now = Utc::now();
        let config = crate::support::example_config::<Sleep>();
        let wake_at = config.wake_at(now).unwrap();
        assert_eq!(wake_at - now, TimeDelta::minutes(10));
    }

    #[test]
    fn until_is_an_rfc3339_time_in_any_offset() {
        let wake_at = config(json!({"until": "2026-05-01T10:00:00+02:00"}))
            .wake_at(Utc::now())
            .unwrap();
        assert_eq!(wake_at.to_rfc3339(), "2026-05-01T08:00:00+00:00");
    }

    #[test]
    fn exactly_one_of_duration_and_until() {
        for value in [
            json!({}),
            json!({"duration": "1s", "until": "2026-05-01T08:00:00Z"}),
        ] {
            let err = config(value).wake_at(Utc::now()).unwrap_err();
            assert_eq!(err.kind, ErrorKind::Config);
        }
    }

    #[test]
    fn bad_values_are_config_errors_naming_the_field() {
        let err = config(json!({"duration": "soon"}))
            .wake_at(Utc::now())
            .unwrap_err();
        assert!(
            err.message.starts_with("`duration`: `soon`"),
            "{}",
            err.message
        );
        let err = config(json!({"until": "tomorrow"}))
            .wake_at(Utc::now())
            .unwrap_err();
        assert!(
            err.message.starts_with("`until`: `tomorrow`"),
            "{}",
            err.message
        );
        let err = config(json!({"duration": "1000000000000years"})).wake_at(Utc::now());
        assert_eq!(err.unwrap_err().kind, ErrorKind::Config);
    }

    #[tokio::test]
    async fn suspends_until_the_wake_up_time() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = test_context(&[], dir.path());
        let before = Utc::now();
        let outcome = Sleep
            .run(config(json!({"duration": "2m"})), &ctx)
            .await
            .unwrap();
        let StepOutcome::Suspend(Wait::Until { wake_at }) = outcome else {
            panic!("sleep must suspend, got {outcome:?}");
        };
        assert!(wake_at >= before + TimeDelta::minutes(2));
        assert!(wake_at <= Utc::now() + TimeDelta::minutes(2));
    }
}
