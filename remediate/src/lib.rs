//! medic-remediate: turns an analysed CI failure into a change in an isolated git
//! worktree, and reviews that change.
//!
//! It exists so that the actions `generate-fix` and `review` (and the lead's
//! `github.open-pr`) share one careful implementation of everything that touches a
//! repository: the user's working tree is never modified; every fix is made in a
//! worktree under `.git/medic-worktrees/<branch>`, on a branch named after the
//! failure's fingerprint ([`git::branch_name`]), so a re-run finds and resets the same
//! place instead of piling up branches. The crate knows no forge API: network git goes
//! through the `git` CLI ([`git::fetch`], [`git::push`]), and a rerun is only described
//! ([`strategy::rerun::RerunRequest`]) for the forge client to carry out.
//!
//! Flow: [`analysis::Failure`] (the analyze step's outputs) → a [`strategy`] (revert,
//! rerun, recipe, llm-patch, agent) → [`Outcome`] → [`review::review`] of the
//! [`git::ChangeSummary`].

#![warn(missing_docs)]

pub mod analysis;
pub mod git;
pub mod model;
pub mod patch;
pub mod process;
pub mod recipe;
pub mod review;
pub mod strategy;

use std::path::PathBuf;

use serde::Serialize;

pub use git::ChangeSummary;
pub use strategy::rerun::RerunRequest;

/// Errors of this crate. "No fix was found" is not an error: it is [`Outcome::NoFix`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A libgit2 operation failed.
    #[error("git: {context}: {message}")]
    Git {
        /// What Medic was doing.
        context: String,
        /// libgit2's message.
        message: String,
    },
    /// A `git` command line (fetch, push) failed; its stderr is sanitized.
    #[error("`git {command}` failed (exit {code}): {stderr}")]
    GitCli {
        /// The subcommand and its public arguments (never a token).
        command: String,
        /// Its exit code, or -1 when killed.
        code: i32,
        /// The tail of its stderr, sanitized.
        stderr: String,
    },
    /// The input cannot be used as given: says where and what was expected.
    #[error("{0}")]
    Invalid(String),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The model could not be asked.
    #[error("model: {0}")]
    Model(String),
}

impl Error {
    /// A [`Error::Git`] for `context`.
    pub(crate) fn git(context: impl Into<String>) -> impl FnOnce(git2::Error) -> Error {
        let context = context.into();
        move |e| Error::Git {
            context,
            message: e.message().to_string(),
        }
    }

    /// An [`Error::Io`] on `path`.
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }
}

/// A change made in a worktree, ready to review and commit.
#[derive(Debug, Clone, Serialize)]
pub struct Fix {
    /// The strategy that made it (`revert`, `recipe:quarantine`, `llm-patch`, `agent`…).
    pub strategy: String,
    /// The branch the worktree is on (`medic/fix-<fingerprint>`).
    pub branch: String,
    /// One line for a commit title or a pull request.
    pub summary: String,
    /// How the fix was found, in a few sentences for a pull request body.
    pub details: String,
    /// The diff against the base commit.
    pub change: ChangeSummary,
    /// The worktree holding the change.
    pub worktree: PathBuf,
    /// The commit the change is based on.
    pub base: String,
}

/// What a strategy produced.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    /// A change in a worktree.
    Fix(Fix),
    /// No code change: the failed job should run again.
    Rerun(RerunRequest),
    /// Nothing to propose, and why (a conflict, nothing changed, an unsafe patch…).
    NoFix {
        /// A sentence for humans; never holds a secret.
        reason: String,
    },
}

impl Outcome {
    /// A [`Outcome::NoFix`] with `reason`.
    pub fn no_fix(reason: impl Into<String>) -> Outcome {
        Outcome::NoFix {
            reason: reason.into(),
        }
    }
}
