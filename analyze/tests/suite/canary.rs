//! Canary tests: plant generated secrets of many types into real CI logs, run
//! every path that produces output (sanitize stream, analysis, all four reports,
//! the cache), and prove that no planted value comes out.

use std::io::Cursor;

use medic_analyze::cache::{Cache, CacheConfig, cache_key, hash_bytes};
use medic_analyze::read::{ReadOptions, Source, read_log};
use medic_analyze::report;
use medic_analyze::sanitize::Sanitizer;
use medic_analyze::triage::{self, Baseline, Options};

/// Deterministic pseudo-random strings (xorshift), so the canaries are fixed
/// but not guessable words.
struct Gen(u64);

impl Gen {
    fn pick(&mut self, alphabet: &str, n: usize) -> String {
        let chars: Vec<char> = alphabet.chars().collect();
        (0..n)
            .map(|_| {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                chars[(self.0 % chars.len() as u64) as usize]
            })
            .collect()
    }
}

const ALNUM: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const HEX: &str = "0123456789abcdef";
const B64: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URLSAFE: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";

/// (line to plant, the secret values that must not come out).
fn canaries() -> Vec<(String, Vec<String>)> {
    let mut g = Gen(0x5eed_cafe_f00d_d00d);
    let mut c: Vec<(String, Vec<String>)> = Vec::new();
    let mut add = |line: String, secrets: Vec<String>| c.push((line, secrets));

    let v = format!("AKIA{}", g.pick("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16));
    add(format!("export AWS_ACCESS_KEY_ID={v}"), vec![v]);
    let v = g.pick(B64, 40);
    add(format!("aws_secret_access_key = {v}"), vec![v]);
    let v = format!("ghs_{}", g.pick(ALNUM, 36));
    add(
        format!("git clone https://x-access-token:{v}@github.com/acme/app.git"),
        vec![v],
    );
    let v = format!("ghp_{}", g.pick(ALNUM, 36));
    add(
        format!("error: authentication failed for token {v}"),
        vec![v],
    );
    let v = format!(
        "github_pat_{}",
        g.pick("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_", 82)
    );
    add(format!("GH_TOKEN: {v}"), vec![v]);
    let v = format!("glpat-{}", g.pick(URLSAFE, 20));
    add(
        format!("curl --header \"PRIVATE-TOKEN: {v}\" https://gitlab.example.com/api/v4/projects"),
        vec![v],
    );
    let v = format!(
        "xoxb-{}-{}-{}",
        g.pick("0123456789", 11),
        g.pick("0123456789", 12),
        g.pick(ALNUM, 24)
    );
    add(format!("SLACK_BOT_TOKEN={v}"), vec![v]);
    let v = format!(
        "T{}/B{}/{}",
        g.pick(ALNUM, 10),
        g.pick(ALNUM, 10),
        g.pick(ALNUM, 24)
    );
    add(
        format!("posting to https://hooks.slack.com/services/{v}"),
        vec![v],
    );
    let v = format!("sk_live_{}", g.pick(ALNUM, 24));
    add(
        format!("Stripe::Error: invalid request with key {v}"),
        vec![v],
    );
    let v = format!("npm_{}", g.pick(ALNUM, 36));
    add(format!("//registry.npmjs.org/:_authToken={v}"), vec![v]);
    let v = format!("pypi-AgEIcHlwaS5vcmc{}", g.pick(URLSAFE, 80));
    add(format!("TWINE_PASSWORD={v}"), vec![v]);
    let v = format!("dckr_pat_{}", g.pick(URLSAFE, 27));
    add(format!("echo {v} | docker login --password-stdin"), vec![v]);
    let v = g.pick(ALNUM, 16);
    add(
        format!("+ docker login -u ci-bot -p {v} registry.example.com"),
        vec![v],
    );
    let v = g.pick(ALNUM, 14);
    add(format!("+ mysql -uroot -p{v} -h db -e 'select 1'"), vec![v]);
    let v = g.pick(ALNUM, 12);
    add(format!("PGPASSWORD={v} psql -h localhost -U app"), vec![v]);
    let v = g.pick(ALNUM, 18);
    add(
        format!("Error: connect ECONNREFUSED postgres://app:{v}@db.internal:5432/app"),
        vec![v],
    );
    let v = g.pick(ALNUM, 18);
    add(
        format!("MONGO_URL=mongodb+srv://svc:{v}@cluster0.example.net/prod"),
        vec![v],
    );
    let v = g.pick(URLSAFE, 40);
    add(format!("> Authorization: Bearer {v}"), vec![v]);
    let v = g.pick(B64, 32);
    add(format!("-H 'Authorization: Basic {v}'"), vec![v]);
    let v = format!(
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ{}.{}",
        g.pick(URLSAFE, 40),
        g.pick(URLSAFE, 43)
    );
    add(format!("id_token={v}"), vec![v]);
    let v = format!(
        "sk-proj-{}T3BlbkFJ{}",
        g.pick(URLSAFE, 40),
        g.pick(URLSAFE, 40)
    );
    add(format!("OPENAI_API_KEY={v}"), vec![v]);
    let v = format!("sk-ant-api03-{}AA", g.pick(URLSAFE, 93));
    add(format!("anthropic: 401 invalid x-api-key {v}"), vec![v]);
    let v = format!(
        "hf_{}",
        g.pick("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", 34)
    );
    add(format!("huggingface-cli login --token {v}"), vec![v]);
    let v = format!("AIza{}", g.pick(URLSAFE, 35));
    add(format!("GEMINI_API_KEY: {v}"), vec![v]);
    let v = format!("SG.{}.{}", g.pick(URLSAFE, 22), g.pick(URLSAFE, 43));
    add(format!("sendgrid key {v} rejected"), vec![v]);
    let v = format!("SK{}", g.pick(HEX, 32));
    add(format!("twilio api key {v}"), vec![v]);
    let v = format!("{}:AA{}", g.pick("123456789", 9), g.pick(URLSAFE, 33));
    add(format!("TELEGRAM_TOKEN={v}"), vec![v]);
    let v = g.pick(HEX, 32);
    add(format!("DD_API_KEY={v}"), vec![v]);
    let v = g.pick(HEX, 32);
    add(
        format!("SENTRY_DSN=https://{v}@o4501.ingest.sentry.io/4505"),
        vec![v],
    );
    let v = g.pick(ALNUM, 32);
    add(format!("API_TOKEN={v}"), vec![v]);
    let v = g.pick(ALNUM, 14);
    add(format!("      <password>{v}</password>"), vec![v]);
    let v = g.pick(ALNUM, 20);
    add(format!("password = {v}"), vec![v]);
    let v = format!("{}==", g.pick(B64, 86));
    add(
        format!(
            "DefaultEndpointsProtocol=https;AccountName=acme;AccountKey={v};EndpointSuffix=core.windows.net"
        ),
        vec![v],
    );
    let v = g.pick(ALNUM, 16);
    add(
        format!("helm repo add acme https://charts.example.com --password {v}"),
        vec![v],
    );
    let v = g.pick(ALNUM, 16);
    add(
        format!("curl -fsS -u admin:{v} https://nexus.example.com/service/rest"),
        vec![v],
    );
    let v = format!("dop_v1_{}", g.pick(HEX, 64));
    add(format!("doctl auth init -t {v}"), vec![v]);
    let v = format!("hvs.{}", g.pick(URLSAFE, 95));
    add(format!("VAULT_TOKEN={v}"), vec![v]);
    add(
        "author: jane.doe@example.com".to_string(),
        vec!["jane.doe@example.com".to_string()],
    );
    c
}

fn private_key_block(g: &mut Gen) -> (Vec<String>, Vec<String>) {
    let body: Vec<String> = (0..6).map(|_| g.pick(B64, 64)).collect();
    let mut lines = vec!["-----BEGIN OPENSSH PRIVATE KEY-----".to_string()];
    lines.extend(body.iter().cloned());
    lines.push("-----END OPENSSH PRIVATE KEY-----".to_string());
    (lines, body)
}

/// A real GitHub log with the canaries planted: with timestamps, some in colour,
/// some in the failing step.
fn planted_github_log() -> (String, Vec<String>) {
    let base = include_str!("../fixtures/github-yarn-install.log");
    let mut secrets = Vec::new();
    let mut plant: Vec<String> = Vec::new();
    for (i, (line, values)) in canaries().into_iter().enumerate() {
        let line = if i % 3 == 0 {
            format!("\x1b[31m{line}\x1b[0m")
        } else {
            line
        };
        plant.push(line);
        secrets.extend(values);
    }
    let (key, body) = private_key_block(&mut Gen(42));
    plant.extend(key);
    secrets.extend(body);

    let lines: Vec<&str> = base.lines().collect();
    let error_at = lines
        .iter()
        .position(|l| l.contains("error Found incompatible module"))
        .expect("fixture has the yarn error");
    let mut out = String::new();
    let mut planted = plant.into_iter();
    for (i, l) in lines.iter().enumerate() {
        out.push_str(l);
        out.push('\n');
        // Half the canaries early in the log, the rest right at the failure.
        if i == 40 || i + 1 == error_at {
            for p in planted.by_ref().take(if i == 40 { 20 } else { usize::MAX }) {
                out.push_str(&format!("2026-02-22T14:21:12.2866420Z {p}\n"));
            }
        }
    }
    (out, secrets)
}

fn assert_clean(what: &str, output: &str, secrets: &[String]) {
    for s in secrets {
        assert!(
            !output.contains(s.as_str()),
            "{what} leaks a canary: …{}…",
            &s[..s.len().min(12)]
        );
    }
}

#[test]
fn no_canary_survives_any_output() {
    let (raw, secrets) = planted_github_log();
    // The test can fail: every canary is really in the input.
    for s in &secrets {
        assert!(raw.contains(s.as_str()));
    }

    // `medic sanitize`: the whole text, streamed.
    let mut sanitizer = Sanitizer::default();
    let mut out = Vec::new();
    sanitizer
        .sanitize_stream(Cursor::new(raw.as_bytes()), &mut out)
        .unwrap();
    let cleaned = String::from_utf8(out).unwrap();
    assert_clean("sanitize stream", &cleaned, &secrets);
    let report_json = serde_json::to_string(sanitizer.report()).unwrap();
    assert_clean("sanitize report", &report_json, &secrets);
    assert!(sanitizer.report().redactions as usize >= canaries().len());

    // `medic analyze`: every report format.
    let mut sanitizer = Sanitizer::default();
    let log = read_log(
        &Source::Bytes(raw.clone().into_bytes()),
        &mut sanitizer,
        &ReadOptions::default(),
    )
    .unwrap();
    assert_clean("log text", &log.text(), &secrets);
    let analysis = triage::analyze(
        &log,
        &Options {
            max_key_lines: 200,
            ..Options::default()
        },
    );
    assert!(
        analysis
            .key_lines
            .iter()
            .any(|k| k.text.contains("[REDACTED:")),
        "planted lines near the failure should be in the excerpt"
    );
    for (name, text) in [
        ("terminal", report::terminal(&analysis, true)),
        ("markdown", report::markdown(&analysis)),
        ("html", report::html(&analysis)),
        ("json", report::json(&analysis)),
    ] {
        assert_clean(name, &text, &secrets);
    }

    // Streaming analysis with a baseline built from the planted log itself.
    let base = Baseline::from_source(
        &Source::Bytes(raw.clone().into_bytes()),
        &ReadOptions::default(),
    )
    .unwrap();
    let streamed = triage::analyze_source(
        &Source::Bytes(raw.clone().into_bytes()),
        &mut Sanitizer::default(),
        Some(&base),
        &Options::default(),
    )
    .unwrap();
    assert_clean("streamed json", &report::json(&streamed), &secrets);

    // The cache holds only what the reports hold.
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path(), CacheConfig::default()).unwrap();
    let key = cache_key(&hash_bytes(raw.as_bytes()), &Options::default(), None);
    cache.put(&key, &analysis).unwrap();
    for entry in walk(dir.path()) {
        let text = String::from_utf8_lossy(&std::fs::read(entry).unwrap()).into_owned();
        assert_clean("cache file", &text, &secrets);
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn each_canary_line_is_caught_on_its_own() {
    for (line, secrets) in canaries() {
        let out = Sanitizer::default().sanitize_text(&line);
        assert_clean(
            &format!("line `{}`", line.split_whitespace().next().unwrap_or("")),
            &out,
            &secrets,
        );
    }
}
