//! The raw workflow: serde structs that mirror a workflow file exactly.
//!
//! Nothing downstream of validation sees these types: `validate` turns them into a
//! typed [`crate::workflow::Workflow`]. They exist to give the file one precise shape,
//! from which the JSON Schema for editors (`medic schema`) and the structural checks of
//! `medic validate` are both generated, so that the two can never disagree.
//! No `#[serde(flatten)]`: it ruins unknown-field errors.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::action::{ErrorKind, InputType};

/// A workflow file.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Medic workflow")]
pub struct RawWorkflow {
    /// The workflow's name, unique among the workflows of a project.
    pub name: String,
    /// What the workflow is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// What starts the workflow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on: Option<RawTriggers>,
    /// Typed parameters, readable as `inputs.<name>`.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub inputs: IndexMap<String, RawInput>,
    /// Environment variables given to every step, readable as `env.<NAME>`.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub env: IndexMap<String, String>,
    /// Names of secrets, resolved from the environment and masked everywhere.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<String>,
    /// Defaults for every step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defaults: Option<RawDefaults>,
    /// Limits on parallelism.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<RawConcurrency>,
    /// The steps, by id. Order in the file breaks ties among steps ready at once.
    pub steps: IndexMap<String, RawStep>,
    /// Steps that run only when the main steps failed.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub on_failure: IndexMap<String, RawStep>,
    /// Steps that always run last, whatever happened.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub finally: IndexMap<String, RawStep>,
}

/// What starts a workflow.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTriggers {
    /// Started by hand (`medic run`, the API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manual: Option<RawManual>,
    /// Cron schedules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schedule: Vec<RawSchedule>,
    /// Webhook deliveries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub webhook: Vec<RawWebhook>,
}

/// The manual trigger has no options yet; `{}` enables it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawManual {}

/// A cron schedule.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSchedule {
    /// Five fields (minute hour day month weekday) or six with seconds first.
    pub cron: String,
    /// IANA time zone, such as `Europe/Paris`; UTC when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Inputs given to runs this schedule starts.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub inputs: IndexMap<String, Value>,
}

/// A webhook source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WebhookSource {
    /// GitHub (X-Hub-Signature-256).
    Github,
    /// GitLab (X-Gitlab-Token).
    Gitlab,
    /// Buildkite (X-Buildkite-Signature or token).
    Buildkite,
    /// Jenkins notification plugin.
    Jenkins,
    /// CircleCI webhooks.
    Circleci,
    /// Prometheus Alertmanager.
    Alertmanager,
    /// Sentry issue alerts.
    Sentry,
    /// Any JSON body with a shared-secret HMAC.
    Generic,
}

/// A webhook trigger.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawWebhook {
    /// Who sends the deliveries.
    pub source: WebhookSource,
    /// Event names to accept (`workflow_run`, `Pipeline Hook`…); all when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<String>,
    /// An expression over `trigger` that must be true for a delivery to start a run.
    #[serde(default, rename = "if", skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
}

/// A workflow input.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawInput {
    /// The input's type; `string` when absent.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<InputType>,
    /// Whether a value must be given when there is no default.
    #[serde(default)]
    pub required: bool,
    /// The value used when none is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// What the input means.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Defaults applied to every step that does not set its own.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawDefaults {
    /// A duration such as `30s`, `10m` or `1h30m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Retry policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RawRetry>,
}

/// Limits on how much runs at once.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawConcurrency {
    /// Steps of one run that may run at the same time (default 8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_parallel: Option<u32>,
}

/// One name or a list of names.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum OneOrMany {
    /// `needs: build`
    One(String),
    /// `needs: [build, lint]`
    Many(Vec<String>),
}

impl OneOrMany {
    /// The names, in order.
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

/// A step.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    /// The action this step runs (`shell`, `http`, `approval`…); see `medic explain`.
    pub uses: String,
    /// A human-friendly name for progress output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The action's configuration; strings may contain `{{ expressions }}`.
    #[serde(default, rename = "with", skip_serializing_if = "Option::is_none")]
    pub with: Option<serde_json::Map<String, Value>>,
    /// Steps that must finish before this one starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub needs: Option<OneOrMany>,
    /// Run only when this expression is true. Without `failure()` or `always()` in it, a
    /// step is skipped when a step it needs did not succeed.
    #[serde(default, rename = "if", skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// Run once per item of a list (a literal list or an expression), reading `item`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_each: Option<Value>,
    /// Items of a `for_each` that may run at the same time (default 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_parallel: Option<u32>,
    /// Retry policy; overrides `defaults.retry`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RawRetry>,
    /// A duration such as `30s`, `10m`; the attempt's work is stopped when it elapses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// When true, the step's failure does not fail the run or skip its dependents.
    #[serde(default)]
    pub continue_on_error: bool,
    /// Environment variables for this step, over the workflow's `env`.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub env: IndexMap<String, String>,
}

/// When and how to retry a failed attempt.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRetry {
    /// Attempts in all, the first included (1 means no retry).
    pub max_attempts: u32,
    /// Delays between attempts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff: Option<RawBackoff>,
    /// Which failures are retried; all but `rejected`, `config` and `cancelled` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on: Option<Vec<ErrorKind>>,
}

/// Exponential backoff.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawBackoff {
    /// The first delay (default `1s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial: Option<String>,
    /// Each delay is the previous one times this (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factor: Option<f64>,
    /// The longest delay (default `5m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<String>,
    /// Randomise each delay between half and all of it, so that retries spread out
    /// (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<bool>,
}
