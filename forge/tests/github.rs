//! The GitHub client against the stand-in (the whole pull-request flow) and against a
//! server replaying GitHub's error answers exactly (status, headers, body).

use std::time::Duration;

use medic_forge::github::{
    AutoMergeOutcome, GitHub, MergeMethod, NewPull, PullOutcome, PullState, PullUpdate,
};
use medic_forge::standin::{StandIn, StandInOptions};
use medic_forge::{ForgeError, RetryPolicy, Token};
use wiremock::matchers::{any, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Planted in every token: no message may contain it.
const CANARY: &str = "ghp_CANARY_d41d8cd98f00b204e980";

fn token() -> Token {
    Token::new(CANARY).with_source("GITHUB_TOKEN")
}

fn fast() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(20),
        max_rate_limit_wait: Duration::from_secs(2),
    }
}

fn assert_clean(error: &ForgeError) {
    let text = format!("{error} {error:?}");
    assert!(!text.contains(CANARY), "the token leaked: {text}");
}

async fn standin(options: StandInOptions) -> medic_forge::standin::StandInHandle {
    StandIn::start_with("127.0.0.1:0".parse().unwrap(), options)
        .await
        .unwrap()
}

fn new_pull(branch: &str) -> NewPull {
    NewPull {
        title: "Fix the flaky lint step".into(),
        head: branch.into(),
        base: "main".into(),
        body: Some("Medic found an unused import.".into()),
        draft: false,
        maintainer_can_modify: true,
    }
}

#[tokio::test]
async fn the_whole_pull_request_flow_against_the_standin() {
    let server = standin(StandInOptions {
        token: Some(CANARY.into()),
        ..StandInOptions::default()
    })
    .await;
    let gh = GitHub::new(Some(server.url()), Some(token()))
        .unwrap()
        .with_retry(fast());

    let repo = gh.get_repo("acme", "api").await.unwrap();
    assert_eq!(repo.full_name.as_deref(), Some("acme/api"));
    assert_eq!(repo.default_branch.as_deref(), Some("main"));

    assert!(
        gh.find_pulls_by_head("acme", "api", "medic/fix-1")
            .await
            .unwrap()
            .is_empty()
    );
    let pull = gh
        .create_pull("acme", "api", &new_pull("medic/fix-1"))
        .await
        .unwrap();
    assert_eq!(pull.number, 1);
    assert_eq!(pull.head.ref_field, "medic/fix-1");
    assert_eq!(pull.base.ref_field, "main");
    assert!(
        pull.html_url
            .as_ref()
            .unwrap()
            .as_str()
            .starts_with(server.url())
    );

    let found = gh
        .find_pulls_by_head("acme", "api", "medic/fix-1")
        .await
        .unwrap();
    assert_eq!(found.iter().map(|p| p.number).collect::<Vec<_>>(), [1]);
    // Another branch of the same repository is not a match.
    assert!(
        gh.find_pulls_by_head("acme", "api", "medic/fix")
            .await
            .unwrap()
            .is_empty()
    );

    let update = PullUpdate {
        title: Some("Fix lint: remove the unused import".into()),
        body: Some("Updated body".into()),
        ..PullUpdate::default()
    };
    let updated = gh.update_pull("acme", "api", 1, &update).await.unwrap();
    assert_eq!(
        updated.title.as_deref(),
        Some("Fix lint: remove the unused import")
    );

    let comment = gh
        .comment("acme", "api", 1, "Medic: checks are running")
        .await
        .unwrap();
    assert!(
        comment.html_url.as_str().contains("/acme/api/"),
        "{}",
        comment.html_url
    );
    assert_eq!(comment.body.as_deref(), Some("Medic: checks are running"));

    let labels = gh
        .add_labels("acme", "api", 1, &["medic".into(), "automated".into()])
        .await
        .unwrap();
    assert_eq!(
        labels.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(),
        ["medic", "automated"]
    );

    let reviewed = gh
        .request_reviewers("acme", "api", 1, &["octocat".into()], &["platform".into()])
        .await
        .unwrap();
    let reviewers: Vec<_> = reviewed
        .requested_reviewers
        .clone()
        .unwrap()
        .into_iter()
        .map(|u| u.login)
        .collect();
    assert_eq!(reviewers, ["octocat"]);

    let auto = gh
        .enable_auto_merge(&reviewed, MergeMethod::Squash)
        .await
        .unwrap();
    assert_eq!(
        auto,
        AutoMergeOutcome::Enabled {
            method: MergeMethod::Squash
        }
    );
    let with_auto = gh.get_pull("acme", "api", 1).await.unwrap();
    assert!(with_auto.auto_merge.is_some());

    let checks = gh.checks("acme", "api", &pull.head.sha).await.unwrap();
    assert!(checks.all_green(), "{checks:?}");
    assert_eq!(checks.passed.len(), 2);

    // A stale sha is refused: what was checked is what gets merged.
    let stale = gh
        .merge_pull(
            "acme",
            "api",
            1,
            MergeMethod::Squash,
            Some("0000000000000000000000000000000000000000"),
        )
        .await
        .unwrap_err();
    assert_eq!(stale.status(), Some(409), "{stale}");
    let merged = gh
        .merge_pull("acme", "api", 1, MergeMethod::Squash, Some(&pull.head.sha))
        .await
        .unwrap();
    assert!(merged.merged);
    match gh.pull_outcome("acme", "api", 1).await.unwrap() {
        PullOutcome::Merged { sha, .. } => assert_eq!(sha, merged.sha),
        other => panic!("expected merged, got {other:?}"),
    }

    // A second pull request, closed by a human: its outcome is Closed.
    let second = gh
        .create_pull("acme", "api", &new_pull("medic/fix-2"))
        .await
        .unwrap();
    assert_eq!(second.number, 2);
    assert_eq!(
        gh.pull_outcome("acme", "api", 2).await.unwrap(),
        PullOutcome::Open
    );
    assert!(server.close_pull("acme", "api", 2));
    assert!(matches!(
        gh.pull_outcome("acme", "api", 2).await.unwrap(),
        PullOutcome::Closed { at: Some(_) }
    ));

    // And one closed through the API, then reopened.
    let third = gh
        .create_pull("acme", "api", &new_pull("medic/fix-3"))
        .await
        .unwrap();
    let close = PullUpdate {
        state: Some(PullState::Closed),
        ..PullUpdate::default()
    };
    gh.update_pull("acme", "api", third.number, &close)
        .await
        .unwrap();
    assert!(matches!(
        gh.pull_outcome("acme", "api", 3).await.unwrap(),
        PullOutcome::Closed { .. }
    ));

    gh.rerun_failed_jobs("acme", "api", 30433642).await.unwrap();
    let calls = server.calls();
    let rerun = calls.last().unwrap();
    assert_eq!(
        (rerun.method.as_str(), rerun.path.as_str(), rerun.status),
        (
            "POST",
            "/repos/acme/api/actions/runs/30433642/rerun-failed-jobs",
            201
        )
    );
    let create = calls
        .iter()
        .find(|c| c.method == "POST" && c.path == "/repos/acme/api/pulls")
        .unwrap();
    assert_eq!(create.body["head"], "medic/fix-1");
    assert_eq!(
        calls
            .iter()
            .find(|c| c.query.contains_key("head"))
            .unwrap()
            .query["head"],
        "acme:medic/fix-1"
    );
    assert!(
        calls.iter().all(|c| c.status != 401),
        "every call carried the token"
    );

    let pulls = server.pulls();
    assert_eq!(pulls[0].comments, ["Medic: checks are running"]);
    assert_eq!(pulls[0].auto_merge.as_deref(), Some("SQUASH"));
    server.shutdown().await;
}

#[tokio::test]
async fn a_duplicate_pull_request_is_refused_with_githubs_message() {
    let server = standin(StandInOptions::default()).await;
    let gh = GitHub::new(Some(server.url()), None)
        .unwrap()
        .with_retry(fast());
    gh.create_pull("acme", "api", &new_pull("medic/fix"))
        .await
        .unwrap();
    let err = gh
        .create_pull("acme", "api", &new_pull("medic/fix"))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "GitHub refused POST /repos/acme/api/pulls (422): Validation Failed; \
         A pull request already exists for acme:medic/fix."
    );
    let err = gh.get_pull("acme", "api", 99).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "GitHub answered 404 to GET /repos/acme/api/pulls/99: the pull request acme/api#99 \
         does not exist, or the token cannot see it"
    );
}

#[tokio::test]
async fn auto_merge_not_allowed_is_an_outcome_and_enterprise_paths_work() {
    let server = standin(StandInOptions {
        allow_auto_merge: false,
        check_conclusion: None,
        ..StandInOptions::default()
    })
    .await;
    // GitHub Enterprise: REST under /api/v3, GraphQL at /api/graphql.
    let gh = GitHub::new(Some(&format!("{}/api/v3", server.url())), None).unwrap();
    let pull = gh
        .create_pull("acme", "api", &new_pull("medic/fix"))
        .await
        .unwrap();
    let outcome = gh
        .enable_auto_merge(&pull, MergeMethod::Merge)
        .await
        .unwrap();
    assert_eq!(
        outcome,
        AutoMergeOutcome::NotAllowed {
            reason: "Pull request Auto merge is not allowed for this repository".into()
        }
    );
    let checks = gh.checks("acme", "api", "medic/fix").await.unwrap();
    assert!(!checks.all_green());
    assert_eq!(checks.pending.len(), 2);
    server.set_check_conclusion(Some("failure"));
    let checks = gh.checks("acme", "api", "medic/fix").await.unwrap();
    assert_eq!(checks.failed.len(), 2);
    let paths: Vec<_> = server.calls().into_iter().map(|c| c.path).collect();
    assert!(paths.contains(&"/graphql".to_string()), "{paths:?}");
}

#[tokio::test]
async fn a_wrong_or_missing_token_names_the_variable_and_never_the_token() {
    let server = standin(StandInOptions {
        token: Some("the-right-one".into()),
        ..StandInOptions::default()
    })
    .await;
    let gh = GitHub::new(Some(server.url()), Some(token())).unwrap();
    let err = gh.get_pull("acme", "api", 1).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "GitHub answered 401 to GET /repos/acme/api/pulls/1 (Bad credentials): \
         the token in GITHUB_TOKEN is invalid or expired"
    );
    assert_clean(&err);
    assert!(!format!("{gh:?}").contains(CANARY));
    let anonymous = GitHub::new(Some(server.url()), None).unwrap();
    let err = anonymous.get_pull("acme", "api", 1).await.unwrap_err();
    assert!(
        err.to_string()
            .ends_with("no token was given: set GITHUB_TOKEN to a GitHub token"),
        "{err}"
    );
}

async fn replay(status: u16, headers: &[(&str, &str)], body: &str) -> (MockServer, GitHub) {
    let server = MockServer::start().await;
    let mut template =
        ResponseTemplate::new(status).set_body_raw(body.to_string(), "application/json");
    for (k, v) in headers {
        template = template.append_header(*k, *v);
    }
    Mock::given(method("GET"))
        .and(path("/repos/acme/api/pulls/7"))
        .and(header("authorization", format!("Bearer {CANARY}").as_str()))
        .respond_with(template)
        .mount(&server)
        .await;
    let gh = GitHub::new(Some(&server.uri()), Some(token()))
        .unwrap()
        .with_retry(fast());
    (server, gh)
}

#[tokio::test]
async fn github_error_answers_become_messages_a_user_can_act_on() {
    // Bodies as GitHub sends them (docs.github.com, "Troubleshooting the REST API").
    let (_s, gh) = replay(401, &[], r#"{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest","status":"401"}"#).await;
    let err = gh.get_pull("acme", "api", 7).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("(Bad credentials): the token in GITHUB_TOKEN is invalid or expired"),
        "{err}"
    );
    assert_clean(&err);

    let (_s, gh) = replay(
        403,
        &[("x-accepted-github-permissions", "pull_requests=read"), ("x-ratelimit-remaining", "4999")],
        r#"{"message":"Resource not accessible by personal access token","documentation_url":"https://docs.github.com/rest/pulls/pulls#get-a-pull-request","status":"403"}"#,
    )
    .await;
    let err = gh.get_pull("acme", "api", 7).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "GitHub refused GET /repos/acme/api/pulls/7 (403 Resource not accessible by personal access token): \
         the token needs the permission pull_requests=read"
    );
    assert_clean(&err);

    let reset = chrono::Utc::now().timestamp() + 1800;
    let reset_text = reset.to_string();
    let (server, gh) = replay(
        403,
        &[("x-ratelimit-limit", "5000"), ("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", &reset_text)],
        r#"{"message":"API rate limit exceeded for user ID 1.","documentation_url":"https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting"}"#,
    )
    .await;
    let err = gh.get_pull("acme", "api", 7).await.unwrap_err();
    let at = chrono::DateTime::from_timestamp(reset, 0).unwrap();
    assert!(
        err.to_string().contains(&format!(
            "rate limit exhausted at GET /repos/acme/api/pulls/7: it resets at {at} (in 30 min)"
        )),
        "{err}"
    );
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        1,
        "a far reset is not waited for"
    );
    assert_clean(&err);

    let (server, gh) = replay(
        403,
        &[("retry-after", "120")],
        r#"{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again.","documentation_url":"https://docs.github.com/rest/overview/resources-in-the-rest-api#secondary-rate-limits"}"#,
    )
    .await;
    let err = gh.get_pull("acme", "api", 7).await.unwrap_err();
    assert!(err.to_string().starts_with("GitHub secondary rate limit at GET /repos/acme/api/pulls/7 (You have exceeded a secondary rate limit."), "{err}");
    assert!(err.to_string().ends_with("retry after 120 s"), "{err}");
    assert_eq!(server.received_requests().await.unwrap().len(), 1);

    let (server, gh) = replay(404, &[], r#"{"message":"Not Found","documentation_url":"https://docs.github.com/rest/pulls/pulls#get-a-pull-request","status":"404"}"#).await;
    let err = gh.get_pull("acme", "api", 7).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("the pull request acme/api#7 does not exist, or the token cannot see it"),
        "{err}"
    );
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        1,
        "404 is never retried"
    );

    let (server, gh) = replay(422, &[], r#"{"message":"Validation Failed","errors":[{"resource":"Issue","code":"custom","field":"body","message":"body is too long (maximum is 65536 characters)"}],"documentation_url":"https://docs.github.com/rest","status":"422"}"#).await;
    let err = gh.get_pull("acme", "api", 7).await.unwrap_err();
    assert!(
        err.to_string()
            .ends_with("(422): Validation Failed; body is too long (maximum is 65536 characters)"),
        "{err}"
    );
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        1,
        "422 is never retried"
    );
}

#[tokio::test]
async fn a_short_rate_limit_is_waited_out_and_a_502_is_retried() {
    let server = MockServer::start().await;
    let soon = (chrono::Utc::now().timestamp() + 1).to_string();
    Mock::given(method("GET"))
        .and(path("/repos/acme/api/pulls"))
        .respond_with(
            ResponseTemplate::new(403)
                .append_header("x-ratelimit-remaining", "0")
                .append_header("x-ratelimit-reset", soon.as_str())
                .set_body_raw(
                    r#"{"message":"API rate limit exceeded"}"#,
                    "application/json",
                ),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/api/pulls"))
        .respond_with(
            ResponseTemplate::new(502)
                .set_body_raw("<html><h1>502 Bad Gateway</h1></html>", "text/html"),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/api/pulls"))
        .and(query_param("head", "acme:medic/fix"))
        .and(query_param("state", "all"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            include_str!("../fixtures/pulls.list.200.json"),
            "application/json",
        ))
        .mount(&server)
        .await;
    let gh = GitHub::new(Some(&server.uri()), Some(token()))
        .unwrap()
        .with_retry(RetryPolicy {
            max_attempts: 4,
            ..fast()
        });
    let pulls = gh
        .find_pulls_by_head("acme", "api", "medic/fix")
        .await
        .unwrap();
    assert_eq!(pulls[0].number, 1347);
    assert_eq!(server.received_requests().await.unwrap().len(), 3);

    // Always 502: the message says how many times it tried.
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(
            ResponseTemplate::new(502).set_body_raw("<html>Bad gateway</html>", "text/html"),
        )
        .mount(&server)
        .await;
    let gh = GitHub::new(Some(&server.uri()), Some(token()))
        .unwrap()
        .with_retry(fast());
    let err = gh.get_pull("acme", "api", 7).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "GitHub failed GET /repos/acme/api/pulls/7 with 502 after 3 attempts: Bad Gateway"
    );
    assert_clean(&err);

    // A comment is not sent twice: GitHub may have posted the first.
    let err = gh.comment("acme", "api", 7, "hello").await.unwrap_err();
    assert!(err.to_string().contains("after 1 attempt:"), "{err}");
}

#[tokio::test]
async fn an_unreachable_host_is_a_network_error() {
    // A port nothing listens on: bind one, then free it.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let gh = GitHub::new(Some(&format!("http://{addr}")), Some(token()))
        .unwrap()
        .with_retry(fast());
    let err = gh.get_pull("acme", "api", 7).await.unwrap_err();
    assert!(
        matches!(err, ForgeError::Network { attempts: 3, .. }),
        "{err}"
    );
    assert!(
        err.to_string().starts_with(
            "GitHub could not be reached for GET /repos/acme/api/pulls/7 after 3 attempts"
        ),
        "{err}"
    );
    assert_clean(&err);
}

#[tokio::test]
async fn a_pull_merged_by_a_human_reads_as_merged_and_calls_go_to_a_jsonl_file() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("calls.jsonl");
    let server = standin(StandInOptions {
        token: Some(CANARY.into()),
        record_to: Some(record.clone()),
        ..StandInOptions::default()
    })
    .await;
    let gh = GitHub::new(Some(server.url()), Some(token())).unwrap();
    let pull = gh
        .create_pull("acme", "api", &new_pull("medic/fix"))
        .await
        .unwrap();
    assert!(server.merge_pull("acme", "api", pull.number));
    assert!(
        !server.merge_pull("acme", "api", pull.number),
        "already merged"
    );
    match gh.pull_outcome("acme", "api", pull.number).await.unwrap() {
        PullOutcome::Merged { sha, .. } => assert_eq!(sha.map(|s| s.len()), Some(40)),
        other => panic!("expected merged, got {other:?}"),
    }
    // Merging a merged pull request: GitHub's 405.
    let err = gh
        .merge_pull("acme", "api", pull.number, MergeMethod::Merge, None)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "GitHub answered 405 to PUT /repos/acme/api/pulls/1/merge: Pull Request is not mergeable"
    );
    // Now that it is merged, the same head may be opened again.
    gh.create_pull("acme", "api", &new_pull("medic/fix"))
        .await
        .unwrap();
    // A request missing fields: GitHub's missing_field errors.
    let mut bad = new_pull("medic/other");
    bad.title = " ".into();
    let err = gh.create_pull("acme", "api", &bad).await.unwrap_err();
    assert!(
        err.to_string()
            .ends_with("Validation Failed; PullRequest.title: missing_field"),
        "{err}"
    );
    server.shutdown().await;

    let text = std::fs::read_to_string(&record).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5, "{text}");
    assert_eq!(lines[0]["method"], "POST");
    assert_eq!(lines[0]["path"], "/repos/acme/api/pulls");
    assert_eq!(lines[0]["status"], 201);
    assert_eq!(lines[2]["status"], 405);
    assert!(!text.contains(CANARY), "the record holds no token");
}

#[tokio::test]
async fn auto_merge_on_a_clean_pull_request_says_merge_it_now() {
    let server = MockServer::start().await;
    // GitHub's answer when the pull request can already be merged: nothing to wait for.
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .and(wiremock::matchers::body_partial_json(serde_json::json!({"variables": {"pullRequestId": "PR_kwDOAbc", "mergeMethod": "SQUASH"}})))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            r#"{"data":{"enablePullRequestAutoMerge":null},"errors":[{"type":"UNPROCESSABLE","path":["enablePullRequestAutoMerge"],"locations":[{"line":2,"column":3}],"message":"Pull request Pull request is in clean status"}]}"#,
            "application/json",
        ))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            r#"{"errors":[{"type":"FORBIDDEN","message":"Resource not accessible by integration"}]}"#,
            "application/json",
        ))
        .mount(&server)
        .await;
    let gh = GitHub::new(Some(&server.uri()), Some(token())).unwrap();
    let mut pull: medic_forge::github::PullRequest =
        serde_json::from_str(include_str!("../fixtures/pulls.create.201.json")).unwrap();
    pull.node_id = Some("PR_kwDOAbc".into());
    let outcome = gh
        .enable_auto_merge(&pull, MergeMethod::Squash)
        .await
        .unwrap();
    assert_eq!(
        outcome,
        AutoMergeOutcome::AlreadyMergeable {
            reason: "Pull request Pull request is in clean status".into()
        }
    );
    let err = gh
        .enable_auto_merge(&pull, MergeMethod::Squash)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "GitHub GraphQL enablePullRequestAutoMerge failed: Resource not accessible by integration"
    );
}
