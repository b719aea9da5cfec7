//! The six things a decision can say, and the order guards downgrade them in.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What to do about a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Apply the fix and ship it without a human.
    AutoFix,
    /// Propose the fix as a pull request for a human to merge.
    OpenPr,
    /// Run the failed work again (flaky tests, infrastructure hiccups).
    Retry,
    /// Apply the fix later, in a quiet period.
    Schedule,
    /// Hand the failure to a human.
    Escalate,
    /// Do nothing (e.g. the failure is already being handled).
    Ignore,
}

impl Outcome {
    /// Every outcome, in documentation order.
    pub const ALL: [Outcome; 6] = [
        Outcome::AutoFix,
        Outcome::OpenPr,
        Outcome::Retry,
        Outcome::Schedule,
        Outcome::Escalate,
        Outcome::Ignore,
    ];

    /// The name used in policies, JSON and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::AutoFix => "auto_fix",
            Outcome::OpenPr => "open_pr",
            Outcome::Retry => "retry",
            Outcome::Schedule => "schedule",
            Outcome::Escalate => "escalate",
            Outcome::Ignore => "ignore",
        }
    }

    /// Read a name.
    pub fn parse(s: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == s)
    }

    /// One step less automatic: auto_fix → open_pr → escalate. A scheduled fix is an
    /// automatic fix deferred, so it steps down to open_pr too. Retry, escalate and
    /// ignore stay as they are.
    pub fn downgrade(self) -> Outcome {
        match self {
            Outcome::AutoFix | Outcome::Schedule => Outcome::OpenPr,
            Outcome::OpenPr => Outcome::Escalate,
            other => other,
        }
    }

    /// Whether this outcome changes code without a human (auto_fix, schedule).
    pub fn is_automatic_change(self) -> bool {
        matches!(self, Outcome::AutoFix | Outcome::Schedule)
    }

    /// Whether Medic acts on its own (anything but escalate and ignore).
    pub fn acts(self) -> bool {
        !matches!(self, Outcome::Escalate | Outcome::Ignore)
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downgrades_towards_a_human_and_stops_there() {
        assert_eq!(Outcome::AutoFix.downgrade(), Outcome::OpenPr);
        assert_eq!(Outcome::OpenPr.downgrade(), Outcome::Escalate);
        assert_eq!(Outcome::Escalate.downgrade(), Outcome::Escalate);
        assert_eq!(Outcome::Retry.downgrade(), Outcome::Retry);
        for o in Outcome::ALL {
            assert_eq!(Outcome::parse(o.as_str()), Some(o));
        }
    }
}
