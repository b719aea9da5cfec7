//! `medic decide`, `policy test`, `outcome`, `stats`, `pause`, `resume` and policy
//! files in `medic validate`, driven through the real binary.

use serde_json::Value;

use crate::support::{Project, stderr, stdout};

fn repo_root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

const LINT: &str = r#"{"category": "lint", "confidence": 1.0, "tool": "eslint",
  "fingerprint": "eslint:no-unused-vars:src/a.ts", "severity": "low", "impact": "low",
  "repository": "acme/api", "summary": "unused import", "evidence": ["a.ts:3"]}"#;

fn decide_json(p: &Project, args: &[&str]) -> Value {
    let out = p
        .medic()
        .arg("decide")
        .args(args)
        .args(["-o", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

#[test]
fn decide_explains_every_factor_rule_and_guard() {
    let p = Project::new();
    p.write("analysis.json", LINT);
    p.write(
        "change.json",
        r#"{"files": 1, "lines_added": 3, "lines_removed": 1}"#,
    );
    let out = p
        .medic()
        .args([
            "decide",
            "--explain",
            "--analysis",
            "analysis.json",
            "--change",
            "change.json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("outcome     auto_fix\n"), "{text}");
    for needle in [
        "certainty      0.40   1.00",
        "history        0.30   0.50",
        "change_size    0.20   0.96",
        "impact         0.10   1.00",
        "✘ already-handled",
        "✔ confident-mild",
        "✔ rate_limit:auto-deploys",
        "- high confidence on a low or medium severity failure",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
}

#[test]
fn decisions_are_recorded_and_outcomes_feed_the_history() {
    let p = Project::new();
    p.write("analysis.json", LINT);
    let first = decide_json(&p, &["--analysis", "analysis.json"]);
    assert_eq!(first["outcome"], "auto_fix");
    assert_eq!(first["factors"][1]["value"], 0.5);
    // The same failure again, while the first fix is in flight: already handled.
    let again = decide_json(&p, &["--analysis", "analysis.json"]);
    assert_eq!(again["outcome"], "ignore");
    let id = first["id"].as_str().unwrap();
    let out = p
        .medic()
        .args(["outcome", again["id"].as_str().unwrap(), "success"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(&format!("report the outcome of decision {id}")),
        "{}",
        stderr(&out)
    );
    let out = p
        .medic()
        .args(["outcome", &id[..24], "success", "--reason", "merged"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let out = p.medic().args(["outcome", id, "failure"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "a second report is refused");
    assert!(
        stderr(&out).contains("already has a reported outcome"),
        "{}",
        stderr(&out)
    );
    let next = decide_json(&p, &["--analysis", "analysis.json"]);
    assert_eq!(
        next["outcome"], "auto_fix",
        "the handled decision is resolved"
    );
    let history = next["factors"][1]["value"].as_f64().unwrap();
    assert!(
        (history - 7.0 / 9.0).abs() < 1e-9,
        "one success smoothed: {history}"
    );
    let stats = p.medic().args(["stats", "-o", "json"]).output().unwrap();
    let stats: Value = serde_json::from_str(&stdout(&stats)).unwrap();
    assert_eq!(stats["categories"][0]["key"], "lint");
    assert_eq!(stats["categories"][0]["successes"], 1);
    assert_eq!(
        stats["fingerprints"][0]["key"],
        "eslint:no-unused-vars:src/a.ts"
    );
    let text = stdout(&p.medic().arg("stats").output().unwrap());
    assert!(text.contains("lint") && text.contains("100%"), "{text}");
}

#[test]
fn pause_sends_everything_to_a_human_until_resume() {
    let p = Project::new();
    p.write(
        "analysis.json",
        &LINT.replace("eslint:no-unused-vars:src/a.ts", "fp-pause"),
    );
    assert!(
        p.medic()
            .args(["pause", "--reason", "incident 42"])
            .output()
            .unwrap()
            .status
            .success()
    );
    let d = decide_json(&p, &["--analysis", "analysis.json"]);
    assert_eq!(d["outcome"], "escalate");
    assert_eq!(d["guards"][0]["guard"], "kill_switch");
    let stats = stdout(&p.medic().arg("stats").output().unwrap());
    assert!(
        stats.contains("PAUSED") && stats.contains("incident 42"),
        "{stats}"
    );
    assert!(p.medic().arg("resume").output().unwrap().status.success());
    p.write(
        "analysis2.json",
        &LINT.replace("eslint:no-unused-vars:src/a.ts", "fp-resumed"),
    );
    let d = decide_json(&p, &["--analysis", "analysis2.json"]);
    assert_eq!(d["outcome"], "auto_fix");
}

#[test]
fn decide_refuses_bad_input_with_exit_2() {
    let p = Project::new();
    p.write("bad.json", r#"{"confidence": 0.9}"#);
    let out = p
        .medic()
        .args(["decide", "--analysis", "bad.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("missing field `category`"),
        "{}",
        stderr(&out)
    );
    let out = p
        .medic()
        .args(["decide", "--analysis", "nope.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    p.write("a.json", LINT);
    p.write(
        "policy.yaml",
        "rules:\n  - { name: x, when: confidnce > 1, outcome: ignore, reason: r }\n",
    );
    let out = p
        .medic()
        .args(["decide", "--analysis", "a.json", "--policy", "policy.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("policy.yaml:2:22") && err.contains("did you mean `confidence`?"),
        "{err}"
    );
}

#[test]
fn the_default_policy_passes_its_shipped_cases() {
    let p = Project::new();
    let out = p
        .medic()
        .args(["policy", "test"])
        .arg(repo_root().join("policies/default.yaml"))
        .arg(repo_root().join("policies/default.cases.yaml"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("14 cases, 14 passed, 0 failed"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_failing_case_exits_1_with_a_readable_diff() {
    let p = Project::new();
    p.write(
        "cases.yaml",
        "cases:\n  - name: fine\n    analysis: { category: flaky, confidence: 0.2 }\n    expect: retry\n  - name: too hopeful\n    analysis: { category: test, confidence: 0.2 }\n    expect: auto_fix\n",
    );
    let out = p
        .medic()
        .args(["policy", "test"])
        .arg(repo_root().join("policies/default.yaml"))
        .arg("cases.yaml")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains(
            "✔ fine\n✘ too hopeful\n    - expected: auto_fix\n    + actual:   escalate\n"
        ),
        "{text}"
    );
    assert!(text.contains("rule unsure"), "{text}");
    assert!(text.ends_with("2 cases, 1 passed, 1 failed\n"), "{text}");
}

#[test]
fn validate_checks_policy_files_with_locations_and_hints() {
    let p = Project::new();
    p.write(
        "policies/ok.yaml",
        "rules:\n  - { name: all, when: 'true', outcome: escalate, reason: r }\n",
    );
    p.write(
        "policies/bad.yaml",
        "rules:\n  - name: a\n    when: 'true'\n    outcome: autofix\n    reason: r\n",
    );
    let out = p.medic().args(["validate", "policies"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("policies/bad.yaml:4:14"), "{err}");
    assert!(err.contains("did you mean `auto_fix`?"), "{err}");
    assert!(err.contains("✔ policies/ok.yaml"), "{err}");
    let out = p
        .medic()
        .arg("validate")
        .arg(repo_root().join("policies"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn the_committed_policy_schema_matches_the_binary() {
    let out = Project::new()
        .medic()
        .args(["policy", "schema"])
        .output()
        .unwrap();
    let printed: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let committed: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("schema/policy.schema.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(printed, committed);
}

const FLOW: &str = r#"name: decide-flow
steps:
  decide:
    uses: decide
    with:
      analysis: { category: lint, confidence: 1.0, severity: low, impact: low, fingerprint: e2e, repository: acme/api }
  ship:
    uses: log
    needs: [decide]
    if: "steps.decide.outputs.outcome == 'auto_fix'"
    with: { message: "shipping {{ steps.decide.outputs.decision_id }}" }
  ask:
    uses: log
    needs: [decide]
    if: "steps.decide.outputs.outcome != 'auto_fix'"
    with: { message: "asking a human: {{ steps.decide.outputs.outcome }}" }
"#;

#[test]
fn a_workflow_branches_on_the_decide_step_and_the_decision_is_recorded() {
    let p = Project::new();
    p.write("flow.yaml", FLOW);
    let out = p.medic().args(["validate", "flow.yaml"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let out = p.medic().args(["run", "flow.yaml"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let show = p.show(&crate::support::run_id_from(&stderr(&out)));
    let st = crate::support::step_statuses(&show);
    assert_eq!(
        (st["ship"].as_str(), st["ask"].as_str()),
        ("succeeded", "skipped"),
        "{show}"
    );
    // The first fix is in flight: a second run's decision ignores the same failure.
    let out = p.medic().args(["run", "flow.yaml"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let show = p.show(&crate::support::run_id_from(&stderr(&out)));
    let st = crate::support::step_statuses(&show);
    assert_eq!(
        (st["ship"].as_str(), st["ask"].as_str()),
        ("skipped", "succeeded"),
        "{show}"
    );
    let stats = stdout(&p.medic().args(["stats", "-o", "json"]).output().unwrap());
    assert!(
        stats.contains("\"fingerprints\": []"),
        "no outcome reported yet: {stats}"
    );
}

#[test]
fn the_analyze_steps_outputs_feed_the_decide_step_as_they_are() {
    let p = Project::new();
    p.write(
        "build.log",
        "running 3 tests\ntest parser::tests::eof ... FAILED\nerror: test failed, to rerun pass `--lib`\n",
    );
    p.write(
        "flow.yaml",
        r#"name: triage-and-decide
steps:
  analyze:
    uses: analyze
    with: { path: build.log }
  decide:
    uses: decide
    needs: [analyze]
    with:
      analysis: "{{ steps.analyze.outputs }}"
  report:
    uses: log
    needs: [decide]
    with: { message: "{{ steps.decide.outputs.outcome }} {{ steps.decide.outputs.decision_id }}" }
"#,
    );
    let out = p.medic().args(["run", "flow.yaml"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let show = p.show(&crate::support::run_id_from(&stderr(&out)));
    let decide = crate::support::step(&show, "decide");
    let outcome = decide["outputs"]["outcome"].as_str().unwrap();
    let decision_id = decide["outputs"]["decision_id"]
        .as_str()
        .unwrap()
        .to_string();
    let report = crate::support::step(&show, "report");
    assert_eq!(
        report["outputs"]["message"],
        format!("{outcome} {decision_id}")
    );
    let out = p
        .medic()
        .args([
            "outcome",
            &decision_id,
            "failure",
            "--reason",
            "fix did not help",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let stats: Value = serde_json::from_str(&stdout(
        &p.medic().args(["stats", "-o", "json"]).output().unwrap(),
    ))
    .unwrap();
    assert_eq!(stats["categories"][0]["failures"], 1, "{stats}");
    assert_eq!(
        stats["fingerprints"][0]["key"].as_str().map(str::len),
        Some(16),
        "{stats}"
    );
}
