//! The raw policy: serde structs that mirror a policy file exactly.
//!
//! As for workflows, these types give the file one precise shape from which both the
//! JSON Schema for editors (`schema/policy.schema.json`) and the structural checks of
//! `medic validate` are generated. Only [`crate::policy`] reads them, to build the typed
//! [`crate::policy::Policy`]. No `#[serde(flatten)]`: it ruins unknown-field errors.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::outcome::Outcome;

/// A decision policy file.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Medic policy")]
pub struct RawPolicy {
    /// The policy's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What the policy is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Weights of the confidence signals; each defaults to the documented value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<RawWeights>,
    /// Rules, tried in order; the first whose `when` holds gives the outcome.
    pub rules: Vec<RawRule>,
    /// The outcome when no rule matches (default: escalate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<RawDefault>,
    /// Limits applied after the rule, each able to make the outcome less automatic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guards: Option<RawGuards>,
    /// Who may approve escalations; read by the approval and chat steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approvers: Option<RawApprovers>,
    /// How long an unresolved decision about a fingerprint counts as "being handled"
    /// (readable as `handling` in rules). Default `24h`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handling_window: Option<String>,
    /// The IANA time zone in which rules read `now` (hour, weekday…), e.g.
    /// `Europe/Paris`. Default `UTC`. Guards' windows name their own zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
}

/// Weights of the four confidence signals, each between 0 and 1.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawWeights {
    /// How sure the analysis is (default 0.4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub certainty: Option<f64>,
    /// How past fixes of this failure and category went (default 0.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub history: Option<f64>,
    /// How small and contained the change is (default 0.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub change_size: Option<f64>,
    /// How little a wrong fix could break (default 0.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub impact: Option<f64>,
}

/// One rule: when its expression holds, the outcome it gives and why.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    /// A short unique name, shown in explanations.
    pub name: String,
    /// An expression in the workflows' language over `confidence`, `signals`,
    /// `analysis`, `severity`, `impact`, `service`, `repository`, `change`, `review`,
    /// `handling` and `now`; or `true` for a catch-all.
    pub when: RawWhen,
    /// The outcome when the rule matches.
    pub outcome: Outcome,
    /// Why, in words a reviewer understands.
    pub reason: String,
}

/// A rule's condition as written: an expression, or a plain `true`/`false`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum RawWhen {
    /// `when: true` matches always, `when: false` never.
    Always(bool),
    /// An expression.
    Expr(String),
}

impl RawWhen {
    /// The expression text (`true` or `false` for a boolean).
    pub fn text(&self) -> String {
        match self {
            RawWhen::Always(b) => b.to_string(),
            RawWhen::Expr(e) => e.clone(),
        }
    }
}

/// The outcome when no rule matches.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawDefault {
    /// The outcome.
    pub outcome: Outcome,
    /// Why.
    pub reason: String,
}

/// The guards.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawGuards {
    /// Sliding-window limits on automatic fixes and new pull requests.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rate_limits: Vec<RawRateLimit>,
    /// At most this many pull requests opened by Medic and not yet resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_open_prs: Option<u32>,
    /// Services whose failures always go to a human.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub critical_services: Vec<String>,
    /// Windows during which nothing ships automatically (auto_fix becomes open_pr).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub freeze: Vec<RawWindow>,
    /// When humans are around; outside it auto_fix becomes open_pr.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_hours: Option<RawWindow>,
    /// Stop fixing a failure, or a repository, after repeated failed fixes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub circuit_breakers: Vec<RawBreaker>,
}

/// What a rate limit counts per.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// One count for everything.
    #[default]
    Global,
    /// One count per repository.
    Repository,
    /// One count per service.
    Service,
    /// One count per remediation action (the change's `action`).
    Action,
}

impl Scope {
    /// The name used in policies.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Global => "global",
            Scope::Repository => "repository",
            Scope::Service => "service",
            Scope::Action => "action",
        }
    }
}

/// The outcomes a rate limit can count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LimitedOutcome {
    /// Automatic fixes (and scheduled ones).
    AutoFix,
    /// New pull requests.
    OpenPr,
}

/// At most `max` outcomes of one kind per `per`, counted per `scope`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRateLimit {
    /// A short unique name, shown in explanations.
    pub name: String,
    /// Which outcome it counts.
    pub outcome: LimitedOutcome,
    /// How many are allowed in a window.
    pub max: u32,
    /// The sliding window, e.g. `1h` or `30m`.
    pub per: String,
    /// What the count is kept per (default: global).
    #[serde(default)]
    pub scope: Scope,
}

/// A recurring window: it opens at each time the cron expression names and stays open
/// for `duration`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawWindow {
    /// A name shown in explanations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// When the window opens: five cron fields (minute hour day month weekday).
    pub cron: String,
    /// How long it stays open, e.g. `8h`.
    pub duration: String,
    /// The time zone the cron expression is read in (default UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
}

/// What a circuit breaker counts failures per.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BreakerScope {
    /// One breaker per failure fingerprint.
    Fingerprint,
    /// One breaker per repository.
    Repository,
}

impl BreakerScope {
    /// The name used in policies.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerScope::Fingerprint => "fingerprint",
            BreakerScope::Repository => "repository",
        }
    }
}

/// After `failures` failed fixes within `within`, escalate until reset.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawBreaker {
    /// What failures are counted per.
    pub scope: BreakerScope,
    /// How many failed fixes trip the breaker.
    #[schemars(range(min = 1))]
    pub failures: u32,
    /// Within how long, e.g. `24h`.
    pub within: String,
}

/// Who may approve escalations.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawApprovers {
    /// Chat user ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<String>,
    /// E-mail addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emails: Vec<String>,
    /// Groups or teams.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}
