//! Policy files: from YAML text to a typed [`Policy`], or every problem at once.
//!
//! The same pipeline as workflows: the span-aware YAML tree, the JSON Schema generated
//! from [`crate::raw`] (unknown fields, wrong types and bad outcome names, with
//! did-you-mean), then what a schema cannot say: durations, cron expressions and time
//! zones parse, rule and limit names are unique, every `when` compiles and reads only
//! names a decision provides. Only a file with no error is converted into the typed
//! policy the decider uses.

use std::collections::HashSet;
use std::path::Path;
use std::str::FromStr;

use chrono::TimeDelta;
use medic_engine::diagnostic::{Diagnostic, did_you_mean};
use medic_engine::expr;
use medic_engine::schema_check::{self, CheckOptions};
use medic_engine::yaml::{self, Node, NodeValue, Span};
use serde::Serialize;

use crate::outcome::Outcome;
use crate::raw::{BreakerScope, LimitedOutcome, RawPolicy, Scope};
use crate::window::Window;

/// The policy shipped with Medic (`policies/default.yaml`).
pub const DEFAULT_POLICY: &str = include_str!("../default.yaml");

/// Default weights of the signals.
pub const DEFAULT_WEIGHTS: Weights = Weights {
    certainty: 0.4,
    history: 0.3,
    change_size: 0.2,
    impact: 0.1,
};

/// How long an unresolved decision counts as handling its fingerprint, by default.
pub const DEFAULT_HANDLING_WINDOW: TimeDelta = TimeDelta::hours(24);

/// The names a rule's `when` may read, and the fields under each (empty: any).
pub const RULE_NAMES: &[(&str, &[&str])] = &[
    ("confidence", &[]),
    (
        "signals",
        &["certainty", "history", "change_size", "impact"],
    ),
    (
        "analysis",
        &[
            "category",
            "confidence",
            "tool",
            "fingerprint",
            "severity",
            "impact",
            "service",
            "repository",
        ],
    ),
    ("category", &[]),
    ("severity", &[]),
    ("impact", &[]),
    ("service", &[]),
    ("repository", &[]),
    (
        "change",
        &[
            "files",
            "lines",
            "lines_added",
            "lines_removed",
            "paths",
            "action",
        ],
    ),
    ("review", &["passed", "score"]),
    ("handling", &[]),
    (
        "now",
        &["hour", "minute", "weekday", "date", "time", "timezone"],
    ),
];

/// A checked policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Its name.
    pub name: String,
    /// What it is for.
    pub description: Option<String>,
    /// Weights of the signals.
    pub weights: Weights,
    /// Rules in order.
    pub rules: Vec<Rule>,
    /// The outcome when no rule matches.
    pub default: Verdict,
    /// Guards applied after the rule.
    pub guards: Guards,
    /// Who may approve escalations.
    pub approvers: Approvers,
    /// How long an unresolved decision counts as handling its fingerprint.
    pub handling_window: TimeDelta,
    /// The time zone of `now` in rules (guards' windows carry their own).
    pub timezone: chrono_tz::Tz,
}

/// Weights of the four signals.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Weights {
    /// Analysis certainty.
    pub certainty: f64,
    /// History of past fixes.
    pub history: f64,
    /// Change size and spread.
    pub change_size: f64,
    /// Impact.
    pub impact: f64,
}

/// A rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Its name.
    pub name: String,
    /// The condition, without `{{ }}`.
    pub when: String,
    /// The outcome it gives.
    pub outcome: Outcome,
    /// Why.
    pub reason: String,
}

/// An outcome and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// The outcome.
    pub outcome: Outcome,
    /// Why.
    pub reason: String,
}

/// The guards.
#[derive(Debug, Clone, Default)]
pub struct Guards {
    /// Sliding-window rate limits.
    pub rate_limits: Vec<RateLimit>,
    /// A cap on unresolved pull requests opened by Medic.
    pub max_open_prs: Option<u32>,
    /// Services that always go to a human.
    pub critical_services: Vec<String>,
    /// Freeze windows.
    pub freeze: Vec<Window>,
    /// Business hours.
    pub business_hours: Option<Window>,
    /// Circuit breakers.
    pub circuit_breakers: Vec<Breaker>,
}

/// A rate limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimit {
    /// Its name.
    pub name: String,
    /// What it counts.
    pub outcome: LimitedOutcome,
    /// How many per window.
    pub max: u32,
    /// The window.
    pub per: TimeDelta,
    /// What the count is kept per.
    pub scope: Scope,
}

/// A circuit breaker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Breaker {
    /// What failures are counted per.
    pub scope: BreakerScope,
    /// How many failures trip it.
    pub failures: u32,
    /// Within how long.
    pub within: TimeDelta,
}

/// Who may approve escalations.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Approvers {
    /// Chat user ids.
    pub users: Vec<String>,
    /// E-mail addresses.
    pub emails: Vec<String>,
    /// Groups or teams.
    pub groups: Vec<String>,
}

impl Policy {
    /// The shipped default policy.
    pub fn default_policy() -> Policy {
        // The shipped file is checked by a test; failing here would be a build defect.
        load_str(DEFAULT_POLICY, Path::new("policies/default.yaml"))
            .unwrap_or_else(|d| panic!("the shipped default policy is invalid: {d:?}"))
    }
}

/// The JSON Schema of policy files.
pub fn policy_schema() -> serde_json::Value {
    medic_engine::schema::schema_value::<RawPolicy>()
}

/// Whether a YAML text looks like a policy rather than a workflow: its top level has
/// `rules`, `weights` or `guards` and no `steps`.
pub fn looks_like_policy(source: &str) -> bool {
    match yaml::parse(source) {
        Ok(root) => {
            root.get("steps").is_none()
                && ["rules", "weights", "guards"]
                    .iter()
                    .any(|k| root.get(k).is_some())
        }
        Err(_) => false,
    }
}

/// Load a policy from text; `path` is used in messages.
pub fn load_str(source: &str, path: &Path) -> Result<Policy, Vec<Diagnostic>> {
    match check_str(source, path) {
        (Some(policy), _) => Ok(policy),
        (None, diags) => Err(diags),
    }
}

/// Load a policy file (same size and encoding limits as workflows).
pub fn load_file(path: &Path) -> Result<Policy, Vec<Diagnostic>> {
    let source = medic_engine::validate::read_source(path).map_err(|d| vec![d])?;
    load_str(&source, path)
}

/// Every diagnostic of a policy text, in file order, and the policy when none is an error.
pub fn check_str(source: &str, path: &Path) -> (Option<Policy>, Vec<Diagnostic>) {
    let (mut diags, root) = check_source(source);
    diags.sort_by_key(|d| d.span.as_ref().map(|s| s.start));
    let diags: Vec<Diagnostic> = diags.into_iter().map(|d| d.locate(path, source)).collect();
    match root {
        Some(root) if !diags.iter().any(Diagnostic::is_error) => match build(&root) {
            Ok(policy) => (Some(policy), diags),
            Err(d) => (None, vec![d.locate(path, source)]),
        },
        _ => (None, diags),
    }
}

fn check_source(source: &str) -> (Vec<Diagnostic>, Option<Node>) {
    let help = "a policy needs at least `rules:`";
    if source.trim().is_empty() {
        let d = Diagnostic::error("empty-file", "the file is empty");
        return (vec![d.at(Span::new(0, 0)).help(help)], None);
    }
    let root = match yaml::parse(source) {
        Ok(root) => root,
        Err(e) => {
            let d = Diagnostic::error(e.code, e.message)
                .at(e.span)
                .label("here");
            return (vec![d.maybe_help(e.help)], None);
        }
    };
    match &root.value {
        NodeValue::Map(_) => {}
        NodeValue::Null => {
            let d = Diagnostic::error("empty-file", "the file holds no policy, only comments");
            return (vec![d.at(Span::new(0, 0)).help(help)], None);
        }
        _ => {
            let rest = source.get(root.span.start..).unwrap_or_default();
            let head = rest.lines().next().map_or(0, str::len);
            let d = Diagnostic::error(
                "not-a-map",
                format!(
                    "a policy file must be a map of fields, found {}",
                    root.kind_name()
                ),
            )
            .at(Span::new(root.span.start, root.span.start + head))
            .label("expected `rules:`, `weights:`…")
            .help(help);
            return (vec![d], None);
        }
    }
    let mut diags = schema_check::check(&root, &policy_schema(), "", None, CheckOptions::default());
    let mut checker = Checker {
        source,
        diags: Vec::new(),
    };
    checker.run(&root);
    diags.extend(checker.diags);
    (diags, Some(root))
}

struct Checker<'a> {
    source: &'a str,
    diags: Vec<Diagnostic>,
}

impl Checker<'_> {
    fn run(&mut self, root: &Node) {
        self.duration(root.get("handling_window"), "handling_window");
        self.timezone(root.get("timezone"), "timezone");
        if let Some((key, weights)) = root.entry("weights") {
            let given = |name: &str, default: f64| match weights.get(name).map(|n| &n.value) {
                Some(NodeValue::Int(i)) => *i as f64,
                Some(NodeValue::Float(f)) => *f,
                // Not a number: the schema check reports it.
                Some(_) => 1.0,
                None => default,
            };
            let d = DEFAULT_WEIGHTS;
            let total = given("certainty", d.certainty)
                + given("history", d.history)
                + given("change_size", d.change_size)
                + given("impact", d.impact);
            if total <= 0.0 {
                self.diags.push(
                    Diagnostic::error("zero-weights", "every signal weight is 0")
                        .at(key.span)
                        .path("weights")
                        .label("confidence would be undefined")
                        .help("give at least one signal a weight above 0"),
                );
            }
        }
        if let Some(rules) = root.get("rules").and_then(Node::as_seq) {
            let mut names = HashSet::new();
            for (i, rule) in rules.iter().enumerate() {
                let path = format!("rules[{i}]");
                self.unique(
                    rule.get("name"),
                    &mut names,
                    &format!("{path}.name"),
                    "rule",
                );
                if let Some(when) = rule.get("when") {
                    self.condition(when, &format!("{path}.when"));
                }
            }
        }
        let Some(guards) = root.get("guards") else {
            return;
        };
        if let Some(limits) = guards.get("rate_limits").and_then(Node::as_seq) {
            let mut names = HashSet::new();
            for (i, limit) in limits.iter().enumerate() {
                let path = format!("guards.rate_limits[{i}]");
                self.unique(
                    limit.get("name"),
                    &mut names,
                    &format!("{path}.name"),
                    "rate limit",
                );
                self.duration(limit.get("per"), &format!("{path}.per"));
            }
        }
        if let Some(windows) = guards.get("freeze").and_then(Node::as_seq) {
            for (i, w) in windows.iter().enumerate() {
                self.window(w, &format!("guards.freeze[{i}]"));
            }
        }
        if let Some(w) = guards.get("business_hours") {
            self.window(w, "guards.business_hours");
        }
        if let Some(breakers) = guards.get("circuit_breakers").and_then(Node::as_seq) {
            for (i, b) in breakers.iter().enumerate() {
                self.duration(
                    b.get("within"),
                    &format!("guards.circuit_breakers[{i}].within"),
                );
            }
        }
    }

    fn unique(&mut self, name: Option<&Node>, seen: &mut HashSet<String>, path: &str, what: &str) {
        let Some(node) = name else { return };
        let Some(text) = node.as_str() else { return };
        if !seen.insert(text.to_string()) {
            self.diags.push(
                Diagnostic::error("duplicate-name", format!("two {what}s are named `{text}`"))
                    .at(node.span)
                    .path(path)
                    .label("used before")
                    .help(format!(
                        "give each {what} its own name: explanations show it"
                    )),
            );
        }
    }

    fn duration(&mut self, node: Option<&Node>, path: &str) {
        let Some(node) = node else { return };
        let Some(text) = node.as_str() else { return };
        if let Err(e) = humantime::parse_duration(text) {
            self.diags.push(
                Diagnostic::error(
                    "invalid-duration",
                    format!("invalid duration `{text}`: {e}"),
                )
                .at(node.span)
                .path(path)
                .label("not a duration")
                .help("write durations like `30m`, `1h`, `24h` or `7days`"),
            );
        }
    }

    fn window(&mut self, node: &Node, path: &str) {
        self.duration(node.get("duration"), &format!("{path}.duration"));
        if let Some(cron) = node.get("cron")
            && let Some(text) = cron.as_str()
        {
            let fields = text.split_whitespace().count();
            let problem = if fields != 5 && fields != 6 {
                Some(format!(
                    "a cron expression has 5 or 6 fields, `{text}` has {fields}"
                ))
            } else {
                croner::Cron::from_str(text)
                    .err()
                    .map(|e| format!("invalid cron expression `{text}`: {e}"))
            };
            if let Some(message) = problem {
                self.diags.push(
                    Diagnostic::error("invalid-cron", message)
                        .at(cron.span)
                        .path(format!("{path}.cron"))
                        .label("not a cron expression")
                        .help("write five fields (minute hour day-of-month month day-of-week), e.g. `0 9 * * MON-FRI`"),
                );
            }
        }
        self.timezone(node.get("timezone"), &format!("{path}.timezone"));
    }

    fn timezone(&mut self, node: Option<&Node>, path: &str) {
        if let Some(tz) = node
            && let Some(text) = tz.as_str()
            && chrono_tz::Tz::from_str(text).is_err()
        {
            let help = did_you_mean(text, chrono_tz::TZ_VARIANTS.iter().map(|t| t.name()))
                .unwrap_or_else(|| {
                    "use an IANA time zone name such as `Europe/Paris` or `UTC`".into()
                });
            self.diags.push(
                Diagnostic::error("invalid-timezone", format!("unknown time zone `{text}`"))
                    .at(tz.span)
                    .path(path)
                    .label("not an IANA time zone")
                    .help(help),
            );
        }
    }

    fn condition(&mut self, node: &Node, path: &str) {
        let Some(text) = node.as_str() else { return };
        let body = expr::strip_braces(text).unwrap_or(text);
        let refs = match expr::references(body) {
            Ok(refs) => refs,
            Err(e) => {
                self.diags.push(
                    Diagnostic::error("invalid-expression", format!("cannot read `when`: {e}"))
                        .at(node.span)
                        .path(path)
                        .label("not an expression")
                        .help("write a condition such as `confidence >= 0.8 and severity in ['low', 'medium']`"),
                );
                return;
            }
        };
        let roots: Vec<&str> = RULE_NAMES.iter().map(|(n, _)| *n).collect();
        for reference in refs {
            let mut parts = reference.split('.');
            let root = parts.next().unwrap_or_default();
            let field = parts.next();
            let Some((_, fields)) = RULE_NAMES.iter().find(|(n, _)| *n == root) else {
                let help = did_you_mean(root, &roots).unwrap_or_else(|| {
                    format!(
                        "rules can read {}",
                        roots
                            .iter()
                            .map(|r| format!("`{r}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                });
                self.diags.push(
                    Diagnostic::error(
                        "unknown-variable",
                        format!("unknown name `{root}` in `when`"),
                    )
                    .at(self.narrow(node.span, root))
                    .path(path)
                    .label("not something a decision provides")
                    .help(help),
                );
                continue;
            };
            if let Some(field) = field
                && !fields.is_empty()
                && !fields.contains(&field)
            {
                let head = format!("{root}.{field}");
                let help = did_you_mean(field, *fields).unwrap_or_else(|| {
                    format!(
                        "`{root}` has {}",
                        fields
                            .iter()
                            .map(|f| format!("`{f}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                });
                self.diags.push(
                    Diagnostic::error("unknown-field", format!("`{root}` has no field `{field}`"))
                        .at(self.narrow(node.span, &head))
                        .path(path)
                        .label("unknown field")
                        .help(help),
                );
            }
        }
    }

    /// The span of `name` inside the value at `span`, or the whole value.
    fn narrow(&self, span: Span, name: &str) -> Span {
        let text = self.source.get(span.start..span.end).unwrap_or_default();
        let mut from = 0;
        while let Some(i) = text[from..].find(name) {
            let at = from + i;
            let before = text[..at].chars().next_back();
            let after = text[at + name.len()..].chars().next();
            let ident = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
            if !ident(before) && !ident(after) && before != Some('.') {
                return Span::new(span.start + at, span.start + at + name.len());
            }
            from = at + name.len();
        }
        span
    }
}

fn to_delta(text: &str) -> Result<TimeDelta, String> {
    let d = humantime::parse_duration(text).map_err(|e| format!("`{text}`: {e}"))?;
    TimeDelta::from_std(d).map_err(|e| format!("`{text}`: {e}"))
}

/// Convert a checked tree into the typed policy. Errors here mean the checks above
/// missed something; they are reported, never panicked on.
#[allow(clippy::result_large_err)]
fn build(root: &Node) -> Result<Policy, Diagnostic> {
    let fail = |message: String| Diagnostic::error("invalid-policy", message).at(root.span);
    let raw: RawPolicy = serde_json::from_value(root.to_json())
        .map_err(|e| fail(format!("the policy does not fit its schema: {e}")))?;
    let w = raw.weights.unwrap_or_default();
    let weights = Weights {
        certainty: w.certainty.unwrap_or(DEFAULT_WEIGHTS.certainty),
        history: w.history.unwrap_or(DEFAULT_WEIGHTS.history),
        change_size: w.change_size.unwrap_or(DEFAULT_WEIGHTS.change_size),
        impact: w.impact.unwrap_or(DEFAULT_WEIGHTS.impact),
    };
    let rules = raw
        .rules
        .into_iter()
        .map(|r| {
            let when = r.when.text();
            Rule {
                name: r.name,
                when: expr::strip_braces(&when).unwrap_or(&when).to_string(),
                outcome: r.outcome,
                reason: r.reason,
            }
        })
        .collect();
    let default = raw.default.map_or_else(
        || Verdict {
            outcome: Outcome::Escalate,
            reason: "no rule matched: a human decides".to_string(),
        },
        |d| Verdict {
            outcome: d.outcome,
            reason: d.reason,
        },
    );
    let g = raw.guards.unwrap_or_default();
    let window = |w: crate::raw::RawWindow, fallback: &str| -> Result<Window, Diagnostic> {
        let name = w.name.unwrap_or_else(|| fallback.to_string());
        let duration = humantime::parse_duration(&w.duration)
            .map_err(|e| fail(format!("window `{name}`: {e}")))?;
        Window::new(&name, &w.cron, duration, w.timezone.as_deref())
            .map_err(|e| fail(format!("window `{name}`: {e}")))
    };
    let guards = Guards {
        rate_limits: g
            .rate_limits
            .into_iter()
            .map(|l| {
                Ok(RateLimit {
                    per: to_delta(&l.per).map_err(fail)?,
                    name: l.name,
                    outcome: l.outcome,
                    max: l.max,
                    scope: l.scope,
                })
            })
            .collect::<Result<_, Diagnostic>>()?,
        max_open_prs: g.max_open_prs,
        critical_services: g.critical_services,
        freeze: g
            .freeze
            .into_iter()
            .enumerate()
            .map(|(i, w)| window(w, &format!("freeze {}", i + 1)))
            .collect::<Result<_, _>>()?,
        business_hours: g
            .business_hours
            .map(|w| window(w, "business hours"))
            .transpose()?,
        circuit_breakers: g
            .circuit_breakers
            .into_iter()
            .map(|b| {
                Ok(Breaker {
                    scope: b.scope,
                    failures: b.failures.max(1),
                    within: to_delta(&b.within).map_err(fail)?,
                })
            })
            .collect::<Result<_, Diagnostic>>()?,
    };
    let a = raw.approvers.unwrap_or_default();
    Ok(Policy {
        name: raw.name.unwrap_or_else(|| "policy".to_string()),
        description: raw.description,
        weights,
        rules,
        default,
        guards,
        approvers: Approvers {
            users: a.users,
            emails: a.emails,
            groups: a.groups,
        },
        timezone: match raw.timezone.as_deref() {
            Some(name) => chrono_tz::Tz::from_str(name)
                .map_err(|e| fail(format!("unknown time zone `{name}`: {e}")))?,
            None => chrono_tz::Tz::UTC,
        },
        handling_window: match raw.handling_window {
            Some(text) => to_delta(&text).map_err(fail)?,
            None => DEFAULT_HANDLING_WINDOW,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(source: &str) -> Vec<(String, String, String)> {
        match check_str(source, Path::new("p.yaml")) {
            (Some(_), _) => Vec::new(),
            (None, diags) => diags
                .into_iter()
                .map(|d| (d.code.to_string(), d.path, d.help.unwrap_or_default()))
                .collect(),
        }
    }

    #[test]
    fn the_shipped_policy_is_valid_and_has_the_documented_defaults() {
        let p = Policy::default_policy();
        assert_eq!(p.weights, DEFAULT_WEIGHTS);
        assert_eq!(p.name, "default");
        assert!(p.rules.len() >= 8);
        assert_eq!(p.default.outcome, Outcome::Escalate);
        let auto = &p.guards.rate_limits[0];
        assert_eq!(
            (auto.max, auto.per, auto.scope),
            (5, TimeDelta::hours(1), Scope::Global)
        );
        let prs = &p.guards.rate_limits[1];
        assert_eq!((prs.max, prs.scope), (2, Scope::Repository));
    }

    #[test]
    fn a_plain_boolean_when_is_a_catch_all() {
        let p = load_str(
            "rules:\n  - { name: a, when: false, outcome: ignore, reason: r }\n  - { name: b, when: true, outcome: retry, reason: r }\n",
            Path::new("p.yaml"),
        )
        .unwrap();
        assert_eq!(
            (p.rules[0].when.as_str(), p.rules[1].when.as_str()),
            ("false", "true")
        );
    }

    #[test]
    fn unknown_names_in_when_are_caught_with_a_suggestion() {
        let e = errors(
            "rules:\n  - name: a\n    when: confidnce > 0.5\n    outcome: auto_fix\n    reason: r\n",
        );
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].0, "unknown-variable");
        assert_eq!(e[0].1, "rules[0].when");
        assert!(e[0].2.contains("`confidence`"), "{e:?}");
        let e = errors(
            "rules:\n  - name: a\n    when: signals.histroy > 0.5\n    outcome: auto_fix\n    reason: r\n",
        );
        assert_eq!(e[0].0, "unknown-field");
        assert!(e[0].2.contains("`history`"), "{e:?}");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let e = errors(
            "rules:\n  - name: a\n    when: true\n    outcome: autofix\n    reason: r\n  - name: a\n    when: 'x ==='\n    outcome: ignore\n    reason: r\nguards:\n  rate_limits:\n    - { name: l, outcome: auto_fix, max: 1, per: soon }\n  business_hours: { cron: '0 9 * *', duration: 8h, timezone: Europe/Pariss }\n",
        );
        let codes: Vec<&str> = e.iter().map(|(c, _, _)| c.as_str()).collect();
        for code in [
            "invalid-duration",
            "invalid-cron",
            "invalid-timezone",
            "duplicate-name",
            "invalid-expression",
        ] {
            assert!(codes.contains(&code), "{code} missing from {e:?}");
        }
        assert!(e.iter().any(|(_, p, _)| p == "rules[0].outcome"), "{e:?}");
    }

    #[test]
    fn the_rules_time_zone_is_checked_with_a_suggestion() {
        let e = errors("timezone: Europe/Pariss\nrules: []\n");
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(
            (e[0].0.as_str(), e[0].1.as_str()),
            ("invalid-timezone", "timezone")
        );
        assert!(e[0].2.contains("Europe/Paris"), "{e:?}");
    }

    #[test]
    fn looks_like_policy_tells_policies_from_workflows() {
        assert!(looks_like_policy("rules: []\n"));
        assert!(looks_like_policy("weights: { certainty: 1 }\nrules: []\n"));
        assert!(!looks_like_policy("name: w\nsteps: {}\n"));
        assert!(!looks_like_policy("name: w\nsteps: {}\nrules: []\n"));
    }
}

#[cfg(test)]
mod schema_file {
    use super::*;

    /// Editors read `schema/policy.schema.json` (the default policy's modeline points at
    /// it); it must be exactly what the types generate. `MEDIC_BLESS=1` rewrites it.
    #[test]
    fn the_committed_schema_matches_the_types() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schema/policy.schema.json");
        let generated = serde_json::to_string_pretty(&policy_schema()).unwrap() + "\n";
        if std::env::var_os("MEDIC_BLESS").is_some() {
            std::fs::write(&path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "schema/policy.schema.json is stale: run `MEDIC_BLESS=1 cargo test -p medic-policies schema_file`"
        );
        assert!(
            DEFAULT_POLICY
                .starts_with("# yaml-language-server: $schema=../schema/policy.schema.json")
        );
    }
}
