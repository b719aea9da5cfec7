//! Masking of the workflow's secret values in everything Medic stores or prints.
//!
//! Secrets are named in a workflow's `secrets:` list and resolved from the environment.
//! Their values are replaced by `***` in rendered step inputs, outputs, logs, errors and
//! events before any of those reach the store or the terminal.
//!
//! Values the workflow does not name (a `ghp_…` token a shell step prints, a database
//! URL with a password) are caught by an optional [`Redactor`] the embedding program
//! installs: the binary plugs in medic-analyze's sanitizer, so that there is one
//! sanitizer for every path while the engine stays free of its rules.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde_json::Value;

/// The text that replaces a secret value.
pub const MASK: &str = "***";

/// Removes secrets the workflow did not declare, by recognising their shape.
///
/// Applied by [`Masker`] after the declared values, to every text it masks. It must be
/// idempotent (masking twice gives what masking once gives) and must not fail.
pub trait Redactor: Send + Sync + fmt::Debug {
    /// `text` with every secret it recognises replaced.
    fn redact<'a>(&self, text: &'a str) -> Cow<'a, str>;

    /// A redactor for the consecutive lines of one log, for secrets that span lines
    /// (a private key block printed line by line). `None`: each line on its own.
    fn log_redactor(&self) -> Option<Box<dyn LogRedactor>> {
        None
    }
}

/// Redacts one log line after another, remembering what earlier lines started.
pub trait LogRedactor: Send {
    /// The next line (without its terminator) with secrets replaced.
    fn redact_line(&mut self, line: &str) -> String;
}

/// Replaces known secret values with [`MASK`], then applies the [`Redactor`], if any.
#[derive(Default, Clone)]
pub struct Masker {
    // Longest first, so that a secret containing another is masked whole.
    values: Vec<String>,
    redactor: Option<Arc<dyn Redactor>>,
}

impl fmt::Debug for Masker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Masker(<{} secrets>, redactor: {})",
            self.values.len(),
            self.redactor.is_some()
        )
    }
}

impl Masker {
    /// A masker for these secret values. Values shorter than 4 characters are ignored:
    /// masking every `a` or `1` in a log would destroy it and protect nothing.
    pub fn new<I, S>(values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut values: Vec<String> = values
            .into_iter()
            .map(Into::into)
            .filter(|v| v.chars().count() >= 4)
            .collect();
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values.dedup();
        Masker {
            values,
            redactor: None,
        }
    }

    /// This masker, also applying `redactor` to everything it masks.
    pub fn with_redactor(mut self, redactor: Option<Arc<dyn Redactor>>) -> Self {
        self.redactor = redactor;
        self
    }

    /// A redactor for the lines of one log (see [`Redactor::log_redactor`]).
    pub fn log_redactor(&self) -> Option<Box<dyn LogRedactor>> {
        self.redactor.as_ref().and_then(|r| r.log_redactor())
    }

    /// `line`, the next line of a log, with secret values replaced and `log`, the
    /// log's redactor, applied (or the plain redactor when there is none).
    pub fn mask_log_line(&self, line: &str, log: Option<&mut Box<dyn LogRedactor>>) -> String {
        let mut out = Cow::Borrowed(line);
        for value in &self.values {
            if out.contains(value.as_str()) {
                out = Cow::Owned(out.replace(value.as_str(), MASK));
            }
        }
        match (log, &self.redactor) {
            (Some(log), _) => log.redact_line(&out),
            (None, Some(r)) => r.redact(&out).into_owned(),
            (None, None) => out.into_owned(),
        }
    }

    /// Whether there is nothing to mask.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty() && self.redactor.is_none()
    }

    /// `text` with every secret value replaced, then the redactor applied.
    pub fn mask<'a>(&self, text: &'a str) -> Cow<'a, str> {
        // Most outputs hold empty strings (a quiet command's stdout and stderr).
        if text.is_empty() {
            return Cow::Borrowed(text);
        }
        let mut out = Cow::Borrowed(text);
        for value in &self.values {
            if out.contains(value.as_str()) {
                out = Cow::Owned(out.replace(value.as_str(), MASK));
            }
        }
        match (&self.redactor, out) {
            (None, out) => out,
            (Some(r), Cow::Borrowed(t)) => r.redact(t),
            (Some(r), Cow::Owned(t)) => Cow::Owned(r.redact(&t).into_owned()),
        }
    }

    /// A copy of `value` with secrets masked in every string, key included.
    pub fn mask_json(&self, value: &Value) -> Value {
        if self.is_empty() {
            return value.clone();
        }
        match value {
            Value::String(s) => Value::String(self.mask(s).into_owned()),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.mask_json(v)).collect()),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (self.mask(k).into_owned(), self.mask_json(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_every_occurrence_longest_first() {
        let masker = Masker::new(["hunter2-long", "hunter2"]);
        assert_eq!(masker.mask("a hunter2-long b hunter2"), "a *** b ***");
    }

    #[test]
    fn ignores_tiny_values() {
        let masker = Masker::new(["ab"]);
        assert_eq!(masker.mask("abc"), "abc");
    }

    /// Stands in for medic-analyze's sanitizer: redacts `tok_` words.
    #[derive(Debug)]
    struct TokRedactor;

    impl Redactor for TokRedactor {
        fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
            if !text.contains("tok_") {
                return Cow::Borrowed(text);
            }
            Cow::Owned(
                text.split(' ')
                    .map(|w| {
                        if w.starts_with("tok_") {
                            "[REDACTED]"
                        } else {
                            w
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(" "),
            )
        }

        fn log_redactor(&self) -> Option<Box<dyn LogRedactor>> {
            Some(Box::new(Block(false)))
        }
    }

    /// Redacts every line from `BEGIN` to `END`.
    struct Block(bool);

    impl LogRedactor for Block {
        fn redact_line(&mut self, line: &str) -> String {
            if line == "BEGIN" {
                self.0 = true;
            }
            let out = if self.0 {
                "[KEY]".to_string()
            } else {
                line.to_string()
            };
            if line == "END" {
                self.0 = false;
            }
            out
        }
    }

    #[test]
    fn log_lines_go_through_one_stateful_redactor_per_log() {
        let masker = Masker::new(["hunter2-long"]).with_redactor(Some(Arc::new(TokRedactor)));
        let mut log = masker.log_redactor();
        let lines: Vec<String> = ["a hunter2-long", "BEGIN", "c2VjcmV0", "END", "after"]
            .iter()
            .map(|l| masker.mask_log_line(l, log.as_mut()))
            .collect();
        assert_eq!(lines, ["a ***", "[KEY]", "[KEY]", "[KEY]", "after"]);
        // Without a log redactor, the plain one applies line by line.
        assert_eq!(masker.mask_log_line("x tok_1", None), "x [REDACTED]");
    }

    #[test]
    fn the_redactor_runs_after_the_declared_values_in_text_and_json() {
        let masker = Masker::new(["hunter2-long"]).with_redactor(Some(Arc::new(TokRedactor)));
        assert!(!masker.is_empty());
        assert_eq!(
            masker.mask("hunter2-long then tok_abc"),
            "*** then [REDACTED]"
        );
        assert_eq!(masker.mask("tok_x"), "[REDACTED]");
        let v = serde_json::json!({"out": ["printed tok_123"]});
        assert_eq!(
            masker.mask_json(&v),
            serde_json::json!({"out": ["printed [REDACTED]"]})
        );
        // Without declared secrets the redactor alone still applies.
        let only = Masker::default().with_redactor(Some(Arc::new(TokRedactor)));
        assert_eq!(only.mask_json(&v)["out"][0], "printed [REDACTED]");
        assert!(format!("{only:?}").contains("redactor: true"));
    }

    #[test]
    fn masks_json_keys_and_values() {
        let masker = Masker::new(["s3cr3t-value"]);
        let v = serde_json::json!({"token": "Bearer s3cr3t-value", "s3cr3t-value": [1, "x s3cr3t-value"]});
        assert_eq!(
            masker.mask_json(&v),
            serde_json::json!({"token": "Bearer ***", "***": [1, "x ***"]})
        );
    }
}
