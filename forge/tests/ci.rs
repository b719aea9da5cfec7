//! The GitLab and Buildkite rerun clients against a server answering as those APIs do.

use std::time::Duration;

use medic_forge::ci::{Buildkite, GitLab};
use medic_forge::{RetryPolicy, Token};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const CANARY: &str = "glpat-CANARY-8f14e45fceea167a";

fn fast() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(10),
        max_rate_limit_wait: Duration::from_secs(1),
    }
}

#[tokio::test]
async fn gitlab_retries_a_job_by_project_path_with_private_token() {
    let server = MockServer::start().await;
    // GitLab's "Retry a job" answers with the new job (doc/api/jobs.md); these are the
    // fields Medic reads, with the values of that page's example.
    Mock::given(method("POST"))
        .and(path("/api/v4/projects/group%2Fsub%2Fproject/jobs/1/retry"))
        .and(header("private-token", CANARY))
        .respond_with(ResponseTemplate::new(201).set_body_raw(
            r#"{"id":2,"name":"rspec:other","status":"pending","stage":"test","web_url":"https://example.com/foo/bar/-/jobs/2"}"#,
            "application/json",
        ))
        .expect(1)
        .mount(&server)
        .await;
    let gitlab = GitLab::new(
        Some(&format!("{}/", server.uri())),
        Some(Token::new(CANARY).with_source("GITLAB_TOKEN")),
    )
    .unwrap()
    .with_retry(fast());
    let job = gitlab.retry_job("/group/sub/project/", 1).await.unwrap();
    assert_eq!(job.id, "2");
    assert_eq!(job.state, "pending");
    assert_eq!(
        job.web_url.as_deref(),
        Some("https://example.com/foo/bar/-/jobs/2")
    );
}

#[tokio::test]
async fn gitlab_errors_name_the_token_variable_and_hide_the_token() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_raw(r#"{"message":"401 Unauthorized"}"#, "application/json"),
        )
        .mount(&server)
        .await;
    let gitlab = GitLab::new(
        Some(&server.uri()),
        Some(Token::new(CANARY).with_source("GITLAB_TOKEN")),
    )
    .unwrap();
    let err = gitlab.retry_job("42", 7).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "GitLab answered 401 to POST /api/v4/projects/42/jobs/7/retry (401 Unauthorized): \
         the token in GITLAB_TOKEN is invalid or expired"
    );
    assert!(!format!("{err:?} {gitlab:?}").contains(CANARY));
    let err = gitlab.retry_job(" / ", 7).await.unwrap_err();
    assert!(
        err.to_string().contains("expected its id or its path"),
        "{err}"
    );
}

#[tokio::test]
async fn buildkite_retries_a_job_with_a_bearer_token_and_survives_a_503() {
    let server = MockServer::start().await;
    let route = "/v2/organizations/my-great-org/pipelines/my-pipeline/builds/1/jobs/b63254c0-3271-4a98-8270-7cfbd6c2f14e/retry";
    Mock::given(method("PUT"))
        .and(path(route))
        .respond_with(ResponseTemplate::new(503).set_body_raw("upstream unavailable", "text/plain"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path(route))
        .and(header("authorization", format!("Bearer {CANARY}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            include_str!("../fixtures/buildkite.retry-job.200.json"),
            "application/json",
        ))
        .mount(&server)
        .await;
    let buildkite = Buildkite::new(Some(&server.uri()), Some(Token::new(CANARY)))
        .unwrap()
        .with_retry(fast());
    let job = buildkite
        .retry_job(
            "my-great-org",
            "my-pipeline",
            1,
            "b63254c0-3271-4a98-8270-7cfbd6c2f14e",
        )
        .await
        .unwrap();
    assert_eq!(job.id, "b63254c0-3271-4a98-8270-7cfbd6c2f14e");
    assert_eq!(job.state, "scheduled");
    assert_eq!(server.received_requests().await.unwrap().len(), 2);

    let err = buildkite
        .retry_job("my org", "p", 1, "j")
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("`my org` is not a valid organization name"),
        "{err}"
    );
    let missing = Buildkite::new(Some(&server.uri()), None).unwrap();
    Mock::given(method("PUT"))
        .and(path("/v2/organizations/o/pipelines/p/builds/2/jobs/j/retry"))
        .respond_with(ResponseTemplate::new(401).set_body_raw(r#"{"message":"Authentication required. Please supply a valid API Access Token: https://buildkite.com/docs/apis/rest-api#authentication"}"#, "application/json"))
        .mount(&server)
        .await;
    let err = missing.retry_job("o", "p", 2, "j").await.unwrap_err();
    assert!(
        err.to_string()
            .ends_with("no token was given: set BUILDKITE_API_TOKEN to a Buildkite token"),
        "{err}"
    );
}
