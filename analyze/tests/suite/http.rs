//! The reqwest transport against local HTTP/1.1 servers that answer like the
//! GitHub, GitLab and Buildkite APIs, with the recorded payloads in
//! tests/fixtures (run with `--features http`; the workspace build enables it).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use medic_analyze::fetch::FetchError;
use medic_analyze::http::{HttpOptions, fetch_url};
use serde_json::{Value, json};

/// A request as a server saw it.
#[derive(Debug, Clone)]
struct Seen {
    /// Path with query.
    path: String,
    /// Lower-case names.
    headers: HashMap<String, String>,
}

type Route = dyn Fn(&str) -> Option<(u16, Vec<(String, String)>, Vec<u8>)> + Send + Sync;

/// Serves `route` on 127.0.0.1 (404 where it answers `None`); returns the base URL
/// and the requests seen. With `silent`, accepts connections and never answers.
fn serve(route: Arc<Route>, silent: bool) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let (route, log) = (route.clone(), log.clone());
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).is_err() {
                    return;
                }
                let path = request_line.split(' ').nth(1).unwrap_or("").to_string();
                let mut headers = HashMap::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some((n, v)) = line.split_once(':') {
                        headers.insert(n.trim().to_ascii_lowercase(), v.trim().to_string());
                    }
                }
                log.lock().unwrap().push(Seen {
                    path: path.clone(),
                    headers,
                });
                if silent {
                    let mut sink = [0u8; 64];
                    let _ = reader.read(&mut sink);
                    std::thread::sleep(Duration::from_secs(30));
                    return;
                }
                let (status, extra, body) = route(&path).unwrap_or((
                    404,
                    Vec::new(),
                    b"{\"message\":\"Not Found\"}".to_vec(),
                ));
                let mut head = format!(
                    "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n",
                    body.len()
                );
                for (n, v) in extra {
                    head.push_str(&format!("{n}: {v}\r\n"));
                }
                head.push_str("\r\n");
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&body);
            });
        }
    });
    (base, seen)
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| vars.get(k).cloned()
}

fn runtime() -> tokio::runtime::Runtime {
    let _ = rustls::crypto::ring::default_provider().install_default();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

const GITHUB_TOKEN: &str = "ghs_16C7e42F292c6912E7710c838347Ae178B4a";

#[test]
fn github_run_follows_the_log_redirect_without_sending_the_token_to_the_blob_host() {
    let log = fixture("github-yarn-install.log");
    let served = log.clone();
    let (blob, blob_seen) = serve(
        Arc::new(move |path: &str| {
            path.starts_with("/ab1f3cCFPB34Nd6imvFxpGZH5hNlDp2wijMwl2gDoO0bcrrlJj/_apis/pipelines/1/jobs/19/signedlogcontent?")
                .then(|| (200, vec![("content-type".into(), "text/plain".into())], served.clone()))
        }),
        false,
    );
    // The Location GitHub documents, pointed at the local blob server.
    let redirect: Value =
        serde_json::from_slice(&fixture("github-download-job-logs.302.json")).unwrap();
    let location = redirect["headers"]["Location"]
        .as_str()
        .unwrap()
        .replace("https://pipelines.actions.githubusercontent.com", &blob);
    let jobs = fixture("github-list-jobs-for-workflow-run.200.json");
    let (api, api_seen) = serve(
        Arc::new(move |path: &str| match path {
            "/api/v3/repos/octo-org/octo-repo/actions/runs/29679449/jobs?filter=latest&per_page=100" => {
                Some((
                    200,
                    vec![("content-type".into(), "application/json".into())],
                    jobs.clone(),
                ))
            }
            "/api/v3/repos/octo-org/octo-repo/actions/jobs/399444496/logs" => {
                Some((302, vec![("location".into(), location.clone())], Vec::new()))
            }
            _ => None,
        }),
        false,
    );
    let rt = runtime();
    let env = env_of(&[("GITHUB_TOKEN", GITHUB_TOKEN)]);
    let url = format!("{api}/octo-org/octo-repo/actions/runs/29679449");
    let logs = rt
        .block_on(fetch_url(&url, &env, &HttpOptions::default()))
        .unwrap();
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].bytes, log, "the blob's bytes, unchanged");
    // Copies: the servers lock these lists while answering the next request.
    let api_seen = api_seen.lock().unwrap().clone();
    assert_eq!(api_seen.len(), 2);
    for s in api_seen.iter() {
        assert_eq!(s.headers["authorization"], format!("Bearer {GITHUB_TOKEN}"));
        assert!(s.headers["user-agent"].starts_with("medic/"));
        assert_eq!(s.headers["x-github-api-version"], "2022-11-28");
    }
    let blob_seen = blob_seen.lock().unwrap().clone();
    assert_eq!(blob_seen.len(), 1);
    assert!(
        !blob_seen[0].headers.contains_key("authorization"),
        "the token must not follow a redirect to another host: {:?}",
        blob_seen[0].headers.keys()
    );

    // A job the API does not know: the error names the permission, not the token.
    let e = rt
        .block_on(fetch_url(
            &format!("{api}/octo-org/octo-repo/actions/runs/1/job/2"),
            &env,
            &HttpOptions::default(),
        ))
        .unwrap_err();
    assert!(matches!(e, FetchError::Status { status: 404, .. }), "{e}");
    let text = e.to_string();
    assert!(
        text.contains("actions: read") && !text.contains(GITHUB_TOKEN),
        "{text}"
    );
}

#[test]
fn gitlab_self_hosted_job_trace_with_the_private_token() {
    let trace = fixture("gitlab-trace-with-sections.log");
    let body = trace.clone();
    let (base, seen) = serve(
        Arc::new(move |path: &str| {
            (path == "/api/v4/projects/group%2Fsub%2Fproj/jobs/77/trace").then(|| {
                (
                    200,
                    vec![("content-type".into(), "text/plain".into())],
                    body.clone(),
                )
            })
        }),
        false,
    );
    let env = env_of(&[("GITLAB_TOKEN", "glpat-Abcdefghij0123456789")]);
    let logs = runtime()
        .block_on(fetch_url(
            &format!("{base}/group/sub/proj/-/jobs/77"),
            &env,
            &HttpOptions::default(),
        ))
        .unwrap();
    assert_eq!(logs[0].bytes, trace);
    assert_eq!(logs[0].name, "group/sub/proj job 77");
    let seen = seen.lock().unwrap();
    assert_eq!(
        seen[0].headers["private-token"],
        "glpat-Abcdefghij0123456789"
    );
}

#[test]
fn buildkite_build_fetches_failed_script_jobs_and_skips_waiters_and_triggers() {
    let (base, seen) = {
        // The server needs its own address inside the payload: bind first, then route.
        let slot: Arc<Mutex<Option<Value>>> = Arc::new(Mutex::new(None));
        let build_slot = slot.clone();
        let log = fixture("buildkite-playwright.log");
        let (base, seen) = serve(
            Arc::new(move |path: &str| {
                let build = build_slot.lock().unwrap().clone()?;
                match path {
                    "/v2/organizations/my-great-org/pipelines/my-pipeline/builds/2" => Some((
                        200,
                        vec![("content-type".into(), "application/json".into())],
                        serde_json::to_vec(&build).unwrap(),
                    )),
                    "/v2/organizations/my-great-org/pipelines/my-pipeline/builds/2/jobs/b63254c0-3271-4a98-8270-7cfbd6c2f14e/log.txt" => {
                        Some((
                            200,
                            vec![("content-type".into(), "text/plain".into())],
                            log.clone(),
                        ))
                    }
                    _ => None,
                }
            }),
            false,
        );
        let text = String::from_utf8(fixture("buildkite-get-build.200.json"))
            .unwrap()
            .replace("https://api.buildkite.com", &base);
        let mut build: Value = serde_json::from_str(&text).unwrap();
        let rspec = build["jobs"][0].clone();
        let mut failed = rspec.clone();
        failed["state"] = json!("failed");
        failed["exit_status"] = json!(1);
        let mut lint = rspec;
        lint["id"] = json!("0aa7d1d8-0000-4000-8000-000000000001");
        lint["name"] = json!("Lint");
        lint["raw_log_url"] = json!(format!("{base}/lint/log.txt"));
        build["jobs"] = json!([
            failed,
            {"id": "0aa7d1d8-0000-4000-8000-000000000002", "type": "waiter"},
            {"id": "0aa7d1d8-0000-4000-8000-000000000003", "type": "trigger",
             "name": "Deploy", "state": "failed"},
            lint,
        ]);
        *slot.lock().unwrap() = Some(build);
        (base, seen)
    };
    let env = env_of(&[
        (
            "BUILDKITE_API_TOKEN",
            "bkua_0123456789abcdef0123456789abcdef01234567",
        ),
        ("MEDIC_BUILDKITE_API_URL", &base),
    ]);
    let logs = runtime()
        .block_on(fetch_url(
            "https://buildkite.com/my-great-org/my-pipeline/builds/2",
            &env,
            &HttpOptions::default(),
        ))
        .unwrap();
    assert_eq!(logs.len(), 1, "only the failed script job");
    assert_eq!(logs[0].name, "RSpec");
    assert_eq!(logs[0].bytes, fixture("buildkite-playwright.log"));
    let seen = seen.lock().unwrap();
    let paths: Vec<&str> = seen.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(
        paths.len(),
        2,
        "build + one log, nothing for waiter/trigger/lint: {paths:?}"
    );
    assert!(
        seen.iter()
            .all(|s| s.headers["authorization"].starts_with("Bearer bkua_"))
    );
}

#[test]
fn a_server_that_never_answers_times_out_and_a_closed_port_is_a_connect_error() {
    let (base, _) = serve(Arc::new(|_: &str| None), true);
    let env = env_of(&[("GITLAB_TOKEN", "glpat-Abcdefghij0123456789")]);
    let options = HttpOptions {
        timeout: Duration::from_millis(500),
        connect_timeout: Duration::from_millis(500),
    };
    let rt = runtime();
    let started = std::time::Instant::now();
    let e = rt
        .block_on(fetch_url(&format!("{base}/g/p/-/jobs/1"), &env, &options))
        .unwrap_err();
    assert!(matches!(e, FetchError::Transport { .. }), "{e}");
    assert!(e.to_string().contains("timed out"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(!e.to_string().contains("glpat-"));

    // A port nobody listens on.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let e = rt
        .block_on(fetch_url(
            &format!("http://{addr}/g/p/-/jobs/1"),
            &env,
            &options,
        ))
        .unwrap_err();
    assert!(e.to_string().contains("cannot connect"), "{e}");
}
