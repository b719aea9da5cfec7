//! What the store keeps: plain records and the status vocabularies.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::action::{ApprovalRequest, Wait};

/// The state of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Being driven by a process.
    Running,
    /// Only waiting steps (approval, sleep) remain; no process needs to hold it.
    Waiting,
    /// Every step that was not allowed to fail succeeded.
    Succeeded,
    /// A step that was not allowed to fail failed.
    Failed,
    /// Stopped by a user.
    Cancelled,
}

impl RunStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Waiting => "waiting",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }

    /// Read a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "running" => RunStatus::Running,
            "waiting" => RunStatus::Waiting,
            "succeeded" => RunStatus::Succeeded,
            "failed" => RunStatus::Failed,
            "cancelled" => RunStatus::Cancelled,
            _ => return None,
        })
    }

    /// Whether the run is over.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RunStatus::Succeeded | RunStatus::Failed | RunStatus::Cancelled
        )
    }
}

/// The state of one step instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Not started.
    Pending,
    /// An attempt is in flight.
    Running,
    /// Suspended on a wait (approval, sleep) or a retry delay.
    Waiting,
    /// Finished well.
    Succeeded,
    /// Finished badly after its last attempt.
    Failed,
    /// Not run: its condition was false or a needed step failed.
    Skipped,
    /// Stopped by cancellation.
    Cancelled,
}

impl StepStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Pending => "pending",
            StepStatus::Running => "running",
            StepStatus::Waiting => "waiting",
            StepStatus::Succeeded => "succeeded",
            StepStatus::Failed => "failed",
            StepStatus::Skipped => "skipped",
            StepStatus::Cancelled => "cancelled",
        }
    }

    /// Read a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => StepStatus::Pending,
            "running" => StepStatus::Running,
            "waiting" => StepStatus::Waiting,
            "succeeded" => StepStatus::Succeeded,
            "failed" => StepStatus::Failed,
            "skipped" => StepStatus::Skipped,
            "cancelled" => StepStatus::Cancelled,
            _ => return None,
        })
    }

    /// Whether the step is done for this run.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            StepStatus::Succeeded
                | StepStatus::Failed
                | StepStatus::Skipped
                | StepStatus::Cancelled
        )
    }
}

/// The state of an approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    /// Nobody decided yet.
    Pending,
    /// Approved by a person (or by the timeout when it means approval).
    Approved,
    /// Rejected.
    Rejected,
    /// Nobody answered in time.
    TimedOut,
}

impl ApprovalStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalStatus::Pending => "pending",
            ApprovalStatus::Approved => "approved",
            ApprovalStatus::Rejected => "rejected",
            ApprovalStatus::TimedOut => "timed_out",
        }
    }

    /// Read a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => ApprovalStatus::Pending,
            "approved" => ApprovalStatus::Approved,
            "rejected" => ApprovalStatus::Rejected,
            "timed_out" => ApprovalStatus::TimedOut,
            _ => return None,
        })
    }
}

/// A run to create.
#[derive(Debug, Clone)]
pub struct NewRun {
    /// Its id (a UUIDv7, so ids sort by creation).
    pub id: String,
    /// The workflow's name.
    pub workflow: String,
    /// The file it came from.
    pub workflow_path: String,
    /// The workflow's YAML, kept so that a resumed run executes what was started.
    pub source: String,
    /// The resolved inputs.
    pub inputs: Value,
    /// What started it.
    pub trigger: Value,
    /// The process driving it.
    pub owner: Option<String>,
    /// Until when that process holds it.
    pub lease_until: Option<DateTime<Utc>>,
}

/// A step instance to create.
#[derive(Debug, Clone)]
pub struct NewStepRun {
    /// `step` or `step[index]` for a `for_each` item.
    pub key: String,
    /// The step's id.
    pub step_id: String,
    /// The item index inside a `for_each`.
    pub item_index: Option<i64>,
    /// Passed to the action on every attempt and re-execution.
    pub idempotency_key: String,
}

/// Filters for [`crate::store::Store::list_runs`].
#[derive(Debug, Clone)]
pub struct RunFilter {
    /// Only runs in this status.
    pub status: Option<RunStatus>,
    /// Only runs of this workflow.
    pub workflow: Option<String>,
    /// At most this many.
    pub limit: i64,
}

impl Default for RunFilter {
    fn default() -> Self {
        RunFilter {
            status: None,
            workflow: None,
            limit: 20,
        }
    }
}

/// A stored run.
#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    /// Its id.
    pub id: String,
    /// The workflow's name.
    pub workflow: String,
    /// The file it came from.
    pub workflow_path: String,
    /// The workflow's YAML at start.
    #[serde(skip)]
    pub source: String,
    /// Resolved inputs.
    pub inputs: Value,
    /// What started it.
    pub trigger: Value,
    /// Its status.
    pub status: RunStatus,
    /// Why it failed or was cancelled.
    pub error: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// The process driving it.
    pub owner: Option<String>,
    /// Until when.
    pub lease_until: Option<DateTime<Utc>>,
    /// A user asked to cancel it.
    pub cancel_requested: bool,
}

/// A stored step instance.
#[derive(Debug, Clone, Serialize)]
pub struct StepRunRecord {
    /// The run.
    pub run_id: String,
    /// `step` or `step[index]`.
    pub step_key: String,
    /// The step's id.
    pub step_id: String,
    /// Index inside a `for_each`.
    pub item_index: Option<i64>,
    /// Its status.
    pub status: StepStatus,
    /// Attempts started so far.
    pub attempts: u32,
    /// The rendered `with:` of the last attempt, secrets masked.
    pub input: Value,
    /// Its outputs.
    pub outputs: Value,
    /// Kind of the last error.
    pub error_kind: Option<String>,
    /// The last error.
    pub error: Option<String>,
    /// Given to the action on every attempt.
    pub idempotency_key: String,
    /// What it waits for.
    pub wait: Option<Wait>,
    /// When a wait or retry delay ends.
    pub wake_at: Option<DateTime<Utc>>,
    /// First start.
    pub started_at: Option<DateTime<Utc>>,
    /// End.
    pub finished_at: Option<DateTime<Utc>>,
}

/// A stored attempt.
#[derive(Debug, Clone, Serialize)]
pub struct AttemptRecord {
    /// Row id.
    pub id: i64,
    /// The run.
    pub run_id: String,
    /// The step instance.
    pub step_key: String,
    /// 1 for the first.
    pub attempt: u32,
    /// running, succeeded, failed, waiting, interrupted, cancelled.
    pub status: String,
    /// Rendered, masked input.
    pub input: Value,
    /// Outputs.
    pub outputs: Value,
    /// Log lines, masked.
    pub logs: String,
    /// A process's exit code.
    pub exit_code: Option<i64>,
    /// Error kind.
    pub error_kind: Option<String>,
    /// Error message.
    pub error: Option<String>,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// End.
    pub finished_at: Option<DateTime<Utc>>,
}

/// A stored event.
#[derive(Debug, Clone, Serialize)]
pub struct EventRecord {
    /// Row id (orders events).
    pub id: i64,
    /// The run.
    pub run_id: String,
    /// The step instance, if any.
    pub step_key: Option<String>,
    /// What happened.
    pub kind: String,
    /// Details.
    pub data: Value,
    /// When.
    pub at: DateTime<Utc>,
}

/// The start of an attempt.
#[derive(Debug, Clone)]
pub struct AttemptStart {
    /// The run.
    pub run_id: String,
    /// The step instance.
    pub step_key: String,
    /// Attempt number.
    pub attempt: u32,
    /// Rendered input, secrets masked.
    pub input: Option<Value>,
    /// When.
    pub at: DateTime<Utc>,
}

/// The end of an attempt and the step state it leads to.
#[derive(Debug, Clone)]
pub struct AttemptEnd {
    /// Attempt row id.
    pub attempt_id: i64,
    /// The run.
    pub run_id: String,
    /// The step instance.
    pub step_key: String,
    /// Attempt number.
    pub attempt: u32,
    /// succeeded, failed, waiting, cancelled.
    pub attempt_status: StepStatus,
    /// The step's state after this attempt (waiting when a retry or a wait follows).
    pub step_status: StepStatus,
    /// Outputs, masked.
    pub outputs: Value,
    /// Log lines, masked.
    pub logs: Vec<String>,
    /// A process's exit code.
    pub exit_code: Option<i64>,
    /// Error kind.
    pub error_kind: Option<String>,
    /// Error message, masked.
    pub error: Option<String>,
    /// The wait the step is suspended on.
    pub wait: Option<Value>,
    /// When the wait or retry delay ends.
    pub wake_at: Option<DateTime<Utc>>,
    /// An approval to record as pending.
    pub approval: Option<Value>,
    /// When.
    pub at: DateTime<Utc>,
}

/// A step state change without an attempt.
#[derive(Debug, Clone)]
pub struct StepUpdate {
    /// The run.
    pub run_id: String,
    /// The step instance.
    pub step_key: String,
    /// New status.
    pub status: StepStatus,
    /// New outputs, when any.
    pub outputs: Option<Value>,
    /// Error kind.
    pub error_kind: Option<String>,
    /// Why.
    pub error: Option<String>,
}

/// A stored approval.
#[derive(Debug, Clone, Serialize)]
pub struct ApprovalRecord {
    /// The run.
    pub run_id: String,
    /// The approval step instance.
    pub step_key: String,
    /// What was asked.
    pub request: ApprovalRequest,
    /// Its state.
    pub status: ApprovalStatus,
    /// Who decided.
    pub decided_by: Option<String>,
    /// Their comment.
    pub comment: Option<String>,
    /// Inputs they gave.
    pub inputs: Value,
    /// When asked.
    pub created_at: DateTime<Utc>,
    /// When decided.
    pub decided_at: Option<DateTime<Utc>>,
}

/// A decision on an approval.
#[derive(Debug, Clone)]
pub struct ApprovalDecision {
    /// The run.
    pub run_id: String,
    /// The approval step instance.
    pub step_key: String,
    /// approved, rejected or timed_out.
    pub status: ApprovalStatus,
    /// Who.
    pub by: String,
    /// Why.
    pub comment: Option<String>,
    /// Inputs given.
    pub inputs: Value,
    /// When.
    pub at: DateTime<Utc>,
}
