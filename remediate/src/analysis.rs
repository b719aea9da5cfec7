//! The analysed failure as remediation reads it: the `analyze` action's outputs
//! (category, fingerprint, failing tests, `file:line` locations, the key lines), taken
//! as they are so a workflow can pass `{{ steps.analyze.outputs }}` straight in.

use schemars::JsonSchema;
use serde::Deserialize;

/// One line of the analysis' excerpt.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, JsonSchema)]
pub struct KeyLine {
    /// The line number in the original log.
    #[serde(default)]
    pub line: u64,
    /// The sanitized text.
    #[serde(default)]
    pub text: String,
}

/// What remediation needs from an analysis. Unknown fields are ignored on purpose:
/// the analyzer's outputs carry more (report_markdown, seen_count…) than a fix needs.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
pub struct Failure {
    /// `test`, `flaky`, `dependency`, `timeout`, `network`, `infrastructure`…
    #[serde(default)]
    pub category: String,
    /// The failure's stable id; names the fix branch.
    #[serde(default)]
    pub fingerprint: String,
    /// The tool most involved (`cargo`, `pytest`, `jest`, `go`…).
    #[serde(default)]
    pub tool: Option<String>,
    /// The line that best states the failure.
    #[serde(default)]
    pub summary: Option<String>,
    /// Failing test names as the tool prints them.
    #[serde(default)]
    pub tests: Vec<String>,
    /// `file:line[:col]` near the failure.
    #[serde(default)]
    pub locations: Vec<String>,
    /// The excerpt.
    #[serde(default)]
    pub key_lines: Vec<KeyLine>,
}

impl Failure {
    /// The files the analysis names (from `locations`), without line numbers, in order
    /// and without duplicates.
    pub fn files(&self) -> Vec<String> {
        let mut files: Vec<String> = Vec::new();
        for location in &self.locations {
            let file = strip_line_numbers(location);
            if !file.is_empty() && !files.iter().any(|f| f == file) {
                files.push(file.to_string());
            }
        }
        files
    }

    /// Whether the failure names `path` (a repository-relative path): a location ends
    /// with it (logs often print absolute paths), or a key line mentions it.
    pub fn mentions(&self, path: &str) -> bool {
        let path = path.trim_start_matches("./");
        if path.is_empty() {
            return false;
        }
        self.files().iter().any(|file| same_file(file, path))
            || self.key_lines.iter().any(|k| k.text.contains(path))
    }
}

/// `src/a.rs:12:5` → `src/a.rs`.
fn strip_line_numbers(location: &str) -> &str {
    let mut rest = location.trim();
    for _ in 0..2 {
        match rest.rsplit_once(':') {
            Some((head, tail)) if !tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit()) => {
                rest = head;
            }
            _ => break,
        }
    }
    rest
}

/// Whether a file named in a log (maybe absolute, maybe `./`-prefixed) is `path`.
fn same_file(logged: &str, path: &str) -> bool {
    let logged = logged.trim_start_matches("./");
    logged == path || logged.ends_with(&format!("/{path}")) || path.ends_with(&format!("/{logged}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_the_analyze_outputs_and_names_files() {
        let failure: Failure = serde_json::from_value(json!({
            "category": "test", "confidence": 0.9, "fingerprint": "abcdef0123456789",
            "tool": "cargo", "tests": ["parser::tests::rejects_bad_utf8"],
            "locations": ["src/parser.rs:42:9", "/home/runner/work/r/r/src/lib.rs:7", "src/parser.rs:50"],
            "key_lines": [{"line": 9, "text": "thread panicked at crates/core/src/io.rs:3:1", "role": "error"}],
            "report_markdown": "…", "seen_count": 2
        }))
        .unwrap();
        assert_eq!(
            failure.files(),
            ["src/parser.rs", "/home/runner/work/r/r/src/lib.rs"]
        );
        assert!(failure.mentions("src/parser.rs"));
        assert!(failure.mentions("src/lib.rs"));
        assert!(failure.mentions("crates/core/src/io.rs"));
        assert!(!failure.mentions("src/main.rs"));
        assert!(!failure.mentions(""));
    }
}
