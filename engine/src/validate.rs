//! `medic validate`: from workflow text to a typed [`Workflow`], or every problem at once.
//!
//! The file is parsed into a span-aware tree ([`crate::yaml`]), checked against the JSON
//! Schema generated from [`crate::raw`] (the same types serde reads), then checked for
//! what a schema cannot say: that `uses` names a registered action and `with` fits its
//! config, that `needs` name existing steps without cycles, that templates only read
//! steps upstream of the reader, declared inputs and declared secrets, that cron
//! expressions, time zones and durations parse. Every problem becomes a [`Diagnostic`]
//! pointing at the exact key or value, so one run of `medic validate` shows them all.
//! Only a file with no errors is converted, through the raw structs, into the typed
//! workflow the runtime executes: nothing downstream ever sees YAML.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use indexmap::IndexMap;
use serde_json::Value;

use crate::action::{ActionInfo, InputType, Registry};
use crate::dag::Dag;
use crate::diagnostic::{Diagnostic, did_you_mean};
use crate::expr;
use crate::raw::{RawRetry, RawStep, RawWorkflow};
use crate::schema_check::{self, CheckOptions};
use crate::workflow::{
    Condition, ForEach, InputSpec, Phase, RetryPolicy, Schedule, Step, Triggers, WebhookTrigger,
    Workflow,
};
use crate::yaml::{self, Key, Node, NodeValue, Span};

/// Largest workflow file `load_file` reads.
pub const MAX_FILE_BYTES: u64 = 10 * 1024 * 1024;

/// Default number of steps of one run running at once.
pub const DEFAULT_MAX_PARALLEL: usize = 8;

/// Default number of `for_each` items of one step running at once.
pub const DEFAULT_FOR_EACH_PARALLEL: usize = 4;

/// The names a template may start with.
const CONTEXT_ROOTS: &[&str] = &[
    "inputs", "steps", "trigger", "env", "secrets", "item", "run",
];

/// Functions and globals templates may call (ours, then minijinja's).
const FUNCTIONS: &[&str] = &[
    "success",
    "failure",
    "always",
    "cancelled",
    "range",
    "dict",
    "namespace",
    "debug",
    "cycler",
    "joiner",
    "lipsum",
];

/// What `run.` offers.
const RUN_FIELDS: &[&str] = &["id", "status", "workflow"];

/// What `steps.<id>.` offers.
const STEP_FIELDS: &[&str] = &["outputs", "status"];

/// Load a workflow from text. `path` is only used in messages and stored in the result.
/// Warnings are dropped when the workflow is valid; use [`check_str`] to keep them.
pub fn load_str(
    source: &str,
    path: &Path,
    registry: &Registry,
) -> Result<Workflow, Vec<Diagnostic>> {
    match check_str(source, path, registry) {
        (Some(workflow), _) => Ok(workflow),
        (None, diagnostics) => Err(diagnostics),
    }
}

/// Check a workflow text: every diagnostic (errors and warnings, in file order), and the
/// typed workflow when there is no error.
pub fn check_str(
    source: &str,
    path: &Path,
    registry: &Registry,
) -> (Option<Workflow>, Vec<Diagnostic>) {
    let (mut diags, root) = check_source(source, registry);
    diags.sort_by_key(|d| d.span.as_ref().map(|s| s.start));
    let diags: Vec<Diagnostic> = diags.into_iter().map(|d| d.locate(path, source)).collect();
    match root {
        Some(root) if !diags.iter().any(Diagnostic::is_error) => match build(&root, source, path) {
            Ok(workflow) => (Some(workflow), diags),
            Err(d) => (None, vec![d.locate(path, source)]),
        },
        _ => (None, diags),
    }
}

/// Load a workflow file: refuses files over [`MAX_FILE_BYTES`] and text that is not UTF-8.
pub fn load_file(path: &Path, registry: &Registry) -> Result<Workflow, Vec<Diagnostic>> {
    let source = read_source(path).map_err(|d| vec![d])?;
    load_str(&source, path, registry)
}

/// Read a workflow file's text, or say why it cannot be used.
// A diagnostic is large, but this runs once per file: boxing would buy nothing.
#[allow(clippy::result_large_err)]
pub fn read_source(path: &Path) -> Result<String, Diagnostic> {
    let locate = |d: Diagnostic| d.locate(path, "");
    let meta = std::fs::metadata(path).map_err(|e| {
        let (code, message) = match e.kind() {
            std::io::ErrorKind::NotFound => (
                "file-not-found",
                format!("no such file: {}", path.display()),
            ),
            _ => (
                "file-unreadable",
                format!("cannot read {}: {e}", path.display()),
            ),
        };
        locate(Diagnostic::error(code, message))
    })?;
    if meta.is_dir() {
        return Err(locate(Diagnostic::error(
            "file-unreadable",
            format!("{} is a folder, not a file", path.display()),
        )));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(locate(
            Diagnostic::error(
                "file-too-large",
                format!(
                    "{} is {:.1} MB; workflow files are limited to {} MB",
                    path.display(),
                    meta.len() as f64 / (1024.0 * 1024.0),
                    MAX_FILE_BYTES / (1024 * 1024)
                ),
            )
            .help("split the workflow, or move data into files its steps read"),
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| {
        locate(Diagnostic::error(
            "file-unreadable",
            format!("cannot read {}: {e}", path.display()),
        ))
    })?;
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        // The span indexes the lossy text that `render_file_diagnostics` shows, where the
        // bad byte reads as U+FFFD (three bytes).
        let lossy = String::from_utf8_lossy(e.as_bytes());
        let (line, col) = yaml::line_col(&lossy, at);
        let mut d = Diagnostic::error(
            "not-utf8",
            format!("the file is not UTF-8 text: invalid byte at line {line}, column {col}"),
        )
        .at(Span::new(at, at + char::REPLACEMENT_CHARACTER.len_utf8()))
        .label("not UTF-8")
        .help("save the file as UTF-8");
        d.file = path.to_path_buf();
        d.line = line;
        d.col = col;
        d
    })
}

/// Validate files and folders (searched recursively for `*.yaml` and `*.yml`, in name
/// order). Each workflow is reported on its own.
pub fn validate_paths(
    paths: &[PathBuf],
    registry: &Registry,
) -> Vec<(PathBuf, Result<Workflow, Vec<Diagnostic>>)> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            collect_yaml_files(path, &mut files, 0);
        } else {
            files.push(path.clone());
        }
    }
    files
        .into_iter()
        .map(|f| (f.clone(), load_file(&f, registry)))
        .collect()
}

fn collect_yaml_files(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) {
    // Bounded: a symlink loop must not hang `medic validate`.
    if depth > 16 {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        out.push(dir.to_path_buf());
        return;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            collect_yaml_files(&path, out, depth + 1);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
}

/// Render a file's diagnostics for a terminal, reading its text again for the snippets
/// (lossily, so that a non-UTF-8 file still shows where the bad byte is).
pub fn render_file_diagnostics(path: &Path, diagnostics: &[Diagnostic], color: bool) -> String {
    let small = std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() <= MAX_FILE_BYTES);
    let source = match std::fs::read(path) {
        Ok(bytes) if small => String::from_utf8_lossy(&bytes).into_owned(),
        _ => String::new(),
    };
    crate::diagnostic::render(diagnostics, &source, color)
}

/// A workflow of `n` steps for benchmarks (`medic bench`): one long chain where every
/// tenth step is also a hub the next nine need (fan-out), each step a `log` whose
/// message reads the step before it.
pub fn generated_workflow(n: usize) -> String {
    let mut out = String::from(
        "name: generated\ndescription: benchmark workflow\non: { manual: {} }\ninputs:\n  who: { type: string, default: bench }\nsteps:\n",
    );
    for i in 0..n {
        out.push_str(&format!("  s{i}:\n    uses: log\n"));
        if i == 0 {
            out.push_str("    with: { message: \"start {{ inputs.who }}\" }\n");
            continue;
        }
        // Every step needs its predecessor; every tenth also needs the last hub, so the
        // graph has both long chains and fan-in.
        let hub = (i / 10) * 10;
        if i % 10 == 0 || hub == 0 || hub == i - 1 {
            out.push_str(&format!("    needs: [s{}]\n", i - 1));
        } else {
            out.push_str(&format!("    needs: [s{}, s{hub}]\n", i - 1));
        }
        out.push_str(&format!(
            "    with: {{ message: \"after {{{{ steps.s{}.status }}}}\" }}\n",
            i - 1
        ));
    }
    out
}

/// Every problem of a workflow text, unlocated, and its tree when it parsed.
fn check_source(source: &str, registry: &Registry) -> (Vec<Diagnostic>, Option<Node>) {
    let fail = |d: Diagnostic| (vec![d], None);
    let help = "a workflow needs at least `name` and `steps`";
    if source.trim().is_empty() {
        return fail(
            Diagnostic::error("empty-file", "the file is empty")
                .at(Span::new(0, 0))
                .help(help),
        );
    }
    let root = match yaml::parse(source) {
        Ok(root) => root,
        Err(e) => {
            let label = match e.code {
                "duplicate-key" => "defined again here",
                "non-string-key" => "not a string",
                "too-deep" => "one level too many",
                "too-many-nodes" => "the budget runs out here",
                "multiple-documents" => "a second document starts here",
                _ => "here",
            };
            let d = Diagnostic::error(e.code, e.message).at(e.span).label(label);
            return fail(d.maybe_help(e.help));
        }
    };
    match &root.value {
        NodeValue::Map(_) => {}
        NodeValue::Null => {
            let d = Diagnostic::error("empty-file", "the file holds no workflow, only comments");
            return fail(d.at(Span::new(0, 0)).help(help));
        }
        _ => {
            let rest = source.get(root.span.start..).unwrap_or_default();
            let head = rest.lines().next().map_or(0, str::len);
            let found = root.kind_name();
            return fail(
                Diagnostic::error(
                    "not-a-map",
                    format!("a workflow file must be a map of fields, found {found}"),
                )
                .at(Span::new(root.span.start, root.span.start + head))
                .label("expected `name:`, `steps:`…")
                .help("start the file with `name: my-workflow` and a `steps:` map"),
            );
        }
    }
    let schema = crate::schema::workflow_schema();
    let mut diags = schema_check::check(&root, &schema, "", None, CheckOptions::default());
    let mut checker = Checker::new(source, registry, &root);
    checker.run();
    diags.extend(checker.diags);
    (diags, Some(root))
}

/// Whether a template may read `item`, and if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ItemScope {
    /// In `with:` of a `for_each` step.
    Defined,
    /// The step has no `for_each`.
    NoForEach,
    /// In `if:`, which is evaluated once per step, before the fan-out.
    InCondition,
    /// In the `for_each` expression, which produces the items.
    InForEach,
}

/// A step as written: where it is and what it says.
struct StepNode<'a> {
    id: &'a str,
    key: &'a Key,
    node: &'a Node,
    phase: Phase,
}

impl StepNode<'_> {
    fn path(&self) -> String {
        format!("{}.{}", self.phase.key(), self.id)
    }

    fn get(&self, field: &str) -> Option<&Node> {
        self.node.get(field)
    }
}

/// A reference to a step in `needs`.
struct Need<'a> {
    name: &'a str,
    span: Span,
    path: String,
}

/// Blocks run in this order; a step may only need steps of its own block or earlier.
fn phase_rank(phase: Phase) -> u8 {
    match phase {
        Phase::Main => 0,
        Phase::OnFailure => 1,
        Phase::Finally => 2,
    }
}

/// The checks a schema cannot express, over the tree of one file.
struct Checker<'a> {
    source: &'a str,
    registry: &'a Registry,
    root: &'a Node,
    steps: Vec<StepNode<'a>>,
    inputs: Vec<&'a str>,
    secrets: Vec<&'a str>,
    infos: HashMap<String, ActionInfo>,
    /// Step id → position of its first definition.
    index: HashMap<&'a str, usize>,
    diags: Vec<Diagnostic>,
}

impl<'a> Checker<'a> {
    fn new(source: &'a str, registry: &'a Registry, root: &'a Node) -> Self {
        let mut steps = Vec::new();
        for phase in [Phase::Main, Phase::OnFailure, Phase::Finally] {
            for (key, node) in root
                .get(phase.key())
                .and_then(Node::as_map)
                .unwrap_or_default()
            {
                steps.push(StepNode {
                    id: &key.name,
                    key,
                    node,
                    phase,
                });
            }
        }
        let inputs = root
            .get("inputs")
            .and_then(Node::as_map)
            .unwrap_or_default()
            .iter()
            .map(|(k, _)| k.name.as_str())
            .collect();
        let secrets = root
            .get("secrets")
            .and_then(Node::as_seq)
            .unwrap_or_default()
            .iter()
            .filter_map(Node::as_str)
            .collect();
        let infos = registry
            .infos()
            .into_iter()
            .map(|i| (i.name.to_string(), i))
            .collect();
        let mut index = HashMap::new();
        for (i, step) in steps.iter().enumerate() {
            index.entry(step.id).or_insert(i);
        }
        Checker {
            source,
            registry,
            root,
            steps,
            inputs,
            secrets,
            infos,
            index,
            diags: Vec::new(),
        }
    }

    fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    fn run(&mut self) {
        self.check_duplicate_steps();
        self.check_triggers();
        self.check_inputs();
        self.check_defaults();
        let dag = self.check_needs();
        for i in 0..self.steps.len() {
            self.check_action(i);
            self.check_step_fields(i);
            self.check_templates(i, &dag);
        }
    }

    fn check_duplicate_steps(&mut self) {
        let mut first: HashMap<&str, &StepNode> = HashMap::new();
        let mut found = Vec::new();
        for step in &self.steps {
            match first.get(step.id) {
                Some(prev) => {
                    let (line, _) = yaml::line_col(self.source, prev.key.span.start);
                    found.push(
                        Diagnostic::error("duplicate-step", format!("step id `{}` is used twice", step.id))
                            .at(step.key.span)
                            .path(step.path())
                            .label("second definition")
                            .help(format!("`{}` is already a step in `{}` on line {line}; step ids are shared by `steps`, `on_failure` and `finally`", step.id, prev.phase.key())),
                    );
                }
                None => {
                    first.insert(step.id, step);
                }
            }
        }
        self.diags.extend(found);
    }

    fn check_triggers(&mut self) {
        let Some(on) = self.root.get("on") else {
            return;
        };
        for (i, schedule) in on
            .get("schedule")
            .and_then(Node::as_seq)
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            let path = format!("on.schedule[{i}]");
            if let Some(cron) = schedule.get("cron")
                && let Some(text) = cron.as_str()
                && let Err((message, help)) = check_cron(text)
            {
                self.push(
                    Diagnostic::error("invalid-cron", message)
                        .at(cron.span)
                        .path(format!("{path}.cron"))
                        .label("not a valid cron expression")
                        .help(help),
                );
            }
            if let Some(given) = schedule.get("inputs").and_then(Node::as_map) {
                self.check_given_inputs(given, &format!("{path}.inputs"));
            }
            if let Some(tz) = schedule.get("timezone")
                && let Some(text) = tz.as_str()
                && chrono_tz::Tz::from_str(text).is_err()
            {
                let help = did_you_mean(text, chrono_tz::TZ_VARIANTS.iter().map(|t| t.name()))
                    .unwrap_or_else(|| {
                        "use an IANA time zone name such as `Europe/Paris` or `UTC`".into()
                    });
                self.push(
                    Diagnostic::error("invalid-timezone", format!("unknown time zone `{text}`"))
                        .at(tz.span)
                        .path(format!("{path}.timezone"))
                        .label("not an IANA time zone")
                        .help(help),
                );
            }
        }
        for (i, hook) in on
            .get("webhook")
            .and_then(Node::as_seq)
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            if let Some(cond) = hook.get("if")
                && let Some(text) = cond.as_str()
            {
                let path = format!("on.webhook[{i}].if");
                self.check_expression_text(
                    text,
                    cond.span,
                    &path,
                    None,
                    ItemScope::NoForEach,
                    &["trigger", "env", "inputs"],
                );
            }
        }
    }

    fn check_inputs(&mut self) {
        let Some(inputs) = self.root.get("inputs").and_then(Node::as_map) else {
            return;
        };
        for (key, spec) in inputs {
            let Some(default) = spec.get("default") else {
                continue;
            };
            let Some(kind) = input_kind(spec) else {
                continue;
            };
            if default.is_null() || kind.accepts(&default.to_json()) {
                continue;
            }
            self.push(
                Diagnostic::error(
                    "input-default-type",
                    format!(
                        "the default of input `{}` is {}, but the input's type is `{}`",
                        key.name,
                        default.kind_name(),
                        kind.as_str()
                    ),
                )
                .at(schema_check_span(
                    default,
                    spec.entry("default").map(|(k, _)| k.span),
                ))
                .path(format!("inputs.{}.default", key.name))
                .label(format!("expected a {}", kind.as_str()))
                .help(match kind {
                    InputType::String => "quote the value to make it a string".to_string(),
                    _ => "change the default or set `type:` to match it".to_string(),
                }),
            );
        }
    }

    /// Inputs a schedule gives must be declared, with values of the declared type.
    fn check_given_inputs(&mut self, given: &[(Key, Node)], path: &str) {
        let declared = self.root.get("inputs");
        for (key, value) in given {
            let Some(spec) = declared.and_then(|d| d.get(&key.name)) else {
                let help = did_you_mean(&key.name, &self.inputs)
                    .unwrap_or_else(|| "declare it under `inputs:`".to_string());
                self.push(
                    Diagnostic::error(
                        "unknown-input",
                        format!("`{}` is not a declared input", key.name),
                    )
                    .at(key.span)
                    .path(format!("{path}.{}", key.name))
                    .label("unknown input")
                    .help(help),
                );
                continue;
            };
            let Some(kind) = input_kind(spec) else {
                continue;
            };
            if !value.is_null() && !kind.accepts(&value.to_json()) {
                self.push(
                    Diagnostic::error(
                        "wrong-type",
                        format!(
                            "input `{}` is a {}, found {}",
                            key.name,
                            kind.as_str(),
                            value.kind_name()
                        ),
                    )
                    .at(schema_check_span(value, Some(key.span)))
                    .path(format!("{path}.{}", key.name))
                    .label(format!("expected a {}", kind.as_str())),
                );
            }
        }
    }

    fn check_defaults(&mut self) {
        let Some(defaults) = self.root.get("defaults") else {
            return;
        };
        self.check_duration(defaults.get("timeout"), "defaults.timeout");
        self.check_retry(defaults.get("retry"), "defaults.retry");
        if let Some(c) = self.root.get_path(&["concurrency", "max_parallel"]) {
            self.check_positive(c, "concurrency.max_parallel");
        }
    }

    fn check_positive(&mut self, node: &Node, path: &str) {
        if node.value == NodeValue::Int(0) {
            self.push(
                Diagnostic::error(
                    "out-of-range",
                    "0 would never let anything run: the minimum is 1",
                )
                .at(node.span)
                .path(path)
                .label("must be at least 1"),
            );
        }
    }

    fn check_duration(&mut self, node: Option<&Node>, path: &str) {
        let Some(node) = node else { return };
        let Some(text) = node.as_str() else { return };
        if let Err(e) = humantime::parse_duration(text) {
            self.push(
                Diagnostic::error(
                    "invalid-duration",
                    format!("invalid duration `{text}`: {e}"),
                )
                .at(node.span)
                .path(path)
                .label("not a duration")
                .help("write durations like `30s`, `10m`, `1h30m` or `500ms`"),
            );
        }
    }

    fn check_retry(&mut self, retry: Option<&Node>, path: &str) {
        let Some(retry) = retry else { return };
        if let Some(max) = retry.get("max_attempts")
            && max.value == NodeValue::Int(0)
        {
            self.push(
                Diagnostic::error(
                    "out-of-range",
                    "`max_attempts` counts the first attempt too: the minimum is 1",
                )
                .at(max.span)
                .path(format!("{path}.max_attempts"))
                .label("must be at least 1"),
            );
        }
        if let Some(backoff) = retry.get("backoff") {
            self.check_duration(backoff.get("initial"), &format!("{path}.backoff.initial"));
            self.check_duration(backoff.get("max"), &format!("{path}.backoff.max"));
            if let Some(factor) = backoff.get("factor") {
                let value = match factor.value {
                    NodeValue::Int(i) => Some(i as f64),
                    NodeValue::Float(f) => Some(f),
                    _ => None,
                };
                if value.is_some_and(|v| !(v >= 1.0 && v.is_finite())) {
                    self.push(
                        Diagnostic::error(
                            "out-of-range",
                            "the backoff factor must be a finite number of at least 1",
                        )
                        .at(factor.span)
                        .path(format!("{path}.backoff.factor"))
                        .label("must be at least 1"),
                    );
                }
            }
        }
    }

    fn needs_of(step: &StepNode<'a>) -> Vec<Need<'a>> {
        let base = format!("{}.needs", step.path());
        let Some(needs) = step.node.get("needs") else {
            return Vec::new();
        };
        match &needs.value {
            NodeValue::String(s) => vec![Need {
                name: s,
                span: needs.span,
                path: base,
            }],
            NodeValue::Seq(items) => items
                .iter()
                .enumerate()
                .filter_map(|(i, n)| {
                    n.as_str().map(|s| Need {
                        name: s,
                        span: n.span,
                        path: format!("{base}[{i}]"),
                    })
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Check every `needs` entry and build the graph of the valid ones.
    fn check_needs(&mut self) -> Dag {
        let by_id: HashMap<&str, Phase> =
            self.steps.iter().rev().map(|s| (s.id, s.phase)).collect();
        let mut edges: Vec<(&str, Vec<&str>)> = Vec::new();
        let mut found = Vec::new();
        for step in &self.steps {
            let mut seen: HashSet<&str> = HashSet::new();
            let mut valid = Vec::new();
            for need in Self::needs_of(step) {
                if !seen.insert(need.name) {
                    found.push(
                        Diagnostic::error(
                            "duplicate-need",
                            format!("`{}` is listed twice in `needs`", need.name),
                        )
                        .at(need.span)
                        .path(need.path)
                        .label("listed again here"),
                    );
                    continue;
                }
                match by_id.get(need.name) {
                    None => {
                        let candidates =
                            self.steps.iter().filter(|s| s.id != step.id).map(|s| s.id);
                        found.push(
                            Diagnostic::error(
                                "unknown-need",
                                format!(
                                    "step `{}` needs `{}`, which is not a step",
                                    step.id, need.name
                                ),
                            )
                            .at(need.span)
                            .path(need.path)
                            .label("no step has this id")
                            .maybe_help(did_you_mean(need.name, candidates)),
                        );
                    }
                    Some(&phase) if phase_rank(phase) > phase_rank(step.phase) => {
                        found.push(
                            Diagnostic::error(
                                "need-later-phase",
                                format!("`{}` cannot need `{}`, which is in `{}` and runs after it", step.path(), need.name, phase.key()),
                            )
                            .at(need.span)
                            .path(need.path)
                            .label(format!("a `{}` step", phase.key()))
                            .help("`on_failure` and `finally` steps may need main steps, not the other way round"),
                        );
                    }
                    Some(_) => valid.push(need.name),
                }
            }
            edges.push((step.id, valid));
        }
        self.diags.extend(found);
        let dag = Dag::new(edges.iter().map(|(id, needs)| (*id, needs.iter().copied())));
        for cycle in dag.cycles() {
            let (Some(first), Some(second)) = (cycle.chain.first(), cycle.chain.get(1)) else {
                continue;
            };
            let Some(step) = self.steps.iter().find(|s| s.id == first) else {
                continue;
            };
            let need = Self::needs_of(step).into_iter().find(|n| n.name == second);
            let (span, path) = need.map_or((step.key.span, step.path()), |n| (n.span, n.path));
            let d = if cycle.chain.len() == 2 {
                Diagnostic::error("cycle", format!("step `{first}` needs itself"))
                    .label("a step cannot wait for itself")
                    .help("remove it from `needs`")
            } else {
                Diagnostic::error("cycle", format!("dependency cycle: {cycle}"))
                    .label(format!("`{first}` needs `{second}` here"))
                    .help("each step in the chain needs the next one, so none can start; remove one of these needs")
            };
            self.diags.push(d.at(span).path(path));
        }
        dag
    }

    fn check_action(&mut self, i: usize) {
        let step = &self.steps[i];
        let Some(uses) = step.get("uses") else { return };
        let Some(name) = uses.as_str() else { return };
        let path = step.path();
        let Some(info) = self.infos.get(name) else {
            let help = did_you_mean(name, self.registry.names())
                .unwrap_or_else(|| "run `medic explain` to list the actions".into());
            let d = Diagnostic::error("unknown-action", format!("unknown action `{name}`"))
                .at(uses.span)
                .path(format!("{path}.uses"))
                .label("not a registered action")
                .help(help);
            self.push(d);
            return;
        };
        let with_path = format!("{path}.with");
        let options = CheckOptions {
            templates_match_any_type: true,
        };
        let found = match step.node.entry("with") {
            Some((key, with)) if !with.is_null() => {
                if !matches!(with.value, NodeValue::Map(_)) {
                    return; // the schema check reported it
                }
                schema_check::check(
                    with,
                    &info.config_schema,
                    &with_path,
                    Some(key.span),
                    options,
                )
            }
            _ => {
                // No `with:`: the action may still require fields.
                let empty = Node {
                    span: step.key.span,
                    value: NodeValue::Map(Vec::new()),
                };
                schema_check::check(
                    &empty,
                    &info.config_schema,
                    &with_path,
                    Some(step.key.span),
                    options,
                )
            }
        };
        let found: Vec<Diagnostic> = found
            .into_iter()
            .map(|mut d| {
                if d.code == "missing-field" {
                    d.message = format!("{} for action `{name}`", d.message);
                }
                d
            })
            .collect();
        self.diags.extend(found);
    }

    fn check_step_fields(&mut self, i: usize) {
        let path = self.steps[i].path();
        let node = self.steps[i].node;
        self.check_duration(node.get("timeout"), &format!("{path}.timeout"));
        self.check_retry(node.get("retry"), &format!("{path}.retry"));
        if let Some(mp) = node.get("max_parallel") {
            self.check_positive(mp, &format!("{path}.max_parallel"));
            if node.get("for_each").is_none() {
                self.push(
                    Diagnostic::warning(
                        "unused-field",
                        "`max_parallel` has no effect without `for_each`",
                    )
                    .at(node.entry("max_parallel").map_or(mp.span, |(k, _)| k.span))
                    .path(format!("{path}.max_parallel")),
                );
            }
        }
        if let Some(fe) = node.get("for_each") {
            let ok = match &fe.value {
                NodeValue::Seq(_) => true,
                NodeValue::String(s) => !s.trim().is_empty(),
                _ => false,
            };
            if !ok {
                self.push(
                    Diagnostic::error(
                        "wrong-type",
                        format!("expected a list or an expression, found {}", fe.kind_name()),
                    )
                    .at(fe.span)
                    .path(format!("{path}.for_each"))
                    .label("expected a list or `{{ … }}`"),
                );
            }
        }
    }

    /// Check the templates of step `i`: syntax, and what they read.
    fn check_templates(&mut self, i: usize, dag: &Dag) {
        let path = self.steps[i].path();
        let node = self.steps[i].node;
        let has_for_each = node.get("for_each").is_some();
        if let Some(cond) = node.get("if")
            && let Some(text) = cond.as_str()
        {
            self.check_expression_text(
                text,
                cond.span,
                &format!("{path}.if"),
                Some((i, dag)),
                if has_for_each {
                    ItemScope::InCondition
                } else {
                    ItemScope::NoForEach
                },
                CONTEXT_ROOTS,
            );
        }
        if let Some(fe) = node.get("for_each")
            && let Some(text) = fe.as_str()
        {
            self.check_expression_text(
                text,
                fe.span,
                &format!("{path}.for_each"),
                Some((i, dag)),
                ItemScope::InForEach,
                CONTEXT_ROOTS,
            );
        }
        if let Some(with) = node.get("with") {
            let mut strings = Vec::new();
            collect_strings(with, &format!("{path}.with"), &mut strings);
            for (text, span, spath) in strings {
                if !expr::is_template(text) {
                    continue;
                }
                match expr::references(text) {
                    Ok(refs) => self.check_references(
                        &refs,
                        span,
                        &spath,
                        Some((i, dag)),
                        if has_for_each {
                            ItemScope::Defined
                        } else {
                            ItemScope::NoForEach
                        },
                        CONTEXT_ROOTS,
                    ),
                    Err(e) => self.push(
                        Diagnostic::error("template-syntax", format!("invalid template: {e}"))
                            .at(span)
                            .path(spath)
                            .label("cannot be parsed"),
                    ),
                }
            }
        }
    }

    /// Check an `if:`-like value: one expression, bare or inside one `{{ }}`.
    fn check_expression_text(
        &mut self,
        text: &str,
        span: Span,
        path: &str,
        reader: Option<(usize, &Dag)>,
        item: ItemScope,
        roots: &[&str],
    ) {
        let body = match expr::strip_braces(text) {
            Some(body) => body,
            None if expr::is_template(text) => {
                self.push(
                    Diagnostic::error(
                        "template-syntax",
                        "this must be one expression, bare or inside one `{{ }}`",
                    )
                    .at(span)
                    .path(path)
                    .label("more than one template")
                    .help("combine the conditions with `and` / `or` inside a single `{{ }}`"),
                );
                return;
            }
            None => text,
        };
        if body.trim().is_empty() {
            self.push(
                Diagnostic::error("template-syntax", "the expression is empty")
                    .at(span)
                    .path(path),
            );
            return;
        }
        match expr::references(body) {
            Ok(refs) => self.check_references(&refs, span, path, reader, item, roots),
            Err(e) => self.push(
                Diagnostic::error("template-syntax", format!("invalid expression: {e}"))
                    .at(span)
                    .path(path)
                    .label("cannot be parsed"),
            ),
        }
    }

    /// Narrow `span` to where `needle` is written inside it, so the caret sits under the
    /// reference rather than the whole string.
    fn narrow(&self, span: Span, needle: &str) -> Span {
        match self.source.get(span.range()).and_then(|s| s.find(needle)) {
            Some(at) if !needle.is_empty() => {
                Span::new(span.start + at, span.start + at + needle.len())
            }
            _ => span,
        }
    }

    fn check_references(
        &mut self,
        refs: &[String],
        span: Span,
        path: &str,
        reader: Option<(usize, &Dag)>,
        item: ItemScope,
        roots: &[&str],
    ) {
        for reference in refs {
            let parts: Vec<&str> = reference.split('.').collect();
            let root = parts.first().copied().unwrap_or_default();
            let second = parts.get(1).copied();
            let head = match second {
                Some(s) => format!("{root}.{s}"),
                None => root.to_string(),
            };
            let at = self.narrow(span, &head);
            if FUNCTIONS.contains(&root) {
                continue;
            }
            if !roots.contains(&root) {
                let help = did_you_mean(root, roots.iter().chain(FUNCTIONS)).unwrap_or_else(|| {
                    format!(
                        "templates can read {}",
                        roots
                            .iter()
                            .map(|r| format!("`{r}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                });
                self.push(
                    Diagnostic::error(
                        "unknown-variable",
                        format!("unknown name `{root}` in template"),
                    )
                    .at(at)
                    .path(path)
                    .label("not defined here")
                    .help(help),
                );
                continue;
            }
            match (root, second) {
                ("inputs", Some(name)) if !self.inputs.contains(&name) => {
                    let help = did_you_mean(name, &self.inputs).unwrap_or_else(|| {
                        if self.inputs.is_empty() {
                            "the workflow declares no `inputs:`".into()
                        } else {
                            format!("declared inputs: {}", self.inputs.join(", "))
                        }
                    });
                    self.push(
                        Diagnostic::error(
                            "unknown-input",
                            format!("`inputs.{name}` is not a declared input"),
                        )
                        .at(at)
                        .path(path)
                        .label("unknown input")
                        .help(help),
                    );
                }
                ("secrets", Some(name)) if !self.secrets.contains(&name) => {
                    let help = did_you_mean(name, &self.secrets).unwrap_or_else(|| {
                        format!("add `{name}` to the workflow's `secrets:` list")
                    });
                    self.push(
                        Diagnostic::error(
                            "undeclared-secret",
                            format!("secret `{name}` is not listed in `secrets:`"),
                        )
                        .at(at)
                        .path(path)
                        .label("undeclared secret")
                        .help(help),
                    );
                }
                ("run", Some(field)) if !RUN_FIELDS.contains(&field) => {
                    self.push(
                        Diagnostic::error(
                            "unknown-variable",
                            format!("`run.{field}` does not exist"),
                        )
                        .at(at)
                        .path(path)
                        .label("unknown field of `run`")
                        .maybe_help(
                            did_you_mean(field, RUN_FIELDS)
                                .or_else(|| Some("`run` has `id`, `status` and `workflow`".into())),
                        ),
                    );
                }
                ("item", _) if item != ItemScope::Defined => {
                    let (message, help) = match item {
                        ItemScope::InCondition => (
                            "`item` is not defined in `if:`",
                            "the condition is checked once for the whole step, before its items",
                        ),
                        ItemScope::InForEach => (
                            "`item` is not defined in `for_each` itself",
                            "`for_each` produces the items; read `item` in `with:`",
                        ),
                        _ => (
                            "`item` is only defined in steps with `for_each`",
                            "add `for_each:` to this step, or read the value another way",
                        ),
                    };
                    self.push(
                        Diagnostic::error("item-outside-for-each", message)
                            .at(at)
                            .path(path)
                            .label("`item` is not defined here")
                            .help(help),
                    );
                }
                ("steps", Some(target)) => {
                    if let Some((reader, dag)) = reader {
                        self.check_step_reference(
                            reader,
                            dag,
                            target,
                            parts.get(2).copied(),
                            at,
                            path,
                        );
                    }
                }
                _ => {}
            }
        }
    }

    fn check_step_reference(
        &mut self,
        reader: usize,
        dag: &Dag,
        target: &str,
        field: Option<&str>,
        at: Span,
        path: &str,
    ) {
        let reader_step = &self.steps[reader];
        let Some(target_step) = self.index.get(target).map(|&t| &self.steps[t]) else {
            let d = Diagnostic::error(
                "unknown-step-ref",
                format!("`steps.{target}` is not a step"),
            )
            .at(at)
            .path(path)
            .label("no step has this id");
            // `steps.deploy-prod` parses as `steps.deploy - prod`: say how to read it.
            let dashed = self
                .steps
                .iter()
                .find(|s| s.id.starts_with(&format!("{target}-")));
            let help = match dashed {
                Some(s) => Some(format!("ids with `-` are read as `steps['{}']`", s.id)),
                None => did_you_mean(target, self.steps.iter().map(|s| s.id)),
            };
            self.push(d.maybe_help(help));
            return;
        };
        if target_step.id == reader_step.id {
            let d = Diagnostic::error(
                "self-reference",
                format!("step `{target}` cannot read its own outputs or status"),
            )
            .at(at)
            .path(path)
            .label("the step has not run yet here");
            self.push(d);
            return;
        }
        // Later phases run after every step of earlier ones, so those are always there.
        let earlier_phase = phase_rank(target_step.phase) < phase_rank(reader_step.phase);
        if phase_rank(target_step.phase) > phase_rank(reader_step.phase) {
            let (reader_id, block) = (reader_step.id, target_step.phase.key());
            let d = Diagnostic::error(
                "not-upstream",
                format!("`steps.{target}` is in `{block}`, which runs after `{reader_id}`"),
            )
            .at(at)
            .path(path)
            .label("has not run yet")
            .help("only steps of the same block or of an earlier one can be read");
            self.push(d);
            return;
        }
        if !earlier_phase && !dag.is_upstream(target, reader_step.id) {
            let reader_id = reader_step.id;
            let d = Diagnostic::error(
                "not-upstream",
                format!("`steps.{target}` is not upstream of `{reader_id}`"),
            )
            .at(at)
            .path(path)
            .label("may not have run yet")
            .help(format!("add `{target}` to the `needs` of `{reader_id}`"));
            self.push(d);
            return;
        }
        if let Some(field) = field
            && !STEP_FIELDS.contains(&field)
        {
            let d = Diagnostic::error(
                "unknown-variable",
                format!("`steps.{target}.{field}` does not exist"),
            )
            .at(self.narrow(at, field))
            .path(path)
            .label("a step has `outputs` and `status`")
            .maybe_help(did_you_mean(field, STEP_FIELDS));
            self.push(d);
        }
    }
}

/// The declared type of an input (`string` when absent); `None` when the type itself
/// is invalid, which the schema check reports.
fn input_kind(spec: &Node) -> Option<InputType> {
    match spec.get("type").map(|t| &t.value) {
        None | Some(NodeValue::Null) => Some(InputType::String),
        Some(NodeValue::String(s)) => serde_json::from_value(Value::String(s.clone())).ok(),
        Some(_) => None,
    }
}

/// Where a whole value points (same rule as the schema check).
fn schema_check_span(node: &Node, key_span: Option<Span>) -> Span {
    match (&node.value, key_span) {
        (NodeValue::Seq(_) | NodeValue::Map(_), Some(k)) => k,
        _ => node.span,
    }
}

/// Every string inside a value, with its span and path.
fn collect_strings<'n>(node: &'n Node, path: &str, out: &mut Vec<(&'n str, Span, String)>) {
    match &node.value {
        NodeValue::String(s) => out.push((s, node.span, path.to_string())),
        NodeValue::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                collect_strings(item, &format!("{path}[{i}]"), out);
            }
        }
        NodeValue::Map(entries) => {
            for (key, value) in entries {
                collect_strings(value, &format!("{path}.{}", key.name), out);
            }
        }
        _ => {}
    }
}

/// Check a cron expression: 5 fields, 6 with seconds first, or an `@` nickname.
fn check_cron(text: &str) -> Result<(), (String, String)> {
    let fields = text.split_whitespace().count();
    let help = "write five fields (minute hour day-of-month month day-of-week), or six with seconds first, e.g. `0 3 * * *`";
    let nickname = text.trim_start().starts_with('@');
    if !nickname && fields != 5 && fields != 6 {
        return Err((
            format!("a cron expression has 5 or 6 fields, `{text}` has {fields}"),
            help.to_string(),
        ));
    }
    croner::Cron::from_str(text).map(|_| ()).map_err(|e| {
        (
            format!("invalid cron expression `{text}`: {e}"),
            help.to_string(),
        )
    })
}

/// Convert a checked file into the typed workflow.
#[allow(clippy::result_large_err)]
fn build(root: &Node, source: &str, path: &Path) -> Result<Workflow, Diagnostic> {
    let raw: RawWorkflow = serde_json::from_value(root.to_json()).map_err(|e| {
        Diagnostic::error(
            "invalid-workflow",
            format!("the workflow does not fit its schema: {e}"),
        )
    })?;
    let duration = |text: &Option<String>| {
        text.as_deref()
            .and_then(|t| humantime::parse_duration(t).ok())
    };

    let mut triggers = Triggers {
        manual: raw.on.is_none(),
        ..Triggers::default()
    };
    if let Some(on) = &raw.on {
        triggers.manual = on.manual.is_some();
        for s in &on.schedule {
            let timezone = match &s.timezone {
                Some(tz) => chrono_tz::Tz::from_str(tz).map_err(|_| {
                    Diagnostic::error("invalid-timezone", format!("unknown time zone `{tz}`"))
                })?,
                None => chrono_tz::Tz::UTC,
            };
            triggers.schedules.push(Schedule {
                cron: s.cron.clone(),
                timezone,
                inputs: s.inputs.clone(),
            });
        }
        for w in &on.webhook {
            triggers.webhooks.push(WebhookTrigger {
                source: w.source,
                events: w.events.clone(),
                condition: w
                    .condition
                    .as_deref()
                    .map(|c| expr::strip_braces(c).unwrap_or(c).to_string()),
            });
        }
    }

    let inputs: IndexMap<String, InputSpec> = raw
        .inputs
        .iter()
        .map(|(name, i)| {
            let spec = InputSpec {
                kind: i.kind.unwrap_or(InputType::String),
                required: i.required,
                default: i.default.clone(),
                description: i.description.clone(),
            };
            (name.clone(), spec)
        })
        .collect();

    let defaults = raw.defaults.clone().unwrap_or_default();
    let default_timeout = duration(&defaults.timeout);
    let retry_policy = |r: Option<&RawRetry>| -> RetryPolicy {
        let Some(r) = r.or(defaults.retry.as_ref()) else {
            return RetryPolicy::default();
        };
        let base = RetryPolicy::default();
        let backoff = r.backoff.clone();
        RetryPolicy {
            max_attempts: r.max_attempts.max(1),
            initial: backoff
                .as_ref()
                .and_then(|b| duration(&b.initial))
                .unwrap_or(base.initial),
            factor: backoff
                .as_ref()
                .and_then(|b| b.factor)
                .unwrap_or(base.factor),
            max: backoff
                .as_ref()
                .and_then(|b| duration(&b.max))
                .unwrap_or(base.max),
            jitter: backoff
                .as_ref()
                .and_then(|b| b.jitter)
                .unwrap_or(base.jitter),
            on: r.on.clone(),
        }
    };
    let make_step = |id: &str, s: &RawStep, phase: Phase| -> Step {
        let condition = s.condition.as_deref().map(|c| {
            let body = expr::strip_braces(c).unwrap_or(c).trim().to_string();
            Condition {
                checks_status: expr::calls_status_function(&body),
                expr: body,
            }
        });
        let for_each = s.for_each.as_ref().map(|fe| match fe {
            Value::String(text) => {
                ForEach::Expr(expr::strip_braces(text).unwrap_or(text).trim().to_string())
            }
            Value::Array(items) => ForEach::Items(items.clone()),
            other => ForEach::Items(vec![other.clone()]),
        });
        Step {
            id: id.to_string(),
            name: s.name.clone(),
            phase,
            uses: s.uses.clone(),
            with: s.with.clone().unwrap_or_default(),
            needs: s.needs.as_ref().map(|n| n.to_vec()).unwrap_or_default(),
            condition,
            for_each,
            max_parallel: s
                .max_parallel
                .map_or(DEFAULT_FOR_EACH_PARALLEL, |n| n.max(1) as usize),
            retry: retry_policy(s.retry.as_ref()),
            timeout: duration(&s.timeout).or(default_timeout),
            continue_on_error: s.continue_on_error,
            env: s.env.clone(),
        }
    };
    let mut steps = Vec::new();
    for (phase, block) in [
        (Phase::Main, &raw.steps),
        (Phase::OnFailure, &raw.on_failure),
        (Phase::Finally, &raw.finally),
    ] {
        steps.extend(block.iter().map(|(id, s)| make_step(id, s, phase)));
    }
    let max_parallel = raw
        .concurrency
        .as_ref()
        .and_then(|c| c.max_parallel)
        .map_or(DEFAULT_MAX_PARALLEL, |n| n.max(1) as usize);

    Ok(Workflow {
        name: raw.name,
        description: raw.description,
        path: path.to_path_buf(),
        source: source.to_string(),
        triggers,
        inputs,
        env: raw.env,
        secrets: raw.secrets,
        steps,
        max_parallel,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::{Action, StepContext, StepError, StepOutcome};
    use async_trait::async_trait;
    use schemars::JsonSchema;
    use serde::Deserialize;
    use std::time::Duration;

    #[derive(Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct LogConfig {
        message: String,
        #[serde(default)]
        level: Option<u8>,
    }

    struct Log;

    #[async_trait]
    impl Action for Log {
        type Config = LogConfig;
        const NAME: &'static str = "log";
        const DESCRIPTION: &'static str = "Log a line.";
        const EXAMPLE: &'static str = "uses: log";
        const OUTPUTS: &'static [crate::action::OutputDoc] = &[];
        async fn run(&self, _: LogConfig, _: &StepContext) -> Result<StepOutcome, StepError> {
            Ok(StepOutcome::Success(Default::default()))
        }
    }

    fn registry() -> Registry {
        let mut r = Registry::new();
        r.register(Log);
        r
    }

    fn load(text: &str) -> Result<Workflow, Vec<Diagnostic>> {
        load_str(text, Path::new("w.yaml"), &registry())
    }

    fn codes(text: &str) -> Vec<(&'static str, String)> {
        match load(text) {
            Ok(_) => Vec::new(),
            Err(d) => d.into_iter().map(|d| (d.code, d.path)).collect(),
        }
    }

    #[test]
    fn builds_a_typed_workflow_with_defaults() {
        let wf = load(
            "name: w\ndefaults: {timeout: 1h30m, retry: {max_attempts: 3, backoff: {initial: 500ms}}}\nsteps:\n  a: {uses: log, with: {message: hi}}\n  b:\n    uses: log\n    needs: a\n    if: \"{{ failure() or steps.a.status == 'failed' }}\"\n    for_each: '{{ [1, 2] }}'\n    with: {message: '{{ item }}'}\n    timeout: 5s\n    retry: {max_attempts: 1}\nfinally:\n  c: {uses: log, with: {message: '{{ steps.b.status }}'}}\n",
        )
        .unwrap();
        assert_eq!(wf.max_parallel, 8);
        assert!(wf.triggers.manual);
        let a = wf.step("a").unwrap();
        assert_eq!(a.timeout, Some(Duration::from_secs(5400)));
        assert_eq!(a.retry.max_attempts, 3);
        assert_eq!(a.retry.initial, Duration::from_millis(500));
        let b = wf.step("b").unwrap();
        assert_eq!(b.needs, vec!["a"]);
        assert_eq!(b.timeout, Some(Duration::from_secs(5)));
        assert_eq!(b.retry.max_attempts, 1);
        assert_eq!(b.max_parallel, 4);
        let cond = b.condition.as_ref().unwrap();
        assert_eq!(cond.expr, "failure() or steps.a.status == 'failed'");
        assert!(cond.checks_status);
        assert!(matches!(&b.for_each, Some(ForEach::Expr(e)) if e == "[1, 2]"));
        assert_eq!(wf.step("c").unwrap().phase, Phase::Finally);
    }

    #[test]
    fn reports_every_class_in_one_pass() {
        let found = codes(
            "name: w\nsteps:\n  a: {uses: lgo}\n  b: {uses: log, needs: [zz], with: {message: '{{ steps.c.outputs.x }}'}}\n  c: {uses: log, timeout: 10 minutes please, with: {message: '{{ inputs.nope }}'}}\n",
        );
        let codes: Vec<&str> = found.iter().map(|(c, _)| *c).collect();
        assert_eq!(
            codes,
            vec![
                "unknown-action",
                "unknown-need",
                "not-upstream",
                "invalid-duration",
                "unknown-input"
            ]
        );
    }

    #[test]
    fn with_is_checked_against_the_action_schema() {
        let found = codes(
            "name: w\nsteps:\n  a: {uses: log, with: {mesage: x, level: '{{ inputs.l }}'}}\ninputs: {l: {type: number}}\n",
        );
        assert_eq!(
            found,
            vec![
                ("missing-field", "steps.a.with".to_string()),
                ("unknown-field", "steps.a.with.mesage".to_string())
            ]
        );
        let found = codes("name: w\nsteps:\n  a: {uses: log}\n");
        assert_eq!(found, vec![("missing-field", "steps.a.with".to_string())]);
    }

    #[test]
    fn warnings_do_not_fail_but_are_kept_by_check_str() {
        let text = "name: w\nsteps:\n  a: {uses: log, max_parallel: 2, with: {message: m}}\n";
        assert!(load(text).is_ok());
        let (wf, diags) = check_str(text, Path::new("w.yaml"), &registry());
        assert!(wf.is_some());
        assert_eq!(diags.len(), 1);
        assert_eq!(
            (diags[0].code, diags[0].is_error(), diags[0].line),
            ("unused-field", false, 3)
        );
    }

    #[test]
    fn byte_order_marks_and_crlf_line_endings_are_fine() {
        let text = "\u{feff}name: w\r\nsteps:\r\n  a: {uses: log, with: {message: m}}\r\n  b: {uses: lgo}\r\n";
        let d = load(text).unwrap_err();
        assert_eq!(
            (d.len(), d[0].code, d[0].line, d[0].col),
            (1, "unknown-action", 4, 13)
        );
        assert_eq!(&text[d[0].span.clone().unwrap()], "lgo");
    }

    #[test]
    fn phases_and_upstream_rules() {
        // finally may read main steps without needing them; main may not need finally.
        assert_eq!(
            codes(
                "name: w\nsteps:\n  a: {uses: log, needs: z, with: {message: m}}\nfinally:\n  z: {uses: log, with: {message: '{{ steps.a.status }}'}}\n"
            ),
            vec![("need-later-phase", "steps.a.needs".to_string())]
        );
        assert_eq!(
            codes(
                "name: w\nsteps:\n  a: {uses: log, with: {message: m}}\non_failure:\n  a: {uses: log, with: {message: m}}\n"
            ),
            vec![("duplicate-step", "on_failure.a".to_string())]
        );
    }

    #[test]
    fn item_secrets_and_run_are_checked() {
        let found = codes(
            "name: w\nsecrets: [TOKEN]\nsteps:\n  a: {uses: log, with: {message: '{{ item }} {{ secrets.TOKEN }} {{ secrets.TOKN }} {{ run.idd }}'}}\n",
        );
        let codes: Vec<&str> = found.iter().map(|(c, _)| *c).collect();
        assert_eq!(
            codes,
            vec![
                "item-outside-for-each",
                "undeclared-secret",
                "unknown-variable"
            ]
        );
    }

    #[test]
    fn missing_and_unreadable_files_are_diagnostics() {
        let dir = tempfile::tempdir().unwrap();
        let missing = load_file(&dir.path().join("nope.yaml"), &registry()).unwrap_err();
        assert_eq!(missing[0].code, "file-not-found");
        let bad = dir.path().join("bad.yaml");
        std::fs::write(&bad, b"name: w\nsteps: {}\n# caf\xe9\n").unwrap();
        let d = load_file(&bad, &registry()).unwrap_err();
        assert_eq!((d[0].code, d[0].line, d[0].col), ("not-utf8", 3, 6));
        let big = dir.path().join("big.yaml");
        let file = std::fs::File::create(&big).unwrap();
        file.set_len(MAX_FILE_BYTES + 1).unwrap();
        assert_eq!(
            load_file(&big, &registry()).unwrap_err()[0].code,
            "file-too-large"
        );
    }

    #[test]
    fn validate_paths_walks_folders() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(
            dir.path().join("sub/b.yml"),
            "name: b\nsteps: {x: {uses: log, with: {message: m}}}\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("a.yaml"),
            "name: a\nsteps: {x: {uses: nope}}\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not yaml").unwrap();
        let results = validate_paths(&[dir.path().to_path_buf()], &registry());
        let names: Vec<String> = results
            .iter()
            .map(|(p, _)| p.strip_prefix(dir.path()).unwrap().display().to_string())
            .collect();
        assert_eq!(names, vec!["a.yaml", "sub/b.yml"]);
        assert!(results[0].1.is_err());
        assert!(results[1].1.is_ok());
    }

    #[test]
    fn cron_checks_do_not_panic_on_odd_fields() {
        let tokens = [
            "*",
            "?",
            "L",
            "W",
            "LW",
            "5L",
            "32W",
            "#",
            "5#9",
            "MON#6",
            "1-0",
            "0-",
            "-1",
            "*/0",
            "0/0",
            "/",
            ",",
            "1,",
            "60",
            "99999999999999999999",
            "JAN-DEC",
            "SUN-SAT",
            "7",
            "L-3",
            "\u{1F600}",
            "",
        ];
        for (i, token) in tokens.iter().enumerate() {
            for field in 0..6 {
                let mut fields = ["*"; 6];
                fields[field] = token;
                fields[(field + 1) % 6] = tokens[(i + 7) % tokens.len()];
                let _ = check_cron(&fields.join(" "));
                let _ = check_cron(&fields[..5].join(" "));
            }
        }
        assert!(check_cron("0 3 * * *").is_ok());
        assert!(check_cron("*/10 0 3 * * MON-FRI").is_ok());
        assert!(check_cron("@daily").is_ok());
        assert!(check_cron("0 3 * *").is_err());
        assert!(check_cron("0 0 3 * * * 2030").is_err());
    }

    #[test]
    fn generated_workflow_validates_and_is_timed_once() {
        let text = generated_workflow(1000);
        let started = std::time::Instant::now();
        let wf = load(&text)
            .unwrap_or_else(|d| panic!("{}", crate::diagnostic::render(&d, &text, false)));
        // Printed, not asserted: benchmarks belong to `medic bench`.
        println!(
            "load_str of a 1000-step workflow took {:?}",
            started.elapsed()
        );
        assert_eq!(wf.steps.len(), 1000);
        assert_eq!(wf.step("s15").unwrap().needs, vec!["s14", "s10"]);
        assert!(Dag::from_workflow(&wf).topo_order().is_ok());
    }
}
