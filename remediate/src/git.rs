//! Git for remediation: isolated worktrees, the diff of a fix, Medic's commits, and
//! the network operations a pull request needs.
//!
//! Local work uses libgit2 (git2, built without https/ssh so that no OpenSSL is
//! linked). Fetch and push use the `git` CLI, which every machine here has and which
//! already speaks every transport and the user's ssh config; a token reaches it through
//! `GIT_CONFIG_*` environment variables as an `http.extraHeader`, so it is never on a
//! command line that `ps` shows, and never in an error message.

use std::path::{Component, Path, PathBuf};
use std::process::Stdio;

use git2::{
    DiffFormat, DiffOptions, Repository, StatusOptions, WorktreeAddOptions, WorktreePruneOptions,
};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::Error;

/// A commit id (re-exported so that callers need not depend on git2).
pub use git2::Oid;

/// The trailer naming the failure a Medic commit fixes.
pub const FINGERPRINT_TRAILER: &str = "Medic-Fingerprint";
/// The trailer holding the fix's hash ([`ChangeSummary::fix_hash`]).
pub const FIX_TRAILER: &str = "Medic-Fix";
/// Where fetched remote branches are kept, out of the user's `refs/remotes`.
const FETCHED_PREFIX: &str = "refs/medic/fetched/";

/// The branch for the fix of a failure: `<prefix>/fix-<first 12 characters of the
/// fingerprint>` (prefix `medic` when empty). It is the idempotency key of a fix: the
/// same failure always lands on the same branch, worktree and pull request.
pub fn branch_name(prefix: &str, fingerprint: &str) -> String {
    let prefix = prefix.trim_matches('/');
    let prefix = if prefix.is_empty() { "medic" } else { prefix };
    // Only characters a ref name always accepts; a fingerprint is hex in practice.
    let short: String = fingerprint
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(12)
        .collect::<String>()
        .to_ascii_lowercase();
    format!("{prefix}/fix-{short}")
}

/// A local repository (the user's checkout), opened for Medic's work.
pub struct Checkout {
    repo: Repository,
}

impl std::fmt::Debug for Checkout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkout")
            .field("path", &self.repo.path())
            .finish()
    }
}

/// A worktree Medic works in: its folder, its branch and the commit it started from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Worktree {
    /// The worktree's folder.
    pub path: PathBuf,
    /// Its branch (`medic/fix-…`).
    pub branch: String,
    /// The commit the fix is based on.
    #[serde(serialize_with = "oid_hex")]
    pub base: Oid,
}

fn oid_hex<S: serde::Serializer>(oid: &Oid, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&oid.to_string())
}

/// One changed file of a fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileChange {
    /// Path relative to the repository root (the new path of a rename).
    pub path: String,
    /// `added`, `modified`, `deleted`, `renamed` or `typechange`.
    pub status: String,
    /// Lines added.
    pub added: u64,
    /// Lines removed.
    pub removed: u64,
}

/// What a fix changes, against its base commit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ChangeSummary {
    /// The unified diff (`git diff` format), new files included.
    pub diff: String,
    /// Every changed file.
    pub files: Vec<FileChange>,
    /// Lines added, over all files.
    pub lines_added: u64,
    /// Lines removed, over all files.
    pub lines_removed: u64,
    /// sha256 of the normalized diff (without `index` lines): the same change always
    /// has the same hash, whatever the commit it is based on.
    pub fix_hash: String,
}

impl ChangeSummary {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The paths of the changed files.
    pub fn paths(&self) -> Vec<String> {
        self.files.iter().map(|f| f.path.clone()).collect()
    }
}

/// Author (and committer) of Medic's commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// Name, e.g. `medic[bot]`.
    pub name: String,
    /// E-mail address.
    pub email: String,
}

/// A commit on a remote branch, as seen by [`Checkout::remote_branch_commits`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommitInfo {
    /// Full hex id.
    pub sha: String,
    /// `Name <email>`.
    pub author: String,
    /// The whole message.
    pub message: String,
    /// Whether Medic made it (it carries the `Medic-Fingerprint` trailer). A commit
    /// without it was pushed by a human: Medic must stop touching the branch.
    pub is_medic: bool,
}

impl Checkout {
    /// Open the repository at `path` (or any folder inside it).
    pub fn open(path: &Path) -> Result<Checkout, Error> {
        let repo = Repository::discover(path).map_err(Error::git(format!(
            "{} is not in a git repository",
            path.display()
        )))?;
        Ok(Checkout { repo })
    }

    /// The underlying repository.
    pub fn repo(&self) -> &Repository {
        &self.repo
    }

    /// The folder shared by every worktree of this repository (the main `.git`).
    fn common_dir(&self) -> PathBuf {
        self.repo.commondir().to_path_buf()
    }

    /// The commit `reference` names (`HEAD`, a branch, a tag, a sha…).
    pub fn resolve(&self, reference: &str) -> Result<Oid, Error> {
        let object = self
            .repo
            .revparse_single(reference)
            .map_err(Error::git(format!("`{reference}` names no commit")))?;
        let commit = object
            .peel_to_commit()
            .map_err(Error::git(format!("`{reference}` is not a commit")))?;
        Ok(commit.id())
    }

    /// A worktree for `branch` at `base_ref`, in `dir` or by default
    /// `.git/medic-worktrees/<branch>`. The user's working tree, index and HEAD are
    /// never touched. When the worktree already exists (a re-run), it is reset to the
    /// base: its branch points at the base again and its files are restored, untracked
    /// ones removed (ignored files such as build output are kept, to save time).
    pub fn create_worktree(
        &self,
        base_ref: &str,
        branch: &str,
        dir: Option<&Path>,
    ) -> Result<Worktree, Error> {
        let base = self.resolve(base_ref)?;
        check_branch(branch)?;
        let path = match dir {
            Some(dir) => dir.to_path_buf(),
            None => self.common_dir().join("medic-worktrees").join(branch),
        };
        // libgit2 keeps worktree metadata under `.git/worktrees/<name>`: no slashes.
        let name = branch.replace('/', "-");
        if let Ok(existing) = self.repo.find_worktree(&name) {
            // Compare real paths: the caller may give a relative or symlinked folder.
            let same_place = existing.path() == path
                || std::fs::canonicalize(existing.path())
                    .ok()
                    .is_some_and(|a| std::fs::canonicalize(&path).ok() == Some(a));
            if existing.validate().is_ok() && same_place {
                let worktree = Worktree {
                    path,
                    branch: branch.to_string(),
                    base,
                };
                reset_worktree(&worktree)?;
                return Ok(worktree);
            }
            // A worktree whose folder was deleted, or that moved: forget it.
            existing
                .prune(Some(
                    WorktreePruneOptions::new()
                        .valid(true)
                        .locked(false)
                        .working_tree(true),
                ))
                .map_err(Error::git(format!(
                    "cannot prune the stale worktree {name}"
                )))?;
        }
        if path.exists() {
            return Err(Error::Invalid(format!(
                "{} exists but is not the worktree of {branch}; remove it or choose another folder",
                path.display()
            )));
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(Error::io(parent))?;
        }
        let base_commit = self
            .repo
            .find_commit(base)
            .map_err(Error::git("cannot read the base commit"))?;
        // force: a leftover branch from an earlier attempt starts again from the base.
        let local = self
            .repo
            .branch(branch, &base_commit, true)
            .map_err(Error::git(format!("cannot create the branch {branch}")))?;
        let reference = local.into_reference();
        let mut options = WorktreeAddOptions::new();
        options.reference(Some(&reference));
        self.repo
            .worktree(&name, &path, Some(&options))
            .map_err(Error::git(format!(
                "cannot create the worktree {}",
                path.display()
            )))?;
        Ok(Worktree {
            path,
            branch: branch.to_string(),
            base,
        })
    }

    /// Remove the worktree of `branch` (its folder and its metadata); the branch stays.
    pub fn remove_worktree(&self, worktree: &Worktree) -> Result<(), Error> {
        let name = worktree.branch.replace('/', "-");
        let found = self
            .repo
            .find_worktree(&name)
            .map_err(Error::git(format!("no worktree named {name}")))?;
        found
            .prune(Some(
                WorktreePruneOptions::new()
                    .valid(true)
                    .locked(false)
                    .working_tree(true),
            ))
            .map_err(Error::git(format!("cannot remove the worktree {name}")))
    }

    /// The commits on the fetched remote `branch` ([`fetch`]) that are not in `base`,
    /// newest first. A commit without Medic's trailer means a human pushed to the
    /// branch. An empty list when the branch was not fetched or does not exist.
    pub fn remote_branch_commits(&self, branch: &str, base: Oid) -> Result<Vec<CommitInfo>, Error> {
        let reference = format!("{FETCHED_PREFIX}{branch}");
        let Ok(tip) = self.repo.refname_to_id(&reference) else {
            return Ok(Vec::new());
        };
        let mut walk = self
            .repo
            .revwalk()
            .map_err(Error::git("cannot walk history"))?;
        walk.push(tip).map_err(Error::git("cannot walk history"))?;
        walk.hide(base).map_err(Error::git("cannot walk history"))?;
        let mut commits = Vec::new();
        for oid in walk {
            let oid = oid.map_err(Error::git("cannot walk history"))?;
            let commit = self
                .repo
                .find_commit(oid)
                .map_err(Error::git("cannot read a commit"))?;
            let message = String::from_utf8_lossy(commit.message_bytes()).into_owned();
            let author = commit.author();
            commits.push(CommitInfo {
                sha: oid.to_string(),
                author: format!(
                    "{} <{}>",
                    String::from_utf8_lossy(author.name_bytes()),
                    String::from_utf8_lossy(author.email_bytes())
                ),
                is_medic: has_trailer(&message, FINGERPRINT_TRAILER),
                message,
            });
        }
        Ok(commits)
    }

    /// The commit the fetched remote `branch` points at, if it was fetched.
    pub fn fetched(&self, branch: &str) -> Option<Oid> {
        self.repo
            .refname_to_id(&format!("{FETCHED_PREFIX}{branch}"))
            .ok()
    }
}

/// Whether `message` has a `key: value` trailer line.
fn has_trailer(message: &str, key: &str) -> bool {
    message.lines().any(|line| {
        line.split_once(':')
            .is_some_and(|(k, v)| k.trim() == key && !v.trim().is_empty())
    })
}

/// Open a worktree's own repository (HEAD, index and files of that worktree).
pub fn open_worktree(path: &Path) -> Result<Repository, Error> {
    Repository::open(path).map_err(Error::git(format!(
        "{} is not a git worktree",
        path.display()
    )))
}

/// Point the worktree's branch at its base and make its files match the base exactly,
/// removing untracked files (ignored ones are kept).
pub fn reset_worktree(worktree: &Worktree) -> Result<(), Error> {
    let repo = open_worktree(&worktree.path)?;
    let base = repo
        .find_commit(worktree.base)
        .map_err(Error::git("cannot read the base commit"))?;
    let refname = format!("refs/heads/{}", worktree.branch);
    repo.reference(&refname, worktree.base, true, "medic: reset to base")
        .map_err(Error::git(format!("cannot reset {}", worktree.branch)))?;
    repo.set_head(&refname)
        .map_err(Error::git("cannot check out the branch"))?;
    repo.reset(base.as_object(), git2::ResetType::Hard, None)
        .map_err(Error::git("cannot reset the worktree"))?;
    remove_untracked(&repo, &worktree.path)?;
    repo.cleanup_state()
        .map_err(Error::git("cannot clear a pending operation"))?;
    Ok(())
}

fn remove_untracked(repo: &Repository, root: &Path) -> Result<(), Error> {
    let mut options = StatusOptions::new();
    options
        .include_untracked(true)
        .recurse_untracked_dirs(false)
        .include_ignored(false);
    let statuses = repo
        .statuses(Some(&mut options))
        .map_err(Error::git("cannot list untracked files"))?;
    for entry in statuses.iter() {
        if !entry.status().contains(git2::Status::WT_NEW) {
            continue;
        }
        let Ok(relative) = entry.path() else {
            continue;
        };
        let path = root.join(relative);
        let removed = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.map_err(Error::io(&path))?;
    }
    Ok(())
}

/// The change in `worktree` against its base commit: committed, staged, unstaged and
/// untracked (not ignored) files alike.
pub fn diff(worktree: &Worktree) -> Result<ChangeSummary, Error> {
    let repo = open_worktree(&worktree.path)?;
    diff_repo(&repo, worktree.base)
}

/// [`diff`] for an opened worktree repository.
pub fn diff_repo(repo: &Repository, base: Oid) -> Result<ChangeSummary, Error> {
    let tree = repo
        .find_commit(base)
        .and_then(|c| c.tree())
        .map_err(Error::git("cannot read the base tree"))?;
    let mut options = DiffOptions::new();
    options
        .include_untracked(true)
        .recurse_untracked_dirs(true)
        .show_untracked_content(true);
    // Working files against the base tree; the index only serves to see renames and
    // staged deletions the way `git diff <base>` does.
    let mut diff = repo
        .diff_tree_to_workdir_with_index(Some(&tree), Some(&mut options))
        .map_err(Error::git("cannot compute the diff"))?;
    diff.find_similar(None)
        .map_err(Error::git("cannot detect renames"))?;
    let mut text = Vec::new();
    diff.print(DiffFormat::Patch, |_, _, line| {
        if matches!(line.origin(), '+' | '-' | ' ') {
            text.push(line.origin() as u8);
        }
        text.extend_from_slice(line.content());
        true
    })
    .map_err(Error::git("cannot print the diff"))?;
    let mut files = Vec::new();
    for index in 0..diff.deltas().len() {
        let Some(delta) = diff.get_delta(index) else {
            continue;
        };
        let path = delta
            .new_file()
            .path()
            .or_else(|| delta.old_file().path())
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (added, removed) = match git2::Patch::from_diff(&diff, index) {
            Ok(Some(patch)) => patch
                .line_stats()
                .map(|(_, a, r)| (a as u64, r as u64))
                .unwrap_or((0, 0)),
            _ => (0, 0),
        };
        let status = match delta.status() {
            git2::Delta::Added | git2::Delta::Untracked => "added",
            git2::Delta::Deleted => "deleted",
            git2::Delta::Renamed => "renamed",
            git2::Delta::Typechange => "typechange",
            _ => "modified",
        };
        files.push(FileChange {
            path,
            status: status.to_string(),
            added,
            removed,
        });
    }
    let text = String::from_utf8_lossy(&text).into_owned();
    Ok(ChangeSummary {
        fix_hash: fix_hash(&text),
        lines_added: files.iter().map(|f| f.added).sum(),
        lines_removed: files.iter().map(|f| f.removed).sum(),
        files,
        diff: text,
    })
}

/// sha256 (hex) of a diff without its `index <blob>..<blob>` lines and carriage
/// returns, so that the same edit hashes the same on any machine.
pub fn fix_hash(diff: &str) -> String {
    let mut hasher = Sha256::new();
    for line in diff.lines() {
        if line.starts_with("index ") {
            continue;
        }
        hasher.update(line.trim_end_matches('\r').as_bytes());
        hasher.update(b"\n");
    }
    hex(&hasher.finalize())
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Commit everything in `worktree` as ONE commit on its base (whatever an agent
/// committed in between is folded in), with `trailers` (`Medic-Fingerprint`,
/// `Medic-Fix`…) after the message. The branch points at the new commit; returns it.
pub fn commit(
    worktree: &Worktree,
    author: &Signature,
    message: &str,
    trailers: &[(&str, &str)],
) -> Result<Oid, Error> {
    let repo = open_worktree(&worktree.path)?;
    let mut index = repo.index().map_err(Error::git("cannot open the index"))?;
    index
        .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
        .map_err(Error::git("cannot stage the fix"))?;
    index
        .update_all(["*"], None)
        .map_err(Error::git("cannot stage deletions"))?;
    index
        .write()
        .map_err(Error::git("cannot write the index"))?;
    let tree_id = index
        .write_tree()
        .map_err(Error::git("cannot write the tree"))?;
    let tree = repo
        .find_tree(tree_id)
        .map_err(Error::git("cannot read the tree"))?;
    let base = repo
        .find_commit(worktree.base)
        .map_err(Error::git("cannot read the base commit"))?;
    let signature =
        git2::Signature::now(&author.name, &author.email).map_err(Error::git("invalid author"))?;
    let mut text = message.trim_end().to_string();
    if !trailers.is_empty() {
        text.push_str("\n\n");
        for (key, value) in trailers {
            text.push_str(&format!("{key}: {value}\n"));
        }
    } else {
        text.push('\n');
    }
    let oid = repo
        .commit(None, &signature, &signature, &text, &tree, &[&base])
        .map_err(Error::git("cannot commit"))?;
    repo.reference(
        &format!("refs/heads/{}", worktree.branch),
        oid,
        true,
        "medic: fix",
    )
    .map_err(Error::git("cannot move the branch"))?;
    Ok(oid)
}

/// Credentials for [`fetch`] and [`push`] over HTTPS. Its `Debug` never shows the token.
#[derive(Clone)]
pub struct Token {
    /// The user name sent with the token (`x-access-token` for GitHub, `oauth2` for
    /// GitLab).
    pub username: String,
    secret: String,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("username", &self.username)
            .field("secret", &"[REDACTED]")
            .finish()
    }
}

impl Token {
    /// A token sent as `username:secret` in HTTP Basic auth (the form GitHub and GitLab
    /// both accept for git over HTTPS).
    pub fn new(username: impl Into<String>, secret: impl Into<String>) -> Token {
        Token {
            username: username.into(),
            secret: secret.into(),
        }
    }

    fn header(&self) -> String {
        format!(
            "Authorization: Basic {}",
            base64(format!("{}:{}", self.username, self.secret).as_bytes())
        )
    }
}

/// Standard base64, as HTTP Basic auth wants it.
pub(crate) fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// How [`push`] may overwrite the remote branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushMode {
    /// Only a fast-forward.
    FastForward,
    /// Overwrite, but only if the remote branch is still at `expected` (`None`: only if
    /// it does not exist), so a human's push in between is never lost.
    ForceWithLease {
        /// Where Medic last saw the remote branch.
        expected: Option<Oid>,
    },
}

/// A `git` command run in `dir` with the token (if any) passed through the
/// environment, never argv; prompts disabled so that it never waits for a human.
pub(crate) fn git_command(
    dir: &Path,
    args: &[String],
    token: Option<&Token>,
) -> std::process::Command {
    let mut command = std::process::Command::new("git");
    command
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GCM_INTERACTIVE", "never")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(token) = token {
        command
            .env("GIT_CONFIG_COUNT", "1")
            .env("GIT_CONFIG_KEY_0", "http.extraHeader")
            .env("GIT_CONFIG_VALUE_0", token.header());
    }
    command
}

fn run_git(dir: &Path, args: Vec<String>, token: Option<&Token>) -> Result<String, Error> {
    let output = git_command(dir, &args, token)
        .output()
        .map_err(|e| Error::GitCli {
            command: args.first().cloned().unwrap_or_default(),
            code: -1,
            stderr: format!("cannot run git: {e}"),
        })?;
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    Err(Error::GitCli {
        command: public_command(&args),
        code: output.status.code().unwrap_or(-1),
        stderr: clean_stderr(&stderr, token),
    })
}

/// The arguments as shown in errors: URLs lose any `user:password@`.
fn public_command(args: &[String]) -> String {
    args.iter()
        .map(|a| strip_userinfo(a))
        .collect::<Vec<_>>()
        .join(" ")
}

fn strip_userinfo(text: &str) -> String {
    match text.find("://") {
        Some(scheme_end) => {
            let rest = &text[scheme_end + 3..];
            let host_end = rest.find('/').unwrap_or(rest.len());
            match rest[..host_end].rfind('@') {
                Some(at) => format!("{}{}", &text[..scheme_end + 3], &rest[at + 1..]),
                None => text.to_string(),
            }
        }
        None => text.to_string(),
    }
}

/// The last lines of git's stderr, with the token, URL credentials and anything the
/// sanitizer recognises removed.
fn clean_stderr(stderr: &str, token: Option<&Token>) -> String {
    let mut text = stderr.to_string();
    if let Some(token) = token.filter(|t| !t.secret.is_empty()) {
        text = text.replace(&token.secret, "[REDACTED]");
        text = text.replace(&token.header(), "[REDACTED]");
    }
    let lines: Vec<String> = text.lines().map(strip_userinfo).collect();
    let tail = lines[lines.len().saturating_sub(20)..].join("\n");
    medic_analyze::sanitize::Sanitizer::default()
        .sanitize_text(&tail)
        .trim()
        .to_string()
}

fn check_branch(branch: &str) -> Result<(), Error> {
    let bad =
        branch.starts_with('-') || !git2::Reference::is_valid_name(&format!("refs/heads/{branch}"));
    if bad {
        return Err(Error::Invalid(format!(
            "`{branch}` is not a valid branch name"
        )));
    }
    Ok(())
}

fn check_remote(remote: &str) -> Result<(), Error> {
    if remote.is_empty() || remote.starts_with('-') {
        return Err(Error::Invalid(format!(
            "`{remote}` is not a remote name or URL"
        )));
    }
    Ok(())
}

/// Fetch `branch` from `remote` (a remote name or URL) into Medic's own ref
/// (`refs/medic/fetched/<branch>`), read by [`Checkout::remote_branch_commits`].
/// Returns the remote branch's commit, or `None` when the remote has no such branch.
pub fn fetch(
    checkout: &Checkout,
    remote: &str,
    branch: &str,
    token: Option<&Token>,
) -> Result<Option<Oid>, Error> {
    check_remote(remote)?;
    check_branch(branch)?;
    let dir = checkout
        .repo
        .workdir()
        .unwrap_or_else(|| checkout.repo.path())
        .to_path_buf();
    let refspec = format!("+refs/heads/{branch}:{FETCHED_PREFIX}{branch}");
    let args = vec![
        "fetch".to_string(),
        "--no-tags".into(),
        "--no-write-fetch-head".into(),
        "--".into(),
        remote.to_string(),
        refspec,
    ];
    match run_git(&dir, args, token) {
        Ok(_) => Ok(checkout.fetched(branch)),
        Err(Error::GitCli { stderr, .. }) if stderr.contains("couldn't find remote ref") => {
            // The branch is gone (or never was): forget what an earlier fetch saw.
            if let Ok(mut old) = checkout
                .repo
                .find_reference(&format!("{FETCHED_PREFIX}{branch}"))
            {
                old.delete()
                    .map_err(Error::git("cannot forget the fetched branch"))?;
            }
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Push the worktree's branch to `remote` as `branch`.
pub fn push(
    worktree: &Worktree,
    remote: &str,
    branch: &str,
    token: Option<&Token>,
    mode: PushMode,
) -> Result<(), Error> {
    check_remote(remote)?;
    check_branch(branch)?;
    let mut args = vec!["push".to_string(), "--porcelain".into()];
    if let PushMode::ForceWithLease { expected } = mode {
        args.push(format!(
            "--force-with-lease=refs/heads/{branch}:{}",
            expected.map(|o| o.to_string()).unwrap_or_default()
        ));
    }
    args.push("--".into());
    args.push(remote.to_string());
    args.push(format!(
        "refs/heads/{}:refs/heads/{branch}",
        worktree.branch
    ));
    run_git(&worktree.path, args, token).map(|_| ())
}

/// Whether `path` (relative, `/`-separated, from a diff or a config) stays inside the
/// repository: not absolute, no `..`, not under `.git`.
pub fn is_inside_repo(path: &str) -> bool {
    let path = Path::new(path);
    !path.as_os_str().is_empty()
        && path
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
        && path
            .components()
            .next()
            .is_none_or(|first| first.as_os_str() != ".git")
}

#[cfg(test)]
pub(crate) mod testing {
    //! Real repositories built with git2 in temporary folders.

    use super::*;

    /// A repository with an initial commit of `files`.
    pub(crate) struct TestRepo {
        pub dir: tempfile::TempDir,
        pub repo: Repository,
    }

    impl TestRepo {
        pub(crate) fn new(files: &[(&str, &str)]) -> TestRepo {
            let dir = tempfile::tempdir().unwrap();
            let repo = Repository::init(dir.path()).unwrap();
            let mut config = repo.config().unwrap();
            config.set_str("user.name", "Dev").unwrap();
            config.set_str("user.email", "dev@example.com").unwrap();
            let test = TestRepo { dir, repo };
            test.commit("initial", files);
            test
        }

        pub(crate) fn path(&self) -> &Path {
            self.dir.path()
        }

        /// Write `files` (empty content deletes) and commit them on HEAD.
        pub(crate) fn commit(&self, message: &str, files: &[(&str, &str)]) -> Oid {
            self.write(files);
            let mut index = self.repo.index().unwrap();
            for (path, content) in files {
                if content.is_empty() {
                    index.remove_path(Path::new(path)).unwrap();
                } else {
                    index.add_path(Path::new(path)).unwrap();
                }
            }
            index.write().unwrap();
            let tree = self.repo.find_tree(index.write_tree().unwrap()).unwrap();
            let sig = git2::Signature::now("Dev", "dev@example.com").unwrap();
            let parents: Vec<git2::Commit> = self
                .repo
                .head()
                .ok()
                .and_then(|h| h.peel_to_commit().ok())
                .into_iter()
                .collect();
            let parents: Vec<&git2::Commit> = parents.iter().collect();
            self.repo
                .commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)
                .unwrap()
        }

        pub(crate) fn write(&self, files: &[(&str, &str)]) {
            for (path, content) in files {
                let full = self.path().join(path);
                if content.is_empty() {
                    let _ = std::fs::remove_file(&full);
                } else {
                    std::fs::create_dir_all(full.parent().unwrap()).unwrap();
                    std::fs::write(full, content).unwrap();
                }
            }
        }

        pub(crate) fn checkout(&self) -> Checkout {
            Checkout::open(self.path()).unwrap()
        }
    }

    /// Write files inside a worktree.
    pub(crate) fn write_in(worktree: &Worktree, files: &[(&str, &str)]) {
        for (path, content) in files {
            let full = worktree.path.join(path);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(full, content).unwrap();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    #[test]
    fn branch_name_is_stable_and_short() {
        let fp = "3f9a0c1d2e4b5a6978";
        assert_eq!(branch_name("medic", fp), "medic/fix-3f9a0c1d2e4b");
        assert_eq!(branch_name("", fp), branch_name("medic", fp));
        assert_eq!(branch_name("bots/", "AB/../cd"), "bots/fix-abcd");
        assert!(git2::Reference::is_valid_name(&format!(
            "refs/heads/{}",
            branch_name("medic", "x y~z^")
        )));
    }

    #[test]
    fn a_worktree_is_isolated_and_reset_on_rerun() {
        let test = TestRepo::new(&[("src/lib.rs", "pub fn a() {}\n")]);
        // The user's uncommitted work must survive everything Medic does.
        test.write(&[("src/lib.rs", "pub fn a() { /* wip */ }\n")]);
        let checkout = test.checkout();
        let wt = checkout
            .create_worktree("HEAD", "medic/fix-abc", None)
            .unwrap();
        assert!(wt.path.ends_with(".git/medic-worktrees/medic/fix-abc"));
        assert_eq!(
            std::fs::read_to_string(wt.path.join("src/lib.rs")).unwrap(),
            "pub fn a() {}\n"
        );
        write_in(
            &wt,
            &[("src/lib.rs", "pub fn a() { 1; }\n"), ("new.txt", "n\n")],
        );
        let again = checkout
            .create_worktree("HEAD", "medic/fix-abc", None)
            .unwrap();
        assert_eq!(again, wt);
        assert_eq!(
            std::fs::read_to_string(wt.path.join("src/lib.rs")).unwrap(),
            "pub fn a() {}\n"
        );
        assert!(!wt.path.join("new.txt").exists());
        assert_eq!(
            std::fs::read_to_string(test.path().join("src/lib.rs")).unwrap(),
            "pub fn a() { /* wip */ }\n"
        );
        let user_head = test.repo.head().unwrap();
        assert!(!user_head.shorthand().unwrap().starts_with("medic"));
        assert_eq!(user_head.target(), Some(wt.base));
        assert!(diff(&wt).unwrap().is_empty());
        // A deleted folder is recreated, not an error.
        std::fs::remove_dir_all(&wt.path).unwrap();
        let third = checkout
            .create_worktree("HEAD", "medic/fix-abc", None)
            .unwrap();
        assert!(third.path.join("src/lib.rs").is_file());
    }

    #[test]
    fn a_worktree_in_a_given_folder_is_found_again_by_another_path_and_keeps_build_output() {
        let test = TestRepo::new(&[("a.txt", "a\n"), (".gitignore", "target/\n")]);
        let checkout = test.checkout();
        let place = tempfile::tempdir().unwrap();
        std::fs::create_dir(place.path().join("real")).unwrap();
        std::os::unix::fs::symlink(place.path().join("real"), place.path().join("link")).unwrap();
        let wt = checkout
            .create_worktree("HEAD", "medic/fix-dir", Some(&place.path().join("real/wt")))
            .unwrap();
        write_in(
            &wt,
            &[("target/debug/app", "binary"), ("scratch.txt", "s\n")],
        );
        let again = checkout
            .create_worktree("HEAD", "medic/fix-dir", Some(&place.path().join("link/wt")))
            .unwrap();
        // Reset, not recreated: ignored build output is kept, untracked files are gone.
        assert!(again.path.join("target/debug/app").is_file());
        assert!(!again.path.join("scratch.txt").exists());
        // A folder that is something else is refused rather than overwritten.
        std::fs::create_dir(place.path().join("other")).unwrap();
        let err = checkout
            .create_worktree("HEAD", "medic/fix-dir2", Some(&place.path().join("other")))
            .unwrap_err();
        assert!(
            err.to_string().contains("exists but is not the worktree"),
            "{err}"
        );
    }

    #[test]
    fn diff_counts_lines_includes_new_files_and_hashes_stably() {
        let test = TestRepo::new(&[("a.txt", "one\ntwo\nthree\n"), ("gone.txt", "x\n")]);
        let checkout = test.checkout();
        let wt = checkout
            .create_worktree("HEAD", "medic/fix-1", None)
            .unwrap();
        write_in(
            &wt,
            &[("a.txt", "one\n2\nthree\nfour\n"), ("dir/new.txt", "new\n")],
        );
        std::fs::remove_file(wt.path.join("gone.txt")).unwrap();
        let change = diff(&wt).unwrap();
        let files: Vec<(&str, &str, u64, u64)> = change
            .files
            .iter()
            .map(|f| (f.path.as_str(), f.status.as_str(), f.added, f.removed))
            .collect();
        assert_eq!(
            files,
            [
                ("a.txt", "modified", 2, 1),
                ("dir/new.txt", "added", 1, 0),
                ("gone.txt", "deleted", 0, 1)
            ]
        );
        assert_eq!((change.lines_added, change.lines_removed), (3, 2));
        assert!(
            change
                .diff
                .contains("+++ b/dir/new.txt\n@@ -0,0 +1 @@\n+new\n"),
            "{}",
            change.diff
        );
        assert!(change.diff.contains("-two\n+2\n"));
        assert_eq!(change.fix_hash.len(), 64);
        // The same edit in another worktree on another base hashes the same.
        test.commit("unrelated", &[("other.txt", "o\n")]);
        let wt2 = checkout
            .create_worktree("HEAD", "medic/fix-2", None)
            .unwrap();
        write_in(
            &wt2,
            &[("a.txt", "one\n2\nthree\nfour\n"), ("dir/new.txt", "new\n")],
        );
        std::fs::remove_file(wt2.path.join("gone.txt")).unwrap();
        assert_eq!(diff(&wt2).unwrap().fix_hash, change.fix_hash);
        write_in(&wt2, &[("dir/new.txt", "newer\n")]);
        assert_ne!(diff(&wt2).unwrap().fix_hash, change.fix_hash);
    }

    #[test]
    fn commit_folds_everything_into_one_commit_with_trailers() {
        let test = TestRepo::new(&[("a.txt", "a\n")]);
        let checkout = test.checkout();
        let wt = checkout
            .create_worktree("HEAD", "medic/fix-c", None)
            .unwrap();
        write_in(&wt, &[("a.txt", "b\n"), ("b.txt", "new\n")]);
        let change = diff(&wt).unwrap();
        let author = Signature {
            name: "medic[bot]".into(),
            email: "medic@example.com".into(),
        };
        let oid = commit(
            &wt,
            &author,
            "fix: revert the culprit\n",
            &[
                (FINGERPRINT_TRAILER, "abc123"),
                (FIX_TRAILER, &change.fix_hash),
            ],
        )
        .unwrap();
        let commit = test.repo.find_commit(oid).unwrap();
        assert_eq!(commit.parent_id(0).unwrap(), wt.base);
        let message = commit.message().unwrap();
        assert!(message.starts_with("fix: revert the culprit\n\nMedic-Fingerprint: abc123\n"));
        assert!(message.contains(&format!("Medic-Fix: {}", change.fix_hash)));
        assert_eq!(commit.author().name().unwrap(), "medic[bot]");
        assert_eq!(
            test.repo.refname_to_id("refs/heads/medic/fix-c").unwrap(),
            oid
        );
        // Still the same change against the base once committed.
        assert_eq!(diff(&wt).unwrap().fix_hash, change.fix_hash);
    }

    #[test]
    fn token_travels_in_the_environment_never_in_argv_or_debug() {
        let token = Token::new("x-access-token", "ghp_canaryCANARYcanary0000000000000000");
        let command = git_command(
            Path::new("."),
            &["fetch".into(), "origin".into()],
            Some(&token),
        );
        let args: Vec<String> = command
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert!(args.iter().all(|a| !a.contains("canary")));
        let env: Vec<(String, String)> = command
            .get_envs()
            .filter_map(|(k, v)| {
                Some((
                    k.to_string_lossy().into_owned(),
                    v?.to_string_lossy().into_owned(),
                ))
            })
            .collect();
        let header = env
            .iter()
            .find(|(k, _)| k == "GIT_CONFIG_VALUE_0")
            .map(|(_, v)| v.clone())
            .unwrap();
        assert_eq!(
            header,
            format!(
                "Authorization: Basic {}",
                base64(b"x-access-token:ghp_canaryCANARYcanary0000000000000000")
            )
        );
        assert!(!format!("{token:?}").contains("canary"));
        assert_eq!(base64(b"x-access-token:abc"), "eC1hY2Nlc3MtdG9rZW46YWJj");
        assert_eq!(base64(b"ab"), "YWI=");
    }

    fn git(dir: &Path, args: &[&str]) {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn push_fetch_and_a_human_push_is_detected() {
        let remote = tempfile::tempdir().unwrap();
        git(remote.path(), &["init", "--bare", "--quiet"]);
        let url = remote.path().to_string_lossy().into_owned();
        let test = TestRepo::new(&[("a.txt", "a\n")]);
        git(
            test.path(),
            &["push", "--quiet", &url, "HEAD:refs/heads/main"],
        );
        let checkout = test.checkout();
        let branch = branch_name("medic", "0123456789abcdef");
        let wt = checkout.create_worktree("HEAD", &branch, None).unwrap();
        assert_eq!(fetch(&checkout, &url, &branch, None).unwrap(), None);
        write_in(&wt, &[("a.txt", "fixed\n")]);
        let author = Signature {
            name: "medic[bot]".into(),
            email: "medic@example.com".into(),
        };
        let ours = commit(
            &wt,
            &author,
            "fix a",
            &[(FINGERPRINT_TRAILER, "0123456789abcdef")],
        )
        .unwrap();
        push(
            &wt,
            &url,
            &branch,
            None,
            PushMode::ForceWithLease { expected: None },
        )
        .unwrap();
        assert_eq!(fetch(&checkout, &url, &branch, None).unwrap(), Some(ours));
        let commits = checkout.remote_branch_commits(&branch, wt.base).unwrap();
        assert_eq!(commits.len(), 1);
        assert!(commits[0].is_medic);
        assert_eq!(commits[0].author, "medic[bot] <medic@example.com>");

        // A human clones the repository, commits on Medic's branch without the trailer, pushes.
        let human = tempfile::tempdir().unwrap();
        git(
            human.path(),
            &["clone", "--quiet", "--branch", &branch, &url, "."],
        );
        std::fs::write(human.path().join("a.txt"), "fixed better\n").unwrap();
        git(
            human.path(),
            &[
                "-c",
                "user.name=Human",
                "-c",
                "user.email=human@example.com",
                "commit",
                "--quiet",
                "-am",
                "tweak the fix",
            ],
        );
        git(human.path(), &["push", "--quiet", "origin", &branch]);

        let tip = fetch(&checkout, &url, &branch, None).unwrap().unwrap();
        assert_ne!(tip, ours);
        let commits = checkout.remote_branch_commits(&branch, wt.base).unwrap();
        assert_eq!(commits.len(), 2);
        assert!(!commits[0].is_medic, "the newest commit is the human's");
        assert_eq!(commits[0].author, "Human <human@example.com>");
        assert!(commits[1].is_medic);
        // The lease protects the human's work: Medic's stale view cannot overwrite it.
        let err = push(
            &wt,
            &url,
            &branch,
            None,
            PushMode::ForceWithLease {
                expected: Some(ours),
            },
        )
        .unwrap_err();
        assert!(matches!(err, Error::GitCli { .. }), "{err}");
        let err = push(&wt, &url, &branch, None, PushMode::FastForward).unwrap_err();
        assert!(
            err.to_string().starts_with("`git push --porcelain -- "),
            "{err}"
        );
        // Once the branch is deleted remotely, nothing is left to see.
        git(
            human.path(),
            &["push", "--quiet", "origin", &format!(":{branch}")],
        );
        assert_eq!(fetch(&checkout, &url, &branch, None).unwrap(), None);
        assert!(
            checkout
                .remote_branch_commits(&branch, wt.base)
                .unwrap()
                .is_empty()
        );
    }

    /// The first request of git's smart HTTP protocol carries the token as a header;
    /// the error git reports (a 404 here) never shows it.
    #[test]
    fn the_token_reaches_the_server_as_a_header_and_never_the_error() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = stream.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buf[..n]);
            }
            stream
                .write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                )
                .unwrap();
            String::from_utf8_lossy(&request).into_owned()
        });
        let test = TestRepo::new(&[("a", "a\n")]);
        let secret = "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";
        let token = Token::new("x-access-token", secret);
        let url = format!("http://127.0.0.1:{port}/acme/app.git");
        let err = fetch(&test.checkout(), &url, "medic/fix-1", Some(&token)).unwrap_err();
        let request = server.join().unwrap();
        assert!(
            request.starts_with("GET /acme/app.git/info/refs?service=git-upload-pack "),
            "{request}"
        );
        let expected = format!(
            "authorization: basic {}",
            base64(format!("x-access-token:{secret}").as_bytes())
        );
        assert!(
            request
                .to_ascii_lowercase()
                .contains(&expected.to_ascii_lowercase()),
            "{request}"
        );
        let message = err.to_string();
        assert!(
            !message.contains(secret) && !message.contains(&base64(secret.as_bytes())),
            "{message}"
        );
        assert!(message.contains("git fetch"), "{message}");
    }

    #[test]
    fn paths_outside_the_repository_are_recognised() {
        assert!(is_inside_repo("src/lib.rs"));
        assert!(is_inside_repo("./a"));
        for bad in ["", "/etc/passwd", "../x", "a/../../x", ".git/config"] {
            assert!(!is_inside_repo(bad), "{bad}");
        }
        assert_eq!(
            strip_userinfo("https://user:pw@github.com/o/r.git"),
            "https://github.com/o/r.git"
        );
    }
}
