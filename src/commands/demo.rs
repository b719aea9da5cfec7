//! `medic demo`: the whole remediation loop on a fresh machine, offline.
//!
//! It creates a small project whose latest commits broke its tests, a bare repository
//! playing its remote and the failed CI job's log ([`scaffold`]); starts a local
//! stand-in of GitHub's REST API; and runs workflows/ci-failure-remediation.yaml (the
//! same file users run against GitHub) on them: analyze → decide → generate-fix (the
//! culprit commit is found and reverted) → review (the tests pass again) → open-pr (the
//! fix branch is pushed to the bare remote and the pull request opened on the
//! stand-in). With `--escalate` the policy sends the decision to a human, and the run
//! waits for `medic approve`.

pub mod scaffold;

use std::net::{Ipv4Addr, SocketAddr};

use medic_engine::runtime::{DriveOptions, create_run, resolve_inputs};
use medic_engine::store::{RunStatus, Store};
use medic_forge::standin::{StandIn, StandInOptions};
use serde_json::{Value, json};

use super::run::{drive_with, whoami};
use crate::cli::{DemoArgs, Output};
use crate::{CmdResult, Failure, Globals};

/// The workflow the demo runs, as shipped in workflows/.
const WORKFLOW: &str = include_str!("../../workflows/ci-failure-remediation.yaml");
/// The repository the stand-in serves the project as.
const REPOSITORY: &str = "medic-demo/calc";
/// The token the stand-in requires, so that the demo exercises authentication too.
const DEMO_TOKEN: &str = "demo-token-not-a-secret";

/// The demo's policy: a confident analysis of a test failure gets a pull request (a
/// human merges it); with `escalate`, every decision goes to `approver` first.
fn policy(escalate: bool, approver: &str) -> String {
    let rules = if escalate {
        "  - name: ask-first\n    when: 'true'\n    outcome: escalate\n    reason: the demo was started with --escalate, so a human approves every fix\n"
    } else {
        "  - name: already-handled\n    when: handling\n    outcome: ignore\n    reason: this failure is already being handled\n  - name: confident-test\n    when: category == 'test' and analysis.confidence >= 0.6\n    outcome: open_pr\n    reason: a confident analysis of a test failure; a human reviews and merges the fix\n"
    };
    format!(
        "# The demo's policy (see docs/policies.md).\nname: demo\nrules:\n{rules}default:\n  outcome: escalate\n  reason: no rule matched; a human decides\napprovers:\n  users: [{approver}]\n"
    )
}

/// Write the workflow and the demo's policy into the demo folder.
fn prepare(world: &scaffold::World, escalate: bool, approver: &str) -> Result<(), Failure> {
    scaffold::write(
        &world.dir.join("workflows/ci-failure-remediation.yaml"),
        WORKFLOW,
    )?;
    scaffold::write(
        &world.dir.join("policies/demo.yaml"),
        &policy(escalate, approver),
    )
}

/// The workflow's inputs for the demo's world and a GitHub API at `api`.
fn loop_inputs(world: &scaffold::World, api: &str) -> serde_json::Map<String, Value> {
    [
        ("log", json!(world.log.display().to_string())),
        ("checkout", json!("calc")),
        ("repository", json!(REPOSITORY)),
        ("base", json!("main")),
        ("good", json!(world.good)),
        ("bad", json!(world.bad)),
        ("verify", json!("sh test.sh")),
        ("github_api", json!(api)),
        ("policy", json!("policies/demo.yaml")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// How the demo's runs are driven: in the demo folder, with the stand-in's token.
fn loop_options(world: &scaffold::World, dry_run: bool) -> DriveOptions {
    let mut environment: std::collections::BTreeMap<String, String> = std::env::vars().collect();
    environment.insert("GITHUB_TOKEN".into(), DEMO_TOKEN.into());
    DriveOptions {
        dry_run,
        wait: true,
        base_dir: world.dir.clone(),
        environment,
        ..super::drive_options()
    }
}

/// `medic demo`.
pub async fn run(args: DemoArgs, g: &Globals) -> CmdResult {
    let dir = args.dir.clone().unwrap_or_else(free_demo_dir);
    let world = scaffold::create(&dir)?;
    eprintln!("created the demo in {}:", world.dir.display());
    eprintln!(
        "  calc/         a project whose tests broke at {} (last green: {})",
        short(&world.bad),
        short(&world.good)
    );
    eprintln!("  remote.git/   its remote (a bare repository)");
    eprintln!("  ci-job.log    the failed job's log, as GitHub Actions serves it");
    let approver = whoami();
    prepare(&world, args.escalate, &approver)?;

    let standin = StandIn::start_with(
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        StandInOptions {
            token: Some(DEMO_TOKEN.to_string()),
            record_to: Some(world.dir.join("github-calls.jsonl")),
            ..StandInOptions::default()
        },
    )
    .await
    .map_err(|e| Failure::failed(format!("cannot start the GitHub stand-in: {e}")))?;
    eprintln!(
        "  a stand-in of GitHub's REST API at {} (calls recorded in github-calls.jsonl)\n",
        standin.url()
    );

    let workflow_path = world.dir.join("workflows/ci-failure-remediation.yaml");
    let workflow = super::run::load_workflow(&workflow_path, g)?;
    let given = loop_inputs(&world, standin.url());
    let inputs = resolve_inputs(&workflow, &given).map_err(|e| Failure::usage(e.to_string()))?;
    // The demo keeps its store in its own folder, so that `medic approve` and
    // `medic runs show` run there find it.
    let store_path = world.dir.join(".medic").join("medic.db");
    let store = Store::connect(&store_path.display().to_string())
        .await
        .map_err(|e| Failure::failed(format!("cannot open the demo's store: {e}")))?;
    let run_id = create_run(
        &store,
        &workflow,
        inputs,
        json!({"kind": "manual", "user": approver, "demo": true}),
    )
    .await
    .map_err(|e| Failure::failed(e.to_string()))?;
    eprintln!(
        "run {run_id} of {} started{}",
        workflow.name,
        if args.dry_run { " (dry run)" } else { "" }
    );
    if args.escalate {
        eprintln!(
            "the policy escalates: approve from another terminal with\n  cd {} && medic approve {run_id} --as {approver}\n",
            world.dir.display()
        );
    }
    let opts = loop_options(&world, args.dry_run);
    let code = drive_with(store.clone(), &workflow, &run_id, opts, Output::Text).await;
    summarize(&store, &run_id, &standin.pulls(), &world).await;
    standin.shutdown().await;
    code
}

/// What the loop did, in the user's words.
async fn summarize(
    store: &Store,
    run_id: &str,
    pulls: &[medic_forge::standin::StandInPull],
    world: &scaffold::World,
) {
    let Ok(run) = store.run(run_id).await else {
        return;
    };
    let steps = store.step_runs(run_id).await.unwrap_or_default();
    let output = |step: &str, key: &str| {
        steps
            .iter()
            .find(|s| s.step_key == step)
            .and_then(|s| s.outputs.get(key))
            .cloned()
            .unwrap_or(Value::Null)
    };
    eprintln!();
    eprintln!(
        "analysis:  {} failure, fingerprint {}",
        output("analyze", "category").as_str().unwrap_or("?"),
        output("analyze", "fingerprint").as_str().unwrap_or("?")
    );
    eprintln!(
        "decision:  {} (confidence {:.2})",
        output("decide", "outcome").as_str().unwrap_or("?"),
        output("decide", "confidence").as_f64().unwrap_or(0.0)
    );
    if let Some(summary) = output("fix", "summary").as_str() {
        eprintln!(
            "fix:       {summary} (the commit that broke the tests: {}; {} itself is untouched, the fix was made in a worktree)",
            short(&world.culprit),
            world.project.display()
        );
    }
    if let Some(passed) = output("review", "passed").as_bool() {
        eprintln!(
            "review:    {}",
            if passed { "passed" } else { "did not pass" }
        );
    }
    for pull in pulls {
        eprintln!(
            "pull request #{} on the stand-in: \"{}\" ({} → {})",
            pull.number, pull.title, pull.head, pull.base
        );
        eprintln!(
            "  the branch is in {}: git -C {} log --oneline {}",
            world.remote.display(),
            world.remote.display(),
            pull.head
        );
    }
    if run.status == RunStatus::Waiting {
        eprintln!("the run waits for an approval; `medic approve` continues it");
    }
    eprintln!(
        "details: cd {} && medic runs show {run_id}",
        world.dir.display()
    );
}

/// `medic-demo`, or the first of `medic-demo-2`, `medic-demo-3`… that is free, so that
/// running the demo again starts a new world instead of failing.
fn free_demo_dir() -> std::path::PathBuf {
    let first = std::path::PathBuf::from("medic-demo");
    if !scaffold::is_taken(&first) {
        return first;
    }
    (2..)
        .map(|n| std::path::PathBuf::from(format!("medic-demo-{n}")))
        .find(|p| !scaffold::is_taken(p))
        .unwrap_or(first)
}

fn short(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

#[cfg(test)]
mod tests {
    //! The whole loop, in process, against a real git repository with a bare remote and
    //! the GitHub stand-in: what a user would see over several runs.

    use super::*;
    use medic_actions::github::outcomes::poll_outcomes;
    use medic_engine::runtime::Executor;
    use medic_engine::workflow::Workflow;
    use medic_forge::standin::StandInHandle;
    use scaffold::{World, git};

    struct Loop {
        _tmp: tempfile::TempDir,
        world: World,
        standin: StandInHandle,
        store: Store,
        workflow: Workflow,
    }

    /// A demo world, its stand-in and store; `dedupe: false` drops the policy's
    /// "already handled" rule so that every run reaches the pull request step.
    async fn setup(dedupe: bool) -> Loop {
        setup_with(dedupe, false).await
    }

    async fn setup_with(dedupe: bool, escalate: bool) -> Loop {
        let tmp = tempfile::tempdir().unwrap();
        let world = scaffold::create(&tmp.path().join("demo")).unwrap();
        prepare(&world, escalate, "alice").unwrap();
        if !dedupe {
            let path = world.dir.join("policies/demo.yaml");
            let text = std::fs::read_to_string(&path).unwrap();
            let text = text.replace("  - name: already-handled\n    when: handling\n    outcome: ignore\n    reason: this failure is already being handled\n", "");
            assert!(!text.contains("handling"), "{text}");
            std::fs::write(&path, text).unwrap();
        }
        let standin = StandIn::start_with(
            SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            StandInOptions {
                token: Some(DEMO_TOKEN.to_string()),
                ..StandInOptions::default()
            },
        )
        .await
        .unwrap();
        let store = Store::connect(world.dir.join("m.db").to_str().unwrap())
            .await
            .unwrap();
        let registry = medic_actions::registry();
        let workflow = medic_engine::validate::load_file(
            &world.dir.join("workflows/ci-failure-remediation.yaml"),
            &registry,
        )
        .unwrap();
        Loop {
            _tmp: tmp,
            world,
            standin,
            store,
            workflow,
        }
    }

    impl Loop {
        /// One run of the workflow; its status and the outputs of `open_pr` and `decide`.
        async fn run(&self) -> (RunStatus, Value, Value) {
            let inputs = resolve_inputs(
                &self.workflow,
                &loop_inputs(&self.world, self.standin.url()),
            )
            .unwrap();
            let run_id = create_run(&self.store, &self.workflow, inputs, json!({"kind": "test"}))
                .await
                .unwrap();
            self.drive(&run_id).await
        }

        /// Drive `run_id` until it ends or only waits remain.
        async fn drive(&self, run_id: &str) -> (RunStatus, Value, Value) {
            let (_cancel, rx) = tokio::sync::watch::channel(false);
            let mut opts = loop_options(&self.world, false);
            opts.wait = false;
            let status = Executor::new(self.store.clone(), medic_actions::registry())
                .drive(&self.workflow, run_id, &opts, rx, None)
                .await
                .unwrap();
            let steps = self.store.step_runs(run_id).await.unwrap();
            let outputs = |key: &str| {
                steps
                    .iter()
                    .find(|s| s.step_key == key)
                    .map(|s| s.outputs.clone())
                    .unwrap_or(Value::Null)
            };
            (status, outputs("open_pr"), outputs("decide"))
        }

        fn posts_to_pulls(&self) -> usize {
            self.standin
                .calls()
                .iter()
                .filter(|c| c.method == "POST" && c.path.ends_with("/pulls"))
                .count()
        }

        fn remote_head(&self, branch: &str) -> String {
            git(&self.world.remote, &["rev-parse", branch]).unwrap()
        }
    }

    #[tokio::test]
    async fn the_loop_opens_one_pull_request_and_learns_when_it_is_merged() {
        let l = setup(true).await;
        let (status, pr, decision) = l.run().await;
        assert_eq!(status, RunStatus::Succeeded);
        assert_eq!(pr["status"], "opened", "{pr}");
        assert_eq!(decision["outcome"], "open_pr");
        let branch = pr["branch"].as_str().unwrap().to_string();
        assert!(branch.starts_with("medic/fix-"), "{branch}");
        // The fix is the culprit's revert, pushed with Medic's trailers; the tests pass.
        let message = git(&l.world.remote, &["log", "-1", "--format=%B", &branch]).unwrap();
        assert!(message.contains("Medic-Fix: "), "{message}");
        assert!(message.contains("Revert \"calc: read"), "{message}");
        let pulls = l.standin.pulls();
        assert_eq!(pulls.len(), 1);
        let body = pulls[0].body.clone().unwrap_or_default();
        assert!(
            body.contains("not ok 2 - add handles negative numbers"),
            "{body}"
        );
        assert!(body.contains("<!-- medic: fingerprint="), "{body}");
        assert!(
            body.contains("1 file changed, +2 −8 lines: `calc.sh`"),
            "{body}"
        );
        assert_eq!(pulls[0].labels, ["medic"]);
        assert_eq!(
            pr["auto_merge"], "off",
            "an open_pr decision is merged by a human"
        );
        assert_eq!(pulls[0].auto_merge, None);

        // The same failure again: the decision sees it is being handled; still one PR.
        let (status, pr, decision) = l.run().await;
        assert_eq!(status, RunStatus::Succeeded);
        assert_eq!(decision["outcome"], "ignore");
        assert!(
            pr.is_null() || pr.as_object().is_some_and(|o| o.is_empty()),
            "{pr}"
        );
        assert_eq!(l.posts_to_pulls(), 1);

        // A human merges it: polling records the decision's success, once.
        assert!(l.standin.merge_pull("medic-demo", "calc", pulls[0].number));
        let polled = poll_outcomes(&l.store, "GITHUB_TOKEN", &|_| Some(DEMO_TOKEN.into()))
            .await
            .unwrap();
        assert_eq!(polled.len(), 1);
        assert_eq!(polled[0].state, "merged");
        let first = l.store.pulls(None).await.unwrap();
        let decision_id = first[0].decision_id.clone().unwrap();
        let recorded = l.store.decision(&decision_id).await.unwrap();
        assert_eq!(recorded.result.as_deref(), Some("success"));
        l.standin.shutdown().await;
    }

    /// Escalated: the run waits for a named approver with the fix in hand; only then is
    /// the pull request opened. A rejection stops the loop, recorded.
    #[tokio::test]
    async fn an_escalation_waits_for_the_policys_approver() {
        let l = setup_with(true, true).await;
        let inputs = resolve_inputs(&l.workflow, &loop_inputs(&l.world, l.standin.url())).unwrap();
        let run_id = create_run(&l.store, &l.workflow, inputs, json!({"kind": "test"}))
            .await
            .unwrap();
        let (status, pr, decision) = l.drive(&run_id).await;
        assert_eq!(decision["outcome"], "escalate");
        assert_eq!(status, RunStatus::Waiting);
        assert!(pr.as_object().is_none_or(|o| o.is_empty()), "{pr}");
        assert!(l.standin.pulls().is_empty());
        let answer = |who: &str| medic_engine::approval::Answer {
            run_id: run_id.clone(),
            step_key: Some("ask".into()),
            who: who.into(),
            groups: Vec::new(),
            approve: true,
            inputs: Vec::new(),
            comment: Some("looks right".into()),
        };
        // Only the policy's approver may answer.
        let refused = medic_engine::approval::decide(&l.store, &answer("mallory")).await;
        assert!(refused.unwrap_err().to_string().contains("may not decide"));
        medic_engine::approval::decide(&l.store, &answer("alice"))
            .await
            .unwrap();
        let (status, pr, _) = l.drive(&run_id).await;
        assert_eq!(status, RunStatus::Succeeded);
        assert_eq!(pr["status"], "opened", "{pr}");
        assert_eq!(l.standin.pulls().len(), 1);
        l.standin.shutdown().await;
    }

    /// A decision of `auto_fix` (the policy's guards allowed it) turns on GitHub's
    /// auto-merge; `open_pr` does not.
    /// A token printed in the failed job's log reaches neither the pull request, nor
    /// any call to GitHub, nor the pushed commit.
    #[tokio::test]
    async fn secrets_in_the_log_never_reach_github() {
        let l = setup(true).await;
        let canary = "ghp_Zq8xWv3Ty6Ur9Ps2Lm5KaB7cD1eF4gH0iJ2k";
        let log = std::fs::read_to_string(&l.world.log).unwrap().replace(
            "Z not ok 2 - add handles negative numbers\n",
            &format!("Z not ok 2 - add handles negative numbers\n2026-11-26T08:00:01.0000000Z   token: {canary}\n"),
        );
        assert!(log.contains(canary));
        std::fs::write(&l.world.log, log).unwrap();
        let (_, pr, _) = l.run().await;
        assert_eq!(pr["status"], "opened", "{pr}");
        let calls = serde_json::to_string(&l.standin.calls()).unwrap();
        assert!(!calls.contains(canary), "a GitHub call carried the secret");
        assert!(
            !calls.contains("Zq8xWv3Ty6Ur9Ps2"),
            "a GitHub call carried part of the secret"
        );
        let pulls = serde_json::to_string(&l.standin.pulls()).unwrap();
        assert!(!pulls.contains(canary));
        // The line was in the excerpt the pull request shows, redacted.
        assert!(pulls.contains("token: [REDACTED:github-pat]"), "{pulls}");
        let branch = pr["branch"].as_str().unwrap();
        let pushed = git(&l.world.remote, &["log", "-p", "-1", branch]).unwrap();
        assert!(!pushed.contains(canary), "{pushed}");
        l.standin.shutdown().await;
    }

    #[tokio::test]
    async fn auto_fix_turns_on_auto_merge() {
        let l = setup(true).await;
        let path = l.world.dir.join("policies/demo.yaml");
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("outcome: open_pr", "outcome: auto_fix");
        std::fs::write(&path, text).unwrap();
        let (status, pr, decision) = l.run().await;
        assert_eq!(status, RunStatus::Succeeded);
        assert_eq!(decision["outcome"], "auto_fix");
        assert_eq!(pr["auto_merge"], "enabled", "{pr}");
        assert_eq!(l.standin.pulls()[0].auto_merge.as_deref(), Some("SQUASH"));
        l.standin.shutdown().await;
    }

    /// The failure comes back after its fix was merged: the same fix is not proposed
    /// again.
    #[tokio::test]
    async fn a_merged_fix_is_not_proposed_again() {
        let l = setup(false).await;
        let (_, first, _) = l.run().await;
        assert_eq!(first["status"], "opened", "{first}");
        assert!(
            l.standin
                .merge_pull("medic-demo", "calc", first["number"].as_u64().unwrap())
        );
        let (status, again, _) = l.run().await;
        assert_eq!(status, RunStatus::Succeeded);
        assert_eq!(again["status"], "merged_before", "{again}");
        assert_eq!(l.posts_to_pulls(), 1);
        l.standin.shutdown().await;
    }

    #[tokio::test]
    async fn reruns_update_nothing_twice_stop_at_a_human_push_and_respect_a_declined_fix() {
        let l = setup(false).await;
        let (_, first, _) = l.run().await;
        assert_eq!(first["status"], "opened", "{first}");
        let branch = first["branch"].as_str().unwrap().to_string();
        let pushed = l.remote_head(&branch);

        // Again, with the same fix already on the branch: nothing pushed, no new PR.
        let (status, again, _) = l.run().await;
        assert_eq!(status, RunStatus::Succeeded);
        assert_eq!(again["status"], "unchanged", "{again}");
        assert_eq!(again["number"], first["number"]);
        assert_eq!(l.remote_head(&branch), pushed);
        assert_eq!(l.posts_to_pulls(), 1);

        // A human pushes to the branch: Medic leaves it alone from then on.
        let clone = l.world.dir.join("human");
        git(
            &l.world.dir,
            &[
                "clone",
                "-q",
                "-b",
                &branch,
                l.world.remote.to_str().unwrap(),
                clone.to_str().unwrap(),
            ],
        )
        .unwrap();
        std::fs::write(clone.join("NOTES.md"), "I'll take it from here\n").unwrap();
        git(&clone, &["add", "-A"]).unwrap();
        git(&clone, &["commit", "-q", "-m", "notes"]).unwrap();
        git(&clone, &["push", "-q", "origin", &branch]).unwrap();
        let human = l.remote_head(&branch);
        let (_, after_human, _) = l.run().await;
        assert_eq!(after_human["status"], "human_push", "{after_human}");
        assert_eq!(
            l.remote_head(&branch),
            human,
            "the human's commit stays on top"
        );
        assert_eq!(l.posts_to_pulls(), 1);

        // Closed without merging: that fix is declined and not proposed again.
        let number = first["number"].as_u64().unwrap();
        assert!(l.standin.close_pull("medic-demo", "calc", number));
        let (_, declined, _) = l.run().await;
        assert_eq!(declined["status"], "declined_before", "{declined}");
        assert_eq!(l.posts_to_pulls(), 1);
        assert_eq!(l.standin.pulls().len(), 1);
        l.standin.shutdown().await;
    }
}
