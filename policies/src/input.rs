//! What a decision is made from: the analysis of a failure, the proposed change and its
//! review.
//!
//! These are the shapes other steps produce. The analysis accepts the `analyze` action's
//! JSON as it is (`category`, `confidence`, `tool`, `fingerprint`, and any other fields,
//! which are ignored), so its outputs can be passed straight in. Change and review are
//! optional: a decision taken before a fix exists scores without them.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Severity or impact, in increasing order.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Little at stake.
    Low,
    /// The default when nothing is said.
    Medium,
    /// Users or releases are affected.
    High,
    /// An outage or data at risk.
    Critical,
}

impl Level {
    /// The name used in policies and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
            Level::Critical => "critical",
        }
    }
}

/// A failure as analysed: what went wrong and how sure the analysis is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Analysis {
    /// The kind of failure, e.g. `lint`, `test`, `flaky`, `infrastructure`, `dependency`.
    pub category: String,
    /// How sure the analysis is, 0 to 1 (`certainty` is accepted too). Values outside
    /// the range are clamped.
    #[serde(alias = "certainty")]
    pub confidence: f64,
    /// The tool whose output was analysed (`cargo`, `eslint`, `pytest`…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// A stable identifier of this failure, the same each time it recurs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// How bad the failure is; `medium` when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Level>,
    /// How much a wrong fix could break; `medium` when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impact: Option<Level>,
    /// The service affected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The repository, e.g. `acme/api`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
}

impl Analysis {
    /// A minimal analysis (for tests and examples).
    pub fn new(category: &str, confidence: f64) -> Self {
        Analysis {
            category: category.to_string(),
            confidence,
            tool: None,
            fingerprint: None,
            severity: None,
            impact: None,
            service: None,
            repository: None,
        }
    }

    /// The severity, `medium` when not given.
    pub fn severity(&self) -> Level {
        self.severity.unwrap_or(Level::Medium)
    }

    /// The impact, `medium` when not given.
    pub fn impact(&self) -> Level {
        self.impact.unwrap_or(Level::Medium)
    }
}

/// A proposed change: what a fix would touch.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Change {
    /// How many files change; the number of `paths` when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<u64>,
    /// Lines added.
    #[serde(default)]
    pub lines_added: u64,
    /// Lines removed.
    #[serde(default)]
    pub lines_removed: u64,
    /// The paths touched.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    /// The remediation action that would apply the change (rate limits may be scoped
    /// per action).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

impl Change {
    /// How many files change.
    pub fn file_count(&self) -> u64 {
        self.files.unwrap_or(self.paths.len() as u64)
    }

    /// Lines added plus lines removed.
    pub fn lines(&self) -> u64 {
        self.lines_added.saturating_add(self.lines_removed)
    }
}

/// The review of a proposed change (an automated reviewer or checks).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Review {
    /// Whether the review passed.
    pub passed: bool,
    /// Its score, 0 to 1, when the reviewer gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
}

/// Everything one decision reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionInput {
    /// The analysed failure.
    pub analysis: Analysis,
    /// The proposed change, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<Change>,
    /// Its review, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<Review>,
}

impl DecisionInput {
    /// A decision input with only an analysis.
    pub fn from_analysis(analysis: Analysis) -> Self {
        DecisionInput {
            analysis,
            change: None,
            review: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accepts_the_analyze_actions_output_with_extra_fields() {
        let a: Analysis = serde_json::from_value(json!({
            "category": "lint", "confidence": 0.92, "tool": "eslint",
            "fingerprint": "eslint:no-unused-vars:src/a.ts", "summary": "unused import",
            "evidence": ["line 3"]
        }))
        .unwrap();
        assert_eq!(a.tool.as_deref(), Some("eslint"));
        assert_eq!(a.severity(), Level::Medium);
        assert_eq!(a.impact(), Level::Medium);
        let b: Analysis =
            serde_json::from_value(json!({"category": "test", "certainty": 0.5})).unwrap();
        assert_eq!(b.confidence, 0.5);
    }

    #[test]
    fn change_counts_files_from_paths_when_not_given() {
        let c: Change = serde_json::from_value(
            json!({"paths": ["a.rs", "b.rs"], "lines_added": 3, "lines_removed": 2}),
        )
        .unwrap();
        assert_eq!(c.file_count(), 2);
        assert_eq!(c.lines(), 5);
        assert!(serde_json::from_value::<Change>(json!({"line_added": 1})).is_err());
    }

    #[test]
    fn levels_are_ordered() {
        assert!(Level::Low < Level::Medium && Level::High < Level::Critical);
    }
}
