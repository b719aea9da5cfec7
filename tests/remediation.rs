//! `medic demo` and `medic pulls`: the remediation loop through the real binary.

use crate::support::{Project, stderr, stdout};

fn git(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .expect("git")
}

#[test]
fn the_demo_pushes_a_reviewed_fix_and_opens_a_pull_request_offline() {
    let p = Project::new();
    let out = p
        .medic()
        .args(["demo", "--dir", "world"])
        // No token in the environment: the demo brings its own for the stand-in.
        .env_remove("GITHUB_TOKEN")
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("decision:  open_pr"), "{err}");
    assert!(err.contains("review:    passed"), "{err}");
    assert!(err.contains("pull request #1 on the stand-in"), "{err}");
    let world = p.path().join("world");
    let branches = git(
        &world.join("remote.git"),
        &["branch", "--list", "medic/fix-*"],
    );
    assert!(
        stdout(&branches).contains("medic/fix-"),
        "{}",
        stdout(&branches)
    );
    // The stand-in's record of calls: the pull request was created through the API.
    let calls = std::fs::read_to_string(world.join("github-calls.jsonl")).unwrap();
    assert!(
        calls.contains("\"POST\"") && calls.contains("/repos/medic-demo/calc/pulls"),
        "{calls}"
    );
    // The user's checkout was not touched: still on main, clean.
    let status = git(&world.join("calc"), &["status", "--porcelain"]);
    assert_eq!(stdout(&status), "");
    // The demo's store knows the pull request, for learning from its fate.
    let list = p
        .medic()
        .env("MEDIC_DATABASE_URL", world.join(".medic/medic.db"))
        .args(["pulls", "list", "--output", "json"])
        .output()
        .unwrap();
    let pulls: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(pulls[0]["repository"], "medic-demo/calc", "{pulls}");
    assert_eq!(pulls[0]["state"], "open");
}

#[test]
fn a_dry_run_pushes_nothing_and_a_used_folder_is_refused() {
    let p = Project::new();
    let out = p
        .medic()
        .args(["demo", "--dir", "world", "--dry-run"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let world = p.path().join("world");
    let branches = git(
        &world.join("remote.git"),
        &["branch", "--list", "medic/fix-*"],
    );
    assert_eq!(stdout(&branches), "", "a dry run must not push");
    assert!(!stderr(&out).contains("pull request #"), "{}", stderr(&out));

    let again = p.medic().args(["demo", "--dir", "world"]).output().unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );
}

#[test]
fn polling_with_no_pull_requests_says_so() {
    let p = Project::new();
    let out = p.medic().args(["pulls", "poll"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no open pull requests"),
        "{}",
        stderr(&out)
    );
}
