//! Anthropic Messages: `POST {base}/v1/messages`.
//!
//! The key goes in `x-api-key`, with `anthropic-version: 2023-06-01`; the system
//! prompt is a top-level field and the answer a list of content blocks, of which the
//! `text` ones are read. Messages have no JSON switch, so a JSON answer rests on the
//! prompt and on [`super::explain()`]'s tolerant reading. Errors come as
//! `{"type": "error", "error": {"type", "message"}}`; 529 `overloaded_error` is
//! retried like a 5xx. Cache reads and writes are input tokens too, so they are
//! counted as input.

use serde_json::{Value, json};

use super::{Answer, CompletionRequest, Inner, Wire, endpoint};
use reqwest::header::{HeaderName, HeaderValue};

/// The API version this client speaks.
pub const API_VERSION: &str = "2023-06-01";

pub(super) fn wire(inner: &Inner, request: &CompletionRequest, max_tokens: u32) -> Wire {
    let mut body = json!({
        "model": inner.model,
        "max_tokens": max_tokens,
        "messages": [{"role": "user", "content": request.user}],
    });
    if !request.system.is_empty() {
        body["system"] = json!(request.system);
    }
    // A base given as https://api.anthropic.com/v1 already has the version segment.
    let segments: &[&str] = if last_segment(&inner.base) == Some("v1") {
        &["messages"]
    } else {
        &["v1", "messages"]
    };
    Wire {
        url: endpoint(&inner.base, segments),
        headers: vec![(
            HeaderName::from_static("anthropic-version"),
            HeaderValue::from_static(API_VERSION),
        )],
        body,
    }
}

pub(super) fn last_segment(url: &reqwest::Url) -> Option<&str> {
    url.path_segments()?.rfind(|s| !s.is_empty())
}

pub(super) fn answer(v: &Value) -> Result<Answer, String> {
    let content = v
        .get("content")
        .and_then(Value::as_array)
        .ok_or("the answer has no `content`")?;
    let text: String = content
        .iter()
        .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
        .filter_map(|b| b.get("text").and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join("");
    let usage = v.get("usage");
    let count = |k: &str| {
        usage
            .and_then(|u| u.get(k))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    Ok(Answer {
        text,
        input_tokens: count("input_tokens")
            + count("cache_creation_input_tokens")
            + count("cache_read_input_tokens"),
        output_tokens: count("output_tokens"),
        model: v.get("model").and_then(Value::as_str).map(str::to_string),
        stop_reason: v
            .get("stop_reason")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::{Provider, ProviderConfig, ProviderKind};

    fn provider(base: Option<&str>) -> Provider {
        let mut c = ProviderConfig::new(ProviderKind::Anthropic, "claude-sonnet-4-5");
        c.base_url = base.map(str::to_string);
        Provider::new(c, &|_| Some("sk-ant-test".into())).unwrap()
    }

    #[test]
    fn the_request_is_a_message_with_a_top_level_system() {
        let p = provider(None);
        let r = CompletionRequest {
            system: "You explain CI failures.".into(),
            user: "Why?".into(),
            max_tokens: None,
            json: true,
        };
        let w = wire(&p.inner, &r, 512);
        assert_eq!(w.url.as_str(), "https://api.anthropic.com/v1/messages");
        assert_eq!(w.headers[0].0.as_str(), "anthropic-version");
        assert_eq!(w.headers[0].1, "2023-06-01");
        assert_eq!(
            w.body,
            json!({
                "model": "claude-sonnet-4-5",
                "max_tokens": 512,
                "messages": [{"role": "user", "content": "Why?"}],
                "system": "You explain CI failures."
            })
        );
        let p = provider(Some("https://proxy.example/anthropic/v1/"));
        let w = wire(&p.inner, &r, 1);
        assert_eq!(
            w.url.as_str(),
            "https://proxy.example/anthropic/v1/messages"
        );
    }

    #[test]
    fn the_api_reference_example_answer_is_read() {
        // The 200 example of "Messages" in Anthropic's API reference
        // (docs.anthropic.com/en/api/messages), verbatim.
        let v: Value = serde_json::from_str(
            r#"{
  "content": [
    {
      "text": "Hi! My name is Claude.",
      "type": "text"
    }
  ],
  "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF",
  "model": "claude-3-7-sonnet-20250219",
  "role": "assistant",
  "stop_reason": "end_turn",
  "stop_sequence": null,
  "type": "message",
  "usage": {
    "input_tokens": 2095,
    "output_tokens": 503
  }
}"#,
        )
        .unwrap();
        assert_eq!(
            answer(&v).unwrap(),
            Answer {
                text: "Hi! My name is Claude.".into(),
                input_tokens: 2095,
                output_tokens: 503,
                model: Some("claude-3-7-sonnet-20250219".into()),
                stop_reason: Some("end_turn".into()),
            }
        );
    }

    #[test]
    fn only_text_blocks_count_and_cache_tokens_are_input() {
        let v = json!({
            "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "x"},
                {"type": "text", "text": "{\"a\":"},
                {"type": "text", "text": "1}"}
            ],
            "usage": {"input_tokens": 5, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 20, "output_tokens": 7}
        });
        let a = answer(&v).unwrap();
        assert_eq!(
            (a.text.as_str(), a.input_tokens, a.output_tokens),
            ("{\"a\":1}", 125, 7)
        );
        assert!(
            answer(&json!({"type": "message"}))
                .unwrap_err()
                .contains("content")
        );
    }
}
