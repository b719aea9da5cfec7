//! revert: undo the commit that broke the build.
//!
//! The culprit is looked for on the first-parent history between the last good commit
//! and the worktree's base (the bad one), so that a merged branch counts as the one
//! merge commit that brought it in. With a verification command the range is bisected
//! by running it; otherwise the culprit is the oldest commit that touches a file the
//! analysis names, or else the oldest commit of the range (the first one that could
//! have broken it). A revert that conflicts is no fix, with the files named.

use git2::{Oid, Repository, RevertOptions, Sort};

use crate::analysis::Failure;
use crate::git::{Worktree, open_worktree, reset_worktree};
use crate::process::{self, Env};
use crate::strategy::finish;
use crate::{Error, Outcome};

/// The command that tells a good commit from a bad one when bisecting.
pub use crate::process::Verify;

/// Inputs of the revert strategy.
#[derive(Debug, Clone)]
pub struct Options {
    /// The last good commit.
    pub good: Oid,
    /// Bisect with this command instead of guessing from the analysis.
    pub verify: Option<Verify>,
}

/// Find the culprit between `options.good` and the worktree's base and revert it in
/// the worktree.
pub async fn run(
    worktree: &Worktree,
    failure: &Failure,
    options: &Options,
) -> Result<Outcome, Error> {
    let repo = open_worktree(&worktree.path)?;
    let candidates = range(&repo, options.good, worktree.base)?;
    if candidates.is_empty() {
        return Ok(Outcome::no_fix(format!(
            "no commit between the good commit {} and {}",
            short(options.good),
            short(worktree.base)
        )));
    }
    let (culprit, why) = match &options.verify {
        Some(verify) => match bisect(worktree, &candidates, verify).await? {
            Ok(found) => found,
            Err(reason) => return Ok(Outcome::no_fix(reason)),
        },
        None => guess(&repo, &candidates, failure)?,
    };
    // Bisecting moved files through another handle: read the worktree afresh.
    drop(repo);
    let repo = open_worktree(&worktree.path)?;
    revert(worktree, &repo, culprit, &why)
}

/// The first-parent commits after `good` up to `bad`, oldest first.
fn range(repo: &Repository, good: Oid, bad: Oid) -> Result<Vec<Oid>, Error> {
    if good != bad
        && !repo
            .graph_descendant_of(bad, good)
            .map_err(Error::git("cannot compare commits"))?
    {
        return Err(Error::Invalid(format!(
            "the good commit {} is not an ancestor of {}",
            short(good),
            short(bad)
        )));
    }
    let mut walk = repo.revwalk().map_err(Error::git("cannot walk history"))?;
    walk.set_sorting(Sort::TOPOLOGICAL | Sort::REVERSE)
        .map_err(Error::git("cannot walk history"))?;
    walk.simplify_first_parent()
        .map_err(Error::git("cannot walk history"))?;
    walk.push(bad).map_err(Error::git("cannot walk history"))?;
    walk.hide(good).map_err(Error::git("cannot walk history"))?;
    walk.collect::<Result<Vec<_>, _>>()
        .map_err(Error::git("cannot walk history"))
}

/// The oldest candidate touching a named file, else the oldest.
fn guess(repo: &Repository, candidates: &[Oid], failure: &Failure) -> Result<(Oid, String), Error> {
    for &oid in candidates {
        if let Some(path) = touched(repo, oid)?
            .into_iter()
            .find(|p| failure.mentions(p))
        {
            return Ok((
                oid,
                format!(
                    "it is the oldest of {} commits since the last good one to touch `{path}`, which the failure names",
                    candidates.len()
                ),
            ));
        }
    }
    let why = if candidates.len() == 1 {
        "it is the only commit since the last good one".to_string()
    } else {
        format!(
            "it is the oldest of {} commits since the last good one (none touches a file the failure names)",
            candidates.len()
        )
    };
    Ok((candidates[0], why))
}

/// Paths a commit changes against its first parent.
fn touched(repo: &Repository, oid: Oid) -> Result<Vec<String>, Error> {
    let commit = repo
        .find_commit(oid)
        .map_err(Error::git("cannot read a commit"))?;
    let tree = commit.tree().map_err(Error::git("cannot read a tree"))?;
    let parent = commit.parent(0).ok().and_then(|p| p.tree().ok());
    let diff = repo
        .diff_tree_to_tree(parent.as_ref(), Some(&tree), None)
        .map_err(Error::git("cannot diff a commit"))?;
    Ok(diff
        .deltas()
        .filter_map(|d| {
            d.new_file()
                .path()
                .or(d.old_file().path())
                .map(|p| p.to_string_lossy().into_owned())
        })
        .collect())
}

/// Binary search for the first failing candidate. The inner `Err` is a reason for no
/// fix (the failure does not reproduce).
async fn bisect(
    worktree: &Worktree,
    candidates: &[Oid],
    verify: &Verify,
) -> Result<Result<(Oid, String), String>, Error> {
    let last = candidates.len() - 1;
    let mut runs = 0;
    let shown = medic_analyze::sanitize::Sanitizer::default().sanitize_text(&verify.command);
    let result = async {
        runs += 1;
        if passes(worktree, candidates[last], verify).await? {
            return Ok(Err(format!(
                "`{}` passes at {}: the failure does not reproduce, nothing to bisect",
                shown,
                short(candidates[last])
            )));
        }
        // Invariant: `lo` passes (-1 is the good commit), `hi` fails.
        let (mut lo, mut hi) = (-1_isize, last as isize);
        while hi - lo > 1 {
            let mid = (lo + hi) / 2;
            runs += 1;
            if passes(worktree, candidates[mid as usize], verify).await? {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Ok(Ok((
            candidates[hi as usize],
            format!(
                "bisecting {} commits with `{}` ({runs} runs) found it is the first that fails",
                candidates.len(),
                shown
            ),
        )))
    }
    .await;
    // Whatever happened, the worktree goes back to its branch at the base.
    reset_worktree(worktree)?;
    result
}

/// Check out `oid` in the worktree and run the command there. The repository handle
/// is not kept across the run: it is not `Sync`, and the step's future must be `Send`.
async fn passes(worktree: &Worktree, oid: Oid, verify: &Verify) -> Result<bool, Error> {
    {
        let repo = open_worktree(&worktree.path)?;
        repo.set_head_detached(oid)
            .map_err(Error::git("cannot check out a commit to bisect"))?;
        repo.checkout_head(Some(
            git2::build::CheckoutBuilder::new()
                .force()
                .remove_untracked(true),
        ))
        .map_err(Error::git("cannot check out a commit to bisect"))?;
    }
    let finished = process::run(
        &verify.command,
        &worktree.path,
        &Env::Inherit(Default::default()),
        verify.timeout,
    )
    .await
    .map_err(Error::io(&worktree.path))?;
    Ok(finished.success())
}

fn revert(
    worktree: &Worktree,
    repo: &Repository,
    culprit: Oid,
    why: &str,
) -> Result<Outcome, Error> {
    let commit = repo
        .find_commit(culprit)
        .map_err(Error::git("cannot read the culprit"))?;
    let mut options = RevertOptions::new();
    if commit.parent_count() > 1 {
        // Undo what the merge brought in, relative to the branch it was merged into.
        options.mainline(1);
    }
    repo.revert(&commit, Some(&mut options))
        .map_err(Error::git(format!("cannot revert {}", short(culprit))))?;
    let index = repo.index().map_err(Error::git("cannot read the index"))?;
    if index.has_conflicts() {
        let mut paths: Vec<String> = index
            .conflicts()
            .map_err(Error::git("cannot read conflicts"))?
            .filter_map(Result::ok)
            .filter_map(|c| c.our.or(c.their).or(c.ancestor))
            .map(|e| String::from_utf8_lossy(&e.path).into_owned())
            .collect();
        paths.dedup();
        reset_worktree(worktree)?;
        return Ok(Outcome::no_fix(format!(
            "reverting {} conflicts with later changes in {}",
            short(culprit),
            paths.join(", ")
        )));
    }
    repo.cleanup_state()
        .map_err(Error::git("cannot finish the revert"))?;
    let subject = String::from_utf8_lossy(commit.summary_bytes().unwrap_or(b"")).into_owned();
    let author = commit.author();
    finish(
        worktree,
        "revert",
        format!("Revert \"{subject}\""),
        format!(
            "Reverts {} (\"{subject}\" by {}): {why}.",
            culprit,
            String::from_utf8_lossy(author.name_bytes())
        ),
    )
}

fn short(oid: Oid) -> String {
    oid.to_string()[..10].to_string()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::Fix;
    use crate::git::testing::TestRepo;

    fn failing_in(location: &str) -> Failure {
        Failure {
            category: "test".into(),
            fingerprint: "f00dfeed".into(),
            locations: vec![location.into()],
            ..Failure::default()
        }
    }

    fn fix(outcome: Outcome) -> Fix {
        match outcome {
            Outcome::Fix(fix) => fix,
            other => panic!("expected a fix, got {other:?}"),
        }
    }

    /// green → culprit (touches src/calc.rs) → unrelated docs → red HEAD.
    fn history() -> (TestRepo, Oid, Oid) {
        let test = TestRepo::new(&[
            (
                "src/calc.rs",
                "pub fn add(a: i32, b: i32) -> i32 { a + b }\n",
            ),
            ("README.md", "calc\n"),
        ]);
        let green = test.repo.head().unwrap().target().unwrap();
        let culprit = test.commit(
            "calc: subtract instead",
            &[(
                "src/calc.rs",
                "pub fn add(a: i32, b: i32) -> i32 { a - b }\n",
            )],
        );
        test.commit("docs: more words", &[("README.md", "calc, a calculator\n")]);
        test.commit("docs: even more", &[("NOTES.md", "notes\n")]);
        (test, green, culprit)
    }

    #[tokio::test]
    async fn reverts_the_commit_that_touched_the_named_file() {
        let (test, green, culprit) = history();
        let wt = test
            .checkout()
            .create_worktree("HEAD", "medic/fix-f00dfeed", None)
            .unwrap();
        let outcome = run(
            &wt,
            &failing_in("src/calc.rs:1:40"),
            &Options {
                good: green,
                verify: None,
            },
        )
        .await
        .unwrap();
        let fix = fix(outcome);
        assert_eq!(fix.summary, "Revert \"calc: subtract instead\"");
        assert!(
            fix.details.contains(&culprit.to_string()),
            "{}",
            fix.details
        );
        assert!(fix.details.contains("`src/calc.rs`"));
        assert_eq!(fix.change.paths(), ["src/calc.rs"]);
        assert_eq!((fix.change.lines_added, fix.change.lines_removed), (1, 1));
        assert!(
            fix.change
                .diff
                .contains("+pub fn add(a: i32, b: i32) -> i32 { a + b }")
        );
        // The user's checkout is untouched.
        assert!(
            std::fs::read_to_string(test.path().join("src/calc.rs"))
                .unwrap()
                .contains("a - b")
        );
    }

    #[tokio::test]
    async fn without_named_files_the_oldest_commit_is_reverted() {
        let (test, green, _) = history();
        let wt = test
            .checkout()
            .create_worktree("HEAD", "medic/fix-1", None)
            .unwrap();
        let fix = fix(run(
            &wt,
            &failing_in("elsewhere.rs:3"),
            &Options {
                good: green,
                verify: None,
            },
        )
        .await
        .unwrap());
        assert!(
            fix.details.contains("oldest of 3 commits"),
            "{}",
            fix.details
        );
        assert_eq!(fix.change.paths(), ["src/calc.rs"]);
    }

    #[tokio::test]
    async fn bisects_with_a_verification_command() {
        let test = TestRepo::new(&[("value", "1\n")]);
        let green = test.repo.head().unwrap().target().unwrap();
        test.commit("a", &[("a", "a\n")]);
        test.commit("b", &[("b", "b\n")]);
        let culprit = test.commit("break it", &[("value", "2\n")]);
        test.commit("c", &[("c", "c\n")]);
        test.commit("d", &[("d", "d\n")]);
        let wt = test
            .checkout()
            .create_worktree("HEAD", "medic/fix-2", None)
            .unwrap();
        let verify = Verify {
            command: "grep -qx 1 value".into(),
            timeout: Duration::from_secs(20),
        };
        // The analysis points elsewhere on purpose: bisection must not rely on it.
        let outcome = run(
            &wt,
            &failing_in("a:1"),
            &Options {
                good: green,
                verify: Some(verify),
            },
        )
        .await
        .unwrap();
        let fix = fix(outcome);
        assert!(
            fix.details.contains(&culprit.to_string()),
            "{}",
            fix.details
        );
        assert!(
            fix.details.contains("bisecting 5 commits"),
            "{}",
            fix.details
        );
        assert_eq!(fix.change.paths(), ["value"]);
        // Back on the branch after bisecting.
        let repo = open_worktree(&wt.path).unwrap();
        assert_eq!(repo.head().unwrap().shorthand().unwrap(), "medic/fix-2");
        // A failure that does not reproduce is no fix.
        let wt = test
            .checkout()
            .create_worktree("HEAD", "medic/fix-3", None)
            .unwrap();
        let verify = Verify {
            command: "true".into(),
            timeout: Duration::from_secs(20),
        };
        match run(
            &wt,
            &failing_in("a:1"),
            &Options {
                good: green,
                verify: Some(verify),
            },
        )
        .await
        .unwrap()
        {
            Outcome::NoFix { reason } => assert!(reason.contains("does not reproduce"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_merge_commit_culprit_is_reverted_against_its_first_parent() {
        let test = TestRepo::new(&[("src/app.rs", "fn main() {}\n")]);
        let green = test.repo.head().unwrap().target().unwrap();
        let green_commit = test.repo.find_commit(green).unwrap();
        // A side branch that breaks app.rs, merged into the main line.
        test.repo.branch("feature", &green_commit, false).unwrap();
        test.commit("main: docs", &[("docs.md", "d\n")]);
        let main_tip = test.repo.head().unwrap().target().unwrap();
        test.repo.set_head("refs/heads/feature").unwrap();
        test.repo
            .checkout_head(Some(git2::build::CheckoutBuilder::new().force()))
            .unwrap();
        let side = test.commit(
            "feature: break app",
            &[("src/app.rs", "fn main() { panic!() }\n")],
        );
        let sig = git2::Signature::now("Dev", "dev@example.com").unwrap();
        let mut index = test
            .repo
            .merge_commits(
                &test.repo.find_commit(main_tip).unwrap(),
                &test.repo.find_commit(side).unwrap(),
                None,
            )
            .unwrap();
        let tree = test
            .repo
            .find_tree(index.write_tree_to(&test.repo).unwrap())
            .unwrap();
        let head = test.repo.head().unwrap().name().unwrap().to_string();
        let _ = head;
        let merge = test
            .repo
            .commit(
                None,
                &sig,
                &sig,
                "Merge feature",
                &tree,
                &[
                    &test.repo.find_commit(main_tip).unwrap(),
                    &test.repo.find_commit(side).unwrap(),
                ],
            )
            .unwrap();
        let wt = test
            .checkout()
            .create_worktree(&merge.to_string(), "medic/fix-merge", None)
            .unwrap();
        let fix = fix(run(
            &wt,
            &failing_in("src/app.rs:1"),
            &Options {
                good: green,
                verify: None,
            },
        )
        .await
        .unwrap());
        // First-parent history: the side commit is not a candidate; the merge is.
        assert!(fix.details.contains(&merge.to_string()), "{}", fix.details);
        assert_eq!(fix.summary, "Revert \"Merge feature\"");
        assert_eq!(fix.change.paths(), ["src/app.rs"]);
        assert!(fix.change.diff.contains("+fn main() {}"));
    }

    #[tokio::test]
    async fn a_conflicting_revert_is_no_fix_naming_the_files() {
        let test = TestRepo::new(&[("src/lib.rs", "fn f() -> u8 { 1 }\n")]);
        let green = test.repo.head().unwrap().target().unwrap();
        test.commit("break", &[("src/lib.rs", "fn f() -> u8 { 2 }\n")]);
        test.commit(
            "build on the break",
            &[("src/lib.rs", "fn f() -> u8 { 3 }\n")],
        );
        let wt = test
            .checkout()
            .create_worktree("HEAD", "medic/fix-4", None)
            .unwrap();
        let outcome = run(
            &wt,
            &failing_in("src/lib.rs:1"),
            &Options {
                good: green,
                verify: None,
            },
        )
        .await
        .unwrap();
        match outcome {
            Outcome::NoFix { reason } => {
                assert!(
                    reason.contains("conflicts") && reason.contains("src/lib.rs"),
                    "{reason}"
                )
            }
            other => panic!("{other:?}"),
        }
        // The worktree is clean again for the next attempt.
        assert!(crate::git::diff(&wt).unwrap().is_empty());
        let repo = open_worktree(&wt.path).unwrap();
        assert_eq!(repo.state(), git2::RepositoryState::Clean);
    }

    #[tokio::test]
    async fn a_good_commit_that_is_not_an_ancestor_is_refused() {
        let (test, _, culprit) = history();
        let wt = test
            .checkout()
            .create_worktree(&culprit.to_string(), "medic/fix-5", None)
            .unwrap();
        let head = test.repo.head().unwrap().target().unwrap();
        let err = run(
            &wt,
            &failing_in("x:1"),
            &Options {
                good: head,
                verify: None,
            },
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("is not an ancestor"), "{err}");
        let same = run(
            &wt,
            &failing_in("x:1"),
            &Options {
                good: culprit,
                verify: None,
            },
        )
        .await
        .unwrap();
        assert!(matches!(same, Outcome::NoFix { .. }));
    }
}
