//! The `Action` trait and the registry that every step's `uses:` resolves against.
//!
//! An action is one typed config struct (serde, `deny_unknown_fields`, JSON Schema), one
//! trait impl and one line in a registry table. The registry drives validation (each
//! step's `with:` is checked against the action's schema), `medic explain`, the docs and
//! the JSON Schema of workflow files, so that what is documented is what is checked.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::secrets::Masker;

/// A JSON object of step outputs, readable by later steps as `steps.<id>.outputs`.
pub type Outputs = serde_json::Map<String, Value>;

/// Documentation of one output an action produces.
#[derive(Debug, Clone, Copy)]
pub struct OutputDoc {
    /// The output's key.
    pub name: &'static str,
    /// Its JSON type, as users read it (`number`, `string`, `object`…).
    pub kind: &'static str,
    /// What it holds.
    pub description: &'static str,
}

/// Why a step attempt failed. Retry policies select on these (`retry.on`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The work ran and reported failure (non-zero exit, unexpected HTTP status).
    Failed,
    /// The step's timeout elapsed and its work was stopped.
    Timeout,
    /// A transport problem: connection refused, DNS, reset.
    Network,
    /// The step's configuration could not be used once rendered (wrong type, bad URL).
    Config,
    /// A human rejected an approval.
    Rejected,
    /// The run was cancelled while the step ran.
    Cancelled,
    /// Anything else inside Medic or the action.
    Internal,
}

impl ErrorKind {
    /// The snake_case name used in YAML and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Failed => "failed",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Network => "network",
            ErrorKind::Config => "config",
            ErrorKind::Rejected => "rejected",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed attempt: its kind, a message for humans, and any outputs produced before
/// failing (a shell step's exit code and stderr tail are useful to `if: failure()` steps).
#[derive(Debug, Clone)]
pub struct StepError {
    /// What kind of failure this is.
    pub kind: ErrorKind,
    /// A one-line explanation, already free of secrets.
    pub message: String,
    /// Outputs gathered before the failure.
    pub outputs: Outputs,
}

impl StepError {
    /// A failure with no outputs.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        StepError {
            kind,
            message: message.into(),
            outputs: Outputs::new(),
        }
    }

    /// Attach outputs gathered before the failure.
    pub fn with_outputs(mut self, outputs: Outputs) -> Self {
        self.outputs = outputs;
        self
    }
}

/// What a human may be asked to fill in when approving.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalInput {
    /// The input's type.
    #[serde(rename = "type", default = "default_input_type")]
    pub kind: InputType,
    /// Whether the approver must give it.
    #[serde(default)]
    pub required: bool,
    /// The value used when the approver gives none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// Shown to the approver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

fn default_input_type() -> InputType {
    InputType::String
}

/// The types a workflow or approval input can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum InputType {
    /// Text.
    String,
    /// An integer or a decimal.
    Number,
    /// true or false.
    Boolean,
    /// A mapping.
    Object,
    /// A sequence.
    List,
}

impl InputType {
    /// Whether `value` has this type.
    pub fn accepts(self, value: &Value) -> bool {
        match self {
            InputType::String => value.is_string(),
            InputType::Number => value.is_number(),
            InputType::Boolean => value.is_boolean(),
            InputType::Object => value.is_object(),
            InputType::List => value.is_array(),
        }
    }

    /// Parse a command-line `k=v` value into this type.
    pub fn parse_cli(self, raw: &str) -> Result<Value, String> {
        match self {
            InputType::String => Ok(Value::String(raw.to_string())),
            InputType::Number => raw
                .parse::<i64>()
                .map(Value::from)
                .or_else(|_| raw.parse::<f64>().map(Value::from))
                .map_err(|_| format!("expected a number, found `{raw}`")),
            InputType::Boolean => match raw {
                "true" | "yes" | "1" => Ok(Value::Bool(true)),
                "false" | "no" | "0" => Ok(Value::Bool(false)),
                _ => Err(format!("expected true or false, found `{raw}`")),
            },
            InputType::Object | InputType::List => {
                let value: Value = serde_json::from_str(raw)
                    .map_err(|e| format!("expected JSON for a {} input: {e}", self.as_str()))?;
                if self.accepts(&value) {
                    Ok(value)
                } else {
                    Err(format!("expected a JSON {}, found `{raw}`", self.as_str()))
                }
            }
        }
    }

    /// The name used in YAML.
    pub fn as_str(self) -> &'static str {
        match self {
            InputType::String => "string",
            InputType::Number => "number",
            InputType::Boolean => "boolean",
            InputType::Object => "object",
            InputType::List => "list",
        }
    }
}

/// What happens to an approval nobody answers in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TimeoutOutcome {
    /// Treat silence as approval.
    Approve,
    /// Treat silence as rejection.
    Reject,
    /// Fail the step with a timeout error.
    Fail,
}

/// A request for a human decision, persisted while the step waits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalRequest {
    /// What the approver is asked.
    pub message: String,
    /// Who may answer (user ids or e-mails); when both this and `groups` are empty,
    /// anyone who can reach the store may.
    pub approvers: Vec<String>,
    /// Groups whose members may answer. Membership is only known to integrations that
    /// verify it (chat); an answer from the CLI never claims a group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// Typed inputs the approver may give.
    pub inputs: BTreeMap<String, ApprovalInput>,
    /// When silence resolves the request.
    pub deadline: Option<DateTime<Utc>>,
    /// What silence means.
    pub on_timeout: TimeoutOutcome,
}

/// A step that waits holds no task: the engine persists the wait and resumes the step
/// when it is resolved, even in another process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Wait {
    /// Wake up at a point in time.
    Until {
        /// The wake-up time.
        wake_at: DateTime<Utc>,
    },
    /// Wait for a human.
    Approval(ApprovalRequest),
}

/// What one attempt of a step produced.
#[derive(Debug, Clone)]
pub enum StepOutcome {
    /// The step finished; these are its outputs.
    Success(Outputs),
    /// The step must wait; the engine persists the wait and finishes the step later.
    Suspend(Wait),
}

/// Everything an action may know about the attempt it runs in.
#[derive(Clone)]
pub struct StepContext {
    /// The run's id.
    pub run_id: String,
    /// The step's id in the workflow.
    pub step_id: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// Stable across retries and across re-execution after a crash: actions with side
    /// effects use it so that running twice does not act twice.
    pub idempotency_key: String,
    /// Environment variables for processes the action starts (workflow `env`, secrets).
    pub env: BTreeMap<String, String>,
    /// Masks secret values in anything the action logs or returns.
    pub masker: Arc<Masker>,
    /// When true, actions with side effects describe what they would do instead.
    pub dry_run: bool,
    /// The folder the run was started from; relative paths resolve against it.
    pub base_dir: std::path::PathBuf,
    /// The run's store, for actions that keep their own state there (`decide` records
    /// decisions and claims rate limits). `None` outside a run.
    pub store: Option<crate::store::Store>,
    logs: Arc<Mutex<Vec<String>>>,
    // Carries state across the lines of this attempt's log (a private key block).
    log_redactor: Arc<Mutex<Option<Box<dyn crate::secrets::LogRedactor>>>>,
}

impl fmt::Debug for StepContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The env holds secrets: never print it.
        f.debug_struct("StepContext")
            .field("run_id", &self.run_id)
            .field("step_id", &self.step_id)
            .field("attempt", &self.attempt)
            .field("idempotency_key", &self.idempotency_key)
            .field("env", &format_args!("<{} variables>", self.env.len()))
            .finish_non_exhaustive()
    }
}

impl StepContext {
    /// A context for one attempt.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        run_id: impl Into<String>,
        step_id: impl Into<String>,
        attempt: u32,
        idempotency_key: impl Into<String>,
        env: BTreeMap<String, String>,
        masker: Arc<Masker>,
        dry_run: bool,
        base_dir: std::path::PathBuf,
    ) -> Self {
        StepContext {
            run_id: run_id.into(),
            step_id: step_id.into(),
            attempt,
            idempotency_key: idempotency_key.into(),
            env,
            dry_run,
            base_dir,
            store: None,
            logs: Arc::default(),
            log_redactor: Arc::new(Mutex::new(masker.log_redactor())),
            masker,
        }
    }

    /// The same context with access to the run's store.
    pub fn with_store(mut self, store: crate::store::Store) -> Self {
        self.store = Some(store);
        self
    }

    /// Append a line to the attempt's log, with secrets masked.
    pub fn log(&self, line: impl AsRef<str>) {
        let masked = {
            let mut state = self.log_redactor.lock().unwrap_or_else(|e| e.into_inner());
            self.masker.mask_log_line(line.as_ref(), state.as_mut())
        };
        self.logs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(masked);
    }

    /// The attempt's log so far.
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Static description of an action, for `medic explain`, docs and validation.
#[derive(Debug, Clone)]
pub struct ActionInfo {
    /// The name used in `uses:`.
    pub name: &'static str,
    /// One paragraph on what it does.
    pub description: &'static str,
    /// A YAML step using it.
    pub example: &'static str,
    /// What it returns.
    pub outputs: &'static [OutputDoc],
    /// JSON Schema of its `with:` block.
    pub config_schema: Value,
}

/// A built-in action. Implement this for a config-holding unit struct and register it.
#[async_trait]
pub trait Action: Send + Sync + 'static {
    /// The typed `with:` block.
    type Config: DeserializeOwned + schemars::JsonSchema + Send + 'static;
    /// The name used in `uses:`.
    const NAME: &'static str;
    /// One paragraph on what it does.
    const DESCRIPTION: &'static str;
    /// A YAML step using it.
    const EXAMPLE: &'static str;
    /// What it returns.
    const OUTPUTS: &'static [OutputDoc];

    /// Run one attempt. Dropping the future must stop the work (timeouts and
    /// cancellation drop it), so processes are killed by guards, not by the caller.
    async fn run(&self, config: Self::Config, ctx: &StepContext) -> Result<StepOutcome, StepError>;
}

/// The object-safe face of [`Action`], used by the registry.
#[async_trait]
pub trait DynAction: Send + Sync {
    /// Static description.
    fn info(&self) -> ActionInfo;
    /// Deserialize a rendered config and run.
    async fn run_json(&self, config: Value, ctx: &StepContext) -> Result<StepOutcome, StepError>;
}

#[async_trait]
impl<A: Action> DynAction for A {
    fn info(&self) -> ActionInfo {
        ActionInfo {
            name: A::NAME,
            description: A::DESCRIPTION,
            example: A::EXAMPLE,
            outputs: A::OUTPUTS,
            config_schema: crate::schema::schema_value::<A::Config>(),
        }
    }

    async fn run_json(&self, config: Value, ctx: &StepContext) -> Result<StepOutcome, StepError> {
        let config: A::Config = serde_json::from_value(config).map_err(|e| {
            StepError::new(
                ErrorKind::Config,
                format!("`with` of a `{}` step: {e}", A::NAME),
            )
        })?;
        self.run(config, ctx).await
    }
}

/// The table of actions a workflow may use.
#[derive(Default, Clone)]
pub struct Registry {
    actions: BTreeMap<&'static str, Arc<dyn DynAction>>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.actions.keys()).finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Register an action under its name.
    pub fn register<A: Action>(&mut self, action: A) -> &mut Self {
        self.actions.insert(A::NAME, Arc::new(action));
        self
    }

    /// Look an action up by its `uses:` name.
    pub fn get(&self, name: &str) -> Option<Arc<dyn DynAction>> {
        self.actions.get(name).cloned()
    }

    /// Every registered name, sorted.
    pub fn names(&self) -> Vec<&'static str> {
        self.actions.keys().copied().collect()
    }

    /// Every action's description, sorted by name.
    pub fn infos(&self) -> Vec<ActionInfo> {
        self.actions.values().map(|a| a.info()).collect()
    }
}
