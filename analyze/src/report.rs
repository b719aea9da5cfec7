//! Rendering an [`Analysis`] for people and programs: a terminal, Markdown (pull
//! request bodies, GitHub job summaries, Buildkite annotations), a self-contained
//! HTML page, and JSON.
//!
//! Every renderer takes the analysis only, whose text was sanitized when it was
//! read, so no renderer can leak a secret; each one escapes what its format needs
//! (HTML entities, Markdown fences and table cells, terminal control characters).

use std::fmt::Write as _;

use crate::triage::{Analysis, KeyLine, Role};

/// Whether colour should be used on standard output: a terminal, and `NO_COLOR`
/// unset (<https://no-color.org>).
pub fn use_color() -> bool {
    use std::io::IsTerminal;
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
}

const RED: &str = "\x1b[1;31m";
const DIM: &str = "\x1b[2m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

/// Plain text for a terminal; ANSI colour when `color` is true.
pub fn terminal(a: &Analysis, color: bool) -> String {
    let paint = |code: &str, s: &str| {
        if color {
            format!("{code}{s}{RESET}")
        } else {
            s.to_string()
        }
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {} (confidence {:.0}%) · tool: {} · fingerprint {}",
        paint(RED, "✖"),
        paint(BOLD, &format!("{} failure", a.category.as_str())),
        a.confidence * 100.0,
        safe_terminal(a.tool.as_deref().unwrap_or("unknown")),
        a.fingerprint
    );
    if let Some(step) = &a.failed_step {
        let _ = writeln!(out, "  step: {}", safe_terminal(step));
    }
    if !a.summary.is_empty() {
        let _ = writeln!(out, "  summary: {}", safe_terminal(&a.summary));
    }
    if !a.tests.is_empty() {
        let _ = writeln!(out, "  tests: {}", safe_terminal(&list(&a.tests, 10)));
    }
    if !a.locations.is_empty() {
        let locs: Vec<String> = a.locations.iter().map(location).collect();
        let _ = writeln!(out, "  locations: {}", safe_terminal(&list(&locs, 10)));
    }
    if let Some(seen) = &a.seen {
        let _ = writeln!(
            out,
            "  seen: {} times since {} (unix time)",
            seen.count, seen.first_seen
        );
    }
    for w in &a.warnings {
        let _ = writeln!(out, "  warning: {}", safe_terminal(w));
    }
    if !a.key_lines.is_empty() {
        out.push('\n');
    }
    let width = a
        .key_lines
        .iter()
        .map(|k| k.line.to_string().len())
        .max()
        .unwrap_or(1);
    for (k, gap) in with_gaps(&a.key_lines) {
        if gap {
            let _ = writeln!(out, "{:>width$} {}", "…", paint(DIM, "┆"));
        }
        let number = format!("{:>width$}", k.line);
        let text = safe_terminal(&k.text);
        match k.role {
            Role::Error => {
                let _ = writeln!(out, "{} │ {}", paint(BOLD, &number), paint(RED, &text));
            }
            Role::Context => {
                let _ = writeln!(out, "{} │ {}", paint(DIM, &number), text);
            }
        }
    }
    out
}

/// Markdown for pull request bodies, GitHub job summaries and Buildkite
/// annotations.
pub fn markdown(a: &Analysis) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### ❌ CI failure: {} (confidence {:.0}%)\n",
        a.category.as_str(),
        a.confidence * 100.0
    );
    if !a.summary.is_empty() {
        let _ = writeln!(out, "> {}\n", md_inline_code(&a.summary));
    }
    out.push_str("| | |\n|---|---|\n");
    let _ = writeln!(out, "| Category | {} |", a.category.as_str());
    if let Some(tool) = &a.tool {
        let _ = writeln!(out, "| Tool | {} |", md_cell(tool));
    }
    if let Some(step) = &a.failed_step {
        let _ = writeln!(out, "| Step | {} |", md_cell(step));
    }
    let _ = writeln!(out, "| Fingerprint | `{}` |", a.fingerprint);
    if !a.tests.is_empty() {
        let tests: Vec<String> = a.tests.iter().take(20).map(|t| md_inline_code(t)).collect();
        let more = a.tests.len().saturating_sub(20);
        let suffix = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "| Failing tests | {}{suffix} |",
            md_cell_raw(&tests.join(", "))
        );
    }
    if !a.locations.is_empty() {
        let locs: Vec<String> = a
            .locations
            .iter()
            .take(10)
            .map(|l| md_inline_code(&location(l)))
            .collect();
        let _ = writeln!(out, "| Locations | {} |", md_cell_raw(&locs.join(", ")));
    }
    if let Some(seen) = &a.seen {
        let _ = writeln!(out, "| Seen | {} times |", seen.count);
    }
    if !a.key_lines.is_empty() {
        let body = excerpt_text(&a.key_lines);
        let fence = fence_for(&body);
        let _ = write!(
            out,
            "\n<details open><summary>Key lines</summary>\n\n{fence}text\n{body}{fence}\n\n</details>\n"
        );
    }
    for w in &a.warnings {
        let _ = writeln!(out, "\n_Warning: {}_", md_escape(w));
    }
    out
}

/// A self-contained HTML page (inline CSS, no scripts, no external resources).
pub fn html(a: &Analysis) -> String {
    let mut out = String::new();
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n");
    let _ = writeln!(
        out,
        "<title>CI failure: {} ({})</title>",
        esc(a.category.as_str()),
        esc(&a.fingerprint)
    );
    out.push_str(
        "<style>body{font-family:system-ui,sans-serif;margin:2rem;color:#222}\
         table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left;vertical-align:top}\
         pre{background:#f6f8fa;padding:1rem;overflow-x:auto;line-height:1.35}\
         .n{color:#888;user-select:none}.e{color:#b00020;font-weight:600}.gap{color:#aaa}\
         .warn{color:#8a6d3b}</style></head><body>\n",
    );
    let _ = writeln!(
        out,
        "<h1>CI failure: {} <small>(confidence {:.0}%)</small></h1>",
        esc(a.category.as_str()),
        a.confidence * 100.0
    );
    if !a.summary.is_empty() {
        let _ = writeln!(out, "<p><code>{}</code></p>", esc(&a.summary));
    }
    out.push_str("<table>\n");
    let mut row = |k: &str, v: String| {
        let _ = writeln!(out, "<tr><th>{}</th><td>{v}</td></tr>", esc(k));
    };
    row("Category", esc(a.category.as_str()));
    if let Some(tool) = &a.tool {
        row("Tool", esc(tool));
    }
    if let Some(step) = &a.failed_step {
        row("Step", esc(step));
    }
    row(
        "Fingerprint",
        format!("<code>{}</code>", esc(&a.fingerprint)),
    );
    if !a.tests.is_empty() {
        let items: Vec<String> = a
            .tests
            .iter()
            .map(|t| format!("<code>{}</code>", esc(t)))
            .collect();
        row("Failing tests", items.join("<br>"));
    }
    if !a.locations.is_empty() {
        let items: Vec<String> = a
            .locations
            .iter()
            .map(|l| format!("<code>{}</code>", esc(&location(l))))
            .collect();
        row("Locations", items.join("<br>"));
    }
    if let Some(seen) = &a.seen {
        row("Seen", format!("{} times", seen.count));
    }
    out.push_str("</table>\n");
    for w in &a.warnings {
        let _ = writeln!(out, "<p class=\"warn\">Warning: {}</p>", esc(w));
    }
    if !a.key_lines.is_empty() {
        out.push_str("<h2>Key lines</h2>\n<pre>");
        for (k, gap) in with_gaps(&a.key_lines) {
            if gap {
                out.push_str("<span class=\"gap\">…</span>\n");
            }
            let class = if k.role == Role::Error {
                " class=\"e\""
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "<span class=\"n\">{:>6} </span><span{class}>{}</span>",
                k.line,
                esc(&k.text)
            );
        }
        out.push_str("</pre>\n");
    }
    out.push_str("</body></html>\n");
    out
}

/// Pretty JSON with the stable field names documented in docs/analyze.md.
pub fn json(a: &Analysis) -> String {
    serde_json::to_string_pretty(a).unwrap_or_else(|e| unreachable!("analysis serializes: {e}"))
}

/// The outputs of the `analyze` workflow action, as the decide step reads them:
/// `category`, `confidence`, `fingerprint`, `key_lines` (`[{line, text, role}]`),
/// `tool`, `tests`, `locations` (`"file:line[:col]"`), `report_markdown` and
/// `seen_count` (0 when the cache was not consulted).
pub fn action_outputs(a: &Analysis) -> serde_json::Value {
    serde_json::json!({
        "category": a.category.as_str(),
        "confidence": a.confidence,
        "fingerprint": a.fingerprint,
        "key_lines": a.key_lines.iter().map(|k| serde_json::json!({
            "line": k.line,
            "text": k.text,
            "role": k.role,
        })).collect::<Vec<_>>(),
        "tool": a.tool,
        "tests": a.tests,
        "locations": a.locations.iter().map(location).collect::<Vec<_>>(),
        "report_markdown": markdown(a),
        "seen_count": a.seen.as_ref().map_or(0, |s| s.count),
    })
}

/// Who explained a failure and what it cost, shown with the explanation.
#[cfg(feature = "http")]
#[derive(Debug, Clone, Copy)]
pub struct AiByline<'a> {
    /// `openai`, `anthropic` or `gemini`.
    pub provider: &'a str,
    /// The model that answered.
    pub model: &'a str,
    /// Tokens and cost of the calls it took.
    pub usage: &'a crate::provider::CallUsage,
}

#[cfg(feature = "http")]
fn ai_usage_text(u: &crate::provider::CallUsage) -> String {
    let cost = match u.cost_usd {
        Some(c) => format!("${c:.6}"),
        None => "cost unknown (no price configured)".to_string(),
    };
    format!(
        "{} input + {} output tokens · {cost}",
        u.input_tokens, u.output_tokens
    )
}

/// The "AI explanation" section of the terminal report.
#[cfg(feature = "http")]
pub fn ai_terminal(e: &crate::provider::Explanation, by: AiByline<'_>, color: bool) -> String {
    let bold = |s: &str| {
        if color {
            format!("{BOLD}{s}{RESET}")
        } else {
            s.to_string()
        }
    };
    let indent = |s: &str| safe_terminal_lines(s).join("\n    ");
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n{} ({} {}, confidence {:.0}%; AI-generated, check before acting)",
        bold("AI explanation"),
        safe_terminal(by.provider),
        safe_terminal(by.model),
        e.confidence * 100.0
    );
    let _ = writeln!(out, "  root cause:\n    {}", indent(&e.root_cause));
    let _ = writeln!(out, "  suggested fix:\n    {}", indent(&e.suggested_fix));
    let _ = writeln!(out, "  {}", ai_usage_text(by.usage));
    out
}

/// The "AI explanation" section of the Markdown report (escaped: a model's words
/// must not become links, images or HTML in a pull request).
#[cfg(feature = "http")]
pub fn ai_markdown(e: &crate::provider::Explanation, by: AiByline<'_>) -> String {
    let para = |s: &str| s.lines().map(md_escape).collect::<Vec<_>>().join("  \n");
    format!(
        "\n#### AI explanation ({} {}, confidence {:.0}%)\n\n**Root cause:** {}\n\n**Suggested fix:**  \n{}\n\n<sub>AI-generated, check before acting · {}</sub>\n",
        md_escape(by.provider),
        md_inline_code(by.model),
        e.confidence * 100.0,
        para(&e.root_cause),
        para(&e.suggested_fix),
        md_escape(&ai_usage_text(by.usage))
    )
}

/// The "AI explanation" section of the HTML page.
#[cfg(feature = "http")]
pub fn ai_html(e: &crate::provider::Explanation, by: AiByline<'_>) -> String {
    let para = |s: &str| s.lines().map(esc).collect::<Vec<_>>().join("<br>");
    format!(
        "<h2>AI explanation <small>({} {}, confidence {:.0}%)</small></h2>\n<p><b>Root cause:</b> {}</p>\n<p><b>Suggested fix:</b><br>{}</p>\n<p class=\"warn\">AI-generated, check before acting · {}</p>\n",
        esc(by.provider),
        esc(by.model),
        e.confidence * 100.0,
        para(&e.root_cause),
        para(&e.suggested_fix),
        esc(&ai_usage_text(by.usage))
    )
}

#[cfg(feature = "http")]
fn safe_terminal_lines(s: &str) -> Vec<String> {
    s.lines().map(safe_terminal).collect()
}

fn list(items: &[String], max: usize) -> String {
    let mut s = items
        .iter()
        .take(max)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > max {
        let _ = write!(s, " (+{} more)", items.len() - max);
    }
    s
}

fn location(l: &crate::triage::Location) -> String {
    match l.column {
        Some(c) => format!("{}:{}:{}", l.file, l.line, c),
        None => format!("{}:{}", l.file, l.line),
    }
}

/// Key lines with a flag telling whether lines were skipped before each one.
fn with_gaps(lines: &[KeyLine]) -> impl Iterator<Item = (&KeyLine, bool)> {
    let mut prev: Option<(&Option<String>, u64)> = None;
    lines.iter().map(move |k| {
        let gap = match prev {
            Some((file, n)) => file != &k.file || k.line != n + 1,
            None => false,
        };
        prev = Some((&k.file, k.line));
        (k, gap)
    })
}

fn excerpt_text(lines: &[KeyLine]) -> String {
    let width = lines
        .iter()
        .map(|k| k.line.to_string().len())
        .max()
        .unwrap_or(1);
    let mut s = String::new();
    for (k, gap) in with_gaps(lines) {
        if gap {
            let _ = writeln!(s, "{:>width$}", "…");
        }
        let mark = if k.role == Role::Error { '>' } else { ' ' };
        let _ = writeln!(s, "{:>width$} {mark} {}", k.line, k.text);
    }
    s
}

/// A code fence longer than any backtick run in the body.
fn fence_for(body: &str) -> String {
    let longest = body.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    "`".repeat((longest + 1).max(3))
}

fn md_inline_code(s: &str) -> String {
    let longest = s.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let ticks = "`".repeat(longest + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{ticks}{pad}{s}{pad}{ticks}")
}

fn md_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\`*_{}[]<>()#+-.!|~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn md_cell(s: &str) -> String {
    md_escape(s)
}

fn md_cell_raw(s: &str) -> String {
    s.replace('|', "\\|")
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

/// Control characters from a log must not drive the user's terminal.
fn safe_terminal(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control() || *c == '\t')
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::read_str;
    use crate::sanitize::Sanitizer;
    use crate::triage::{Options, analyze};

    fn sample() -> Analysis {
        let text = "Compiling x\nerror[E0308]: mismatched <types> & `ticks` | pipe\n --> src/main.rs:4:13\nok\nok\nok\ntest a::b ... FAILED\n";
        analyze(
            &read_str(text, &mut Sanitizer::default()),
            &Options::default(),
        )
    }

    #[test]
    fn terminal_without_colour_has_no_escapes_and_shows_line_numbers() {
        let t = terminal(&sample(), false);
        assert!(!t.contains('\x1b'));
        assert!(t.contains("2 │ error[E0308]"), "{t}");
        assert!(t.contains("compile failure"), "{t}");
        assert!(terminal(&sample(), true).contains("\x1b[1;31m"));
    }

    #[test]
    fn markdown_fences_survive_backticks_in_the_log() {
        let mut a = sample();
        a.key_lines[0].text = "```` break out".into();
        let md = markdown(&a);
        assert!(md.contains("`````text"), "{md}");
        assert!(md.contains("| Fingerprint |"));
    }

    #[test]
    fn html_is_escaped_and_self_contained() {
        let h = html(&sample());
        assert!(h.contains("mismatched &lt;types&gt; &amp;"), "{h}");
        assert!(!h.contains("<types>"));
        assert!(!h.contains("<script") && !h.contains("http://") && !h.contains("https://"));
    }

    #[test]
    fn action_outputs_have_the_names_the_decide_step_reads() {
        let v = action_outputs(&sample());
        for key in [
            "category",
            "confidence",
            "fingerprint",
            "key_lines",
            "tool",
            "tests",
            "locations",
            "report_markdown",
            "seen_count",
        ] {
            assert!(v.get(key).is_some(), "missing {key}");
        }
        assert_eq!(v["category"], "compile");
        assert_eq!(v["seen_count"], 0);
        assert!(
            v["locations"][0]
                .as_str()
                .unwrap()
                .starts_with("src/main.rs:4")
        );
    }

    #[cfg(feature = "http")]
    #[test]
    fn the_ai_section_is_escaped_in_every_format() {
        use crate::provider::{CallUsage, Explanation};
        let e = Explanation {
            root_cause: "The test expects <b>an error</b> ![x](https://evil.example/x.png)".into(),
            suggested_fix: "Return Err.\nThen run `cargo test`.\u{1b}[2J".into(),
            confidence: 0.82,
        };
        let usage = CallUsage {
            input_tokens: 19,
            output_tokens: 10,
            cost_usd: Some(0.000009),
        };
        let by = AiByline {
            provider: "openai",
            model: "gpt-4o-mini",
            usage: &usage,
        };
        let t = ai_terminal(&e, by, false);
        assert!(
            t.contains("AI explanation (openai gpt-4o-mini, confidence 82%"),
            "{t}"
        );
        assert!(t.contains("    Then run `cargo test`."), "{t}");
        assert!(t.contains("19 input + 10 output tokens · $0.000009"), "{t}");
        assert!(!t.contains('\u{1b}'));
        let md = ai_markdown(&e, by);
        assert!(
            md.contains("#### AI explanation (openai `gpt-4o-mini`, confidence 82%)"),
            "{md}"
        );
        assert!(!md.contains("![x]") && !md.contains("<b>"), "{md}");
        let h = ai_html(&e, by);
        assert!(
            h.contains("&lt;b&gt;an error&lt;/b&gt;") && h.contains("Return Err.<br>"),
            "{h}"
        );
        let unpriced = CallUsage {
            cost_usd: None,
            ..usage
        };
        let t = ai_terminal(
            &e,
            AiByline {
                usage: &unpriced,
                ..by
            },
            false,
        );
        assert!(t.contains("cost unknown (no price configured)"), "{t}");
    }

    #[test]
    fn json_round_trips_with_stable_names() {
        let a = sample();
        let j = json(&a);
        let v: serde_json::Value = serde_json::from_str(&j).unwrap();
        for key in [
            "schema_version",
            "category",
            "confidence",
            "fingerprint",
            "key_lines",
            "tests",
            "locations",
            "tool",
            "stats",
        ] {
            assert!(v.get(key).is_some(), "missing {key}");
        }
        assert!(v["key_lines"][0]["line"].is_u64());
        let back: Analysis = serde_json::from_str(&j).unwrap();
        assert_eq!(back, a);
    }
}
