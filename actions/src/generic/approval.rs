//! `approval`: pause the run until a human approves or rejects.
//!
//! The action only builds the request; the engine persists it, notifies, and finishes
//! the step when someone answers (CLI, API or chat) or when the deadline passes.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::Utc;
use medic_engine::action::{
    Action, ApprovalInput, ApprovalRequest, OutputDoc, StepContext, StepError, StepOutcome,
    TimeoutOutcome, Wait,
};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::support::{after, config_error, parse_duration};

/// The `approval` action.
#[derive(Debug, Clone, Copy, Default)]
pub struct Approval;

/// `with:` of an `approval` step.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalConfig {
    /// What the approver is asked, e.g. "Deploy the fix for {{ inputs.service }}?".
    pub message: String,
    /// User ids or e-mail addresses of who may answer; empty means anyone who can
    /// reach Medic.
    #[serde(default)]
    pub approvers: Vec<String>,
    /// Groups whose members may answer; membership is verified by the integration the
    /// answer comes through (chat), so the CLI cannot answer for a group.
    #[serde(default)]
    pub groups: Vec<String>,
    /// A policy file (relative to the folder the run started from) whose `approvers`
    /// (users, e-mails, groups) are added to `approvers` and `groups`, so that who may
    /// approve escalations is written once, in the policy.
    #[serde(default)]
    pub policy: Option<String>,
    /// Values the approver may or must fill in, by name; later steps read them as
    /// `steps.<id>.outputs.inputs.<name>`.
    #[serde(default)]
    pub inputs: BTreeMap<String, ApprovalInput>,
    /// How long to wait for an answer, e.g. `4h`; without it the step waits forever.
    #[serde(default)]
    pub timeout: Option<String>,
    /// What silence means once `timeout` has passed: `approve`, `reject` or `fail`
    /// (default).
    #[serde(default)]
    pub on_timeout: Option<TimeoutOutcome>,
}

impl ApprovalConfig {
    /// The request the engine persists, with every problem of the config collected.
    fn request(self, ctx: &StepContext) -> Result<ApprovalRequest, StepError> {
        let mut problems = Vec::new();
        let message = self.message.trim();
        if message.is_empty() {
            problems.push("`message` is empty: say what the approver decides".to_string());
        }
        let mut approvers: Vec<String> = self
            .approvers
            .iter()
            .map(|a| a.trim().to_string())
            .collect();
        let mut groups: Vec<String> = self.groups.iter().map(|g| g.trim().to_string()).collect();
        if let Some(path) = &self.policy {
            match policy_approvers(ctx, path) {
                Ok(named) => {
                    approvers.extend(named.users.into_iter().chain(named.emails));
                    groups.extend(named.groups);
                }
                Err(problem) => problems.push(problem),
            }
        }
        if approvers.iter().chain(&groups).any(|a| a.is_empty()) {
            problems.push("`approvers` or `groups` contains an empty name".to_string());
        }
        dedup(&mut approvers);
        dedup(&mut groups);
        for (name, input) in &self.inputs {
            if name.trim().is_empty() {
                problems.push("`inputs` has an input with an empty name".to_string());
            }
            if let Some(default) = input.default.as_ref().filter(|d| !input.kind.accepts(d)) {
                problems.push(format!(
                    "`inputs.{name}.default` is not a {}: {default}",
                    input.kind.as_str()
                ));
            }
        }
        let deadline = match &self.timeout {
            Some(timeout) => match parse_duration("timeout", timeout) {
                Ok(duration) => match after(Utc::now(), "timeout", duration) {
                    Ok(deadline) => Some(deadline),
                    Err(e) => {
                        problems.push(e.message);
                        None
                    }
                },
                Err(e) => {
                    problems.push(e.message);
                    None
                }
            },
            None => {
                if let Some(outcome @ (TimeoutOutcome::Approve | TimeoutOutcome::Reject)) =
                    self.on_timeout
                {
                    problems.push(format!(
                        "`on_timeout: {}` needs a `timeout`, or silence never resolves",
                        if outcome == TimeoutOutcome::Approve {
                            "approve"
                        } else {
                            "reject"
                        }
                    ));
                }
                None
            }
        };
        if !problems.is_empty() {
            return Err(config_error(
                ctx.masker.mask(&problems.join("; ")).into_owned(),
            ));
        }
        Ok(ApprovalRequest {
            message: ctx.masker.mask(message).into_owned(),
            approvers,
            groups,
            inputs: self.inputs,
            deadline,
            on_timeout: self.on_timeout.unwrap_or(TimeoutOutcome::Fail),
        })
    }
}

/// Remove repeated names, keeping the first of each.
fn dedup(names: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| seen.insert(n.clone()));
}

/// The approvers a policy file names, or why they could not be read.
fn policy_approvers(ctx: &StepContext, path: &str) -> Result<medic_policies::Approvers, String> {
    let file = ctx.base_dir.join(path);
    medic_policies::load_file(&file)
        .map(|policy| policy.approvers)
        .map_err(|diags| match diags.first() {
            Some(d) => format!(
                "policy {}:{}:{}: {} (`medic validate` shows every problem)",
                d.file.display(),
                d.line,
                d.col,
                d.message
            ),
            None => format!("policy {} could not be read", file.display()),
        })
}

#[async_trait]
impl Action for Approval {
    type Config = ApprovalConfig;
    const NAME: &'static str = "approval";
    const DESCRIPTION: &'static str = "Pauses the run until a human approves or rejects, from \
        the CLI, the API or chat. The approver may fill in typed inputs. With a `timeout`, \
        silence resolves the request as `on_timeout` says. The wait is persisted by the engine \
        and holds no task. A rejection fails the step with the `rejected` error kind.";
    const EXAMPLE: &'static str = r#"review:
  uses: approval
  with:
    message: "Open a pull request with the fix? (run {{ run.id }})"
    approvers: [alice@example.com, bob]
    inputs:
      reason:
        type: string
        description: Why you decided so
      auto_merge:
        type: boolean
        default: false
    timeout: 4h
    on_timeout: reject
"#;
    // Set by the engine when the request is resolved.
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc {
            name: "approved",
            kind: "boolean",
            description: "Whether the request was approved (by a human or by `on_timeout: approve`).",
        },
        OutputDoc {
            name: "decision",
            kind: "string",
            description: "`approved`, `rejected` or `timed_out`.",
        },
        OutputDoc {
            name: "by",
            kind: "string",
            description: "Who answered; `timeout` when silence resolved the request.",
        },
        OutputDoc {
            name: "comment",
            kind: "string",
            description: "The approver's comment; null when none was given.",
        },
        OutputDoc {
            name: "inputs",
            kind: "object",
            description: "The inputs the approver gave, defaults filled in.",
        },
        OutputDoc {
            name: "decided_at",
            kind: "string",
            description: "When the request was resolved, as an RFC 3339 time.",
        },
    ];

    async fn run(
        &self,
        config: ApprovalConfig,
        ctx: &StepContext,
    ) -> Result<StepOutcome, StepError> {
        let request = config.request(ctx)?;
        ctx.log(match request.deadline {
            Some(deadline) => format!(
                "waiting for approval until {}: {}",
                deadline.to_rfc3339(),
                request.message
            ),
            None => format!("waiting for approval: {}", request.message),
        });
        Ok(StepOutcome::Suspend(Wait::Approval(request)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::support::test_context;
    use chrono::TimeDelta;
    use medic_engine::action::{ErrorKind, InputType};
    use serde_json::json;

    async fn request(
        value: serde_json::Value,
        secrets: &[&str],
    ) -> Result<ApprovalRequest, StepError> {
        let config: ApprovalConfig = serde_json::from_value(value).unwrap();
        run_config(config, secrets).await
    }

    async fn run_config(
        config: ApprovalConfig,
        secrets: &[&str],
    ) -> Result<ApprovalRequest, StepError> {
        let dir = tempfile::tempdir().unwrap();
        let ctx = test_context(secrets, dir.path());
        match Approval.run(config, &ctx).await? {
            StepOutcome::Suspend(Wait::Approval(request)) => Ok(request),
            other => panic!("approval must suspend for a human, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn example_suspends_with_a_deadline() {
        let before = Utc::now();
        let config = crate::support::example_config::<Approval>();
        let request = run_config(config, &[]).await.unwrap();
        assert_eq!(request.approvers, ["alice@example.com", "bob"]);
        assert_eq!(request.on_timeout, TimeoutOutcome::Reject);
        assert_eq!(request.inputs["auto_merge"].kind, InputType::Boolean);
        assert_eq!(request.inputs["reason"].kind, InputType::String);
        let deadline = request.deadline.unwrap();
        assert!(deadline >= before + TimeDelta::hours(4));
        assert!(deadline <= Utc::now() + TimeDelta::hours(4));
    }

    #[tokio::test]
    async fn reads_who_may_approve_from_the_policy() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("p.yaml"),
            "rules: [{ name: all, when: 'true', outcome: escalate, reason: always ask }]\n\
             approvers: { users: [U024BE7LH], emails: [alice@example.com], groups: [on-call] }\n",
        )
        .unwrap();
        let ctx = test_context(&[], dir.path());
        let config: ApprovalConfig = serde_json::from_value(json!({
            "message": "fix?", "approvers": ["bob", "alice@example.com"], "policy": "p.yaml"
        }))
        .unwrap();
        let StepOutcome::Suspend(Wait::Approval(request)) =
            Approval.run(config, &ctx).await.unwrap()
        else {
            panic!("approval must suspend");
        };
        assert_eq!(request.approvers, ["bob", "alice@example.com", "U024BE7LH"]);
        assert_eq!(request.groups, ["on-call"]);
        // A missing or broken policy is a configuration error naming the file.
        let config: ApprovalConfig =
            serde_json::from_value(json!({"message": "fix?", "policy": "nope.yaml"})).unwrap();
        let err = Approval.run(config, &ctx).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Config);
        assert!(err.message.contains("nope.yaml"), "{}", err.message);
    }

    #[tokio::test]
    async fn without_timeout_waits_forever_and_fails_on_timeout_by_default() {
        let request = request(json!({"message": "go?"}), &[]).await.unwrap();
        assert_eq!(request.deadline, None);
        assert_eq!(request.on_timeout, TimeoutOutcome::Fail);
        assert!(request.approvers.is_empty());
    }

    #[tokio::test]
    async fn collects_every_config_problem() {
        let err = request(
            json!({
                "message": " ",
                "approvers": [""],
                "inputs": {"n": {"type": "number", "default": "three"}},
                "timeout": "later",
            }),
            &[],
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Config);
        for needle in [
            "`message`",
            "`approvers`",
            "`inputs.n.default` is not a number",
            "`timeout`",
        ] {
            assert!(
                err.message.contains(needle),
                "{needle} missing from {}",
                err.message
            );
        }
    }

    #[tokio::test]
    async fn approve_on_timeout_needs_a_timeout() {
        let err = request(json!({"message": "go?", "on_timeout": "approve"}), &[])
            .await
            .unwrap_err();
        assert!(
            err.message
                .contains("`on_timeout: approve` needs a `timeout`"),
            "{}",
            err.message
        );
    }

    #[tokio::test]
    async fn secrets_in_the_message_are_masked() {
        let request = request(
            json!({"message": "rotate key s3cr3t-key?"}),
            &["s3cr3t-key"],
        )
        .await
        .unwrap();
        assert_eq!(request.message, "rotate key ***?");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err =
            serde_json::from_value::<ApprovalConfig>(json!({"message": "x", "approver": "bob"}))
                .unwrap_err();
        assert!(
            err.to_string().contains("unknown field `approver`"),
            "{err}"
        );
    }
}
