//! `medic analyze` and `medic sanitize`: medic-analyze's pipeline on a file, stdin or a
//! CI URL, and the sanitizer the engine applies to everything it stores.

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use medic_analyze::cache::{Cache, CacheConfig, cache_key, hash_bytes, hash_file};
use medic_analyze::fetch::FetchError;
use medic_analyze::http::{HttpOptions, fetch_url};
use medic_analyze::provider::{
    CallUsage, Explanation, Provider, ProviderConfig, ProviderKind, explain,
};
use medic_analyze::read::{ReadError, Source};
use medic_analyze::report;
use medic_analyze::sanitize::{MaskMode, RuleSet, SanitizeReport, Sanitizer};
use medic_analyze::triage::{self, Analysis, Baseline, Options, Seen};

use super::open_store;
use crate::cli::{AiProvider, AnalyzeArgs, Output, ReportFormat};
use crate::{CmdResult, Failure, Globals};

/// medic-analyze's sanitizer as the engine's [`Redactor`]: secrets only, with e-mail
/// and IP addresses kept, because step outputs feed later steps and an address there
/// is data, not a credential.
///
/// [`Redactor`]: medic_engine::secrets::Redactor
#[derive(Debug, Clone, Copy)]
pub struct SanitizerRedactor;

fn engine_sanitizer() -> Sanitizer {
    Sanitizer::with_rules(RuleSet::builtin(), MaskMode::Keep, MaskMode::Keep)
}

/// One sanitizer per step log, so that a private key printed line by line is
/// redacted whole, not just its first line.
struct LogSanitizer(Sanitizer);

impl medic_engine::secrets::LogRedactor for LogSanitizer {
    fn redact_line(&mut self, line: &str) -> String {
        self.0.sanitize_line(line).into_owned()
    }
}

impl medic_engine::secrets::Redactor for SanitizerRedactor {
    fn log_redactor(&self) -> Option<Box<dyn medic_engine::secrets::LogRedactor>> {
        Some(Box::new(LogSanitizer(engine_sanitizer())))
    }

    fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        thread_local! {
            /// Kept between texts: the engine redacts every string of every step's
            /// input and outputs, and making a sanitizer for each (its buffers, the
            /// rules' reference count) cost more than sanitizing most of them.
            static SANITIZER: std::cell::RefCell<Sanitizer> =
                std::cell::RefCell::new(engine_sanitizer());
        }
        thread_local! {
            /// Short texts found clean before. The same keys and short values come
            /// back on every step (`exit_code`, `stdout`, `run`…); a lookup costs less
            /// than a walk of the rules' keywords. Only clean texts are kept, so no
            /// secret is. Sanitizing a text is a function of the text alone (the
            /// sanitizer is reset before each), so a text clean once is clean again.
            static CLEAN: std::cell::RefCell<std::collections::HashSet<Box<str>>> =
                std::cell::RefCell::new(std::collections::HashSet::new());
        }
        let short = text.len() <= CLEAN_TEXT_BYTES;
        if short && CLEAN.with_borrow(|clean| clean.contains(text)) {
            return Cow::Borrowed(text);
        }
        let redacted = SANITIZER.with_borrow_mut(|sanitizer| {
            sanitizer.reset();
            redact_with(sanitizer, text)
        });
        if short && matches!(redacted, Cow::Borrowed(_)) {
            CLEAN.with_borrow_mut(|clean| {
                if clean.len() >= CLEAN_TEXTS {
                    clean.clear();
                }
                clean.insert(text.into());
            });
        }
        redacted
    }
}

/// The longest text whose clean result a thread remembers, and how many it remembers.
const CLEAN_TEXT_BYTES: usize = 64;
const CLEAN_TEXTS: usize = 1024;

/// `text` cleaned by `sanitizer`, borrowed when nothing was found.
fn redact_with<'a>(sanitizer: &mut Sanitizer, text: &'a str) -> Cow<'a, str> {
    if text.contains('\n') {
        let clean = sanitizer.sanitize_text(text);
        if clean == text {
            Cow::Borrowed(text)
        } else {
            Cow::Owned(clean)
        }
    } else {
        match sanitizer.sanitize_line(text) {
            Cow::Borrowed(_) => Cow::Borrowed(text),
            Cow::Owned(s) => Cow::Owned(s),
        }
    }
}

/// `medic analyze <file|url|->`: exit 0 when the log was analysed (whatever the build's
/// outcome), 2 for bad input (no such file, unknown URL, missing token), 1 when
/// fetching failed.
pub async fn analyze(args: AnalyzeArgs, g: &Globals) -> CmdResult {
    let format = match args.output {
        Some(Output::Json) => ReportFormat::Json,
        _ => args.format,
    };
    if args.max_lines == 0 {
        return Err(Failure::usage("--max-lines must be at least 1"));
    }
    // Checked before any work, so a missing key is reported at once (exit 2).
    let provider = ai_provider(&args)?;
    let options = Options {
        max_key_lines: args.max_lines,
        ..Options::default()
    };
    let (baseline, baseline_hash) = match &args.baseline {
        Some(path) => {
            let hash = hash_file(path)
                .map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))?;
            let b = Baseline::from_source(&Source::File(path.clone()), &options.read)
                .map_err(read_failure)?;
            (Some(b), Some(hash))
        }
        None => (None, None),
    };
    let cache = if args.no_cache {
        None
    } else {
        match Cache::open(&args.cache_dir, CacheConfig::default()) {
            Ok(c) => Some(c),
            Err(e) => {
                eprintln!(
                    "warning: analysis cache disabled: cannot open {}: {e}",
                    args.cache_dir.display()
                );
                None
            }
        }
    };
    let ctx = Run {
        options: &options,
        baseline: baseline.as_ref(),
        baseline_hash: baseline_hash.as_deref(),
        cache: cache.as_ref(),
    };

    let mut analyses: Vec<(Option<String>, Analysis)> = Vec::new();
    if args.input.starts_with("https://") || args.input.starts_with("http://") {
        let http = HttpOptions {
            timeout: Duration::from_secs(args.timeout.max(1)),
            ..HttpOptions::default()
        };
        let logs = fetch_url(&args.input, &|k| std::env::var(k).ok(), &http)
            .await
            .map_err(fetch_failure)?;
        if logs.is_empty() {
            return Err(Failure::failed(format!(
                "{}: no job with a log to analyse",
                args.input
            )));
        }
        for log in logs {
            let hash = hash_bytes(&log.bytes);
            let analysis = ctx.cached(&hash, || {
                triage::analyze_bytes(
                    &log.bytes,
                    &mut Sanitizer::default(),
                    ctx.baseline,
                    &options,
                )
            })?;
            analyses.push((Some(log.name), analysis));
        }
    } else if args.input == "-" {
        // Standard input cannot be hashed before it is read; it is analysed in one
        // streaming pass and only its fingerprint is counted.
        let analysis = triage::analyze_source(
            &Source::Stdin,
            &mut Sanitizer::default(),
            ctx.baseline,
            &options,
        )
        .map_err(read_failure)?;
        analyses.push((None, analysis));
    } else {
        let path = Path::new(&args.input);
        let hash = hash_file(path)
            .map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))?;
        let analysis = ctx.cached(&hash, || {
            triage::analyze_source(
                &Source::File(path.to_path_buf()),
                &mut Sanitizer::default(),
                ctx.baseline,
                &options,
            )
        })?;
        analyses.push((None, analysis));
    }

    if !args.no_cache {
        count_sightings(&mut analyses, g).await;
    }
    for (_, a) in &analyses {
        for w in &a.warnings {
            eprintln!("warning: {w}");
        }
    }
    // The AI is an enrichment: when it fails, the report is still printed, without
    // the explanation, and the failure is a warning.
    let mut explained: Vec<Option<AiOutcome>> = Vec::new();
    for (_, a) in &analyses {
        explained.push(match &provider {
            Some(p) => Some(AiOutcome::of(p, explain(p, a).await)),
            None => None,
        });
    }
    if let Some(p) = &provider {
        let u = p.usage();
        eprintln!(
            "AI: {} calls to {} {}, {} input + {} output tokens{}",
            u.calls,
            p.kind().as_str(),
            p.model(),
            u.input_tokens,
            u.output_tokens,
            u.cost_usd.map(|c| format!(", ${c:.6}")).unwrap_or_default()
        );
    }
    let mut out = String::new();
    if format == ReportFormat::Json {
        // One log: the analysis itself (docs/analyze.md). Several jobs: one entry each.
        // With an AI provider, an `ai` field is added next to the analysis's.
        if let ([(_, a)], [ai]) = (analyses.as_slice(), explained.as_slice()) {
            let mut v = serde_json::to_value(a).unwrap_or_default();
            if let (Some(ai), Some(map)) = (ai, v.as_object_mut()) {
                map.insert("ai".into(), ai.json());
            }
            out = serde_json::to_string_pretty(&v).unwrap_or_default();
        } else {
            let items: Vec<serde_json::Value> = analyses
                .iter()
                .zip(&explained)
                .map(|((name, a), ai)| {
                    let mut item = serde_json::json!({"job": name, "analysis": a});
                    if let Some(ai) = ai {
                        item["ai"] = ai.json();
                    }
                    item
                })
                .collect();
            out = serde_json::to_string_pretty(&items).unwrap_or_default();
        }
        out.push('\n');
    } else {
        let many = analyses.len() > 1;
        for ((name, a), ai) in analyses.iter().zip(&explained) {
            if let (true, Some(name)) = (many, name) {
                out.push_str(&match format {
                    ReportFormat::Markdown => format!("# {name}\n\n"),
                    _ => format!("== {name} ==\n"),
                });
            }
            let section = ai.as_ref().and_then(|ai| ai.render(format, g.stdout_color));
            match format {
                ReportFormat::Terminal => out.push_str(&report::terminal(a, g.stdout_color)),
                ReportFormat::Markdown => out.push_str(&report::markdown(a)),
                _ => {
                    let page = report::html(a);
                    match (&section, page.strip_suffix("</body></html>\n")) {
                        (Some(section), Some(head)) => {
                            out.push_str(head);
                            out.push_str(section);
                            out.push_str("</body></html>\n");
                        }
                        _ => out.push_str(&page),
                    }
                    continue;
                }
            }
            if let Some(section) = section {
                out.push_str(&section);
            }
        }
    }
    write_stdout(out.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

/// The provider of `--explain-with FILE` or `--ai … --ai-model …`, if any. A bad file,
/// a bad setting or a missing key is a usage error.
fn ai_provider(args: &AnalyzeArgs) -> Result<Option<Provider>, Failure> {
    let config = if let Some(path) = &args.explain_with {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))?;
        // JSON is YAML, so one parser reads both.
        let tree = medic_engine::yaml::parse(&text)
            .map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?;
        serde_json::from_value::<ProviderConfig>(tree.to_json()).map_err(|e| {
            Failure::usage(format!(
                "{}: {e} (expected the fields of a provider: kind, model, base_url, \
                 api_key_env, api_key_header, timeout, max_retries, max_output_tokens, \
                 budget, price)",
                path.display()
            ))
        })?
    } else if let (Some(kind), Some(model)) = (args.ai, &args.ai_model) {
        let kind = match kind {
            AiProvider::Openai => ProviderKind::OpenAi,
            AiProvider::Anthropic => ProviderKind::Anthropic,
            AiProvider::Gemini => ProviderKind::Gemini,
        };
        let mut c = ProviderConfig::new(kind, model.clone());
        c.base_url = args.ai_base_url.clone();
        c.api_key_env = args.ai_key_env.clone();
        c
    } else {
        return Ok(None);
    };
    Provider::new(config, &|k| std::env::var(k).ok())
        .map(Some)
        .map_err(|e| Failure::usage(e.to_string()))
}

/// One analysis's AI explanation, or why there is none.
struct AiOutcome {
    provider: &'static str,
    model: String,
    result: Result<(Explanation, CallUsage), String>,
}

impl AiOutcome {
    fn of(
        p: &Provider,
        result: Result<(Explanation, CallUsage), medic_analyze::provider::ProviderError>,
    ) -> AiOutcome {
        let result = result.map_err(|e| {
            eprintln!("warning: no AI explanation: {e}");
            e.to_string()
        });
        AiOutcome {
            provider: p.kind().as_str(),
            model: p.model().to_string(),
            result,
        }
    }

    fn json(&self) -> serde_json::Value {
        let (explanation, usage, error) = match &self.result {
            Ok((e, u)) => (Some(e), Some(u), None),
            Err(m) => (None, None, Some(m)),
        };
        serde_json::json!({
            "provider": self.provider,
            "model": self.model,
            "explanation": explanation,
            "usage": usage,
            "error": error,
        })
    }

    fn render(&self, format: ReportFormat, color: bool) -> Option<String> {
        let (e, usage) = self.result.as_ref().ok()?;
        let by = report::AiByline {
            provider: self.provider,
            model: &self.model,
            usage,
        };
        Some(match format {
            ReportFormat::Terminal => report::ai_terminal(e, by, color),
            ReportFormat::Markdown => report::ai_markdown(e, by),
            _ => report::ai_html(e, by),
        })
    }
}

/// Shared settings of one `medic analyze`.
struct Run<'a> {
    options: &'a Options,
    baseline: Option<&'a Baseline>,
    baseline_hash: Option<&'a str>,
    cache: Option<&'a Cache>,
}

impl Run<'_> {
    /// The cached analysis of the log with this hash, or a fresh one (then cached);
    /// either way with the fingerprint's sighting recorded.
    fn cached(
        &self,
        log_hash: &str,
        compute: impl FnOnce() -> Result<Analysis, ReadError>,
    ) -> Result<Analysis, Failure> {
        let key = cache_key(log_hash, self.options, self.baseline_hash);
        let cached = self.cache.and_then(|c| c.get(&key));
        let analysis = match cached {
            Some(a) => a,
            None => {
                let a = compute().map_err(read_failure)?;
                if let Some(cache) = self.cache
                    && let Err(e) = cache.put(&key, &a)
                {
                    eprintln!("warning: cannot write the analysis cache: {e}");
                }
                a
            }
        };
        Ok(analysis)
    }
}

/// Count one sighting of each analysis' fingerprint in the store, where every run and
/// every worker sharing the database counts too, and fill in `seen`.
async fn count_sightings(analyses: &mut [(Option<String>, Analysis)], g: &Globals) {
    let store = match open_store(g).await {
        Ok(store) => store,
        Err(e) => {
            eprintln!("warning: fingerprints not counted: {}", e.message);
            return;
        }
    };
    for (_, analysis) in analyses {
        let category = analysis.category.as_str();
        match store
            .record_sighting(&analysis.fingerprint, Some(category), chrono::Utc::now())
            .await
        {
            Ok(s) => {
                analysis.seen = Some(Seen {
                    count: s.count.max(0) as u64,
                    first_seen: s.first_seen.timestamp().max(0) as u64,
                    last_seen: s.last_seen.timestamp().max(0) as u64,
                });
            }
            Err(e) => eprintln!("warning: cannot count the fingerprint: {e}"),
        }
    }
}

fn read_failure(e: ReadError) -> Failure {
    match e {
        // A file that cannot be opened is the user's input; a broken archive too.
        ReadError::Io { .. } | ReadError::BadZip { .. } => Failure::usage(e.to_string()),
    }
}

fn fetch_failure(e: FetchError) -> Failure {
    match e {
        FetchError::UnknownUrl { .. } | FetchError::MissingToken { .. } => {
            Failure::usage(e.to_string())
        }
        FetchError::Status { .. }
        | FetchError::Transport { .. }
        | FetchError::BadPayload { .. } => Failure::failed(e.to_string()),
    }
}

fn write_stdout(bytes: &[u8]) -> Result<(), Failure> {
    let mut stdout = io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(()),
        // `medic analyze … | head` closing the pipe is not a failure.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::failed(format!("cannot write to stdout: {e}"))),
    }
}

/// `medic sanitize <file|->`: the text with secrets redacted on stdout, the counts per
/// type on stderr (never a value).
pub fn sanitize(input: &str) -> CmdResult {
    let mut sanitizer = Sanitizer::default();
    let stdout = io::stdout().lock();
    let out = BufWriter::with_capacity(256 * 1024, stdout);
    let result = if input == "-" {
        sanitizer.sanitize_stream(io::stdin().lock(), out)
    } else {
        let file =
            File::open(input).map_err(|e| Failure::usage(format!("cannot read {input}: {e}")))?;
        sanitizer.sanitize_stream(BufReader::with_capacity(256 * 1024, file), out)
    };
    match result {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
        Err(e) => return Err(Failure::failed(format!("sanitizing {input}: {e}"))),
    }
    eprint!("{}", report_text(sanitizer.report()));
    Ok(ExitCode::SUCCESS)
}

/// The sanitizer's report for people: totals, then one line per type.
fn report_text(r: &SanitizeReport) -> String {
    let mut s = format!(
        "sanitized {} lines: {} redactions in {} lines\n",
        r.lines, r.redactions, r.lines_changed
    );
    for (kind, count) in &r.by_type {
        s.push_str(&format!("  {kind:<32} {count}\n"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use medic_engine::secrets::Redactor;

    #[test]
    fn the_redactor_removes_tokens_and_keeps_addresses() {
        let r = SanitizerRedactor;
        let token = format!("ghp_{}", "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5");
        let line = format!("pushing with {token} to 10.0.0.1 as dev@example.com");
        let out = r.redact(&line);
        assert!(!out.contains(&token), "{out}");
        assert!(out.contains("[REDACTED:"), "{out}");
        assert!(
            out.contains("10.0.0.1") && out.contains("dev@example.com"),
            "{out}"
        );
        assert!(matches!(r.redact("nothing here"), Cow::Borrowed(_)));
        let twice = r.redact(&out).into_owned();
        assert_eq!(twice, out, "idempotent");
        let text = format!("a\n{token}\n");
        let multi = r.redact(&text);
        assert!(!multi.contains(&token) && multi.ends_with('\n'), "{multi}");
    }

    /// Short clean texts are remembered; one with a secret is redacted every time.
    #[test]
    fn a_remembered_clean_text_stays_clean_and_secrets_are_never_remembered() {
        let r = SanitizerRedactor;
        let token = format!("ghp_{}", "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5");
        assert!(token.len() <= CLEAN_TEXT_BYTES);
        for _ in 0..3 {
            assert!(matches!(r.redact("exit_code"), Cow::Borrowed(_)));
            assert!(!r.redact(&token).contains(&token));
        }
        // Past the limit the memory starts over rather than grow.
        for i in 0..(CLEAN_TEXTS + 10) {
            let text = format!("word {i}");
            assert!(matches!(r.redact(&text), Cow::Borrowed(_)));
        }
        assert!(!r.redact(&token).contains(&token));
    }

    /// The redactor keeps one sanitizer per thread: a text that ends inside a private
    /// key must not make the next, unrelated text a part of that key.
    #[test]
    fn each_text_is_redacted_on_its_own() {
        let r = SanitizerRedactor;
        let open_key = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA1234567890abcdef";
        let out = r.redact(open_key);
        assert!(!out.contains("MIIEpAIBAAKCAQEA"), "{out}");
        // Looks like a key's body line: only an open key would redact it.
        let body_like = "QWERTYUIOPasdfghjkl";
        assert!(matches!(r.redact(body_like), Cow::Borrowed(_)));
    }

    #[test]
    fn the_report_has_counts_and_no_values() {
        let mut s = Sanitizer::default();
        let secret = "AKIAIOSFODNN7EXAMPLQ";
        let _ = s.sanitize_line(&format!("aws_access_key_id={secret}"));
        let text = report_text(s.report());
        assert!(
            text.starts_with("sanitized 1 lines: 1 redactions in 1 lines"),
            "{text}"
        );
        assert!(!text.contains(secret));
    }
}
