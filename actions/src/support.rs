//! Small helpers shared by several actions: turning config values that serde cannot
//! check on its own (durations, times) into typed values with `config` errors.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use medic_engine::action::{ErrorKind, Outputs, StepError};
use medic_engine::secrets::Masker;
use serde_json::Value;

/// A `config` error: the step's `with:` block cannot be used as given.
pub(crate) fn config_error(message: impl Into<String>) -> StepError {
    StepError::new(ErrorKind::Config, message)
}

/// Parse a humantime duration (`30s`, `2m`, `1h 30m`) found in `field`.
pub(crate) fn parse_duration(field: &str, text: &str) -> Result<Duration, StepError> {
    humantime::parse_duration(text.trim()).map_err(|e| {
        config_error(format!(
            "`{field}`: `{text}` is not a duration such as `30s` or `2m` ({e})"
        ))
    })
}

/// `now + duration`, or a `config` error when that is beyond the calendar's range.
pub(crate) fn after(
    now: DateTime<Utc>,
    field: &str,
    duration: Duration,
) -> Result<DateTime<Utc>, StepError> {
    TimeDelta::from_std(duration)
        .ok()
        .and_then(|delta| now.checked_add_signed(delta))
        .ok_or_else(|| config_error(format!("`{field}` is too far in the future")))
}

/// `error` with secrets masked in its message and outputs.
pub(crate) fn masked_error(masker: &Masker, error: StepError) -> StepError {
    StepError {
        message: masker.mask(&error.message).into_owned(),
        outputs: masked_outputs(masker, error.outputs),
        kind: error.kind,
    }
}

/// `outputs` with secrets masked in every key and string.
pub(crate) fn masked_outputs(masker: &Masker, outputs: Outputs) -> Outputs {
    match masker.mask_json(&Value::Object(outputs)) {
        Value::Object(map) => map,
        // mask_json maps an object to an object.
        _ => Outputs::new(),
    }
}

/// A context for unit tests: masks `secrets`, runs in `base_dir`.
#[cfg(test)]
pub(crate) fn test_context(
    secrets: &[&str],
    base_dir: &std::path::Path,
) -> medic_engine::action::StepContext {
    use std::sync::Arc;

    medic_engine::action::StepContext::new(
        "run-1",
        "step-1",
        1,
        "run-1/step-1",
        std::collections::BTreeMap::new(),
        Arc::new(medic_engine::secrets::Masker::new(secrets.iter().copied())),
        false,
        base_dir.to_path_buf(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_human_durations() {
        assert_eq!(
            parse_duration("timeout", "2m").unwrap(),
            Duration::from_secs(120)
        );
        assert_eq!(
            parse_duration("timeout", " 1h 30m ").unwrap(),
            Duration::from_secs(5400)
        );
    }

    #[test]
    fn rejects_bare_numbers_with_the_field_name() {
        let err = parse_duration("timeout", "30").unwrap_err();
        assert_eq!(err.kind, ErrorKind::Config);
        assert!(
            err.message.starts_with("`timeout`: `30`"),
            "{}",
            err.message
        );
    }

    #[test]
    fn refuses_durations_beyond_the_calendar() {
        let err = after(Utc::now(), "duration", Duration::from_secs(u64::MAX)).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Config);
    }
}
