//! agent: run an external coding agent (aider, claude, codex…) in the worktree with a
//! time budget and only the environment it is given, then collect its diff.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::analysis::Failure;
use crate::git::{Worktree, reset_worktree};
use crate::patch::Globs;
use crate::process::{self, Env};
use crate::strategy::{finish, llm_patch};
use crate::{Error, Outcome};

/// Inputs of the agent strategy.
#[derive(Debug, Clone)]
pub struct Options {
    /// The command line, run with `sh -c` in the worktree. `{prompt_file}` is replaced
    /// by the path of a file holding the task, `{worktree}` by the worktree's path
    /// (both shell-quoted).
    pub command: String,
    /// The time budget; the agent's whole process group is killed when it runs out.
    pub timeout: Duration,
    /// The agent's environment: only these variables, plus `PATH` and `HOME`.
    pub env: BTreeMap<String, String>,
    /// Globs the agent's change may touch (empty: anywhere in the repository). A change
    /// outside them is thrown away: no fix.
    pub allowed: Globs,
}

/// Run the agent and measure what it changed.
pub async fn run(
    worktree: &Worktree,
    failure: &Failure,
    options: &Options,
) -> Result<Outcome, Error> {
    // The task lives outside the worktree so that it is not part of the diff.
    let scratch = tempfile::Builder::new()
        .prefix("medic-agent-")
        .tempdir()
        .map_err(Error::io(std::env::temp_dir()))?;
    let prompt_file = scratch.path().join("task.md");
    let prompt = llm_patch::task_prompt(worktree, failure, llm_patch::PROMPT_BUDGET);
    std::fs::write(&prompt_file, &prompt).map_err(Error::io(&prompt_file))?;
    let command = options
        .command
        .replace("{prompt_file}", &quote(&prompt_file.to_string_lossy()))
        .replace("{worktree}", &quote(&worktree.path.to_string_lossy()));
    let finished = process::run(
        &command,
        &worktree.path,
        &Env::Only(options.env.clone()),
        options.timeout,
    )
    .await
    .map_err(Error::io(&worktree.path))?;
    if finished.timed_out {
        return Ok(Outcome::no_fix(format!(
            "the agent did not finish within {}s and was stopped",
            options.timeout.as_secs()
        )));
    }
    if finished.exit_code != Some(0) {
        return Ok(Outcome::no_fix(format!(
            "the agent exited with {}: {}",
            finished
                .exit_code
                .map_or("a signal".to_string(), |c| format!("code {c}")),
            last_line(&finished.output_tail)
        )));
    }
    let program = options.command.split_whitespace().next().unwrap_or("agent");
    let outcome = finish(
        worktree,
        "agent",
        format!(
            "Fix {}",
            failure
                .summary
                .as_deref()
                .map(one_line)
                .unwrap_or_else(|| failure.category.clone())
        ),
        format!(
            "Made by the coding agent `{program}` in {} ms.",
            finished.duration_ms
        ),
    )?;
    if let Outcome::Fix(fix) = &outcome
        && !options.allowed.is_empty()
        && let Some(path) = fix
            .change
            .files
            .iter()
            .map(|f| f.path.as_str())
            .find(|p| options.allowed.matching(p).is_none())
    {
        reset_worktree(worktree)?;
        return Ok(Outcome::no_fix(format!(
            "the agent changed `{path}`, which no allowed path matches; its change was discarded"
        )));
    }
    Ok(outcome)
}

/// Quote for `sh`.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

fn last_line(text: &str) -> String {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .chars()
        .take(200)
        .collect()
}

fn one_line(text: &str) -> String {
    text.lines().next().unwrap_or("").chars().take(72).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::testing::TestRepo;

    fn failure() -> Failure {
        Failure {
            category: "compile".into(),
            fingerprint: "ab12".into(),
            summary: Some("error[E0308]: mismatched types".into()),
            locations: vec!["src/lib.rs:1:20".into()],
            ..Failure::default()
        }
    }

    #[tokio::test]
    async fn a_scripted_agent_edits_the_worktree_and_sees_only_its_env() {
        let test = TestRepo::new(&[("src/lib.rs", "pub fn n() -> u8 { \"1\" }\n")]);
        let wt = test
            .checkout()
            .create_worktree("HEAD", "medic/fix-ab12", None)
            .unwrap();
        let scripts = tempfile::tempdir().unwrap();
        let script = scripts.path().join("agent.sh");
        // A stand-in for `aider --message-file {prompt_file}`: reads the task, edits a file.
        std::fs::write(
            &script,
            "set -e\ngrep -q 'mismatched types' \"$1\"\nprintf 'pub fn n() -> u8 { 1 }\\n' > src/lib.rs\necho \"token=${SECRET_TOKEN:-none} given=$GIVEN\" > agent.log\n",
        )
        .unwrap();
        // SAFETY: no other test reads this variable.
        unsafe { std::env::set_var("SECRET_TOKEN", "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") };
        let options = Options {
            command: format!("sh {} {{prompt_file}}", script.display()),
            timeout: Duration::from_secs(20),
            env: BTreeMap::from([("GIVEN".into(), "yes".into())]),
            allowed: Globs::new(&[]).unwrap(),
        };
        let outcome = run(&wt, &failure(), &options).await.unwrap();
        let Outcome::Fix(fix) = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(fix.strategy, "agent");
        assert_eq!(fix.summary, "Fix error[E0308]: mismatched types");
        assert_eq!(fix.change.paths(), ["agent.log", "src/lib.rs"]);
        assert!(
            fix.change.diff.contains("+token=none given=yes"),
            "{}",
            fix.change.diff
        );
        // The same agent confined to `src/**` may not leave agent.log behind.
        let confined = Options {
            allowed: Globs::new(&["src/**".to_string()]).unwrap(),
            ..options
        };
        match run(&wt, &failure(), &confined).await.unwrap() {
            Outcome::NoFix { reason } => assert!(reason.contains("`agent.log`"), "{reason}"),
            other => panic!("{other:?}"),
        }
        assert!(crate::git::diff(&wt).unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_slow_or_failing_agent_is_no_fix() {
        let test = TestRepo::new(&[("a", "a\n")]);
        let wt = test
            .checkout()
            .create_worktree("HEAD", "medic/fix-x", None)
            .unwrap();
        let slow = Options {
            command: "sleep 30".into(),
            timeout: Duration::from_millis(300),
            env: BTreeMap::new(),
            allowed: Globs::new(&[]).unwrap(),
        };
        match run(&wt, &failure(), &slow).await.unwrap() {
            Outcome::NoFix { reason } => assert!(reason.contains("did not finish"), "{reason}"),
            other => panic!("{other:?}"),
        }
        let failing = Options {
            command: "echo 'cannot help'; exit 2".into(),
            timeout: Duration::from_secs(10),
            env: BTreeMap::new(),
            allowed: Globs::new(&[]).unwrap(),
        };
        match run(&wt, &failure(), &failing).await.unwrap() {
            Outcome::NoFix { reason } => {
                assert_eq!(reason, "the agent exited with code 2: cannot help")
            }
            other => panic!("{other:?}"),
        }
        let idle = Options {
            command: "true".into(),
            timeout: Duration::from_secs(10),
            env: BTreeMap::new(),
            allowed: Globs::new(&[]).unwrap(),
        };
        match run(&wt, &failure(), &idle).await.unwrap() {
            Outcome::NoFix { reason } => assert_eq!(reason, "agent changed nothing"),
            other => panic!("{other:?}"),
        }
    }
}
