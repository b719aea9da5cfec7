//! The one expression language of workflows: `if:` conditions and `{{ … }}` templates.
//!
//! It is Jinja (minijinja), which operators know from Ansible and Kestra. The context
//! holds `inputs`, `steps.<id>.outputs` and `.status`, `trigger`, `env`, `secrets`,
//! `item` (inside `for_each`) and `run`. A with-value that is exactly one `{{ expr }}`
//! keeps the expression's JSON type (`{{ inputs.retries }}` stays a number), any other
//! string renders to text. `success()`, `failure()`, `cancelled()` and `always()` read
//! the status of the steps a step needs, as in GitHub Actions.

use minijinja::value::Serde;
use minijinja::{Environment, State, UndefinedBehavior, Value as JValue};
use serde_json::Value;

/// The context key holding the combined status of a step's needs. Not a user name.
const NEEDS_STATUS: &str = "__needs_status";

/// Rendering budget: stops a template from looping forever or building huge strings.
const FUEL: u64 = 200_000;

/// An expression that failed to parse or evaluate.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ExprError {
    /// What went wrong, with the expression's text.
    pub message: String,
}

impl ExprError {
    fn from_jinja(err: &minijinja::Error, source: &str) -> Self {
        let mut message = err
            .detail()
            .map(str::to_string)
            .unwrap_or_else(|| err.kind().to_string());
        if message.is_empty() {
            message = err.to_string();
        }
        ExprError {
            message: format!("{message} in `{}`", source.trim()),
        }
    }
}

/// The combined status of the steps a step needs, read by the status functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeedsStatus {
    /// Every needed step succeeded (or was allowed to fail).
    Success,
    /// At least one needed step failed or was skipped because of a failure.
    Failure,
    /// The run is being cancelled.
    Cancelled,
}

impl NeedsStatus {
    fn as_str(self) -> &'static str {
        match self {
            NeedsStatus::Success => "success",
            NeedsStatus::Failure => "failure",
            NeedsStatus::Cancelled => "cancelled",
        }
    }
}

fn needs_status(state: &State) -> String {
    state
        .lookup(NEEDS_STATUS)
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "success".to_string())
}

/// The configured template environment. Build one and share it.
#[derive(Debug)]
pub struct Expr {
    env: Environment<'static>,
}

impl Default for Expr {
    fn default() -> Self {
        Self::new()
    }
}

impl Expr {
    /// An environment with the status functions and a fuel budget.
    pub fn new() -> Self {
        let mut env = Environment::new();
        // Chainable: a skipped step's outputs read as undefined (falsy, empty) instead
        // of erroring; misspelt names are caught statically by `medic validate`.
        env.set_undefined_behavior(UndefinedBehavior::Chainable);
        env.set_fuel(Some(FUEL));
        env.set_recursion_limit(64);
        env.add_function("success", |state: &State| needs_status(state) == "success");
        env.add_function("failure", |state: &State| needs_status(state) == "failure");
        env.add_function("cancelled", |state: &State| {
            needs_status(state) == "cancelled"
        });
        env.add_function("always", |_state: &State| true);
        env.add_filter("tojson", |v: JValue| -> Result<String, minijinja::Error> {
            serde_json::to_string(&v).map_err(|e| {
                minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e.to_string())
            })
        });
        Expr { env }
    }

    fn context(ctx: &Value, needs: NeedsStatus) -> JValue {
        let mut map = match ctx {
            Value::Object(map) => map.clone(),
            _ => serde_json::Map::new(),
        };
        map.insert(
            NEEDS_STATUS.to_string(),
            Value::String(needs.as_str().to_string()),
        );
        JValue::from(Serde(Value::Object(map)))
    }

    /// Evaluate a bare expression (no braces) to JSON.
    pub fn eval(&self, expr: &str, ctx: &Value, needs: NeedsStatus) -> Result<Value, ExprError> {
        let compiled = self
            .env
            .compile_expression(expr)
            .map_err(|e| ExprError::from_jinja(&e, expr))?;
        let value = compiled
            .eval(Self::context(ctx, needs))
            .map_err(|e| ExprError::from_jinja(&e, expr))?;
        to_json(&value, expr)
    }

    /// Evaluate an `if:` condition. It may be written bare or inside one `{{ }}`.
    pub fn eval_condition(
        &self,
        expr: &str,
        ctx: &Value,
        needs: NeedsStatus,
    ) -> Result<bool, ExprError> {
        let body = strip_braces(expr).unwrap_or(expr);
        let compiled = self
            .env
            .compile_expression(body)
            .map_err(|e| ExprError::from_jinja(&e, body))?;
        let value = compiled
            .eval(Self::context(ctx, needs))
            .map_err(|e| ExprError::from_jinja(&e, body))?;
        Ok(value.is_true())
    }

    /// Render one string: exactly one `{{ expr }}` keeps its JSON type; anything else
    /// containing template syntax renders to a string; plain text is returned as is.
    pub fn render_str(&self, text: &str, ctx: &Value) -> Result<Value, ExprError> {
        if let Some(body) = strip_braces(text) {
            return self.eval(body, ctx, NeedsStatus::Success);
        }
        if !is_template(text) {
            return Ok(Value::String(text.to_string()));
        }
        let rendered = self
            .env
            .render_str(text, Self::context(ctx, NeedsStatus::Success))
            .map_err(|e| ExprError::from_jinja(&e, text))?;
        Ok(Value::String(rendered))
    }

    /// Render every string inside a JSON value (map keys are left as written).
    pub fn render_value(&self, value: &Value, ctx: &Value) -> Result<Value, ExprError> {
        Ok(match value {
            Value::String(s) => self.render_str(s, ctx)?,
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|v| self.render_value(v, ctx))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), self.render_value(v, ctx)?)))
                    .collect::<Result<_, ExprError>>()?,
            ),
            other => other.clone(),
        })
    }
}

fn to_json(value: &JValue, source: &str) -> Result<Value, ExprError> {
    if value.is_undefined() {
        return Ok(Value::Null);
    }
    serde_json::to_value(value).map_err(|e| ExprError {
        message: format!("{e} in `{}`", source.trim()),
    })
}

/// Whether `text` contains template syntax.
pub fn is_template(text: &str) -> bool {
    text.contains("{{") || text.contains("{%")
}

/// The expression inside `text` when `text` is exactly one `{{ expr }}`.
pub fn strip_braces(text: &str) -> Option<&str> {
    let trimmed = text.trim();
    let inner = trimmed.strip_prefix("{{")?.strip_suffix("}}")?;
    // `{{ a }} and {{ b }}` is two expressions, not one.
    if inner.contains("{{") || inner.contains("}}") || inner.contains("{%") {
        return None;
    }
    Some(inner.trim())
}

/// The dotted variable paths a template or expression reads (`steps.build.outputs.sha`),
/// for static checks. `text` may be a template (`… {{ x }} …`) or a bare expression.
pub fn references(text: &str) -> Result<Vec<String>, ExprError> {
    let env = Environment::new();
    let mut names: Vec<String> = if is_template(text) {
        let tmpl = env
            .template_from_str(text)
            .map_err(|e| ExprError::from_jinja(&e, text))?;
        tmpl.undeclared_variables(true).into_iter().collect()
    } else {
        let expr = env
            .compile_expression(text)
            .map_err(|e| ExprError::from_jinja(&e, text))?;
        expr.undeclared_variables(true).into_iter().collect()
    };
    names.sort();
    Ok(names)
}

/// Whether an `if:` expression calls a status function; such steps are evaluated even
/// when a needed step failed.
pub fn calls_status_function(expr: &str) -> bool {
    ["always", "failure", "cancelled"].iter().any(|name| {
        expr.match_indices(name).any(|(at, _)| {
            let before = expr[..at].chars().next_back();
            let after = expr[at + name.len()..].trim_start();
            !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.')
                && after.starts_with('(')
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx() -> Value {
        json!({
            "inputs": {"repo": "acme/api", "retries": 3, "flags": ["a", "b"]},
            "steps": {"test": {"status": "failed", "outputs": {"exit_code": 1}}},
            "run": {"id": "r1"},
        })
    }

    #[test]
    fn single_expression_keeps_json_type() {
        let e = Expr::new();
        assert_eq!(
            e.render_str("{{ inputs.retries }}", &ctx()).unwrap(),
            json!(3)
        );
        assert_eq!(
            e.render_str(" {{ inputs.flags }} ", &ctx()).unwrap(),
            json!(["a", "b"])
        );
        assert_eq!(
            e.render_str("{{ inputs.retries + 1 }}", &ctx()).unwrap(),
            json!(4)
        );
    }

    #[test]
    fn mixed_text_renders_to_string() {
        let e = Expr::new();
        assert_eq!(
            e.render_str("repo {{ inputs.repo }}!", &ctx()).unwrap(),
            json!("repo acme/api!")
        );
        assert_eq!(e.render_str("plain", &ctx()).unwrap(), json!("plain"));
        assert_eq!(
            e.render_str("{{ 1 }}-{{ 2 }}", &ctx()).unwrap(),
            json!("1-2")
        );
    }

    #[test]
    fn renders_nested_values() {
        let e = Expr::new();
        let v = json!({"a": ["{{ run.id }}", 2], "b": {"c": "x{{ inputs.retries }}"}});
        assert_eq!(
            e.render_value(&v, &ctx()).unwrap(),
            json!({"a": ["r1", 2], "b": {"c": "x3"}})
        );
    }

    #[test]
    fn conditions_with_and_without_braces() {
        let e = Expr::new();
        let s = NeedsStatus::Success;
        assert!(
            e.eval_condition("{{ steps.test.outputs.exit_code != 0 }}", &ctx(), s)
                .unwrap()
        );
        assert!(
            !e.eval_condition("steps.test.outputs.exit_code == 0", &ctx(), s)
                .unwrap()
        );
        // A skipped step's outputs are undefined, and undefined is false.
        assert!(!e.eval_condition("steps.nope.outputs.x", &ctx(), s).unwrap());
    }

    #[test]
    fn status_functions_read_needs_status() {
        let e = Expr::new();
        assert!(
            e.eval_condition("failure()", &ctx(), NeedsStatus::Failure)
                .unwrap()
        );
        assert!(
            !e.eval_condition("failure()", &ctx(), NeedsStatus::Success)
                .unwrap()
        );
        assert!(
            e.eval_condition("success()", &ctx(), NeedsStatus::Success)
                .unwrap()
        );
        assert!(
            e.eval_condition("always()", &ctx(), NeedsStatus::Cancelled)
                .unwrap()
        );
        assert!(
            e.eval_condition("cancelled()", &ctx(), NeedsStatus::Cancelled)
                .unwrap()
        );
    }

    #[test]
    fn syntax_errors_name_the_expression() {
        let e = Expr::new();
        let err = e
            .eval_condition("steps.test.outputs ==", &ctx(), NeedsStatus::Success)
            .unwrap_err();
        assert!(
            err.message.contains("steps.test.outputs =="),
            "{}",
            err.message
        );
    }

    #[test]
    fn runaway_templates_run_out_of_fuel() {
        let e = Expr::new();
        let err = e
            .render_str(
                "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
                &ctx(),
            )
            .unwrap_err();
        assert!(!err.message.is_empty());
    }

    #[test]
    fn strip_braces_only_takes_one_expression() {
        assert_eq!(strip_braces("{{ a.b }}"), Some("a.b"));
        assert_eq!(strip_braces("{{ a }} {{ b }}"), None);
        assert_eq!(strip_braces("x {{ a }}"), None);
    }

    #[test]
    fn references_lists_dotted_paths() {
        let refs = references("{{ steps.build.outputs.sha }} and {{ inputs.repo }}").unwrap();
        assert!(
            refs.contains(&"steps.build.outputs.sha".to_string()),
            "{refs:?}"
        );
        assert!(refs.contains(&"inputs.repo".to_string()), "{refs:?}");
        let refs = references("steps.test.status == 'failed' and failure()").unwrap();
        assert!(refs.iter().any(|r| r.starts_with("steps.test")), "{refs:?}");
    }

    #[test]
    fn detects_status_functions() {
        assert!(calls_status_function("failure()"));
        assert!(calls_status_function("always() and x"));
        assert!(!calls_status_function("steps.failure_count > 1"));
        assert!(!calls_status_function("inputs.always"));
    }
}
