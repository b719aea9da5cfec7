//! OpenAI-compatible chat completions: `POST {base}/chat/completions`.
//!
//! The one format spoken by OpenAI, Azure OpenAI, OpenRouter, Ollama (`/v1`), vLLM
//! and llama.cpp's server. The key goes in `Authorization: Bearer`, or for Azure in
//! `api-key` (chosen for `*.openai.azure.com` hosts, or named by `api_key_header`);
//! Azure's `api-version` stays in `base_url`'s query. JSON answers are requested
//! with `response_format: {"type": "json_object"}`, which these servers accept. The
//! answer limit is sent as `max_completion_tokens` to api.openai.com (its reasoning
//! models refuse the deprecated `max_tokens`) and as `max_tokens` elsewhere, the one
//! name every compatible server reads.

use reqwest::Url;
use serde_json::{Value, json};

use super::{Answer, CompletionRequest, Inner, Wire, endpoint};

/// Whether `base` is an Azure OpenAI endpoint, whose key goes in `api-key`.
pub(crate) fn is_azure(base: &Url) -> bool {
    base.host_str().is_some_and(|h| {
        let h = h.to_ascii_lowercase();
        h.ends_with(".openai.azure.com") || h.ends_with(".cognitiveservices.azure.com")
    })
}

pub(super) fn wire(inner: &Inner, request: &CompletionRequest, max_tokens: u32) -> Wire {
    let mut messages = Vec::new();
    if !request.system.is_empty() {
        messages.push(json!({"role": "system", "content": request.system}));
    }
    messages.push(json!({"role": "user", "content": request.user}));
    let mut body = json!({
        "model": inner.model,
        "messages": messages,
    });
    let limit = if inner.base.host_str() == Some("api.openai.com") {
        "max_completion_tokens"
    } else {
        "max_tokens"
    };
    body[limit] = json!(max_tokens);
    if request.json {
        body["response_format"] = json!({"type": "json_object"});
    }
    Wire {
        url: endpoint(&inner.base, &["chat", "completions"]),
        headers: Vec::new(),
        body,
    }
}

pub(super) fn answer(v: &Value) -> Result<Answer, String> {
    let choice = v
        .get("choices")
        .and_then(|c| c.get(0))
        .ok_or("the answer has no `choices`")?;
    let message = choice.get("message").ok_or("the choice has no `message`")?;
    let text = match message.get("content") {
        Some(Value::String(s)) => s.clone(),
        // Some servers answer with content parts.
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    };
    if text.is_empty()
        && let Some(refusal) = message.get("refusal").and_then(Value::as_str)
    {
        return Err(format!("the model refused: {refusal}"));
    }
    let usage = v.get("usage");
    let count = |k: &str| {
        usage
            .and_then(|u| u.get(k))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    Ok(Answer {
        text,
        input_tokens: count("prompt_tokens"),
        output_tokens: count("completion_tokens"),
        model: v.get("model").and_then(Value::as_str).map(str::to_string),
        stop_reason: choice
            .get("finish_reason")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::{Provider, ProviderConfig, ProviderKind};

    fn provider(base: Option<&str>) -> Provider {
        let mut c = ProviderConfig::new(ProviderKind::OpenAi, "gpt-4o-mini");
        c.base_url = base.map(str::to_string);
        Provider::new(c, &|_| Some("sk-test".into())).unwrap()
    }

    fn request(json: bool) -> CompletionRequest {
        CompletionRequest {
            system: "Answer in JSON.".into(),
            user: "Why did it fail?".into(),
            max_tokens: None,
            json,
        }
    }

    #[test]
    fn the_request_is_a_chat_completion() {
        let p = provider(None);
        let w = wire(&p.inner, &request(true), 300);
        assert_eq!(w.url.as_str(), "https://api.openai.com/v1/chat/completions");
        assert_eq!(
            w.body,
            json!({
                "model": "gpt-4o-mini",
                "messages": [
                    {"role": "system", "content": "Answer in JSON."},
                    {"role": "user", "content": "Why did it fail?"}
                ],
                "max_completion_tokens": 300,
                "response_format": {"type": "json_object"}
            })
        );
        // Elsewhere (Ollama, vLLM, llama.cpp) the widely read `max_tokens`, and no
        // response_format when plain text is wanted.
        let p = provider(Some("http://localhost:11434/v1"));
        let w = wire(&p.inner, &request(false), 300);
        assert_eq!(w.url.as_str(), "http://localhost:11434/v1/chat/completions");
        assert_eq!(w.body["max_tokens"], 300);
        assert!(w.body.get("response_format").is_none());
    }

    #[test]
    fn azure_hosts_are_recognised() {
        let u = |s: &str| Url::parse(s).unwrap();
        assert!(is_azure(&u(
            "https://contoso.openai.azure.com/openai/deployments/d"
        )));
        assert!(is_azure(&u(
            "https://x.cognitiveservices.azure.com/openai/v1"
        )));
        assert!(!is_azure(&u("https://api.openai.com/v1")));
        assert!(!is_azure(&u("https://openai.azure.com.evil.example/v1")));
    }

    #[test]
    fn the_api_reference_example_answer_is_read() {
        // The response example of "Create chat completion" in OpenAI's API reference
        // (platform.openai.com/docs/api-reference/chat/create), verbatim.
        let v: Value = serde_json::from_str(
            r#"{
  "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
  "object": "chat.completion",
  "created": 1741569952,
  "model": "gpt-4.1-2025-04-14",
  "choices": [
    {
      "index": 0,
      "message": {
        "role": "assistant",
        "content": "Hello! How can I assist you today?",
        "refusal": null,
        "annotations": []
      },
      "logprobs": null,
      "finish_reason": "stop"
    }
  ],
  "usage": {
    "prompt_tokens": 19,
    "completion_tokens": 10,
    "total_tokens": 29,
    "prompt_tokens_details": {
      "cached_tokens": 0,
      "audio_tokens": 0
    },
    "completion_tokens_details": {
      "reasoning_tokens": 0,
      "audio_tokens": 0,
      "accepted_prediction_tokens": 0,
      "rejected_prediction_tokens": 0
    }
  },
  "service_tier": "default"
}"#,
        )
        .unwrap();
        assert_eq!(
            answer(&v).unwrap(),
            Answer {
                text: "Hello! How can I assist you today?".into(),
                input_tokens: 19,
                output_tokens: 10,
                model: Some("gpt-4.1-2025-04-14".into()),
                stop_reason: Some("stop".into()),
            }
        );
    }

    #[test]
    fn refusals_and_missing_choices_are_errors() {
        let v = json!({"choices": [{"message": {"role": "assistant", "content": null, "refusal": "I can't help with that."}}]});
        assert_eq!(
            answer(&v).unwrap_err(),
            "the model refused: I can't help with that."
        );
        assert!(
            answer(&json!({"object": "list"}))
                .unwrap_err()
                .contains("choices")
        );
        // No usage (some local servers): zero tokens, not an error.
        let v = json!({"choices": [{"message": {"content": "ok"}}]});
        assert_eq!(answer(&v).unwrap().input_tokens, 0);
    }
}
