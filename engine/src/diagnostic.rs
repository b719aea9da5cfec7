//! Diagnostics: what `medic validate` tells a user about a workflow file.
//!
//! A diagnostic says what was found, what was expected, where (file:line:col with a
//! caret under the exact key or value, and the field path such as
//! `steps.deploy.needs[0]`), and, when we can guess, "did you mean". Each has a stable
//! kebab-case `code` that scripts and docs can rely on. They render for terminals
//! through `codespan-reporting` and serialize to JSON for `--output json`.

use std::io::IsTerminal;
use std::ops::Range;
use std::path::{Path, PathBuf};

use codespan_reporting::diagnostic as cs;
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term;
use serde::Serialize;

use crate::yaml::{Span, line_col};

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The workflow cannot be used.
    Error,
    /// The workflow works but probably not as meant.
    Warning,
}

/// One problem found in a workflow file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Stable kebab-case id, such as `unknown-field`.
    pub code: &'static str,
    /// What is wrong, in one sentence.
    pub message: String,
    /// The file, or `<inline>`.
    #[serde(serialize_with = "path_lossy")]
    pub file: PathBuf,
    /// 1-based line of the span's start (0 when there is no span).
    pub line: usize,
    /// 1-based column, in characters (0 when there is no span).
    pub col: usize,
    /// Byte range in the file.
    pub span: Option<Range<usize>>,
    /// The field path, such as `steps.deploy.needs[0]`; empty for the whole file.
    pub path: String,
    /// Text shown next to the caret.
    pub label: Option<String>,
    /// A hint, such as "did you mean `build`?".
    pub help: Option<String>,
}

/// Paths as text even when they are not UTF-8: one odd file name must not cost the
/// whole JSON report.
fn path_lossy<S: serde::Serializer>(path: &Path, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&path.to_string_lossy())
}

impl Diagnostic {
    /// An error with no location yet.
    pub fn error(code: &'static str, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            file: PathBuf::new(),
            line: 0,
            col: 0,
            span: None,
            path: String::new(),
            label: None,
            help: None,
        }
    }

    /// A warning with no location yet.
    pub fn warning(code: &'static str, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, message)
        }
    }

    /// Point at a span of the source.
    pub fn at(mut self, span: Span) -> Self {
        self.span = Some(span.range());
        self
    }

    /// Set the field path.
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// Set the caret's label.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Set the hint.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Set the hint when there is one.
    pub fn maybe_help(mut self, help: Option<String>) -> Self {
        if help.is_some() {
            self.help = help;
        }
        self
    }

    /// Fill in the file name and the line and column of the span.
    pub fn locate(mut self, file: &Path, source: &str) -> Self {
        self.file = file.to_path_buf();
        if let Some(span) = &self.span {
            let (line, col) = line_col(source, span.start);
            self.line = line;
            self.col = col;
        }
        self
    }

    /// Whether this is an error (rather than a warning).
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// "did you mean `x`?" for the candidate closest to `name`, when one is close enough to
/// be a typo. Case is ignored when comparing; the candidate is returned as written.
pub fn suggest<'a, I, S>(name: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str> + 'a,
{
    let lower = name.to_lowercase();
    let max_edits = (name.chars().count() / 3).max(1);
    let mut best: Option<(f64, String)> = None;
    for candidate in candidates {
        let candidate = candidate.as_ref();
        if candidate == name {
            continue;
        }
        let cand_lower = candidate.to_lowercase();
        let jw = strsim::jaro_winkler(&lower, &cand_lower);
        let edits = strsim::damerau_levenshtein(&lower, &cand_lower);
        if (edits <= max_edits || jw >= 0.9) && best.as_ref().is_none_or(|(score, _)| jw > *score) {
            best = Some((jw, candidate.to_string()));
        }
    }
    best.map(|(_, c)| c)
}

/// [`suggest`] worded as a hint.
pub fn did_you_mean<I, S>(name: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    suggest(name, candidates).map(|c| format!("did you mean `{c}`?"))
}

/// Whether diagnostics written to stderr should be coloured: not when `NO_COLOR` is set
/// (to anything non-empty) or when stderr is not a terminal.
pub fn stderr_color() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    !no_color && std::io::stderr().is_terminal()
}

/// Render diagnostics of one file for a terminal, each with a caret snippet of `source`.
pub fn render(diagnostics: &[Diagnostic], source: &str, color: bool) -> String {
    let mut out = String::new();
    for d in diagnostics {
        out.push_str(&render_one(d, source, color));
    }
    out
}

fn render_one(d: &Diagnostic, source: &str, color: bool) -> String {
    let name = d.file.display().to_string();
    let file = SimpleFile::new(name.as_str(), source);
    let mut diag = match d.severity {
        Severity::Error => cs::Diagnostic::error(),
        Severity::Warning => cs::Diagnostic::warning(),
    }
    .with_code(d.code)
    .with_message(&d.message);
    let mut notes = Vec::new();
    match &d.span {
        Some(span)
            if span.end <= source.len()
                && source.is_char_boundary(span.start)
                && source.is_char_boundary(span.end) =>
        {
            let label = cs::Label::primary((), span.clone());
            diag = diag.with_labels(vec![match &d.label {
                Some(text) => label.with_message(text),
                None => label,
            }]);
        }
        _ => {
            notes.push(format!("in {name}"));
            if let Some(label) = &d.label {
                notes.push(label.clone());
            }
        }
    }
    if !d.path.is_empty() {
        notes.push(format!("at `{}`", d.path));
    }
    if let Some(help) = &d.help {
        notes.push(format!("help: {help}"));
    }
    diag = diag.with_notes(notes);
    let config = term::Config::default();
    let rendered = if color {
        let mut buffer = term::termcolor::Buffer::ansi();
        term::emit_to_write_style(&mut buffer, &config, &file, &diag)
            .map(|()| String::from_utf8_lossy(buffer.as_slice()).into_owned())
    } else {
        term::emit_into_string(&config, &file, &diag)
    };
    // Rendering only fails on spans outside the file, which are filtered above; still,
    // never lose a diagnostic to a rendering problem.
    rendered.unwrap_or_else(|_| {
        format!(
            "error[{}]: {}\n  --> {}:{}:{}\n",
            d.code, d.message, name, d.line, d.col
        )
    })
}

/// Diagnostics as a JSON array, for `--output json`.
pub fn to_json(diagnostics: &[Diagnostic]) -> serde_json::Value {
    serde_json::to_value(diagnostics).unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let steps = ["build", "test", "deploy"];
        assert_eq!(suggest("biuld", steps).as_deref(), Some("build"));
        assert_eq!(suggest("deplyo", steps).as_deref(), Some("deploy"));
        assert_eq!(suggest("Test", steps).as_deref(), Some("test"));
        assert_eq!(suggest("lint", steps), None);
        assert_eq!(suggest("x", steps), None);
        assert_eq!(
            did_you_mean("continue_on_eror", ["continue_on_error", "timeout"]).as_deref(),
            Some("did you mean `continue_on_error`?")
        );
        assert_eq!(
            suggest("Europe/Pari", ["Europe/Paris", "Europe/Oslo"]).as_deref(),
            Some("Europe/Paris")
        );
    }

    #[test]
    fn renders_a_caret_under_the_span_without_colour() {
        let source = "name: x\nsteps:\n  a:\n    uses: shel\n";
        let start = source.find("shel").unwrap();
        let d = Diagnostic::error("unknown-action", "unknown action `shel`")
            .at(Span::new(start, start + 4))
            .path("steps.a.uses")
            .label("not a registered action")
            .help("did you mean `shell`?")
            .locate(Path::new("wf.yaml"), source);
        assert_eq!((d.line, d.col), (4, 11));
        let text = render(&[d], source, false);
        assert!(
            text.contains("error[unknown-action]: unknown action `shel`"),
            "{text}"
        );
        assert!(text.contains("wf.yaml:4:11"), "{text}");
        assert!(text.contains("^^^^ not a registered action"), "{text}");
        assert!(text.contains("= at `steps.a.uses`"), "{text}");
        assert!(text.contains("= help: did you mean `shell`?"), "{text}");
        assert!(!text.contains('\u{1b}'), "{text}");
    }

    #[test]
    fn colour_adds_escape_codes() {
        let d = Diagnostic::error("x", "y")
            .at(Span::new(0, 1))
            .locate(Path::new("f"), "a\n");
        assert!(render(&[d], "a\n", true).contains('\u{1b}'));
    }

    #[test]
    fn spanless_diagnostics_still_name_the_file() {
        let d = Diagnostic::error("file-too-large", "too big").locate(Path::new("big.yaml"), "");
        let text = render(&[d], "", false);
        assert!(text.contains("error[file-too-large]: too big"), "{text}");
        assert!(text.contains("in big.yaml"), "{text}");
    }

    #[test]
    fn json_form_is_stable() {
        let d = Diagnostic::error("unknown-field", "unknown field `x`")
            .at(Span::new(3, 4))
            .path("steps.a")
            .locate(Path::new("w.yaml"), "ab\nx: 1\n");
        let json = to_json(&[d]);
        assert_eq!(json[0]["code"], "unknown-field");
        assert_eq!(json[0]["severity"], "error");
        assert_eq!(json[0]["line"], 2);
        assert_eq!(json[0]["col"], 1);
        assert_eq!(json[0]["span"]["start"], 3);
        assert_eq!(json[0]["file"], "w.yaml");
    }

    #[cfg(unix)]
    #[test]
    fn json_survives_non_utf8_file_names() {
        use std::os::unix::ffi::OsStrExt;
        let name = std::ffi::OsStr::from_bytes(b"caf\xe9.yaml");
        let d = Diagnostic::error("x", "y").locate(Path::new(name), "");
        assert_eq!(to_json(&[d])[0]["file"], "caf\u{fffd}.yaml");
    }
}
