//! The body of a pull request Medic opens: what failed, the fix, its review, the
//! decision with every factor, and how to reject it.
//!
//! The inputs are the outputs of the earlier steps as they are (JSON), so that a
//! workflow passes `{{ steps.analyze.outputs }}` and friends straight through. Missing
//! parts are left out rather than shown empty. The hidden marker at the end carries the
//! fingerprint and the fix's hash: a later run reads it from a closed pull request to
//! know that a human declined this very fix.

use std::fmt::Write;

use serde_json::Value;

/// What the body is made from.
#[derive(Debug, Default, Clone)]
pub struct BodyInput<'a> {
    /// The `analyze` step's outputs.
    pub analysis: Option<&'a Value>,
    /// The `generate-fix` step's outputs.
    pub fix: Option<&'a Value>,
    /// The `review` step's outputs.
    pub review: Option<&'a Value>,
    /// The `decide` step's outputs.
    pub decision: Option<&'a Value>,
    /// The failure's fingerprint.
    pub fingerprint: Option<&'a str>,
    /// The hash of the proposed diff.
    pub fix_hash: Option<&'a str>,
}

/// The marker line's prefix.
pub const MARKER: &str = "<!-- medic:";

/// Render the Markdown body.
pub fn render(input: &BodyInput<'_>) -> String {
    let mut out = String::new();
    if let Some(a) = input.analysis {
        let _ = writeln!(out, "## What failed\n");
        match a.get("report_markdown").and_then(Value::as_str) {
            Some(report) if !report.trim().is_empty() => {
                out.push_str(report.trim_end());
                out.push_str("\n\n");
            }
            _ => {
                let _ = writeln!(
                    out,
                    "A `{}` failure (confidence {}).\n",
                    text(a, "category"),
                    percent(a.get("confidence"))
                );
            }
        }
    }
    if let Some(f) = input.fix {
        let _ = writeln!(out, "## The fix\n");
        let _ = writeln!(
            out,
            "Strategy `{}`: {}",
            text(f, "strategy"),
            text(f, "summary")
        );
        let files: Vec<&str> = f
            .get("files")
            .and_then(Value::as_array)
            .map(|files| {
                files
                    .iter()
                    .filter_map(|file| file.get("path").and_then(Value::as_str).or(file.as_str()))
                    .collect()
            })
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "\n{} file{} changed, +{} −{} lines{}\n",
            files.len(),
            if files.len() == 1 { "" } else { "s" },
            number(f.get("lines_added")),
            number(f.get("lines_removed")),
            if files.is_empty() {
                String::new()
            } else {
                format!(
                    ": {}",
                    files
                        .iter()
                        .map(|p| format!("`{p}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        );
    }
    if let Some(r) = input.review {
        let passed = r.get("passed").and_then(Value::as_bool).unwrap_or(false);
        let _ = writeln!(out, "## Review\n");
        let _ = writeln!(
            out,
            "{} (score {}).",
            if passed { "Passed" } else { "Did not pass" },
            r.get("score")
                .and_then(Value::as_f64)
                .map_or("n/a".to_string(), |s| format!("{s:.2}"))
        );
        if let Some(test) = r.get("test").filter(|t| t.is_object()) {
            let _ = writeln!(
                out,
                "Verification `{}` exited {} in {} ms.",
                text(test, "command"),
                number(test.get("exit_code")),
                number(test.get("duration_ms"))
            );
        }
        let findings = r
            .get("findings")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for finding in &findings {
            let place = match (
                finding.get("path").and_then(Value::as_str),
                finding.get("line").and_then(Value::as_u64),
            ) {
                (Some(p), Some(l)) => format!(" (`{p}:{l}`)"),
                (Some(p), None) => format!(" (`{p}`)"),
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "- {} · {}: {}{place}",
                text(finding, "gate"),
                text(finding, "severity"),
                text(finding, "message")
            );
        }
        out.push('\n');
    }
    if let Some(d) = input.decision {
        let _ = writeln!(out, "## Decision\n");
        let _ = writeln!(
            out,
            "**{}** with confidence {} (rule `{}`).\n",
            text(d, "outcome"),
            percent(d.get("confidence")),
            text(d, "rule")
        );
        if let Some(factors) = d.get("factors").and_then(Value::as_array) {
            let _ = writeln!(out, "| signal | weight | value | share | how |");
            let _ = writeln!(out, "|---|---:|---:|---:|---|");
            for f in factors {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} |",
                    text(f, "name"),
                    fixed(f.get("weight")),
                    fixed(f.get("value")),
                    fixed(f.get("contribution")),
                    text(f, "detail").replace('|', "\\|")
                );
            }
            out.push('\n');
        }
        if let Some(reasons) = d.get("reasons").and_then(Value::as_array) {
            for reason in reasons.iter().filter_map(Value::as_str) {
                let _ = writeln!(out, "- {reason}");
            }
            out.push('\n');
        }
    }
    let _ = writeln!(out, "## To reject\n");
    let _ = writeln!(
        out,
        "Close this pull request without merging: Medic records the fix as declined and \
         does not propose it again for this failure until the fix changes. Push a commit to \
         the branch and Medic stops updating it.\n"
    );
    let _ = writeln!(
        out,
        "{MARKER} fingerprint={} fix={} -->",
        input.fingerprint.unwrap_or("-"),
        input.fix_hash.unwrap_or("-")
    );
    out
}

/// The fix hash a body's marker carries, if any.
pub fn marked_fix_hash(body: &str) -> Option<&str> {
    let start = body.rfind(MARKER)? + MARKER.len();
    let rest = &body[start..];
    let end = rest.find("-->")?;
    rest[..end]
        .split_whitespace()
        .find_map(|pair| pair.strip_prefix("fix="))
        .filter(|hash| *hash != "-")
}

fn text<'v>(v: &'v Value, key: &str) -> &'v str {
    v.get(key).and_then(Value::as_str).unwrap_or("?")
}

fn number(v: Option<&Value>) -> String {
    v.map_or_else(|| "?".to_string(), Value::to_string)
}

fn fixed(v: Option<&Value>) -> String {
    v.and_then(Value::as_f64)
        .map_or_else(|| "–".to_string(), |x| format!("{x:.2}"))
}

fn percent(v: Option<&Value>) -> String {
    v.and_then(Value::as_f64)
        .map_or_else(|| "?".to_string(), |x| format!("{:.0}%", x * 100.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn carries_every_part_and_a_marker_that_reads_back() {
        let analysis = json!({"category": "test", "confidence": 0.92,
            "report_markdown": "### ✖ test failure\n\n```text\n4 │ not ok 2 - add handles negative numbers\n```\n"});
        let fix = json!({"strategy": "revert", "summary": "revert 1a2b3c4 (calc: read signs)",
            "files": [{"path": "calc.sh", "added": 2, "removed": 7}], "lines_added": 2, "lines_removed": 7});
        let review = json!({"passed": true, "score": 0.9,
            "test": {"command": "sh test.sh", "exit_code": 0, "duration_ms": 12},
            "findings": [{"gate": "size", "severity": "info", "message": "small", "path": "calc.sh"}]});
        let decision = json!({"outcome": "open_pr", "confidence": 0.74, "rule": "confident-test",
            "factors": [{"name": "certainty", "weight": 0.4, "value": 0.92, "contribution": 0.46, "detail": "a | b"}],
            "reasons": ["a confident analysis"]});
        let body = render(&BodyInput {
            analysis: Some(&analysis),
            fix: Some(&fix),
            review: Some(&review),
            decision: Some(&decision),
            fingerprint: Some("93339a1d6a4d34fa"),
            fix_hash: Some("abc123"),
        });
        for needle in [
            "not ok 2 - add handles negative numbers",
            "Strategy `revert`: revert 1a2b3c4",
            "1 file changed, +2 −7 lines: `calc.sh`",
            "Passed (score 0.90).",
            "Verification `sh test.sh` exited 0 in 12 ms.",
            "- size · info: small (`calc.sh`)",
            "**open_pr** with confidence 74% (rule `confident-test`).",
            "| certainty | 0.40 | 0.92 | 0.46 | a \\| b |",
            "- a confident analysis",
            "Close this pull request without merging",
        ] {
            assert!(body.contains(needle), "{needle:?} missing from\n{body}");
        }
        assert_eq!(marked_fix_hash(&body), Some("abc123"));
        assert_eq!(marked_fix_hash("a body a human wrote"), None);
    }

    #[test]
    fn missing_parts_are_left_out() {
        let body = render(&BodyInput::default());
        assert!(!body.contains("## What failed"));
        assert!(!body.contains("## Review"));
        assert!(body.contains("## To reject"));
        assert_eq!(marked_fix_hash(&body), None);
    }
}
