//! Deciding approvals: who may, with which inputs, exactly once.
//!
//! One function used by every way a human answers (the CLI now; chat and the HTTP API
//! later), so that the rules cannot differ between them: only a named approver may
//! decide, typed inputs are checked, and the first decision wins atomically in the store.

use chrono::Utc;
use serde_json::Value;

use crate::action::InputType;
use crate::store::{ApprovalDecision, ApprovalRecord, ApprovalStatus, Store, StoreError};

/// Why a decision was refused.
#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    /// The store failed, or the run/approval does not exist or was already decided.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The person is not among the approvers.
    #[error("`{who}` may not decide `{step}`: approvers are {approvers}")]
    NotAllowed {
        /// Who tried.
        who: String,
        /// The approval step.
        step: String,
        /// Who may.
        approvers: String,
    },
    /// Which approval is meant is unclear, or there is none.
    #[error("{0}")]
    Ambiguous(String),
    /// An input is unknown, missing or of the wrong type.
    #[error("{0}")]
    Input(String),
}

/// A human's answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The run id.
    pub run_id: String,
    /// The approval step; may be omitted when the run has exactly one pending approval.
    pub step_key: Option<String>,
    /// Who answers (a user id or e-mail, matched against the step's `approvers`).
    pub who: String,
    /// Groups the answering identity is verified to belong to, matched against the
    /// step's `groups`. Only an integration that authenticates the person and resolves
    /// membership may fill this in; the CLI leaves it empty.
    pub groups: Vec<String>,
    /// Approve (true) or reject.
    pub approve: bool,
    /// Inputs as `name → raw text`, typed by the request.
    pub inputs: Vec<(String, String)>,
    /// Why.
    pub comment: Option<String>,
}

/// Whether `answer` comes from someone the request names. A request that names nobody
/// is open to anyone who can reach the store.
fn may_answer(req: &crate::action::ApprovalRequest, answer: &Answer) -> bool {
    (req.approvers.is_empty() && req.groups.is_empty())
        || req.approvers.iter().any(|a| a == &answer.who)
        || req.groups.iter().any(|g| answer.groups.contains(g))
}

/// Record a decision on a pending approval after checking who may and what was given.
pub async fn decide(store: &Store, answer: &Answer) -> Result<ApprovalRecord, ApprovalError> {
    let run = store.run(&answer.run_id).await?;
    if run.status.is_terminal() {
        return Err(ApprovalError::Ambiguous(format!(
            "run {} already ended ({}): there is nothing left to decide",
            answer.run_id,
            run.status.as_str()
        )));
    }
    let all = store.approvals(Some(&answer.run_id)).await?;
    let pending: Vec<&ApprovalRecord> = all
        .iter()
        .filter(|a| a.status == ApprovalStatus::Pending)
        .collect();
    let record = match &answer.step_key {
        Some(key) => all.iter().find(|a| &a.step_key == key).ok_or_else(|| {
            let keys: Vec<&str> = all.iter().map(|a| a.step_key.as_str()).collect();
            let hint = match crate::diagnostic::suggest(key, &keys) {
                Some(s) => format!(": did you mean `{s}`?"),
                None if keys.is_empty() => ": it has no approval steps waiting".to_string(),
                None => format!("; its approvals are: {}", keys.join(", ")),
            };
            ApprovalError::Ambiguous(format!(
                "run {} has no approval `{key}`{hint}",
                answer.run_id
            ))
        })?,
        None => match pending.as_slice() {
            [one] => *one,
            [] => {
                return Err(ApprovalError::Ambiguous(format!(
                    "run {} has no pending approval",
                    answer.run_id
                )));
            }
            many => {
                let keys: Vec<&str> = many.iter().map(|a| a.step_key.as_str()).collect();
                return Err(ApprovalError::Ambiguous(format!(
                    "run {} has several pending approvals ({}): name the step",
                    answer.run_id,
                    keys.join(", ")
                )));
            }
        },
    };
    let req = &record.request;
    if !may_answer(req, answer) {
        let mut named: Vec<String> = req.approvers.clone();
        named.extend(req.groups.iter().map(|g| format!("members of group `{g}`")));
        return Err(ApprovalError::NotAllowed {
            who: answer.who.clone(),
            step: record.step_key.clone(),
            approvers: named.join(", "),
        });
    }
    let mut inputs = serde_json::Map::new();
    for (name, raw) in &answer.inputs {
        let Some(spec) = req.inputs.get(name) else {
            let known: Vec<&str> = req.inputs.keys().map(String::as_str).collect();
            let hint = match crate::diagnostic::suggest(name, &known) {
                Some(s) => format!(": did you mean `{s}`?"),
                None if known.is_empty() => ": this approval takes no inputs".to_string(),
                None => format!("; inputs are: {}", known.join(", ")),
            };
            return Err(ApprovalError::Input(format!(
                "unknown input `{name}`{hint}"
            )));
        };
        let value = spec
            .kind
            .parse_cli(raw)
            .map_err(|e| ApprovalError::Input(format!("input `{name}`: {e}")))?;
        inputs.insert(name.clone(), value);
    }
    if answer.approve {
        for (name, spec) in &req.inputs {
            if spec.required && !inputs.contains_key(name) && spec.default.is_none() {
                let kind = spec.kind;
                return Err(ApprovalError::Input(format!(
                    "input `{name}` ({}) is required to approve: pass --input {name}=…",
                    if kind == InputType::String {
                        "text"
                    } else {
                        kind.as_str()
                    }
                )));
            }
        }
    }
    store
        .decide_approval(&ApprovalDecision {
            run_id: record.run_id.clone(),
            step_key: record.step_key.clone(),
            status: if answer.approve {
                ApprovalStatus::Approved
            } else {
                ApprovalStatus::Rejected
            },
            by: answer.who.clone(),
            comment: answer.comment.clone(),
            inputs: Value::Object(inputs),
            at: Utc::now(),
        })
        .await?;
    let fresh = store.approvals(Some(&record.run_id)).await?;
    fresh
        .into_iter()
        .find(|a| a.step_key == record.step_key)
        .ok_or_else(|| ApprovalError::Ambiguous("the approval disappeared".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::{ApprovalRequest, TimeoutOutcome};

    fn request(approvers: &[&str], groups: &[&str]) -> ApprovalRequest {
        ApprovalRequest {
            message: "ok?".into(),
            approvers: approvers.iter().map(|s| s.to_string()).collect(),
            groups: groups.iter().map(|s| s.to_string()).collect(),
            inputs: Default::default(),
            deadline: None,
            on_timeout: TimeoutOutcome::Fail,
        }
    }

    fn answer(who: &str, groups: &[&str]) -> Answer {
        Answer {
            run_id: "r".into(),
            step_key: None,
            who: who.into(),
            groups: groups.iter().map(|s| s.to_string()).collect(),
            approve: true,
            inputs: Vec::new(),
            comment: None,
        }
    }

    #[test]
    fn only_named_people_or_verified_group_members_may_answer() {
        let open = request(&[], &[]);
        assert!(may_answer(&open, &answer("anyone", &[])));
        let named = request(&["alice"], &["on-call"]);
        assert!(may_answer(&named, &answer("alice", &[])));
        assert!(may_answer(&named, &answer("carol", &["on-call"])));
        assert!(!may_answer(&named, &answer("carol", &["sre"])));
        // A request naming only a group is not open to everyone: the CLI, which claims
        // no group, cannot answer it.
        let group_only = request(&[], &["on-call"]);
        assert!(!may_answer(&group_only, &answer("on-call", &[])));
        assert!(!may_answer(&group_only, &answer("mallory", &[])));
    }
}
