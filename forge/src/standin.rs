//! A local stand-in of GitHub's REST API (and the one GraphQL mutation Medic uses), for
//! the integration tests and for `medic demo`, which runs Medic's whole pull-request
//! flow offline against it.
//!
//! It keeps repositories, pull requests, comments, labels, reviewers and reruns in
//! memory and answers with the shapes GitHub documents: each body is one of GitHub's
//! own examples (`forge/fixtures/`, see its README) with the number, title, branches,
//! state and URLs replaced, so octocrab and any other GitHub client can read it. It
//! behaves like GitHub where Medic depends on it: a second open pull request for one
//! head is refused with 422 "A pull request already exists for owner:branch", unknown
//! pull requests are 404, a required token that is missing or wrong is 401, a merge of
//! a closed pull request is 405 and a merge with a stale `sha` is 409. Every call is
//! recorded (method, path, query, body, status; never a header, so never a token),
//! optionally to a JSONL file as well. The same API is served at `/` (api.github.com)
//! and `/api/v3` (GitHub Enterprise), with GraphQL at `/graphql` and `/api/graphql`.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const PULL_FIXTURE: &str = include_str!("../fixtures/pulls.create.201.json");
const PULL_LIST_FIXTURE: &str = include_str!("../fixtures/pulls.list.200.json");
const COMMENT_FIXTURE: &str = include_str!("../fixtures/issues.create-comment.201.json");
const MERGE_FIXTURE: &str = include_str!("../fixtures/pulls.merge.200.json");
const REPO_FIXTURE: &str = include_str!("../fixtures/repos.get.200.json");
const CHECKS_FIXTURE: &str = include_str!("../fixtures/checks.list-for-ref.200.octocrab.json");
const DOCS: &str = "https://docs.github.com/rest";

/// How the stand-in behaves.
#[derive(Debug, Clone)]
pub struct StandInOptions {
    /// When set, every request must carry `Authorization: Bearer <token>` (or `token
    /// <token>`); others get GitHub's 401 "Bad credentials".
    pub token: Option<String>,
    /// The conclusion of every check run (`success`, `failure`…); `None` means they are
    /// still in progress.
    pub check_conclusion: Option<String>,
    /// Whether repositories allow auto-merge.
    pub allow_auto_merge: bool,
    /// Also append every call, as one JSON line, to this file.
    pub record_to: Option<PathBuf>,
}

impl Default for StandInOptions {
    fn default() -> Self {
        StandInOptions {
            token: None,
            check_conclusion: Some("success".into()),
            allow_auto_merge: true,
            record_to: None,
        }
    }
}

/// One request the stand-in answered.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordedCall {
    /// `GET`, `POST`…
    pub method: String,
    /// The path, without `/api/v3`.
    pub path: String,
    /// Query parameters, decoded.
    pub query: BTreeMap<String, String>,
    /// The JSON body (`null` when there was none or it was not JSON).
    pub body: Value,
    /// The status answered.
    pub status: u16,
}

/// A pull request as the stand-in holds it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StandInPull {
    /// Base repository owner.
    pub owner: String,
    /// Base repository name.
    pub repo: String,
    /// Its number.
    pub number: u64,
    /// Its title.
    pub title: String,
    /// Its description.
    pub body: Option<String>,
    /// The owner of the head branch.
    pub head_owner: String,
    /// The head branch.
    pub head: String,
    /// The head commit.
    pub head_sha: String,
    /// The base branch.
    pub base: String,
    /// `open` or `closed`.
    pub state: String,
    /// Opened as a draft.
    pub draft: bool,
    /// Whether maintainers may push to the head.
    pub maintainer_can_modify: bool,
    /// When it was merged.
    pub merged_at: Option<String>,
    /// When it was closed (merged or not).
    pub closed_at: Option<String>,
    /// The merge commit.
    pub merge_commit_sha: Option<String>,
    /// Its labels.
    pub labels: Vec<String>,
    /// Users asked to review.
    pub reviewers: Vec<String>,
    /// Teams asked to review.
    pub team_reviewers: Vec<String>,
    /// The auto-merge method, once enabled (`SQUASH`…).
    pub auto_merge: Option<String>,
    /// Comments posted on it.
    pub comments: Vec<String>,
    created_at: String,
    updated_at: String,
}

#[derive(Debug, Default)]
struct Inner {
    base_url: String,
    options: StandInOptions,
    pulls: Vec<StandInPull>,
    comment_ids: u64,
    calls: Vec<RecordedCall>,
    record: Option<std::fs::File>,
}

type Shared = Arc<Mutex<Inner>>;

/// The stand-in server.
#[derive(Debug)]
pub struct StandIn;

impl StandIn {
    /// Serves with default options on `addr` (port 0 picks a free port).
    pub async fn start(addr: SocketAddr) -> std::io::Result<StandInHandle> {
        StandIn::start_with(addr, StandInOptions::default()).await
    }

    /// Serves with `options` on `addr`.
    pub async fn start_with(
        addr: SocketAddr,
        options: StandInOptions,
    ) -> std::io::Result<StandInHandle> {
        let record = match &options.record_to {
            Some(path) => Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?,
            ),
            None => None,
        };
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let url = format!("http://{}", listener.local_addr()?);
        let state: Shared = Arc::new(Mutex::new(Inner {
            base_url: url.clone(),
            options,
            record,
            ..Inner::default()
        }));
        let (stop, stopped) = oneshot::channel::<()>();
        let app = router(state.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(StandInHandle {
            url,
            state,
            stop: Some(stop),
            task: Some(task),
        })
    }
}

/// The stand-in's routes, for serving or for `tower::ServiceExt::oneshot`.
fn router(state: Shared) -> Router {
    Router::new().fallback(handle).with_state(state)
}

/// A running stand-in. Dropping it stops the server.
#[derive(Debug)]
pub struct StandInHandle {
    url: String,
    state: Shared,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl StandInHandle {
    /// The base URL to give a client, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every call answered so far, oldest first.
    pub fn calls(&self) -> Vec<RecordedCall> {
        self.lock().calls.clone()
    }

    /// Every pull request, in the order they were opened.
    pub fn pulls(&self) -> Vec<StandInPull> {
        self.lock().pulls.clone()
    }

    /// Merges a pull request as if a human pressed the button; false when there is no
    /// such open pull request.
    pub fn merge_pull(&self, owner: &str, repo: &str, number: u64) -> bool {
        let mut inner = self.lock();
        match find_pull(&mut inner.pulls, owner, repo, number) {
            Some(pull) if pull.state == "open" => {
                merge(pull);
                true
            }
            _ => false,
        }
    }

    /// Closes a pull request without merging; false when there is no such open one.
    pub fn close_pull(&self, owner: &str, repo: &str, number: u64) -> bool {
        let mut inner = self.lock();
        match find_pull(&mut inner.pulls, owner, repo, number) {
            Some(pull) if pull.state == "open" => {
                let now = now();
                pull.state = "closed".into();
                pull.closed_at = Some(now.clone());
                pull.updated_at = now;
                true
            }
            _ => false,
        }
    }

    /// Sets the conclusion of every check run from now on (`None`: in progress).
    pub fn set_check_conclusion(&self, conclusion: Option<&str>) {
        self.lock().options.check_conclusion = conclusion.map(str::to_string);
    }

    /// Stops the server and waits for it to finish.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for StandInHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn find_pull<'a>(
    pulls: &'a mut [StandInPull],
    owner: &str,
    repo: &str,
    number: u64,
) -> Option<&'a mut StandInPull> {
    pulls
        .iter_mut()
        .find(|p| p.owner == owner && p.repo == repo && p.number == number)
}

fn merge(pull: &mut StandInPull) {
    let now = now();
    pull.state = "closed".into();
    pull.merged_at = Some(now.clone());
    pull.closed_at = Some(now.clone());
    pull.updated_at = now;
    pull.merge_commit_sha = Some(fake_sha(&format!(
        "merge {}/{}#{}",
        pull.owner, pull.repo, pull.number
    )));
}

/// A stable 40-hex "commit id" for a name (FNV-1a, widened): the stand-in has no git.
fn fake_sha(seed: &str) -> String {
    let mut out = String::with_capacity(40);
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for round in 0u8..3 {
        for byte in seed.bytes().chain([round]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        out.push_str(&format!("{hash:016x}"));
    }
    out.truncate(40);
    out
}

fn node_id(pull: &StandInPull) -> String {
    format!("PR_standin_{}_{}_{}", pull.owner, pull.repo, pull.number)
}

type Answer = (StatusCode, Value);

fn error(status: StatusCode, message: &str) -> Answer {
    (
        status,
        json!({ "message": message, "documentation_url": DOCS }),
    )
}

fn not_found() -> Answer {
    error(StatusCode::NOT_FOUND, "Not Found")
}

async fn handle(
    State(state): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body: Value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).unwrap_or(Value::Null)
    };
    let raw_path = uri.path();
    let path = raw_path
        .strip_prefix("/api/v3")
        .filter(|p| p.starts_with('/'))
        .or_else(|| raw_path.strip_prefix("/api").filter(|p| *p == "/graphql"))
        .unwrap_or(raw_path)
        .to_string();
    let query = parse_query(uri.query().unwrap_or(""));
    let mut inner = state.lock().unwrap_or_else(|e| e.into_inner());
    let (status, answer) = if authorized(&inner.options, &headers) {
        route(&mut inner, &method, &path, &query, &body)
    } else {
        error(StatusCode::UNAUTHORIZED, "Bad credentials")
    };
    let call = RecordedCall {
        method: method.to_string(),
        path,
        query,
        body,
        status: status.as_u16(),
    };
    if let Some(file) = inner.record.as_mut()
        && let Ok(line) = serde_json::to_string(&call)
    {
        // A failed write loses one line of a debugging aid; the answer still goes out.
        let _ = writeln!(file, "{line}");
    }
    inner.calls.push(call);
    (status, axum::Json(answer)).into_response()
}

fn authorized(options: &StandInOptions, headers: &HeaderMap) -> bool {
    let Some(token) = &options.token else {
        return true;
    };
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    given
        .strip_prefix("Bearer ")
        .or_else(|| given.strip_prefix("token "))
        .is_some_and(|t| t == token)
}

fn route(
    inner: &mut Inner,
    method: &Method,
    path: &str,
    query: &BTreeMap<String, String>,
    body: &Value,
) -> Answer {
    let segments: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(decode)
        .collect();
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    let number = |s: &str| s.parse::<u64>().ok();
    match (method.as_str(), segs.as_slice()) {
        ("POST", ["graphql"]) => graphql(inner, body),
        ("GET", ["repos", o, r]) => (
            StatusCode::OK,
            repository(&inner.base_url, o, r, inner.options.allow_auto_merge),
        ),
        ("GET", ["repos", o, r, "pulls"]) => list_pulls(inner, o, r, query),
        ("POST", ["repos", o, r, "pulls"]) => create_pull(inner, o, r, body),
        ("GET", ["repos", o, r, "pulls", n]) => match number(n) {
            Some(n) => with_pull(inner, o, r, n, |_, _| Ok(())),
            None => not_found(),
        },
        ("PATCH", ["repos", o, r, "pulls", n]) => match number(n) {
            Some(n) => with_pull(inner, o, r, n, |pull, _| update_pull(pull, body)),
            None => not_found(),
        },
        ("PUT", ["repos", o, r, "pulls", n, "merge"]) => match number(n) {
            Some(n) => merge_pull(inner, o, r, n, body),
            None => not_found(),
        },
        ("POST", ["repos", o, r, "pulls", n, "requested_reviewers"]) => match number(n) {
            Some(n) => {
                let (status, pull) = with_pull(inner, o, r, n, |pull, _| {
                    pull.reviewers.extend(strings(&body["reviewers"]));
                    pull.team_reviewers.extend(strings(&body["team_reviewers"]));
                    pull.reviewers.dedup();
                    pull.team_reviewers.dedup();
                    Ok(())
                });
                // GitHub answers 201 Created with the pull request.
                (
                    if status == StatusCode::OK {
                        StatusCode::CREATED
                    } else {
                        status
                    },
                    pull,
                )
            }
            None => not_found(),
        },
        ("POST", ["repos", o, r, "issues", n, "labels"]) => match number(n) {
            Some(n) => labels(inner, o, r, n, body),
            None => not_found(),
        },
        ("POST", ["repos", o, r, "issues", n, "comments"]) => match number(n) {
            Some(n) => comment(inner, o, r, n, body),
            None => not_found(),
        },
        ("POST", ["repos", _, _, "actions", "runs", id, "rerun-failed-jobs"]) => match number(id) {
            Some(_) => (StatusCode::CREATED, json!({})),
            None => not_found(),
        },
        ("GET", ["repos", o, r, "commits", git_ref, "check-runs"]) => {
            (StatusCode::OK, check_runs(inner, o, r, git_ref))
        }
        _ => not_found(),
    }
}

/// A fixture's text made to describe `owner/repo` on this server.
fn localize(fixture: &str, base_url: &str, owner: &str, repo: &str) -> String {
    fixture
        .replace("octocat/Hello-World", &format!("{owner}/{repo}"))
        .replace("https://api.github.com", base_url)
        .replace("https://github.com", base_url)
}

fn parsed(text: &str) -> Value {
    // The fixtures are embedded and checked by a test: they always parse.
    serde_json::from_str(text).unwrap_or(Value::Null)
}

fn repository(base_url: &str, owner: &str, repo: &str, allow_auto_merge: bool) -> Value {
    let mut value = parsed(&localize(REPO_FIXTURE, base_url, owner, repo));
    value["name"] = json!(repo);
    value["full_name"] = json!(format!("{owner}/{repo}"));
    value["owner"]["login"] = json!(owner);
    value["default_branch"] = json!("main");
    value["allow_auto_merge"] = json!(allow_auto_merge);
    value
}

/// A pull request rendered from GitHub's example: `full` is the single-PR shape
/// (create, get, update), otherwise the list item shape.
fn render_pull(base_url: &str, pull: &StandInPull, full: bool) -> Value {
    static TEMPLATES: OnceLock<(String, String)> = OnceLock::new();
    let (single, item) = TEMPLATES.get_or_init(|| {
        let list = parsed(PULL_LIST_FIXTURE);
        (PULL_FIXTURE.to_string(), list[0].to_string())
    });
    let template = if full { single } else { item };
    let text = localize(template, base_url, &pull.owner, &pull.repo)
        .replace("/1347", &format!("/{}", pull.number));
    let mut v = parsed(&text);
    let user = v["user"].clone();
    let label_template = v["labels"][0].clone();
    let team_template = v["requested_teams"][0].clone();
    v["id"] = json!(pull.number + 1_000_000);
    v["node_id"] = json!(node_id(pull));
    v["number"] = json!(pull.number);
    v["state"] = json!(pull.state);
    v["title"] = json!(pull.title);
    v["body"] = json!(pull.body);
    v["draft"] = json!(pull.draft);
    v["locked"] = json!(false);
    v["created_at"] = json!(pull.created_at);
    v["updated_at"] = json!(pull.updated_at);
    v["closed_at"] = json!(pull.closed_at);
    v["merged_at"] = json!(pull.merged_at);
    v["merge_commit_sha"] = json!(pull.merge_commit_sha);
    v["milestone"] = Value::Null;
    v["assignee"] = Value::Null;
    v["assignees"] = json!([]);
    v["labels"] = Value::Array(
        pull.labels
            .iter()
            .map(|name| label(&label_template, base_url, pull, name))
            .collect(),
    );
    v["requested_reviewers"] = Value::Array(
        pull.reviewers
            .iter()
            .map(|login| {
                let mut u = user.clone();
                u["login"] = json!(login);
                u
            })
            .collect(),
    );
    v["requested_teams"] = Value::Array(
        pull.team_reviewers
            .iter()
            .map(|slug| {
                let mut t = team_template.clone();
                t["slug"] = json!(slug);
                t["name"] = json!(slug);
                t
            })
            .collect(),
    );
    v["auto_merge"] = match &pull.auto_merge {
        Some(method) => json!({
            "enabled_by": user,
            "merge_method": method.to_ascii_lowercase(),
            "commit_title": pull.title,
            "commit_message": "",
        }),
        None => Value::Null,
    };
    v["head"]["label"] = json!(format!("{}:{}", pull.head_owner, pull.head));
    v["head"]["ref"] = json!(pull.head);
    v["head"]["sha"] = json!(pull.head_sha);
    v["head"]["user"]["login"] = json!(pull.head_owner);
    v["base"]["label"] = json!(format!("{}:{}", pull.owner, pull.base));
    v["base"]["ref"] = json!(pull.base);
    v["base"]["sha"] = json!(fake_sha(&format!(
        "{}/{}:{}",
        pull.owner, pull.repo, pull.base
    )));
    v["base"]["user"]["login"] = json!(pull.owner);
    for side in ["head", "base"] {
        let owner = if side == "head" {
            &pull.head_owner
        } else {
            &pull.owner
        };
        if v[side]["repo"].is_object() {
            v[side]["repo"]["name"] = json!(pull.repo);
            v[side]["repo"]["full_name"] = json!(format!("{owner}/{}", pull.repo));
            v[side]["repo"]["owner"]["login"] = json!(owner);
        }
    }
    if full {
        let merged = pull.merged_at.is_some();
        v["merged"] = json!(merged);
        v["mergeable"] = if pull.state == "open" {
            json!(true)
        } else {
            Value::Null
        };
        v["mergeable_state"] = json!(if pull.state == "open" {
            "clean"
        } else {
            "unknown"
        });
        v["maintainer_can_modify"] = json!(pull.maintainer_can_modify);
        v["merged_by"] = if merged { user.clone() } else { Value::Null };
        v["comments"] = json!(pull.comments.len());
    }
    v
}

fn label(template: &Value, base_url: &str, pull: &StandInPull, name: &str) -> Value {
    let mut l = template.clone();
    l["id"] = json!(u64::from_str_radix(&fake_sha(name)[..8], 16).unwrap_or(1));
    l["name"] = json!(name);
    l["url"] = json!(format!(
        "{base_url}/repos/{}/{}/labels/{}",
        pull.owner,
        pull.repo,
        crate::encode(name)
    ));
    l["description"] = Value::Null;
    l["default"] = json!(false);
    l
}

fn list_pulls(inner: &Inner, owner: &str, repo: &str, query: &BTreeMap<String, String>) -> Answer {
    let state = query.get("state").map_or("open", String::as_str);
    let head = query.get("head").map(|h| match h.split_once(':') {
        Some((o, b)) => (o.to_string(), b.to_string()),
        // GitHub reads a bare branch as being in the base repository's owner.
        None => (owner.to_string(), h.clone()),
    });
    let base = query.get("base");
    let list: Vec<Value> = inner
        .pulls
        .iter()
        .filter(|p| p.owner == owner && p.repo == repo)
        .filter(|p| state == "all" || p.state == state)
        .filter(|p| {
            head.as_ref()
                .is_none_or(|(o, b)| &p.head_owner == o && &p.head == b)
        })
        .filter(|p| base.is_none_or(|b| &p.base == b))
        .map(|p| render_pull(&inner.base_url, p, false))
        .collect();
    (StatusCode::OK, Value::Array(list))
}

fn validation(errors: Vec<Value>) -> Answer {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({
            "message": "Validation Failed",
            "errors": errors,
            "documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request",
        }),
    )
}

fn create_pull(inner: &mut Inner, owner: &str, repo: &str, body: &Value) -> Answer {
    let text = |k: &str| body[k].as_str().map(str::trim).filter(|s| !s.is_empty());
    let missing: Vec<Value> = ["title", "head", "base"]
        .into_iter()
        .filter(|k| text(k).is_none())
        .map(|k| json!({"resource": "PullRequest", "field": k, "code": "missing_field"}))
        .collect();
    if !missing.is_empty() {
        return validation(missing);
    }
    let (title, head, base) = (
        text("title").unwrap_or_default(),
        text("head").unwrap_or_default(),
        text("base").unwrap_or_default(),
    );
    let (head_owner, head_branch) = match head.split_once(':') {
        Some((o, b)) => (o.to_string(), b.to_string()),
        None => (owner.to_string(), head.to_string()),
    };
    let duplicate = inner.pulls.iter().any(|p| {
        p.owner == owner
            && p.repo == repo
            && p.state == "open"
            && p.head_owner == head_owner
            && p.head == head_branch
    });
    if duplicate {
        return validation(vec![json!({
            "resource": "PullRequest",
            "code": "custom",
            "message": format!("A pull request already exists for {head_owner}:{head_branch}."),
        })]);
    }
    if head_owner == owner && head_branch == base {
        return validation(vec![json!({
            "resource": "PullRequest",
            "code": "custom",
            "message": format!("No commits between {base} and {head_branch}"),
        })]);
    }
    let number = inner
        .pulls
        .iter()
        .filter(|p| p.owner == owner && p.repo == repo)
        .map(|p| p.number)
        .max()
        .unwrap_or(0)
        + 1;
    let now = now();
    let pull = StandInPull {
        owner: owner.to_string(),
        repo: repo.to_string(),
        number,
        title: title.to_string(),
        body: body["body"].as_str().map(str::to_string),
        head_sha: fake_sha(&format!("{head_owner}/{repo}:{head_branch}#{number}")),
        head_owner,
        head: head_branch,
        base: base.to_string(),
        state: "open".into(),
        draft: body["draft"].as_bool().unwrap_or(false),
        maintainer_can_modify: body["maintainer_can_modify"].as_bool().unwrap_or(true),
        merged_at: None,
        closed_at: None,
        merge_commit_sha: None,
        labels: Vec::new(),
        reviewers: Vec::new(),
        team_reviewers: Vec::new(),
        auto_merge: None,
        comments: Vec::new(),
        created_at: now.clone(),
        updated_at: now,
    };
    let rendered = render_pull(&inner.base_url, &pull, true);
    inner.pulls.push(pull);
    (StatusCode::CREATED, rendered)
}

/// Runs `change` on a pull request and answers with it (200), or 404 / the change's error.
fn with_pull(
    inner: &mut Inner,
    owner: &str,
    repo: &str,
    number: u64,
    change: impl FnOnce(&mut StandInPull, &str) -> Result<(), Answer>,
) -> Answer {
    let base_url = inner.base_url.clone();
    let Some(pull) = find_pull(&mut inner.pulls, owner, repo, number) else {
        return not_found();
    };
    match change(pull, &base_url) {
        Ok(()) => (StatusCode::OK, render_pull(&base_url, pull, true)),
        Err(answer) => answer,
    }
}

fn update_pull(pull: &mut StandInPull, body: &Value) -> Result<(), Answer> {
    if let Some(state) = body.get("state").and_then(Value::as_str) {
        match state {
            "open" if pull.merged_at.is_some() => {
                return Err(validation(vec![
                    json!({"resource": "PullRequest", "code": "custom",
                    "message": "state cannot be changed. The pull request has been merged."}),
                ]));
            }
            "open" => {
                pull.state = "open".into();
                pull.closed_at = None;
            }
            "closed" => {
                if pull.state == "open" {
                    pull.closed_at = Some(now());
                }
                pull.state = "closed".into();
            }
            _ => {
                return Err(validation(vec![
                    json!({"resource": "PullRequest", "field": "state", "code": "invalid"}),
                ]));
            }
        }
    }
    if let Some(title) = body.get("title").and_then(Value::as_str) {
        pull.title = title.to_string();
    }
    if let Some(text) = body.get("body").and_then(Value::as_str) {
        pull.body = Some(text.to_string());
    }
    if let Some(base) = body.get("base").and_then(Value::as_str) {
        pull.base = base.to_string();
    }
    pull.updated_at = now();
    Ok(())
}

fn merge_pull(inner: &mut Inner, owner: &str, repo: &str, number: u64, body: &Value) -> Answer {
    let Some(pull) = find_pull(&mut inner.pulls, owner, repo, number) else {
        return not_found();
    };
    if pull.state != "open" {
        return error(
            StatusCode::METHOD_NOT_ALLOWED,
            "Pull Request is not mergeable",
        );
    }
    if let Some(sha) = body.get("sha").and_then(Value::as_str)
        && sha != pull.head_sha
    {
        return error(
            StatusCode::CONFLICT,
            "Head branch was modified. Review and try the merge again.",
        );
    }
    merge(pull);
    let mut answer = parsed(MERGE_FIXTURE);
    answer["sha"] = json!(pull.merge_commit_sha);
    (StatusCode::OK, answer)
}

fn labels(inner: &mut Inner, owner: &str, repo: &str, number: u64, body: &Value) -> Answer {
    let base_url = inner.base_url.clone();
    let Some(pull) = find_pull(&mut inner.pulls, owner, repo, number) else {
        return not_found();
    };
    // GitHub takes `{"labels": [...]}` or a bare list.
    let given = if body.is_array() {
        body
    } else {
        &body["labels"]
    };
    for name in strings(given) {
        if !pull.labels.contains(&name) {
            pull.labels.push(name);
        }
    }
    pull.updated_at = now();
    let template = parsed(PULL_FIXTURE)["labels"][0].clone();
    let list = pull
        .labels
        .iter()
        .map(|name| label(&template, &base_url, pull, name))
        .collect();
    (StatusCode::OK, Value::Array(list))
}

fn comment(inner: &mut Inner, owner: &str, repo: &str, number: u64, body: &Value) -> Answer {
    let Some(text) = body["body"].as_str() else {
        return validation(vec![
            json!({"resource": "IssueComment", "field": "body", "code": "missing_field"}),
        ]);
    };
    let base_url = inner.base_url.clone();
    inner.comment_ids += 1;
    let id = inner.comment_ids;
    let Some(pull) = find_pull(&mut inner.pulls, owner, repo, number) else {
        return not_found();
    };
    pull.comments.push(text.to_string());
    let now = now();
    pull.updated_at = now.clone();
    let localized = localize(COMMENT_FIXTURE, &base_url, owner, repo)
        .replace("/1347", &format!("/{number}"))
        .replace("issuecomment-1\"", &format!("issuecomment-{id}\""))
        .replace("/issues/comments/1\"", &format!("/issues/comments/{id}\""));
    let mut v = parsed(&localized);
    v["id"] = json!(id);
    v["node_id"] = json!(format!("IC_standin_{id}"));
    v["body"] = json!(text);
    v["created_at"] = json!(now);
    v["updated_at"] = json!(now);
    (StatusCode::CREATED, v)
}

fn check_runs(inner: &Inner, owner: &str, repo: &str, git_ref: &str) -> Value {
    // A branch name stands for its head commit, as on GitHub.
    let sha = inner
        .pulls
        .iter()
        .find(|p| p.owner == owner && p.repo == repo && p.head == git_ref)
        .map_or_else(|| git_ref.to_string(), |p| p.head_sha.clone());
    let mut v = parsed(&localize(CHECKS_FIXTURE, &inner.base_url, owner, repo));
    let conclusion = inner.options.check_conclusion.clone();
    if let Some(runs) = v["check_runs"].as_array_mut() {
        for run in runs {
            run["head_sha"] = json!(sha);
            run["conclusion"] = json!(conclusion);
            run["status"] = json!(if conclusion.is_some() {
                "completed"
            } else {
                "in_progress"
            });
            if conclusion.is_none() {
                run["completed_at"] = Value::Null;
            }
        }
    }
    v
}

fn graphql(inner: &mut Inner, body: &Value) -> Answer {
    let query = body["query"].as_str().unwrap_or("");
    if !query.contains("enablePullRequestAutoMerge") {
        return (
            StatusCode::OK,
            json!({"errors": [{"message": "the stand-in answers only the enablePullRequestAutoMerge mutation"}]}),
        );
    }
    let id = body["variables"]["pullRequestId"].as_str().unwrap_or("");
    let method = body["variables"]["mergeMethod"]
        .as_str()
        .unwrap_or("MERGE")
        .to_string();
    let allowed = inner.options.allow_auto_merge;
    let Some(pull) = inner.pulls.iter_mut().find(|p| node_id(p) == id) else {
        return (
            StatusCode::OK,
            json!({"data": {"enablePullRequestAutoMerge": null}, "errors": [{"type": "NOT_FOUND",
                "path": ["enablePullRequestAutoMerge"],
                "message": format!("Could not resolve to a node with the global id of '{id}'.")}]}),
        );
    };
    if !allowed {
        // GitHub's words when the repository setting is off.
        return (
            StatusCode::OK,
            json!({"data": {"enablePullRequestAutoMerge": null}, "errors": [{"type": "UNPROCESSABLE",
                "path": ["enablePullRequestAutoMerge"],
                "message": "Pull request Auto merge is not allowed for this repository"}]}),
        );
    }
    pull.auto_merge = Some(method.clone());
    (
        StatusCode::OK,
        json!({"data": {"enablePullRequestAutoMerge": {"pullRequest": {
            "number": pull.number,
            "autoMergeRequest": {"mergeMethod": method, "enabledAt": now()}
        }}}}),
    )
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn parse_query(query: &str) -> BTreeMap<String, String> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(&k.replace('+', " ")), decode(&v.replace('+', " ")))
        })
        .collect()
}

/// Percent-decoding; an invalid escape is kept as written.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fixture_parses() {
        for (name, text) in [
            ("pull", PULL_FIXTURE),
            ("pull list", PULL_LIST_FIXTURE),
            ("comment", COMMENT_FIXTURE),
            ("merge", MERGE_FIXTURE),
            ("repo", REPO_FIXTURE),
            ("checks", CHECKS_FIXTURE),
        ] {
            assert!(serde_json::from_str::<Value>(text).is_ok(), "{name}");
        }
    }

    #[test]
    fn decodes_paths_and_queries() {
        assert_eq!(decode("o%3Afix%2Fa%20b"), "o:fix/a b");
        assert_eq!(decode("100%"), "100%");
        assert_eq!(
            parse_query("state=all&head=acme%3Amedic%2Ffix"),
            BTreeMap::from([
                ("head".to_string(), "acme:medic/fix".to_string()),
                ("state".to_string(), "all".to_string())
            ])
        );
    }

    async fn ask(
        state: &Shared,
        method: &str,
        uri: &str,
        auth: Option<&str>,
        body: &str,
    ) -> (u16, Value) {
        use tower::ServiceExt;
        let mut request = axum::http::Request::builder().method(method).uri(uri);
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        let response = router(state.clone())
            .oneshot(
                request
                    .body(axum::body::Body::from(body.to_string()))
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn handlers_answer_like_github_without_a_socket() {
        let state: Shared = Arc::new(Mutex::new(Inner {
            base_url: "http://standin.test".into(),
            options: StandInOptions {
                token: Some("t0ken".into()),
                ..StandInOptions::default()
            },
            ..Inner::default()
        }));
        let (status, body) = ask(&state, "GET", "/repos/acme/api", None, "").await;
        assert_eq!(
            (status, body["message"].as_str()),
            (401, Some("Bad credentials"))
        );
        let (status, body) = ask(
            &state,
            "GET",
            "/api/v3/repos/acme/api",
            Some("token t0ken"),
            "",
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(body["full_name"], "acme/api");
        assert_eq!(body["html_url"], "http://standin.test/acme/api");
        let pull = r#"{"title":"t","head":"acme:fix","base":"main"}"#;
        let (status, body) = ask(
            &state,
            "POST",
            "/repos/acme/api/pulls",
            Some("Bearer t0ken"),
            pull,
        )
        .await;
        assert_eq!(status, 201);
        assert_eq!(body["url"], "http://standin.test/repos/acme/api/pulls/1");
        assert_eq!(body["head"]["label"], "acme:fix");
        let (status, _) = ask(
            &state,
            "GET",
            "/repos/acme/api/pulls/2",
            Some("Bearer t0ken"),
            "",
        )
        .await;
        assert_eq!(status, 404);
        let (status, _) = ask(
            &state,
            "DELETE",
            "/repos/acme/api",
            Some("Bearer t0ken"),
            "",
        )
        .await;
        assert_eq!(status, 404, "what the stand-in does not serve is a 404");
        let calls = state.lock().unwrap().calls.clone();
        assert_eq!(calls.len(), 5);
        assert_eq!(
            calls[1].path, "/repos/acme/api",
            "the enterprise prefix is not recorded"
        );
    }

    #[test]
    fn fake_shas_look_like_commit_ids() {
        let sha = fake_sha("a");
        assert_eq!(sha.len(), 40);
        assert!(sha.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(sha, fake_sha("b"));
    }
}
