//! Strategies: the ways of turning a failure into an [`Outcome`]. Each works in a
//! worktree made by [`crate::git::Checkout::create_worktree`] and leaves its change
//! there, uncommitted; [`finish`] measures it.

pub mod agent;
pub mod llm_patch;
pub mod rerun;
pub mod revert;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::analysis::Failure;
use crate::git::{self, Worktree};
use crate::{Error, Fix, Outcome};

/// Which strategy to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Chosen from the analysis ([`choose`]).
    #[default]
    Auto,
    /// Revert the commit that broke the build.
    Revert,
    /// Run the failed job again; no code change.
    Rerun,
    /// A known edit: quarantine a flaky test, pin a dependency, raise a timeout.
    Recipe,
    /// Ask a model for a patch.
    LlmPatch,
    /// Run a coding agent in the worktree.
    Agent,
}

impl Kind {
    /// The name used in configuration and outputs.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Auto => "auto",
            Kind::Revert => "revert",
            Kind::Rerun => "rerun",
            Kind::Recipe => "recipe",
            Kind::LlmPatch => "llm-patch",
            Kind::Agent => "agent",
        }
    }
}

/// What is available to choose from.
#[derive(Debug, Clone, Copy, Default)]
pub struct Available {
    /// A good commit (last green) is known.
    pub range: bool,
    /// A model is configured.
    pub model: bool,
    /// An agent command is configured.
    pub agent: bool,
    /// A recipe is configured explicitly.
    pub recipe: bool,
    /// The run or job to rerun is known.
    pub rerun: bool,
}

/// The strategy `auto` picks for `failure`, or why there is none:
/// flaky, infrastructure, network and timeout (without a timeout recipe) → rerun;
/// dependency → recipe; test with a known good commit → revert; else llm-patch when a
/// model is configured, else agent when one is configured, else revert when a range is
/// given, else no fix.
pub fn choose(failure: &Failure, available: Available) -> Result<Kind, String> {
    let category = failure.category.as_str();
    match category {
        "flaky" | "infrastructure" | "network" if available.recipe && category == "flaky" => {
            Ok(Kind::Recipe)
        }
        "flaky" | "infrastructure" | "network" => Ok(Kind::Rerun),
        "timeout" if available.recipe => Ok(Kind::Recipe),
        "timeout" => Ok(Kind::Rerun),
        "dependency" => Ok(Kind::Recipe),
        "test" if available.range => Ok(Kind::Revert),
        _ if available.model => Ok(Kind::LlmPatch),
        _ if available.agent => Ok(Kind::Agent),
        _ if available.range => Ok(Kind::Revert),
        _ => Err(format!(
            "no strategy fits a `{}` failure without a model, an agent or a known good commit",
            if category.is_empty() {
                "unknown"
            } else {
                category
            }
        )),
    }
}

/// Measure what a strategy left in `worktree`: a [`Fix`], or no fix when nothing
/// changed.
pub fn finish(
    worktree: &Worktree,
    strategy: &str,
    summary: String,
    details: String,
) -> Result<Outcome, Error> {
    let change = git::diff(worktree)?;
    if change.is_empty() {
        return Ok(Outcome::no_fix(format!("{strategy} changed nothing")));
    }
    Ok(Outcome::Fix(Fix {
        strategy: strategy.to_string(),
        branch: worktree.branch.clone(),
        summary,
        details,
        change,
        worktree: worktree.path.clone(),
        base: worktree.base.to_string(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(category: &str) -> Failure {
        Failure {
            category: category.into(),
            ..Failure::default()
        }
    }

    #[test]
    fn auto_follows_the_category() {
        let none = Available::default();
        assert_eq!(choose(&failure("flaky"), none), Ok(Kind::Rerun));
        assert_eq!(choose(&failure("network"), none), Ok(Kind::Rerun));
        assert_eq!(choose(&failure("timeout"), none), Ok(Kind::Rerun));
        let recipe = Available {
            recipe: true,
            ..none
        };
        assert_eq!(choose(&failure("timeout"), recipe), Ok(Kind::Recipe));
        assert_eq!(choose(&failure("flaky"), recipe), Ok(Kind::Recipe));
        assert_eq!(choose(&failure("dependency"), none), Ok(Kind::Recipe));
        let range = Available {
            range: true,
            ..none
        };
        assert_eq!(choose(&failure("test"), range), Ok(Kind::Revert));
        let model = Available {
            model: true,
            ..none
        };
        assert_eq!(choose(&failure("test"), model), Ok(Kind::LlmPatch));
        assert_eq!(
            choose(
                &failure("compile"),
                Available {
                    model: true,
                    range: true,
                    ..none
                }
            ),
            Ok(Kind::LlmPatch)
        );
        assert_eq!(choose(&failure("compile"), range), Ok(Kind::Revert));
        let err = choose(&failure("compile"), none).unwrap_err();
        assert!(err.contains("`compile`"), "{err}");
    }
}
