//! `github.poll-outcomes`: learn from the pull requests Medic opened.
//!
//! A merged pull request is the success of the decision that led to it; one closed
//! without merging is a failure (and marks the fix as declined). Both are recorded
//! once, whichever worker sees them first, so polling from a scheduled workflow, from
//! `medic pulls poll` and later from webhooks never counts an outcome twice.

use async_trait::async_trait;
use chrono::Utc;
use medic_engine::action::{
    Action, ErrorKind, OutputDoc, Outputs, StepContext, StepError, StepOutcome,
};
use medic_engine::store::{PullState, Store, StoreError};
use medic_forge::Token;
use medic_forge::github::{DEFAULT_TOKEN_ENV, GitHub, PullOutcome};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// What polling found for one pull request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Polled {
    /// `owner/name`.
    pub repository: String,
    /// Its number.
    pub number: i64,
    /// Its web address.
    pub url: String,
    /// `open`, `merged`, `closed`, or `error`.
    pub state: String,
    /// The decision whose outcome was recorded, when one was.
    pub recorded_for: Option<String>,
    /// Why it could not be checked.
    pub error: Option<String>,
}

/// Check every open pull request Medic opened and record the outcome of those merged
/// or closed. One pull request that cannot be read does not stop the others.
pub async fn poll_outcomes(
    store: &Store,
    token_env: &str,
    env: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Result<Vec<Polled>, StoreError> {
    let mut polled = Vec::new();
    for pull in store.pulls(Some(PullState::Open)).await? {
        let mut entry = Polled {
            repository: pull.repository.clone(),
            number: pull.number,
            url: pull.url.clone(),
            state: "open".into(),
            recorded_for: None,
            error: None,
        };
        let outcome = match pull.repository.split_once('/') {
            Some((owner, repo)) => {
                let token = Token::from_env(token_env, env);
                match GitHub::new(Some(&pull.api_url), token) {
                    Ok(github) => github
                        .with_token_env(token_env)
                        .pull_outcome(owner, repo, pull.number.max(0) as u64)
                        .await
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                }
            }
            None => Err(format!(
                "`{}` is not an owner/name repository",
                pull.repository
            )),
        };
        let (state, result, reason) = match outcome {
            Ok(PullOutcome::Open) => {
                polled.push(entry);
                continue;
            }
            Ok(PullOutcome::Merged { .. }) => (
                PullState::Merged,
                "success",
                format!("pull request #{} was merged", pull.number),
            ),
            Ok(PullOutcome::Closed { .. }) => (
                PullState::Closed,
                "failure",
                format!("pull request #{} was closed without merging", pull.number),
            ),
            Err(message) => {
                entry.state = "error".into();
                entry.error = Some(message);
                polled.push(entry);
                continue;
            }
        };
        entry.state = state.as_str().into();
        let first = store
            .resolve_pull(&pull.repository, pull.number, state, Utc::now())
            .await?;
        if let (true, Some(decision)) = (first, &pull.decision_id) {
            match store
                .record_outcome(decision, result, Some(&reason), Utc::now())
                .await
            {
                Ok(()) => entry.recorded_for = Some(decision.clone()),
                // Someone reported it by hand (`medic outcome`) first: theirs stands.
                Err(StoreError::Conflict(_) | StoreError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        polled.push(entry);
    }
    Ok(polled)
}

/// The `github.poll-outcomes` action.
#[derive(Debug, Clone, Copy, Default)]
pub struct PollOutcomes;

/// `with:` of a `github.poll-outcomes` step.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PollOutcomesConfig {
    /// The environment variable (usually a workflow secret) holding the GitHub token
    /// (default `GITHUB_TOKEN`).
    #[serde(default)]
    pub token_env: Option<String>,
}

#[async_trait]
impl Action for PollOutcomes {
    type Config = PollOutcomesConfig;
    const NAME: &'static str = "github.poll-outcomes";
    const DESCRIPTION: &'static str = "Checks every open pull request Medic opened and \
        records the outcome of the decision behind each one that was merged (success) or \
        closed without merging (failure), once, whichever worker sees it first; the history \
        signal of later decisions learns from them. Run it on a schedule. In a dry run \
        nothing is read or recorded.";
    const EXAMPLE: &'static str = r#"learn:
  uses: github.poll-outcomes
  with:
    token_env: GITHUB_TOKEN
"#;
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc {
            name: "checked",
            kind: "number",
            description: "Open pull requests checked.",
        },
        OutputDoc {
            name: "merged",
            kind: "number",
            description: "How many were found merged.",
        },
        OutputDoc {
            name: "closed",
            kind: "number",
            description: "How many were found closed without merging.",
        },
        OutputDoc {
            name: "pulls",
            kind: "list",
            description: "Each one: repository, number, url, state, recorded_for, error.",
        },
    ];

    async fn run(
        &self,
        config: PollOutcomesConfig,
        ctx: &StepContext,
    ) -> Result<StepOutcome, StepError> {
        let Some(store) = &ctx.store else {
            return Err(StepError::new(
                ErrorKind::Internal,
                "github.poll-outcomes needs the run's store",
            ));
        };
        if ctx.dry_run {
            let open = store
                .pulls(Some(PullState::Open))
                .await
                .map_err(|e| StepError::new(ErrorKind::Internal, e.to_string()))?;
            ctx.log(format!(
                "dry run: would check {} open pull request(s)",
                open.len()
            ));
            let mut outputs = Outputs::new();
            outputs.insert("checked".into(), json!(0));
            outputs.insert("merged".into(), json!(0));
            outputs.insert("closed".into(), json!(0));
            outputs.insert("pulls".into(), json!([]));
            return Ok(StepOutcome::Success(outputs));
        }
        let token_env = config.token_env.as_deref().unwrap_or(DEFAULT_TOKEN_ENV);
        let env = |name: &str| ctx.env.get(name).cloned();
        let polled = poll_outcomes(store, token_env, &env)
            .await
            .map_err(|e| StepError::new(ErrorKind::Internal, e.to_string()))?;
        let count = |state: &str| polled.iter().filter(|p| p.state == state).count();
        for p in &polled {
            ctx.log(format!(
                "{}#{}: {}{}",
                p.repository,
                p.number,
                p.state,
                p.error
                    .as_deref()
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default()
            ));
        }
        let mut outputs = Outputs::new();
        outputs.insert("checked".into(), json!(polled.len()));
        outputs.insert("merged".into(), json!(count("merged")));
        outputs.insert("closed".into(), json!(count("closed")));
        outputs.insert(
            "pulls".into(),
            serde_json::to_value(&polled).unwrap_or_default(),
        );
        Ok(StepOutcome::Success(outputs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::support::test_context;
    use medic_engine::store::{NewDecision, PullRecord};
    use medic_forge::github::NewPull;
    use medic_forge::standin::StandIn;

    async fn decision(store: &Store, id: &str) {
        store
            .insert_decision(&NewDecision {
                id: id.into(),
                fingerprint: Some(format!("fp-{id}")),
                category: Some("test".into()),
                repository: Some("acme/api".into()),
                service: None,
                outcome: "open_pr".into(),
                rule: None,
                confidence: 0.8,
                record: json!({}),
                created_at: Utc::now(),
            })
            .await
            .unwrap();
    }

    async fn open(store: &Store, github: &GitHub, api: &str, branch: &str, decision: &str) -> u64 {
        let pull = github
            .create_pull(
                "acme",
                "api",
                &NewPull {
                    title: format!("fix {branch}"),
                    head: branch.into(),
                    base: "main".into(),
                    body: None,
                    draft: false,
                    maintainer_can_modify: true,
                },
            )
            .await
            .unwrap();
        let now = Utc::now();
        store
            .upsert_pull(&PullRecord {
                api_url: api.into(),
                repository: "acme/api".into(),
                number: pull.number as i64,
                url: format!("https://github.com/acme/api/pull/{}", pull.number),
                branch: branch.into(),
                fingerprint: Some(format!("fp-{decision}")),
                fix_hash: Some("h".into()),
                decision_id: Some(decision.into()),
                run_id: None,
                state: PullState::Open,
                opened_at: now,
                updated_at: now,
                resolved_at: None,
            })
            .await
            .unwrap();
        pull.number
    }

    /// A merged pull request is its decision's success, a closed one its failure, each
    /// recorded once; one still open is left alone.
    #[tokio::test]
    async fn merged_and_closed_pull_requests_become_outcomes_once() {
        let server = StandIn::start("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(dir.path().join("m.db").to_str().unwrap())
            .await
            .unwrap();
        let github = GitHub::new(Some(server.url()), None).unwrap();
        for id in ["d1", "d2", "d3"] {
            decision(&store, id).await;
        }
        let merged = open(&store, &github, server.url(), "medic/fix-a", "d1").await;
        let closed = open(&store, &github, server.url(), "medic/fix-b", "d2").await;
        open(&store, &github, server.url(), "medic/fix-c", "d3").await;
        assert!(server.merge_pull("acme", "api", merged));
        assert!(server.close_pull("acme", "api", closed));

        let ctx = test_context(&[], dir.path()).with_store(store.clone());
        let config: PollOutcomesConfig = serde_json::from_value(json!({})).unwrap();
        let StepOutcome::Success(out) = PollOutcomes.run(config.clone(), &ctx).await.unwrap()
        else {
            panic!("polling succeeds");
        };
        assert_eq!(
            (
                out["checked"].as_u64(),
                out["merged"].as_u64(),
                out["closed"].as_u64()
            ),
            (Some(3), Some(1), Some(1))
        );
        let d1 = store.decision("d1").await.unwrap();
        assert_eq!(d1.result.as_deref(), Some("success"));
        assert!(d1.result_reason.unwrap().contains("merged"));
        assert_eq!(
            store.decision("d2").await.unwrap().result.as_deref(),
            Some("failure")
        );
        assert_eq!(store.decision("d3").await.unwrap().result, None);

        // Polling again reads only what is still open and records nothing twice.
        let StepOutcome::Success(again) = PollOutcomes.run(config, &ctx).await.unwrap() else {
            panic!("polling succeeds");
        };
        assert_eq!(again["checked"], 1);
        assert_eq!(again["merged"], 0);
        server.shutdown().await;
    }

    /// A pull request that cannot be read is reported; the others are still polled.
    #[tokio::test]
    async fn an_unreachable_api_is_reported_per_pull_request() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(dir.path().join("m.db").to_str().unwrap())
            .await
            .unwrap();
        let now = Utc::now();
        store
            .upsert_pull(&PullRecord {
                // Nothing listens on port 9 (discard) here.
                api_url: "http://127.0.0.1:9".into(),
                repository: "acme/api".into(),
                number: 1,
                url: "u".into(),
                branch: "b".into(),
                fingerprint: None,
                fix_hash: None,
                decision_id: None,
                run_id: None,
                state: PullState::Open,
                opened_at: now,
                updated_at: now,
                resolved_at: None,
            })
            .await
            .unwrap();
        let polled = poll_outcomes(&store, "GITHUB_TOKEN", &|_| None)
            .await
            .unwrap();
        assert_eq!(polled.len(), 1);
        assert_eq!(polled[0].state, "error");
        assert!(polled[0].error.is_some());
    }
}
