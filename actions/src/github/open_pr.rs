//! `github.open-pr`: commit a fix, push its branch and open (or update) its pull request.
//!
//! Idempotent like Renovate. The branch is named after the failure's fingerprint, so a
//! second run for the same failure finds the same branch and pull request and updates
//! them instead of opening others. Medic stops touching a branch as soon as a commit
//! without its trailer appears there (a human took over). A pull request closed without
//! merging declines that very fix: the same fix (same hash) is not proposed again, a
//! different one is. Every write is recorded in the store, so that the pull request's
//! fate can be reported as the decision's outcome (`github.poll-outcomes`).

use async_trait::async_trait;
use chrono::Utc;
use medic_engine::action::{
    Action, ErrorKind, OutputDoc, Outputs, StepContext, StepError, StepOutcome,
};
use medic_engine::store::{PullRecord, PullState};
use medic_forge::github::{
    AutoMergeOutcome, DEFAULT_API_URL, DEFAULT_TOKEN_ENV, GitHub, MergeMethod, NewPull,
    PullRequest, PullUpdate,
};
use medic_remediate::git::{self, Checkout, FINGERPRINT_TRAILER, FIX_TRAILER, PushMode, Worktree};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::body::{BodyInput, marked_fix_hash, render};
use super::{client, split_repository, step_error};

/// The `github.open-pr` action.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenPr;

/// The fix to propose: the `generate-fix` step's outputs, as they are.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct FixInput {
    /// The worktree holding the fix.
    pub worktree: String,
    /// The fix branch (`medic/fix-…`).
    pub branch: String,
    /// The commit the fix is based on.
    pub base_sha: String,
    /// The hash of the fix's diff.
    pub fix_hash: String,
    /// One line on what the fix does.
    #[serde(default)]
    pub summary: Option<String>,
    /// How it was made (`revert`, `recipe`…).
    #[serde(default)]
    pub strategy: Option<String>,
    /// The changed files, as generate-fix lists them (`path`, `added`, `removed`).
    #[serde(default)]
    pub files: Vec<Value>,
    /// Lines added.
    #[serde(default)]
    pub lines_added: u64,
    /// Lines removed.
    #[serde(default)]
    pub lines_removed: u64,
}

/// Who Medic's commits are by.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Author {
    /// Name.
    pub name: String,
    /// E-mail address.
    pub email: String,
}

/// How an automatic merge merges.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Merge {
    /// A merge commit.
    Merge,
    /// One squashed commit.
    #[default]
    Squash,
    /// Rebased commits.
    Rebase,
}

/// `with:` of a `github.open-pr` step.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenPrConfig {
    /// The repository on GitHub, `owner/name`.
    pub repository: String,
    /// The fix: `{{ steps.<generate-fix step>.outputs }}` (worktree, branch, base_sha,
    /// fix_hash, summary, strategy).
    pub fix: FixInput,
    /// The branch the pull request merges into (default `main`).
    #[serde(default)]
    pub base: Option<String>,
    /// Where the branch is pushed: a remote name of the checkout or a URL (default
    /// `origin`).
    #[serde(default)]
    pub remote: Option<String>,
    /// GitHub's API (default https://api.github.com; Enterprise: https://HOST/api/v3).
    #[serde(default)]
    pub api_url: Option<String>,
    /// The environment variable (usually a workflow secret) holding the token for the API
    /// and for pushing over HTTPS (default `GITHUB_TOKEN`).
    #[serde(default)]
    pub token_env: Option<String>,
    /// The pull request's title (default `medic: <the fix's summary>`).
    #[serde(default)]
    pub title: Option<String>,
    /// The analyze step's outputs, shown in the body (summary and key lines).
    #[serde(default)]
    pub analysis: Option<Value>,
    /// The decide step's outputs: the body shows every factor, and auto-merge needs
    /// the outcome `auto_fix`.
    #[serde(default)]
    pub decision: Option<Value>,
    /// The review step's outputs, shown in the body.
    #[serde(default)]
    pub review: Option<Value>,
    /// Labels to add.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Users asked to review.
    #[serde(default)]
    pub reviewers: Vec<String>,
    /// Teams (slugs) asked to review.
    #[serde(default)]
    pub team_reviewers: Vec<String>,
    /// Open it as a draft.
    #[serde(default)]
    pub draft: bool,
    /// Merge automatically when the decision is `auto_fix` (the policy's guards have
    /// allowed it): GitHub's auto-merge, or a merge once every check passed.
    #[serde(default)]
    pub auto_merge: bool,
    /// How to merge: merge, squash (default) or rebase.
    #[serde(default)]
    pub merge_method: Merge,
    /// Author of Medic's commits (default `medic[bot] <medic[bot]@users.noreply.github.com>`).
    #[serde(default)]
    pub author: Option<Author>,
}

/// What this run did with the pull request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Opened,
    Updated,
    Unchanged,
    HumanPush,
    DeclinedBefore,
    MergedBefore,
    DryRun,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Opened => "opened",
            Status::Updated => "updated",
            Status::Unchanged => "unchanged",
            Status::HumanPush => "human_push",
            Status::DeclinedBefore => "declined_before",
            Status::MergedBefore => "merged_before",
            Status::DryRun => "dry_run",
        }
    }
}

fn git_error(e: medic_remediate::Error) -> StepError {
    let kind = match e {
        medic_remediate::Error::Invalid(_) => ErrorKind::Config,
        _ => ErrorKind::Failed,
    };
    StepError::new(kind, e.to_string())
}

fn config(message: impl Into<String>) -> StepError {
    StepError::new(ErrorKind::Config, message)
}

/// A closed pull request that was not merged.
fn declined(pull: &PullRequest) -> bool {
    pull.closed_at.is_some() && pull.merged_at.is_none()
}

fn is_open(pull: &PullRequest) -> bool {
    pull.closed_at.is_none() && pull.merged_at.is_none()
}

#[async_trait]
impl Action for OpenPr {
    type Config = OpenPrConfig;
    const NAME: &'static str = "github.open-pr";
    const DESCRIPTION: &'static str = "Commits a fix in its worktree (with the failure's \
        fingerprint and the fix's hash as trailers), pushes its branch and opens a pull \
        request whose body carries the analysis, the fix, its review, the decision with every \
        factor and how to reject it. Idempotent: the pull request is found by its branch, so \
        a second run for the same failure updates it instead of opening another; once a \
        human pushes to the branch Medic stops touching it; a pull request closed without \
        merging means that same fix is not proposed again. With `auto_merge` and the \
        decision `auto_fix`, GitHub merges it when its checks pass. The pull request is \
        recorded for `github.poll-outcomes`.";
    const EXAMPLE: &'static str = r#"open_pr:
  uses: github.open-pr
  needs: [review]
  if: "{{ steps.review.outputs.passed }}"
  with:
    repository: acme/api
    fix: "{{ steps.fix.outputs }}"
    analysis: "{{ steps.analyze.outputs }}"
    decision: "{{ steps.decide.outputs }}"
    review: "{{ steps.review.outputs }}"
    labels: [medic]
    auto_merge: true
"#;
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc {
            name: "status",
            kind: "string",
            description: "opened, updated, unchanged, human_push (a human pushed to the branch: left alone), declined_before (this fix was closed unmerged before), merged_before (this fix was merged and the failure came back) or dry_run.",
        },
        OutputDoc {
            name: "number",
            kind: "number",
            description: "The pull request's number (null when none was opened).",
        },
        OutputDoc {
            name: "url",
            kind: "string",
            description: "Its web address.",
        },
        OutputDoc {
            name: "branch",
            kind: "string",
            description: "The fix branch.",
        },
        OutputDoc {
            name: "commit",
            kind: "string",
            description: "The commit pushed (null when nothing was pushed).",
        },
        OutputDoc {
            name: "auto_merge",
            kind: "string",
            description: "off, enabled (GitHub merges after checks), merged, waiting_for_checks or not_allowed.",
        },
    ];

    async fn run(&self, config: OpenPrConfig, ctx: &StepContext) -> Result<StepOutcome, StepError> {
        let (owner, repo) = split_repository(&config.repository)?;
        let fix = &config.fix;
        let base_branch = config.base.clone().unwrap_or_else(|| "main".into());
        let remote = config.remote.clone().unwrap_or_else(|| "origin".into());
        let api_url = config
            .api_url
            .clone()
            .unwrap_or_else(|| DEFAULT_API_URL.into());
        let token_env = config
            .token_env
            .clone()
            .unwrap_or_else(|| DEFAULT_TOKEN_ENV.into());
        let fingerprint = config
            .analysis
            .as_ref()
            .and_then(|a| a.get("fingerprint"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let decision_outcome = config
            .decision
            .as_ref()
            .and_then(|d| d.get("outcome"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let summary = fix.summary.clone().unwrap_or_else(|| "fix".into());
        let title = config
            .title
            .clone()
            .unwrap_or_else(|| format!("medic: {summary}"));
        let mut outputs = Outputs::new();
        outputs.insert("branch".into(), json!(fix.branch));
        outputs.insert("number".into(), Value::Null);
        outputs.insert("url".into(), Value::Null);
        outputs.insert("commit".into(), Value::Null);
        outputs.insert("auto_merge".into(), json!("off"));

        if ctx.dry_run {
            ctx.log(format!(
                "dry run: would commit the fix in {} on {}, push it to {remote} and open a pull request \"{title}\" on {}/{} against {base_branch}",
                fix.worktree, fix.branch, owner, repo
            ));
            outputs.insert("status".into(), json!(Status::DryRun.as_str()));
            return Ok(StepOutcome::Success(outputs));
        }

        let github = client(Some(&api_url), Some(&token_env), ctx)?;
        let token_value = ctx
            .env
            .get(&token_env)
            .cloned()
            .filter(|t| !t.trim().is_empty());
        let git_token = token_value
            .as_ref()
            .map(|t| git::Token::new("x-access-token", t.clone()));

        // What GitHub already has for this branch.
        let pulls = github
            .find_pulls_by_head(&owner, &repo, &fix.branch)
            .await
            .map_err(step_error)?;
        if pulls.iter().any(|p| {
            declined(p) && p.body.as_deref().and_then(marked_fix_hash) == Some(&fix.fix_hash)
        }) {
            ctx.log(format!(
                "this fix ({}) was closed without merging before: not proposed again",
                short(&fix.fix_hash)
            ));
            outputs.insert("status".into(), json!(Status::DeclinedBefore.as_str()));
            return Ok(StepOutcome::Success(outputs));
        }
        if let Some(merged) = pulls.iter().find(|p| {
            p.merged_at.is_some()
                && p.body.as_deref().and_then(marked_fix_hash) == Some(&fix.fix_hash)
        }) {
            // The failure came back after this very fix was merged: proposing it again
            // cannot help (and GitHub would refuse a pull request with nothing new).
            ctx.log(format!(
                "this fix ({}) was merged before (#{}) and the failure came back: not proposed again",
                short(&fix.fix_hash),
                merged.number
            ));
            outputs.insert("status".into(), json!(Status::MergedBefore.as_str()));
            outputs.insert("number".into(), json!(merged.number));
            outputs.insert("url".into(), json!(html_url(merged)));
            return Ok(StepOutcome::Success(outputs));
        }
        let open = pulls.iter().find(|p| is_open(p)).cloned();

        // What the remote branch holds: a human's commit stops everything.
        let worktree_path = ctx.base_dir.join(&fix.worktree);
        let base = git2_oid(&fix.base_sha)?;
        let worktree = Worktree {
            path: worktree_path.clone(),
            branch: fix.branch.clone(),
            base,
        };
        let (remote_head, remote_commits) = {
            let path = worktree_path.clone();
            let remote = remote.clone();
            let branch = fix.branch.clone();
            let token = git_token.clone();
            blocking(move || {
                let checkout = Checkout::open(&path)?;
                let head = git::fetch(&checkout, &remote, &branch, token.as_ref())?;
                let commits = checkout.remote_branch_commits(&branch, base)?;
                Ok((head, commits))
            })
            .await?
        };
        if let Some(human) = remote_commits.iter().find(|c| !c.is_medic) {
            ctx.log(format!(
                "{} has a commit Medic did not make ({} by {}): the branch is left to humans",
                fix.branch,
                short(&human.sha),
                human.author
            ));
            outputs.insert("status".into(), json!(Status::HumanPush.as_str()));
            if let Some(pull) = &open {
                outputs.insert("number".into(), json!(pull.number));
                outputs.insert("url".into(), json!(html_url(pull)));
            }
            return Ok(StepOutcome::Success(outputs));
        }
        let already_pushed = remote_commits.first().is_some_and(|c| {
            c.message
                .lines()
                .any(|l| l.trim() == format!("{FIX_TRAILER}: {}", fix.fix_hash))
        });

        // Commit and push, unless the remote already holds this very fix.
        let mut pushed = None;
        if !already_pushed {
            let author = config.author.clone().unwrap_or(Author {
                name: "medic[bot]".into(),
                email: "medic[bot]@users.noreply.github.com".into(),
            });
            let message = ctx
                .masker
                .mask(&format!(
                    "medic: {summary}\n\nStrategy: {}. Proposed by Medic for the failure {}.",
                    fix.strategy.as_deref().unwrap_or("unknown"),
                    fingerprint.as_deref().unwrap_or("without a fingerprint")
                ))
                .into_owned();
            let fp = fingerprint.clone().unwrap_or_else(|| "unknown".into());
            let hash = fix.fix_hash.clone();
            let push_to = remote.clone();
            let token = git_token.clone();
            let worktree = worktree.clone();
            let commit = blocking(move || {
                let oid = git::commit(
                    &worktree,
                    &git::Signature {
                        name: author.name,
                        email: author.email,
                    },
                    &message,
                    &[(FINGERPRINT_TRAILER, &fp), (FIX_TRAILER, &hash)],
                )?;
                // Overwrite only Medic's own earlier push: the lease is what was fetched.
                git::push(
                    &worktree,
                    &push_to,
                    &worktree.branch,
                    token.as_ref(),
                    PushMode::ForceWithLease {
                        expected: remote_head,
                    },
                )?;
                Ok(oid)
            })
            .await?;
            ctx.log(format!(
                "pushed {} to {remote} as {}",
                short(&commit.to_string()),
                fix.branch
            ));
            pushed = Some(commit.to_string());
        }
        outputs.insert("commit".into(), json!(pushed));

        let body = ctx
            .masker
            .mask(&render(&BodyInput {
                analysis: config.analysis.as_ref(),
                fix: Some(&fix_value(fix)),
                review: config.review.as_ref(),
                decision: config.decision.as_ref(),
                fingerprint: fingerprint.as_deref(),
                fix_hash: Some(&fix.fix_hash),
            }))
            .into_owned();
        let title = ctx.masker.mask(&title).into_owned();
        let (pull, status) = match open {
            Some(pull) => {
                let updated = github
                    .update_pull(
                        &owner,
                        &repo,
                        pull.number,
                        &PullUpdate {
                            title: Some(title.clone()),
                            body: Some(body.clone()),
                            ..PullUpdate::default()
                        },
                    )
                    .await
                    .map_err(step_error)?;
                if pushed.is_some() {
                    github
                        .comment(
                            &owner,
                            &repo,
                            pull.number,
                            &format!(
                                "Medic updated this pull request with a new fix ({}) for the same failure.",
                                short(&fix.fix_hash)
                            ),
                        )
                        .await
                        .map_err(step_error)?;
                    (updated, Status::Updated)
                } else {
                    (updated, Status::Unchanged)
                }
            }
            None => {
                let pull = github
                    .create_pull(
                        &owner,
                        &repo,
                        &NewPull {
                            title,
                            head: fix.branch.clone(),
                            base: base_branch.clone(),
                            body: Some(body),
                            draft: config.draft,
                            maintainer_can_modify: true,
                        },
                    )
                    .await
                    .map_err(step_error)?;
                if !config.labels.is_empty() {
                    github
                        .add_labels(&owner, &repo, pull.number, &config.labels)
                        .await
                        .map_err(step_error)?;
                }
                if !config.reviewers.is_empty() || !config.team_reviewers.is_empty() {
                    github
                        .request_reviewers(
                            &owner,
                            &repo,
                            pull.number,
                            &config.reviewers,
                            &config.team_reviewers,
                        )
                        .await
                        .map_err(step_error)?;
                }
                (pull, Status::Opened)
            }
        };
        ctx.log(format!(
            "pull request #{} {}: {}",
            pull.number,
            status.as_str(),
            html_url(&pull)
        ));
        outputs.insert("status".into(), json!(status.as_str()));
        outputs.insert("number".into(), json!(pull.number));
        outputs.insert("url".into(), json!(html_url(&pull)));

        if config.auto_merge && decision_outcome == "auto_fix" {
            let method = match config.merge_method {
                Merge::Merge => MergeMethod::Merge,
                Merge::Squash => MergeMethod::Squash,
                Merge::Rebase => MergeMethod::Rebase,
            };
            let state =
                auto_merge(&github, &owner, &repo, &pull, method, pushed.as_deref()).await?;
            ctx.log(format!("auto-merge: {state}"));
            outputs.insert("auto_merge".into(), json!(state));
        }

        if let Some(store) = &ctx.store {
            let now = Utc::now();
            store
                .upsert_pull(&PullRecord {
                    api_url: api_url.clone(),
                    repository: config.repository.clone(),
                    number: pull.number as i64,
                    url: html_url(&pull),
                    branch: fix.branch.clone(),
                    fingerprint: fingerprint.clone(),
                    fix_hash: Some(fix.fix_hash.clone()),
                    decision_id: config
                        .decision
                        .as_ref()
                        .and_then(|d| d.get("decision_id"))
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    run_id: Some(ctx.run_id.clone()),
                    state: PullState::Open,
                    opened_at: pull.created_at.unwrap_or(now),
                    updated_at: now,
                    resolved_at: None,
                })
                .await
                .map_err(|e| StepError::new(ErrorKind::Internal, e.to_string()))?;
        }
        Ok(StepOutcome::Success(outputs))
    }
}

/// Ask GitHub to merge when checks pass; where the repository does not allow that,
/// merge now if every check already passed.
async fn auto_merge(
    github: &GitHub,
    owner: &str,
    repo: &str,
    pull: &PullRequest,
    method: MergeMethod,
    sha: Option<&str>,
) -> Result<&'static str, StepError> {
    let merge_now = match github
        .enable_auto_merge(pull, method)
        .await
        .map_err(step_error)?
    {
        AutoMergeOutcome::Enabled { .. } => return Ok("enabled"),
        AutoMergeOutcome::AlreadyMergeable { .. } => true,
        AutoMergeOutcome::NotAllowed { .. } => {
            let head = sha.unwrap_or(&pull.head.sha);
            let checks = github.checks(owner, repo, head).await.map_err(step_error)?;
            if !checks.all_green() {
                return Ok(if checks.failed.is_empty() {
                    "waiting_for_checks"
                } else {
                    "not_allowed"
                });
            }
            true
        }
    };
    if merge_now {
        let merged = github
            .merge_pull(owner, repo, pull.number, method, sha)
            .await
            .map_err(step_error)?;
        if merged.merged {
            return Ok("merged");
        }
    }
    Ok("not_allowed")
}

/// The fix as the body shows it: generate-fix already measured the change.
fn fix_value(fix: &FixInput) -> Value {
    json!({
        "strategy": fix.strategy,
        "summary": fix.summary,
        "branch": fix.branch,
        "files": fix.files,
        "lines_added": fix.lines_added,
        "lines_removed": fix.lines_removed,
    })
}

fn html_url(pull: &PullRequest) -> String {
    pull.html_url
        .as_ref()
        .map(|u| u.to_string())
        .unwrap_or_else(|| pull.url.clone())
}

fn git2_oid(sha: &str) -> Result<git2::Oid, StepError> {
    git2::Oid::from_str(sha)
        .map_err(|_| config(format!("`fix.base_sha` is not a commit id: `{sha}`")))
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

/// Run blocking git work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, medic_remediate::Error> + Send + 'static,
) -> Result<T, StepError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StepError::new(ErrorKind::Internal, format!("git task failed: {e}")))?
        .map_err(git_error)
}
