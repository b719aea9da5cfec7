//! Review: gates a change must pass before anyone is asked to merge it.
//!
//! Gates: size (files, lines); protected paths (CI configuration, secret-like files,
//! lock files, plus the user's globs; a recipe about CI timeouts may touch CI
//! configuration and a dependency recipe lock files); a secret scan of the added lines
//! with the sanitizer's detectors (a finding names the secret's type and place, never
//! its value); the verification command run in the worktree; optionally a model's
//! opinion. Every gate reports findings; the review passes when no finding is an error.
//!
//! The score, 0 to 1, starts at 1 and is multiplied by 0.5 per error and 0.9 per
//! warning, and by `1 - 0.5 × min(1, lines / max_lines)` so that smaller changes score
//! higher.

use medic_analyze::sanitize::{MaskMode, RuleSet, Sanitizer};
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::git::{ChangeSummary, Worktree};
use crate::model::Model;
use crate::patch::Globs;
use crate::process::{self, Env};

/// CI configuration: only the timeout recipe may touch it.
pub const CI_GLOBS: &[&str] = &[".github/workflows/**", ".gitlab-ci.yml", ".buildkite/**"];
/// Files that hold secrets: never touched by a fix.
pub const SECRET_GLOBS: &[&str] = &["**/*.pem", "**/.env*", "**/id_rsa*"];
/// Lock files: only dependency recipes may touch them.
pub const LOCK_GLOBS: &[&str] = &[
    "**/Cargo.lock",
    "**/package-lock.json",
    "**/yarn.lock",
    "**/pnpm-lock.yaml",
    "**/poetry.lock",
    "**/go.sum",
];

/// The secret-like globs, compiled.
pub fn default_secret_globs() -> Globs {
    compile(SECRET_GLOBS)
}

fn compile(patterns: &[&str]) -> Globs {
    let patterns: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
    // The built-in globs are known to compile; an empty set is the safe fallback.
    Globs::new(&patterns).unwrap_or_else(|_| Globs::new(&[]).expect("an empty glob set compiles"))
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Fails the review.
    Error,
    /// Lowers the score.
    Warning,
}

/// One thing a gate found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// `size`, `protected`, `secrets`, `test` or `model`.
    pub gate: String,
    /// Error or warning.
    pub severity: Severity,
    /// A sentence; never holds a secret value.
    pub message: String,
    /// The file concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The line in the new file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
}

/// The command that tells whether the fix works.
pub use crate::process::Verify;

/// What the review checks.
#[derive(Debug, Clone)]
pub struct Options {
    /// Most files a change may touch.
    pub max_files: u64,
    /// Most lines (added + removed) a change may have.
    pub max_lines: u64,
    /// Globs protected besides the defaults.
    pub protected: Vec<String>,
    /// Globs allowed even though protected (not secret-like files).
    pub allow_protected: Vec<String>,
    /// The strategy that made the change (`recipe:timeout` may touch CI configuration,
    /// `recipe:dependency` lock files).
    pub strategy: Option<String>,
    /// The verification command.
    pub verify: Option<Verify>,
    /// Scan added lines for secrets.
    pub secret_scan: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_files: 10,
            max_lines: 200,
            protected: Vec::new(),
            allow_protected: Vec::new(),
            strategy: None,
            verify: None,
            secret_scan: true,
        }
    }
}

/// The verification run, as reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TestRun {
    /// The command.
    pub command: String,
    /// Its exit code; null when killed.
    pub exit_code: Option<i32>,
    /// Whether it ran out of time.
    pub timed_out: bool,
    /// Wall time.
    pub duration_ms: u64,
    /// The end of its output, sanitized.
    pub output_tail: String,
}

/// The review's verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// No finding is an error.
    pub passed: bool,
    /// 0 to 1.
    pub score: f64,
    /// Everything the gates found.
    pub findings: Vec<Finding>,
    /// The verification run, when one was configured.
    pub test: Option<TestRun>,
}

/// Review `change` (the diff of `worktree` against its base).
pub async fn review(
    worktree: &Worktree,
    change: &ChangeSummary,
    options: &Options,
    model: Option<&dyn Model>,
) -> Result<Report, Error> {
    let mut findings = Vec::new();
    size_gate(change, options, &mut findings);
    protected_gate(change, options, &mut findings)?;
    if options.secret_scan {
        findings.extend(secret_scan(&change.diff));
    }
    let test = match &options.verify {
        Some(verify) => {
            let finished = process::run(
                &verify.command,
                &worktree.path,
                &Env::Inherit(Default::default()),
                verify.timeout,
            )
            .await
            .map_err(Error::io(&worktree.path))?;
            if finished.timed_out {
                findings.push(finding(
                    "test",
                    Severity::Error,
                    format!(
                        "`{}` did not finish within {}s",
                        finished.command,
                        verify.timeout.as_secs()
                    ),
                ));
            } else if finished.exit_code != Some(0) {
                findings.push(finding(
                    "test",
                    Severity::Error,
                    format!(
                        "`{}` failed with exit code {}",
                        finished.command,
                        finished.exit_code.map_or("none".into(), |c| c.to_string())
                    ),
                ));
            }
            Some(TestRun {
                command: finished.command,
                exit_code: finished.exit_code,
                timed_out: finished.timed_out,
                duration_ms: finished.duration_ms,
                output_tail: finished.output_tail,
            })
        }
        None => {
            findings.push(finding(
                "test",
                Severity::Warning,
                "no verification command: the change was not tested".into(),
            ));
            None
        }
    };
    if let Some(model) = model {
        model_gate(model, change, &mut findings).await;
    }
    let mut score = 1.0_f64;
    for f in &findings {
        score *= match f.severity {
            Severity::Error => 0.5,
            Severity::Warning => 0.9,
        };
    }
    let lines = (change.lines_added + change.lines_removed) as f64;
    score *= 1.0 - 0.5 * (lines / options.max_lines.max(1) as f64).min(1.0);
    Ok(Report {
        passed: findings.iter().all(|f| f.severity != Severity::Error),
        score: (score * 1000.0).round() / 1000.0,
        findings,
        test,
    })
}

fn finding(gate: &str, severity: Severity, message: String) -> Finding {
    Finding {
        gate: gate.to_string(),
        severity,
        message,
        path: None,
        line: None,
    }
}

fn size_gate(change: &ChangeSummary, options: &Options, findings: &mut Vec<Finding>) {
    if change.files.is_empty() {
        findings.push(finding(
            "size",
            Severity::Error,
            "the change is empty".into(),
        ));
    }
    if change.files.len() as u64 > options.max_files {
        findings.push(finding(
            "size",
            Severity::Error,
            format!(
                "{} files changed; at most {} are allowed",
                change.files.len(),
                options.max_files
            ),
        ));
    }
    let lines = change.lines_added + change.lines_removed;
    if lines > options.max_lines {
        findings.push(finding(
            "size",
            Severity::Error,
            format!(
                "{lines} lines changed; at most {} are allowed",
                options.max_lines
            ),
        ));
    }
}

fn protected_gate(
    change: &ChangeSummary,
    options: &Options,
    findings: &mut Vec<Finding>,
) -> Result<(), Error> {
    let strategy = options.strategy.as_deref().unwrap_or("");
    let ci = compile(CI_GLOBS);
    let secrets = default_secret_globs();
    let locks = compile(LOCK_GLOBS);
    let extra = Globs::new(&options.protected)?;
    let allowed = Globs::new(&options.allow_protected)?;
    for file in &change.files {
        let path = file.path.as_str();
        // Secret-like files are refused whatever is allowed.
        if let Some(glob) = secrets.matching(path) {
            findings.push(Finding {
                path: Some(path.to_string()),
                ..finding(
                    "protected",
                    Severity::Error,
                    format!("`{path}` looks like a secret file ({glob}); a fix never touches it"),
                )
            });
            continue;
        }
        let hit = match (
            ci.matching(path),
            locks.matching(path),
            extra.matching(path),
        ) {
            (Some(_), _, _) if strategy == "recipe:timeout" => None,
            (_, Some(_), _) if strategy == "recipe:dependency" => None,
            (Some(g), _, _) => Some(("CI configuration", g.to_string())),
            (_, Some(g), _) => Some(("a lock file", g.to_string())),
            (_, _, Some(g)) => Some(("protected", g.to_string())),
            _ => None,
        };
        if let Some((what, glob)) = hit
            && allowed.matching(path).is_none()
        {
            findings.push(Finding {
                path: Some(path.to_string()),
                ..finding(
                    "protected",
                    Severity::Error,
                    format!("`{path}` is {what} ({glob}); allow it with `allow_protected`"),
                )
            });
        }
    }
    Ok(())
}

/// Secrets on the added lines of `diff`: the type and the place, never the value.
pub fn secret_scan(diff: &str) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut path: Option<String> = None;
    let mut line_no = 0_u64;
    let mut sanitizer = Sanitizer::with_rules(RuleSet::builtin(), MaskMode::Keep, MaskMode::Keep);
    for line in diff.lines() {
        if let Some(p) = line.strip_prefix("+++ ") {
            path = Some(p.strip_prefix("b/").unwrap_or(p).to_string());
            // Multi-line state (a private key block) does not cross files.
            sanitizer = Sanitizer::with_rules(RuleSet::builtin(), MaskMode::Keep, MaskMode::Keep);
            continue;
        }
        if let Some(rest) = line.strip_prefix("@@ ") {
            line_no = rest
                .split(' ')
                .nth(1)
                .and_then(|n| n.strip_prefix('+'))
                .and_then(|n| n.split(',').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(1);
            continue;
        }
        if line.starts_with("--- ") || line.starts_with("diff --git") {
            continue;
        }
        match line.as_bytes().first() {
            Some(b'+') => {
                let before = sanitizer.report().by_type.clone();
                let _ = sanitizer.sanitize_line(&line[1..]);
                for (kind, count) in &sanitizer.report().by_type {
                    if before.get(kind).copied().unwrap_or(0) < *count {
                        let place = path.clone().unwrap_or_default();
                        findings.push(Finding {
                            gate: "secrets".into(),
                            severity: Severity::Error,
                            message: format!("a secret ({kind}) is added at {place}:{line_no}"),
                            path: Some(place),
                            line: Some(line_no),
                        });
                    }
                }
                line_no += 1;
            }
            Some(b' ') => line_no += 1,
            _ => {}
        }
    }
    findings
}

/// The instructions for a reviewing model.
pub const REVIEW_SYSTEM: &str = "You review a patch proposed to fix a failing CI build. Answer with one JSON \
object only: {\"approve\": true|false, \"concerns\": [\"...\"]}. Approve only a small, safe change that \
plausibly fixes the failure without weakening tests or security.";

async fn model_gate(model: &dyn Model, change: &ChangeSummary, findings: &mut Vec<Finding>) {
    let mut diff = Sanitizer::default().sanitize_text(&change.diff);
    if diff.len() > 32 * 1024 {
        let mut cut = 32 * 1024;
        while !diff.is_char_boundary(cut) {
            cut -= 1;
        }
        diff.truncate(cut);
        diff.push_str("\n… (truncated)\n");
    }
    let user = format!("The patch:\n```diff\n{diff}```\n");
    let answer = match model.complete(REVIEW_SYSTEM, &user).await {
        Ok(answer) => answer,
        Err(e) => {
            findings.push(finding(
                "model",
                Severity::Error,
                format!("the model review could not be obtained: {e}"),
            ));
            return;
        }
    };
    #[derive(Deserialize)]
    struct Verdict {
        approve: bool,
        #[serde(default)]
        concerns: Vec<String>,
    }
    let json = match (answer.find('{'), answer.rfind('}')) {
        (Some(start), Some(end)) if start < end => &answer[start..=end],
        _ => "",
    };
    match serde_json::from_str::<Verdict>(json) {
        Ok(verdict) => {
            let severity = if verdict.approve { Severity::Warning } else { Severity::Error };
            if !verdict.approve && verdict.concerns.is_empty() {
                findings.push(finding("model", Severity::Error, "the model does not approve the change".into()));
            }
            let mut sanitizer = Sanitizer::default();
            for concern in verdict.concerns.iter().take(10) {
                findings.push(finding("model", severity, sanitizer.sanitize_text(concern)));
            }
        }
        // Fail closed: a review that cannot be read approves nothing.
        Err(_) => findings.push(finding(
            "model",
            Severity::Error,
            "the model's answer is not the JSON verdict asked for ({\"approve\": …, \"concerns\": […]})".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::git::testing::{TestRepo, write_in};
    use crate::git::{FileChange, diff};
    use crate::model::Scripted;

    const TOKEN: &str = "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";
    const AWS_ID: &str = "AKIAZZZZZZZZZZZZZZZZ";

    fn worktree(files: &[(&str, &str)]) -> (TestRepo, Worktree) {
        let test = TestRepo::new(&[
            ("src/lib.rs", "fn a() {}\n"),
            ("Cargo.lock", "# lock\n"),
            (".github/workflows/ci.yml", "jobs: {}\n"),
        ]);
        let wt = test
            .checkout()
            .create_worktree("HEAD", "medic/fix-r", None)
            .unwrap();
        write_in(&wt, files);
        (test, wt)
    }

    #[tokio::test]
    async fn a_planted_secret_fails_the_review_without_showing_the_value() {
        let (_test, wt) = worktree(&[(
            "src/lib.rs",
            &format!("fn a() {{}}\nconst T: &str = \"{TOKEN}\";\nconst K: &str = \"{AWS_ID}\";\n"),
        )]);
        let change = diff(&wt).unwrap();
        let report = review(&wt, &change, &Options::default(), None)
            .await
            .unwrap();
        assert!(!report.passed);
        let secrets: Vec<&Finding> = report
            .findings
            .iter()
            .filter(|f| f.gate == "secrets")
            .collect();
        assert_eq!(secrets.len(), 2, "{secrets:?}");
        assert_eq!(secrets[0].path.as_deref(), Some("src/lib.rs"));
        assert_eq!(secrets[0].line, Some(2));
        assert_eq!(secrets[1].line, Some(3));
        assert!(
            secrets[0].message.contains("github"),
            "{}",
            secrets[0].message
        );
        let json = serde_json::to_string(&report).unwrap();
        assert!(!json.contains(TOKEN) && !json.contains(AWS_ID), "{json}");
        assert!(report.score < 0.5);
    }

    #[tokio::test]
    async fn protected_paths_fail_unless_the_recipe_or_the_config_allows_them() {
        let (_test, wt) = worktree(&[
            ("Cargo.lock", "# lock 2\n"),
            (".github/workflows/ci.yml", "jobs: {a: 1}\n"),
            ("deploy/.env.prod", "X=1\n"),
        ]);
        let change = diff(&wt).unwrap();
        let report = review(&wt, &change, &Options::default(), None)
            .await
            .unwrap();
        let protected: Vec<String> = report
            .findings
            .iter()
            .filter(|f| f.gate == "protected")
            .filter_map(|f| f.path.clone())
            .collect();
        assert_eq!(
            protected,
            [".github/workflows/ci.yml", "Cargo.lock", "deploy/.env.prod"]
        );
        let timeout = Options {
            strategy: Some("recipe:timeout".into()),
            allow_protected: vec!["Cargo.lock".into(), "deploy/**".into()],
            ..Options::default()
        };
        let report = review(&wt, &change, &timeout, None).await.unwrap();
        let protected: Vec<String> = report
            .findings
            .iter()
            .filter(|f| f.gate == "protected")
            .filter_map(|f| f.path.clone())
            .collect();
        // Secret-like files stay refused whatever is allowed.
        assert_eq!(protected, ["deploy/.env.prod"]);
        let extra = Options {
            protected: vec!["src/**".into()],
            ..Options::default()
        };
        let (_t, wt2) = worktree(&[("src/lib.rs", "fn b() {}\n")]);
        let report = review(&wt2, &diff(&wt2).unwrap(), &extra, None)
            .await
            .unwrap();
        assert!(
            report
                .findings
                .iter()
                .any(|f| f.gate == "protected" && f.message.contains("src/**"))
        );
    }

    #[tokio::test]
    async fn the_verification_command_passes_fails_or_times_out() {
        let (_test, wt) = worktree(&[("src/lib.rs", "fn a() { 1; }\n")]);
        let change = diff(&wt).unwrap();
        let with = |command: &str, secs: u64| Options {
            verify: Some(Verify {
                command: command.into(),
                timeout: Duration::from_millis(secs),
            }),
            ..Options::default()
        };
        let pass = review(
            &wt,
            &change,
            &with("grep -q '1;' src/lib.rs && echo ok", 20_000),
            None,
        )
        .await
        .unwrap();
        assert!(pass.passed, "{:?}", pass.findings);
        assert!(pass.findings.is_empty());
        let test = pass.test.unwrap();
        assert_eq!(test.exit_code, Some(0));
        assert_eq!(test.output_tail, "ok\n");
        assert!(pass.score > 0.9 && pass.score < 1.0, "{}", pass.score);
        let fail = review(
            &wt,
            &change,
            &with(&format!("echo {TOKEN}; exit 4"), 20_000),
            None,
        )
        .await
        .unwrap();
        assert!(!fail.passed);
        assert!(fail.findings[0].message.contains("exit code 4"));
        assert!(!serde_json::to_string(&fail).unwrap().contains(TOKEN));
        let slow = review(&wt, &change, &with("sleep 20", 300), None)
            .await
            .unwrap();
        assert!(!slow.passed);
        assert!(slow.test.unwrap().timed_out);
        let untested = review(&wt, &change, &Options::default(), None)
            .await
            .unwrap();
        assert!(untested.passed);
        assert_eq!(untested.findings[0].severity, Severity::Warning);
    }

    #[tokio::test]
    async fn size_limits_and_the_model_verdict() {
        let (_test, wt) = worktree(&[("a.txt", "1\n2\n3\n"), ("b.txt", "b\n")]);
        let change = diff(&wt).unwrap();
        let small = Options {
            max_files: 1,
            max_lines: 2,
            ..Options::default()
        };
        let report = review(&wt, &change, &small, None).await.unwrap();
        let sizes: Vec<&str> = report
            .findings
            .iter()
            .filter(|f| f.gate == "size")
            .map(|f| f.message.as_str())
            .collect();
        assert_eq!(
            sizes,
            [
                "2 files changed; at most 1 are allowed",
                "4 lines changed; at most 2 are allowed"
            ]
        );
        let model =
            Scripted::new(["Sure: {\"approve\": false, \"concerns\": [\"deletes a test\"]}"]);
        let report = review(&wt, &change, &Options::default(), Some(&model))
            .await
            .unwrap();
        assert!(!report.passed);
        assert!(
            report
                .findings
                .iter()
                .any(|f| f.gate == "model" && f.message == "deletes a test")
        );
        let model = Scripted::new(["{\"approve\": true, \"concerns\": []}"]);
        assert!(
            review(&wt, &change, &Options::default(), Some(&model))
                .await
                .unwrap()
                .passed
        );
        let model = Scripted::new(["looks fine to me"]);
        assert!(
            !review(&wt, &change, &Options::default(), Some(&model))
                .await
                .unwrap()
                .passed
        );
        let empty = ChangeSummary {
            files: Vec::<FileChange>::new(),
            ..ChangeSummary::default()
        };
        assert!(
            !review(&wt, &empty, &Options::default(), None)
                .await
                .unwrap()
                .passed
        );
    }
}
