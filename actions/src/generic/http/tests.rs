//! Tests of the `http` action against a local HTTP/1.1 server written for them, so
//! that nothing touches the network beyond 127.0.0.1.

use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::*;
use crate::support::test_context;

/// A request as the server saw it.
#[derive(Debug)]
struct Seen {
    method: String,
    path: String,
    /// Lower-case names.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A raw HTTP/1.1 response.
fn response(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut head = format!(
        "HTTP/1.1 {status} Whatever\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// Serve `reply` to every connection; `None` accepts and never answers. Returns the base
/// URL and the requests seen.
async fn serve(reply: Option<Vec<u8>>) -> (String, mpsc::UnboundedReceiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let tx = tx.clone();
            let reply = reply.clone();
            tokio::spawn(async move {
                let mut data = Vec::new();
                let mut buf = [0u8; 4096];
                let header_end = loop {
                    if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                        break at;
                    }
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => data.extend_from_slice(&buf[..n]),
                    }
                };
                let head = String::from_utf8_lossy(&data[..header_end]).into_owned();
                let mut lines = head.split("\r\n");
                let mut request_line = lines.next().unwrap_or_default().split(' ');
                let method = request_line.next().unwrap_or_default().to_string();
                let path = request_line.next().unwrap_or_default().to_string();
                let headers: Vec<(String, String)> = lines
                    .filter_map(|l| l.split_once(':'))
                    .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
                    .collect();
                let length: usize = headers
                    .iter()
                    .find(|(n, _)| n == "content-length")
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(0);
                let mut body = data[header_end + 4..].to_vec();
                while body.len() < length {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => body.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = tx.send(Seen {
                    method,
                    path,
                    headers,
                    body,
                });
                match reply {
                    Some(reply) => {
                        let _ = socket.write_all(&reply).await;
                        let _ = socket.shutdown().await;
                    }
                    None => tokio::time::sleep(Duration::from_secs(60)).await,
                }
            });
        }
    });
    (base, rx)
}

async fn call(ctx: &StepContext, with: Value) -> Result<StepOutcome, StepError> {
    let config: HttpConfig = serde_json::from_value(with).unwrap();
    tokio::time::timeout(Duration::from_secs(60), Http.run(config, ctx))
        .await
        .expect("the http step did not finish within 60s")
}

fn succeeded(result: Result<StepOutcome, StepError>) -> Outputs {
    match result {
        Ok(StepOutcome::Success(outputs)) => outputs,
        other => panic!("expected success, got {other:?}"),
    }
}

/// A URL nothing listens on.
async fn refused_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    url
}

#[test]
fn example_config_parses_into_a_request() {
    let config = crate::support::example_config::<Http>();
    assert_eq!(
        config.body,
        Some(json!({"text": "A fix is ready for review"}))
    );
    let request = config.request().unwrap();
    assert_eq!(request.method, Method::POST);
    assert_eq!(request.expected_status, Some(vec![200, 202]));
    assert_eq!(request.timeout, Duration::from_secs(10));
    assert_eq!(request.headers["x-medic-run"], "{{ run.id }}");
}

#[test]
fn every_config_problem_is_reported_at_once() {
    let config: HttpConfig = serde_json::from_value(json!({
        "method": "GE T",
        "url": "ftp://example.com/x",
        "headers": {"bad name": "x", "ok": "line\nbreak"},
        "expected_status": [200, 42],
        "timeout": "soon",
    }))
    .unwrap();
    let err = config.request().unwrap_err();
    assert_eq!(err.kind, ErrorKind::Config);
    for needle in [
        "`method`: `GE T`",
        "scheme must be http or https, not `ftp`",
        "`headers`: `bad name`",
        "`headers.ok`",
        "`expected_status`: 42",
        "`timeout`: `soon`",
    ] {
        assert!(
            err.message.contains(needle),
            "{needle} missing from {}",
            err.message
        );
    }
    let config: HttpConfig = serde_json::from_value(json!({"url": "not a url"})).unwrap();
    assert!(
        config
            .request()
            .unwrap_err()
            .message
            .starts_with("`url`: `not a url` is not a URL")
    );
}

#[test]
fn unknown_fields_are_refused_and_a_single_status_is_accepted() {
    let err =
        serde_json::from_value::<HttpConfig>(json!({"url": "http://x", "data": "y"})).unwrap_err();
    assert!(err.to_string().contains("unknown field `data`"), "{err}");
    let config: HttpConfig =
        serde_json::from_value(json!({"url": "http://x", "expected_status": 204})).unwrap();
    assert_eq!(config.request().unwrap().expected_status, Some(vec![204]));
}

#[tokio::test]
async fn get_returns_status_headers_and_parsed_json() {
    let (base, mut seen) = serve(Some(response(
        200,
        &[
            ("content-type", "application/json; charset=utf-8"),
            ("x-trace", "a"),
            ("x-trace", "b"),
        ],
        br#"{"healthy": true, "version": "1.4"}"#,
    )))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let ctx = test_context(&[], dir.path());
    let outputs = succeeded(
        call(
            &ctx,
            json!({"url": format!("{base}/health?deep=1"), "headers": {"x-request-id": "r1"}}),
        )
        .await,
    );
    assert_eq!(outputs["status"], 200);
    assert_eq!(outputs["body"], json!({"healthy": true, "version": "1.4"}));
    assert_eq!(outputs["headers"]["x-trace"], "a, b");
    assert_eq!(
        outputs["headers"]["content-type"],
        "application/json; charset=utf-8"
    );
    let request = seen.recv().await.unwrap();
    assert_eq!(request.method, "GET");
    assert_eq!(request.path, "/health?deep=1");
    assert_eq!(request.header("x-request-id"), Some("r1"));
    assert!(
        request
            .header("user-agent")
            .is_some_and(|ua| ua.starts_with("medic/"))
    );
}

#[tokio::test]
async fn json_bodies_are_sent_as_json_and_strings_as_is() {
    let (base, mut seen) = serve(Some(response(
        201,
        &[("content-type", "text/plain")],
        b"created",
    )))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let ctx = test_context(&[], dir.path());
    let outputs = succeeded(
        call(
            &ctx,
            json!({"method": "post", "url": &base, "body": {"n": [1, 2]}}),
        )
        .await,
    );
    assert_eq!(outputs["body"], "created", "a text response stays text");
    let request = seen.recv().await.unwrap();
    assert_eq!(request.method, "POST");
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("idempotency-key"), Some("run-1/step-1"));
    assert_eq!(
        serde_json::from_slice::<Value>(&request.body).unwrap(),
        json!({"n": [1, 2]})
    );

    succeeded(
        call(
            &ctx,
            json!({"method": "PUT", "url": &base, "body": "raw {text}"}),
        )
        .await,
    );
    let request = seen.recv().await.unwrap();
    assert_eq!(request.method, "PUT");
    assert_eq!(
        request.header("idempotency-key"),
        None,
        "PUT is idempotent already"
    );

    let with = json!({"method": "POST", "url": &base, "headers": {"Idempotency-Key": "mine"}});
    succeeded(call(&ctx, with).await);
    assert_eq!(
        seen.recv().await.unwrap().header("idempotency-key"),
        Some("mine")
    );
    assert_eq!(request.body, b"raw {text}");
}

#[tokio::test]
async fn an_unexpected_status_fails_with_the_response_in_outputs() {
    let (base, _seen) = serve(Some(response(
        503,
        &[("content-type", "application/json")],
        br#"{"error": "down"}"#,
    )))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let ctx = test_context(&[], dir.path());
    let err = call(&ctx, json!({"url": &base})).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Failed);
    assert_eq!(err.message, "unexpected status 503, expected 2xx");
    assert_eq!(err.outputs["status"], 503);
    assert_eq!(err.outputs["body"], json!({"error": "down"}));

    let err = call(&ctx, json!({"url": &base, "expected_status": [200, 204]}))
        .await
        .unwrap_err();
    assert_eq!(err.message, "unexpected status 503, expected 200 or 204");

    let outputs = succeeded(call(&ctx, json!({"url": &base, "expected_status": 503})).await);
    assert_eq!(outputs["status"], 503);
}

#[tokio::test]
async fn a_refused_connection_is_a_network_error() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = test_context(&[], dir.path());
    let err = call(&ctx, json!({"url": refused_url().await}))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Network, "{}", err.message);
    assert!(
        err.message.to_lowercase().contains("connect"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn a_silent_server_is_a_timeout() {
    let (base, _seen) = serve(None).await;
    let dir = tempfile::tempdir().unwrap();
    let ctx = test_context(&[], dir.path());
    let err = call(&ctx, json!({"url": &base, "timeout": "300ms"}))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Timeout, "{}", err.message);
    assert!(
        err.message.starts_with("no complete response within 300ms"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn the_body_is_bounded_to_one_mebibyte() {
    let big = vec![b'z'; 2 * MAX_BODY];
    let (base, _seen) = serve(Some(response(
        200,
        &[("content-type", "application/json")],
        &big,
    )))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let ctx = test_context(&[], dir.path());
    let outputs = succeeded(call(&ctx, json!({"url": &base})).await);
    assert_eq!(outputs["body"].as_str().unwrap().len(), MAX_BODY);
}

#[tokio::test]
async fn dry_run_sends_only_safe_methods() {
    let dir = tempfile::tempdir().unwrap();
    let mut ctx = test_context(&["t0ken-in-url"], dir.path());
    ctx.dry_run = true;
    // Nothing listens there: sending would fail with a network error.
    let url = format!("{}/hook?token=t0ken-in-url", refused_url().await);
    let outputs = succeeded(
        call(
            &ctx,
            json!({"method": "POST", "url": &url, "body": {"a": 1}}),
        )
        .await,
    );
    assert_eq!(outputs["dry_run"], true);
    assert_eq!(outputs["method"], "POST");
    assert!(
        outputs["url"]
            .as_str()
            .unwrap()
            .ends_with("/hook?token=***")
    );

    let err = call(&ctx, json!({"url": &url})).await.unwrap_err();
    assert_eq!(
        err.kind,
        ErrorKind::Network,
        "GET is sent even in a dry run"
    );
}

/// A secret in the URL, the request and the response must appear only as `***`.
#[tokio::test]
async fn secrets_never_leave_the_step_unmasked() {
    const CANARY: &str = "canary-http-s3cr3t";
    let (base, _seen) = serve(Some(response(
        500,
        &[("content-type", "application/json"), ("x-echo", CANARY)],
        format!(r#"{{"token": "{CANARY}"}}"#).as_bytes(),
    )))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let ctx = test_context(&[CANARY], dir.path());
    let err = call(&ctx, json!({"url": format!("{base}/?t={CANARY}")}))
        .await
        .unwrap_err();
    let refused = call(
        &ctx,
        json!({"url": format!("{}/?t={CANARY}", refused_url().await)}),
    )
    .await
    .unwrap_err();
    let invalid = call(&ctx, json!({"url": format!("not a url {CANARY}")}))
        .await
        .unwrap_err();
    assert_eq!(invalid.kind, ErrorKind::Config);
    let everything = format!(
        "{}\n{}\n{}\n{}\n{}",
        Value::Object(err.outputs.clone()),
        err.message,
        refused.message,
        invalid.message,
        ctx.logs().join("\n")
    );
    assert!(
        !everything.contains(CANARY),
        "the secret leaked: {everything}"
    );
    assert_eq!(err.outputs["body"]["token"], "***");
    assert_eq!(err.outputs["headers"]["x-echo"], "***");
    assert!(refused.message.contains("t=***"), "{}", refused.message);
}
