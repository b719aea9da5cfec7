//! A small JSON-Schema validator over the span-aware YAML tree.
//!
//! serde stops at the first problem and knows nothing of lines; this walks the schema
//! that schemars generates from the very types serde uses, collects every problem at
//! once and points each at its key or value. It understands the subset schemars emits:
//! `type` (one or a list), `properties`, `additionalProperties`, `required`, `enum`,
//! `const`, `items`, `anyOf`/`oneOf` (reporting the branch closest to what was
//! written), `$ref` into `#/$defs`, `minimum`/`maximum`, `minItems`, `minLength` and the
//! integer `format`s. Unknown keywords are ignored, which only makes it more lenient.

use serde_json::{Map, Value};

use crate::diagnostic::{Diagnostic, did_you_mean};
use crate::yaml::{Node, NodeValue, Span};

/// How deep `$ref`s may chain without descending into the document; guards against
/// self-referencing schemas.
const MAX_REF_CHAIN: usize = 32;

/// Options for one check.
#[derive(Debug, Clone, Copy, Default)]
pub struct CheckOptions {
    /// Accept a string that is exactly one `{{ … }}` template wherever any type is
    /// expected: in `with:` blocks such values are typed only at run time.
    pub templates_match_any_type: bool,
}

/// Check `node` against `schema`, returning every problem. `path` is the field path of
/// `node` (empty for the root); `key_span` is the span of the key `node` sits under,
/// where diagnostics about the whole value point.
pub fn check(
    node: &Node,
    schema: &Value,
    path: &str,
    key_span: Option<Span>,
    options: CheckOptions,
) -> Vec<Diagnostic> {
    let checker = Checker {
        root: schema,
        options,
    };
    let mut out = Vec::new();
    checker.walk(node, schema, path, key_span, 0, &mut out);
    out
}

/// Whether `text` is one `{{ … }}` template and nothing else.
pub fn is_single_template(text: &str) -> bool {
    let t = text.trim();
    match t.strip_prefix("{{").and_then(|s| s.strip_suffix("}}")) {
        Some(inner) => !inner.contains("{{") && !inner.contains("}}"),
        None => false,
    }
}

struct Checker<'s> {
    root: &'s Value,
    options: CheckOptions,
}

/// The JSON-Schema type names `node` satisfies.
fn satisfies(node: &Node, ty: &str) -> bool {
    match (&node.value, ty) {
        (NodeValue::Null, "null") => true,
        (NodeValue::Bool(_), "boolean") => true,
        (NodeValue::Int(_), "integer" | "number") => true,
        (NodeValue::Float(f), "integer") => f.is_finite() && f.fract() == 0.0,
        (NodeValue::Float(_), "number") => true,
        (NodeValue::String(_), "string") => true,
        (NodeValue::Seq(_), "array") => true,
        (NodeValue::Map(_), "object") => true,
        _ => false,
    }
}

/// How a JSON-Schema type reads in a message.
fn type_phrase(ty: &str) -> &str {
    match ty {
        "string" => "a string",
        "array" => "a list",
        "object" => "a map",
        "integer" => "an integer",
        "number" => "a number",
        "boolean" => "a boolean (true or false)",
        "null" => "nothing (null)",
        other => other,
    }
}

/// "a string", "a string or a list", "a map, a string or a list".
fn join_alternatives(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

fn child_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Where a diagnostic about a whole value points: scalars at themselves, collections
/// at their key (a caret over twenty lines helps nobody), else at their first line.
fn value_span(node: &Node, key_span: Option<Span>) -> Span {
    match (&node.value, key_span) {
        (NodeValue::Seq(_) | NodeValue::Map(_), Some(k)) => k,
        _ => node.span,
    }
}

/// A short rendering of a scalar for messages.
fn scalar_text(node: &Node) -> Option<String> {
    match &node.value {
        NodeValue::String(s) => Some(s.clone()),
        NodeValue::Int(i) => Some(i.to_string()),
        NodeValue::Float(f) => Some(f.to_string()),
        NodeValue::Bool(b) => Some(b.to_string()),
        NodeValue::Null => Some("null".into()),
        _ => None,
    }
}

fn json_scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl<'s> Checker<'s> {
    fn resolve(&self, reference: &str) -> Option<&'s Value> {
        let pointer = reference.strip_prefix('#')?;
        self.root.pointer(pointer)
    }

    /// Follow `$ref`s to the schema that says something.
    fn deref(&self, mut schema: &'s Value) -> &'s Value {
        for _ in 0..MAX_REF_CHAIN {
            match schema
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| self.resolve(r))
            {
                Some(target) => schema = target,
                None => return schema,
            }
        }
        schema
    }

    /// The allowed values when the schema is an enumeration (`enum`, `const`, or a
    /// `oneOf`/`anyOf` of `const`s, which is how schemars writes documented enums).
    fn enumeration(&self, schema: &'s Value) -> Option<Vec<&'s Value>> {
        let schema = self.deref(schema);
        if let Some(values) = schema.get("enum").and_then(Value::as_array) {
            return Some(values.iter().collect());
        }
        if let Some(value) = schema.get("const") {
            return Some(vec![value]);
        }
        self.enumeration_of(
            schema
                .get("oneOf")
                .or_else(|| schema.get("anyOf"))?
                .as_array()?,
        )
    }

    /// The allowed values when every branch is an enumeration.
    fn enumeration_of(&self, branches: &'s [Value]) -> Option<Vec<&'s Value>> {
        let mut values = Vec::new();
        for branch in branches {
            values.extend(self.enumeration(branch)?);
        }
        Some(values)
    }

    /// The types a schema accepts at its top level, if it says.
    fn types(&self, schema: &'s Value) -> Option<Vec<&'s str>> {
        let schema = self.deref(schema);
        match schema.get("type") {
            Some(Value::String(t)) => Some(vec![t.as_str()]),
            Some(Value::Array(ts)) => Some(ts.iter().filter_map(Value::as_str).collect()),
            _ => {
                if let Some(values) = self.enumeration(schema) {
                    let mut ts: Vec<&str> = Vec::new();
                    for v in values {
                        let t = match v {
                            Value::String(_) => "string",
                            Value::Number(_) => "number",
                            Value::Bool(_) => "boolean",
                            Value::Null => "null",
                            Value::Array(_) => "array",
                            Value::Object(_) => "object",
                        };
                        if !ts.contains(&t) {
                            ts.push(t);
                        }
                    }
                    return Some(ts);
                }
                let branches = schema
                    .get("anyOf")
                    .or_else(|| schema.get("oneOf"))?
                    .as_array()?;
                let mut ts = Vec::new();
                for b in branches {
                    for t in self.types(b)? {
                        if !ts.contains(&t) {
                            ts.push(t);
                        }
                    }
                }
                Some(ts)
            }
        }
    }

    fn walk(
        &self,
        node: &Node,
        schema: &'s Value,
        path: &str,
        key_span: Option<Span>,
        refs: usize,
        out: &mut Vec<Diagnostic>,
    ) {
        let schema_obj = match schema {
            Value::Bool(true) => return,
            Value::Bool(false) => {
                out.push(
                    Diagnostic::error("not-allowed", "no value is allowed here")
                        .at(value_span(node, key_span))
                        .path(path),
                );
                return;
            }
            Value::Object(o) => o,
            _ => return,
        };
        if self.options.templates_match_any_type && node.as_str().is_some_and(is_single_template) {
            return;
        }
        if let Some(reference) = schema_obj.get("$ref").and_then(Value::as_str) {
            match self.resolve(reference) {
                Some(target) if refs < MAX_REF_CHAIN => {
                    self.walk(node, target, path, key_span, refs + 1, out)
                }
                _ => {}
            }
        }

        if let Some(ts) = own_types(schema_obj)
            && !ts.iter().any(|t| satisfies(node, t))
        {
            let expected: Vec<String> = ts
                .iter()
                .filter(|t| **t != "null" || ts.len() == 1)
                .map(|t| type_phrase(t).to_string())
                .collect();
            let expected = join_alternatives(&expected);
            out.push(
                Diagnostic::error(
                    "wrong-type",
                    format!("expected {expected}, found {}", node.kind_name()),
                )
                .at(value_span(node, key_span))
                .path(path)
                .label(format!("expected {expected}")),
            );
            return;
        }

        if let Some(values) = schema_obj.get("enum").and_then(Value::as_array) {
            self.check_enum(node, values.iter().collect(), path, key_span, out);
        } else if let Some(value) = schema_obj.get("const") {
            self.check_enum(node, vec![value], path, key_span, out);
        }

        let branches = schema_obj
            .get("anyOf")
            .or_else(|| schema_obj.get("oneOf"))
            .and_then(Value::as_array);
        if let Some(branches) = branches {
            self.check_branches(node, branches, path, key_span, refs, out);
        }

        self.check_number(node, schema_obj, path, out);

        match &node.value {
            NodeValue::Map(entries) => {
                self.check_object(node, entries, schema_obj, path, key_span, out)
            }
            NodeValue::Seq(items) => {
                if let Some(min) = schema_obj.get("minItems").and_then(Value::as_u64)
                    && (items.len() as u64) < min
                {
                    out.push(
                        Diagnostic::error(
                            "too-few-items",
                            format!("expected at least {min} items, found {}", items.len()),
                        )
                        .at(value_span(node, key_span))
                        .path(path),
                    );
                }
                if let Some(item_schema) = schema_obj.get("items") {
                    for (i, item) in items.iter().enumerate() {
                        self.walk(item, item_schema, &format!("{path}[{i}]"), None, 0, out);
                    }
                }
            }
            NodeValue::String(s) => {
                if let Some(min) = schema_obj.get("minLength").and_then(Value::as_u64)
                    && (s.chars().count() as u64) < min
                {
                    let what = if min == 1 {
                        "must not be empty".to_string()
                    } else {
                        format!("must be at least {min} characters long")
                    };
                    out.push(
                        Diagnostic::error("too-short", format!("this text {what}"))
                            .at(node.span)
                            .path(path),
                    );
                }
            }
            _ => {}
        }
    }

    fn check_enum(
        &self,
        node: &Node,
        allowed: Vec<&Value>,
        path: &str,
        key_span: Option<Span>,
        out: &mut Vec<Diagnostic>,
    ) {
        let found = node.to_json();
        if allowed.iter().any(|v| **v == found) {
            return;
        }
        let names: Vec<String> = allowed.iter().map(|v| json_scalar_text(v)).collect();
        let listed: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
        let shown = scalar_text(node).unwrap_or_else(|| node.kind_name().to_string());
        let help = node.as_str().and_then(|s| did_you_mean(s, &names));
        out.push(
            Diagnostic::error(
                "invalid-value",
                format!(
                    "invalid value `{shown}`: expected {}",
                    join_alternatives(&listed)
                ),
            )
            .at(value_span(node, key_span))
            .path(path)
            .label("not an allowed value")
            .maybe_help(help),
        );
    }

    fn check_branches(
        &self,
        node: &Node,
        branches: &'s [Value],
        path: &str,
        key_span: Option<Span>,
        refs: usize,
        out: &mut Vec<Diagnostic>,
    ) {
        // A documented Rust enum is a oneOf of consts: report it as one enumeration.
        if let Some(values) = self.enumeration_of(branches) {
            self.check_enum(node, values, path, key_span, out);
            return;
        }
        let mut best: Option<Vec<Diagnostic>> = None;
        let mut expected: Vec<&str> = Vec::new();
        for branch in branches {
            let types = self.types(branch);
            let kind_fits = types
                .as_ref()
                .is_none_or(|ts| ts.iter().any(|t| satisfies(node, t)));
            if let Some(ts) = &types {
                for t in ts {
                    if !expected.contains(t) {
                        expected.push(t);
                    }
                }
            }
            let mut errors = Vec::new();
            self.walk(node, branch, path, key_span, refs + 1, &mut errors);
            if errors.is_empty() {
                return;
            }
            if kind_fits && best.as_ref().is_none_or(|b| errors.len() < b.len()) {
                best = Some(errors);
            }
        }
        match best {
            Some(errors) => out.extend(errors),
            None => {
                let shown: Vec<String> = expected
                    .iter()
                    .filter(|t| **t != "null" || expected.len() == 1)
                    .map(|t| type_phrase(t).to_string())
                    .collect();
                let shown = if shown.is_empty() {
                    "another kind of value".to_string()
                } else {
                    join_alternatives(&shown)
                };
                out.push(
                    Diagnostic::error(
                        "wrong-type",
                        format!("expected {shown}, found {}", node.kind_name()),
                    )
                    .at(value_span(node, key_span))
                    .path(path)
                    .label(format!("expected {shown}")),
                );
            }
        }
    }

    fn check_number(
        &self,
        node: &Node,
        schema: &Map<String, Value>,
        path: &str,
        out: &mut Vec<Diagnostic>,
    ) {
        let value = match node.value {
            NodeValue::Int(i) => i as f64,
            NodeValue::Float(f) => f,
            _ => return,
        };
        let format_max = match schema.get("format").and_then(Value::as_str) {
            Some("uint8") => Some(u8::MAX as f64),
            Some("uint16") => Some(u16::MAX as f64),
            Some("uint32") => Some(u32::MAX as f64),
            Some("int32") => Some(i32::MAX as f64),
            _ => None,
        };
        let min = schema.get("minimum").and_then(Value::as_f64);
        let max = schema.get("maximum").and_then(Value::as_f64).or(format_max);
        if let Some(min) = min.filter(|m| value < *m) {
            out.push(
                Diagnostic::error(
                    "out-of-range",
                    format!("{value} is too small: the minimum is {min}"),
                )
                .at(node.span)
                .path(path)
                .label("too small"),
            );
        }
        if let Some(max) = max.filter(|m| value > *m) {
            out.push(
                Diagnostic::error(
                    "out-of-range",
                    format!("{value} is too large: the maximum is {max}"),
                )
                .at(node.span)
                .path(path)
                .label("too large"),
            );
        }
    }

    fn check_object(
        &self,
        node: &Node,
        entries: &[(crate::yaml::Key, Node)],
        schema: &'s Map<String, Value>,
        path: &str,
        key_span: Option<Span>,
        out: &mut Vec<Diagnostic>,
    ) {
        let properties = schema.get("properties").and_then(Value::as_object);
        let additional = schema.get("additionalProperties");
        for (key, value) in entries {
            let child = child_path(path, &key.name);
            if let Some(prop) = properties.and_then(|p| p.get(&key.name)) {
                self.walk(value, prop, &child, Some(key.span), 0, out);
                continue;
            }
            match additional {
                Some(Value::Bool(false)) => {
                    let allowed: Vec<&String> =
                        properties.map(|p| p.keys().collect()).unwrap_or_default();
                    let help = did_you_mean(&key.name, &allowed).or_else(|| {
                        (!allowed.is_empty() && allowed.len() <= 16).then(|| {
                            let listed: Vec<String> =
                                allowed.iter().map(|a| format!("`{a}`")).collect();
                            format!("expected one of {}", listed.join(", "))
                        })
                    });
                    out.push(
                        Diagnostic::error("unknown-field", format!("unknown field `{}`", key.name))
                            .at(key.span)
                            .path(child)
                            .label("unknown field")
                            .maybe_help(help),
                    );
                }
                Some(extra @ Value::Object(_)) => {
                    self.walk(value, extra, &child, Some(key.span), 0, out)
                }
                _ => {}
            }
        }
        if let Some(required) = schema.get("required").and_then(Value::as_array) {
            for name in required.iter().filter_map(Value::as_str) {
                if !entries.iter().any(|(k, _)| k.name == name) {
                    let at = key_span.unwrap_or_else(|| start_of(node));
                    let label = if key_span.is_some() {
                        format!("`{name}` is required here")
                    } else {
                        format!("`{name}` is required")
                    };
                    out.push(
                        Diagnostic::error(
                            "missing-field",
                            format!("missing required field `{name}`"),
                        )
                        .at(at)
                        .path(path)
                        .label(label),
                    );
                }
            }
        }
    }
}

/// The types a schema object states itself (without following `$ref`).
fn own_types(schema: &Map<String, Value>) -> Option<Vec<&str>> {
    match schema.get("type") {
        Some(Value::String(t)) => Some(vec![t.as_str()]),
        Some(Value::Array(ts)) => Some(ts.iter().filter_map(Value::as_str).collect()),
        _ => None,
    }
}

/// An empty span at the start of a node, where a caret marks "here".
fn start_of(node: &Node) -> Span {
    Span::new(node.span.start, node.span.start)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse;

    fn errors(yaml: &str, schema: &Value) -> Vec<(String, String, String, Option<String>)> {
        let node = parse(yaml).unwrap();
        check(&node, schema, "", None, CheckOptions::default())
            .into_iter()
            .map(|d| (d.code.to_string(), d.path, d.message, d.help))
            .collect()
    }

    fn workflow_errors(yaml: &str) -> Vec<(String, String, String, Option<String>)> {
        errors(yaml, &crate::schema::workflow_schema())
    }

    #[test]
    fn a_valid_workflow_has_no_errors() {
        let yaml = "name: x\non: {manual: {}, schedule: [{cron: '* * * * *'}]}\nsteps:\n  a:\n    uses: shell\n    needs: [b]\n    retry: {max_attempts: 2, on: [timeout]}\n  b: {uses: log, needs: a}\n";
        assert_eq!(workflow_errors(yaml), vec![]);
    }

    #[test]
    fn reports_every_problem_at_once() {
        let yaml =
            "name: [x]\nstepz: {}\nsteps:\n  a:\n    continue_on_eror: true\n    timeout: 5\n";
        let errs = workflow_errors(yaml);
        let codes: Vec<(&str, &str)> = errs.iter().map(|e| (e.0.as_str(), e.1.as_str())).collect();
        assert_eq!(
            codes,
            vec![
                ("wrong-type", "name"),
                ("unknown-field", "stepz"),
                ("unknown-field", "steps.a.continue_on_eror"),
                ("wrong-type", "steps.a.timeout"),
                ("missing-field", "steps.a"),
            ]
        );
        assert_eq!(errs[0].2, "expected a string, found a list");
        assert_eq!(errs[1].3.as_deref(), Some("did you mean `steps`?"));
        assert_eq!(
            errs[2].3.as_deref(),
            Some("did you mean `continue_on_error`?")
        );
        assert_eq!(errs[3].2, "expected a string, found an integer");
        assert_eq!(errs[4].2, "missing required field `uses`");
    }

    #[test]
    fn enums_suggest_the_closest_value() {
        let yaml =
            "name: x\nsteps:\n  a:\n    uses: s\n    retry: {max_attempts: 2, on: [tiemout]}\n";
        let errs = workflow_errors(yaml);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].0, "invalid-value");
        assert_eq!(errs[0].1, "steps.a.retry.on[0]");
        assert!(
            errs[0]
                .2
                .starts_with("invalid value `tiemout`: expected `failed`, `timeout`"),
            "{}",
            errs[0].2
        );
        assert_eq!(errs[0].3.as_deref(), Some("did you mean `timeout`?"));
    }

    #[test]
    fn any_of_reports_the_closest_branch() {
        // `needs` is a string or a list of strings: a list with a number in it is the
        // list branch gone wrong, not "expected a string".
        let errs = workflow_errors("name: x\nsteps:\n  a: {uses: s, needs: [b, 3]}\n");
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(
            (errs[0].1.as_str(), errs[0].2.as_str()),
            ("steps.a.needs[1]", "expected a string, found an integer")
        );
        let errs = workflow_errors("name: x\nsteps:\n  a: {uses: s, needs: {b: 1}}\n");
        assert_eq!(errs[0].2, "expected a string or a list, found a map");
        // Optional structs: the null branch is not offered as an alternative.
        let errs = workflow_errors("name: x\ndefaults: 3\nsteps: {}\n");
        assert_eq!(errs[0].2, "expected a map, found an integer");
    }

    #[test]
    fn numbers_respect_bounds() {
        let errs = workflow_errors("name: x\nconcurrency: {max_parallel: -1}\nsteps: {}\n");
        assert_eq!(errs[0].0, "out-of-range");
        let errs = workflow_errors("name: x\nconcurrency: {max_parallel: 5000000000}\nsteps: {}\n");
        assert_eq!(errs[0].0, "out-of-range");
    }

    #[test]
    fn single_templates_match_any_type_when_asked() {
        let schema =
            serde_json::json!({"type": "object", "properties": {"n": {"type": "integer"}}});
        let node = parse("n: '{{ inputs.count }}'\n").unwrap();
        let strict = check(&node, &schema, "with", None, CheckOptions::default());
        assert_eq!(strict.len(), 1);
        let lenient = check(
            &node,
            &schema,
            "with",
            None,
            CheckOptions {
                templates_match_any_type: true,
            },
        );
        assert!(lenient.is_empty());
        let mixed = parse("n: 'x {{ inputs.count }}'\n").unwrap();
        assert_eq!(
            check(
                &mixed,
                &schema,
                "with",
                None,
                CheckOptions {
                    templates_match_any_type: true
                }
            )
            .len(),
            1
        );
        assert!(is_single_template(" {{ a }} "));
        assert!(!is_single_template("{{ a }} {{ b }}"));
    }

    #[test]
    fn self_referencing_schemas_terminate() {
        let schema =
            serde_json::json!({"$ref": "#/$defs/A", "$defs": {"A": {"$ref": "#/$defs/A"}}});
        assert_eq!(errors("a: 1\n", &schema), vec![]);
    }
}
