//! The AI provider layer against local HTTP/1.1 servers that answer like the
//! OpenAI, Anthropic and Gemini APIs, with the providers' API reference examples
//! from tests/fixtures/ai (see its README). Each server records what it received,
//! so the tests check the requests too: paths, headers, bodies, and that no secret
//! planted in a log ever reaches a provider.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use medic_analyze::provider::{
    BudgetConfig, CompletionRequest, Explanation, Price, Provider, ProviderConfig, ProviderError,
    ProviderKind, RetryPolicy, explain,
};
use medic_analyze::read::read_str;
use medic_analyze::sanitize::Sanitizer;
use medic_analyze::triage::{Analysis, Options, analyze};
use serde_json::{Value, json};

/// One canned answer.
#[derive(Clone)]
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
    delay: Duration,
}

fn reply(status: u16, body: impl Into<String>) -> Reply {
    Reply {
        status,
        headers: Vec::new(),
        body: body.into(),
        delay: Duration::ZERO,
    }
}

/// A request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    /// Lower-case names.
    headers: HashMap<String, String>,
    body: String,
}

impl Seen {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

struct Server {
    base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// Serves `replies` in order on 127.0.0.1 (the last one repeats).
fn serve(replies: Vec<Reply>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
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
            let length: usize = headers
                .get("content-length")
                .and_then(|l| l.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let index = {
                let mut log = log.lock().unwrap();
                log.push(Seen {
                    path,
                    headers,
                    body: String::from_utf8_lossy(&body).into_owned(),
                });
                log.len() - 1
            };
            let r = replies[index.min(replies.len() - 1)].clone();
            // Answer on a thread of its own, so a slow answer does not hold up the next
            // connection (a retry after a client timeout).
            std::thread::spawn(move || {
                std::thread::sleep(r.delay);
                let mut head = format!(
                    "HTTP/1.1 {} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
                    r.status,
                    r.body.len()
                );
                for (n, v) in &r.headers {
                    head.push_str(&format!("{n}: {v}\r\n"));
                }
                head.push_str("\r\n");
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(r.body.as_bytes());
            });
        }
    });
    Server { base, seen }
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/ai/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

const ANSWER: &str = r#"{"root_cause": "parser::tests::rejects_bad_utf8 expects an error, but the parser accepts invalid UTF-8.", "suggested_fix": "Return Err(ParseError::Utf8) from parse() when std::str::from_utf8 fails.", "confidence": 0.82}"#;

/// A provider's reference example with the model's text replaced by `text`.
fn openai_ok(text: &str) -> Reply {
    let mut v: Value = serde_json::from_str(&fixture("openai-chat-completion.200.json")).unwrap();
    v["choices"][0]["message"]["content"] = json!(text);
    reply(200, v.to_string())
}

fn anthropic_ok(text: &str) -> Reply {
    let mut v: Value = serde_json::from_str(&fixture("anthropic-messages.200.json")).unwrap();
    v["content"][0]["text"] = json!(text);
    reply(200, v.to_string())
}

fn gemini_ok(text: &str) -> Reply {
    let mut v: Value = serde_json::from_str(&fixture("gemini-generate-content.200.json")).unwrap();
    v["candidates"][0]["content"]["parts"][0]["text"] = json!(text);
    reply(200, v.to_string())
}

const KEY: &str = "sk-proj-CANARYkey0123456789abcdefXYZ";

fn env(k: &str) -> Option<String> {
    matches!(k, "OPENAI_API_KEY" | "ANTHROPIC_API_KEY" | "GEMINI_API_KEY").then(|| KEY.to_string())
}

/// A provider for `server`, with fast backoff so retry tests take milliseconds.
fn provider(
    kind: ProviderKind,
    server: &Server,
    edit: impl FnOnce(&mut ProviderConfig),
) -> Provider {
    let model = match kind {
        ProviderKind::OpenAi => "gpt-4o-mini",
        ProviderKind::Anthropic => "claude-sonnet-4-5",
        ProviderKind::Gemini => "gemini-2.5-flash",
    };
    let mut c = ProviderConfig::new(kind, model);
    c.base_url = Some(match kind {
        ProviderKind::OpenAi => format!("{}/v1", server.base),
        _ => server.base.clone(),
    });
    c.api_key_env = Some(kind.default_key_env().to_string());
    edit(&mut c);
    Provider::new(c, &env)
        .unwrap()
        .with_retry_policy(RetryPolicy {
            base: Duration::from_millis(10),
            max_backoff: Duration::from_millis(50),
            max_wait: Duration::from_secs(5),
        })
}

const LOG: &str = "\
2024-01-01T00:00:00.0000000Z ##[group]Run cargo test
running 2 tests
test parser::tests::parses_empty ... ok
test parser::tests::rejects_bad_utf8 ... FAILED

failures:

---- parser::tests::rejects_bad_utf8 stdout ----
thread 'parser::tests::rejects_bad_utf8' panicked at src/parser.rs:42:9:
assertion failed: result.is_err()

test result: FAILED. 1 passed; 1 failed; 0 ignored
error: test failed, to rerun pass `--lib`
##[error]Process completed with exit code 101.
";

fn analysis_of(log: &str) -> Analysis {
    analyze(
        &read_str(log, &mut Sanitizer::default()),
        &Options::default(),
    )
}

fn expected() -> Explanation {
    serde_json::from_str(ANSWER).unwrap()
}

#[tokio::test]
async fn openai_explains_a_failure_with_the_documented_request() {
    let server = serve(vec![openai_ok(&format!("```json\n{ANSWER}\n```"))]);
    let p = provider(ProviderKind::OpenAi, &server, |c| {
        c.price = Some(Price {
            input_usd_per_million: 0.15,
            output_usd_per_million: 0.60,
        })
    });
    let (e, usage) = explain(&p, &analysis_of(LOG)).await.unwrap();
    assert_eq!(e, expected());
    assert_eq!((usage.input_tokens, usage.output_tokens), (19, 10));
    let cost = usage.cost_usd.unwrap();
    assert!(
        (cost - (19.0 * 0.15 + 10.0 * 0.60) / 1e6).abs() < 1e-15,
        "{cost}"
    );
    let run = p.usage();
    assert_eq!(
        (run.calls, run.input_tokens, run.output_tokens),
        (1, 19, 10)
    );

    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/v1/chat/completions");
    assert_eq!(seen[0].headers["authorization"], format!("Bearer {KEY}"));
    assert_eq!(seen[0].headers["content-type"], "application/json");
    let body = seen[0].json();
    assert_eq!(body["model"], "gpt-4o-mini");
    assert_eq!(body["response_format"], json!({"type": "json_object"}));
    assert_eq!(body["max_tokens"], 1024);
    assert_eq!(body["messages"][0]["role"], "system");
    assert!(
        body["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("test failure")
    );
    assert_eq!(body["messages"][1]["role"], "user");
    let user = body["messages"][1]["content"].as_str().unwrap();
    assert!(
        user.contains("Failing tests: parser::tests::rejects_bad_utf8"),
        "{user}"
    );
    assert!(user.contains("assertion failed: result.is_err()"), "{user}");
}

#[tokio::test]
async fn anthropic_explains_a_failure_with_the_documented_request() {
    let server = serve(vec![anthropic_ok(ANSWER)]);
    let p = provider(ProviderKind::Anthropic, &server, |c| {
        c.max_output_tokens = Some(700)
    });
    let (e, usage) = explain(&p, &analysis_of(LOG)).await.unwrap();
    assert_eq!(e, expected());
    assert_eq!((usage.input_tokens, usage.output_tokens), (2095, 503));
    assert_eq!(usage.cost_usd, None, "no price, no cost");

    let seen = server.seen();
    assert_eq!(seen[0].path, "/v1/messages");
    assert_eq!(seen[0].headers["x-api-key"], KEY);
    assert_eq!(seen[0].headers["anthropic-version"], "2023-06-01");
    assert!(!seen[0].headers.contains_key("authorization"));
    let body = seen[0].json();
    assert_eq!(body["model"], "claude-sonnet-4-5");
    assert_eq!(body["max_tokens"], 700);
    assert!(body["system"].as_str().unwrap().contains("JSON object"));
    assert_eq!(body["messages"].as_array().unwrap().len(), 1);
    assert_eq!(body["messages"][0]["role"], "user");
}

#[tokio::test]
async fn gemini_explains_a_failure_with_the_documented_request() {
    let server = serve(vec![gemini_ok(ANSWER)]);
    let p = provider(ProviderKind::Gemini, &server, |_| {});
    let (e, usage) = explain(&p, &analysis_of(LOG)).await.unwrap();
    assert_eq!(e, expected());
    assert_eq!((usage.input_tokens, usage.output_tokens), (29, 31));

    let seen = server.seen();
    assert_eq!(
        seen[0].path, "/v1beta/models/gemini-2.5-flash:generateContent",
        "the key travels in a header, never in the query"
    );
    assert_eq!(seen[0].headers["x-goog-api-key"], KEY);
    let body = seen[0].json();
    assert!(
        body["systemInstruction"]["parts"][0]["text"]
            .as_str()
            .unwrap()
            .contains("root_cause")
    );
    assert_eq!(body["contents"][0]["role"], "user");
    assert_eq!(
        body["generationConfig"]["responseMimeType"],
        "application/json"
    );
    assert_eq!(body["generationConfig"]["maxOutputTokens"], 1024);
}

#[tokio::test]
async fn azure_gets_its_api_key_header_and_keeps_the_api_version() {
    let server = serve(vec![openai_ok("plain text is fine here")]);
    let p = provider(ProviderKind::OpenAi, &server, |c| {
        c.base_url = Some(format!(
            "{}/openai/deployments/gpt-4o?api-version=2024-10-21",
            server.base
        ));
        c.api_key_header = Some("api-key".into());
    });
    let request = CompletionRequest {
        system: String::new(),
        user: "hello".into(),
        max_tokens: Some(5),
        json: false,
    };
    let c = p.complete(&request).await.unwrap();
    assert_eq!(c.text, "plain text is fine here");
    assert_eq!(c.model, "gpt-4.1-2025-04-14");
    assert_eq!(c.stop_reason.as_deref(), Some("stop"));
    let seen = server.seen();
    assert_eq!(
        seen[0].path,
        "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
    );
    assert_eq!(seen[0].headers["api-key"], KEY);
    assert!(!seen[0].headers.contains_key("authorization"));
    let body = seen[0].json();
    assert_eq!(
        body["messages"].as_array().unwrap().len(),
        1,
        "no empty system message"
    );
    assert!(body.get("response_format").is_none());
}

#[tokio::test]
async fn a_local_server_without_a_key_gets_no_authorization() {
    let server = serve(vec![openai_ok(ANSWER)]);
    let mut c = ProviderConfig::new(ProviderKind::OpenAi, "llama3.2");
    c.base_url = Some(format!("{}/v1", server.base));
    let p = Provider::new(c, &|_| None).unwrap();
    explain(&p, &analysis_of(LOG)).await.unwrap();
    assert!(!server.seen()[0].headers.contains_key("authorization"));
}

#[tokio::test]
async fn rate_limits_are_retried_after_the_time_the_provider_asks() {
    let mut limited = reply(429, fixture("gemini-error.429.json"));
    limited.headers.push(("retry-after", "1".into()));
    let server = serve(vec![limited, gemini_ok(ANSWER)]);
    let p = provider(ProviderKind::Gemini, &server, |_| {});
    let start = Instant::now();
    let (e, _) = explain(&p, &analysis_of(LOG)).await.unwrap();
    assert_eq!(e, expected());
    // Behaviour, not speed: the retry waited at least what Retry-After asked, where
    // the backoff alone would have waited at most 50 ms.
    assert!(
        start.elapsed() >= Duration::from_millis(950),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(server.seen().len(), 2);
    assert_eq!(p.usage().calls, 1, "a retried call counts once");
}

#[tokio::test]
async fn a_wait_longer_than_the_cap_is_not_waited_for() {
    let mut limited = reply(429, fixture("gemini-error.429.json"));
    limited.headers.push(("retry-after", "3600".into()));
    let server = serve(vec![limited, gemini_ok(ANSWER)]);
    let p = provider(ProviderKind::Gemini, &server, |_| {});
    let e = explain(&p, &analysis_of(LOG)).await.unwrap_err();
    match &e {
        ProviderError::RateLimited {
            retry_after,
            message,
        } => {
            assert_eq!(*retry_after, Some(Duration::from_secs(3600)));
            assert!(message.contains("RESOURCE_EXHAUSTED"), "{message}");
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
    assert!(e.to_string().contains("wait 3600s"), "{e}");
    assert_eq!(server.seen().len(), 1);
}

#[tokio::test]
async fn server_errors_and_overload_are_retried() {
    let server = serve(vec![
        reply(
            500,
            r#"{"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}}"#,
        ),
        openai_ok(ANSWER),
    ]);
    let p = provider(ProviderKind::OpenAi, &server, |_| {});
    explain(&p, &analysis_of(LOG)).await.unwrap();
    assert_eq!(server.seen().len(), 2);

    let server = serve(vec![
        reply(529, fixture("anthropic-error.529.json")),
        anthropic_ok(ANSWER),
    ]);
    let p = provider(ProviderKind::Anthropic, &server, |_| {});
    explain(&p, &analysis_of(LOG)).await.unwrap();
    assert_eq!(server.seen().len(), 2);

    // Retries run out: the provider's message and what to do.
    let server = serve(vec![reply(529, fixture("anthropic-error.529.json"))]);
    let p = provider(ProviderKind::Anthropic, &server, |c| {
        c.max_retries = Some(2)
    });
    let e = explain(&p, &analysis_of(LOG)).await.unwrap_err();
    assert!(
        matches!(e, ProviderError::Http { status: 529, .. }),
        "{e:?}"
    );
    let text = e.to_string();
    assert!(text.contains("overloaded_error: Overloaded"), "{text}");
    assert!(
        text.contains("after 3 attempts") && text.contains("try later"),
        "{text}"
    );
    assert_eq!(server.seen().len(), 3);
}

#[tokio::test]
async fn a_refused_key_is_not_retried_and_never_shown() {
    // OpenAI echoes the key it refused, masked in the middle; the test's key is
    // echoed that way and whole.
    let masked = format!("{}****************{}", &KEY[..8], &KEY[KEY.len() - 4..]);
    let body = fixture("openai-error.401.json").replace("sk-abc", &format!("{masked} ({KEY})"));
    let server = serve(vec![reply(401, body)]);
    let p = provider(ProviderKind::OpenAi, &server, |_| {});
    let e = explain(&p, &analysis_of(LOG)).await.unwrap_err();
    assert!(
        matches!(e, ProviderError::Http { status: 401, .. }),
        "{e:?}"
    );
    let text = e.to_string();
    assert!(text.contains("Incorrect API key provided"), "{text}");
    assert!(
        text.contains("check the API key in OPENAI_API_KEY"),
        "{text}"
    );
    for shown in [text.as_str(), &format!("{e:?}"), &format!("{p:?}")] {
        assert!(!shown.contains(KEY), "{shown}");
        assert!(
            !shown.contains("CANARY") && !shown.contains("fXYZ"),
            "{shown}"
        );
    }
    assert_eq!(server.seen().len(), 1, "401 is not retried");

    // Gemini refuses a bad key with 400 API_KEY_INVALID.
    let server = serve(vec![reply(400, fixture("gemini-error.400-api-key.json"))]);
    let p = provider(ProviderKind::Gemini, &server, |_| {});
    let e = explain(&p, &analysis_of(LOG)).await.unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("INVALID_ARGUMENT: API key not valid"),
        "{text}"
    );
    assert!(
        text.contains("check the API key in GEMINI_API_KEY"),
        "{text}"
    );
    assert_eq!(server.seen().len(), 1);

    let server = serve(vec![reply(
        404,
        r#"{"error":{"message":"The model `gpt-9` does not exist","type":"invalid_request_error","param":null,"code":"model_not_found"}}"#,
    )]);
    let p = provider(ProviderKind::OpenAi, &server, |_| {});
    let e = explain(&p, &analysis_of(LOG)).await.unwrap_err();
    assert!(
        e.to_string()
            .contains("check `model` (gpt-4o-mini) and `base_url`"),
        "{e}"
    );
    assert_eq!(server.seen().len(), 1);
}

#[tokio::test]
async fn a_spent_budget_stops_the_next_call() {
    let server = serve(vec![openai_ok(ANSWER)]);
    let p = provider(ProviderKind::OpenAi, &server, |c| {
        c.budget = Some(BudgetConfig {
            max_calls: Some(1),
            ..BudgetConfig::default()
        })
    });
    let a = analysis_of(LOG);
    explain(&p, &a).await.unwrap();
    // A clone shares the run's budget.
    let e = explain(&p.clone(), &a).await.unwrap_err();
    assert!(
        matches!(e, ProviderError::BudgetSpent { what: "calls", .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("1 of 1 calls"), "{e}");
    assert_eq!(
        server.seen().len(),
        1,
        "no request once the budget is spent"
    );

    // Tokens: the first answer uses 29 of 30; the second call may start, the third not.
    let server = serve(vec![openai_ok(ANSWER)]);
    let p = provider(ProviderKind::OpenAi, &server, |c| {
        c.budget = Some(BudgetConfig {
            max_tokens: Some(30),
            ..BudgetConfig::default()
        })
    });
    explain(&p, &a).await.unwrap();
    explain(&p, &a).await.unwrap();
    let e = explain(&p, &a).await.unwrap_err();
    assert!(e.to_string().contains("58 of 30 tokens"), "{e}");
    assert_eq!(server.seen().len(), 2);
}

#[tokio::test]
async fn a_provider_that_does_not_answer_times_out_on_every_attempt() {
    let mut slow = openai_ok(ANSWER);
    slow.delay = Duration::from_secs(3);
    let server = serve(vec![slow]);
    let p = provider(ProviderKind::OpenAi, &server, |c| {
        c.timeout = Some("300ms".into());
        c.max_retries = Some(1);
    });
    let e = explain(&p, &analysis_of(LOG)).await.unwrap_err();
    assert_eq!(
        e,
        ProviderError::Timeout {
            after: Duration::from_millis(300),
            attempts: 2
        }
    );
    assert!(e.to_string().contains("raise `timeout`"), "{e}");
    assert_eq!(server.seen().len(), 2, "a timeout is retried");
}

#[tokio::test]
async fn an_unreachable_provider_is_a_network_error() {
    // A port that was just free: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut c = ProviderConfig::new(ProviderKind::Anthropic, "claude-sonnet-4-5");
    c.base_url = Some(format!("http://127.0.0.1:{port}"));
    c.max_retries = Some(1);
    let p = Provider::new(c, &env)
        .unwrap()
        .with_retry_policy(RetryPolicy {
            base: Duration::from_millis(1),
            max_backoff: Duration::from_millis(1),
            max_wait: Duration::from_secs(1),
        });
    let e = explain(&p, &analysis_of(LOG)).await.unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, ProviderError::Network(_)), "{e:?}");
    assert!(
        text.contains("cannot connect") && text.contains("2 attempts"),
        "{text}"
    );
    assert!(!text.contains(KEY));
}

#[tokio::test]
async fn a_malformed_answer_is_asked_again_once_then_refused() {
    let server = serve(vec![
        anthropic_ok("The build failed because a test failed."),
        anthropic_ok(r#"{"root_cause": "x", "suggested_fix": "y", "confidence": 7}"#),
    ]);
    let p = provider(ProviderKind::Anthropic, &server, |_| {});
    let e = explain(&p, &analysis_of(LOG)).await.unwrap_err();
    assert_eq!(
        e,
        ProviderError::BadAnswer(
            "`confidence` must be a number from 0 to 1, got 7 (asked twice)".into()
        )
    );
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    let second = seen[1].json();
    let user = second["messages"][0]["content"].as_str().unwrap();
    assert!(
        user.contains("Your previous answer could not be used: no JSON object in the answer."),
        "{user}"
    );
    assert!(
        !user.contains("The build failed because"),
        "the wrong answer is not sent back"
    );
    assert_eq!(p.usage().calls, 2);

    // The second answer is good: its usage is added to the first's.
    let server = serve(vec![openai_ok("{\"root_cause\": \"\"}"), openai_ok(ANSWER)]);
    let p = provider(ProviderKind::OpenAi, &server, |_| {});
    let (e, usage) = explain(&p, &analysis_of(LOG)).await.unwrap();
    assert_eq!(e, expected());
    assert_eq!((usage.input_tokens, usage.output_tokens), (38, 20));

    // Not JSON at all from the server: a clear error, no retry.
    let server = serve(vec![reply(200, "<html>proxy login</html>")]);
    let p = provider(ProviderKind::Gemini, &server, |_| {});
    let e = explain(&p, &analysis_of(LOG)).await.unwrap_err();
    assert!(
        e.to_string().contains("is `base_url` the API's address?"),
        "{e}"
    );
    assert_eq!(server.seen().len(), 1);
}

#[tokio::test]
async fn secrets_planted_in_the_log_never_reach_a_provider() {
    let canaries = [
        "AKIAZ7Q2M5K3R8T4W6Y9",
        "ghp_Zq8xWv3Ty6Ur9Ps2Lm5KaB7cD1eF3gH5iJ7k",
        "glpat-Zq8xWv3Ty6Ur9Ps2Lm5K",
        "xoxb-12345678901-123456789012-Zq8xWv3Ty6Ur9Ps2Lm5KaB7c",
    ];
    let log = format!(
        "export AWS_ACCESS_KEY_ID={}\nerror: authentication failed for token {}\n\
         curl --header \"PRIVATE-TOKEN: {}\" https://gitlab.example.com/api/v4/projects\n\
         error: SLACK_BOT_TOKEN={} was refused\n{LOG}",
        canaries[0], canaries[1], canaries[2], canaries[3]
    );
    let a = analysis_of(&log);
    // The planted lines are in the excerpt (redacted), so they were candidates to send.
    assert!(
        a.key_lines.iter().any(|k| k.text.contains("[REDACTED:")),
        "{a:?}"
    );
    for (kind, ok) in [
        (ProviderKind::OpenAi, openai_ok(ANSWER)),
        (ProviderKind::Anthropic, anthropic_ok(ANSWER)),
        (ProviderKind::Gemini, gemini_ok(ANSWER)),
    ] {
        // The first answer is unusable, so the corrective request is checked too.
        let server = serve(vec![reply(200, ok.body.replace("root_cause", "cause")), ok]);
        let p = provider(kind, &server, |_| {});
        explain(&p, &a).await.unwrap();
        let seen = server.seen();
        assert_eq!(seen.len(), 2);
        for s in &seen {
            assert!(s.body.contains("[REDACTED:"), "{kind:?}: {}", s.body);
            for c in canaries {
                assert!(!s.body.contains(c), "{kind:?} sent {c}");
                assert!(!s.path.contains(c));
            }
        }
    }
}

#[tokio::test]
async fn an_answer_cut_off_at_the_limit_is_asked_again_with_more_room() {
    let mut cut: Value = serde_json::from_str(&fixture("anthropic-messages.200.json")).unwrap();
    cut["content"][0]["text"] = json!("{\"root_cause\": \"The parser accepts inval");
    cut["stop_reason"] = json!("max_tokens");
    let server = serve(vec![reply(200, cut.to_string()), anthropic_ok(ANSWER)]);
    let p = provider(ProviderKind::Anthropic, &server, |c| {
        c.max_output_tokens = Some(300)
    });
    let (e, _) = explain(&p, &analysis_of(LOG)).await.unwrap();
    assert_eq!(e, expected());
    let seen = server.seen();
    assert_eq!(seen[0].json()["max_tokens"], 300);
    assert_eq!(seen[1].json()["max_tokens"], 600);
    let user = seen[1].json()["messages"][0]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(user.contains("cut off at the token limit"), "{user}");
}
