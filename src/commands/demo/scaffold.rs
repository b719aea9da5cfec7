//! The demo's world: a small project whose latest commits broke its tests, a bare
//! repository standing in for its remote, and the failed CI job's log.
//!
//! Everything is made with the `git` command line and `sh`, which every machine that
//! runs Medic has, and the log is the real output of the project's tests at the broken
//! commit, wrapped the way GitHub Actions serves a job's log.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Failure;

const CALC: &str = include_str!("calc.sh");
const CALC_BROKEN: &str = include_str!("calc.normalised.sh");
const TESTS: &str = include_str!("test.sh");
const CI: &str = "name: ci\non: [push, pull_request]\njobs:\n  test:\n    runs-on: ubuntu-latest\n    timeout-minutes: 5\n    steps:\n      - uses: actions/checkout@v4\n      - run: ./test.sh\n";
const README: &str =
    "# calc\n\nSmall arithmetic helpers for shell scripts: `. ./calc.sh; add 2 3`.\n";
const README_TESTS: &str =
    "\n## Tests\n\n    ./test.sh    # prints TAP; exits with the number of failures\n";
const README_USAGE: &str =
    "\n## Usage\n\n    . ./calc.sh\n    add -2 1     # -1\n    mul 3 4      # 12\n";

/// The author of the project's own commits (not Medic).
const AUTHOR: (&str, &str) = ("Ada Lovelace", "ada@example.com");

/// What the demo created.
#[derive(Debug, Clone)]
pub struct World {
    /// The folder holding everything.
    pub dir: PathBuf,
    /// The project's working copy.
    pub project: PathBuf,
    /// The bare repository that plays the project's remote (`origin`).
    pub remote: PathBuf,
    /// The failed job's log.
    pub log: PathBuf,
    /// The last commit whose tests passed.
    pub good: String,
    /// The commit whose tests failed (the branch head).
    pub bad: String,
    /// The commit that broke the tests (what a revert should find).
    pub culprit: String,
}

/// Run `git` in `dir` with a fixed identity and none of the user's hooks or signing,
/// so that the demo behaves the same on every machine.
pub fn git(dir: &Path, args: &[&str]) -> Result<String, Failure> {
    let output = Command::new("git")
        .current_dir(dir)
        .args([
            "-c",
            "commit.gpgsign=false",
            "-c",
            "core.hooksPath=/dev/null",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .env("GIT_AUTHOR_NAME", AUTHOR.0)
        .env("GIT_AUTHOR_EMAIL", AUTHOR.1)
        .env("GIT_COMMITTER_NAME", AUTHOR.0)
        .env("GIT_COMMITTER_EMAIL", AUTHOR.1)
        .output()
        .map_err(|e| {
            Failure::usage(format!(
                "the demo needs the `git` command, which could not be run: {e}"
            ))
        })?;
    if !output.status.success() {
        return Err(Failure::failed(format!(
            "git {} failed in {}: {}",
            args.join(" "),
            dir.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// Write `text` to `path`, creating its folder.
pub fn write(path: &Path, text: &str) -> Result<(), Failure> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| Failure::usage(format!("cannot create {}: {e}", parent.display())))?;
    }
    std::fs::write(path, text)
        .map_err(|e| Failure::usage(format!("cannot write {}: {e}", path.display())))
}

fn commit(project: &Path, message: &str) -> Result<String, Failure> {
    git(project, &["add", "-A"])?;
    git(project, &["commit", "-q", "-m", message])?;
    git(project, &["rev-parse", "HEAD"])
}

/// Whether `dir` holds something already (a demo world, or anything else).
pub fn is_taken(dir: &Path) -> bool {
    dir.exists()
        && std::fs::read_dir(dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
}

/// Create the demo's world in `dir`, which must not exist or be empty.
pub fn create(dir: &Path) -> Result<World, Failure> {
    if is_taken(dir) {
        return Err(Failure::usage(format!(
            "{} already exists and is not empty: pass another --dir or remove it",
            dir.display()
        )));
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| Failure::usage(format!("cannot create {}: {e}", dir.display())))?;
    let dir = dir
        .canonicalize()
        .map_err(|e| Failure::usage(format!("cannot resolve {}: {e}", dir.display())))?;
    let remote = dir.join("remote.git");
    let project = dir.join("calc");
    git(&dir, &["init", "-q", "--bare", "remote.git"])?;
    git(&dir, &["init", "-q", "calc"])?;

    // A green history, then the commit that breaks negative numbers, then an
    // unrelated one on top, as real histories go.
    write(&project.join("calc.sh"), CALC)?;
    write(&project.join("test.sh"), TESTS)?;
    write(&project.join("README.md"), README)?;
    write(&project.join(".github/workflows/ci.yml"), CI)?;
    commit(&project, "calc: add and mul, with tests")?;
    write(
        &project.join("README.md"),
        &format!("{README}{README_TESTS}"),
    )?;
    let good = commit(&project, "docs: how to run the tests")?;
    write(&project.join("calc.sh"), CALC_BROKEN)?;
    let culprit = commit(&project, "calc: read \"+3\" and \"3\" the same way")?;
    write(
        &project.join("README.md"),
        &format!("{README}{README_TESTS}{README_USAGE}"),
    )?;
    let bad = commit(&project, "docs: usage examples")?;
    // Absolute, like a real remote's URL: fixes are pushed from worktrees elsewhere.
    git(
        &project,
        &["remote", "add", "origin", &remote.display().to_string()],
    )?;
    git(&project, &["push", "-q", "origin", "main"])?;

    let log = dir.join("ci-job.log");
    write(&log, &job_log(&project)?)?;
    Ok(World {
        dir,
        project,
        remote,
        log,
        good,
        bad,
        culprit,
    })
}

/// Run the project's tests as its CI does and render the output as GitHub Actions
/// serves a job's log: a timestamp on every line, the step in a group, and the
/// runner's closing error.
fn job_log(project: &Path) -> Result<String, Failure> {
    let output = Command::new("sh")
        .arg("test.sh")
        .current_dir(project)
        .output()
        .map_err(|e| Failure::usage(format!("the demo needs `sh`: {e}")))?;
    let code = output.status.code().unwrap_or(1);
    if code == 0 {
        return Err(Failure::failed(
            "the demo project's tests passed at the broken commit; the demo cannot show a fix",
        ));
    }
    // GitHub writes seven fractional digits (100 ns ticks).
    let now = chrono::Utc::now();
    let stamp = format!(
        "{}.{:07}Z",
        now.format("%Y-%m-%dT%H:%M:%S"),
        now.timestamp_subsec_nanos() / 100
    );
    let mut lines = vec![
        "##[group]Run ./test.sh".to_string(),
        "./test.sh".to_string(),
        "shell: /usr/bin/bash -e {0}".to_string(),
        "##[endgroup]".to_string(),
    ];
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    lines.extend(text.lines().map(str::to_string));
    lines.push(format!("##[error]Process completed with exit code {code}."));
    lines.push("Post job cleanup.".to_string());
    Ok(lines
        .iter()
        .map(|line| format!("{stamp} {line}\n"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tests_pass_at(world: &World, commit: &str) -> bool {
        let scratch = world.dir.join(format!("check-{commit}"));
        git(
            &world.dir,
            &[
                "clone",
                "-q",
                world.remote.to_str().unwrap(),
                scratch.to_str().unwrap(),
            ],
        )
        .unwrap();
        git(&scratch, &["checkout", "-q", commit]).unwrap();
        Command::new("sh")
            .arg("test.sh")
            .current_dir(&scratch)
            .output()
            .unwrap()
            .status
            .success()
    }

    #[test]
    fn the_world_has_a_green_commit_a_culprit_and_a_failed_log() {
        let tmp = tempfile::tempdir().unwrap();
        let world = create(&tmp.path().join("demo")).unwrap();
        assert!(tests_pass_at(&world, &world.good));
        assert!(!tests_pass_at(&world, &world.culprit));
        assert!(!tests_pass_at(&world, &world.bad));
        let parent = git(
            &world.project,
            &["rev-parse", &format!("{}^", world.culprit)],
        )
        .unwrap();
        assert_eq!(
            parent, world.good,
            "the culprit comes right after the last green commit"
        );
        // The remote has the branch, and the log is the tests' real output.
        assert_eq!(
            git(&world.remote, &["rev-parse", "main"]).unwrap(),
            world.bad
        );
        let log = std::fs::read_to_string(&world.log).unwrap();
        assert!(
            log.contains("Z not ok 2 - add handles negative numbers\n"),
            "{log}"
        );
        assert!(
            log.contains("##[error]Process completed with exit code 2."),
            "{log}"
        );
        // A second demo in the same folder refuses rather than mixing worlds.
        let again = create(&world.dir).unwrap_err();
        assert!(
            again.message.contains("already exists"),
            "{}",
            again.message
        );
    }
}
