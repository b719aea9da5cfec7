//! Every broken workflow under `tests/fixtures/invalid` must be refused, and what
//! `medic validate` says about it is pinned with insta: the wording, the caret, the
//! path and the hint are the user interface of validation.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use medic_engine::action::{
    Action, ApprovalInput, OutputDoc, Registry, StepContext, StepError, StepOutcome, TimeoutOutcome,
};
use medic_engine::diagnostic::{self, Diagnostic};
use medic_engine::validate;
use schemars::JsonSchema;
use serde::Deserialize;

// Small stand-ins for the real actions (which live in medic-actions), with configs of
// the same shape, so that `uses:` and `with:` checks have something to check against.

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ShellConfig {
    /// The command.
    run: String,
    /// Where to run it.
    #[serde(default)]
    working_dir: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ApprovalConfig {
    /// What to ask.
    message: String,
    /// Who may answer.
    #[serde(default)]
    approvers: Vec<String>,
    /// How long to wait.
    #[serde(default)]
    timeout: Option<String>,
    /// What silence means.
    #[serde(default)]
    on_timeout: Option<TimeoutOutcome>,
    /// What approvers fill in.
    #[serde(default)]
    inputs: BTreeMap<String, ApprovalInput>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct LogConfig {
    /// The line to log.
    message: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
#[allow(dead_code)]
enum Method {
    Get,
    Post,
    Put,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct HttpConfig {
    /// Where.
    url: String,
    /// How.
    #[serde(default)]
    method: Option<Method>,
    /// The status that counts as success.
    #[serde(default)]
    expect_status: Option<u16>,
    /// Bodies to expect by status.
    #[serde(default)]
    expect: BTreeMap<String, String>,
    /// Seconds to wait.
    #[serde(default)]
    timeout_secs: Option<u32>,
}

macro_rules! test_action {
    ($ty:ident, $name:literal, $config:ty) => {
        struct $ty;

        #[async_trait]
        impl Action for $ty {
            type Config = $config;
            const NAME: &'static str = $name;
            const DESCRIPTION: &'static str = "test stand-in";
            const EXAMPLE: &'static str = "";
            const OUTPUTS: &'static [OutputDoc] = &[];

            async fn run(&self, _: $config, _: &StepContext) -> Result<StepOutcome, StepError> {
                Ok(StepOutcome::Success(Default::default()))
            }
        }
    };
}

test_action!(Shell, "shell", ShellConfig);
test_action!(Approval, "approval", ApprovalConfig);
test_action!(Log, "log", LogConfig);
test_action!(Http, "http", HttpConfig);

fn registry() -> Registry {
    let mut r = Registry::new();
    r.register(Shell)
        .register(Approval)
        .register(Log)
        .register(Http);
    r
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/invalid")
}

fn fixtures() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// The diagnostics of a fixture as a user sees them (no colour), with the machine's
/// path to the fixtures replaced so that snapshots are the same everywhere.
fn rendered(path: &Path, diagnostics: &[Diagnostic]) -> String {
    let text = validate::render_file_diagnostics(path, diagnostics, false);
    let dir = fixtures_dir().display().to_string();
    text.replace(&dir, "fixtures")
}

#[test]
fn every_invalid_fixture_is_refused_with_pinned_diagnostics() {
    let files = fixtures();
    assert!(
        files.len() >= 30,
        "expected at least 30 fixtures, found {}",
        files.len()
    );
    let registry = registry();
    for path in files {
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("fixture")
            .to_string();
        let diagnostics = match validate::load_file(&path, &registry) {
            Ok(_) => panic!("{name} validated, but every fixture here is broken"),
            Err(d) => d,
        };
        assert!(
            diagnostics.iter().any(Diagnostic::is_error),
            "{name}: no error among {diagnostics:?}"
        );
        insta::assert_snapshot!(name, rendered(&path, &diagnostics));
    }
}

#[test]
fn diagnostics_serialize_for_json_output() {
    let path = fixtures_dir().join("unknown-needs.yaml");
    let diagnostics = validate::load_file(&path, &registry()).unwrap_err();
    let mut json = diagnostic::to_json(&diagnostics);
    json[0]["file"] = "fixtures/unknown-needs.yaml".into();
    insta::assert_json_snapshot!("unknown-needs-json", json);
}

#[test]
fn validate_paths_reports_each_fixture() {
    let results = validate::validate_paths(&[fixtures_dir()], &registry());
    assert_eq!(results.len(), fixtures().len());
    assert!(results.iter().all(|(_, r)| r.is_err()));
}

const NIGHTLY_CHECK: &str = r#"name: nightly-check
description: Run the test suite and ask a human when it fails.
on:
  manual: {}
  schedule: [{ cron: "0 3 * * *", timezone: Europe/Paris }]
inputs:
  repo: { type: string, default: acme/api }
defaults: { timeout: 10m, retry: { max_attempts: 2 } }
steps:
  test:
    uses: shell
    with: { run: "cargo test", working_dir: "{{ inputs.repo }}" }
    continue_on_error: true
  ask:
    needs: [test]
    if: "{{ steps.test.outputs.exit_code != 0 }}"
    uses: approval
    with: { message: "Tests failed in {{ inputs.repo }}", approvers: [alice], timeout: 4h, on_timeout: reject }
finally:
  report:
    uses: log
    with: { message: "run {{ run.id }} ended {{ run.status }}" }
"#;

#[test]
fn the_nightly_check_example_validates() {
    use medic_engine::workflow::{Phase, RetryPolicy};
    use std::time::Duration;

    let wf = validate::load_str(NIGHTLY_CHECK, Path::new("nightly-check.yaml"), &registry())
        .unwrap_or_else(|d| panic!("{}", diagnostic::render(&d, NIGHTLY_CHECK, false)));
    assert_eq!(wf.name, "nightly-check");
    assert!(wf.triggers.manual);
    assert_eq!(wf.triggers.schedules.len(), 1);
    assert_eq!(wf.triggers.schedules[0].timezone, chrono_tz::Europe::Paris);
    assert_eq!(
        wf.inputs["repo"].default,
        Some(serde_json::json!("acme/api"))
    );
    let ids: Vec<(&str, Phase)> = wf.steps.iter().map(|s| (s.id.as_str(), s.phase)).collect();
    assert_eq!(
        ids,
        vec![
            ("test", Phase::Main),
            ("ask", Phase::Main),
            ("report", Phase::Finally)
        ]
    );
    let test = wf.step("test").unwrap();
    assert_eq!(test.timeout, Some(Duration::from_secs(600)));
    assert_eq!(
        test.retry,
        RetryPolicy {
            max_attempts: 2,
            ..RetryPolicy::default()
        }
    );
    assert!(test.continue_on_error);
    let ask = wf.step("ask").unwrap();
    let cond = ask.condition.as_ref().unwrap();
    assert_eq!(cond.expr, "steps.test.outputs.exit_code != 0");
    assert!(!cond.checks_status);
    assert_eq!(ask.with["approvers"], serde_json::json!(["alice"]));
    assert_eq!(wf.max_parallel, 8);
    assert_eq!(wf.source, NIGHTLY_CHECK);
}

/// Whatever a user (or a webhook) feeds in, validation answers with diagnostics, never
/// a panic: every prefix of a real workflow, and every fixture with each line removed.
#[test]
fn no_input_makes_validation_panic() {
    let registry = registry();
    let mut inputs: Vec<String> = Vec::new();
    for end in 0..=NIGHTLY_CHECK.len() {
        if let Some(prefix) = NIGHTLY_CHECK.get(..end) {
            inputs.push(prefix.to_string());
        }
    }
    for path in fixtures() {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let lines: Vec<&str> = text.lines().collect();
        for skip in 0..lines.len() {
            let mut kept = lines.clone();
            kept.remove(skip);
            inputs.push(kept.join("\n"));
        }
    }
    // Odd shapes the fixtures do not cover.
    inputs.extend(
        [
            "name: x\nsteps:\n  a: {uses: log, with: {message: '{{ steps[0] }}'}}\n",
            "name: x\nsteps:\n  a: {uses: log, with: {message: '{{ (((((((((((((((((((((((((((1))))))))))))))))))))))))))) }}'}}\n",
            "name: x\non: {schedule: [{cron: 'L W # ? * *'}, {cron: '0 0 31 2 *'}, {cron: '@reboot'}]}\nsteps: {}\n",
            "name: x\nsteps:\n  a: {uses: log, if: '', for_each: '', with: {message: '{% for %}'}}\n",
            "name: x\nsteps: !!map {a: !custom {uses: log}}\n",
            "? [complex, key]\n: value\n",
            "name: \u{feff}\u{200b}é\nsteps:\n  ü: {uses: log, needs: [ü, ü], with: {message: '{{ steps.ü.status }}'}}\n",
        ]
        .map(String::from),
    );
    for input in &inputs {
        // A panic fails the test; the result itself may be anything.
        let _ = validate::load_str(input, Path::new("fuzz.yaml"), &registry);
    }
    assert!(inputs.len() > 1000, "only {} inputs", inputs.len());
}
