//! `log`: write a message to the run's log, e.g. a summary built from earlier outputs.

use async_trait::async_trait;
use medic_engine::action::{Action, OutputDoc, Outputs, StepContext, StepError, StepOutcome};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

/// The `log` action.
#[derive(Debug, Clone, Copy, Default)]
pub struct Log;

/// How loud a log message is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Routine information.
    #[default]
    Info,
    /// Something a human should look at.
    Warn,
    /// Something went wrong.
    Error,
}

/// `with:` of a `log` step.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// The text to log; may use `{{ expressions }}`. Secrets in it are masked.
    pub message: String,
    /// `info` (default), `warn` or `error`.
    #[serde(default)]
    pub level: Level,
}

#[async_trait]
impl Action for Log {
    type Config = LogConfig;
    const NAME: &'static str = "log";
    const DESCRIPTION: &'static str = "Writes a message to the run's log and to Medic's own \
        diagnostics at the given level. Useful to record a summary built from earlier steps' \
        outputs. Never fails.";
    const EXAMPLE: &'static str = r#"summary:
  uses: log
  with:
    message: "Run {{ run.id }} needs a look"
    level: warn
"#;
    const OUTPUTS: &'static [OutputDoc] = &[OutputDoc {
        name: "message",
        kind: "string",
        description: "The message as logged, secrets masked.",
    }];

    async fn run(&self, config: LogConfig, ctx: &StepContext) -> Result<StepOutcome, StepError> {
        let message = ctx.masker.mask(&config.message).into_owned();
        let (run_id, step_id) = (ctx.run_id.as_str(), ctx.step_id.as_str());
        match config.level {
            Level::Info => {
                tracing::info!(run_id, step_id, message = %message, "log step");
                ctx.log(&message);
            }
            Level::Warn => {
                tracing::warn!(run_id, step_id, message = %message, "log step");
                ctx.log(format!("warning: {message}"));
            }
            Level::Error => {
                tracing::error!(run_id, step_id, message = %message, "log step");
                ctx.log(format!("error: {message}"));
            }
        }
        let mut outputs = Outputs::new();
        outputs.insert("message".into(), Value::String(message));
        Ok(StepOutcome::Success(outputs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::support::test_context;
    use serde_json::json;

    #[test]
    fn example_config_parses() {
        let config = crate::support::example_config::<Log>();
        assert_eq!(config.message, "Run {{ run.id }} needs a look");
        assert_eq!(config.level, Level::Warn);
    }

    #[test]
    fn level_defaults_to_info_and_unknown_fields_are_refused() {
        let config: LogConfig = serde_json::from_value(json!({"message": "hi"})).unwrap();
        assert_eq!(config.level, Level::Info);
        let err = serde_json::from_value::<LogConfig>(json!({"message": "hi", "lvl": "warn"}))
            .unwrap_err();
        assert!(err.to_string().contains("unknown field `lvl`"), "{err}");
        assert!(
            serde_json::from_value::<LogConfig>(json!({"message": "hi", "level": "debug"}))
                .is_err()
        );
    }

    #[tokio::test]
    async fn logs_and_outputs_the_masked_message() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = test_context(&["hunter22"], dir.path());
        let config = LogConfig {
            message: "token hunter22 rotated".into(),
            level: Level::Error,
        };
        let StepOutcome::Success(outputs) = Log.run(config, &ctx).await.unwrap() else {
            panic!("log must succeed");
        };
        assert_eq!(outputs["message"], "token *** rotated");
        assert_eq!(ctx.logs(), ["error: token *** rotated"]);
    }
}
