//! `analyze`: triage a failed CI build's log inside a workflow — the same library,
//! excerpt, category and fingerprint as `medic analyze`, as outputs the decide step
//! reads.

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use medic_analyze::fetch::FetchError;
use medic_analyze::http::{HttpOptions, fetch_url};
use medic_analyze::provider::{Provider, ProviderConfig, explain};
use medic_analyze::read::Source;
use medic_analyze::report;
use medic_analyze::sanitize::Sanitizer;
use medic_analyze::triage::{self, Analysis, Baseline, Options, Seen};
use medic_engine::action::{
    Action, ErrorKind, OutputDoc, Outputs, StepContext, StepError, StepOutcome,
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use crate::support::{config_error, masked_outputs};

/// The `analyze` action.
#[derive(Debug, Clone, Copy, Default)]
pub struct Analyze;

/// `with:` of an `analyze` step. Give exactly one of `log`, `path` and `url`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnalyzeConfig {
    /// The log text itself, e.g. `{{ steps.build.outputs.stderr }}`.
    #[serde(default)]
    pub log: Option<String>,
    /// A log file (plain, gzip, or the zip GitHub serves), relative to the run's folder.
    #[serde(default)]
    pub path: Option<String>,
    /// The URL of a GitHub Actions run or job, a GitLab job or a Buildkite build. Tokens
    /// come from the step's environment or Medic's: GITHUB_TOKEN, GITLAB_TOKEN (or
    /// CI_JOB_TOKEN), BUILDKITE_API_TOKEN. For a run or build with several failed jobs,
    /// the first is analysed and `jobs` names them all.
    #[serde(default)]
    pub url: Option<String>,
    /// A passing log of the same job (a file): lines absent from it rank first.
    #[serde(default)]
    pub baseline: Option<String>,
    /// Most lines in the excerpt, context included (default 40).
    #[serde(default = "default_max_lines")]
    pub max_lines: usize,
    /// Seconds one HTTP request may take when fetching `url` (default 60).
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// Optional: an AI provider that explains the failure (fields `kind`, `model`,
    /// `base_url`, `api_key_env`, `api_key_header`, `timeout`, `max_retries`,
    /// `max_output_tokens`, `budget`, `price`; see docs/analyze.md, "AI providers").
    /// Only the sanitized excerpt, category, tool, tests and locations are sent. Fills
    /// `explanation` and `ai_usage`; a provider that fails leaves `explanation` null
    /// and the step still succeeds. Not called in a dry run.
    #[serde(default)]
    pub ai: Option<ProviderConfig>,
}

fn default_max_lines() -> usize {
    40
}

fn default_timeout() -> u64 {
    60
}

/// Where the log comes from, once checked.
enum Input {
    Text(String),
    File(PathBuf),
    Url(String),
}

impl AnalyzeConfig {
    fn input(&self, ctx: &StepContext) -> Result<Input, StepError> {
        match (&self.log, &self.path, &self.url) {
            (Some(log), None, None) => Ok(Input::Text(log.clone())),
            (None, Some(path), None) => Ok(Input::File(ctx.base_dir.join(path))),
            (None, None, Some(url)) => Ok(Input::Url(url.clone())),
            _ => Err(config_error(
                "give exactly one of `log` (the text), `path` (a file) and `url` (a CI run, job or build)",
            )),
        }
    }
}

/// Count this sighting of the fingerprint in the run's store, shared by every run and
/// worker on the database (and by `medic analyze`); a dry run only reads the count.
async fn count_sighting(analysis: &mut Analysis, ctx: &StepContext) {
    let Some(store) = &ctx.store else { return };
    let now = chrono::Utc::now();
    let sighting = if ctx.dry_run {
        store.sighting(&analysis.fingerprint).await
    } else {
        store
            .record_sighting(&analysis.fingerprint, Some(analysis.category.as_str()), now)
            .await
            .map(Some)
    };
    match sighting {
        Ok(Some(s)) => {
            analysis.seen = Some(Seen {
                count: s.count.max(0) as u64,
                first_seen: s.first_seen.timestamp().max(0) as u64,
                last_seen: s.last_seen.timestamp().max(0) as u64,
            });
        }
        Ok(None) => {}
        Err(e) => ctx.log(format!("warning: seen_count unavailable: {e}")),
    }
}

#[async_trait]
impl Action for Analyze {
    type Config = AnalyzeConfig;
    const NAME: &'static str = "analyze";
    const DESCRIPTION: &'static str = "Triages a failed CI build's log (text, file, or a GitHub \
        Actions, GitLab or Buildkite URL): the lines that explain the failure, its category \
        with a confidence, the tool, failing tests, file:line locations and a stable \
        fingerprint, with every secret removed first. Succeeds whenever the log could be \
        read, whatever the build's outcome; fails (`network`) when a URL cannot be fetched.";
    const EXAMPLE: &'static str = r#"triage:
  uses: analyze
  with:
    path: build.log
    max_lines: 30
"#;
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc {
            name: "category",
            kind: "string",
            description: "compile, test, lint, dependency, network, timeout, oom, disk, \
                permission, config, infrastructure, flaky, cancelled or unknown.",
        },
        OutputDoc {
            name: "confidence",
            kind: "number",
            description: "How sure the category is, 0 to 1.",
        },
        OutputDoc {
            name: "fingerprint",
            kind: "string",
            description: "16 hex digits; the same failure in two reruns gets the same value.",
        },
        OutputDoc {
            name: "summary",
            kind: "string",
            description: "The line that best states the failure.",
        },
        OutputDoc {
            name: "tool",
            kind: "string",
            description: "The tool most involved (cargo, npm, pytest, go, maven, …); null if none.",
        },
        OutputDoc {
            name: "tests",
            kind: "list",
            description: "Failing test names.",
        },
        OutputDoc {
            name: "locations",
            kind: "list",
            description: "`file:line[:col]` near the failure.",
        },
        OutputDoc {
            name: "key_lines",
            kind: "list",
            description: "The excerpt: `{line, text, role}` with original line numbers.",
        },
        OutputDoc {
            name: "report_markdown",
            kind: "string",
            description: "A Markdown report for a pull request or chat message.",
        },
        OutputDoc {
            name: "seen_count",
            kind: "number",
            description: "How often this fingerprint was seen, this time included, counted in the store that every run, worker and `medic analyze` share.",
        },
        OutputDoc {
            name: "jobs",
            kind: "list",
            description: "With `url`: the names of the fetched jobs (the first is analysed).",
        },
        OutputDoc {
            name: "explanation",
            kind: "object",
            description: "With `ai`: `{root_cause, suggested_fix, confidence}` from the model, \
                checked and sanitized; null without `ai`, in a dry run, or when the provider \
                failed (the step's log says why).",
        },
        OutputDoc {
            name: "ai_usage",
            kind: "object",
            description: "With `ai`: `{calls, input_tokens, output_tokens, cost_usd}` of this \
                step's AI calls (`cost_usd` null without a `price`); null without `ai`.",
        },
    ];

    async fn run(
        &self,
        config: AnalyzeConfig,
        ctx: &StepContext,
    ) -> Result<StepOutcome, StepError> {
        let input = config.input(ctx)?;
        // Checked before the log is read: a missing key is the step's configuration.
        let provider = match config.ai.clone() {
            Some(ai) => {
                let env = ctx.env.clone();
                let lookup = move |k: &str| env.get(k).cloned().or_else(|| std::env::var(k).ok());
                Some(Provider::new(ai, &lookup).map_err(|e| config_error(format!("`ai`: {e}")))?)
            }
            None => None,
        };
        if config.max_lines == 0 {
            return Err(config_error("`max_lines` must be at least 1"));
        }
        let options = Options {
            max_key_lines: config.max_lines,
            ..Options::default()
        };
        let baseline = match &config.baseline {
            Some(path) => {
                let path = ctx.base_dir.join(path);
                let read = options.read.clone();
                let b = blocking(move || Baseline::from_source(&Source::File(path), &read))
                    .await?
                    .map_err(|e| config_error(format!("`baseline`: {e}")))?;
                Some(b)
            }
            None => None,
        };
        let mut jobs = Vec::new();
        let source = match input {
            Input::Text(text) => Source::Bytes(text.into_bytes()),
            Input::File(path) => {
                if !path.is_file() {
                    return Err(config_error(format!(
                        "`path`: {} is not a file",
                        path.display()
                    )));
                }
                Source::File(path)
            }
            Input::Url(url) => {
                let http = HttpOptions {
                    timeout: Duration::from_secs(config.timeout_secs.max(1)),
                    ..HttpOptions::default()
                };
                let env = ctx.env.clone();
                let lookup = move |k: &str| env.get(k).cloned().or_else(|| std::env::var(k).ok());
                let logs = fetch_url(&url, &lookup, &http)
                    .await
                    .map_err(|e| fetch_error(&e))?;
                jobs = logs.iter().map(|l| l.name.clone()).collect();
                match logs.into_iter().next() {
                    Some(first) => Source::Bytes(first.bytes),
                    None => {
                        return Err(StepError::new(
                            ErrorKind::Failed,
                            format!("{url}: no job with a log to analyse"),
                        ));
                    }
                }
            }
        };
        let mut analysis: Analysis = blocking(move || {
            triage::analyze_source(
                &source,
                &mut Sanitizer::default(),
                baseline.as_ref(),
                &options,
            )
        })
        .await?
        .map_err(|e| config_error(e.to_string()))?;

        count_sighting(&mut analysis, ctx).await;
        for w in &analysis.warnings {
            ctx.log(format!("warning: {w}"));
        }
        ctx.log(format!(
            "{} ({:.0}%): {}",
            analysis.category.as_str(),
            analysis.confidence * 100.0,
            analysis.summary
        ));

        let mut outputs = match report::action_outputs(&analysis) {
            Value::Object(map) => map,
            _ => Outputs::new(),
        };
        outputs.insert("summary".into(), Value::String(analysis.summary.clone()));
        outputs.insert(
            "jobs".into(),
            Value::Array(jobs.into_iter().map(Value::String).collect()),
        );
        let (explanation, ai_usage) = match &provider {
            None => (Value::Null, Value::Null),
            Some(p) if ctx.dry_run => {
                ctx.log(format!(
                    "dry run: would ask {} {} to explain the failure",
                    p.kind().as_str(),
                    p.model()
                ));
                (
                    Value::Null,
                    serde_json::to_value(p.usage()).unwrap_or_default(),
                )
            }
            Some(p) => {
                let explanation = match explain(p, &analysis).await {
                    Ok((e, usage)) => {
                        ctx.log(format!(
                            "AI explanation by {} {} (confidence {:.0}%): {} input + {} output tokens",
                            p.kind().as_str(),
                            p.model(),
                            e.confidence * 100.0,
                            usage.input_tokens,
                            usage.output_tokens
                        ));
                        if let Some(Value::String(md)) = outputs.get_mut("report_markdown") {
                            md.push_str(&report::ai_markdown(
                                &e,
                                report::AiByline {
                                    provider: p.kind().as_str(),
                                    model: p.model(),
                                    usage: &usage,
                                },
                            ));
                        }
                        serde_json::to_value(&e).unwrap_or_default()
                    }
                    Err(e) => {
                        ctx.log(format!("warning: no AI explanation: {e}"));
                        Value::Null
                    }
                };
                (
                    explanation,
                    serde_json::to_value(p.usage()).unwrap_or_default(),
                )
            }
        };
        outputs.insert("explanation".into(), explanation);
        outputs.insert("ai_usage".into(), ai_usage);
        Ok(StepOutcome::Success(masked_outputs(&ctx.masker, outputs)))
    }
}

/// Runs CPU-bound or file work off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, StepError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StepError::new(ErrorKind::Internal, format!("analysis stopped: {e}")))
}

/// A fetch error as a step error: bad URLs and missing tokens are configuration,
/// an HTTP error status is a failure, the rest is the network (retryable).
fn fetch_error(e: &FetchError) -> StepError {
    let kind = match e {
        FetchError::UnknownUrl { .. } | FetchError::MissingToken { .. } => ErrorKind::Config,
        FetchError::Status { status, .. } if *status < 500 && *status != 429 => ErrorKind::Failed,
        _ => ErrorKind::Network,
    };
    StepError::new(kind, e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::support::test_context;
    use serde_json::json;

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

    fn config(value: Value) -> AnalyzeConfig {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn example_config_parses_and_unknown_fields_are_refused() {
        let c = crate::support::example_config::<Analyze>();
        assert_eq!((c.path.as_deref(), c.max_lines), (Some("build.log"), 30));
        let err =
            serde_json::from_value::<AnalyzeConfig>(json!({"log": "x", "lines": 3})).unwrap_err();
        assert!(err.to_string().contains("unknown field `lines`"), "{err}");
    }

    #[tokio::test]
    async fn analyses_log_text_into_the_documented_outputs() {
        let dir = tempfile::tempdir().unwrap();
        let store = medic_engine::store::Store::connect(dir.path().join("m.db").to_str().unwrap())
            .await
            .unwrap();
        let ctx = test_context(&[], dir.path()).with_store(store);
        let StepOutcome::Success(out) = Analyze
            .run(config(json!({"log": LOG})), &ctx)
            .await
            .unwrap()
        else {
            panic!("analyze succeeds")
        };
        assert_eq!(out["category"], "test");
        assert_eq!(out["tool"], "cargo");
        assert_eq!(out["tests"], json!(["parser::tests::rejects_bad_utf8"]));
        assert!(out["locations"].is_array());
        assert_eq!(out["fingerprint"].as_str().unwrap().len(), 16);
        assert!(
            out["report_markdown"]
                .as_str()
                .unwrap()
                .contains("rejects_bad_utf8")
        );
        assert!(out["key_lines"][0]["line"].as_u64().unwrap() >= 1);
        assert_eq!(out["seen_count"], 1);
        for doc in Analyze::OUTPUTS {
            assert!(
                out.contains_key(doc.name),
                "documented output {} missing",
                doc.name
            );
        }
        // The same failure again: the fingerprint repeats and the count grows.
        let StepOutcome::Success(again) = Analyze
            .run(config(json!({"log": LOG})), &ctx)
            .await
            .unwrap()
        else {
            panic!("analyze succeeds")
        };
        assert_eq!(again["fingerprint"], out["fingerprint"]);
        assert_eq!(again["seen_count"], 2);
    }

    #[tokio::test]
    async fn secrets_in_the_log_never_reach_the_outputs() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = test_context(&[], dir.path());
        let token = "glpat-Zq8xWv3Ty6Ur9Ps2Lm5K";
        let log = format!("error: push rejected, token {token} is not valid\n{LOG}");
        std::fs::write(dir.path().join("build.log"), &log).unwrap();
        let StepOutcome::Success(out) = Analyze
            .run(config(json!({"path": "build.log"})), &ctx)
            .await
            .unwrap()
        else {
            panic!("analyze succeeds")
        };
        let text = Value::Object(out).to_string();
        assert!(text.contains("[REDACTED:"), "{text}");
        assert!(!text.contains(token));
        assert!(!ctx.logs().join("\n").contains(token));
    }

    #[tokio::test]
    async fn bad_inputs_are_config_errors_that_say_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = test_context(&[], dir.path());
        let e = Analyze
            .run(config(json!({"log": "x", "path": "y"})), &ctx)
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Config);
        assert!(e.message.contains("exactly one"), "{}", e.message);
        let e = Analyze
            .run(config(json!({"path": "missing.log"})), &ctx)
            .await
            .unwrap_err();
        assert!(e.message.contains("missing.log"), "{}", e.message);
        // Only where no token is set (a CI machine may have one).
        if std::env::var_os("BUILDKITE_API_TOKEN").is_none() {
            let e = Analyze
                .run(
                    config(json!({"url": "https://buildkite.com/o/p/builds/1"})),
                    &ctx,
                )
                .await
                .unwrap_err();
            assert_eq!(e.kind, ErrorKind::Config);
            assert!(e.message.contains("BUILDKITE_API_TOKEN"), "{}", e.message);
        }
        let e = Analyze
            .run(config(json!({"url": "https://example.com/nope"})), &ctx)
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Config);
    }
}

#[cfg(test)]
mod ai_tests {
    //! The `ai:` field against a local server speaking OpenAI's chat completions,
    //! answering with the API reference example of medic-analyze's fixtures.

    use super::*;
    use crate::support::test_context;
    use serde_json::json;

    const LOG: &str = "\
test parser::tests::rejects_bad_utf8 ... FAILED
thread 'parser::tests::rejects_bad_utf8' panicked at src/parser.rs:42:9:
assertion failed: result.is_err()
error: test failed, to rerun pass `--lib`
";

    /// A local OpenAI-compatible server answering every request with `status` and `body`.
    fn server(
        status: u16,
        body: String,
    ) -> (
        String,
        std::sync::mpsc::Receiver<medic_analyze::testing::Received>,
    ) {
        medic_analyze::testing::scripted_server(std::iter::repeat((status, body)))
    }

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!(
            "{}/../analyze/tests/fixtures/ai/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    fn answer() -> String {
        medic_analyze::testing::openai_answer(
            r#"{"root_cause": "The parser accepts invalid UTF-8.", "suggested_fix": "Return an error when from_utf8 fails.", "confidence": 0.7}"#,
        )
    }

    fn config(value: Value) -> AnalyzeConfig {
        serde_json::from_value(value).unwrap()
    }

    #[tokio::test]
    async fn ai_adds_an_explanation_and_its_usage() {
        let (base, requests) = server(200, answer());
        let dir = tempfile::tempdir().unwrap();
        let mut ctx = test_context(&[], dir.path());
        ctx.env
            .insert("STEP_AI_KEY".into(), "sk-step-key-0123456789".into());
        let token = "glpat-Zq8xWv3Ty6Ur9Ps2Lm5K";
        let log = format!("error: token {token} rejected\n{LOG}");
        let c = config(json!({
            "log": log,
            "ai": {"kind": "openai", "model": "gpt-4o-mini", "base_url": base,
                   "api_key_env": "STEP_AI_KEY",
                   "price": {"input_usd_per_million": 1.0, "output_usd_per_million": 2.0}}
        }));
        let StepOutcome::Success(out) = Analyze.run(c, &ctx).await.unwrap() else {
            panic!("analyze succeeds")
        };
        assert_eq!(out["explanation"]["confidence"], 0.7);
        assert_eq!(
            out["explanation"]["root_cause"],
            "The parser accepts invalid UTF-8."
        );
        assert_eq!(out["ai_usage"]["calls"], 1);
        assert_eq!(out["ai_usage"]["input_tokens"], 19);
        assert_eq!(out["ai_usage"]["output_tokens"], 10);
        assert!((out["ai_usage"]["cost_usd"].as_f64().unwrap() - 39e-6).abs() < 1e-12);
        let md = out["report_markdown"].as_str().unwrap();
        assert!(
            md.contains("#### AI explanation (openai `gpt-4o-mini`"),
            "{md}"
        );
        let sent = requests.recv().unwrap().body;
        assert!(
            sent.contains("rejects_bad_utf8") && !sent.contains(token),
            "{sent}"
        );
        assert!(
            ctx.logs()
                .join("\n")
                .contains("AI explanation by openai gpt-4o-mini")
        );
    }

    #[tokio::test]
    async fn a_missing_key_fails_the_step_and_a_failing_provider_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = test_context(&[], dir.path());
        let e = Analyze
            .run(
                config(json!({"log": LOG, "ai": {"kind": "gemini", "model": "gemini-2.5-flash", "api_key_env": "NO_SUCH_AI_KEY_VAR"}})),
                &ctx,
            )
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Config);
        assert!(e.message.contains("NO_SUCH_AI_KEY_VAR"), "{}", e.message);

        let (base, requests) = server(500, fixture("anthropic-error.529.json"));
        let c = config(json!({
            "log": LOG,
            "ai": {"kind": "openai", "model": "m", "base_url": base, "max_retries": 0}
        }));
        let StepOutcome::Success(out) = Analyze.run(c, &ctx).await.unwrap() else {
            panic!("analyze succeeds")
        };
        assert!(out["explanation"].is_null());
        assert_eq!(out["ai_usage"]["calls"], 1);
        assert_eq!(out["category"], "test");
        assert!(
            ctx.logs()
                .join("\n")
                .contains("warning: no AI explanation: the AI provider answered HTTP 500"),
            "{:?}",
            ctx.logs()
        );
        assert_eq!(requests.try_iter().count(), 1);
    }

    #[tokio::test]
    async fn a_dry_run_does_not_call_the_provider() {
        let (base, requests) = server(200, answer());
        let dir = tempfile::tempdir().unwrap();
        let mut ctx = test_context(&[], dir.path());
        ctx.dry_run = true;
        let c =
            config(json!({"log": LOG, "ai": {"kind": "openai", "model": "m", "base_url": base}}));
        let StepOutcome::Success(out) = Analyze.run(c, &ctx).await.unwrap() else {
            panic!("analyze succeeds")
        };
        assert!(out["explanation"].is_null());
        assert_eq!(out["ai_usage"]["calls"], 0);
        assert!(
            ctx.logs()
                .join("\n")
                .contains("dry run: would ask openai m")
        );
        assert!(requests.try_recv().is_err());
    }

    #[tokio::test]
    async fn without_ai_the_outputs_are_null() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = test_context(&[], dir.path());
        let StepOutcome::Success(out) = Analyze
            .run(config(json!({"log": LOG})), &ctx)
            .await
            .unwrap()
        else {
            panic!("analyze succeeds")
        };
        assert!(out["explanation"].is_null() && out["ai_usage"].is_null());
        let e = serde_json::from_value::<AnalyzeConfig>(
            json!({"log": "x", "ai": {"kind": "openai", "model": "m", "key": "sk"}}),
        )
        .unwrap_err();
        assert!(e.to_string().contains("unknown field `key`"), "{e}");
    }
}
