//! `medic run` and friends: semantics users rely on, through the binary.

use std::time::Duration;

use crate::support::*;

#[test]
fn outputs_flow_between_steps_and_runs_are_recorded() {
    let p = Project::new();
    p.write(
        "wf.yaml",
        r#"name: flow
inputs:
  who: { type: string, default: world }
steps:
  greet:
    uses: shell
    with: { run: 'echo "greeting=hello, {{ inputs.who }}" >> "$MEDIC_OUTPUT"' }
  shout:
    needs: [greet]
    uses: shell
    with: { run: 'echo "{{ steps.greet.outputs.greeting | upper }}!"' }
"#,
    );
    let out = p
        .medic()
        .args(["run", "wf.yaml", "--input", "who=medic", "--output", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["run"]["status"], "succeeded");
    let shout = crate::support::step(&doc, "shout");
    assert_eq!(
        shout["outputs"]["stdout"].as_str().unwrap().trim(),
        "HELLO, MEDIC!"
    );
    let runs = p.runs();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["inputs"]["who"], "medic");
    let logs = stdout(
        &p.medic()
            .args([
                "runs",
                "logs",
                runs[0]["id"].as_str().unwrap(),
                "--step",
                "shout",
            ])
            .output()
            .unwrap(),
    );
    assert!(logs.contains("HELLO, MEDIC!"), "{logs}");
}

#[test]
fn a_failure_skips_dependents_runs_failure_handlers_and_fails_the_run() {
    let p = Project::new();
    p.write(
        "wf.yaml",
        r#"name: failing
steps:
  build: { uses: shell, with: { run: "echo compiling; exit 3" } }
  test: { uses: log, needs: [build], with: { message: never } }
  tolerated: { uses: shell, continue_on_error: true, with: { run: "exit 1" } }
  after_tolerated: { uses: log, needs: [tolerated], with: { message: runs } }
  notify:
    uses: log
    needs: [build]
    if: "{{ failure() }}"
    with: { message: "build failed with {{ steps.build.outputs.exit_code }}" }
on_failure:
  page: { uses: log, with: { message: "paging" } }
finally:
  report: { uses: log, with: { message: "ended {{ run.status }}" } }
"#,
    );
    let out = p.medic().args(["run", "wf.yaml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let run = &p.runs()[0];
    assert_eq!(run["status"], "failed");
    assert!(run["error"].as_str().unwrap().contains("build"), "{run}");
    let show = p.show(run["id"].as_str().unwrap());
    let st = step_statuses(&show);
    assert_eq!(st["build"], "failed");
    assert_eq!(st["test"], "skipped");
    assert_eq!(st["tolerated"], "failed");
    assert_eq!(st["after_tolerated"], "succeeded");
    assert_eq!(st["notify"], "succeeded");
    assert_eq!(st["page"], "succeeded");
    assert_eq!(st["report"], "succeeded");
    let report = crate::support::step(&show, "report");
    assert_eq!(report["outputs"]["message"], "ended failed");
}

#[test]
fn on_failure_steps_are_skipped_when_the_run_succeeds() {
    let p = Project::new();
    p.write(
        "wf.yaml",
        "name: fine\nsteps:\n  a: { uses: log, with: { message: a } }\non_failure:\n  page: { uses: log, with: { message: p } }\n",
    );
    p.medic().args(["run", "wf.yaml"]).assert().code(0);
    let show = p.show(p.runs()[0]["id"].as_str().unwrap());
    assert_eq!(step_statuses(&show)["page"], "skipped");
}

#[test]
fn retries_with_backoff_until_success() {
    let p = Project::new();
    p.write(
        "wf.yaml",
        r#"name: flaky
steps:
  flaky:
    uses: shell
    retry: { max_attempts: 3, backoff: { initial: 50ms, factor: 2, jitter: false } }
    with: { run: 'test "$MEDIC_ATTEMPT" -ge 3' }
"#,
    );
    let out = p.medic().args(["run", "wf.yaml"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let show = p.show(p.runs()[0]["id"].as_str().unwrap());
    assert_eq!(show["steps"][0]["attempts"], 3);
}

#[test]
fn for_each_fans_out_and_collects_results() {
    let p = Project::new();
    p.write(
        "wf.yaml",
        r#"name: fan
inputs:
  services: { type: list, default: [api, web, db] }
steps:
  check:
    uses: shell
    for_each: "{{ inputs.services }}"
    max_parallel: 2
    with: { run: "echo '{\"svc\": \"{{ item }}\"}'" }
  sum:
    needs: [check]
    uses: log
    with: { message: "{{ steps.check.outputs.results | map(attribute='svc') | join(',') }}" }
"#,
    );
    let out = p
        .medic()
        .args(["run", "wf.yaml", "--output", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let sum = crate::support::step(&doc, "sum");
    assert_eq!(sum["outputs"]["message"], "api,web,db");
    let keys: Vec<&str> = doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["step_key"].as_str())
        .collect();
    assert!(keys.contains(&"check[2]"), "{keys:?}");
}

#[test]
fn bad_inputs_are_usage_errors_and_create_no_run() {
    let p = Project::new();
    p.write(
        "wf.yaml",
        "name: i\ninputs:\n  count: { type: number, required: true }\nsteps:\n  a: { uses: log, with: { message: \"{{ inputs.count }}\" } }\n",
    );
    let out = p
        .medic()
        .args(["run", "wf.yaml", "--input", "cuont=3"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("did you mean `count`"),
        "{}",
        stderr(&out)
    );
    let out = p
        .medic()
        .args(["run", "wf.yaml", "--input", "count=three"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("number"), "{}", stderr(&out));
    let out = p.medic().args(["run", "wf.yaml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("required"), "{}", stderr(&out));
    p.medic()
        .args(["run", "wf.yaml", "--input", "novalue"])
        .assert()
        .code(2);
    assert!(p.runs().is_empty());
}

#[test]
fn dry_run_performs_no_side_effects() {
    let p = Project::new();
    p.write(
        "wf.yaml",
        "name: d\nsteps:\n  touch: { uses: shell, with: { run: \"touch created.txt\" } }\n",
    );
    let out = p
        .medic()
        .args(["run", "wf.yaml", "--dry-run"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!p.path().join("created.txt").exists());
    p.medic().args(["run", "wf.yaml"]).assert().code(0);
    assert!(p.path().join("created.txt").exists());
}

#[test]
fn a_timeout_kills_the_whole_process_group() {
    let p = Project::new();
    p.write(
        "wf.yaml",
        r#"name: slow
steps:
  slow:
    uses: shell
    timeout: 1s
    with: { run: "sleep 30 & echo $! > child.pid; sleep 30" }
"#,
    );
    let out = p.medic().args(["run", "wf.yaml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let show = p.show(p.runs()[0]["id"].as_str().unwrap());
    assert_eq!(show["steps"][0]["error_kind"], "timeout", "{show}");
    let pid: i32 = std::fs::read_to_string(p.path().join("child.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        !alive(pid),
        "the background child {pid} survived the timeout"
    );
}

fn alive(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    !stat.is_empty()
        && !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
}

#[test]
fn secrets_are_masked_in_outputs_logs_errors_and_the_store() {
    let p = Project::new();
    let canary = "canary-7f3a9c1e5b2d";
    p.write(
        "wf.yaml",
        r#"name: s
secrets: [DEPLOY_TOKEN]
steps:
  leak:
    uses: shell
    with: { run: 'echo "token is $DEPLOY_TOKEN"; echo "t={{ secrets.DEPLOY_TOKEN }}" >> "$MEDIC_OUTPUT"; echo "bad $DEPLOY_TOKEN" >&2; exit 1' }
"#,
    );
    let out = p
        .medic()
        .env("DEPLOY_TOKEN", canary)
        .args(["run", "wf.yaml", "--output", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(!stdout(&out).contains(canary), "stdout leaked the secret");
    assert!(!stderr(&out).contains(canary), "stderr leaked the secret");
    assert!(stdout(&out).contains("token is ***"), "{}", stdout(&out));
    let id = p.runs()[0]["id"].as_str().unwrap().to_string();
    let logs = p
        .medic()
        .args(["runs", "logs", &id, "--output", "json"])
        .output()
        .unwrap();
    assert!(!stdout(&logs).contains(canary));
    drop(p.medic().args(["runs", "show", &id]).output().unwrap());
    for entry in std::fs::read_dir(p.path().join(".medic")).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(
            !bytes.windows(canary.len()).any(|w| w == canary.as_bytes()),
            "the store holds the secret"
        );
    }
}

#[test]
fn approvals_pause_the_run_until_a_named_approver_decides() {
    let p = Project::new();
    p.write(
        "wf.yaml",
        r#"name: gated
steps:
  ask:
    uses: approval
    with:
      message: "Ship it?"
      approvers: [alice]
      inputs:
        reason: { type: string, required: true }
  ship:
    needs: [ask]
    uses: log
    with: { message: "shipping because {{ steps.ask.outputs.inputs.reason }} ({{ steps.ask.outputs.by }})" }
"#,
    );
    let out = p
        .medic()
        .args(["run", "wf.yaml", "--no-wait"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let id = run_id_from(&stderr(&out));
    assert_eq!(p.runs()[0]["status"], "waiting");
    // Not an approver.
    let out = p
        .medic()
        .args(["approve", &id, "--as", "mallory", "--input", "reason=x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("alice"), "{}", stderr(&out));
    // Missing required input.
    p.medic()
        .args(["approve", &id, "--as", "alice"])
        .assert()
        .code(2);
    // Unknown step.
    let out = p
        .medic()
        .args([
            "approve", &id, "aks", "--as", "alice", "--input", "reason=x",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("did you mean `ask`"),
        "{}",
        stderr(&out)
    );
    p.medic()
        .args([
            "approve",
            &id[..8],
            "ask",
            "--as",
            "alice",
            "--input",
            "reason=green tests",
            "--comment",
            "lgtm",
        ])
        .assert()
        .code(0);
    // A second decision loses.
    p.medic()
        .args(["reject", &id, "--as", "alice"])
        .assert()
        .code(2);
    let out = p.medic().args(["runs", "resume", &id]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let show = p.show(&id);
    assert_eq!(show["run"]["status"], "succeeded");
    let ship = crate::support::step(&show, "ship");
    assert_eq!(
        ship["outputs"]["message"],
        "shipping because green tests (alice)"
    );
    assert_eq!(show["approvals"][0]["decided_by"], "alice");
    assert_eq!(show["approvals"][0]["comment"], "lgtm");
}

#[test]
fn a_rejection_fails_the_step_and_an_unanswered_approval_times_out() {
    let p = Project::new();
    p.write(
        "wf.yaml",
        "name: r\nsteps:\n  ask: { uses: approval, with: { message: ok?, approvers: [bob] } }\n  go: { uses: log, needs: [ask], with: { message: go } }\n",
    );
    let id = run_id_from(&stderr(
        &p.medic()
            .args(["run", "wf.yaml", "--no-wait"])
            .output()
            .unwrap(),
    ));
    p.medic()
        .args(["reject", &id, "--as", "bob", "--comment", "no"])
        .assert()
        .code(0);
    p.medic().args(["runs", "resume", &id]).assert().code(1);
    let show = p.show(&id);
    let st = step_statuses(&show);
    assert_eq!(st["ask"], "failed");
    assert_eq!(st["go"], "skipped");

    p.write(
        "t.yaml",
        "name: t\nsteps:\n  ask: { uses: approval, with: { message: ok?, timeout: 1s, on_timeout: approve } }\n  go: { uses: log, needs: [ask], with: { message: \"{{ steps.ask.outputs.by }}\" } }\n",
    );
    let out = p
        .medic()
        .args(["run", "t.yaml", "--output", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let go = crate::support::step(&doc, "go");
    assert_eq!(go["outputs"]["message"], "timeout");
}

#[test]
fn ctrl_c_cancels_the_run_and_stops_its_processes() {
    let p = Project::new();
    p.write(
        "wf.yaml",
        "name: c\nsteps:\n  slow: { uses: shell, with: { run: \"echo $$ > shell.pid; sleep 30\" } }\n  next: { uses: log, needs: [slow], with: { message: n } }\n",
    );
    let mut child = p
        .medic_std()
        .args(["run", "wf.yaml"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid_file = p.path().join("shell.pid");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !pid_file.exists()
        || std::fs::read_to_string(&pid_file)
            .unwrap_or_default()
            .trim()
            .is_empty()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the step never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1));
    let shell_pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(!alive(shell_pid), "the step's shell survived cancellation");
    let run = &p.runs()[0];
    assert_eq!(run["status"], "cancelled");
    let st = step_statuses(&p.show(run["id"].as_str().unwrap()));
    assert_eq!(st["slow"], "cancelled");
    assert_eq!(st["next"], "cancelled");
}

#[test]
fn ready_steps_start_in_file_order() {
    let p = Project::new();
    p.write(
        "wf.yaml",
        r#"name: order
concurrency: { max_parallel: 1 }
steps:
  zulu: { uses: shell, with: { run: "echo zulu >> order.txt" } }
  alpha: { uses: shell, with: { run: "echo alpha >> order.txt" } }
  mike: { uses: shell, with: { run: "echo mike >> order.txt" } }
  last: { uses: shell, needs: [zulu, alpha, mike], with: { run: "echo last >> order.txt" } }
"#,
    );
    for _ in 0..3 {
        std::fs::remove_file(p.path().join("order.txt")).ok();
        p.medic().args(["run", "wf.yaml"]).assert().code(0);
        let order = std::fs::read_to_string(p.path().join("order.txt")).unwrap();
        assert_eq!(order, "zulu\nalpha\nmike\nlast\n");
    }
}

#[test]
fn a_sleeping_step_holds_no_process_and_survives_a_restart() {
    let p = Project::new();
    p.write(
        "wf.yaml",
        "name: nap\nsteps:\n  nap: { uses: sleep, with: { duration: 2s } }\n  after: { uses: log, needs: [nap], with: { message: awake } }\n",
    );
    let started = std::time::Instant::now();
    let out = p
        .medic()
        .args(["run", "wf.yaml", "--no-wait"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "--no-wait must not sleep in the process"
    );
    let id = run_id_from(&stderr(&out));
    assert_eq!(p.runs()[0]["status"], "waiting");
    // A new process picks the run up and keeps the original wake-up time.
    let out = p.medic().args(["runs", "resume", &id]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(step_statuses(&p.show(&id))["after"], "succeeded");
}

#[test]
fn runs_cancel_stops_a_parked_run() {
    let p = Project::new();
    p.write(
        "wf.yaml",
        "name: parked\nsteps:\n  ask: { uses: approval, with: { message: ok? } }\n",
    );
    let id = run_id_from(&stderr(
        &p.medic()
            .args(["run", "wf.yaml", "--no-wait"])
            .output()
            .unwrap(),
    ));
    p.medic().args(["runs", "cancel", &id]).assert().code(0);
    let show = p.show(&id);
    assert_eq!(show["run"]["status"], "cancelled");
    assert_eq!(step_statuses(&show)["ask"], "cancelled");
    p.medic().args(["runs", "cancel", &id]).assert().code(2);
    p.medic()
        .args(["approve", &id, "--as", "x"])
        .assert()
        .code(2);
}
