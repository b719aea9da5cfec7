//! llm-patch: ask a model for a unified diff, refuse it if it reaches outside the
//! allowed paths, and apply it to the worktree.
//!
//! The prompt holds the sanitized excerpt of the log and the files the analysis names,
//! read from the worktree, within a size budget; files that look like secrets are
//! never read. A diff that does not apply is sent back once with libgit2's reason.

use std::path::{Path, PathBuf};

use medic_analyze::sanitize::Sanitizer;

use crate::analysis::Failure;
use crate::git::{Worktree, is_inside_repo, open_worktree};
use crate::model::Model;
use crate::patch::{self, Globs};
use crate::review::default_secret_globs;
use crate::strategy::finish;
use crate::{Error, Outcome};

/// Bytes of prompt, all parts together.
pub const PROMPT_BUDGET: usize = 48 * 1024;
/// Bytes of one file in the prompt.
const FILE_BUDGET: usize = 16 * 1024;

/// The instructions given with every llm-patch prompt.
pub const SYSTEM: &str = "You fix failing CI builds. Answer with exactly one unified diff in a ```diff \
fenced block, in `git diff` format with a/ and b/ path prefixes relative to the repository root. \
Change as little as possible; do not touch CI configuration, lock files or unrelated code. \
If you cannot find a safe fix, answer without a diff and say why.";

/// Inputs of the llm-patch strategy.
#[derive(Debug, Clone)]
pub struct Options {
    /// Globs a patch may touch (empty: anywhere inside the repository).
    pub allowed: Globs,
    /// How many answers to try (a diff that does not apply is sent back with the reason).
    pub attempts: u32,
}

/// Ask `model` for a patch and apply it to the worktree.
pub async fn run(
    worktree: &Worktree,
    failure: &Failure,
    model: &dyn Model,
    options: &Options,
) -> Result<Outcome, Error> {
    let mut user = task_prompt(worktree, failure, PROMPT_BUDGET);
    let repo = open_worktree(&worktree.path)?;
    let attempts = options.attempts.max(1);
    let mut last_reason = String::new();
    for attempt in 1..=attempts {
        let answer = model.complete(SYSTEM, &user).await.map_err(Error::Model)?;
        let Some(diff) = patch::extract_diff(&answer) else {
            return Ok(Outcome::no_fix(format!(
                "the model gave no diff: {}",
                first_words(&Sanitizer::default().sanitize_text(&answer))
            )));
        };
        let diff = patch::normalize(&diff);
        if let Err(reason) = patch::check_paths(&diff, &options.allowed) {
            return Ok(Outcome::no_fix(format!(
                "the model's patch was refused: {reason}"
            )));
        }
        match patch::apply(&repo, &diff) {
            Ok(()) => {
                return finish(
                    worktree,
                    "llm-patch",
                    format!(
                        "Fix {}",
                        failure
                            .summary
                            .as_deref()
                            .map(first_words)
                            .unwrap_or_else(|| failure.category.clone())
                    ),
                    format!(
                        "A patch proposed by a language model (answer {attempt} of at most {attempts}), applied cleanly."
                    ),
                );
            }
            Err(reason) => {
                last_reason = reason.clone();
                user.push_str(&format!(
                    "\n\nYour previous diff was rejected: {reason}. Answer with a diff against the files exactly as shown above."
                ));
            }
        }
    }
    Ok(Outcome::no_fix(format!(
        "the model's patch did not apply after {attempts} attempt(s): {last_reason}"
    )))
}

/// The task for a model or an agent: the failure, the sanitized excerpt and the named
/// files, within `budget` bytes.
pub fn task_prompt(worktree: &Worktree, failure: &Failure, budget: usize) -> String {
    let mut sanitizer = Sanitizer::default();
    let mut text = String::from("A CI build failed. Fix the cause in this repository.\n\n");
    text.push_str(&format!(
        "Category: {}\n",
        if failure.category.is_empty() {
            "unknown"
        } else {
            &failure.category
        }
    ));
    if let Some(tool) = &failure.tool {
        text.push_str(&format!("Tool: {tool}\n"));
    }
    if let Some(summary) = &failure.summary {
        text.push_str(&format!("Summary: {}\n", sanitizer.sanitize_text(summary)));
    }
    if !failure.tests.is_empty() {
        text.push_str(&format!("Failing tests: {}\n", failure.tests.join(", ")));
    }
    if !failure.locations.is_empty() {
        text.push_str(&format!("Locations: {}\n", failure.locations.join(", ")));
    }
    if !failure.key_lines.is_empty() {
        text.push_str("\nExcerpt of the log:\n```\n");
        for line in &failure.key_lines {
            let clean = sanitizer.sanitize_line(&line.text);
            if text.len() + clean.len() > budget / 3 {
                text.push_str("…\n");
                break;
            }
            text.push_str(&clean);
            text.push('\n');
        }
        text.push_str("```\n");
    }
    let secrets = default_secret_globs();
    for (relative, path) in failure
        .files()
        .iter()
        .filter_map(|f| resolve(&worktree.path, f))
    {
        if secrets.matching(&relative).is_some() {
            continue;
        }
        let Ok(content) = std::fs::read(&path) else {
            continue;
        };
        let Ok(content) = String::from_utf8(content) else {
            continue;
        };
        let mut clean = Sanitizer::default().sanitize_text(&content);
        if clean.len() > FILE_BUDGET {
            let mut cut = FILE_BUDGET;
            while !clean.is_char_boundary(cut) {
                cut -= 1;
            }
            clean.truncate(cut);
            clean.push_str("\n… (truncated)\n");
        }
        if text.len() + clean.len() + relative.len() + 32 > budget {
            text.push_str(&format!(
                "\n(File {relative} left out: the prompt is full.)\n"
            ));
            continue;
        }
        text.push_str(&format!("\nFile {relative}:\n```\n{clean}"));
        if !clean.ends_with('\n') {
            text.push('\n');
        }
        text.push_str("```\n");
    }
    text
}

/// A file named in a log, found in the worktree: as given, or by dropping leading
/// folders of an absolute CI path (`/home/runner/work/r/r/src/a.rs` → `src/a.rs`).
fn resolve(root: &Path, logged: &str) -> Option<(String, PathBuf)> {
    let parts: Vec<&str> = logged
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    for start in 0..parts.len() {
        let relative = parts[start..].join("/");
        if !is_inside_repo(&relative) {
            continue;
        }
        let path = root.join(&relative);
        if path.is_file() {
            return Some((relative, path));
        }
    }
    None
}

fn first_words(text: &str) -> String {
    let line = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    line.chars().take(72).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::KeyLine;
    use crate::git::testing::TestRepo;
    use crate::model::Scripted;

    const SOURCE: &str = "pub fn last(v: &[u8]) -> u8 {\n    v[v.len()]\n}\n";

    fn failure() -> Failure {
        Failure {
            category: "test".into(),
            fingerprint: "beef".into(),
            summary: Some("thread 'last' panicked: index out of bounds".into()),
            locations: vec![
                "/home/runner/work/app/app/src/lib.rs:2:5".into(),
                ".env:1".into(),
            ],
            key_lines: vec![KeyLine {
                line: 7,
                text: "export GITHUB_TOKEN=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".into(),
            }],
            ..Failure::default()
        }
    }

    fn options(allowed: &[&str]) -> Options {
        Options {
            allowed: Globs::new(&allowed.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap(),
            attempts: 2,
        }
    }

    const GOOD: &str = "Off by one.\n```diff\n--- a/src/lib.rs\n+++ b/src/lib.rs\n@@ -1,3 +1,3 @@\n pub fn last(v: &[u8]) -> u8 {\n-    v[v.len()]\n+    v[v.len() - 1]\n }\n```\n";

    #[tokio::test]
    async fn prompt_is_sanitized_and_holds_the_named_file_but_no_secret_file() {
        let test = TestRepo::new(&[
            ("src/lib.rs", SOURCE),
            (".env", "PASSWORD=hunter2hunter2\n"),
        ]);
        let wt = test
            .checkout()
            .create_worktree("HEAD", "medic/fix-beef", None)
            .unwrap();
        let model = Scripted::new([GOOD]);
        let outcome = run(&wt, &failure(), &model, &options(&[])).await.unwrap();
        let Outcome::Fix(fix) = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(fix.strategy, "llm-patch");
        assert_eq!(fix.change.paths(), ["src/lib.rs"]);
        assert!(fix.change.diff.contains("+    v[v.len() - 1]"));
        let prompts = model.prompts();
        let (system, user) = &prompts[0];
        assert_eq!(system, SYSTEM);
        assert!(
            user.contains("File src/lib.rs:\n```\npub fn last"),
            "{user}"
        );
        assert!(
            !user.contains("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"),
            "{user}"
        );
        assert!(!user.contains("hunter2"), "{user}");
    }

    #[tokio::test]
    async fn a_patch_that_does_not_apply_is_sent_back_once() {
        let test = TestRepo::new(&[("src/lib.rs", SOURCE)]);
        let wt = test
            .checkout()
            .create_worktree("HEAD", "medic/fix-beef", None)
            .unwrap();
        let wrong = "```diff\n--- a/src/lib.rs\n+++ b/src/lib.rs\n@@ -1,2 +1,2 @@\n pub fn first() {\n-    x\n+    y\n```";
        let model = Scripted::new([wrong, wrong]);
        let outcome = run(&wt, &failure(), &model, &options(&[])).await.unwrap();
        let Outcome::NoFix { reason } = outcome else {
            panic!("{outcome:?}")
        };
        assert!(reason.contains("did not apply after 2 attempt"), "{reason}");
        assert!(
            model.prompts()[1]
                .1
                .contains("Your previous diff was rejected")
        );
        let model = Scripted::new([wrong, GOOD]);
        assert!(matches!(
            run(&wt, &failure(), &model, &options(&[])).await.unwrap(),
            Outcome::Fix(_)
        ));
    }

    #[tokio::test]
    async fn patches_outside_the_allowed_paths_or_the_repo_are_refused() {
        let test = TestRepo::new(&[("src/lib.rs", SOURCE)]);
        let wt = test
            .checkout()
            .create_worktree("HEAD", "medic/fix-beef", None)
            .unwrap();
        let model = Scripted::new([GOOD]);
        let outcome = run(&wt, &failure(), &model, &options(&["tests/**"]))
            .await
            .unwrap();
        let Outcome::NoFix { reason } = outcome else {
            panic!("{outcome:?}")
        };
        assert!(reason.contains("no allowed path matches"), "{reason}");
        let escape =
            "```diff\n--- a/../outside.txt\n+++ b/../outside.txt\n@@ -0,0 +1 @@\n+pwned\n```";
        let model = Scripted::new([escape]);
        let outcome = run(&wt, &failure(), &model, &options(&[])).await.unwrap();
        let Outcome::NoFix { reason } = outcome else {
            panic!("{outcome:?}")
        };
        assert!(reason.contains("outside the repository"), "{reason}");
        assert!(crate::git::diff(&wt).unwrap().is_empty());
        let model = Scripted::new(["I am not sure what is wrong."]);
        let Outcome::NoFix { reason } = run(&wt, &failure(), &model, &options(&[])).await.unwrap()
        else {
            panic!()
        };
        assert_eq!(
            reason,
            "the model gave no diff: I am not sure what is wrong."
        );
        let model = Scripted::new(Vec::<String>::new());
        assert!(matches!(
            run(&wt, &failure(), &model, &options(&[])).await,
            Err(Error::Model(_))
        ));
    }
}
