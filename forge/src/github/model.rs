//! The request bodies and results of the GitHub client that octocrab has no model for.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A pull request to open (`POST /repos/{owner}/{repo}/pulls`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewPull {
    /// Its title.
    pub title: String,
    /// The branch with the change: `branch`, or `owner:branch` from a fork.
    pub head: String,
    /// The branch to merge into.
    pub base: String,
    /// Its description (Markdown).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Opened as a draft.
    pub draft: bool,
    /// Whether maintainers of the base repository may push to the head branch.
    pub maintainer_can_modify: bool,
}

/// Whether a pull request is open or closed (`PATCH` closes or reopens).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PullState {
    /// Open.
    Open,
    /// Closed.
    Closed,
}

/// Changes to a pull request (`PATCH /repos/{owner}/{repo}/pulls/{number}`); only the
/// fields given are changed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PullUpdate {
    /// A new title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// A new description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Close or reopen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<PullState>,
    /// A new base branch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
}

/// How a pull request is merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum MergeMethod {
    /// A merge commit.
    Merge,
    /// One squashed commit.
    #[default]
    Squash,
    /// The commits rebased onto the base.
    Rebase,
}

impl MergeMethod {
    /// The REST API's name (`merge_method`).
    pub fn rest_name(self) -> &'static str {
        match self {
            MergeMethod::Merge => "merge",
            MergeMethod::Squash => "squash",
            MergeMethod::Rebase => "rebase",
        }
    }

    /// GraphQL's `PullRequestMergeMethod`.
    pub fn graphql_name(self) -> &'static str {
        match self {
            MergeMethod::Merge => "MERGE",
            MergeMethod::Squash => "SQUASH",
            MergeMethod::Rebase => "REBASE",
        }
    }
}

/// What asking for auto-merge achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AutoMergeOutcome {
    /// GitHub will merge once the required checks pass.
    Enabled {
        /// The method GitHub will use.
        method: MergeMethod,
    },
    /// The repository does not allow auto-merge: merge after checks pass instead.
    NotAllowed {
        /// GitHub's words.
        reason: String,
    },
    /// Nothing is left to wait for (GitHub's "clean status"): merge it now.
    AlreadyMergeable {
        /// GitHub's words.
        reason: String,
    },
}

/// The result of `PUT /pulls/{number}/merge`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeResult {
    /// Whether it was merged.
    pub merged: bool,
    /// The merge commit.
    pub sha: Option<String>,
    /// GitHub's message.
    pub message: String,
}

/// What became of a pull request, for learning from outcomes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum PullOutcome {
    /// Still open.
    Open,
    /// Merged.
    Merged {
        /// When.
        at: DateTime<Utc>,
        /// The merge commit, when GitHub says.
        sha: Option<String>,
    },
    /// Closed without merging.
    Closed {
        /// When, when GitHub says.
        at: Option<DateTime<Utc>>,
    },
}

/// The check runs of one commit, by result.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChecksSummary {
    /// Names of runs that succeeded (or were skipped or neutral).
    pub passed: Vec<String>,
    /// Names of runs that failed, timed out, were cancelled or need action.
    pub failed: Vec<String>,
    /// Names of runs that have not finished.
    pub pending: Vec<String>,
}

impl ChecksSummary {
    /// Sort one run by its `conclusion` (`None` while it runs).
    pub(crate) fn add(&mut self, name: String, conclusion: Option<&str>) {
        match conclusion {
            None => self.pending.push(name),
            Some("success" | "neutral" | "skipped") => self.passed.push(name),
            Some(_) => self.failed.push(name),
        }
    }

    /// Every run finished and none failed. A commit with no check runs at all is not
    /// green: nothing vouched for it.
    pub fn all_green(&self) -> bool {
        self.failed.is_empty() && self.pending.is_empty() && !self.passed.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_checks_is_not_green() {
        let mut summary = ChecksSummary::default();
        assert!(!summary.all_green());
        summary.add("test".into(), Some("success"));
        assert!(summary.all_green());
        summary.add("lint".into(), None);
        assert!(!summary.all_green());
        assert_eq!(summary.pending, ["lint"]);
    }

    #[test]
    fn an_update_sends_only_what_changes() {
        let update = PullUpdate {
            state: Some(PullState::Closed),
            ..PullUpdate::default()
        };
        assert_eq!(
            serde_json::to_string(&update).unwrap(),
            r#"{"state":"closed"}"#
        );
    }
}
