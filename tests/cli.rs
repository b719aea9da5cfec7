//! validate, schema, explain, graph and init, through the binary.

use crate::support::*;

fn repo_root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn every_shipped_workflow_validates() {
    let out = Project::new()
        .medic()
        .arg("validate")
        .arg(repo_root().join("workflows"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("0 invalid"), "{}", stderr(&out));
}

#[test]
fn shipped_workflows_carry_the_schema_modeline() {
    for entry in std::fs::read_dir(repo_root().join("workflows")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("# yaml-language-server: $schema=../schema/workflow.schema.json"),
            "{} lacks the modeline",
            path.display()
        );
    }
}

#[test]
fn committed_schema_matches_the_types() {
    let out = Project::new().medic().arg("schema").output().unwrap();
    assert!(out.status.success());
    let generated: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let committed: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("schema/workflow.schema.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        generated, committed,
        "schema/workflow.schema.json is stale: run `medic schema > schema/workflow.schema.json`"
    );
}

#[test]
fn validate_exit_codes_and_json_diagnostics() {
    let p = Project::new();
    p.write(
        "ok.yaml",
        "name: ok\nsteps:\n  a: { uses: log, with: { message: hi } }\n",
    );
    p.write(
        "bad.yaml",
        "name: bad\nsteps:\n  build: { uses: log, with: { message: hi } }\n  deploy:\n    uses: log\n    needs: [biuld]\n    with: { message: hi }\n",
    );
    p.medic().args(["validate", "ok.yaml"]).assert().code(0);
    let out = p
        .medic()
        .args(["validate", "ok.yaml", "bad.yaml", "--output", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["invalid"], 1);
    let diag = &doc["diagnostics"][0];
    assert_eq!(diag["path"], "steps.deploy.needs[0]", "{doc}");
    assert_eq!(diag["line"], 6, "{doc}");
    assert!(
        diag["help"].as_str().unwrap_or("").contains("build"),
        "{doc}"
    );
    // Text output has the location and a caret.
    let out = p.medic().args(["validate", "bad.yaml"]).output().unwrap();
    let err = stderr(&out);
    assert!(err.contains("bad.yaml:6:"), "{err}");
    assert!(err.contains('^'), "{err}");
    // Missing file and no arguments are usage errors.
    p.medic().args(["validate", "nope.yaml"]).assert().code(2);
    p.medic().arg("validate").assert().code(2);
    p.medic().arg("frobnicate").assert().code(2);
}

#[test]
fn explain_describes_actions() {
    let p = Project::new();
    let out = p.medic().args(["explain", "shell"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for needle in [
        "CONFIG",
        "run",
        "working_dir",
        "OUTPUTS",
        "exit_code",
        "EXAMPLE",
    ] {
        assert!(text.contains(needle), "missing {needle} in:\n{text}");
    }
    let out = p.medic().args(["explain", "shel"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("did you mean `shell`"),
        "{}",
        stderr(&out)
    );
    let out = p
        .medic()
        .args(["explain", "--output", "json"])
        .output()
        .unwrap();
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["name"].as_str())
        .collect();
    for name in ["approval", "http", "log", "shell", "sleep"] {
        assert!(names.contains(&name), "{names:?}");
    }
}

#[test]
fn graph_prints_dot_and_mermaid() {
    let p = Project::new();
    p.write(
        "wf.yaml",
        "name: g\nsteps:\n  a: { uses: log, with: { message: a } }\n  b: { uses: log, needs: [a], with: { message: b } }\n",
    );
    let dot = stdout(&p.medic().args(["graph", "wf.yaml"]).output().unwrap());
    assert!(
        dot.contains("digraph") && dot.contains("\"a\" -> \"b\""),
        "{dot}"
    );
    let mermaid = stdout(
        &p.medic()
            .args(["graph", "wf.yaml", "--format", "mermaid"])
            .output()
            .unwrap(),
    );
    assert!(
        mermaid.contains("flowchart") || mermaid.contains("graph"),
        "{mermaid}"
    );
    assert!(mermaid.contains("-->"), "{mermaid}");
}

#[test]
fn init_scaffolds_a_runnable_project_and_never_overwrites() {
    let p = Project::new();
    p.medic().arg("init").assert().code(0);
    p.medic().args(["validate", "workflows"]).assert().code(0);
    p.medic().args(["validate", "policies"]).assert().code(0);
    p.medic()
        .args([
            "policy",
            "test",
            "policies/default.yaml",
            "policies/default.cases.yaml",
        ])
        .assert()
        .code(0);
    assert!(p.path().join("schema/policy.schema.json").is_file());
    let out = p
        .medic()
        .args(["run", "workflows/hello.yaml"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    p.medic().arg("init").assert().code(2);
}

#[test]
fn actions_reference_is_in_sync() {
    let p = Project::new();
    let list: serde_json::Value = serde_json::from_slice(
        &p.medic()
            .args(["explain", "--output", "json"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let path = repo_root().join("docs/actions.md");
    let blocks: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|action| {
            let name = action["name"].as_str().unwrap();
            let text = stdout(&p.medic().args(["explain", name]).output().unwrap());
            format!("## {name}\n\n```text\n{text}```\n")
        })
        .collect();
    if std::env::var_os("MEDIC_BLESS").is_some() {
        let header = "# Built-in actions\n\nGenerated from the action registry: the same text as `medic explain <action>`.\nThe test `actions_reference_is_in_sync` keeps this file in sync.\n";
        std::fs::write(&path, format!("{header}\n{}", blocks.join("\n"))).unwrap();
    }
    let doc = std::fs::read_to_string(&path).unwrap();
    for block in blocks {
        assert!(
            doc.contains(&block),
            "docs/actions.md is stale for `{}`: run `MEDIC_BLESS=1 cargo test --test tests actions_reference_is_in_sync`",
            block.lines().next().unwrap_or_default()
        );
    }
}
