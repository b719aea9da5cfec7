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

/// The `with:` block of `A`'s example, read as YAML and deserialized into its config,
/// so that an example that drifts from the config fails a test.
#[cfg(test)]
pub(crate) fn example_config<A: medic_engine::action::Action>() -> A::Config {
    let value = example_yaml::to_json(A::EXAMPLE);
    let steps = value
        .as_object()
        .expect("an example is one step: `<id>:` and its fields");
    assert_eq!(steps.len(), 1, "{} example holds one step", A::NAME);
    let step = steps.values().next().unwrap();
    assert_eq!(step["uses"], A::NAME);
    serde_json::from_value(step["with"].clone())
        .unwrap_or_else(|e| panic!("{} example's `with:` does not fit its config: {e}", A::NAME))
}

/// Like [`example_config`], for examples whose `with:` reads earlier steps: templates
/// are rendered against `ctx` first, as the runtime does.
#[cfg(test)]
pub(crate) fn example_config_rendered<A: medic_engine::action::Action>(ctx: &Value) -> A::Config {
    let value = example_yaml::to_json(A::EXAMPLE);
    let step = value
        .as_object()
        .and_then(|steps| steps.values().next())
        .expect("an example is one step");
    assert_eq!(step["uses"], A::NAME);
    let with = medic_engine::expr::Expr::new()
        .render_value(&step["with"], ctx)
        .unwrap_or_else(|e| panic!("{} example's `with:` does not render: {e}", A::NAME));
    serde_json::from_value(with)
        .unwrap_or_else(|e| panic!("{} example's `with:` does not fit its config: {e}", A::NAME))
}

/// Just enough YAML to read the examples: block and flow collections and scalars with
/// YAML 1.2 core types. Anchors and tags are refused.
#[cfg(test)]
mod example_yaml {
    use saphyr_parser::{Event, Parser, ScalarStyle};
    use serde_json::{Map, Value};

    pub(crate) fn to_json(text: &str) -> Value {
        let mut events = Parser::new_from_str(text)
            .map(|r| r.unwrap_or_else(|e| panic!("invalid YAML: {e}\n{text}")).0);
        loop {
            match events.next() {
                Some(Event::StreamStart | Event::DocumentStart(_)) => continue,
                Some(first) => return node(first, &mut events),
                None => panic!("empty YAML"),
            }
        }
    }

    fn node<'a>(first: Event<'a>, events: &mut impl Iterator<Item = Event<'a>>) -> Value {
        match first {
            Event::Scalar(text, ScalarStyle::Plain, 0, None) => plain(&text),
            Event::Scalar(text, _, 0, None) => Value::String(text.into_owned()),
            Event::SequenceStart(0, None) => {
                let mut items = Vec::new();
                loop {
                    match events.next() {
                        Some(Event::SequenceEnd) => return Value::Array(items),
                        Some(event) => items.push(node(event, events)),
                        None => panic!("unterminated sequence"),
                    }
                }
            }
            Event::MappingStart(0, None) => {
                let mut map = Map::new();
                loop {
                    match events.next() {
                        Some(Event::MappingEnd) => return Value::Object(map),
                        Some(key) => {
                            let key = match node(key, events) {
                                Value::String(key) => key,
                                other => other.to_string(),
                            };
                            let value = node(events.next().expect("a value"), events);
                            map.insert(key, value);
                        }
                        None => panic!("unterminated mapping"),
                    }
                }
            }
            other => panic!("unsupported YAML in an example: {other:?}"),
        }
    }

    fn plain(text: &str) -> Value {
        match text {
            "" | "~" | "null" => Value::Null,
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ if text
                .bytes()
                .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b)) =>
            {
                text.parse::<i64>()
                    .map(Value::from)
                    .or_else(|_| text.parse::<f64>().map(Value::from))
                    .unwrap_or_else(|_| Value::String(text.to_string()))
            }
            _ => Value::String(text.to_string()),
        }
    }

    #[test]
    fn reads_block_and_flow_yaml_with_core_types() {
        let value = to_json(
            "a:\n  b: [1, x@y.z, \"2\"]\n  c: { d: true, e: ~ }\n  f: |\n    one\n    two\n",
        );
        assert_eq!(
            value,
            serde_json::json!({"a": {"b": [1, "x@y.z", "2"], "c": {"d": true, "e": null}, "f": "one\ntwo\n"}})
        );
    }
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
