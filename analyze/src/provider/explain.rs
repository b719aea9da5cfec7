//! A failure's explanation: root cause, suggested fix and confidence, asked of a
//! model and checked before anyone sees it.
//!
//! Models wrap JSON in prose or ```json fences, so the first JSON object in the
//! answer is taken. It must have a non-empty `root_cause` and `suggested_fix` and a
//! `confidence` from 0 to 1. A wrong answer is asked again once, with the reason; a
//! second wrong answer is [`ProviderError::BadAnswer`]. What is kept is sanitized
//! and bounded like anything else Medic prints.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::prompt::explain_request;
use super::{CallUsage, CompletionRequest, Provider, ProviderError};
use crate::sanitize::Sanitizer;
use crate::triage::Analysis;

/// Longest `root_cause` or `suggested_fix` kept, in characters.
pub const MAX_FIELD_CHARS: usize = 4000;

/// Why a build failed and how to fix it, in a model's words.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    /// What failed and why.
    pub root_cause: String,
    /// The change or command that fixes it.
    pub suggested_fix: String,
    /// How sure the model says it is, 0 to 1.
    pub confidence: f64,
}

/// Asks `provider` to explain `analysis`; returns the explanation and the tokens
/// and cost of the calls it took (one, or two when the first answer was unusable).
pub async fn explain(
    provider: &Provider,
    analysis: &Analysis,
) -> Result<(Explanation, CallUsage), ProviderError> {
    let request = explain_request(analysis);
    let first = provider.complete(&request).await?;
    let mut usage = first.usage;
    let mut max_tokens = request.max_tokens;
    let reason = match parse_explanation(&first.text) {
        Ok(e) => return Ok((e, usage)),
        // An answer cut off at the limit is asked again with room to finish.
        Err(_) if is_cut_off(first.stop_reason.as_deref()) => {
            max_tokens = Some(provider.max_output_tokens().saturating_mul(2));
            "it was cut off at the token limit; keep it shorter".to_string()
        }
        Err(reason) => reason,
    };
    tracing::debug!(
        provider = provider.kind().as_str(),
        reason = reason.as_str(),
        "asking again for a usable explanation"
    );
    // The wrong answer itself is not sent back: it may be long, and the reason is
    // what the model needs.
    let again = CompletionRequest {
        user: format!(
            "{}\n\nYour previous answer could not be used: {reason}. Answer again with only \
             the JSON object described in the instructions.",
            request.user
        ),
        max_tokens,
        ..request
    };
    let second = provider.complete(&again).await?;
    usage.add(&second.usage);
    parse_explanation(&second.text)
        .map(|e| (e, usage))
        .map_err(|reason| ProviderError::BadAnswer(format!("{reason} (asked twice)")))
}

/// Whether a stop reason means the answer hit the token limit (OpenAI `length`,
/// Anthropic `max_tokens`, Gemini `MAX_TOKENS`).
fn is_cut_off(stop_reason: Option<&str>) -> bool {
    matches!(stop_reason, Some("length" | "max_tokens" | "MAX_TOKENS"))
}

/// Reads and checks an explanation from a model's answer; the error is a short
/// reason fit to show the model and the user.
pub fn parse_explanation(text: &str) -> Result<Explanation, String> {
    let object = first_json_object(text).ok_or("no JSON object in the answer")?;
    let field = |name: &str| -> Result<String, String> {
        let value = match object.get(name) {
            Some(Value::String(s)) => s.trim().to_string(),
            // A fix given as a list of steps is still a fix.
            Some(Value::Array(items)) if items.iter().all(Value::is_string) => items
                .iter()
                .filter_map(Value::as_str)
                .map(str::trim)
                .collect::<Vec<_>>()
                .join("\n"),
            Some(_) => return Err(format!("`{name}` must be a string")),
            None => return Err(format!("`{name}` is missing")),
        };
        if value.is_empty() {
            return Err(format!("`{name}` is empty"));
        }
        Ok(value)
    };
    let root_cause = field("root_cause")?;
    let suggested_fix = field("suggested_fix")?;
    let confidence = match object.get("confidence") {
        Some(Value::Number(n)) => n.as_f64().unwrap_or(f64::NAN),
        Some(other) => {
            // The model's value, shortened: the reason is shown and sent back.
            let shown: String = other.to_string().chars().take(40).collect();
            return Err(format!(
                "`confidence` must be a number from 0 to 1, got {shown}"
            ));
        }
        None => return Err("`confidence` is missing".to_string()),
    };
    if !(0.0..=1.0).contains(&confidence) {
        return Err(format!(
            "`confidence` must be a number from 0 to 1, got {confidence}"
        ));
    }
    let mut sanitizer = Sanitizer::default();
    let mut clean = |s: &str| {
        let safe = sanitizer.sanitize_text(s);
        let mut out: String = safe
            .chars()
            .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
            .take(MAX_FIELD_CHARS)
            .collect();
        if safe.chars().count() > MAX_FIELD_CHARS {
            out.push('…');
        }
        out
    };
    Ok(Explanation {
        root_cause: clean(&root_cause),
        suggested_fix: clean(&suggested_fix),
        confidence,
    })
}

/// The first JSON object in `text`, inside a ```json fence or not.
fn first_json_object(text: &str) -> Option<serde_json::Map<String, Value>> {
    // Try every `{` in order: prose before the object may hold braces too.
    for (at, _) in text.match_indices('{').take(50) {
        let mut values = serde_json::Deserializer::from_str(&text[at..]).into_iter::<Value>();
        if let Some(Ok(Value::Object(map))) = values.next() {
            return Some(map);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_or_fenced_object_is_read() {
        let e = parse_explanation(
            r#"{"root_cause": "The test expects an error.", "suggested_fix": "Return Err.", "confidence": 0.8}"#,
        )
        .unwrap();
        assert_eq!(
            e,
            Explanation {
                root_cause: "The test expects an error.".into(),
                suggested_fix: "Return Err.".into(),
                confidence: 0.8
            }
        );
        let fenced = "Here is my analysis {as asked}:\n```json\n{\n  \"root_cause\": \"x\",\n  \"suggested_fix\": [\"a\", \"b\"],\n  \"confidence\": 1\n}\n```\nHope it helps.";
        let e = parse_explanation(fenced).unwrap();
        assert_eq!((e.suggested_fix.as_str(), e.confidence), ("a\nb", 1.0));
    }

    #[test]
    fn wrong_answers_get_a_short_reason() {
        let reason = |t: &str| parse_explanation(t).unwrap_err();
        assert_eq!(
            reason("I think the build failed."),
            "no JSON object in the answer"
        );
        assert_eq!(
            reason("{\"root_cause\": \"x\", \"suggested_fix\": \"y\""),
            "no JSON object in the answer"
        );
        assert_eq!(
            reason(r#"{"suggested_fix": "y", "confidence": 0.5}"#),
            "`root_cause` is missing"
        );
        assert_eq!(
            reason(r#"{"root_cause": " ", "suggested_fix": "y", "confidence": 0.5}"#),
            "`root_cause` is empty"
        );
        assert_eq!(
            reason(r#"{"root_cause": "x", "suggested_fix": 3, "confidence": 0.5}"#),
            "`suggested_fix` must be a string"
        );
        assert_eq!(
            reason(r#"{"root_cause": "x", "suggested_fix": "y", "confidence": 85}"#),
            "`confidence` must be a number from 0 to 1, got 85"
        );
        assert_eq!(
            reason(r#"{"root_cause": "x", "suggested_fix": "y", "confidence": "high"}"#),
            "`confidence` must be a number from 0 to 1, got \"high\""
        );
        assert_eq!(
            reason(r#"{"root_cause": "x", "suggested_fix": "y"}"#),
            "`confidence` is missing"
        );
        let long = format!(
            r#"{{"root_cause": "x", "suggested_fix": "y", "confidence": "{}"}}"#,
            "z".repeat(500)
        );
        assert!(reason(&long).len() < 100, "the reason stays short");
    }

    #[test]
    fn what_is_kept_is_sanitized_and_bounded() {
        let token = "glpat-Zq8xWv3Ty6Ur9Ps2Lm5K";
        let text = format!(
            r#"{{"root_cause": "the token {token} expired\u001b[2J", "suggested_fix": "{}", "confidence": 0.3}}"#,
            "y".repeat(MAX_FIELD_CHARS + 10)
        );
        let e = parse_explanation(&text).unwrap();
        assert!(
            !e.root_cause.contains(token) && e.root_cause.contains("[REDACTED:"),
            "{e:?}"
        );
        assert!(!e.root_cause.contains('\u{1b}'));
        assert_eq!(e.suggested_fix.chars().count(), MAX_FIELD_CHARS + 1);
    }
}
