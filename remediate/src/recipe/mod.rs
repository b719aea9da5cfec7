//! Recipes: known, mechanical fixes, each an edit of files in the worktree.
//!
//! - [`quarantine`]: skip a flaky test (Rust, pytest, Jest/Vitest, Go) or list it in a
//!   quarantine file;
//! - [`dependency`]: pin or bump a dependency (Cargo.toml, package.json,
//!   requirements.txt, go.mod), keeping the file's formatting;
//! - [`timeout`]: raise a CI job's timeout (GitHub Actions, GitLab CI), edited in place
//!   so that comments survive.
//!
//! A recipe that cannot apply (no such test, package or job) is no fix, with the
//! reason, not an error.

pub mod dependency;
pub mod quarantine;
pub mod timeout;

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::analysis::Failure;
use crate::git::Worktree;
use crate::process::{self, Env};
use crate::strategy::finish;
use crate::{Error, Outcome};

/// Which recipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RecipeKind {
    /// Skip a flaky test.
    Quarantine,
    /// Pin or bump a dependency.
    Dependency,
    /// Raise a CI job's timeout.
    Timeout,
}

/// Test frameworks the quarantine recipe edits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Framework {
    /// `#[test]` functions: `#[ignore = "…"]`.
    Rust,
    /// `@pytest.mark.skip(reason=…)`.
    Pytest,
    /// `it.skip` / `test.skip`.
    Jest,
    /// `it.skip` / `test.skip`.
    Vitest,
    /// `t.Skip(…)`.
    Go,
}

/// Pin to exactly the version, or bump to it keeping the range operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DependencyMode {
    /// Exactly this version (`=1.2.3`, `"1.2.3"`, `==1.2.3`).
    #[default]
    Pin,
    /// This version with the existing operator (`^1.2.3`, `>=1.2.3`).
    Bump,
}

/// Options of the recipe strategy. Every field is optional; what a recipe needs and
/// lacks makes it no fix, with the reason.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecipeConfig {
    /// `quarantine`, `dependency` or `timeout`; chosen from the analysis when absent
    /// (flaky or test failures with test names → quarantine, dependency → dependency,
    /// timeout → timeout).
    #[serde(default)]
    pub kind: Option<RecipeKind>,
    /// quarantine: the test framework (default: from the analysis' tool, else tried in
    /// turn).
    #[serde(default)]
    pub framework: Option<Framework>,
    /// quarantine: append the test names to this file (relative to the repository)
    /// instead of editing the tests.
    #[serde(default)]
    pub quarantine_file: Option<String>,
    /// dependency: the package name.
    #[serde(default)]
    pub package: Option<String>,
    /// dependency: the version to pin or bump to.
    #[serde(default)]
    pub version: Option<String>,
    /// dependency: `pin` (default) or `bump`.
    #[serde(default)]
    pub mode: DependencyMode,
    /// dependency: the manifest to edit, relative to the repository (default: the first
    /// of Cargo.toml, package.json, requirements.txt, go.mod that names the package).
    #[serde(default)]
    pub manifest: Option<String>,
    /// dependency: a command run in the worktree after the edit to update the lock file
    /// (e.g. `cargo update -p serde`), with a 10-minute budget.
    #[serde(default)]
    pub lock_command: Option<String>,
    /// timeout: the CI file (default: `.gitlab-ci.yml`, else the workflow under
    /// `.github/workflows/` that defines the job).
    #[serde(default)]
    pub ci_file: Option<String>,
    /// timeout: the job's key or `name:` (default: the file's only job).
    #[serde(default)]
    pub job: Option<String>,
    /// timeout: the new timeout in minutes (default: twice the current one; required
    /// when the job has none).
    #[serde(default)]
    pub minutes: Option<u64>,
}

impl RecipeConfig {
    /// The recipe that fits `failure`, or why none does.
    pub fn kind_for(&self, failure: &Failure) -> Result<RecipeKind, String> {
        if let Some(kind) = self.kind {
            return Ok(kind);
        }
        match failure.category.as_str() {
            "flaky" | "test" if !failure.tests.is_empty() => Ok(RecipeKind::Quarantine),
            "dependency" => Ok(RecipeKind::Dependency),
            "timeout" => Ok(RecipeKind::Timeout),
            "flaky" | "test" => {
                Err("no failing test is named, so there is nothing to quarantine".into())
            }
            other => Err(format!("no recipe fits a `{other}` failure")),
        }
    }
}

/// What a recipe did: a summary and details, or why it could not apply.
pub(crate) type Applied = Result<(String, String), String>;

/// Run the recipe that fits in the worktree.
pub async fn run(
    worktree: &Worktree,
    failure: &Failure,
    config: &RecipeConfig,
) -> Result<Outcome, Error> {
    let kind = match config.kind_for(failure) {
        Ok(kind) => kind,
        Err(reason) => return Ok(Outcome::no_fix(reason)),
    };
    let (name, applied) = match kind {
        RecipeKind::Quarantine => (
            "recipe:quarantine",
            quarantine::apply(&worktree.path, failure, config)?,
        ),
        RecipeKind::Dependency => {
            let applied = dependency::apply(&worktree.path, config)?;
            if let (Ok(_), Some(command)) = (&applied, &config.lock_command) {
                let done = process::run(
                    command,
                    &worktree.path,
                    &Env::Inherit(Default::default()),
                    Duration::from_secs(600),
                )
                .await
                .map_err(Error::io(&worktree.path))?;
                if !done.success() {
                    crate::git::reset_worktree(worktree)?;
                    return Ok(Outcome::no_fix(format!(
                        "`{command}` failed after the edit ({}): {}",
                        if done.timed_out {
                            "timed out".to_string()
                        } else {
                            format!("exit code {}", done.exit_code.unwrap_or(-1))
                        },
                        done.output_tail.lines().last().unwrap_or("")
                    )));
                }
            }
            ("recipe:dependency", applied)
        }
        RecipeKind::Timeout => (
            "recipe:timeout",
            timeout::apply(&worktree.path, failure, config)?,
        ),
    };
    match applied {
        Ok((summary, details)) => finish(worktree, name, summary, details),
        Err(reason) => Ok(Outcome::no_fix(reason)),
    }
}

/// Files under `root` whose name satisfies `wanted`, skipping VCS, build and vendor
/// folders; at most `limit` files are looked at, so a huge monorepo stays bounded.
pub(crate) fn find_files(
    root: &std::path::Path,
    wanted: &dyn Fn(&str) -> bool,
    limit: usize,
) -> Vec<std::path::PathBuf> {
    const SKIP: &[&str] = &[
        ".git",
        "target",
        "node_modules",
        "vendor",
        "dist",
        "build",
        ".venv",
        "venv",
        "__pycache__",
    ];
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    let mut seen = 0;
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            seen += 1;
            if seen > limit {
                return found;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                if !SKIP.contains(&name.as_str()) {
                    stack.push(entry.path());
                }
            } else if kind.is_file() && wanted(&name) {
                found.push(entry.path());
            }
        }
    }
    found.sort();
    found
}

/// `path` relative to `root`, `/`-separated.
pub(crate) fn relative(root: &std::path::Path, path: &std::path::Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recipe_follows_the_analysis_unless_configured() {
        let mut failure = Failure {
            category: "flaky".into(),
            tests: vec!["t".into()],
            ..Failure::default()
        };
        let config = RecipeConfig::default();
        assert_eq!(config.kind_for(&failure), Ok(RecipeKind::Quarantine));
        failure.tests.clear();
        assert!(
            config
                .kind_for(&failure)
                .unwrap_err()
                .contains("no failing test")
        );
        failure.category = "dependency".into();
        assert_eq!(config.kind_for(&failure), Ok(RecipeKind::Dependency));
        failure.category = "timeout".into();
        assert_eq!(config.kind_for(&failure), Ok(RecipeKind::Timeout));
        failure.category = "lint".into();
        assert!(config.kind_for(&failure).is_err());
        let forced = RecipeConfig {
            kind: Some(RecipeKind::Timeout),
            ..RecipeConfig::default()
        };
        assert_eq!(forced.kind_for(&failure), Ok(RecipeKind::Timeout));
    }
}
