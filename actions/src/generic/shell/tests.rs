//! Tests of the `shell` action against real processes.

use std::path::Path;
use std::time::Duration;

use serde_json::json;

use super::*;
use crate::support::test_context;

async fn run_in(ctx: &StepContext, with: Value) -> Result<StepOutcome, StepError> {
    let config: ShellConfig = serde_json::from_value(with).unwrap();
    // A hung step would hang the suite; fail instead.
    tokio::time::timeout(Duration::from_secs(60), Shell::default().run(config, ctx))
        .await
        .expect("the shell step did not finish within 60s")
}

fn succeeded(result: Result<StepOutcome, StepError>) -> Outputs {
    match result {
        Ok(StepOutcome::Success(outputs)) => outputs,
        other => panic!("expected success, got {other:?}"),
    }
}

/// Whether `pid` is a live process. A zombie has exited and only awaits its parent.
fn is_running(pid: libc::pid_t) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    if unsafe { libc::kill(pid, 0) } != 0 {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rsplit(')')
                .next()
                .and_then(|rest| rest.split_whitespace().next());
            !matches!(state, Some("Z" | "X"))
        }
        // Without /proc, trust kill(2).
        Err(_) => true,
    }
}

fn read_pids(path: &Path) -> Vec<libc::pid_t> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

async fn assert_all_gone(pids: &[libc::pid_t]) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let alive: Vec<_> = pids.iter().copied().filter(|&p| is_running(p)).collect();
        if alive.is_empty() {
            return;
        }
        if tokio::time::Instant::now() > deadline {
            for pid in &alive {
                // SAFETY: plain kill(2); clean up before failing so the test leaks nothing.
                unsafe { libc::kill(*pid, libc::SIGKILL) };
            }
            panic!("processes {alive:?} outlived their step");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn example_config_parses_into_a_plan() {
    let config = crate::support::example_config::<Shell>();
    assert_eq!(config.env["RUST_BACKTRACE"], "1");
    let ctx = test_context(&[], Path::new("/srv/repo"));
    let plan = config.plan(&ctx).unwrap();
    assert_eq!(plan.interpreter, "bash");
    assert_eq!(plan.interpreter_args, ["-eo", "pipefail"]);
    assert!(matches!(&plan.program, Program::Script(s) if s.ends_with(">> \"$MEDIC_OUTPUT\"\n")));
    assert_eq!(plan.working_dir, Path::new("/srv/repo/service"));
}

#[test]
fn unknown_fields_are_refused() {
    let err =
        serde_json::from_value::<ShellConfig>(json!({"run": "true", "cwd": "x"})).unwrap_err();
    assert!(err.to_string().contains("unknown field `cwd`"), "{err}");
}

#[tokio::test]
async fn exactly_one_of_run_and_script() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = test_context(&[], dir.path());
    for with in [
        json!({}),
        json!({"run": "true", "script": "true"}),
        json!({"run": "true", "shell": " "}),
    ] {
        let err = run_in(&ctx, with.clone()).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Config, "{with}: {}", err.message);
    }
}

#[tokio::test]
async fn captures_output_exit_code_and_logs_lines() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = test_context(&[], dir.path());
    let outputs = succeeded(
        run_in(
            &ctx,
            json!({"run": "echo hello; echo oops >&2; printf 'no newline'"}),
        )
        .await,
    );
    assert_eq!(outputs["exit_code"], 0);
    assert_eq!(outputs["stdout"], "hello\nno newline");
    assert_eq!(outputs["stderr"], "oops\n");
    assert!(!outputs.contains_key("signal"));
    let mut logs = ctx.logs();
    logs.sort();
    assert_eq!(logs, ["hello", "no newline", "oops"]);
}

#[tokio::test]
async fn non_zero_exit_fails_and_keeps_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = test_context(&[], dir.path());
    let err = run_in(
        &ctx,
        json!({"run": "echo 'it broke' >&2; echo partial=1 >> \"$MEDIC_OUTPUT\"; exit 3"}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Failed);
    assert_eq!(err.message, "exit code 3");
    assert_eq!(err.outputs["exit_code"], 3);
    assert_eq!(err.outputs["stderr"], "it broke\n");
    assert_eq!(err.outputs["partial"], "1");
}

#[tokio::test]
async fn a_signal_fails_the_step_and_names_the_signal() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = test_context(&[], dir.path());
    let err = run_in(&ctx, json!({"run": "kill -TERM $$"}))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Failed);
    assert_eq!(err.message, "killed by signal 15 (SIGTERM)");
    assert_eq!(err.outputs["exit_code"], Value::Null);
    assert_eq!(err.outputs["signal"], 15);
}

#[tokio::test]
async fn scripts_run_with_the_chosen_interpreter_and_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = test_context(&[], dir.path());
    let outputs = succeeded(run_in(&ctx, json!({"script": "x=1\necho $((x + 1))\n"})).await);
    assert_eq!(outputs["stdout"], "2\n");

    let outputs = succeeded(
        run_in(
            &ctx,
            json!({"script": "words=(a b c)\necho \"${words[2]}\"\n", "shell": "bash"}),
        )
        .await,
    );
    assert_eq!(outputs["stdout"], "c\n");

    let err = run_in(
        &ctx,
        json!({"script": "false\necho after\n", "shell": "sh -e"}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.message, "exit code 1");
    assert_eq!(err.outputs["stdout"], "");

    let outputs = succeeded(run_in(&ctx, json!({"run": "echo $0", "shell": "bash"})).await);
    assert_eq!(outputs["stdout"], "bash\n");
}

#[tokio::test]
async fn environment_layers_and_medic_variables() {
    let dir = tempfile::tempdir().unwrap();
    let mut ctx = test_context(&[], dir.path());
    ctx.env.insert("FROM_WORKFLOW".into(), "w".into());
    ctx.env.insert("OVERRIDDEN".into(), "workflow".into());
    let run = "echo \"$MEDIC_RUN_ID $MEDIC_STEP_ID $MEDIC_ATTEMPT $MEDIC_IDEMPOTENCY_KEY \
               $FROM_WORKFLOW $FROM_STEP $OVERRIDDEN\"; test -d \"$(dirname \"$MEDIC_OUTPUT\")\"";
    let outputs = succeeded(
        run_in(
            &ctx,
            json!({"run": run, "env": {"FROM_STEP": "s", "OVERRIDDEN": "step"}}),
        )
        .await,
    );
    assert_eq!(outputs["stdout"], "run-1 step-1 1 run-1/step-1 w s step\n");
}

#[tokio::test]
async fn working_dir_is_relative_to_the_base_dir() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let ctx = test_context(&[], dir.path());
    let outputs = succeeded(run_in(&ctx, json!({"run": "pwd -P", "working_dir": "sub"})).await);
    let expected = dir.path().join("sub").canonicalize().unwrap();
    assert_eq!(outputs["stdout"], format!("{}\n", expected.display()));

    let err = run_in(&ctx, json!({"run": "pwd", "working_dir": "missing"}))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Config);
    assert!(err.message.starts_with("`working_dir`:"), "{}", err.message);
}

#[tokio::test]
async fn a_missing_interpreter_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = test_context(&[], dir.path());
    let err = run_in(&ctx, json!({"run": "true", "shell": "no-such-shell-medic"}))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Config);
    assert_eq!(
        err.message,
        "`shell`: the interpreter `no-such-shell-medic` was not found"
    );
}

#[tokio::test]
async fn every_config_problem_is_reported_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = test_context(&[], dir.path());
    let with = json!({"run": "a", "script": "b", "shell": "", "env": {"A=B": "x"}});
    let err = run_in(&ctx, with).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Config);
    assert_eq!(
        err.message,
        "give either `run` or `script`, not both; `shell` is empty (leave it out for `sh`); \
         `env`: `A=B` is not a variable name"
    );
}

#[tokio::test]
async fn nul_bytes_are_config_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = test_context(&[], dir.path());
    for with in [
        json!({"run": "echo a\u{0}b"}),
        json!({"run": "true", "env": {"X": "a\u{0}b"}}),
        json!({"run": "true", "env": {"X\u{0}": "b"}}),
    ] {
        let err = run_in(&ctx, with.clone()).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Config, "{with}: {}", err.message);
    }
}

#[tokio::test]
async fn declared_outputs_from_the_file_and_the_last_stdout_line() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = test_context(&[], dir.path());
    let script = r#"
echo "version=1.2.3" >> "$MEDIC_OUTPUT"
printf 'notes<<END\nfirst\nsecond\nEND\n' >> "$MEDIC_OUTPUT"
echo "source=file" >> "$MEDIC_OUTPUT"
echo "exit_code=99" >> "$MEDIC_OUTPUT"
echo "progress..."
echo '{"source": "stdout", "count": 2, "stdout": "hijack"}'
"#;
    let outputs = succeeded(run_in(&ctx, json!({"script": script})).await);
    assert_eq!(outputs["version"], "1.2.3");
    assert_eq!(outputs["notes"], "first\nsecond");
    assert_eq!(outputs["count"], 2, "JSON values keep their type");
    assert_eq!(outputs["source"], "file", "the file wins over stdout");
    assert_eq!(
        outputs["exit_code"], 0,
        "reserved names cannot be overridden"
    );
    assert!(
        outputs["stdout"]
            .as_str()
            .unwrap()
            .starts_with("progress...\n")
    );
    let logs = ctx.logs();
    assert!(
        logs.iter()
            .any(|l| l.contains("ignored output `exit_code` from $MEDIC_OUTPUT")),
        "{logs:?}"
    );

    let outputs = succeeded(
        run_in(
            &ctx,
            json!({"run": "echo '{\"ok\": true, \"n\": [1]}' > \"$MEDIC_OUTPUT\""}),
        )
        .await,
    );
    assert_eq!(outputs["ok"], true);
    assert_eq!(outputs["n"], json!([1]));
}

#[tokio::test]
async fn each_step_gets_its_own_output_file_and_the_directory_goes_with_the_action() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = test_context(&[], dir.path());
    let shell = Shell::default();
    let run = |line: &str| {
        let config: ShellConfig = serde_json::from_value(json!({ "run": line })).unwrap();
        shell.run(config, &ctx)
    };
    let first = run(
        "test ! -e \"$MEDIC_OUTPUT\" && echo secret=1 >> \"$MEDIC_OUTPUT\" && \
         stat -c %a \"$(dirname \"$MEDIC_OUTPUT\")\" && echo \"$MEDIC_OUTPUT\"",
    );
    let outputs = match first.await {
        Ok(StepOutcome::Success(outputs)) => outputs,
        other => panic!("expected success, got {other:?}"),
    };
    assert_eq!(outputs["secret"], "1");
    let printed = outputs["stdout"].as_str().unwrap().to_string();
    let (mode, first_file) = printed.trim().split_once('\n').unwrap();
    assert_eq!(mode, "700", "the directory is private");
    assert!(
        !Path::new(first_file).exists(),
        "removed when its step ended"
    );

    let second = run("test ! -e \"$MEDIC_OUTPUT\" && echo \"$MEDIC_OUTPUT\"");
    let outputs = match second.await {
        Ok(StepOutcome::Success(outputs)) => outputs,
        other => panic!("a later step saw an earlier step's file: {other:?}"),
    };
    assert!(outputs.get("secret").is_none(), "{outputs:?}");
    let second_file = outputs["stdout"].as_str().unwrap().trim().to_string();
    assert_ne!(second_file, first_file);

    drop(shell);
    let scratch = Path::new(first_file).parent().unwrap();
    assert!(
        !scratch.exists(),
        "{} outlived the action",
        scratch.display()
    );
}

#[tokio::test]
async fn a_malformed_output_file_fails_the_step() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = test_context(&[], dir.path());
    let err = run_in(
        &ctx,
        json!({"run": "echo 'not an output' >> \"$MEDIC_OUTPUT\"; echo done"}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Failed);
    assert_eq!(
        err.message,
        "$MEDIC_OUTPUT line 1: expected `name=value` or `name<<DELIMITER`"
    );
    assert_eq!(err.outputs["stdout"], "done\n");
}

#[tokio::test]
async fn big_output_on_both_streams_does_not_deadlock_and_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = test_context(&[], dir.path());
    // stderr first: if only stdout were read, the command would block on a full pipe.
    let run = "head -c 3000000 /dev/zero | tr '\\0' e >&2; \
               head -c 3000000 /dev/zero | tr '\\0' o; echo; echo end";
    let outputs = succeeded(run_in(&ctx, json!({"run": run})).await);
    let stderr = outputs["stderr"].as_str().unwrap();
    assert_eq!(stderr.len(), process::TAIL_BYTES);
    assert!(stderr.bytes().all(|b| b == b'e'));
    assert_eq!(
        outputs["stdout"], "end\n",
        "a cut tail starts at a line boundary"
    );
}

#[tokio::test]
async fn dropping_the_step_kills_the_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = test_context(&[], dir.path());
    let pids = dir.path().join("pids");
    let run = format!(
        "echo $$ >> '{p}'; sleep 30 & echo $! >> '{p}'; sleep 30 & echo $! >> '{p}'; wait",
        p = pids.display()
    );
    let config: ShellConfig = serde_json::from_value(json!({"run": run})).unwrap();
    let shell = Shell::default();
    let mut step = Box::pin(shell.run(config, &ctx));
    // Let the shell start both children, so that the test checks all three processes.
    let started = async {
        while read_pids(&pids).len() < 3 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::select! {
        result = &mut step => panic!("the step ended early: {result:?}"),
        () = started => {}
        () = tokio::time::sleep(Duration::from_secs(20)) => panic!("the shell never started its children"),
    }
    let pids = read_pids(&pids);
    assert!(
        pids.iter().all(|&p| is_running(p)),
        "{pids:?} should be running before the timeout"
    );
    // This is what a step timeout does: the engine drops the future.
    let timed_out = tokio::time::timeout(Duration::from_millis(200), &mut step).await;
    assert!(timed_out.is_err(), "sleep 30 cannot finish in 200ms");
    drop(step);
    assert_all_gone(&pids).await;
}

#[tokio::test]
async fn background_processes_are_killed_when_the_command_exits() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = test_context(&[], dir.path());
    let pids = dir.path().join("pids");
    let run = format!("sleep 30 & echo $! > '{}'; echo started", pids.display());
    // Without the kill the step would wait for `sleep` to close stdout: 30s, past run_in's limit.
    let started = tokio::time::Instant::now();
    let outputs = succeeded(run_in(&ctx, json!({"run": run})).await);
    assert_eq!(outputs["stdout"], "started\n");
    assert!(started.elapsed() < Duration::from_secs(20));
    let logs = ctx.logs();
    assert!(
        !logs.iter().any(|l| l.starts_with("[medic]")),
        "the pipes should close at once: {logs:?}"
    );
    assert_all_gone(&read_pids(&pids)).await;
}

/// Run a step that starts `sleep 30` in a session of its own (out of the step's group,
/// holding its stdout and stderr), runs `wait` until the escapee has written its pid
/// (or the group kill could catch it before `setsid`), then echoes `word`. Kills the
/// escapee, checks that the step said it stopped reading output held open, and returns
/// the step's outputs and logs.
async fn run_with_escapee(wait: &str, word: &str) -> (Outputs, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let ctx = test_context(&[], dir.path());
    let pids = dir.path().join("pids");
    let run = format!(
        "setsid sh -c 'echo $$ > {p}; exec sleep 30' & \
         while [ ! -s {p} ]; do {wait}; done; echo {word}",
        p = pids.display()
    );
    let result = run_in(&ctx, json!({"run": run})).await;
    for pid in read_pids(&pids) {
        // SAFETY: plain kill(2) of the process this test started.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    let logs = ctx.logs();
    assert!(
        logs.iter()
            .any(|l| l.starts_with("[medic] stopped reading output held open")),
        "{logs:?}"
    );
    (succeeded(result), logs)
}

#[tokio::test]
async fn a_process_that_leaves_the_group_cannot_hold_the_step() {
    let (outputs, _) = run_with_escapee("sleep 0.01", "started").await;
    assert_eq!(outputs["stdout"], "started\n");
}

/// A command that is still running after `QUIET_START` has its output read as it
/// comes: what it printed before is logged first, and nothing is lost in between.
#[tokio::test]
async fn output_from_before_and_after_the_quiet_start_is_all_kept_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = test_context(&[], dir.path());
    let run = "echo early; echo early-err >&2; sleep 0.2; echo late; echo late-err >&2";
    let outputs = succeeded(run_in(&ctx, json!({"run": run})).await);
    assert_eq!(outputs["stdout"], "early\nlate\n");
    assert_eq!(outputs["stderr"], "early-err\nlate-err\n");
    let logs = ctx.logs();
    let position = |line: &str| logs.iter().position(|l| l == line).unwrap();
    assert!(position("early") < position("late"), "{logs:?}");
    assert!(position("early-err") < position("late-err"), "{logs:?}");
}

/// A command that exits at once, leaving a process outside its group that holds its
/// stdout: the step reads what is there, then waits for the rest only so long.
#[tokio::test]
async fn a_quick_command_whose_pipes_an_escaped_process_holds_still_ends() {
    // The command spins rather than sleeps until the escapee is out, to stay quick.
    let (outputs, logs) = run_with_escapee(":", "quick").await;
    assert_eq!(outputs["stdout"], "quick\n");
    assert!(logs.iter().any(|l| l == "quick"));
}

#[tokio::test]
async fn dry_run_describes_and_does_not_execute() {
    let dir = tempfile::tempdir().unwrap();
    let mut ctx = test_context(&["hunter2-secret"], dir.path());
    ctx.dry_run = true;
    let outputs = succeeded(run_in(&ctx, json!({"run": "touch marker # hunter2-secret"})).await);
    assert_eq!(
        Value::Object(outputs),
        json!({"dry_run": true, "command": "touch marker # ***"})
    );
    assert!(!dir.path().join("marker").exists());
}

/// A secret the command prints must appear only as `***`: in outputs, logs and errors.
#[tokio::test]
async fn secrets_never_leave_the_step_unmasked() {
    const CANARY: &str = "canary-5up3r-s3cr3t";
    for exit in [0, 4] {
        let dir = tempfile::tempdir().unwrap();
        let mut ctx = test_context(&[CANARY], dir.path());
        ctx.env.insert("API_TOKEN".into(), CANARY.into());
        let run = format!(
            "echo \"token is $API_TOKEN\"; echo \"$API_TOKEN\" >&2; \
             echo \"tok=$API_TOKEN\" >> \"$MEDIC_OUTPUT\"; echo \"{{\\\"t\\\": \\\"$API_TOKEN\\\"}}\"; exit {exit}"
        );
        let (outputs, message) = match run_in(&ctx, json!({"run": run})).await {
            Ok(StepOutcome::Success(outputs)) => (outputs, String::new()),
            Err(err) => (err.outputs, err.message),
            Ok(other) => panic!("unexpected {other:?}"),
        };
        let everything = format!(
            "{}\n{}\n{message}",
            Value::Object(outputs.clone()),
            ctx.logs().join("\n")
        );
        assert!(
            !everything.contains(CANARY),
            "the secret leaked: {everything}"
        );
        assert_eq!(outputs["stderr"], "***\n");
        assert_eq!(outputs["tok"], "***");
        assert_eq!(outputs["t"], "***");
        assert!(
            ctx.logs().contains(&"token is ***".to_string()),
            "{:?}",
            ctx.logs()
        );
        assert_eq!(outputs["exit_code"], exit);
    }
}

/// A `bin` folder in `dir` holding an executable `name` with `body`.
fn install(dir: &Path, name: &str, body: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let path = bin.join(name);
    std::fs::write(&path, body).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

#[tokio::test]
async fn plain_command_lines_run_without_a_shell_and_mean_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let bin = install(
        dir.path(),
        "tool",
        "#!/bin/sh\necho \"$# args: $1 $2\"\necho \"seen=$MEDIC_STEP_ID\" >> \"$MEDIC_OUTPUT\"\nexit 4\n",
    );
    let ctx = test_context(&[], dir.path());
    let path = format!("{}:/usr/bin:/bin", bin.display());
    let with = json!({"run": "tool  first\tsecond", "env": {"PATH": path}});

    // The step's own PATH finds the program, so no shell is started for it.
    let config: ShellConfig = serde_json::from_value(with.clone()).unwrap();
    let plan = config.plan(&ctx).unwrap();
    assert!(direct_command(&plan, &ctx).is_some());
    let quoted: ShellConfig =
        serde_json::from_value(json!({"run": "tool 'first'", "env": {"PATH": path}})).unwrap();
    assert!(direct_command(&quoted.plan(&ctx).unwrap(), &ctx).is_none());

    // Arguments, environment, $MEDIC_OUTPUT and the exit code are what `sh -c` gives.
    let err = run_in(&ctx, with).await.unwrap_err();
    assert_eq!(err.message, "exit code 4");
    assert_eq!(err.outputs["stdout"], "2 args: first second\n");
    assert_eq!(err.outputs["seen"], "step-1");
}

#[tokio::test]
async fn a_program_without_an_interpreter_line_still_runs_as_a_shell_script() {
    let dir = tempfile::tempdir().unwrap();
    // No `#!`: exec refuses it (ENOEXEC) and a shell runs it as a script instead.
    let bin = install(dir.path(), "legacy", "echo \"legacy $1\"\nexit 3\n");
    let ctx = test_context(&[], dir.path());
    let path = format!("{}:/usr/bin:/bin", bin.display());
    let err = run_in(&ctx, json!({"run": "legacy x", "env": {"PATH": path}}))
        .await
        .unwrap_err();
    assert_eq!(err.message, "exit code 3");
    assert_eq!(err.outputs["stdout"], "legacy x\n");
}

#[tokio::test]
async fn a_program_missing_from_path_fails_as_the_shell_says() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = test_context(&[], dir.path());
    let err = run_in(&ctx, json!({"run": "no-such-program-medic --flag"}))
        .await
        .unwrap_err();
    assert_eq!(err.message, "exit code 127");
    assert!(
        err.outputs["stderr"]
            .as_str()
            .is_some_and(|s| s.contains("no-such-program-medic") && s.contains("not found")),
        "{:?}",
        err.outputs["stderr"]
    );
}

#[tokio::test]
async fn a_command_started_by_its_path_sees_medics_environment_with_the_steps_over_it() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = test_context(&[], dir.path());
    // `env` runs directly (plain words, found on PATH): the environment is built by the
    // spawn, not by std's `Command`.
    let config: ShellConfig =
        serde_json::from_value(json!({"run": "env", "env": {"HOME": "/step-home"}})).unwrap();
    assert!(direct_command(&config.plan(&ctx).unwrap(), &ctx).is_some());
    let outputs =
        succeeded(run_in(&ctx, json!({"run": "env", "env": {"HOME": "/step-home"}})).await);
    let stdout = outputs["stdout"].as_str().unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    // Medic's own variables are passed on (PATH is one it always has here)…
    let path = std::env::var("PATH").unwrap();
    assert!(lines.contains(&format!("PATH={path}").as_str()), "{stdout}");
    // …except those the step sets, each once, with the step's value.
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("HOME=")).count(),
        1,
        "{stdout}"
    );
    assert!(lines.contains(&"HOME=/step-home"), "{stdout}");
    assert!(lines.contains(&"MEDIC_STEP_ID=step-1"), "{stdout}");
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with("MEDIC_OUTPUT="))
            .count(),
        1,
        "{stdout}"
    );
}

#[tokio::test]
async fn a_command_starts_with_no_signal_blocked_and_sigpipe_at_its_default() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = test_context(&[], dir.path());
    let outputs = succeeded(run_in(&ctx, json!({"run": "cat /proc/self/status"})).await);
    let status = outputs["stdout"].as_str().unwrap();
    let mask = |name: &str| {
        let line = status
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in {status}"));
        u64::from_str_radix(line[name.len()..].trim(), 16).unwrap()
    };
    assert_eq!(mask("SigBlk:"), 0, "{status}");
    assert_eq!(mask("SigIgn:") & (1 << (libc::SIGPIPE - 1)), 0, "{status}");
}

/// Where `clone3` is refused (an older kernel, a seccomp filter), children start by
/// `posix_spawn`: the same child, seen from inside.
#[cfg(all(target_os = "linux", target_env = "gnu", target_arch = "x86_64"))]
#[tokio::test]
async fn the_posix_spawn_fallback_starts_the_same_child() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let ctx = test_context(&[], dir.path());
    let started = |with: Value| {
        let ctx = &ctx;
        async move {
            // A current-thread runtime: the child is started on this thread.
            super::clone::OFF_ON_THIS_THREAD.with(|off| off.set(true));
            let result = run_in(ctx, with).await;
            super::clone::OFF_ON_THIS_THREAD.with(|off| off.set(false));
            result
        }
    };
    let status = succeeded(started(json!({"run": "cat /proc/self/status"})).await);
    let status = status["stdout"].as_str().unwrap().to_string();
    let mask = |name: &str| {
        let line = status.lines().find(|l| l.starts_with(name)).unwrap();
        u64::from_str_radix(line[name.len()..].trim(), 16).unwrap()
    };
    assert_eq!(mask("SigBlk:"), 0, "{status}");
    assert_eq!(mask("SigIgn:") & (1 << (libc::SIGPIPE - 1)), 0, "{status}");
    let pwd = succeeded(started(json!({"run": "/bin/pwd", "working_dir": "sub"})).await);
    assert!(
        pwd["stdout"].as_str().unwrap().trim_end().ends_with("/sub"),
        "{pwd:?}"
    );
    let env = succeeded(started(json!({"run": "env", "env": {"GREETING": "hello"}})).await);
    let env = env["stdout"].as_str().unwrap();
    assert!(env.lines().any(|l| l == "GREETING=hello"), "{env}");
    assert!(
        env.lines().any(|l| l.starts_with("MEDIC_STEP_ID=")),
        "{env}"
    );
    let missing = started(json!({"run": "/nonexistent/program"})).await;
    assert!(missing.is_err(), "{missing:?}");
}
