//! `medic analyze`, `medic sanitize`, and the analyze sanitizer as the engine's
//! redactor: through the real binary, with canaries that must never come out.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Receiver;

use medic_analyze::testing::{Received, scripted_server};

use crate::support::{Project, stderr, stdout};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("analyze/tests/fixtures")
        .join(name)
}

/// A GitHub token shape the sanitizer knows, built at run time so that the literal
/// is nowhere in the sources or in the workflow files the store keeps.
fn canary_token() -> String {
    let tail: String = "Zq8xWv3Ty6Ur9Ps2Lm5Kc7Bn4Hd1Jf0Ga2Re"
        .chars()
        .rev()
        .collect();
    format!("ghp_{tail}")
}

/// Whether any file under `dir` holds `needle`.
fn any_file_holds(dir: &Path, needle: &str) -> Option<PathBuf> {
    let entries = std::fs::read_dir(dir).ok()?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if let Some(p) = any_file_holds(&path, needle) {
                return Some(p);
            }
        } else if let Ok(bytes) = std::fs::read(&path)
            && bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
        {
            return Some(path);
        }
    }
    None
}

#[test]
fn a_token_a_shell_step_prints_never_reaches_the_store_or_the_terminal() {
    let p = Project::new();
    let token = canary_token();
    // The step assembles the token from two halves and prints it to stdout, stderr,
    // an output and the error; the workflow never declares it as a secret.
    let (head, tail) = token.split_at(12);
    p.write(
        "wf.yaml",
        &format!(
            r#"name: leak
steps:
  leak:
    uses: shell
    with: {{ run: 'T="{head}"; T="${{T}}{tail}"; echo "pushing with $T"; echo "tok=$T" >> "$MEDIC_OUTPUT"; echo "auth failed for $T" >&2; exit 1' }}
"#
        ),
    );
    assert!(
        !std::fs::read_to_string(p.path().join("wf.yaml"))
            .unwrap()
            .contains(&token)
    );
    let out = p
        .medic()
        .args(["run", "wf.yaml", "--output", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(!stdout(&out).contains(&token), "stdout leaked the token");
    assert!(!stderr(&out).contains(&token), "stderr leaked the token");
    assert!(
        stdout(&out).contains("pushing with [REDACTED:github-pat]"),
        "{}",
        stdout(&out)
    );
    let id = p.runs()[0]["id"].as_str().unwrap().to_string();
    let logs = p
        .medic()
        .args(["runs", "logs", &id, "--output", "json"])
        .output()
        .unwrap();
    assert!(stdout(&logs).contains("[REDACTED:"), "{}", stdout(&logs));
    assert!(!stdout(&logs).contains(&token));
    assert_eq!(
        any_file_holds(&p.path().join(".medic"), &token),
        None,
        "the store holds the token"
    );
}

#[test]
fn a_private_key_a_step_prints_line_by_line_is_redacted_whole_in_the_log() {
    let p = Project::new();
    // Two lines of a key body, reversed at run time so they are not in the workflow.
    let body = [
        "nug0tAff6VzeLegRt0mNzPeEOgl4oM2HxMzoCHPLVfL1USu1AEQAKCAAIBAowEIIM",
        "KxTnxg81pkZ2YMb+sItsBfKwbhKq+u5nEKTj7LBmrkQ7RWy7Wzl/0qrnRLno7wLTV",
    ];
    let reversed: Vec<String> = body.iter().map(|l| l.chars().rev().collect()).collect();
    p.write(
        "wf.yaml",
        &format!(
            r#"name: key
steps:
  leak:
    uses: shell
    with: {{ run: 'printf -- "-----BEGIN RSA PRIVATE KEY-----\n%s\n%s\n-----END RSA PRIVATE KEY-----\n" "$(echo {} | rev)" "$(echo {} | rev)"' }}
"#,
            body[0], body[1]
        ),
    );
    let out = p.medic().args(["run", "wf.yaml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let id = p.runs()[0]["id"].as_str().unwrap().to_string();
    let logs = stdout(&p.medic().args(["runs", "logs", &id]).output().unwrap());
    assert!(logs.contains("[REDACTED:private-key]"), "{logs}");
    for line in &reversed {
        assert!(!logs.contains(line.as_str()), "key body in the log: {logs}");
        assert_eq!(any_file_holds(&p.path().join(".medic"), line), None);
    }
}

#[test]
fn analyze_a_file_in_every_format_with_original_line_numbers() {
    let p = Project::new();
    let log = fixture("github-yarn-install.log");
    let out = p
        .medic()
        .args(["analyze", log.to_str().unwrap(), "--output", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let a: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(a["schema_version"], 1);
    assert_eq!(a["category"], "dependency");
    assert_eq!(a["tool"], "yarn");
    let text = std::fs::read_to_string(&log).unwrap();
    let original: Vec<&str> = text.lines().collect();
    for k in a["key_lines"].as_array().unwrap() {
        let n = k["line"].as_u64().unwrap() as usize;
        let shown = k["text"].as_str().unwrap();
        assert!(
            original[n - 1].contains(shown.trim()),
            "line {n} is `{}`, not `{shown}`",
            original[n - 1]
        );
    }
    assert_eq!(a["seen"]["count"], 1);
    // The second time comes from the cache, and counts.
    let again: serde_json::Value = serde_json::from_slice(
        &p.medic()
            .args(["analyze", log.to_str().unwrap(), "-f", "json"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(again["fingerprint"], a["fingerprint"]);
    assert_eq!(again["seen"]["count"], 2);
    let md = stdout(
        &p.medic()
            .args([
                "analyze",
                log.to_str().unwrap(),
                "-f",
                "markdown",
                "--no-cache",
            ])
            .output()
            .unwrap(),
    );
    assert!(md.contains("incompatible"), "{md}");
    let html = stdout(
        &p.medic()
            .args(["analyze", log.to_str().unwrap(), "-f", "html", "--no-cache"])
            .output()
            .unwrap(),
    );
    assert!(html.contains("<html"), "{html}");
    let term = p
        .medic()
        .args(["analyze", "-", "--max-lines", "5"])
        .write_stdin(text)
        .output()
        .unwrap();
    assert_eq!(term.status.code(), Some(0));
    assert!(stdout(&term).contains("fingerprint"), "{}", stdout(&term));
    assert!(!stdout(&term).contains('\x1b'), "NO_COLOR is honoured");
}

#[test]
fn planted_secrets_never_leave_analyze_or_sanitize() {
    let p = Project::new();
    let token = canary_token();
    let mut text = std::fs::read_to_string(fixture("github-yarn-install.log")).unwrap();
    text.push_str(&format!("error: remote rejected the token {token}\n"));
    let log = p.write("build.log", &text);
    for format in ["terminal", "markdown", "html", "json"] {
        let out = p
            .medic()
            .args(["analyze", log.to_str().unwrap(), "--format", format])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(!stdout(&out).contains(&token), "{format} leaked the token");
        assert!(!stderr(&out).contains(&token));
    }
    assert_eq!(any_file_holds(&p.path().join(".medic"), &token), None);

    let out = p.medic().args(["sanitize", "build.log"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(!stdout(&out).contains(&token));
    assert!(stdout(&out).contains("token [REDACTED:github-pat]"));
    assert_eq!(stdout(&out).lines().count(), text.lines().count());
    assert!(stderr(&out).contains("github-pat"), "{}", stderr(&out));
    assert!(!stderr(&out).contains(&token));
}

#[test]
fn bad_input_exits_2_and_says_what_to_set_and_fetch_failures_exit_1() {
    let p = Project::new();
    let run = |args: &[&str]| {
        p.medic()
            .env_remove("GITHUB_TOKEN")
            .env_remove("GITLAB_TOKEN")
            .env_remove("CI_JOB_TOKEN")
            .env_remove("BUILDKITE_API_TOKEN")
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["analyze", "missing.log"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("missing.log"), "{}", stderr(&out));
    let out = run(&["sanitize", "missing.log"]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&["analyze", "https://example.com/some/page"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("expected a GitHub Actions run"));
    for (url, var) in [
        ("https://github.com/o/r/actions/runs/1", "GITHUB_TOKEN"),
        ("https://gitlab.com/g/p/-/jobs/1", "GITLAB_TOKEN"),
        ("https://buildkite.com/o/p/builds/1", "BUILDKITE_API_TOKEN"),
    ] {
        let out = run(&["analyze", url]);
        assert_eq!(out.status.code(), Some(2), "{url}");
        assert!(
            stderr(&out).contains(&format!("set {var}")),
            "{}",
            stderr(&out)
        );
    }
    let out = run(&["analyze", "x.log", "--max-lines", "0"]);
    assert_eq!(out.status.code(), Some(2));

    // A port nobody listens on: the fetch fails (exit 1) and the token stays out.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let out = p
        .medic()
        .env("GITLAB_TOKEN", "glpat-Abcdefghij0123456789")
        .args(["analyze", &format!("http://{addr}/g/p/-/jobs/7")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(!stderr(&out).contains("glpat-"));
}

#[test]
fn analyze_a_gitlab_job_url_from_a_local_server() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let trace = std::fs::read(fixture("gitlab-trace-with-sections.log")).unwrap();
    let server = std::thread::spawn(move || {
        // One request: the trace, only with the token.
        let (mut stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut first = String::new();
        reader.read_line(&mut first).unwrap();
        let mut token = None;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("private-token:") {
                token = Some(v.trim().to_string());
            }
        }
        let ok = first.starts_with("GET /api/v4/projects/group%2Fproj/jobs/42/trace ")
            && token.as_deref() == Some("glpat-abcdefghij0123456789");
        let (status, body) = if ok {
            (200, trace)
        } else {
            (404, b"{}".to_vec())
        };
        let head = format!(
            "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(&body).unwrap();
        ok
    });
    let p = Project::new();
    let out = p
        .medic()
        .env("GITLAB_TOKEN", "glpat-Abcdefghij0123456789")
        .args([
            "analyze",
            &format!("http://{addr}/group/proj/-/jobs/42"),
            "-o",
            "json",
        ])
        .output()
        .unwrap();
    assert!(server.join().unwrap(), "the server saw the right request");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let a: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(a["stats"]["format"], "gitlab");
}

/// The chat-completion requests the scripted server received, by body; each must be a
/// chat completion.
fn bodies(requests: &Receiver<Received>) -> Vec<String> {
    requests
        .try_iter()
        .map(|r| {
            assert!(r.head.starts_with("POST /v1/chat/completions "), "{r:?}");
            r.body
        })
        .collect()
}

/// OpenAI's reference answer with the model's text replaced by an explanation.
fn openai_answer() -> String {
    medic_analyze::testing::openai_answer(
        r#"{"root_cause": "The parser accepts invalid UTF-8.", "suggested_fix": "Return an error when from_utf8 fails.", "confidence": 0.82}"#,
    )
}

const FAILED_TEST_LOG: &str = "\
running 2 tests
test parser::tests::parses_empty ... ok
test parser::tests::rejects_bad_utf8 ... FAILED
thread 'parser::tests::rejects_bad_utf8' panicked at src/parser.rs:42:9:
assertion failed: result.is_err()
test result: FAILED. 1 passed; 1 failed; 0 ignored
error: test failed, to rerun pass `--lib`
";

#[test]
fn analyze_adds_an_ai_explanation_and_never_sends_a_secret() {
    let (base, server) = scripted_server([(200, openai_answer()), (200, openai_answer())]);
    let p = Project::new();
    let token = canary_token();
    p.write(
        "build.log",
        &format!("error: push rejected for token {token}\n{FAILED_TEST_LOG}"),
    );
    let ai = [
        "--ai",
        "openai",
        "--ai-model",
        "llama3.2",
        "--ai-base-url",
        &base,
    ];
    let out = p
        .medic()
        .env_remove("OPENAI_API_KEY")
        .args(["analyze", "build.log", "--no-cache"])
        .args(ai)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("AI explanation (openai llama3.2, confidence 82%"),
        "{text}"
    );
    assert!(text.contains("The parser accepts invalid UTF-8."), "{text}");
    assert!(text.contains("19 input + 10 output tokens"), "{text}");
    assert!(
        stderr(&out).contains("AI: 1 calls to openai llama3.2"),
        "{}",
        stderr(&out)
    );

    let out = p
        .medic()
        .env_remove("OPENAI_API_KEY")
        .args(["analyze", "build.log", "--no-cache", "-o", "json"])
        .args(ai)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["category"], "test");
    assert_eq!(v["ai"]["explanation"]["confidence"], 0.82);
    assert_eq!(v["ai"]["usage"]["input_tokens"], 19);
    assert!(v["ai"]["error"].is_null());

    let bodies = bodies(&server);
    assert_eq!(bodies.len(), 2);
    for body in bodies {
        assert!(body.contains("rejects_bad_utf8"), "{body}");
        assert!(body.contains("[REDACTED:"), "{body}");
        assert!(
            !body.contains(&token),
            "the token reached the provider: {body}"
        );
    }
}

#[test]
fn ai_settings_are_checked_first_and_a_failing_provider_is_a_warning() {
    let p = Project::new();
    p.write("build.log", FAILED_TEST_LOG);
    let out = p
        .medic()
        .env_remove("ANTHROPIC_API_KEY")
        .args([
            "analyze",
            "build.log",
            "--ai",
            "anthropic",
            "--ai-model",
            "claude-sonnet-4-5",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("set the environment variable ANTHROPIC_API_KEY"),
        "{}",
        stderr(&out)
    );
    let out = p
        .medic()
        .args(["analyze", "build.log", "--ai", "openai"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "--ai needs --ai-model");

    p.write(
        "ai.yaml",
        "kind: openai\nmodel: gpt-4o-mini\napi_key: sk-inline\n",
    );
    let out = p
        .medic()
        .args(["analyze", "build.log", "--explain-with", "ai.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("ai.yaml") && err.contains("unknown field `api_key`"),
        "{err}"
    );
    assert!(!err.contains("sk-inline"), "{err}");

    // The provider refuses: the analysis is still printed, the failure is a warning.
    let refusal = std::fs::read_to_string(fixture("ai/openai-error.401.json")).unwrap();
    let (base, server) = scripted_server([(401, refusal)]);
    p.write(
        "ai.json",
        &format!(r#"{{"kind": "openai", "model": "gpt-4o-mini", "base_url": "{base}", "api_key_env": "MY_AI_KEY"}}"#),
    );
    let out = p
        .medic()
        .env("MY_AI_KEY", "sk-test-CANARY-0123456789")
        .args([
            "analyze",
            "build.log",
            "--no-cache",
            "--explain-with",
            "ai.json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("warning: no AI explanation: the AI provider answered HTTP 401"),
        "{err}"
    );
    assert!(err.contains("check the API key in MY_AI_KEY"), "{err}");
    assert!(!err.contains("CANARY") && !stdout(&out).contains("CANARY"));
    assert!(stdout(&out).contains("test failure"), "{}", stdout(&out));
    assert!(!stdout(&out).contains("AI explanation"));
    assert_eq!(bodies(&server).len(), 1);
}
