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
        "  - name: ask-first\n    when: 'true'\n    outcome: escalate\n    reason: the demo was started with --escalate: a human approves every fix\n"
    } else {
        "  - name: already-handled\n    when: handling\n    outcome: ignore\n    reason: this failure is already being handled\n  - name: confident-test\n    when: category == 'test' and analysis.confidence >= 0.6\n    outcome: open_pr\n    reason: a confident analysis of a test failure; a human reviews and merges the fix\n"
    };
    format!(
        "# The demo's policy (see docs/policies.md).\nname: demo\nrules:\n{rules}default:\n  outcome: escalate\n  reason: no rule matched; a human decides\napprovers:\n  users: [{approver}]\n"
    )
}

/// `medic demo`.
pub async fn run(args: DemoArgs, g: &Globals) -> CmdResult {
    let world = scaffold::create(&args.dir)?;
    eprintln!("created the demo in {}:", world.dir.display());
    eprintln!(
        "  calc/         a project whose tests broke at {} (last green: {})",
        short(&world.bad),
        short(&world.good)
    );
    eprintln!("  remote.git/   its remote (a bare repository)");
    eprintln!("  ci-job.log    the failed job's log, as GitHub Actions serves it");
    let write = |rel: &str, text: &str| -> Result<(), Failure> {
        let path = world.dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| Failure::usage(format!("cannot create {}: {e}", parent.display())))?;
        }
        std::fs::write(&path, text)
            .map_err(|e| Failure::usage(format!("cannot write {}: {e}", path.display())))
    };
    let approver = whoami();
    write("workflows/ci-failure-remediation.yaml", WORKFLOW)?;
    write("policies/demo.yaml", &policy(args.escalate, &approver))?;

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
    let given: serde_json::Map<String, Value> = [
        ("log", json!(world.log.display().to_string())),
        ("checkout", json!("calc")),
        ("repository", json!(REPOSITORY)),
        ("base", json!("main")),
        ("good", json!(world.good)),
        ("bad", json!(world.bad)),
        ("verify", json!("sh test.sh")),
        ("github_api", json!(standin.url())),
        ("policy", json!("policies/demo.yaml")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
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
    let mut environment: std::collections::BTreeMap<String, String> = std::env::vars().collect();
    environment.insert("GITHUB_TOKEN".into(), DEMO_TOKEN.into());
    let opts = DriveOptions {
        dry_run: args.dry_run,
        wait: true,
        base_dir: world.dir.clone(),
        environment,
        ..super::drive_options()
    };
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
        eprintln!("fix:       {summary}");
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

fn short(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}
