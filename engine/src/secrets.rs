//! Masking of the workflow's secret values in everything Medic stores or prints.
//!
//! Secrets are named in a workflow's `secrets:` list and resolved from the environment.
//! Their values are replaced by `***` in rendered step inputs, outputs, logs, errors and
//! events before any of those reach the store or the terminal.

use std::borrow::Cow;
use std::fmt;

use serde_json::Value;

/// The text that replaces a secret value.
pub const MASK: &str = "***";

/// Replaces known secret values with [`MASK`].
#[derive(Default, Clone)]
pub struct Masker {
    // Longest first, so that a secret containing another is masked whole.
    values: Vec<String>,
}

impl fmt::Debug for Masker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Masker(<{} secrets>)", self.values.len())
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
        Masker { values }
    }

    /// Whether there is nothing to mask.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// `text` with every secret value replaced.
    pub fn mask<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for value in &self.values {
            if out.contains(value.as_str()) {
                out = Cow::Owned(out.replace(value.as_str(), MASK));
            }
        }
        out
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
